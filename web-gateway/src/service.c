/* SPDX-License-Identifier: MIT */
/*
 * The web-gateway service: configuration keys, start-up (store migration,
 * first administrator, HTTP, MQTT, live feed, webhook sender), the main
 * loop (MQTT messages: command acks, readings, statuses, events and alerts
 * for the live feed and the webhooks; command expiry; housekeeping), the
 * database pool, /healthz and /metrics.
 */
#include "wg.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm/error.h"
#include "farmd/json.h"
#include "farmd/topic.h"
#include "http.h"
#include "live.h"
#include "openapi.h"
#include "st/store.h"
#include "st/store_web.h"
#include "webhook.h"

#define DAY_S 86400LL
#define MAX_PAYLOAD 65536
#define HOOKS_MAX 256

const struct fd_cfg_key wg_config_keys[] = {
    {"mqtt_host", FD_CFG_STRING, "localhost", 0, 0, "broker host name (must match its certificate)"},
    {"mqtt_port", FD_CFG_INT, "8883", 1, 65535, "broker port"},
    {"mqtt_tls", FD_CFG_BOOL, "true", 0, 0, "TLS to the broker"},
    {"mqtt_ca", FD_CFG_STRING, "/etc/iotferme/certs/ca.crt", 0, 0, "CA certificate (PEM)"},
    {"mqtt_cert", FD_CFG_STRING, "", 0, 0, "client certificate (PEM), with mqtt_key"},
    {"mqtt_key", FD_CFG_STRING, "", 0, 0, "client private key (PEM)"},
    {"mqtt_username", FD_CFG_STRING, "web-gateway", 0, 0, "broker user"},
    {"mqtt_password", FD_CFG_SECRET, NULL, 0, 0, "broker password (or mqtt_password_file)"},
    {"mqtt_client_id", FD_CFG_STRING, "", 0, 0, "client id; default web-gateway-HOSTNAME"},
    {"mqtt_keepalive", FD_CFG_INT, "30", 5, 3600, "keepalive, seconds"},
    {"db", FD_CFG_STRING, "/var/lib/iot-streamer/streamer.db", 0, 0,
     "the streamer's store: SQLite file path, or a postgresql:// URL"},
    {"db_connections", FD_CFG_INT, "8", 1, 256, "database connections for requests, at most"},
    {"http_listen", FD_CFG_STRING, "127.0.0.1:8080", 0, 0,
     "address:port of the API and UI (civetweb syntax)"},
    {"http_threads", FD_CFG_INT, "32", 2, 1024,
     "HTTP worker threads; each open connection (keep-alive, WebSocket) holds one"},
    {"ui_dir", FD_CFG_STRING, "/usr/share/iotferme/web-gateway/ui", 0, 0,
     "directory of the supervision UI's files; empty serves no UI"},
    {"admin_password", FD_CFG_SECRET, NULL, 0, 0,
     "password of the user 'admin' created when no user exists (else one is generated)"},
    {"session_ttl", FD_CFG_INT, "43200", 60, 90 * DAY_S, "seconds a login session lasts"},
    {"cookie_secure", FD_CFG_BOOL, "false", 0, 0,
     "mark the session cookie Secure (set when served over HTTPS)"},
    {"login_fail_burst", FD_CFG_INT, "5", 1, 1000,
     "failed logins from one address before it is refused"},
    {"login_block_s", FD_CFG_INT, "60", 1, DAY_S, "seconds an address stays refused"},
    {"argon2_t_cost", FD_CFG_INT, "3", 1, 100, "Argon2id passes"},
    {"argon2_m_kib", FD_CFG_INT, "65536", 256, 4194304, "Argon2id memory, KiB"},
    {"max_body", FD_CFG_INT, "65536", 1024, 16777216, "largest request body, bytes"},
    {"cache_ms", FD_CFG_INT, "1000", 0, 60000,
     "how old a served device list or resolved token may be, ms; 0 = never cached"},
    {"command_ttl", FD_CFG_INT, "300", 1, DAY_S, "expiry of a command that states none, seconds"},
    {"webhook_timeout_ms", FD_CFG_INT, "5000", 100, 60000, "one delivery attempt, at most"},
    {"webhook_attempts", FD_CFG_INT, "8", 1, 100, "attempts before a delivery fails"},
    {"webhook_backoff_ms", FD_CFG_INT, "1000", 10, 3600000,
     "delay before the second attempt; doubles each time, one hour at most"},
    {"webhook_keep_days", FD_CFG_INT, "7", 1, 3650, "days finished deliveries stay in the log"},
    {"log_level", FD_CFG_STRING, "info", 0, 0, "error, warn, info or debug"},
};
const size_t wg_config_nkeys = sizeof wg_config_keys / sizeof wg_config_keys[0];

