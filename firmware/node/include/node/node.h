/* SPDX-License-Identifier: MIT */
/*
 * The sensor/relay node core (DESIGN §1, §3, §5): it measures on a period,
 * numbers every message with (boot, seq), keeps what the radio failed to
 * deliver and resends it in order, runs the gateway's commands and answers
 * each once, pairs with a gateway, and puts the relays in their safe state
 * when the gateway goes silent. It is portable C behind the HAL contract
 * (hal/hal.h): a port owns one struct node per board, calls node_init at
 * boot, node_tick whenever it wakes (at the latest at node_next_deadline),
 * and hands radio events to node_on_radio_rx and node_on_radio_sent from
 * the same task. Nothing here allocates, blocks or keeps a global.
 */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/lux.h"
#include "drivers/mq135.h"
#include "drivers/relays.h"
#include "drivers/sht41.h"
#include "fp/radio.h"
#include "hal/hal.h"

/* Run-time features, toggled by `feature.set {name, on}` (bit masks). */
#define NODE_F_SHT41     (1u << 0) /* "sht41": temp_c, rh_pct */
#define NODE_F_LUX       (1u << 1) /* "lux": lux */
#define NODE_F_MQ135     (1u << 2) /* "mq135": air_ppm */
#define NODE_F_RELAYS    (1u << 3) /* "relays": relay.set, the relays metric */
#define NODE_F_SYNTHETIC (1u << 4) /* "synthetic": every sensor simulated */
#define NODE_F_ALL       0x1fu

/* Readings and messages waiting for the radio (DESIGN §4: kept until the
 * radio confirms delivery). */
#define NODE_OUTBOX_MAX 32
/* Command outcomes remembered for duplicate ids (BAD-INPUTS 23). */
#define NODE_CMD_HISTORY 8
/* Metrics one reading can carry: temp_c, rh_pct, lux, air_ppm, relays. */
#define NODE_METRICS_MAX 5

/* Bounds of the telemetry period (period.set {ms}). */
#define NODE_PERIOD_MIN_MS 1000u
#define NODE_PERIOD_MAX_MS 3600000u
/* relay.set for_s: at most one day; 0 = no lease. */
#define NODE_LEASE_MAX_S 86400
/* identify {s}: the indicator blinks for 1..60 s (default 5). */
#define NODE_IDENTIFY_MAX_S     60
#define NODE_IDENTIFY_DEFAULT_S 5
#define NODE_NO_GPIO            0xff

/* NVS keys (at most HAL_NVS_KEY_MAX characters). */
#define NODE_NVS_BOOT    "node_boot"    /* u32, +1 at every node_init */
#define NODE_NVS_FEAT    "node_feat"    /* u32 mask of enabled features */
#define NODE_NVS_PERIOD  "node_period"  /* u32 telemetry period, ms */
#define NODE_NVS_GW_MAC  "node_gw_mac"  /* blob, 6 bytes: the paired gateway */
#define NODE_NVS_GW_CH   "node_gw_ch"   /* u32 Wi-Fi channel of the gateway */
#define NODE_NVS_GW_BOOT "node_gw_boot" /* u32: gateway boot last seen */
#define NODE_NVS_RB_ID   "node_rb_id"   /* u32: id of the reboot command run */

/*
 * Called after the core made a reading, ran (or refused) a command, or
 * dropped a queued message that will never be sent (outbox overflow), for
 * the simulator's ground-truth ledger. They may only look: no node_* call
 * from inside.
 */
struct node_hooks {
  void (*on_reading)(void *ctx, const struct fp_radio_msg *tel);
  void (*on_command)(void *ctx, const struct fp_radio_cmd *cmd, bool ok, const char *err);
  void (*on_dropped)(void *ctx, const struct fp_radio_msg *m);
  void *ctx;
};

/*
 * Build-time configuration; not copied, it must outlive the node (the
 * drivers keep pointers to their parts). Persisted settings (features,
 * period, pairing) override the defaults here.
 */
