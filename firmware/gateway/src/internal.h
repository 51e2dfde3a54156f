/* SPDX-License-Identifier: MIT */
/*
 * What the files of the gateway core share and nobody else sees: the uplink
 * store and serial writer (uplink.c), the peer table, its NVS records and
 * the radio's hardware slots (peers.c), the radio paths and commands
 * (downlink.c), and the message builders and rate-limited logging of
 * gateway.c. Functions here use the gw__ prefix.
 */
#ifndef GW_INTERNAL_H
#define GW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"

/* What is on the air to a peer (struct gw_peer.tx). */
enum gw__tx_kind {
  GW__TX_NONE,
  GW__TX_JOIN_ACK,
  GW__TX_TIME,
  GW__TX_CMD,
};

/* struct gw_cmd.state */
enum gw__cmd_state {
  GW__CMD_FREE,
  GW__CMD_QUEUED, /* waiting for its turn or its retry time (due_ms) */
  GW__CMD_AIR,    /* handed to the radio, no send status yet */
  GW__CMD_WAIT,   /* delivered, waiting for CMD_ACK until due_ms */
};

/* ---- gateway.c ---- */

/* True when a warning about bad input may be logged now: at most
 * GW__LOG_BURST lines per second, so a flood of garbage cannot flood the
 * log (BAD-INPUTS: the log line is rate-limited). */
#define GW__LOG_BURST 8
bool gw__log_allowed(struct gw *g);
#define GW__LOG_BAD(g, ...)                                                                   \
  do {                                                                                        \
    if (gw__log_allowed(g))                                                                   \
      hal_log((g)->port, HAL_LOG_WARN, __VA_ARGS__);                                          \
  } while (0)

/* Queue uplink messages (built in g->out). */
void gw__emit_ack(struct gw *g, uint32_t id, bool ok, enum fp_stage stage, const char *err,
                  bool reboot_after);
/* Starts an evt in g->out: mac, name, no boot/seq, no args. */
struct fp_msg_evt *gw__evt_begin(struct gw *g, const uint8_t mac[HAL_MAC_LEN], const char *name);
void gw__evt_int(struct fp_msg_evt *e, const char *key, int64_t v);
void gw__evt_str(struct fp_msg_evt *e, const char *key, const char *s);
void gw__evt_bool(struct fp_msg_evt *e, const char *key, bool b);
/* Copies at most cap-1 bytes of s into dst, never splitting a UTF-8
 * sequence, and NUL-terminates. */
void gw__strlcpy(char *dst, const char *s, size_t cap);

/* ---- uplink.c ---- */

/*
 * Queues m (any uplink type; its gseq is set here) for the edge: encodes it
 * with gseq 1 as a template whose number is spliced in when it is first
 * written. Makes room in a full store by dropping unnumbered messages,
 * readings first (counted). reboot_after marks a cfg:set_mac ack. Returns
 * 0, the encoder's error (logged), or FARM_ENOSPC (nothing could be
 * dropped; counted).
 */
int gw__up_send(struct gw *g, struct fp_msg *m, bool reboot_after);

/* Serial link: connection changes, reads (handing frames to
 * gw__edge_frame), resends and writes. */
void gw__serial_pump(struct gw *g, uint64_t now);
/* Writes what it can without reading (after radio events). */
void gw__serial_flush(struct gw *g, uint64_t now);
/* The edge's cumulative rx {gseq}. */
void gw__up_rx(struct gw *g, uint32_t gseq);
/* A verified frame arrived: after a silence, resend at once. */
void gw__edge_heard(struct gw *g, uint64_t now);
/* When the uplink next needs a tick for its resend timer; UINT64_MAX none. */
uint64_t gw__up_deadline(const struct gw *g, uint64_t now);

/* The offset of the value of the top-level key gseq in one encoded map.
 * Returns 0 and *off, FARM_EMISSING, or a reader error. */
int gw__gseq_offset(const uint8_t *p, size_t len, enum fp_codec c, size_t *off);
/*
 * Copies p[0..len) to out with the one-byte gseq value 1 at p[at] replaced
 * by gseq in its shortest encoding, which is what fp_msg_encode writes for
 * that gseq. Returns 0 and *out_len, or FARM_ENOSPC.
 */
int gw__splice_gseq(const uint8_t *p, size_t len, size_t at, enum fp_codec c, uint32_t gseq,
                    uint8_t *out, size_t cap, size_t *out_len);

/* ---- gateway.c: the edge's messages ---- */
void gw__edge_frame(struct gw *g, const uint8_t *p, size_t len, uint64_t now);

/* ---- peers.c ---- */
struct gw_peer *gw__peer_find(struct gw *g, const uint8_t mac[HAL_MAC_LEN]);
/* A free slot filled with mac (no mark yet), or NULL when the table is
 * full. */
struct gw_peer *gw__peer_add(struct gw *g, const uint8_t mac[HAL_MAC_LEN]);
/* Loads every valid peer record; bad records are logged and erased. */
void gw__peers_load(struct gw *g);
/* Writes p's record and commits. Returns 0 or the NVS error (counted). */
int gw__peer_save(struct gw *g, struct gw_peer *p);
/* Writes every peer with a changed mark when persist_ms has passed since
 * the last flush, or at once when force. */
void gw__peers_flush(struct gw *g, uint64_t now, bool force);
/* Makes sure p has a hardware slot, encrypted unless encryption is off or
 * p is clear, evicting the least recently used idle one when all are taken
 * (never with encryption). Returns 0 or the radio's error. */
int gw__hw_ensure(struct gw *g, struct gw_peer *p, uint64_t now);
/* With encryption, at boot: gives every loaded peer its slot, encrypted,
 * or unencrypted with a JOIN_ACK owed when its pairing was not confirmed
 * (docs/firmware-gateway.md §5.1). Peers beyond the encrypted slots are
 * logged: they cannot be heard. */
void gw__peers_register(struct gw *g, uint64_t now);
/* Feeds one RSSI sample into p's smoothed value. */
void gw__rssi_update(struct gw_peer *p, int8_t rssi);
/* Record codec, exposed for tests: returns the record length or 0. */
size_t gw__peer_record(const struct gw_peer *p, uint8_t *buf, size_t cap);
bool gw__peer_parse(const uint8_t *buf, size_t len, struct gw_peer *p);
#define GW__PEER_RECORD_MAX (1 + HAL_MAC_LEN + 8 + 1 + FP_MSG_FW_MAX + 1 + FP_MSG_ASSET_MAX)

/* ---- downlink.c ---- */
/* Sends what peers are waiting for (JOIN_ACK, TIME, commands), within
 * cfg->radio_inflight frames on the air. */
void gw__radio_pump(struct gw *g, uint64_t now);
/* Send-status timeouts, CMD_ACK timeouts. */
void gw__radio_timers(struct gw *g, uint64_t now);
/* The edge's cmd (g->in): answered with ack stage gw, queued. */
void gw__cmd_submit(struct gw *g, const struct fp_msg *m, uint64_t now);
/* time_sync: every peer gets TIME. */
void gw__time_propagate(struct gw *g, uint64_t now);
/* When the radio side next needs a tick; UINT64_MAX none. */
uint64_t gw__radio_deadline(const struct gw *g);

#endif /* GW_INTERNAL_H */
