/* SPDX-License-Identifier: MIT */
/*
 * The farm on loopback for web-gateway's tests (see wgtest.h).
 */
#include "wgtest.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "farmd/json.h"
#include "farmd/mqtt.h"

long long wgt_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long wgt_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wgt_sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- HTTP ---- */

struct buf {
  char *p;
  size_t n;
};

static size_t collect(char *data, size_t sz, size_t n, void *ud)
{
  struct buf *b = ud;
  char *np = realloc(b->p, b->n + sz * n + 1);
  if (!np)
    return 0;
  b->p = np;
  memcpy(b->p + b->n, data, sz * n);
  b->n += sz * n;
  b->p[b->n] = '\0';
  return sz * n;
}

int wgt_http(const struct wgt *w, const char *method, const char *path,
             const char *const *headers, const char *body, char **out, char **hdrs)
{
  CURL *c = curl_easy_init();
  if (!c)
    fh_die("curl_easy_init");
  char *url = malloc(strlen(w->url) + strlen(path) + 1);
  sprintf(url, "%s%s", w->url, path);
  struct buf b = {0}, h = {0};
  struct curl_slist *list = NULL;
  for (size_t i = 0; headers && headers[i]; i++)
    list = curl_slist_append(list, headers[i]);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  }
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  free(url);
  if (out)
    *out = b.p ? b.p : strdup("");
  else
    free(b.p);
  if (hdrs)
    *hdrs = h.p ? h.p : strdup("");
  else
    free(h.p);
  return (int)status;
}

int wgt_login(const struct wgt *w, const char *user, const char *pw, char *tok, char *csrf)
{
  json_t *req = json_pack("{s:s,s:s}", "username", user, "password", pw);
  char *body = json_dumps(req, 0);
  json_decref(req);
  const char *h[] = {"Content-Type: application/json", NULL};
  char *out = NULL;
  int st = wgt_http(w, "POST", "/api/v1/login", h, body, &out, NULL);
  free(body);
  tok[0] = '\0';
  if (csrf)
    csrf[0] = '\0';
  json_t *o = json_loads(out, 0, NULL);
  if (o && st == 200) {
    snprintf(tok, 64, "%s", json_string_value(json_object_get(o, "token")));
    if (csrf)
      snprintf(csrf, 64, "%s", json_string_value(json_object_get(o, "csrf")));
  }
  json_decref(o);
  free(out);
  return st;
}

/* ---- processes ---- */

static char streamer_env[32][2 * FH_PATH];
static char gateway_env[48][2 * FH_PATH];

static void start_streamer(struct wgt *w)
{
  struct fh_creds cr;
  fh_broker_creds(&w->broker, "iot-streamer", &cr);
  w->streamer_port = fh_free_port();
  size_t n = 0;
#define ENV(...) snprintf(streamer_env[n++], sizeof streamer_env[0], __VA_ARGS__)
  ENV("STREAMER_MQTT_HOST=localhost");
  ENV("STREAMER_MQTT_PORT=%d", w->broker.tls_port);
  ENV("STREAMER_MQTT_CA=%s", cr.ca);
  ENV("STREAMER_MQTT_CERT=%s", cr.cert);
  ENV("STREAMER_MQTT_KEY=%s", cr.key);
  ENV("STREAMER_MQTT_USERNAME=iot-streamer");
  ENV("STREAMER_MQTT_PASSWORD_FILE=%s/secrets/iot-streamer.password", w->broker.conf);
  ENV("STREAMER_MQTT_CLIENT_ID=st-%d", w->streamer_port);
  ENV("STREAMER_DB=%s", w->db);
  ENV("STREAMER_HTTP_LISTEN=127.0.0.1:%d", w->streamer_port);
  ENV("STREAMER_HTTP_THREADS=4");
  ENV("STREAMER_BATCH_MS=10");
  ENV("STREAMER_ALERT_TICK_MS=100");
  ENV("STREAMER_RULES_REFRESH=1");
  ENV("STREAMER_RETENTION_RAW=0");
  ENV("STREAMER_RETENTION_MINUTE=0");
#undef ENV
  const char *env[33];
  for (size_t i = 0; i < n; i++)
    env[i] = streamer_env[i];
  env[n] = NULL;
  char bin[FH_PATH + 32], log[FH_PATH + 64];
  snprintf(bin, sizeof bin, "%s/iot-streamer", fh_bin_dir());
  snprintf(log, sizeof log, "%s/streamer.log", w->base);
  const char *argv[] = {bin, NULL};
  fh_spawn(&w->streamer, argv, env, log, NULL);
  if (!fh_wait_port(w->streamer_port, 20000)) {
    fh_dump_log(&w->streamer, 4000);
    fh_die("iot-streamer did not start");
  }
}