struct node_config {
  const char *fw;            /* 1..31 bytes: firmware version, sent in JOIN */
  const char *asset;         /* 0..47 bytes or NULL: asset name, in JOIN */
  uint32_t period_ms;        /* default telemetry period, NODE_PERIOD_MIN..MAX */
  uint8_t features_built;    /* NODE_F_* compiled in; others are refused */
  uint8_t features_default;  /* enabled at first boot (subset of built) */
  uint8_t channel;           /* 1..14 to pair on; 0 scans 1..13 */
  bool encrypt;              /* the gateway peer uses the port's LMK; after a
                                pairing nothing is sent before a frame from
                                the gateway proves it has ours */
  uint16_t silence_periods;  /* safety: periods without the gateway before the
                                relays go safe; 0 disables the safety */
  uint32_t join_interval_ms; /* JOIN broadcast interval while unpaired, > 0 */
  uint32_t retry_ms;         /* first resend delay after a failed send, > 0 */
  uint32_t retry_max_ms;     /* the delay doubles up to this, >= retry_ms */
  uint32_t send_timeout_ms;  /* no send status after this: failed, > 0 */
  uint32_t reboot_grace_ms;  /* reboot waits this long for its ack, > 0 */
  uint32_t synthetic_seed;   /* 0: seed the synthetic noise from hal_random */
  uint8_t identify_gpio;     /* indicator output, or NODE_NO_GPIO */
  struct sht41_config sht41;
  struct lux_config lux;
  struct mq135_config mq135;
  struct relays_config relays; /* count 0 unless NODE_F_RELAYS is built */
  struct node_hooks hooks;     /* all NULL: none */
};

/* Fills cfg with working defaults: fw "0.0.0", period 60 s, SHT41, MQ135
 * and synthetic built (the first two enabled), channel scan, silence 3
 * periods, JOIN every 5 s, retries 100 ms doubling to 5 s, send timeout
 * 1 s, reboot grace 2 s, driver defaults. Lux and relays are board-specific:
 * a board adds NODE_F_LUX with a curve and NODE_F_RELAYS with its bank. */
void node_config_default(struct node_config *cfg);

/* Counters, for logs and tests. */
struct node_stats {
  uint32_t readings;      /* readings made (queued) */
  uint32_t synthetic;     /* of which with a synthetic value */
  uint32_t empty;         /* periods with no metric to report */
  uint32_t dropped;       /* messages dropped from a full outbox */
  uint32_t sent;          /* radio sends started (first or again) */
  uint32_t delivered;     /* sends the gateway's radio acknowledged */
  uint32_t failed;        /* sends reported undelivered or timed out */
  uint32_t busy;          /* hal_radio_send refusals (queue full, error) */
  uint32_t joins;         /* JOIN broadcasts */
  uint32_t rx;            /* frames accepted from the gateway */
  uint32_t rx_bad;        /* frames that did not decode */
  uint32_t rx_foreign;    /* frames from another MAC than the gateway */
  uint32_t rx_replay;     /* gateway frames at or below its mark */
  uint32_t rx_unexpected; /* decodable frames of a type not for a node */
  uint32_t commands;      /* commands run or refused */
  uint32_t duplicates;    /* commands answered from the history */
  uint32_t sensor_errors; /* sensor operations that failed */
};

/* A message waiting for the radio, in a compact form (encoded at send). */
enum node_msg_kind {
  NODE_MSG_TEL,
  NODE_MSG_EVT,
  NODE_MSG_ACK,
};

enum node_metric {
  NODE_M_TEMP_C,
  NODE_M_RH_PCT,
  NODE_M_LUX,
  NODE_M_AIR_PPM,
  NODE_M_RELAYS,
};

enum node_event {
  NODE_EV_BOOT,         /* "boot" {feat, period_ms} */
  NODE_EV_RELAY,        /* "relay" {ch, on, cause} */
  NODE_EV_LINK_LOST,    /* "link.lost" {silent_ms}: relays went safe */
  NODE_EV_LINK_BACK,    /* "link.back" {silent_ms} */
  NODE_EV_SENSOR_FAULT, /* "sensor.fault" {sensor, err}: now synthetic */
  NODE_EV_SENSOR_OK,    /* "sensor.ok" {sensor}: real values again */
};

struct node_out {
  uint8_t kind; /* enum node_msg_kind */
  uint32_t seq;
  union {
    struct {
      uint64_t up_ms;
      bool syn;
      uint8_t n;
      uint8_t id[NODE_METRICS_MAX]; /* enum node_metric */
      double value[NODE_METRICS_MAX];
    } tel;
    struct {
      uint8_t code; /* enum node_event */
      int64_t a[3];
    } evt;
    struct {
      uint32_t id;
      bool ok;
      char err[FP_MSG_ERR_MAX + 1];
    } ack;
  } u;
};

struct node_cmd_outcome {
  uint32_t id;
  bool ok;
  char err[FP_MSG_ERR_MAX + 1];
};

/* Per-sensor health, for synthetic mode and its events. */
struct node_sensor_state {
  bool failing; /* the last attempt failed: values are synthetic */
  int last_err;
};

/* One node. All fields are private to node.c; use the functions. */
struct node {
  const struct node_config *cfg;
  struct hal_port *port;
  bool halted; /* after hal_reboot: do nothing until node_init */
  bool paused; /* node_set_paused: no new readings */
  uint32_t boot;
  uint32_t seq; /* last seq given out; messages count from 1 */
  uint8_t features;
  uint32_t period_ms;
  uint64_t next_reading_ms;
  bool reading_pending; /* an SHT41 measurement is running */
  uint64_t reading_up_ms;
  bool sht41_started; /* it was started for the pending reading */

