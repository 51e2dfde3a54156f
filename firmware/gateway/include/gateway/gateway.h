/* SPDX-License-Identifier: MIT */
/*
 * The radio gateway core (DESIGN §1, §3-§5; docs/firmware-gateway.md): it
 * bridges ESP-NOW nodes to the edge over the USB serial link. It keeps a
 * peer table of up to GW_MAX_PEERS nodes (larger than the radio's hardware
 * peer list, which it manages as a cache), opens pairing windows, drops
 * replays and frames from strangers, relays readings and events upward
 * numbered with gseq and kept until the edge acknowledges them
 * (docs/protocol.md §4.3), routes commands down with bounded retries and a
 * two-stage ack, and handles cfg:set_mac, time_sync, ping and the periodic
 * stats. It is portable C behind the HAL contract (hal/hal.h): a port owns
 * one struct gw, calls gw_init at boot, gw_tick whenever it wakes (at the
 * latest at gw_next_deadline, and soon after serial bytes arrive), and hands
 * radio events to gw_on_radio_rx and gw_on_radio_sent from the same task.
 * Nothing here allocates, blocks or keeps a global.
 */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/cobs.h"
#include "fp/codec.h"
#include "fp/frame.h"
#include "fp/msg.h"
#include "fp/radio.h"
#include "hal/hal.h"

/* Nodes the gateway knows (issue 3: at least 64), independent of the
 * HAL_RADIO_HW_PEERS slots of the radio. */
#define GW_MAX_PEERS 64
_Static_assert(GW_MAX_PEERS >= 64 && GW_MAX_PEERS <= 100,
               "at least 64 peers; NVS keys gw_p00..gw_p99 number them");

/*
 * Uplink store (docs/protocol.md §4.3): encoded messages waiting to be
 * written or acknowledged. GW_RING_BYTES of payload in at most
 * GW_RING_ENTRIES messages. A message gets its gseq when it is first
 * written; at most GW_TX_WINDOW messages (GW_TX_WINDOW_BYTES of payload) are
 * numbered and unacknowledged at a time, so the other half of the store
 * always holds messages that can still be dropped without leaving a hole in
 * the numbering (a hole would stall the edge's cumulative rx forever).
 */
#ifndef GW_RING_BYTES
#define GW_RING_BYTES 6144
#endif
#define GW_RING_ENTRIES 96
#define GW_TX_WINDOW 32
#define GW_TX_WINDOW_BYTES (GW_RING_BYTES / 2)
_Static_assert(GW_RING_BYTES - GW_TX_WINDOW_BYTES >= 2 * FP_MSG_MAX_ENCODED,
               "room for a new message beside a full window");
_Static_assert(GW_RING_ENTRIES > GW_TX_WINDOW + 1, "entries beside a full window");
_Static_assert(GW_RING_BYTES <= UINT16_MAX, "ring offsets are 16-bit");

/* Commands in progress (queued, on the air or waiting for the node's
 * CMD_ACK), and finished ones remembered for duplicate ids (BAD-INPUTS 23). */
#define GW_MAX_CMDS 8
#define GW_CMD_HISTORY 16

/* NVS keys (at most HAL_NVS_KEY_MAX characters). */
#define GW_NVS_BOOT "gw_boot" /* u32, +1 at every gw_init */
#define GW_NVS_MAC  "gw_mac"  /* blob, 6 bytes: MAC set by cfg:set_mac */
#define GW_NVS_PEER "gw_p"    /* + 2 decimal digits: one blob per peer slot */