/* ------------------------------------------------------------------ */
/* Database pool                                                      */

struct st_db *wg_db_get(struct wg *wg)
{
  struct wg_pool *p = &wg->pool;
  pthread_mutex_lock(&p->lock);
  while (p->nidle == 0 && p->open >= p->max)
    pthread_cond_wait(&p->freed, &p->lock);
  if (p->nidle) {
    struct st_db *c = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->lock);
    return c;
  }
  p->open++;
  pthread_mutex_unlock(&p->lock);
  struct st_db *c = NULL;
  char err[512];
  if (st_db_open(p->spec, p->log, &c, NULL, err, sizeof err) != 0) {
    fd_log(p->log, FD_LOG_WARN, "db: %s", err);
    atomic_store(&wg->m.db_ok, false);
    pthread_mutex_lock(&p->lock);
    p->open--;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
    return NULL;
  }
  atomic_store(&wg->m.db_ok, true);
  return c;
}

void wg_db_put(struct wg *wg, struct st_db *c, bool broken)
{
  struct wg_pool *p = &wg->pool;
  if (broken) {
    st_db_close(c);
    pthread_mutex_lock(&p->lock);
    p->open--;
  } else {
    pthread_mutex_lock(&p->lock);
    p->idle[p->nidle++] = c;
  }
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->lock);
}

static void pool_close(struct wg_pool *p)
{
  for (size_t i = 0; i < p->nidle; i++)
    st_db_close(p->idle[i]);
  p->nidle = 0;
  free(p->idle);
  pthread_cond_destroy(&p->freed);
  pthread_mutex_destroy(&p->lock);
}

void wg_cache_clear(struct wg *wg)
{
  pthread_mutex_lock(&wg->lock);
  struct wg_shared *old = wg->devices_cache;
  wg->devices_cache = NULL;
  pthread_mutex_unlock(&wg->lock);
  wg_shared_unref(old);
}

struct wg_shared *wg_devices_cache_get(struct wg *wg)
{
  pthread_mutex_lock(&wg->lock);
  struct wg_shared *b = wg->devices_cache;
  if (b && fd_mono_ms() - wg->devices_cache_at < wg->cache_ms)
    wg_shared_ref(b);
  else
    b = NULL;
  pthread_mutex_unlock(&wg->lock);
  return b;
}

void wg_devices_cache_put(struct wg *wg, const char *body, size_t len)
{
  struct wg_shared *b = malloc(sizeof *b + len);
  if (!b)
    return;
  atomic_init(&b->refs, 1);
  b->len = len;
  memcpy(b->data, body, len);
  pthread_mutex_lock(&wg->lock);
  struct wg_shared *old = wg->devices_cache;
  wg->devices_cache = b;
  wg->devices_cache_at = fd_mono_ms();
  pthread_mutex_unlock(&wg->lock);
  wg_shared_unref(old);
}

/* ------------------------------------------------------------------ */
/* Health and metrics                                                 */

json_t *wg_health(struct wg *wg, int *status)
{
  bool mqtt = atomic_load(&wg->m.mqtt_up), db = atomic_load(&wg->m.db_ok);
  *status = mqtt && db ? 200 : 503;
  return json_pack("{s:s,s:b,s:b}", "status", mqtt && db ? "ok" : "degraded", "mqtt", mqtt, "db",
                   db);
}

