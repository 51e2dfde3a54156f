/* SPDX-License-Identifier: MIT */
/*
 * The simulated farm of farm-sim: one gateway core and N node cores, each on
 * a board of the POSIX port (sim/board.h), sharing one simulated clock and
 * one simulated radio medium. The world moves the clock from deadline to
 * deadline, ticks the cores that are due, restarts boards that asked to
 * reboot (applying the MAC cfg:set_mac saved, as the ESP-IDF port does),
 * feeds the emulated sensors of the "real" nodes from a diurnal environment
 * with planted anomalies, and reports every reading and command the nodes
 * make to an observer (the ledger). It never looks at the wall clock, so a
 * seed and the same host input at the same simulated times replay the same
 * run. The program around it (main.c) paces it to real time and bridges the
 * gateway's serial link to a pseudo-terminal; tests drive it directly.
 * Host code: it allocates (fsim_world_new / fsim_world_free) and is
 * single-threaded.
 */
#ifndef FSIM_WORLD_H
#define FSIM_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"
#include "fp/radio.h"
#include "gateway/gateway.h"
#include "hal/hal.h"
#include "node/node.h"
#include "sim/board.h"
#include "sim/radio.h"

/* Nodes in one world: as many as the gateway's peer table holds. */
#define FSIM_MAX_NODES     GW_MAX_PEERS
#define FSIM_MAX_ANOMALIES 16
/* Site names: 1..24 of [a-z0-9_-] (asset names are "<site>/node-NN"). */
#define FSIM_SITE_MAX 24
/* Relay channels of every simulated node (the T-RelayS3 has 6). */
#define FSIM_RELAYS 6
/* Steps at one simulated instant before the world declares a livelock and
 * moves the clock on by 1 ms (a core whose deadline never passes). */
#define FSIM_MAX_STEPS_PER_MS 10000

/* Metrics the environment of a real node produces. */
enum fsim_metric { FSIM_TEMP_C, FSIM_RH_PCT, FSIM_LUX, FSIM_AIR_PPM, FSIM_METRIC_COUNT };

/* Parses "temp_c", "rh_pct", "lux", "air_ppm". Returns 0 or FARM_EINVAL. */
int fsim_metric_parse(const char *s, enum fsim_metric *out);
const char *fsim_metric_name(enum fsim_metric m);

/*
 * A planted anomaly: from at_ms (simulated time) for for_ms (0: for ever),
 * delta is added to metric in the environment of node `node` (an index). It
 * reaches the readings through the emulated sensors, so only real nodes can
 * carry one; the synthetic nodes make up their own values.
 */
struct fsim_anomaly {
  unsigned node;
  enum fsim_metric metric;
  uint64_t at_ms;
  uint64_t for_ms;
  double delta;
};

/*
 * What the world reports, for the ground-truth ledger and for tests. Each
 * callback may be NULL. They are called from inside the world's stepping
 * and may only look (no fsim_* call that changes the world).
 */
struct fsim_observer {
  /* A node made a reading (struct node_hooks.on_reading). */
  void (*on_reading)(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                     const struct fp_radio_msg *tel);
  /* A node ran or refused a command (err "" when ok). */
  void (*on_command)(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                     const struct fp_radio_cmd *cmd, bool ok, const char *err);
  /* A node dropped a queued message from its full outbox. */
  void (*on_dropped)(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                     const struct fp_radio_msg *m);
  /* A board started (power-on, reboot): boot is the core's new boot
   * counter; lost counts the messages a node's outbox lost (the gateway's
   * uplink messages not yet acknowledged) in the restart. */
  void (*on_boot)(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN], bool gateway,
                  uint32_t boot, unsigned lost);
  void *ctx;
};

struct fsim_config {
  uint64_t seed;        /* MACs, positions, radio draws, noise */
  unsigned nodes;       /* 1..FSIM_MAX_NODES */
  unsigned real_nodes;  /* the first real_nodes have emulated sensors */
  uint32_t period_ms;   /* node telemetry period, NODE_PERIOD_MIN..MAX_MS */
  double loss;          /* radio loss on every link, 0..1 */
  uint32_t latency_ms;  /* radio latency */
  double radius_m;      /* nodes stand within this distance of the gateway, > 0 */
  uint8_t channel;      /* Wi-Fi channel 1..14 */
  bool encrypt;         /* ESP-NOW encryption on the gateway and every node
                           (one PMK/LMK pair): at most 17 nodes pair */
  enum fp_codec codec;  /* of the gateway's serial link */
  uint16_t pair_boot_s; /* the gateway's boot pairing window (empty table) */
  uint32_t boot_ms;     /* how long a board takes to restart, > 0 */
  uint64_t epoch_ms;    /* Unix ms at simulated time 0 (the environment's
                           time of day) */
  char site[FSIM_SITE_MAX + 1];
  const char *state_dir; /* NVS files; NULL: in memory. Not kept. */
  unsigned n_anomalies;
  struct fsim_anomaly anomalies[FSIM_MAX_ANOMALIES];
  enum hal_log_level log_level;
  /* Log sink of every board; NULL: "[mac] L text" lines on stderr. */
  void (*log)(void *ctx, const uint8_t mac[HAL_MAC_LEN], enum hal_log_level level,
              const char *line);
  void *log_ctx;
  struct fsim_observer observer;
};

/* Defaults: seed 1, 4 nodes of which 2 real, period 10 s, no loss, 2 ms
 * latency, radius 60 m, channel 1, no encryption, msgpack, a 600 s boot
 * pairing window,
 * 300 ms restarts, epoch 2026-06-01 06:00 UTC, site "sim", in memory,
 * warnings and errors logged to stderr, no observer. */