/* Build-time configuration; not copied, it must outlive the gateway. */
struct gw_config {
  enum fp_codec codec;        /* serial_codec: FP_CODEC_MSGPACK or FP_CODEC_CBOR */
  uint8_t channel;            /* Wi-Fi channel 1..14, given to nodes in JOIN_ACK */
  const char *fw;             /* 1..31 bytes of UTF-8: firmware version (hello) */
  bool encrypt;               /* hardware peers use the port's LMK: at most
                                 HAL_RADIO_HW_PEERS_ENCRYPTED nodes, each
                                 keeping its slot; pairing as in
                                 docs/firmware-gateway.md §5.1 */
  uint16_t pair_boot_s;       /* 0..3600: open a pairing window this long at
                                 boot when the peer table is empty (first set-up
                                 without an edge); 0 never */
  uint32_t resend_ms;         /* uplink: resend unacknowledged messages after
                                 this long without progress, > 0 */
  uint32_t reboot_grace_ms;   /* cfg:set_mac: reboot at the latest this long
                                 after the ack, even without its rx, > 0 */
  uint8_t cmd_tries;          /* radio attempts per command, 1..20 */
  uint32_t cmd_ack_ms;        /* wait for CMD_ACK after a delivered CMD, > 0 */
  uint32_t retry_ms;          /* delay before a new attempt after a failed
                                 radio send (CMD and TIME), > 0 */
  uint32_t send_timeout_ms;   /* no on_radio_sent after this: failed, > 0 */
  uint8_t time_tries;         /* radio attempts per TIME and peer, 1..20 */
  uint8_t radio_inflight;     /* radio frames in flight at once, 1..8 */
  uint32_t stats_ms;          /* period of the stats message; 0 never */
  uint32_t persist_ms;        /* the peers' (boot, seq) marks are written to
                                 NVS at most this often, > 0 (flash wear) */
};

/* Working defaults: msgpack, channel 1, fw "0.0.0", no encryption, no boot
 * window, resend 2 s, reboot grace 2 s, 4 command attempts, CMD_ACK within
 * 3 s, retries after 200 ms, send timeout 1 s, 3 TIME attempts, 4 frames in
 * flight, stats every 60 s, marks persisted every 10 min. */
void gw_config_default(struct gw_config *cfg);

/*
 * Counters, one table for the struct and the stats message (wire names of
 * at most 15 characters of [a-z0-9_], docs/protocol.md §4.6). They wrap at
 * 2^32. X(field, "wire name", meaning).
 */
#define GW_STATS_MAP(X)                                                                     \
  X(frames_rx, "frames_rx", "verified frames from the edge")                               \
  X(frames_tx, "frames_tx", "frames written whole to the edge, resends included")          \
  X(crc, "crc", "edge frames with a CRC mismatch")                                         \
  X(cobs, "cobs", "edge frames with malformed COBS or too short for a CRC")                \
  X(oversize, "oversize", "runs of bytes longer than a frame without a delimiter")         \
  X(bad_msg, "bad_msg", "edge frames that are not a valid edge-to-gateway message")        \
  X(resent, "resent", "uplink go-backs: unacknowledged messages written again")           \
  X(ring_drop, "ring_drop", "readings dropped from a full uplink store")                   \
  X(ring_drop_oth, "ring_drop_oth", "other messages dropped from a full uplink store")     \
  X(rx_bogus, "rx_bogus", "rx acknowledging a gseq never sent in this boot")               \
  X(radio_rx, "radio_rx", "radio frames accepted")                                         \
  X(radio_bad, "radio_bad", "radio frames with a bad header or body")                      \
  X(radio_big, "radio_big", "radio frames over 250 bytes")                                 \
  X(radio_dir, "radio_dir", "gateway-to-node types or a group source address received")   \
  X(replay, "replay", "radio frames at or below the sender's (boot, seq) mark")            \
  X(unknown_mac, "unknown_mac", "radio frames from strangers outside a pairing window")    \
  X(join_full, "join_full", "joins refused: peer table or encrypted peers full")           \
  X(radio_tx, "radio_tx", "radio frames sent")                                             \
  X(radio_fail, "radio_fail", "radio sends not delivered, refused or timed out")           \
  X(cmd_retry, "cmd_retry", "command attempts after the first")                            \
  X(cmd_fail, "cmd_fail", "commands the node never answered")                              \
  X(cmd_stray, "cmd_stray", "CMD_ACKs for no command in progress")                         \
  X(nvs_err, "nvs_err", "NVS writes that failed")

struct gw_stats {
#define GW__STATS_FIELD(field, wire, doc) uint32_t field;
  GW_STATS_MAP(GW__STATS_FIELD)
#undef GW__STATS_FIELD
};