char *wg_metrics_text(struct wg *wg)
{
  struct wg_metrics *m = &wg->m;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return NULL;
  const struct {
    const char *name, *type, *help;
    atomic_uint_fast64_t *v;
  } rows[] = {
      {"http_requests_total", "counter", "HTTP requests received", &m->requests},
      {"http_responses_4xx_total", "counter", "requests refused (4xx)", &m->responses_4xx},
      {"http_responses_5xx_total", "counter", "requests failed (5xx)", &m->responses_5xx},
      {"logins_total", "counter", "successful logins", &m->logins},
      {"auth_failures_total", "counter", "wrong passwords, unknown or malformed credentials",
       &m->login_failures},
      {"auth_rate_limited_total", "counter", "requests refused with 429", &m->rate_limited},
      {"csrf_refused_total", "counter", "cross-site state changes refused", &m->csrf_refused},
      {"commands_total", "counter", "commands published", &m->commands},
      {"command_acks_total", "counter", "acks that moved a command", &m->command_acks},
      {"acks_unknown_total", "counter", "acks for no known command", &m->acks_unknown},
      {"acks_invalid_total", "counter", "acks that do not parse", &m->acks_invalid},
      {"mqtt_messages_total", "counter", "MQTT messages received", &m->mqtt_messages},
      {"live_sent_total", "counter", "live frames sent", &m->live_sent},
      {"live_dropped_total", "counter", "live items dropped (queue full)", &m->live_dropped},
      {"webhook_enqueued_total", "counter", "webhook deliveries queued", &m->hook_enqueued},
      {"webhook_delivered_total", "counter", "webhook deliveries answered 2xx",
       &m->hook_delivered},
      {"webhook_failed_total", "counter", "webhook deliveries given up", &m->hook_failed},
      {"webhook_retries_total", "counter", "webhook attempts to be retried", &m->hook_retries},
      {"db_errors_total", "counter", "failed database operations", &m->db_errors},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    fprintf(f, "# HELP web_gateway_%s %s\n# TYPE web_gateway_%s %s\nweb_gateway_%s %" PRIuFAST64 "\n",
            rows[i].name, rows[i].help, rows[i].name, rows[i].type, rows[i].name,
            (uint_fast64_t)atomic_load(rows[i].v));
  fprintf(f, "# HELP web_gateway_live_clients open live connections\n"
             "# TYPE web_gateway_live_clients gauge\nweb_gateway_live_clients %zu\n",
          wg->live ? wg_live_clients(wg->live) : 0);
  fprintf(f, "# HELP web_gateway_mqtt_connected broker link up\n"
             "# TYPE web_gateway_mqtt_connected gauge\nweb_gateway_mqtt_connected %d\n",
          atomic_load(&m->mqtt_up) ? 1 : 0);
  fprintf(f, "# HELP web_gateway_db_ok last database open succeeded\n"
             "# TYPE web_gateway_db_ok gauge\nweb_gateway_db_ok %d\n",
          atomic_load(&m->db_ok) ? 1 : 0);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* ------------------------------------------------------------------ */
/* Webhook selection (main thread)                                    */

enum hook_kind { HK_ALERT = 1, HK_EVENT = 2, HK_TELEMETRY = 4, HK_STATUS = 8, HK_COMMAND = 16 };

struct hook {
  int64_t id;
  unsigned kinds;
  char site[FD_ID_MAX + 1], device[FD_ID_MAX + 1], metric[FD_ID_MAX + 1];
};

struct loop {
  struct wg *wg;
  struct hook hooks[HOOKS_MAX];
  size_t nhooks;
  int64_t hooks_at;
};

static unsigned kinds_of(const char *list)
{
  static const char *const names[] = {"alert", "event", "telemetry", "status", "command"};
  unsigned k = 0;
  for (const char *p = list; p && *p;) {
    size_t len = strcspn(p, ",");
    for (int i = 0; i < 5; i++)
      if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
        k |= 1u << i;
    p += len;
    if (*p == ',')
      p++;
  }
  return k;
}

static void copy_id(char *dst, json_t *v)
{
  snprintf(dst, FD_ID_MAX + 1, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static void hooks_reload(struct loop *l)
{
  struct st_db *db = wg_db_get(l->wg);
  if (!db)
    return;
  json_t *arr;
  int rc = st_web_hooks(db, &arr);
  wg_db_put(l->wg, db, rc != 0);
  if (rc != 0)
    return;
  l->nhooks = 0;
  size_t i;
  json_t *h;
  json_array_foreach(arr, i, h)
  {
    if (l->nhooks >= HOOKS_MAX || !json_is_true(json_object_get(h, "enabled")))
      continue;
    struct hook *k = &l->hooks[l->nhooks++];
    k->id = json_integer_value(json_object_get(h, "id"));
    k->kinds = kinds_of(json_string_value(json_object_get(h, "events")));
    copy_id(k->site, json_object_get(h, "site"));
    copy_id(k->device, json_object_get(h, "device"));
    copy_id(k->metric, json_object_get(h, "metric"));
  }
  json_decref(arr);
  l->hooks_at = fd_mono_ms();
}

/* Queues a delivery of data to every hook that wants it. For telemetry,
 * a hook with a metric filter gets only that metric. */
static void hooks_fire(struct loop *l, enum hook_kind kind, const char *event, const char *site,
                       const char *device, json_t *data)
{
  struct st_db *db = NULL;
  bool queued = false;
  for (size_t i = 0; i < l->nhooks; i++) {
    struct hook *k = &l->hooks[i];
    if (!(k->kinds & kind) || (k->site[0] && strcmp(k->site, site)) ||
        (k->device[0] && strcmp(k->device, device)))
      continue;
    json_t *d = data;
    if (kind == HK_TELEMETRY && k->metric[0]) {
      json_t *v = json_object_get(data, "v");
      json_t *x = json_object_get(v, k->metric);
      if (!x)
        continue;
      d = json_deep_copy(data);
      json_object_set_new(d, "v", json_pack("{s:O}", k->metric, x));
    } else {
      json_incref(d);
    }
    json_t *body = json_pack("{s:s,s:s,s:s,s:I,s:o}", "event", event, "site", site, "device",
                             device, "ts", (json_int_t)fd_wall_ms(), "data", d);
    char *text = body ? fd_json_dump(body) : NULL;
    json_decref(body);
    if (!db)
      db = wg_db_get(l->wg);
    int rc = text && db ? st_web_delivery_add(db, k->id, event, text, fd_wall_ms(), NULL)
                        : FARM_EIO;
    free(text);
    if (rc != 0) {
      atomic_fetch_add(&l->wg->m.db_errors, 1);
      if (db)
        wg_db_put(l->wg, db, true);
      db = NULL;
      continue;
    }
    atomic_fetch_add(&l->wg->m.hook_enqueued, 1);
    queued = true;
  }
  if (db)
    wg_db_put(l->wg, db, false);
  if (queued)
    wg_hooks_kick(l->wg->hooks);
}

/* ------------------------------------------------------------------ */
/* MQTT                                                               */

static void on_connect(void *ud, int reason)
{
  struct loop *l = ud;
  if (reason == 0) {
    atomic_store(&l->wg->m.mqtt_up, true);
    fd_log(l->wg->log, FD_LOG_INFO, "mqtt: connected");
  } else {
    fd_log(l->wg->log, FD_LOG_ERROR, "mqtt: refused by the broker (reason 0x%02x)", reason);
  }
}

static void on_disconnect(void *ud, int reason)
{
  struct loop *l = ud;
  atomic_store(&l->wg->m.mqtt_up, false);
  if (reason)
    fd_log(l->wg->log, FD_LOG_WARN, "mqtt: disconnected (reason %d)", reason);
}

static void bad(struct loop *l, const struct fd_mqtt_msg *m, const char *why)
{
  char shown[160];
  fd_log_escape(m->topic, strlen(m->topic), shown, sizeof shown);
  fd_log_rl(l->wg->log, &l->wg->rl_bad, FD_LOG_WARN, "ignored message on '%s': %s", shown, why);
}

static void push_command(struct loop *l, const char *site, const char *device, const char *id)
{
  struct st_db *db = wg_db_get(l->wg);
  if (!db)
    return;
  json_t *c;
  int rc = st_web_command(db, id, &c);
  wg_db_put(l->wg, db, rc != 0 && rc != FARM_ENOENT);
  if (rc != 0)
    return;
  json_t *item = json_pack("{s:s,s:s,s:s,s:O,s:O,s:O,s:O,s:O}", "type", "command", "site", site,
                           "device", device, "id", json_object_get(c, "id"), "name",
                           json_object_get(c, "name"), "state", json_object_get(c, "state"),
                           "error", json_object_get(c, "error"), "updated_ts",
                           json_object_get(c, "updated_ts"));
  if (item) {
    hooks_fire(l, HK_COMMAND, "command", site, device, item);
    wg_live_push(l->wg->live, item);
  }
  json_decref(c);
}

static void on_ack(struct loop *l, const struct fd_topic *t, const struct fd_mqtt_msg *m,
                   json_t *o)
{
  const char *id = NULL, *state = NULL, *err = NULL;
  if (fd_json_get_str(o, "id", true, 64, NULL, &id) != 0 ||
      fd_json_get_str(o, "state", true, 16, NULL, &state) != 0 ||
      fd_json_get_str(o, "error", false, 256, NULL, &err) != 0 ||
      !st_web_command_state_valid(state) || strcmp(state, "pending") == 0) {
    atomic_fetch_add(&l->wg->m.acks_invalid, 1);
    bad(l, m, "ack without a valid id and state");
    return;
  }
  struct st_db *db = wg_db_get(l->wg);
  if (!db)
    return;
  bool changed = false;
  int rc = st_web_command_update(db, id, t->device, state, err, fd_wall_ms(), &changed);
  wg_db_put(l->wg, db, rc != 0 && rc != FARM_ENOENT);
  if (rc == FARM_ENOENT) {
    /* Another system's command, or one of ours long gone (BAD-INPUTS 24). */
    atomic_fetch_add(&l->wg->m.acks_unknown, 1);
    return;
  }
  if (rc != 0) {
    atomic_fetch_add(&l->wg->m.db_errors, 1);
    return;
  }
  if (!changed)
    return; /* a repeated or late ack: the first outcome stands */
  atomic_fetch_add(&l->wg->m.command_acks, 1);
  push_command(l, t->site, t->device, id);
}

static void on_telemetry(struct loop *l, const struct fd_topic *t, const struct fd_mqtt_msg *m,
                         json_t *o)
{
  int64_t ts;
  bool hist = false, synthetic = false;
  json_t *v = json_object_get(o, "v");
  if (fd_json_get_i64(o, "ts", true, 0, FD_JSON_MAX_SAFE_INT, 0, &ts) != 0 ||
      fd_json_get_bool(o, "hist", false, false, &hist) != 0 ||
      fd_json_get_bool(o, "synthetic", false, false, &synthetic) != 0 || !json_is_object(v) ||
      json_object_size(v) == 0) {
    bad(l, m, "telemetry without ts or v");
    return;
  }
  json_t *nv = json_object();
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x)
  {
    if (json_is_number(x) && fd_id_valid(k, strlen(k)))
      json_object_set(nv, k, x);
  }
  json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:I,s:b,s:b,s:o}", "type", "telemetry", "site",
                           t->site, "device", t->device, "group", t->group, "ts", (json_int_t)ts,
                           "hist", hist, "synthetic", synthetic, "v", nv);
  if (!item)
    return;
  json_t *rssi = json_object_get(o, "rssi");
  if (json_is_integer(rssi))
    json_object_set(item, "rssi", rssi);
  hooks_fire(l, HK_TELEMETRY, "telemetry", t->site, t->device, item);
  wg_live_push(l->wg->live, item);
}

static void on_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct loop *l = ud;
  atomic_fetch_add(&l->wg->m.mqtt_messages, 1);
  struct fd_topic t;
  if (fd_topic_parse(m->topic, strlen(m->topic), &t) != 0)
    return; /* not ours to judge: the streamer counts bad topics */
  if (t.kind == FD_TOPIC_CMD || t.kind == FD_TOPIC_EDGE_COMMIT)
    return;
  json_t *o = NULL;
  char why[96];
  if (fd_json_parse(m->payload, m->len, MAX_PAYLOAD, &o, why, sizeof why) != 0) {
    if (t.kind == FD_TOPIC_ACK)
      atomic_fetch_add(&l->wg->m.acks_invalid, 1);
    bad(l, m, why);
    return;
  }
  switch (t.kind) {
  case FD_TOPIC_ACK:
    on_ack(l, &t, m, o);
    break;
  case FD_TOPIC_TELEMETRY:
    on_telemetry(l, &t, m, o);
    break;
  case FD_TOPIC_STATUS: {
    json_t *item = json_pack("{s:s,s:s,s:s,s:O}", "type", "status", "site", t.site, "device",
                             t.device, "status", o);
    if (item) {
      hooks_fire(l, HK_STATUS, "status", t.site, t.device, item);
      wg_live_push(l->wg->live, item);
    }
    wg_cache_clear(l->wg);
    break;
  }
  case FD_TOPIC_EVENT: {
    const char *type = json_string_value(json_object_get(o, "type"));
    bool alert = type && strcmp(type, "alert") == 0;
    json_t *item = json_pack("{s:s,s:s,s:s,s:O}", "type", alert ? "alert" : "event", "site",
                             t.site, "device", t.device, alert ? "alert" : "event", o);
    if (item) {
      hooks_fire(l, alert ? HK_ALERT : HK_EVENT, alert ? "alert" : "event", t.site, t.device,
                 item);
      wg_live_push(l->wg->live, item);
    }
    break;
  }
  case FD_TOPIC_EDGE_STATUS: {
    json_t *item = json_pack("{s:s,s:s,s:s,s:O}", "type", "edge_status", "site", t.site,
                             "device", "edge", "status", o);
    if (item)
      wg_live_push(l->wg->live, item);
    break;
  }
  default:
    break;
  }
  json_decref(o);
}