void fsim_config_default(struct fsim_config *cfg);

/* Checks the rules of struct fsim_config (anomalies included). Returns 0 or
 * FARM_EINVAL, with a one-line reason in why (cap bytes, may be NULL). */
int fsim_config_check(const struct fsim_config *cfg, char *why, size_t cap);

struct fsim_world;

/*
 * Builds the world at simulated time 0 and powers every board up: the
 * gateway and each node read their NVS (from state_dir when given) and
 * start their cores. Node i's MAC, position and sensor noise derive from
 * the seed alone. The gateway's serial cable starts unplugged. The caller
 * frees *out with fsim_world_free. Returns 0, FARM_EINVAL (cfg, with why
 * filled), FARM_ENOMEM, or the error of a board or core that could not
 * start (why says which).
 */
int fsim_world_new(const struct fsim_config *cfg, struct fsim_world **out, char *why, size_t cap);

/* Detaches every board and frees the world (NULL is allowed). Committed NVS
 * is already on disk: every hal_nvs_commit writes its file. */
void fsim_world_free(struct fsim_world *w);

/* ---- Time ----------------------------------------------------------------- */

uint64_t fsim_now(const struct fsim_world *w);

/* The simulated time of the next thing to do (never before fsim_now). */
uint64_t fsim_next_due(const struct fsim_world *w);

/*
 * Runs everything due up to and including to_ms in time order, then leaves
 * the clock at to_ms (to_ms before fsim_now is taken as fsim_now).
 */
void fsim_advance(struct fsim_world *w, uint64_t to_ms);

/* ---- The gateway's serial link (host side) ------------------------------ */

/* Plugs or unplugs the cable; unplugging drops the bytes in flight. */
void fsim_set_cable(struct fsim_world *w, bool connected);
bool fsim_cable(const struct fsim_world *w);
/* Host to gateway; returns 0 (*written may be short) or FARM_ECLOSED. The
 * gateway is ticked at the next step. */
int fsim_host_write(struct fsim_world *w, const void *data, size_t len, size_t *written);
/* Gateway to host; returns 0 (*got may be 0) or FARM_ECLOSED. */
int fsim_host_read(struct fsim_world *w, void *buf, size_t cap, size_t *got);

/* ---- Control --------------------------------------------------------------- */

/* Pause: the nodes make no readings (everything else goes on). */
void fsim_set_paused(struct fsim_world *w, bool paused);
bool fsim_paused(const struct fsim_world *w);

/* Sets the loss of every link without an override. Returns 0 or
 * FARM_EINVAL. */
int fsim_set_loss(struct fsim_world *w, double loss);
/* Overrides the loss between node i and the gateway (negative: back to
 * the global value). Returns 0, FARM_EINVAL, FARM_ENOENT, FARM_ENOSPC. */
int fsim_set_link_loss(struct fsim_world *w, unsigned i, double loss);

/* Power-cycles the gateway or node i now: it is off for boot_ms, then
 * starts again from its committed NVS. A node loses its outbox, the gateway
 * its uplink store. */
void fsim_reboot_gateway(struct fsim_world *w);
void fsim_reboot_node(struct fsim_world *w, unsigned i);

/* Switches node i off (it hears and sends nothing) or on (it boots after
 * boot_ms). */
void fsim_power_node(struct fsim_world *w, unsigned i, bool on);
bool fsim_node_powered(const struct fsim_world *w, unsigned i);

/* Plants an anomaly (the same rules as in fsim_config). Returns 0,
 * FARM_EINVAL (not a real node, bad metric) or FARM_ENOSPC. */
int fsim_add_anomaly(struct fsim_world *w, const struct fsim_anomaly *a);

/* ---- Inspection ------------------------------------------------------------ */

unsigned fsim_node_count(const struct fsim_world *w);
/* The index of the node with this MAC, or -1. */
int fsim_node_find(const struct fsim_world *w, const uint8_t mac[HAL_MAC_LEN]);
const uint8_t *fsim_node_mac(const struct fsim_world *w, unsigned i);
bool fsim_node_real(const struct fsim_world *w, unsigned i);
/* The core and board of node i, for tests (NULL-safe only for valid i). */
struct node *fsim_node_core(struct fsim_world *w, unsigned i);
struct hal_port *fsim_node_board(struct fsim_world *w, unsigned i);
/* The gateway's current MAC (after cfg:set_mac, the new one). */
const uint8_t *fsim_gateway_mac(const struct fsim_world *w);
bool fsim_gateway_up(const struct fsim_world *w);
struct gw *fsim_gateway_core(struct fsim_world *w);
struct hal_port *fsim_gateway_board(struct fsim_world *w);
struct sim_radio *fsim_radio(struct fsim_world *w);
struct sim_clock *fsim_clock(struct fsim_world *w);

/* The environment value of metric at node i at simulated time t (the
 * anomalies included), as the emulated sensor is set from it. */
double fsim_env_value(const struct fsim_world *w, unsigned i, enum fsim_metric m, uint64_t t_ms);

/* Writes the 12 lowercase hex digits of mac and a NUL into out. */
void fsim_mac_hex(const uint8_t mac[HAL_MAC_LEN], char out[2 * HAL_MAC_LEN + 1]);
/* Parses 12 hex digits, with or without ':' between bytes. Returns 0 or
 * FARM_EINVAL. */
int fsim_mac_parse(const char *s, uint8_t mac[HAL_MAC_LEN]);

#endif /* FSIM_WORLD_H */
