/* SPDX-License-Identifier: MIT */
/*
 * The whole farm for the end-to-end and fault tests, every part a real
 * program on loopback: Mosquitto set up by deploy/mosquitto (TLS, client
 * certificates, passwords, ACLs), iot-streamer on a SQLite file,
 * web-gateway, ml-engine, edge-agent and farm-sim's gateway and nodes on a
 * pty, each logged in with its own account, on ports picked at start, in a
 * fresh directory. Optionally the edge reaches the broker through a TCP
 * relay the test can cut (proxy.h). Every program can be stopped (SIGTERM
 * or SIGKILL) and started again; all of them die with the test.
 *
 * The ground truth is farm-sim's ledger: e2e_tally() compares every reading
 * it lists with the streamer's `readings` table, metric by metric.
 * Built on farmd's harness (processes, broker, ports) and the edge tests'
 * MQTT observer and JSON helpers.
 */
#ifndef E2E_H
#define E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "edgetest.h"
#include "harness.h"
#include "proxy.h"

#define E2E_SITE      "farm1"
#define E2E_NODES_MAX 64
#define E2E_ADMIN_PW  "e2e-admin-password"
/* A gateway's RAM store (6 KiB) holds well under a minute of readings. */
#define E2E_GW_LOSS_WINDOW_MS 60000

struct e2e_opts {
  int nodes;           /* 1..64 */
  int real;            /* the first `real` nodes have emulated sensors */
  unsigned seed;       /* farm-sim --seed */
  int period_ms;       /* farm-sim --period-ms */
  int speed;           /* farm-sim --speed: simulated time per real time */
  bool proxy;          /* the edge goes through a relay the test can cut */
  bool ml;             /* start ml-engine */
  bool webgw;          /* start web-gateway */
  const char *anomaly; /* farm-sim --anomaly SPEC, or NULL */
};
/* 6 nodes (3 real), seed 7, 1000 ms at speed 5, every service, no relay. */
void e2e_opts_default(struct e2e_opts *o);

/* What the ledger says, kept compact (a soak holds hundreds of thousands). */
#define E2E_METRICS_MAX 16
#define E2E_VALUES_MAX  8
struct e2e_reading {
  uint32_t boot, seq;
  int64_t sim_ms;
  uint8_t node; /* index in e2e.node */
  uint8_t nv;
  bool syn;
  uint8_t metric[E2E_VALUES_MAX]; /* index in e2e_ledger.metric */
  double v[E2E_VALUES_MAX];
  bool dropped; /* the ledger says its node dropped it (full outbox) */
  /* Tally scratch. */
  uint8_t seen; /* bit i: metric[i] found in the store with its value */
  bool bad;     /* a value, a flag or a metric that the ledger does not have */
  bool hist;
};
struct e2e_key {
  uint8_t node;
  uint32_t boot, seq;
};
struct e2e_cmd_line {
  uint8_t node;
  char name[24];
  char args[96]; /* compact JSON */
  bool ok;
};
struct e2e_boot_line {
  bool gateway;
  uint8_t node;
  uint32_t boot, lost;
  int64_t sim_ms;
};
struct e2e_ledger {
  char metric[E2E_METRICS_MAX][16];
  size_t nmetric;
  struct e2e_reading *r;
  size_t n, cap;
  struct e2e_cmd_line *c;
  size_t nc, ccap;
  struct e2e_boot_line *b;
  size_t nb, bcap;
  struct e2e_key *drop; /* readings a node dropped from a full outbox */
  size_t dropped, dcap;
  long offset; /* bytes of the file read so far (whole lines) */
  bool sorted;
};

struct e2e {
  struct e2e_opts o;
  char base[FH_PATH];
  char db[FH_PATH + 16], ledger_path[FH_PATH + 16], tty[FH_PATH + 16], ctl[FH_PATH + 16];
  struct fh_broker broker;
  struct e2e_proxy *proxy;
  struct fh_proc streamer, webgw, ml, edge, sim;
  int streamer_port, web_port, edge_port;
  char url[64]; /* web-gateway's http://127.0.0.1:PORT */
  char token[96];
  char gw[13];
  char node[E2E_NODES_MAX][13];
  struct et_sub events; /* v1/farm/+/+/event, as the web-gateway account */
  struct fh_creds obs_creds;
  struct e2e_ledger ledger;
  /* Readings made before this simulated time are counted apart
   * (e2e_tally's `early`); 0 counts them all. */
  int64_t count_from_sim_ms;
  /* The programs the test means to be running (a death is a failure). */
  bool want_streamer, want_webgw, want_ml, want_edge, want_sim;
};

/* Sets up the broker and starts everything the options ask for; waits
 * until the edge lists every node and the store has a reading of each. */