/* ------------------------------------------------------------------ */
/* Start-up                                                           */

/* Creates the first administrator when the store has no user. */
static int bootstrap_admin(struct wg *wg, struct st_db *db)
{
  int64_t n;
  int rc = st_web_user_count(db, &n);
  if (rc != 0 || n > 0)
    return rc;
  const char *given = fd_cfg_str(wg->cfg, "admin_password");
  char generated[WG_TOKEN_LEN + 1];
  const char *pw = given;
  if (!given || !given[0]) {
    if (wg_token_new(generated, sizeof generated) != 0)
      return FARM_EIO;
    pw = generated + 4; /* 43 random base64url characters */
  } else if (strlen(given) < WG_PW_MIN) {
    fd_log(wg->log, FD_LOG_ERROR, "admin_password must have at least %d characters", WG_PW_MIN);
    return FARM_EINVAL;
  }
  char hash[WG_PW_HASH_MAX];
  rc = wg_pw_hash(&wg->auth, pw, hash, sizeof hash);
  if (rc == 0)
    rc = st_web_user_add(db, "admin", "admin", hash, fd_wall_ms(), NULL);
  if (rc == FARM_EEXIST)
    return 0; /* another gateway made it first */
  if (rc != 0)
    return rc;
  if (pw != given) {
    /* Shown once, on the console of the first start; never logged again. */
    printf("web-gateway: created user 'admin' with password %s (change it)\n", pw);
    fflush(stdout);
    explicit_bzero(generated, sizeof generated);
  } else {
    fd_log(wg->log, FD_LOG_INFO, "created user 'admin' with the configured password");
  }
  return 0;
}

