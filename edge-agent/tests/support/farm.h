/* SPDX-License-Identifier: MIT */
/*
 * The edge agent's end-to-end fixture: a Mosquitto (plain or TLS, as
 * deploy/mosquitto sets it up), the scripted gateway on a pty behind a
 * symlink, an MQTT observer with a persistent session, and the edge-agent
 * binary started with EDGE_* variables, all in a fresh directory on free
 * ports, and all stopped at teardown (children also die with the test).
 */
#ifndef EA_FARM_H
#define EA_FARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgetest.h"
#include "fakegw.h"

#define ET_ENV_MAX 64

struct et_farm {
  char base[FH_PATH];
  bool tls;
  struct fh_broker broker;
  struct fgw gw;
  struct et_sub obs;
  struct fh_proc agent;
  int http_port;
  char tty[FH_PATH + 16];
  char env_store[ET_ENV_MAX][FH_PATH + 160];
  const char *env[ET_ENV_MAX + 1];
  int nenv;
  int starts;
  int fsize_kib; /* > 0: start the agent under this soft file-size limit */
};

#define ET_SITE "s1"
extern const uint8_t et_node[6];
extern const uint8_t et_gw_mac[6];

/* Broker, observer on v1/farm/s1/#, gateway pty and the agent's settings
 * (not started). */
void et_farm_setup(struct et_farm *f, bool tls);
/* Adds or replaces a KEY=VALUE of the agent's environment. */
void et_farm_env(struct et_farm *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts the agent and waits until its API answers. */
void et_farm_start(struct et_farm *f);
/* Stops it with sig (SIGTERM: clean, SIGKILL: a crash); returns the exit
 * status as fh_stop does. */
int et_farm_stop(struct et_farm *f, int sig);
/* Pumps the gateway and the observer for ms. */
void et_farm_step(struct et_farm *f, int ms);
/* Stops everything, removes the directory (kept, with the agent's log
 * printed, when keep_on_failure and the test failed: see et_farm_failed). */
void et_farm_teardown(struct et_farm *f);

/* Sends readings seq from..to of (et_node, boot) from the gateway. */
void et_farm_send(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to);

struct et_tally {
  size_t messages; /* telemetry messages of (device, boot) */
  size_t distinct; /* distinct seqs among them */
  size_t duplicates;
  size_t hist;            /* with hist:true */
  uint32_t missing_first; /* first seq of from..to not seen, 0 when none */
  size_t missing;
};
/* Counts what the observer holds for (et_node, boot), seqs from..to. */
void et_farm_tally(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to,
                   struct et_tally *t);
/* Steps until every seq from..to of (et_node, boot) was seen or timeout;
 * returns the final tally's missing count. */
size_t et_farm_wait_all(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to,
                        int timeout_ms, struct et_tally *t);

/* GET the agent's API into out; returns the status. */
int et_farm_get(struct et_farm *f, const char *path, char *out, size_t cap, const char **body);
/* A JSON view of the API (dies when not 200); json_decref it. */
json_t *et_farm_api(struct et_farm *f, const char *path);

/* Prints the agent's log (for a failing assertion). */
void et_farm_dump(struct et_farm *f);

#endif /* EA_FARM_H */
