/* SPDX-License-Identifier: MIT */
/*
 * web-gateway's service context, shared by its modules: the configuration,
 * the database pool, the MQTT client, the HTTP server, the live feed and
 * the webhook sender, and the counters /metrics shows.
 *
 * Threads: civetweb's workers run the API handlers (api.c) and each borrows
 * a database connection from the pool for the request; the main thread
 * (service.c) dispatches MQTT messages (command acks, alerts and readings
 * for the live feed and webhooks) and runs the periodic jobs; the webhook
 * sender (webhook.c) has its own thread and connection. What they share is
 * behind wg->lock or atomic.
 */
#ifndef WG_H
#define WG_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "http.h"
#include "farmd/config.h"
#include "farmd/log.h"
#include "farmd/mqtt.h"
#include "st/db.h"

extern const struct fd_cfg_key wg_config_keys[];
extern const size_t wg_config_nkeys;

struct wg_http;
struct wg_live;
struct wg_hooks;

struct wg_metrics {
  atomic_uint_fast64_t requests, responses_4xx, responses_5xx, logins, login_failures,
      rate_limited, csrf_refused, commands, command_acks, acks_unknown, acks_invalid,
      mqtt_messages, live_sent, live_dropped, hook_enqueued, hook_delivered, hook_failed,
      hook_retries, db_errors;
  atomic_bool mqtt_up, db_ok;
};

/* A small pool of database connections; each request takes one. */
struct wg_pool {
  pthread_mutex_t lock;
  pthread_cond_t freed;
  struct st_db **idle;
  size_t nidle, open, max;
  const char *spec;
  const struct fd_log *log;
};

struct wg {
  const struct fd_cfg *cfg;
  const struct fd_log *log;
  struct wg_metrics m;
  struct wg_pool pool;
  struct fd_mqtt *mqtt;
  struct wg_http *http;
  struct wg_live *live;
  struct wg_hooks *hooks;
  struct wg_auth auth;
  struct fd_ratelimit rl_bad; /* main thread only */
  atomic_bool hooks_changed;  /* set by the API, read by the main thread */

  pthread_mutex_t lock;       /* the response cache */
  struct wg_shared *devices_cache; /* GET /api/v1/devices body, or NULL */
  int64_t devices_cache_at;   /* monotonic ms */

  int64_t cache_ms, max_body, command_ttl_s, session_ttl_s;
  bool cookie_secure;
  char *openapi;              /* the OpenAPI document, or NULL */
  size_t openapi_len;
};

/* Runs the service until *stop is set. Returns 0, or 1 when it cannot start. */
int wg_run(const struct fd_cfg *cfg, const struct fd_log *log, volatile sig_atomic_t *stop);

/* Pool: a connection (waits while all max are in use), or NULL when the
 * database cannot be opened (logged). */
struct st_db *wg_db_get(struct wg *wg);
/* Returns c; broken marks it for closing (after an error that may have
 * lost the connection or left a transaction open). */
void wg_db_put(struct wg *wg, struct st_db *c, bool broken);

/* Drops cached responses (after a write that changes them). */
void wg_cache_clear(struct wg *wg);
/* The cached device list younger than cache_ms (a reference the caller
 * drops), or NULL; and storing a fresh one (copied). */
struct wg_shared *wg_devices_cache_get(struct wg *wg);
void wg_devices_cache_put(struct wg *wg, const char *body, size_t len);

/* GET /healthz: {"status":"ok"|"degraded","mqtt","db"}, 200 or 503. */
json_t *wg_health(struct wg *wg, int *status);
/* GET /metrics: Prometheus text format 0.0.4, malloc'd (NULL: no memory). */
char *wg_metrics_text(struct wg *wg);

#endif /* WG_H */