  /* drivers */
  struct sht41 sht41;
  struct lux lux;
  struct mq135 mq135;
  struct relays relays;
  bool lux_ok, mq135_ok, relays_ok;    /* the driver initialised */
  struct node_sensor_state sensors[3]; /* sht41, lux, mq135 */
  uint32_t rng;                        /* synthetic noise, xorshift32 */

  /* pairing */
  bool paired;
  /* The gateway can read us, so the outbox may drain: at once without
   * encryption; with it, once a frame from the gateway arrived after the
   * clear JOIN_ACK, which only an encrypted one can (docs/firmware-node.md). */
  bool gw_keyed;
  uint8_t gw_mac[HAL_MAC_LEN];
  uint8_t gw_ch;
  bool gw_mark_valid;
  uint32_t gw_boot, gw_seq; /* high-water mark of the gateway's frames */
  uint64_t next_join_ms;
  uint8_t scan_ch;

  /* outbox: a FIFO, only its head is ever in flight */
  struct node_out outbox[NODE_OUTBOX_MAX];
  uint8_t out_head, out_count;
  bool in_flight;
  uint64_t in_flight_since;
  uint64_t retry_at_ms; /* earliest resend of the head */
  uint32_t retry_delay_ms;

  /* commands */
  struct node_cmd_outcome history[NODE_CMD_HISTORY];
  uint8_t history_next, history_count;
  bool reboot_pending;
  uint32_t reboot_seq; /* the seq of the reboot's ack */
  uint64_t reboot_at_ms;
  uint32_t reboot_id;
  bool reboot_id_valid;
  uint64_t identify_until_ms;
  uint64_t identify_next_ms;
  bool identify_level;

  /* safety */
  uint64_t last_heard_ms; /* last delivered send or frame from the gateway */
  bool safe;              /* the relays are in their safe state for silence */

  struct node_stats stats;
};

/*
 * Starts the node on port: reads the boot counter from NVS, increments it
 * and commits (a node that cannot persist it must not send, since (boot,
 * seq) would repeat), loads the persisted features, period and pairing,
 * initialises the enabled drivers (a sensor whose driver fails is reported
 * synthetic; the relays take their boot state), and queues a "boot" event.
 * The first reading is due at the first node_tick. Returns 0, FARM_EINVAL
 * (cfg breaks a rule of struct node_config, or the relay config is
 * invalid), or the NVS or GPIO error that stopped it.
 */
int node_init(struct node *n, const struct node_config *cfg, struct hal_port *port);

/*
 * Does everything due at hal_clock_ms(): relay leases, the identify blink,
 * measurements (the SHT41's two phases), JOIN broadcasts while unpaired,
 * the link-loss safety, a pending reboot, and the radio (the outbox head is
 * sent when nothing is in flight and its retry time has come).
 */
void node_tick(struct node *n);

/* The hal_clock_ms() by which node_tick must run again (it may run
 * earlier). */
uint64_t node_next_deadline(const struct node *n);

/*
 * A frame received from mac. Accepted only from the paired gateway (while
 * unpaired, only a JOIN_ACK), only downlink types, only above the
 * gateway's (boot, seq) high-water mark; everything else is counted and
 * dropped. data is not kept after return.
 */
void node_on_radio_rx(struct node *n, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data,
                      size_t len, int8_t rssi);

/*
 * The outcome of the last hal_radio_send to mac. delivered moves the
 * outbox on; !delivered keeps the head and resends it, with the same
 * (boot, seq), after a backoff.
 */
void node_on_radio_sent(struct node *n, const uint8_t mac[HAL_MAC_LEN], bool delivered);

/*
 * Stops (paused) or restarts making readings, for the simulator's pause:
 * everything else goes on (the outbox drains, commands run, the safety
 * watches the link). A reading already being measured is finished. After a
 * pause the period grid restarts from the first node_tick. node_init clears
 * it.
 */
void node_set_paused(struct node *n, bool paused);

/* State, for ports, the simulator and tests. */
const struct node_stats *node_stats(const struct node *n);
uint32_t node_boot(const struct node *n);
uint8_t node_features(const struct node *n);
uint32_t node_period_ms(const struct node *n);
bool node_paired(const struct node *n, uint8_t mac[HAL_MAC_LEN]);
unsigned node_outbox_count(const struct node *n);
bool node_safe(const struct node *n); /* relays safe for gateway silence */
struct relays *node_relays(struct node *n);

/* A feature's bit from its name ("sht41"), 0 if unknown. */
uint8_t node_feature_bit(const char *name);

#endif /* NODE_NODE_H */
