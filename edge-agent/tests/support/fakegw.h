/* SPDX-License-Identifier: MIT */
/*
 * A scripted gateway for the edge agent's tests, on a real pseudo-terminal:
 * the test holds the master side, the agent opens the slave through a
 * symlink (as it opens the udev symlink /dev/ttyESP-GW on a farm). It
 * writes gateway -> edge frames encoded with the fp library, numbers them
 * with gseq, keeps what is not yet acknowledged and resends it like the
 * gateway of protocol §4.3, reads the agent's frames, answers its requests
 * with acks, and keeps a ledger of the commands it ran.
 */
#ifndef EA_FAKEGW_H
#define EA_FAKEGW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"
#include "fp/frame.h"
#include "fp/msg.h"

#define FGW_KEEP   4096
#define FGW_LEDGER 256

struct fgw_kept {
  uint32_t gseq;
  size_t len;
  uint8_t frame[FP_FRAME_MAX_WIRE];
};

struct fgw_cmd {
  uint32_t id;
  char name[FP_MSG_NAME_MAX + 1];
  uint8_t mac[FP_MAC_LEN];
  unsigned runs; /* times the node executed it (must stay <= 1) */
  unsigned seen; /* times the request arrived */
};

struct fgw {
  int master, slave; /* slave kept open so the master never reads EIO */
  char link[256];
  enum fp_codec codec;
  uint32_t gseq;
  uint32_t acked; /* highest rx seen */
  struct fp_frame_decoder dec;

  /* frames kept until acknowledged, in gseq order */
  struct fgw_kept *kept;
  size_t nkept;

  /* requests seen, answers given */
  struct fgw_cmd ledger[FGW_LEDGER];
  size_t nledger;
  unsigned time_syncs, pings, pair_begins, pair_ends, set_macs, rx_count;
  uint64_t last_time_sync_ts;
  bool answer;       /* acknowledge requests (default true) */
  bool node_ack;     /* send the node-stage ack for cmd (default true) */
  bool resend_on_rx; /* resend kept frames on an rx that moves nothing
                        (default true, as the gateway does) */
  int writing;       /* inside a blocked write: no answers, no resends */
  long long last_resend_ms;
  uint8_t known_macs[8][FP_MAC_LEN];
  size_t nknown; /* 0: every MAC is a known peer */
};

/* Opens a pty in raw mode and points link at its slave. */
void fgw_init(struct fgw *g, const char *link, enum fp_codec codec);
/* Closes both ends and removes the link (the cable is pulled). */
void fgw_unplug(struct fgw *g);
/* A new pty behind the same link (plugged in again: a new /dev node). The
 * numbering and kept frames stay (the gateway did not restart). */
void fgw_replug(struct fgw *g);
void fgw_free(struct fgw *g);

/* Sends m with the next gseq (kept until acknowledged). Returns its gseq. */
uint32_t fgw_send(struct fgw *g, struct fp_msg *m);
/* Sends m with exactly gseq (not kept). */
void fgw_send_as(struct fgw *g, struct fp_msg *m, uint32_t gseq);
/* Raw bytes onto the line. */
void fgw_write(struct fgw *g, const void *bytes, size_t n);
/* Resends every kept frame in order. */
void fgw_resend(struct fgw *g);

/*
 * Reads the agent's frames for up to timeout_ms (returns early once
 * stop_gseq <= acked, when stop_gseq > 0): records `rx` (drops kept frames),
 * answers requests when g->answer. Returns the number of frames read.
 */
int fgw_serve(struct fgw *g, int timeout_ms, uint32_t stop_gseq);

/* Message builders. */
void fgw_tel(struct fp_msg *m, const uint8_t mac[6], uint32_t boot, uint32_t seq, double temp_c);
void fgw_hello(struct fp_msg *m, const uint8_t mac[6], uint32_t boot);

/* The ledger entry of request id, or NULL. */
const struct fgw_cmd *fgw_ledger_find(const struct fgw *g, uint32_t id);
const struct fgw_cmd *fgw_ledger_by_name(const struct fgw *g, const char *name, size_t nth);

#endif /* EA_FAKEGW_H */
