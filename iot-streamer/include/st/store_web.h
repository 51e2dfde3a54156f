/* SPDX-License-Identifier: MIT */
/*
 * The store's queries for web-gateway: what it reads of the streamer's
 * tables (sites, devices, telemetry raw and from the rollups, events,
 * alerts, alert rules) and the tables it owns (users, tokens, commands,
 * webhooks and their deliveries; schema version 2, docs/storage.md). Same
 * SQL on SQLite and PostgreSQL, like store.h.
 *
 * Listings come back as jansson arrays of objects whose members have JSON
 * types (numbers, booleans, null, and stored JSON text parsed back into
 * objects), ready to be served. Ownership: every json_t ** result is a new
 * reference the caller json_decref()s; strings passed in are borrowed.
 *
 * Errors: FARM_EIO (the database failed; st_db_error() says why),
 * FARM_ENOMEM, and where stated FARM_ENOENT (no such row) or FARM_EEXIST
 * (a unique key is taken).
 */
#ifndef ST_STORE_WEB_H
#define ST_STORE_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "st/db.h"

/*
 * Runs sql and returns its rows as an array of objects. cols describes
 * each result column as "T:name" separated by commas, T one of i (integer),
 * f (double), s (text), b (boolean), j (JSON text, parsed; kept as text
 * when it does not parse). SQL NULL becomes null.
 */
int st_web_query_json(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
                      const char *cols, json_t **out);

/* ---- users and credentials ---- */

struct st_web_user {
  int64_t id;
  char username[65];
  char role[16];     /* viewer, operator, admin */
  char pw_hash[256]; /* Argon2id encoded hash */
  bool disabled;
};

int st_web_user_count(struct st_db *db, int64_t *n);
/* FARM_EEXIST when the name is taken. */
int st_web_user_add(struct st_db *db, const char *username, const char *role, const char *pw_hash,
                    int64_t now, int64_t *id);
/* FARM_ENOENT when absent. Exactly one of id (> 0) or username is used. */
int st_web_user_get(struct st_db *db, int64_t id, const char *username, struct st_web_user *out);
/* Array of {id, username, role, created_ts, disabled}. */
int st_web_users(struct st_db *db, json_t **out);
/* Changes what is given: role and pw_hash may be NULL, disabled -1 keeps.
 * FARM_ENOENT when absent. */
int st_web_user_update(struct st_db *db, int64_t id, const char *role, const char *pw_hash,
                       int disabled);
/* Deletes the user and every token of theirs. FARM_ENOENT when absent. */
int st_web_user_delete(struct st_db *db, int64_t id);
/* Number of enabled admins other than user id (to refuse removing the last). */
int st_web_other_admins(struct st_db *db, int64_t id, int64_t *n);

/* A credential: an API token or a browser session, stored by the SHA-256
 * of the secret (hex), never the secret itself. */
struct st_web_auth {
  int64_t token_id, user_id;
  char username[65];
  char role[16];
  char kind[8];   /* api, session */
  char csrf[72];  /* session: the anti-CSRF value, else "" */
  int64_t expires_ts; /* 0 = never */
};

/* expires_ts 0 = never; csrf may be NULL. */
int st_web_token_add(struct st_db *db, int64_t user_id, const char *kind, const char *name,
                     const char *hash_hex, const char *csrf, int64_t now, int64_t expires_ts,
                     int64_t *id);
/* The live credential with this hash: FARM_ENOENT when unknown, expired, or
 * its user is disabled. Records the use (at most once a minute). */
int st_web_token_lookup(struct st_db *db, const char *hash_hex, int64_t now,
                        struct st_web_auth *out);
/* API tokens: array of {id, name, user, created_ts, expires_ts, last_used_ts}
 * of user_id (0 = everyone's). */
int st_web_tokens(struct st_db *db, int64_t user_id, json_t **out);
/* Deletes token id (of user_id, or anyone's when 0). FARM_ENOENT. */
int st_web_token_delete(struct st_db *db, int64_t id, int64_t user_id);
/* Deletes the credential with this hash (logout); absent is not an error. */
int st_web_token_delete_hash(struct st_db *db, const char *hash_hex);
/* Deletes expired credentials. */
int st_web_tokens_purge(struct st_db *db, int64_t now);

/* ---- what the streamer writes ---- */

/* Array of {site, devices, online, last_seen, watermark, edge_status}.
 * A device counts as online per st_web_devices(). */
int st_web_sites(struct st_db *db, int64_t now, json_t **out);
/*
 * Array of {device, site, first_seen, last_seen, online, interval_ms,
 * status, status_ts, rssi, firmware, latest: {metric: {ts, value}}},
 * of one site when site is not NULL. online: the last status said online
 * and the device was heard within three of its intervals (60 s when it
 * states none); null when it never said.
 */
int st_web_devices(struct st_db *db, const char *site, int64_t now, json_t **out);
/* One device as above; FARM_ENOENT when unknown. */
int st_web_device(struct st_db *db, const char *device, int64_t now, json_t **out);
/* The device's site into site (FD_ID_MAX + 1 bytes); FARM_ENOENT. */
int st_web_device_site(struct st_db *db, const char *device, char *site, size_t cap);