static int open_store(struct wg *wg)
{
  struct st_db *db = wg_db_get(wg);
  if (!db)
    return FARM_EIO;
  int rc = st_store_init(db);
  if (rc == FARM_EUNSUPPORTED)
    fd_log(wg->log, FD_LOG_ERROR, "db: the database's schema is newer than this program");
  else if (rc != 0)
    fd_log(wg->log, FD_LOG_ERROR, "db: cannot create the schema: %s", st_db_error(db));
  if (rc == 0)
    rc = bootstrap_admin(wg, db);
  wg_db_put(wg, db, rc != 0);
  return rc;
}

static int start_mqtt(struct wg *wg, struct loop *l)
{
  const struct fd_cfg *cfg = wg->cfg;
  char id[128];
  const char *cid = fd_cfg_str(cfg, "mqtt_client_id");
  if (!cid || !cid[0]) {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(id, sizeof id, "web-gateway-%s", host);
    cid = id;
  }
  const char *cert = fd_cfg_str(cfg, "mqtt_cert"), *key = fd_cfg_str(cfg, "mqtt_key");
  struct fd_mqtt_config mc = {
      .host = fd_cfg_str(cfg, "mqtt_host"),
      .port = (int)fd_cfg_int(cfg, "mqtt_port"),
      .client_id = cid,
      .tls = fd_cfg_bool(cfg, "mqtt_tls"),
      .ca_file = fd_cfg_str(cfg, "mqtt_ca"),
      .cert_file = cert && cert[0] ? cert : NULL,
      .key_file = key && key[0] ? key : NULL,
      .username = fd_cfg_str(cfg, "mqtt_username"),
      .password = fd_cfg_str(cfg, "mqtt_password"),
      .keepalive_s = (int)fd_cfg_int(cfg, "mqtt_keepalive"),
      .clean_start = true,
  };
  struct fd_mqtt_callbacks cb = {on_connect, on_disconnect, on_message, NULL};
  int rc = fd_mqtt_new(&mc, wg->log, &cb, l, &wg->mqtt);
  if (rc != 0) {
    fd_log(wg->log, FD_LOG_ERROR, "mqtt: %s", farm_strerror(rc));
    return rc;
  }
  rc = fd_mqtt_subscribe(wg->mqtt, "v1/farm/+/+/#", 1, false);
  if (rc == 0)
    rc = fd_mqtt_start(wg->mqtt);
  return rc;
}

