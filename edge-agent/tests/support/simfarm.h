/* SPDX-License-Identifier: MIT */
/*
 * The whole-chain fixture of the edge agent's integration tests: the real
 * farm-sim program (gateway and nodes, its pty behind a symlink, control
 * socket, ledger, state directory), the real edge-agent binary reading that
 * pty, a real Mosquitto (plain or TLS as deploy/mosquitto sets it up), and an
 * MQTT observer with a persistent session that records everything published
 * for the site. The ledger is the ground truth: es_tally() checks every
 * reading it lists against the telemetry the observer collected, after
 * deduplication by (device, boot, seq) as a cloud store does it.
 * Everything lives in a fresh directory on free ports and is stopped at
 * teardown (children also die with the test).
 */
#ifndef EA_SIMFARM_H
#define EA_SIMFARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgetest.h"

#define ES_SITE      "s1"
#define ES_NODES_MAX 16
#define ES_ENV_MAX   48

struct es_opts {
  int nodes;         /* --nodes */
  int real;          /* --real, or -1 for the simulator's default */
  unsigned seed;     /* --seed */
  int period_ms;     /* --period-ms (1000..) */
  const char *speed; /* --speed: "1" real time, "5" five times faster */
  const char *codec; /* "msgpack" or "cbor", for both programs */
  double loss;       /* --loss */
  bool tls;          /* TLS broker with client certificates */
};

/* 4 nodes, seed 1, 1000 ms at speed 5 (a reading every 200 ms of real
 * time per node), msgpack, no loss, plain broker. */
void es_opts_default(struct es_opts *o);

struct es_farm {
  struct es_opts opt;
  char base[FH_PATH];
  char tty[FH_PATH + 16], ctl[FH_PATH + 16], ledger[FH_PATH + 16], state[FH_PATH + 16];
  struct fh_broker broker;
  struct fh_creds obs_creds; /* the observer's TLS files, kept for its reconnects */
  struct et_sub obs;
  struct fh_proc agent, sim;
  bool agent_up, sim_up; /* the test means them to be running */
  int http_port;
  char env_store[ES_ENV_MAX][FH_PATH + 160];
  const char *env[ES_ENV_MAX + 1];
  int nenv;
  char gw[13];                 /* the simulated gateway's MAC */
  char node[ES_NODES_MAX][13]; /* the nodes' MACs, by index */
  const char *auth;            /* "Authorization: ...\r\n" for the API, or NULL */
  bool keep;                   /* a failure was dumped: keep the directory */
};

/* Broker, observer on v1/farm/s1/#, the agent's environment (nothing else
 * started). With TLS the observer logs in as web-gateway, which may read
 * the site and publish commands. */
