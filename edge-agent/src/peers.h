/* SPDX-License-Identifier: MIT */
/*
 * The peer router: what the edge knows about the gateway and each node,
 * from `hello`, `peer`, `tel`, `evt`, `stats` and `log` (protocol §4.4):
 * MAC, asset, RSSI, firmware, features, last seen, latest readings, and
 * online/offline from each node's expected interval (announced in its boot
 * event, else measured, else the configured default). It also rebuilds the
 * wall-clock time of readings (DESIGN §3): a node only knows its uptime, so
 * for each (device, boot) the edge keeps the smallest difference between
 * its receive time and the reading's up_ms seen so far (the reading that
 * travelled fastest) and dates every reading of that boot with it; a
 * reading resent late still gets the time it was made.
 *
 * Single-threaded; the table is bounded (EA_PEERS_MAX, the least recently
 * seen offline peer makes room). No allocation after ea_peers_new().
 */
#ifndef EA_PEERS_H
#define EA_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/msg.h"

#define EA_PEERS_MAX    512
#define EA_GW_LOG_LINES 50

/* Node features, in the bit order of the node's boot event `feat`. */
#define EA_FEATURES 5
extern const char *const ea_feature_names[EA_FEATURES];

struct ea_peer {
  char id[13]; /* 12 lowercase hex digits */
  uint8_t mac[FP_MAC_LEN];
  char asset[FP_MSG_ASSET_MAX + 1];
  char fw[FP_MSG_FW_MAX + 1];
  bool has_rssi;
  int8_t rssi;
  bool online;
  bool removed; /* the gateway said "removed" */
  bool has_features;
  uint32_t features;   /* bit i: ea_feature_names[i] */
  int64_t interval_ms; /* expected reporting interval */
  bool interval_announced;
  int64_t last_seen_ms; /* wall clock */
  int64_t last_tel_ms;
  uint64_t readings, events;
  /* time reconstruction */
  bool has_boot;
  uint32_t boot;
  int64_t offset_ms; /* wall = up_ms + offset for this boot */
  /* latest reading */
  bool synthetic;
  uint8_t n_metrics;
  struct fp_metric v[FP_MSG_MAX_METRICS];
  int64_t v_ts;
  bool dirty; /* its status changed since the last publication */
};

struct ea_gateway {
  bool seen;
  char id[13];
  uint8_t mac[FP_MAC_LEN];
  char fw[FP_MSG_FW_MAX + 1];
  uint8_t ch;
  uint16_t peers;
  uint32_t boot;
  uint64_t hellos;
  int64_t hello_ms;
  uint8_t n_counters;
  struct fp_counter counters[FP_MSG_MAX_COUNTERS];
  int64_t stats_ms;
  struct {
    int64_t ms;
    uint8_t lvl;
    char msg[FP_MSG_LOG_MAX + 1];
  } log[EA_GW_LOG_LINES];
  size_t log_next, log_count;
};

struct ea_peers;

/* Returns 0 and *out (free with ea_peers_free), or FARM_ENOMEM. */
int ea_peers_new(int offline_factor, int64_t default_interval_ms, struct ea_peers **out);
void ea_peers_free(struct ea_peers *p);

/* Writes the 12-hex id of mac into out (13 bytes). */
void ea_mac_id(const uint8_t mac[FP_MAC_LEN], char out[13]);
/* Parses a 12-hex id (lowercase, as in topics). Returns 0 or FARM_EINVAL. */
int ea_mac_parse(const char *id, uint8_t mac[FP_MAC_LEN]);

/* A reading arrived at now_ms (wall): updates the peer and returns the
 * reading's reconstructed wall-clock time. */
int64_t ea_peers_on_tel(struct ea_peers *p, const struct fp_msg_tel *t, int64_t now_ms);
void ea_peers_on_evt(struct ea_peers *p, const struct fp_msg_evt *e, int64_t now_ms);
void ea_peers_on_peer(struct ea_peers *p, const struct fp_msg_peer *m, int64_t now_ms);
void ea_peers_on_hello(struct ea_peers *p, const struct fp_msg_hello *h, int64_t now_ms);
void ea_peers_on_stats(struct ea_peers *p, const struct fp_msg_stats *s, int64_t now_ms);
void ea_peers_on_log(struct ea_peers *p, const struct fp_msg_log *l, int64_t now_ms);
/* The time a node reading of (mac, boot) taken at up_ms was made, when the
 * peer is known with that boot; else now_ms. */
int64_t ea_peers_time_of(const struct ea_peers *p, const uint8_t mac[FP_MAC_LEN], uint32_t boot,
                         uint64_t up_ms, int64_t now_ms);

/* Re-evaluates online/offline at now_ms; peers that changed become dirty.
 * Returns the number of dirty peers. */
size_t ea_peers_tick(struct ea_peers *p, int64_t now_ms);
/* Marks every peer dirty (publish all again after a reconnect). */
void ea_peers_mark_all(struct ea_peers *p);

size_t ea_peers_count(const struct ea_peers *p);
/* The i-th peer (0 <= i < count), in table order; NULL past the end. */
struct ea_peer *ea_peers_at(struct ea_peers *p, size_t i);
struct ea_peer *ea_peers_find(struct ea_peers *p, const char *id);
const struct ea_gateway *ea_peers_gateway(const struct ea_peers *p);

/*
 * The retained status payload of a peer ({"online","state","rssi","fw",
 * "asset","last_seen","interval_ms","features",...}) into buf. Returns
 * the length or FARM_ENOSPC.
 */
int ea_peer_status_json(const struct ea_peer *peer, char *buf, size_t cap);

#endif /* EA_PEERS_H */