int wg_run(const struct fd_cfg *cfg, const struct fd_log *log, volatile sig_atomic_t *stop)
{
  struct wg *wg = calloc(1, sizeof *wg);
  struct loop *l = calloc(1, sizeof *l);
  if (!wg || !l) {
    free(wg);
    free(l);
    fd_log(log, FD_LOG_ERROR, "out of memory");
    return 1;
  }
  l->wg = wg;
  wg->cfg = cfg;
  wg->log = log;
  wg->rl_bad = (struct fd_ratelimit)FD_RATELIMIT_INIT(10, 10000);
  wg->cache_ms = fd_cfg_int(cfg, "cache_ms");
  wg->max_body = fd_cfg_int(cfg, "max_body");
  wg->command_ttl_s = fd_cfg_int(cfg, "command_ttl");
  wg->session_ttl_s = fd_cfg_int(cfg, "session_ttl");
  wg->cookie_secure = fd_cfg_bool(cfg, "cookie_secure");
  wg->openapi = (char *)wg_openapi_json;
  wg->openapi_len = wg_openapi_json_len;
  pthread_mutex_init(&wg->lock, NULL);
  wg_auth_init(&wg->auth, (uint32_t)fd_cfg_int(cfg, "argon2_t_cost"),
               (uint32_t)fd_cfg_int(cfg, "argon2_m_kib"), (int)fd_cfg_int(cfg, "login_fail_burst"),
               fd_cfg_int(cfg, "login_block_s") * 1000, wg->cache_ms);
  struct wg_pool *p = &wg->pool;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->freed, NULL);
  /* Requests, the main loop and the start-up share the pool. */
  p->max = (size_t)fd_cfg_int(cfg, "db_connections") + 1;
  p->idle = calloc(p->max, sizeof *p->idle);
  p->spec = fd_cfg_str(cfg, "db");
  p->log = log;
  int status = 1;
  char shown[512];
  st_db_redact(p->spec, shown, sizeof shown);
  if (!p->idle)
    goto out;
  if (open_store(wg) != 0) {
    fd_log(log, FD_LOG_ERROR, "cannot use the store %s", shown);
    goto out;
  }
  atomic_store(&wg->m.db_ok, true);
  hooks_reload(l);
  struct wg_hooks_config hc = {.db_spec = p->spec,
                               .timeout_ms = (int)fd_cfg_int(cfg, "webhook_timeout_ms"),
                               .max_attempts = (int)fd_cfg_int(cfg, "webhook_attempts"),
                               .backoff_ms = fd_cfg_int(cfg, "webhook_backoff_ms"),
                               .keep_ms = fd_cfg_int(cfg, "webhook_keep_days") * DAY_S * 1000,
                               .delivered = &wg->m.hook_delivered,
                               .failed = &wg->m.hook_failed,
                               .retries = &wg->m.hook_retries};
  if (wg_live_new(10000, wg_http_ws_write, &wg->m.live_sent, &wg->m.live_dropped, &wg->live) != 0 ||
      wg_hooks_start(&hc, log, &wg->hooks) != 0) {
    fd_log(log, FD_LOG_ERROR, "cannot start threads");
    goto out;
  }
  if (start_mqtt(wg, l) != 0)
    goto out;
  if (wg_http_start(wg, fd_cfg_str(cfg, "http_listen"), (int)fd_cfg_int(cfg, "http_threads"),
                    fd_cfg_str(cfg, "ui_dir")) != 0)
    goto out;
  fd_log(log, FD_LOG_INFO, "web-gateway listening on port %d, store %s",
         wg_http_port(wg->http), shown);

  int64_t last_tick = 0, last_purge = 0;
  while (!*stop) {
    struct pollfd pfd = {.fd = fd_mqtt_fd(wg->mqtt), .events = POLLIN};
    poll(&pfd, 1, 200);
    fd_mqtt_dispatch(wg->mqtt, 256);
    int64_t now = fd_mono_ms();
    if (now - last_tick >= 1000) {
      last_tick = now;
      if (atomic_exchange(&wg->hooks_changed, false) || now - l->hooks_at > 30000)
        hooks_reload(l);
      struct st_db *db = wg_db_get(wg);
      json_t *expired = NULL;
      int rc = db ? st_web_commands_expire(db, fd_wall_ms(), &expired) : FARM_EIO;
      if (db && now - last_purge > 600000) {
        st_web_tokens_purge(db, fd_wall_ms());
        last_purge = now;
      }
      if (db)
        wg_db_put(wg, db, rc != 0);
      size_t i;
      json_t *e;
      json_array_foreach(expired, i, e)
      {
        push_command(l, json_string_value(json_object_get(e, "site")),
                     json_string_value(json_object_get(e, "device")),
                     json_string_value(json_object_get(e, "id")));
      }
      json_decref(expired);
    }
  }
  fd_log(log, FD_LOG_INFO, "stopping");
  status = 0;

out:
  /* HTTP first: no request may use what follows once it is gone. */
  wg_http_stop(wg->http);
  fd_mqtt_free(wg->mqtt);
  wg_hooks_stop(wg->hooks);
  wg_live_free(wg->live);
  if (p->idle)
    pool_close(p);
  wg_auth_destroy(&wg->auth);
  wg_shared_unref(wg->devices_cache);
  pthread_mutex_destroy(&wg->lock);
  free(wg);
  free(l);
  return status;
}