void es_setup(struct es_farm *f, const struct es_opts *o);
/* Adds or replaces a KEY=VALUE of the agent's environment. */
void es_env(struct es_farm *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts the agent and waits until its API answers. */
void es_agent_start(struct es_farm *f);
/* Stops it with sig (SIGTERM clean, SIGKILL a crash); the exit status as
 * fh_stop gives it. */
int es_agent_stop(struct es_farm *f, int sig);
/* Starts farm-sim and waits for its "ready" line; fills gw and node[]. */
void es_sim_start(struct es_farm *f);
/* The agent, then the simulator, then waits until the agent lists every
 * node as a peer. */
void es_start(struct es_farm *f);
/* The clean end of a test: stops the simulator and the agent with
 * SIGTERM. False, with the reason in why, unless both exit 0 (the
 * simulator saying where it stopped) and neither log holds a sanitizer
 * report. */
bool es_finish(struct es_farm *f, char *why, size_t cap);
/* Stops everything and removes the directory (kept, and named on stderr,
 * after es_dump). */
void es_teardown(struct es_farm *f);

/* Pumps the observer for ms; dies (with both logs) if a program that
 * should run has exited. */
void es_step(struct es_farm *f, int ms);

/* One control-socket command; returns the answer (lines joined by '\n',
 * the final "ok" included) in a static buffer. Dies when the answer does
 * not end in "ok". */
const char *es_ctl(struct es_farm *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An integer field ("uplink", "sim_ms", "boot") of the `status` line. */
long long es_sim_status(struct es_farm *f, const char *key);

/* One reading of the ledger and what the observer saw of it. */
struct es_reading {
  char dev[13];
  uint32_t boot, seq;
  int64_t up_ms, sim_ms;
  bool syn;
  json_t *v; /* owned */
  unsigned published;
  unsigned hist; /* of which with hist: true */
};

/* One command the nodes ran or refused (the ledger's `command` lines). */
struct es_command {
  char dev[13];
  char name[32];
  json_t *args; /* owned */
  bool ok;
  char err[128];
};

/* One board start. */
struct es_boot {
  char dev[13];
  bool gateway;
  uint32_t boot;
  unsigned lost;
  int64_t sim_ms;
};

struct es_ledger {
  struct es_reading *r;
  size_t n;
  struct es_command *c;
  size_t nc;
  struct es_boot *b;
  size_t nb;
  size_t dropped; /* readings a node dropped from a full outbox */
};
/* Reads the ledger as far as whole lines go (the simulator may be writing
 * it); readings sorted by (device, boot, seq). */
void es_ledger_load(struct es_farm *f, struct es_ledger *l);
void es_ledger_free(struct es_ledger *l);

struct es_tally {
  size_t ledger;     /* readings in the ledger */
  size_t published;  /* telemetry messages the observer holds */
  size_t distinct;   /* ledger readings published at least once */
  size_t duplicates; /* messages beyond the first of a (device, boot, seq) */
  size_t missing;    /* ledger readings never published */
  size_t unknown;    /* published readings the ledger does not list */
  size_t mismatched; /* published with other values, up_ms or synthetic flag */
  size_t hist;       /* published with hist: true */
  size_t dropped;    /* ledger `dropped` lines (never sent by design) */
  unsigned gw_lost;  /* messages the gateway's restarts lost (ledger `boot`) */
  char first_missing[64];
  char first_problem[512];
};
/* Compares the ledger with the observer's telemetry. When l is not NULL
 * the ledger is left in it (published counts filled) for the caller. */
void es_tally(struct es_farm *f, struct es_tally *t, struct es_ledger *l);
/* Prints the tally on one line, prefixed by what. */
void es_report(const char *what, const struct es_tally *t);
/* The verdict of a scenario: at least one reading in the ledger, none
 * missing, none published that the ledger does not list, none with other
 * values, none dropped by a node, and no duplicates unless dups_allowed
 * (QoS 1 after a crash or a reconnect). False with the reason in why. */
bool es_complete(const struct es_tally *t, bool dups_allowed, char *why, size_t cap);

/*
 * The end of a scenario: pauses the nodes (they stop making readings and
 * drain their outboxes), then waits up to timeout_ms until every node's
 * outbox and the gateway's uplink store are empty, the agent's backlog
 * depth is 0 and, with want_all, no ledger reading is missing (or no more
 * than the gateway's restarts lost, by the ledger's `boot` lines). Fills t
 * with the final tally; true when all of that held in time.
 */
bool es_drain(struct es_farm *f, int timeout_ms, bool want_all, struct es_tally *t);

/* The agent's API: GET path (dies when not 200), as JSON; json_decref it. */
json_t *es_api(struct es_farm *f, const char *path);
/* POSTs json to path with extra headers (after f->auth); the status,
 * the answer's body in out. */
int es_post(struct es_farm *f, const char *path, const char *headers, const char *json, char *out,
            size_t cap, const char **body);
/* Prints the tails of the agent's and the simulator's logs, writes what
 * the observer saw to observed.txt and keeps the directory. */
void es_dump(struct es_farm *f);

#endif /* EA_SIMFARM_H */