void wgt_start_gateway(struct wgt *w, const char *const *extra)
{
  struct fh_creds cr;
  fh_broker_creds(&w->broker, "web-gateway", &cr);
  size_t n = 0;
#define ENV(...) snprintf(gateway_env[n++], sizeof gateway_env[0], __VA_ARGS__)
  ENV("WEBGW_MQTT_HOST=localhost");
  ENV("WEBGW_MQTT_PORT=%d", w->broker.tls_port);
  ENV("WEBGW_MQTT_CA=%s", cr.ca);
  ENV("WEBGW_MQTT_CERT=%s", cr.cert);
  ENV("WEBGW_MQTT_KEY=%s", cr.key);
  ENV("WEBGW_MQTT_USERNAME=web-gateway");
  ENV("WEBGW_MQTT_PASSWORD_FILE=%s/secrets/web-gateway.password", w->broker.conf);
  ENV("WEBGW_MQTT_CLIENT_ID=wg-%d", w->port);
  ENV("WEBGW_DB=%s", w->db);
  ENV("WEBGW_HTTP_LISTEN=127.0.0.1:%d", w->port);
  ENV("WEBGW_HTTP_THREADS=16");
  ENV("WEBGW_ADMIN_PASSWORD=" WGT_ADMIN_PASSWORD);
  /* Cheap hashes keep the suite fast; production keeps RFC 9106's. */
  ENV("WEBGW_ARGON2_T_COST=1");
  ENV("WEBGW_ARGON2_M_KIB=1024");
  ENV("WEBGW_LOGIN_BLOCK_S=2");
  ENV("WEBGW_WEBHOOK_BACKOFF_MS=200");
  ENV("WEBGW_LOG_LEVEL=debug");
  const char *ui = getenv("WEBGW_UI_DIR");
  ENV("WEBGW_UI_DIR=%s", ui ? ui : "");
#undef ENV
  const char *env[48];
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    env[k++] = gateway_env[i];
  for (size_t i = 0; extra && extra[i] && k < 47; i++)
    env[k++] = extra[i];
  env[k] = NULL;
  char bin[FH_PATH + 32], log[FH_PATH + 64];
  snprintf(bin, sizeof bin, "%s/web-gateway", fh_bin_dir());
  snprintf(log, sizeof log, "%s/gateway.log", w->base);
  const char *argv[] = {bin, NULL};
  fh_spawn(&w->gateway, argv, env, log, NULL);
  long long end = wgt_now_ms() + 20000;
  while (wgt_now_ms() < end && fh_alive(&w->gateway)) {
    if (wgt_http(w, "GET", "/healthz", NULL, NULL, NULL, NULL) == 200)
      return;
    wgt_sleep_ms(50);
  }
  fh_dump_log(&w->gateway, 6000);
  fh_die("web-gateway did not become healthy");
}

void wgt_stop_gateway(struct wgt *w)
{
  if (w->gateway.pid && fh_stop(&w->gateway, SIGTERM, 10000) != 0) {
    fh_dump_log(&w->gateway, 4000);
    fh_die("web-gateway did not stop cleanly");
  }
}