/* One known node. Read with gw_peer_find; fields are the core's. */
struct gw_peer {
  uint64_t last_seen_ms; /* hal_clock_ms of the last accepted frame; 0 none */
  uint64_t hw_used_ms;   /* last send: the hardware slot cache is LRU */
  uint64_t tx_since_ms;
  uint64_t time_due_ms;
  uint64_t join_due_ms;  /* next JOIN_ACK attempt */
  uint32_t boot, seq;    /* high-water mark of accepted (boot, seq) */
  int16_t rssi_x16;      /* smoothed RSSI, 1/16 dBm (gw_peer_rssi) */
  uint8_t mac[HAL_MAC_LEN];
  char fw[FP_MSG_FW_MAX + 1];       /* from JOIN */
  char asset[FP_MSG_ASSET_MAX + 1]; /* from JOIN, "" when none */
  bool used;
  bool rssi_valid;
  bool hw;               /* holds a radio hardware peer slot */
  uint8_t tx;            /* what is on the air to it (internal kind), 0 none */
  bool need_join_ack;    /* a JOIN_ACK is owed, from join_due_ms on */
  uint8_t time_left;     /* TIME attempts still allowed, 0 = none pending */
  bool dirty_meta;       /* identity changed: written at once */
  bool dirty_mark;       /* mark changed: written within persist_ms */
  bool hw_enc;           /* its hardware slot is encrypted */
  /* With encryption (docs/firmware-gateway.md §5.1): unkeyed until the
   * node is known to hold the gateway as an encrypted peer (persisted in
   * the record's kind), and clear while its slot stays unencrypted so that
   * the node, which has no key for the gateway yet, can read the
   * JOIN_ACK. */
  bool unkeyed;
  bool clear;
  uint8_t join_fails;    /* JOIN_ACK attempts failed in a row: the backoff */
};

/* A command from the edge until the node has answered it (internal). */
struct gw_cmd {
  uint8_t state; /* internal: free, queued, on the air, waiting for CMD_ACK */
  uint8_t tries; /* radio attempts made */
  uint8_t mac[HAL_MAC_LEN];
  uint32_t id;
  uint32_t order; /* acceptance order: commands to one node run in order */
  uint64_t due_ms;
  uint16_t len;  /* the encoded radio frame; its header seq is renewed per try */
  uint8_t frame[FP_RADIO_MTU];
};

/* The outcome of a finished command, for duplicate ids (internal). */
struct gw_cmd_done {
  bool used;
  bool ok;
  uint8_t mac[HAL_MAC_LEN];
  uint32_t id;
  char err[FP_MSG_ERR_MAX + 1];
};

/* One uplink message in the store (internal). */
struct gw_up {
  uint32_t gseq;    /* 0 until first written */
  uint32_t sent_ms; /* low 32 bits of hal_clock_ms when last written */
  uint16_t off;     /* payload in ring[], encoded with gseq 1 */
  uint16_t len;
  uint16_t gseq_at; /* offset of that gseq value in the payload */
  uint8_t type;     /* enum fp_msg_type */
  bool reboot;      /* cfg:set_mac ack: reboot once the edge has it */
};

/* Largest frame the gateway writes: a payload of FP_MSG_MAX_ENCODED with a
 * gseq grown from 1 to 5 bytes, its CRC, COBS overhead and the delimiter. */
#define GW_TX_WIRE_MAX (FP_COBS_MAX_ENCODED(FP_MSG_MAX_ENCODED + 4 + 2) + 1)

/* One gateway. All fields are private to the core; use the functions. */
struct gw {
  const struct gw_config *cfg;
  struct hal_port *port;
  bool halted; /* after hal_reboot: nothing until gw_init */
  uint32_t boot;
  uint32_t radio_seq; /* last seq given to a downlink radio frame */
  uint8_t mac[HAL_MAC_LEN];
  struct gw_stats stats;

  /* pairing */
  bool pair_open;
  uint64_t pair_until_ms;

  /* peers */
  struct gw_peer peers[GW_MAX_PEERS];
  uint16_t npeers;
  uint8_t hw_count;
  uint8_t inflight;  /* radio frames awaiting on_radio_sent */
  uint8_t rr;        /* round-robin start of the radio scheduler */
  uint64_t persist_due_ms;

  /* commands */
  struct gw_cmd cmds[GW_MAX_CMDS];
  struct gw_cmd_done done[GW_CMD_HISTORY];
  uint8_t done_next;
  uint32_t cmd_order;

  /* serial link */
  bool link_up;
  uint64_t edge_heard_ms; /* last verified frame from the edge */
  struct fp_frame_decoder dec;

