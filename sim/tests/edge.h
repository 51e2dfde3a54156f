/* SPDX-License-Identifier: MIT */
/*
 * A minimal edge for the simulator's tests: it takes the bytes the gateway
 * writes on its serial link, decodes the frames and messages with the fp
 * library, processes them in gseq order as docs/protocol.md §4.3 says
 * (a resend at or below what it committed is dropped and acknowledged
 * again, a message after a gap waits for the resend, a `hello` of a new
 * gateway start resets the numbering), answers with a cumulative `rx`, and
 * encodes requests (cmd, pair_begin, cfg:set_mac, ...). It is transport
 * free: the caller moves the bytes (the simulated serial port in process,
 * or the pseudo-terminal of the farm-sim binary). Test code: it allocates
 * (edge_free releases everything).
 */
#ifndef FSIM_TEST_EDGE_H
#define FSIM_TEST_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"
#include "fp/frame.h"
#include "fp/msg.h"

struct edge {
  enum fp_codec codec;
  struct fp_frame_decoder dec;
  bool have_hello;
  uint32_t gw_boot; /* boot of the last hello */
  uint8_t gw_mac[FP_MAC_LEN];
  uint32_t committed; /* highest gseq processed in order */
  bool need_rx;
  bool auto_rx; /* answer rx after each edge_feed (default true) */

  /* every message committed, in order (malloc'd) */
  struct fp_msg *msgs;
  size_t n_msgs, cap_msgs;

  /* counters */
  unsigned frames;      /* verified frames */
  unsigned resends;     /* gseq at or below committed */
  unsigned gaps;        /* gseq beyond committed + 1 */
  unsigned undecodable; /* frames whose message did not decode */
  unsigned hellos;      /* hellos of a new gateway start */

  /* bytes for the gateway, not yet taken by the transport (malloc'd) */
  uint8_t *out;
  size_t out_len, out_cap;
};

void edge_init(struct edge *e, enum fp_codec codec);
void edge_free(struct edge *e);

/* Feeds bytes read from the gateway; queues an rx when anything arrived
 * (auto_rx). */
void edge_feed(struct edge *e, const uint8_t *data, size_t len);

/* Queues a frame with m (any edge -> gateway message) for the gateway.
 * Returns 0 or the encoder's error. */
int edge_send(struct edge *e, const struct fp_msg *m);

/* Queues rx {gseq: committed} (nothing before the first message). */
void edge_send_rx(struct edge *e);

/* Takes n bytes from the front of the output queue. */
void edge_consume(struct edge *e, size_t n);

/* The index of the first committed message at or after `from` of type t
 * (and, unless id is UINT32_MAX, with that id), or -1. */
long edge_find(const struct edge *e, size_t from, enum fp_msg_type t, uint32_t id);

/* Committed messages of type t. */
size_t edge_count(const struct edge *e, enum fp_msg_type t);

/* Requests, ready to send. */
void edge_msg_cmd(struct fp_msg *m, uint32_t id, const uint8_t mac[FP_MAC_LEN], const char *name);
void edge_arg_int(struct fp_msg *m, const char *key, int64_t v);
void edge_arg_bool(struct fp_msg *m, const char *key, bool v);
void edge_msg_simple(struct fp_msg *m, enum fp_msg_type t, uint32_t id);

#endif /* FSIM_TEST_EDGE_H */