void wgt_start(struct wgt *w, const char *backend, const char *const *env)
{
  memset(w, 0, sizeof *w);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  fh_tmpdir(w->base, "webgw");
  const char *sites[] = {"north", NULL};
  fh_broker_setup(&w->broker, w->base, sites);
  w->postgres = strcmp(backend, "postgres") == 0;
  if (w->postgres) {
    fh_pg_start(&w->pg, w->base);
    snprintf(w->db, sizeof w->db, "%s", w->pg.url);
  } else {
    snprintf(w->db, sizeof w->db, "%s/farm.db", w->base);
  }
  start_streamer(w);
  w->port = fh_free_port();
  snprintf(w->url, sizeof w->url, "http://127.0.0.1:%d", w->port);
  wgt_start_gateway(w, env);
}

int wgt_stop(struct wgt *w)
{
  int rc = 0;
  if (w->gateway.pid && fh_stop(&w->gateway, SIGTERM, 10000) != 0) {
    fprintf(stderr, "web-gateway did not exit cleanly\n");
    fh_dump_log(&w->gateway, 8000);
    rc = -1;
  }
  if (w->streamer.pid)
    fh_stop(&w->streamer, SIGTERM, 10000);
  if (w->pg.proc.pid)
    fh_pg_stop(&w->pg);
  fh_broker_stop(&w->broker);
  if (!getenv("WGT_KEEP"))
    fh_rmtree(w->base);
  curl_global_cleanup();
  return rc;
}

/* ---- the scripted edge ---- */

struct wgt_edge {
  struct wgt *w;
  struct fd_mqtt *m;
  struct fh_creds creds;
  struct fd_log log;
  pthread_t thread;
  pthread_mutex_t lock;
  atomic_bool stop, up;
  atomic_int commands;
  long long edge_seq, seq;
  char stream_device[16];
  int stream_ms;
  long long stream_at;
};

static void e_connect(void *ud, int reason)
{
  struct wgt_edge *e = ud;
  if (reason == 0)
    atomic_store(&e->up, true);
}

static void e_publish(struct wgt_edge *e, const char *topic, const char *payload)
{
  if (fd_mqtt_publish(e->m, topic, payload, strlen(payload), 1, false, NULL) != 0)
    fprintf(stderr, "edge: publish %s failed\n", topic);
}

static void ack(struct wgt_edge *e, const char *device, const char *id, const char *state,
                const char *err)
{
  char topic[160], payload[256];
  snprintf(topic, sizeof topic, "v1/farm/north/%s/ack", device);
  if (err)
    snprintf(payload, sizeof payload, "{\"id\":\"%s\",\"state\":\"%s\",\"error\":\"%s\"}", id,
             state, err);
  else
    snprintf(payload, sizeof payload, "{\"id\":\"%s\",\"state\":\"%s\"}", id, state);
  e_publish(e, topic, payload);
}

/* Answers a command like the edge and the node would, in three steps. */
static void e_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct wgt_edge *e = ud;
  char device[32];
  if (sscanf(m->topic, "v1/farm/north/%31[^/]/cmd", device) != 1)
    return;
  json_t *o = json_loadb(m->payload, m->len, 0, NULL);
  const char *id = json_string_value(json_object_get(o, "id"));
  if (id) {
    atomic_fetch_add(&e->commands, 1);
    ack(e, device, id, "accepted", NULL);
    wgt_sleep_ms(100);
    ack(e, device, id, "sent", NULL);
    wgt_sleep_ms(300);
    json_t *ch = json_object_get(json_object_get(o, "args"), "ch");
    if (json_integer_value(ch) == 5)
      ack(e, device, id, "failed", "relay 5 does not answer");
    else
      ack(e, device, id, "executed", NULL);
  }
  json_decref(o);
}