  /* uplink store and writer */
  uint32_t next_gseq;
  uint16_t n_up;     /* messages in the store */
  uint16_t n_num;    /* of which numbered (a prefix) */
  uint16_t cursor;   /* next message to write */
  uint16_t ring_used;
  uint16_t num_bytes;
  struct gw_up up[GW_RING_ENTRIES];
  uint8_t ring[GW_RING_BYTES];
  size_t tx_len, tx_off;
  uint8_t tx[GW_TX_WIRE_MAX];

  /* set_mac */
  bool reboot_pending;
  bool reboot_acked;
  uint64_t reboot_at_ms;

  /* periodic work */
  uint64_t stats_due_ms;
  uint64_t log_window_ms;
  uint16_t log_lines;

  /* Scratch, kept here rather than on the port's task stack. An edge
   * message and a radio frame are never handled at once (the port calls
   * gw_tick and gw_on_radio_rx one after the other, hal.h), so they share. */
  union {
    struct fp_msg in;        /* the edge message being handled */
    struct fp_radio_msg rin; /* the radio frame being handled */
  } u;
  struct fp_msg out;           /* an uplink message being built */
  struct fp_radio_msg rout;    /* a downlink frame being built */
  uint8_t enc[FP_MSG_MAX_ENCODED + 4];
};

/*
 * Starts the gateway on port: reads the boot counter from NVS, increments
 * it and commits (the nodes check the gateway's downlink (boot, seq), which
 * restarts at 1 every boot, so a boot counter that cannot be persisted would
 * get every downlink frame rejected as a replay), reads the cfg:set_mac
 * override (the port applies it before this; a mismatch is logged), sets
 * the radio channel, loads the peer table from NVS, queues `hello` (the
 * first uplink message, gseq 1) and opens the boot pairing window when
 * configured and the table is empty. cfg is not copied. Returns 0,
 * FARM_EINVAL (cfg breaks a rule of struct gw_config), or the NVS or radio
 * error that stopped it.
 */
int gw_init(struct gw *g, const struct gw_config *cfg, struct hal_port *port);

/*
 * Does everything due at hal_clock_ms(): notices the serial link going down
 * or up (coming up it writes a lone 0x00 so the edge resynchronises, and
 * sends every unacknowledged message again), reads and handles the edge's
 * frames, resends after resend_ms without progress, writes queued frames
 * (partial writes are resumed on the next call), expires the pairing
 * window, times out radio sends, retries commands and TIME, sends stats,
 * persists the peers' marks and reboots after cfg:set_mac.
 */
void gw_tick(struct gw *g);

/* The hal_clock_ms() by which gw_tick must run again (it may run earlier;
 * serial input also needs a tick). */
uint64_t gw_next_deadline(const struct gw *g);

/*
 * A radio frame (data, len bytes, not kept) received from mac with rssi.
 * Checked in the order of BAD-INPUTS §Radio 7-9: size, a group source
 * address, header (version, type), direction, sender (known peer, or JOIN
 * in a pairing window), (boot, seq) against the peer's mark, body. Each
 * rejection is counted and changes no state.
 */
void gw_on_radio_rx(struct gw *g, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data,
                    size_t len, int8_t rssi);

/* The outcome of the last hal_radio_send to mac (delivered: the node's
 * radio acknowledged it). */
void gw_on_radio_sent(struct gw *g, const uint8_t mac[HAL_MAC_LEN], bool delivered);

/* State, for ports, the simulator and tests. */
void gw_stats(const struct gw *g, struct gw_stats *out);
uint32_t gw_boot(const struct gw *g);
bool gw_halted(const struct gw *g);
bool gw_pairing_open(const struct gw *g);
size_t gw_peer_count(const struct gw *g);
/* The peer with this MAC, or NULL. */
const struct gw_peer *gw_peer_find(const struct gw *g, const uint8_t mac[HAL_MAC_LEN]);
/* The smoothed RSSI of p rounded to dBm (0 when nothing was heard yet). */
int8_t gw_peer_rssi(const struct gw_peer *p);
/* Uplink messages stored, written or not yet. */
size_t gw_uplink_pending(const struct gw *g);

/*
 * For ports, before the radio starts: the MAC that cfg:set_mac saved in
 * port's NVS. Returns 0 and mac, FARM_ENOENT (none saved), FARM_EMALFORMED
 * (the stored value is not a unicast, non-zero 6-byte MAC), or an NVS error.
 */
int gw_saved_mac(struct hal_port *port, uint8_t mac[HAL_MAC_LEN]);

#endif /* GATEWAY_GATEWAY_H */
