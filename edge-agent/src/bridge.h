/* SPDX-License-Identifier: MIT */
/*
 * The serial bridge to the gateway (DESIGN §4, docs/protocol.md §2-§5):
 * the port in raw mode at the configured speed, reopened with backoff when
 * the device disappears or its udev symlink is recreated; frames decoded
 * with the fp library, every rejection counted by kind; the gseq
 * discipline of protocol §4.3 (in-order processing, resends dropped, gaps
 * never acknowledged, `hello` restarting the numbering); and `rx` sent only
 * once what it covers is committed to the backlog. The committed gseq is
 * kept in the backlog's metadata, in the same transaction as the rows it
 * covers, so a restart neither stores twice nor acknowledges early.
 *
 * Flow: the agent's loop polls ea_bridge_pollfd(), calls ea_bridge_on_poll()
 * and ea_bridge_tick(); each accepted message goes to the on_msg callback,
 * which stores what must be stored in the backlog's open transaction. After
 * the loop commits that transaction it calls ea_bridge_committed(), which
 * sends `rx`. Single-threaded. The bridge owns its descriptor and buffers.
 */
#ifndef EA_BRIDGE_H
#define EA_BRIDGE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backlog.h"
#include "farmd/log.h"
#include "fp/codec.h"
#include "fp/frame.h"
#include "fp/msg.h"

struct ea_bridge;

/* Decoder outcomes are counted by code; codes run from -1 to -(this - 1). */
#define EA_BRIDGE_CODES 32

struct ea_bridge_callbacks {
  /*
   * An accepted gateway -> edge message, in gseq order (a `hello` has
   * already reset the numbering). Returns 0 when handled (its writes are in
   * the backlog's open transaction), FARM_EEXIST for a reading that was
   * already stored (a duplicate by (device, boot, seq)), or FARM_EIO when
   * storage failed: the message is then not acknowledged, and the
   * gateway's resend brings it back. A `tel` whose gseq is at or below
   * what was accepted is offered too: FARM_EEXIST makes it a resend, 0 a
   * sign that the gateway restarted without its hello being seen.
   */
  int (*on_msg)(void *ud, const struct fp_msg *m, int64_t now_ms);
  /* The port was opened (up) or lost (!up). May be NULL. */
  void (*on_link)(void *ud, bool up);
};

struct ea_bridge_opts {
  const char *path; /* device or symlink; copied */
  uint32_t baud;    /* a valid termios rate (ea_config_baud_valid) */
  enum fp_codec codec;
  int reopen_min_ms; /* first retry delay, 0 = 100 */
  int reopen_max_ms; /* backoff ceiling */
  int check_ms;      /* how often the path is compared with the open
                        device, 0 = 1000 */
};

struct ea_bridge_stats {
  bool open;
  uint64_t opens, losses, open_failures;
  struct fp_frame_counters frames;
  uint64_t decode_errors;            /* messages that did not decode */
  uint64_t by_code[EA_BRIDGE_CODES]; /* ... by -code */
  uint64_t unreadable;               /* rejected and no gseq either */
  uint64_t wrong_direction;          /* an edge -> gateway type from the gateway */
  uint64_t resends;                  /* gseq already committed: dropped */
  uint64_t gaps;                     /* gseq past a hole: dropped */
  uint64_t numbering_resets;         /* hello, or a new reading under an old gseq */
  uint64_t storage_refusals;         /* on_msg said FARM_EIO */
  uint64_t accepted;                 /* messages handed to on_msg */
  uint64_t rx_sent, tx_frames, tx_bytes, tx_dropped;
  uint32_t committed_gseq; /* acknowledged to the gateway */
  uint32_t pending_gseq;   /* accepted, awaiting commit */
  int64_t last_frame_ms;   /* wall clock, 0 = never */
};

/*
 * Creates the bridge; the port is opened at the first ea_bridge_tick().
 * backlog and log are borrowed and must outlive it. Returns 0 and *out
 * (free with ea_bridge_free), FARM_EINVAL or FARM_ENOMEM.
 */
int ea_bridge_new(const struct ea_bridge_opts *o, struct ea_backlog *backlog,
                  const struct fd_log *log, const struct ea_bridge_callbacks *cb, void *ud,
                  struct ea_bridge **out);
void ea_bridge_free(struct ea_bridge *br);

/* The descriptor and events to poll, or false when the port is closed. */
bool ea_bridge_pollfd(const struct ea_bridge *br, struct pollfd *pfd);
/* Handles what poll reported on the descriptor. */
void ea_bridge_on_poll(struct ea_bridge *br, short revents, int64_t now_ms);
/* Reopens a lost port when its backoff has passed; notices a replaced
 * device. Returns milliseconds until it wants to be called again. */
int ea_bridge_tick(struct ea_bridge *br, int64_t mono_ms);

/*
 * The loop committed the backlog's transaction (ok) or it failed (!ok).
 * On success `rx` acknowledges everything accepted so far; on failure the
 * accepted-but-uncommitted messages are forgotten so their resends are
 * taken again.
 */
void ea_bridge_committed(struct ea_bridge *br, bool ok);
/* True when messages were accepted since the last commit. */
bool ea_bridge_uncommitted(const struct ea_bridge *br);

/*
 * Sends an edge -> gateway request (m->id set by the caller). Returns 0
 * when queued for the port, FARM_ECLOSED when the port is closed,
 * FARM_ENOSPC when the output buffer is full, or an fp_msg_encode error.
 */
int ea_bridge_send(struct ea_bridge *br, const struct fp_msg *m);

void ea_bridge_stats(const struct ea_bridge *br, struct ea_bridge_stats *st);

#endif /* EA_BRIDGE_H */
