/* SPDX-License-Identifier: MIT */
/*
 * The command manager (DESIGN §6, §8): commands for nodes arrive from MQTT
 * (v1/farm/{site}/{device}/cmd: {"id","name","args","expires"}) and from
 * the local API (POST /api/cmd: {"device","name","args"}, optional "id",
 * "expires"). Each is validated against the catalogue of node commands
 * (an unknown name or an argument out of range ends it `failed` with the
 * reason), idempotent on its id (a repeated id reports the state it has
 * and never runs again), never sent once expired, sent to the gateway with
 * a u32 wire id and resent with the same id until the gateway takes it,
 * and followed through the two-stage acks of protocol §4.3. Every state
 * change is published on v1/farm/{site}/{device}/ack as
 * {"id","state":"accepted|sent|executed|failed|expired","error","ts"}.
 * Commands and the wire-id counter live in their own SQLite file, so
 * pending commands survive a restart and are resumed.
 *
 * The same machinery carries the gateway requests of the diagnostics page
 * (cfg:set_mac, time_sync, pair_begin/pair_end, ping), which are kept in
 * memory only.
 *
 * Single-threaded. Ownership: the manager owns its database; JSON handed in
 * is borrowed; callbacks get strings valid for the call.
 */
#ifndef EA_CMD_H
#define EA_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "farmd/log.h"
#include "fp/msg.h"

struct ea_cmd;

enum ea_cmd_state {
  EA_CMD_ACCEPTED,
  EA_CMD_SENT,     /* the gateway has taken it */
  EA_CMD_EXECUTED, /* the node ran it */
  EA_CMD_FAILED,
  EA_CMD_EXPIRED,
};

const char *ea_cmd_state_name(enum ea_cmd_state s);

struct ea_cmd_opts {
  const char *path;    /* SQLite file */
  int timeout_ms;      /* wait for the gateway's ack before a resend */
  int retries;         /* resends before giving up */
  int node_timeout_ms; /* wait for the node's ack after the gateway's */
  int default_ttl_s;   /* expiry of a command that gives none */
  int keep;            /* finished commands kept */
};

struct ea_cmd_callbacks {
  /* Sends a request to the gateway; returns 0 or an ea_bridge_send error
   * (FARM_ECLOSED: the port is closed, try later). */
  int (*send)(void *ud, const struct fp_msg *m);
  /* Publishes an ack payload for device (stored in the backlog first). */
  void (*publish_ack)(void *ud, const char *device, const char *json);
};

/* Where a command came from. */
enum ea_cmd_source { EA_SRC_MQTT, EA_SRC_HTTP };

/* The outcome of a submission. */
struct ea_cmd_result {
  int http_status; /* 202 accepted, 200 a known id, 400/422 refused */
  bool duplicate;  /* the id was known */
  enum ea_cmd_state state;
  char id[65];
  char error[128]; /* "" or why it failed */
};

struct ea_cmd_stats {
  uint64_t received, duplicates, invalid, expired, accepted, sent, executed, failed;
  uint64_t resends, unknown_acks, late_acks, dropped; /* dropped: no usable id */
  uint64_t pending;
  bool available; /* the database is open */
};

/* Opens the database and resumes the pending commands. log is borrowed.
 * Returns 0 and *out, FARM_EIO (the file cannot be opened or created) or
 * FARM_ENOMEM. */
int ea_cmd_open(const struct ea_cmd_opts *o, const struct fd_log *log,
                const struct ea_cmd_callbacks *cb, void *ud, int64_t now_ms, struct ea_cmd **out);
void ea_cmd_close(struct ea_cmd *cm);

/*
 * A command from MQTT: device from the topic, the payload untrusted.
 * Payloads without a usable id are dropped (counted, logged): there is no
 * id to report on. Everything else ends in a state published on the ack
 * topic.
 */
void ea_cmd_from_mqtt(struct ea_cmd *cm, const char *device, const char *payload, size_t len,
                      int64_t now_ms);

/* A command from the API: body is the parsed JSON object. Fills *res. */
void ea_cmd_from_http(struct ea_cmd *cm, const json_t *body, int64_t now_ms,
                      struct ea_cmd_result *res);

/*
 * A gateway request of the diagnostics page (FP_MSG_SET_MAC, TIME_SYNC,
 * PAIR_BEGIN, PAIR_END, PING; m->id is assigned here). Returns 0 and *id,
 * or FARM_EINVAL for another type.
 */
int ea_cmd_request(struct ea_cmd *cm, struct fp_msg *m, int64_t now_ms, uint32_t *id);

/* An `ack` or `pong` from the gateway. */
void ea_cmd_on_ack(struct ea_cmd *cm, const struct fp_msg *m, int64_t now_ms);

/* The port came up: send what waits now. */
void ea_cmd_link_up(struct ea_cmd *cm, int64_t now_ms);

/* Timers: resends, expiry, timeouts. Returns ms until the next deadline,
 * or -1. */
int ea_cmd_tick(struct ea_cmd *cm, int64_t now_ms);

/* JSON views for the API (new references). */
json_t *ea_cmd_list_json(struct ea_cmd *cm, size_t max);
json_t *ea_cmd_requests_json(const struct ea_cmd *cm);
/* The state of command id as JSON, or NULL when unknown. */
json_t *ea_cmd_get_json(struct ea_cmd *cm, const char *id);

void ea_cmd_stats(const struct ea_cmd *cm, struct ea_cmd_stats *st);

/* Parses an RFC 3339 date-time (RFC 3339 §5.6) into Unix ms. Returns 0 or
 * FARM_EINVAL. */
int ea_rfc3339_parse(const char *s, int64_t *ms);

#endif /* EA_CMD_H */