static void *e_loop(void *arg)
{
  struct wgt_edge *e = arg;
  while (!atomic_load(&e->stop)) {
    struct pollfd p = {.fd = fd_mqtt_fd(e->m), .events = POLLIN};
    poll(&p, 1, 20);
    fd_mqtt_dispatch(e->m, 0);
    pthread_mutex_lock(&e->lock);
    bool due = e->stream_ms > 0 && wgt_now_ms() - e->stream_at >= e->stream_ms;
    char dev[16];
    snprintf(dev, sizeof dev, "%s", e->stream_device);
    if (due)
      e->stream_at = wgt_now_ms();
    pthread_mutex_unlock(&e->lock);
    if (due) {
      long long t = wgt_wall_ms();
      char v[128];
      snprintf(v, sizeof v, "\"temp_c\":%.2f,\"rh_pct\":%.1f", 20.0 + (double)(t / 1000 % 60) / 10,
               50.0 + (double)(t / 1000 % 10));
      wgt_edge_tel(e, dev, t, v);
    }
  }
  return NULL;
}

struct wgt_edge *wgt_edge_start(struct wgt *w)
{
  struct wgt_edge *e = calloc(1, sizeof *e);
  e->w = w;
  fd_log_init(&e->log, "edge", FD_LOG_ERROR, NULL);
  pthread_mutex_init(&e->lock, NULL);
  struct fd_mqtt_config cfg;
  fh_broker_mqtt_config(&w->broker, &e->creds, "edge-north", "edge-north", &cfg);
  struct fd_mqtt_callbacks cb = {e_connect, NULL, e_message, NULL};
  if (fd_mqtt_new(&cfg, &e->log, &cb, e, &e->m) != 0 ||
      fd_mqtt_subscribe(e->m, "v1/farm/north/+/cmd", 1, false) != 0 || fd_mqtt_start(e->m) != 0)
    fh_die("edge: cannot start the MQTT client");
  long long end = wgt_now_ms() + 10000;
  while (!atomic_load(&e->up) && wgt_now_ms() < end) {
    struct pollfd p = {.fd = fd_mqtt_fd(e->m), .events = POLLIN};
    poll(&p, 1, 20);
    fd_mqtt_dispatch(e->m, 0);
  }
  if (!atomic_load(&e->up))
    fh_die("edge: not connected");
  e->seq = 0;
  pthread_create(&e->thread, NULL, e_loop, e);
  return e;
}

void wgt_edge_status(struct wgt_edge *e, const char *device, bool online)
{
  char topic[160], payload[256];
  snprintf(topic, sizeof topic, "v1/farm/north/%s/status", device);
  snprintf(payload, sizeof payload,
           "{\"online\":%s,\"rssi\":-61,\"fw\":\"1.4.2\",\"interval_ms\":60000}",
           online ? "true" : "false");
  fd_mqtt_publish(e->m, topic, payload, strlen(payload), 1, true, NULL);
}

long long wgt_edge_tel(struct wgt_edge *e, const char *device, long long ts, const char *v)
{
  pthread_mutex_lock(&e->lock);
  long long es = ++e->edge_seq, seq = ++e->seq;
  pthread_mutex_unlock(&e->lock);
  char topic[160], payload[512];
  snprintf(topic, sizeof topic, "v1/farm/north/%s/telemetry/env", device);
  snprintf(payload, sizeof payload,
           "{\"edge_seq\":%lld,\"boot\":1,\"seq\":%lld,\"ts\":%lld,\"rssi\":-60,\"v\":{%s}}", es,
           seq, ts, v);
  e_publish(e, topic, payload);
  return es;
}

void wgt_edge_publish(struct wgt_edge *e, const char *topic, const char *payload)
{
  e_publish(e, topic, payload);
}

int wgt_edge_commands(struct wgt_edge *e)
{
  return atomic_load(&e->commands);
}

void wgt_edge_stream(struct wgt_edge *e, const char *device, int period_ms)
{
  pthread_mutex_lock(&e->lock);
  snprintf(e->stream_device, sizeof e->stream_device, "%s", device);
  e->stream_ms = period_ms;
  e->stream_at = 0;
  pthread_mutex_unlock(&e->lock);
}

void wgt_edge_stop(struct wgt_edge *e)
{
  if (!e)
    return;
  atomic_store(&e->stop, true);
  pthread_join(e->thread, NULL);
  fd_mqtt_free(e->m);
  pthread_mutex_destroy(&e->lock);
  free(e);
}