/*
 * A series in [from, to). step 0: raw readings as [[ts, value], ...], at
 * most max points (more: FARM_ETOOBIG). step > 0, a multiple of 60000:
 * buckets of step ms from the minute rollups (the hour rollups when step
 * is a multiple of 3600000) as [[ts, mean, min, max, count], ...], every
 * bucket that overlaps [from, to) (from >= 0).
 */
int st_web_series(struct st_db *db, const char *device, const char *metric, int64_t from,
                  int64_t to, int64_t step, size_t max, json_t **out);

/* Events, newest first: device, site and type may be NULL; ts in [from, to). */
int st_web_events(struct st_db *db, const char *site, const char *device, const char *type,
                  int64_t from, int64_t to, int64_t limit, json_t **out);

/* Alerts newest first; state NULL = all, "active" = open or acknowledged. */
int st_web_alerts(struct st_db *db, const char *state, const char *device, int64_t limit,
                  json_t **out);
/* One alert; FARM_ENOENT. */
int st_web_alert(struct st_db *db, int64_t id, json_t **out);

struct st_web_rule {
  const char *name, *kind, *site, *device, *metric, *op; /* NULL = SQL NULL */
  bool has_threshold;
  double threshold;
  int64_t duration_ms;
  bool enabled;
};
int st_web_rules(struct st_db *db, json_t **out);
int st_web_rule(struct st_db *db, int64_t id, json_t **out);
int st_web_rule_add(struct st_db *db, const struct st_web_rule *r, int64_t *id);
/* Replaces every field. FARM_ENOENT. */
int st_web_rule_update(struct st_db *db, int64_t id, const struct st_web_rule *r);
int st_web_rule_delete(struct st_db *db, int64_t id);

/* ---- commands ---- */

/* States in order; an update never moves a command backwards. */
bool st_web_command_state_valid(const char *state);

struct st_web_command {
  const char *id, *site, *device, *name, *args_json, *created_by;
  int64_t created_ts, expires_ts;
};
/* Stored as 'pending'. FARM_EEXIST when the id is known. */
int st_web_command_add(struct st_db *db, const struct st_web_command *c);
/* {id, site, device, name, args, state, error, created_ts, expires_ts,
 * updated_ts, created_by}; FARM_ENOENT. */
int st_web_command(struct st_db *db, const char *id, json_t **out);
/* Newest first, of device (NULL = all). */
int st_web_commands(struct st_db *db, const char *device, int64_t limit, json_t **out);
/*
 * Applies a state reported by the edge for command id of device. *changed
 * is true when the stored state moved (forward only: pending < accepted <
 * sent < executed | failed | expired; a final state never changes).
 * FARM_ENOENT when no such command of that device exists.
 */
int st_web_command_update(struct st_db *db, const char *id, const char *device,
                          const char *state, const char *error, int64_t now, bool *changed);
/* Pending commands past expiry become expired; returns their ids as an
 * array of {id, site, device} in *out (may be NULL). */
int st_web_commands_expire(struct st_db *db, int64_t now, json_t **out);

/* ---- webhooks ---- */

struct st_web_hook {
  const char *url, *secret, *events; /* events: comma-separated kinds */
  const char *site, *device, *metric; /* filters, NULL = any */
  bool enabled;
};
/* The secret is never listed. */
int st_web_hooks(struct st_db *db, json_t **out);
/* With the secret when with_secret. FARM_ENOENT. */
int st_web_hook(struct st_db *db, int64_t id, bool with_secret, json_t **out);
int st_web_hook_add(struct st_db *db, const struct st_web_hook *h, int64_t now, int64_t *id);
/* Replaces every field; a NULL secret keeps the old one. FARM_ENOENT. */
int st_web_hook_update(struct st_db *db, int64_t id, const struct st_web_hook *h);
/* Deletes the hook and its deliveries. FARM_ENOENT. */
int st_web_hook_delete(struct st_db *db, int64_t id);

int st_web_delivery_add(struct st_db *db, int64_t hook_id, const char *event,
                        const char *payload, int64_t now, int64_t *id);
/* Pending deliveries due at now, oldest first: array of {id, webhook_id,
 * event, payload (text), attempts, url, secret}. */
int st_web_deliveries_due(struct st_db *db, int64_t now, int64_t limit, json_t **out);
/* Records an attempt: state pending (retry at next_ts), delivered or failed. */
int st_web_delivery_result(struct st_db *db, int64_t id, const char *state, int attempts,
                           int http_status, const char *error, int64_t next_ts, int64_t now);
/* The delivery log of a hook, newest first (payload included). */
int st_web_deliveries(struct st_db *db, int64_t hook_id, int64_t limit, json_t **out);
/* Deletes finished deliveries older than before. */
int st_web_deliveries_purge(struct st_db *db, int64_t before);

#endif /* ST_STORE_WEB_H */