void e2e_start(struct e2e *e, const struct e2e_opts *o);
/* Stops everything in order and removes the directory (kept when the
 * variable E2E_KEEP is set, for a look at the logs). */
void e2e_stop(struct e2e *e);

/* Each program alone. *_stop sends sig (SIGTERM clean, SIGKILL a crash) and
 * returns the exit status as fh_stop does; *_start waits until it serves. */
void e2e_streamer_start(struct e2e *e);
int e2e_streamer_stop(struct e2e *e, int sig);
void e2e_webgw_start(struct e2e *e);
int e2e_webgw_stop(struct e2e *e, int sig);
void e2e_ml_start(struct e2e *e);
int e2e_ml_stop(struct e2e *e, int sig);
void e2e_edge_start(struct e2e *e);
int e2e_edge_stop(struct e2e *e, int sig);
void e2e_sim_start(struct e2e *e);
int e2e_sim_stop(struct e2e *e, int sig);
void e2e_broker_start(struct e2e *e);
int e2e_broker_stop(struct e2e *e, int sig);

/* Sleeps ms while pumping the event observer; dies with the logs when a
 * program that should run has exited. */
void e2e_step(struct e2e *e, int ms);
/* Prints the last lines of every program's log. */
void e2e_dump(struct e2e *e);

/* One farm-sim control command; the answer without its final "ok" line,
 * in a static buffer. Dies on "error:" unless may_fail (then NULL). */
const char *e2e_ctl(struct e2e *e, bool may_fail, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An integer field of the `status` answer ("uplink", "boot", "sim_ms"). */
long long e2e_sim_status(struct e2e *e, const char *key);

/* web-gateway's REST API as admin: the status (0 when no answer); the
 * body parsed into *out when it is JSON (json_decref it; may be NULL). */
int e2e_api(struct e2e *e, const char *method, const char *path, const char *body, json_t **out);
/* web-gateway's GET /healthz (answered 200 or 503) as JSON, or NULL. */
json_t *e2e_webgw_health(struct e2e *e);
/* The edge agent's API: GET path as JSON, NULL when it does not answer. */
json_t *e2e_edge_api(struct e2e *e, const char *path);
/* The state the edge keeps for a command id (read from its commands
 * file), or "" when the edge has never seen it. */
void e2e_edge_command_state(struct e2e *e, const char *id, char *out, size_t cap);
/* A counter or gauge of iot-streamer's /metrics (-1 when absent). */
double e2e_streamer_metric(struct e2e *e, const char *name);

/* Reads what farm-sim appended to the ledger since the last call. */
void e2e_ledger_update(struct e2e *e);
/* The index of a node MAC, or -1. */
int e2e_node_index(const struct e2e *e, const char *mac);

struct e2e_tally {
  size_t ledger;     /* readings in the ledger */
  size_t stored;     /* of them, stored with every metric and equal values */
  size_t missing;    /* of them, not stored at all */
  size_t partial;    /* of them, stored with some metric missing */
  size_t mismatched; /* of them, stored with another value or flag */
  size_t unknown;    /* readings in the store that the ledger does not list */
  size_t rows;       /* rows of the site in `readings` */
  size_t expected;   /* metric values of the stored ledger readings */
  size_t hist;       /* stored readings flagged hist (replayed) */
  size_t synthetic;  /* stored readings flagged synthetic */
  size_t dropped;    /* missing, and the ledger says its node dropped it from
                        a full outbox (never sent, by design) */
  size_t early;      /* missing, made before e2e.count_from_sim_ms */
  unsigned gw_lost;  /* ledger: messages a gateway restart took from RAM */
  unsigned node_lost;
  /* Missing readings that no gateway power-cycle explains: one is
   * explained by a later gateway `boot` line that lost messages, within
   * E2E_GW_LOSS_WINDOW_MS of simulated time, up to that line's count. */
  size_t unexplained;
  char first_missing[96];
  char first_problem[256];
};
/* Compares the ledger (updated first) with the store. */
void e2e_tally(struct e2e *e, struct e2e_tally *t);
void e2e_tally_print(const char *what, const struct e2e_tally *t);

/*
 * The end of a run: pauses the nodes, then waits up to timeout_ms until
 * the edge holds no telemetry the store has not confirmed (its watermark
 * is its last edge_seq), the streamer has nothing pending, the gateway's
 * uplink store is empty, and either every ledger reading is stored or the
 * store has not changed for 15 s. True when that happened in time; t holds
 * the final tally.
 */
bool e2e_drain(struct e2e *e, int timeout_ms, struct e2e_tally *t);

int64_t e2e_now_ms(void);
int64_t e2e_wall_ms(void);

#endif /* E2E_H */
