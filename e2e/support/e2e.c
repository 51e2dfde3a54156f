/* SPDX-License-Identifier: MIT */
/*
 * The whole farm for the end-to-end and fault tests (see e2e.h): starting
 * and stopping each program with its account and settings, the simulator's
 * control socket, the REST and edge APIs, the ledger reader and the
 * comparison of the ledger with the store.
 */
#include "e2e.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

int64_t e2e_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t e2e_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void e2e_opts_default(struct e2e_opts *o)
{
  memset(o, 0, sizeof *o);
  o->nodes = 6;
  o->real = 3;
  o->seed = 7;
  o->period_ms = 1000;
  o->speed = 5;
  o->ml = true;
  o->webgw = true;
}

/* ---- environments ---------------------------------------------------------- */

#define ENV_MAX 40
struct envb {
  char s[ENV_MAX][FH_PATH + 160];
  const char *p[ENV_MAX + 1];
  int n;
};

static void env_add(struct envb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void env_add(struct envb *b, const char *fmt, ...)
{
  if (b->n == ENV_MAX)
    fh_die("too many variables");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->s[b->n], sizeof b->s[0], fmt, ap);
  va_end(ap);
  b->p[b->n] = b->s[b->n];
  b->n++;
  b->p[b->n] = NULL;
}

static void spawn(struct e2e *e, struct fh_proc *p, const char *name, const char *const argv[],
                  const struct envb *env)
{
  char log[FH_PATH + 32];
  snprintf(log, sizeof log, "%s/%s.log", e->base, name);
  fh_spawn(p, argv, env ? env->p : NULL, log, NULL);
}

static void bin_path(char *out, size_t cap, const char *prog)
{
  snprintf(out, cap, "%s/%s", fh_bin_dir(), prog);
}

/* ---- logs and liveness ------------------------------------------------------ */

void e2e_dump(struct e2e *e)
{
  fflush(stdout);
  const struct fh_proc *procs[] = {&e->sim,   &e->edge, &e->streamer,
                                   &e->webgw, &e->ml,   &e->broker.proc};
  for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++)
    if (procs[i]->log[0])
      fh_dump_log(procs[i], 2500);
}

static void check_alive(struct e2e *e)
{
  struct {
    bool want;
    struct fh_proc *p;
    const char *name;
  } list[] = {{e->want_sim, &e->sim, "farm-sim"},
              {e->want_edge, &e->edge, "edge-agent"},
              {e->want_streamer, &e->streamer, "iot-streamer"},
              {e->want_webgw, &e->webgw, "web-gateway"},
              {e->want_ml, &e->ml, "ml-engine"}};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
    if (list[i].want && !fh_alive(list[i].p)) {
      e2e_dump(e);
      fh_die("%s exited unexpectedly", list[i].name);
    }
  }
}

void e2e_step(struct e2e *e, int ms)
{
  int64_t end = e2e_now_ms() + ms;
  do {
    int64_t left = end - e2e_now_ms();
    et_sub_pump(&e->events, left < 20 ? (left > 0 ? (int)left : 0) : 20);
    check_alive(e);
  } while (e2e_now_ms() < end);
}

/* ---- HTTP ------------------------------------------------------------------- */

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

/* One exchange with libcurl; the body (malloc'd) into *body. */
static int http(const char *url, const char *method, const char *auth, const char *json,
                char **body)
{
  CURL *c = curl_easy_init();
  if (!c)
    fh_die("curl_easy_init");
  struct buf b = {0};
  struct curl_slist *h = NULL;
  if (auth)
    h = curl_slist_append(h, auth);
  if (json)
    h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  if (json) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
  }
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (body)
    *body = b.p ? b.p : strdup("");
  else
    free(b.p);
  return (int)status;
}

static void login(struct e2e *e)
{
  char url[128], *body = NULL;
  snprintf(url, sizeof url, "%s/api/v1/login", e->url);
  int st =
      http(url, "POST", NULL, "{\"username\":\"admin\",\"password\":\"" E2E_ADMIN_PW "\"}", &body);
  json_t *o = json_loads(body, 0, NULL);
  const char *tok = json_string_value(json_object_get(o, "token"));
  if (st != 200 || !tok)
    fh_die("login: %d %s", st, body);
  snprintf(e->token, sizeof e->token, "%s", tok);
  json_decref(o);
  free(body);
}

int e2e_api(struct e2e *e, const char *method, const char *path, const char *body, json_t **out)
{
  char url[512], auth[160], *text = NULL;
  snprintf(url, sizeof url, "%s/api/v1%s", e->url, path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", e->token);
  int st = http(url, method, auth, body, &text);
  if (out)
    *out = json_loads(text, 0, NULL);
  free(text);
  return st;
}

json_t *e2e_webgw_health(struct e2e *e)
{
  char url[96], *text = NULL;
  snprintf(url, sizeof url, "%s/healthz", e->url);
  int st = http(url, "GET", NULL, NULL, &text);
  json_t *o = st == 200 || st == 503 ? json_loads(text, 0, NULL) : NULL;
  free(text);
  return o;
}

json_t *e2e_edge_api(struct e2e *e, const char *path)
{
  static char out[1 << 18];
  const char *body = NULL;
  int st = et_http(e->edge_port, "GET", path, NULL, NULL, out, sizeof out, &body);
  if (st != 200 || !body)
    return NULL;
  return json_loads(body, 0, NULL);
}

void e2e_edge_command_state(struct e2e *e, const char *id, char *out, size_t cap)
{
  out[0] = '\0';
  char path[FH_PATH + 32];
  snprintf(path, sizeof path, "%s/edge/commands.db", e->base);
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT state FROM commands WHERE id = ?1", -1, &st, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

double e2e_streamer_metric(struct e2e *e, const char *name)
{
  char url[128], *text = NULL;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", e->streamer_port);
  double v = -1;
  if (http(url, "GET", NULL, NULL, &text) == 200) {
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
      if (strncmp(p, name, nl) == 0 && (p[nl] == ' ' || p[nl] == '{')) {
        const char *sp = strchr(p, ' ');
        if (sp)
          v = strtod(sp + 1, NULL);
        break;
      }
    }
  }
  free(text);
  return v;
}

static bool http_ok(const char *url)
{
  return http(url, "GET", NULL, NULL, NULL) == 200;
}

/* Waits until url answers 200 while p lives. */
static void wait_healthy(struct e2e *e, struct fh_proc *p, const char *name, const char *url)
{
  int64_t end = e2e_now_ms() + 30000;
  while (e2e_now_ms() < end) {
    if (!fh_alive(p)) {
      fh_dump_log(p, 4000);
      fh_die("%s exited at start", name);
    }
    if (http_ok(url))
      return;
    et_sub_pump(&e->events, 50);
  }
  fh_dump_log(p, 4000);
  fh_die("%s did not become healthy at %s", name, url);
}

/* ---- programs ------------------------------------------------------------- */

void e2e_broker_start(struct e2e *e)
{
  fh_broker_start(&e->broker);
}

int e2e_broker_stop(struct e2e *e, int sig)
{
  return fh_stop(&e->broker.proc, sig, 10000);
}

void e2e_streamer_start(struct e2e *e)
{
  struct fh_creds cr;
  fh_broker_creds(&e->broker, "iot-streamer", &cr);
  static struct envb env;
  env.n = 0;
  env_add(&env, "STREAMER_MQTT_HOST=localhost");
  env_add(&env, "STREAMER_MQTT_PORT=%d", e->broker.tls_port);
  env_add(&env, "STREAMER_MQTT_CA=%s", cr.ca);
  env_add(&env, "STREAMER_MQTT_CERT=%s", cr.cert);
  env_add(&env, "STREAMER_MQTT_KEY=%s", cr.key);
  env_add(&env, "STREAMER_MQTT_PASSWORD_FILE=%s/secrets/iot-streamer.password", e->broker.conf);
  env_add(&env, "STREAMER_MQTT_CLIENT_ID=iot-streamer-e2e");
  env_add(&env, "STREAMER_DB=%s", e->db);
  env_add(&env, "STREAMER_HTTP_LISTEN=127.0.0.1:%d", e->streamer_port);
  env_add(&env, "STREAMER_HTTP_THREADS=4");
  env_add(&env, "STREAMER_ALERT_TICK_MS=200");
  env_add(&env, "STREAMER_RULES_REFRESH=1");
  char bin[FH_PATH + 32];
  bin_path(bin, sizeof bin, "iot-streamer");
  const char *argv[] = {bin, NULL};
  spawn(e, &e->streamer, "iot-streamer", argv, &env);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", e->streamer_port);
  wait_healthy(e, &e->streamer, "iot-streamer", url);
  e->want_streamer = true;
}

int e2e_streamer_stop(struct e2e *e, int sig)
{
  e->want_streamer = false;
  return fh_stop(&e->streamer, sig, 15000);
}

void e2e_webgw_start(struct e2e *e)
{
  struct fh_creds cr;
  fh_broker_creds(&e->broker, "web-gateway", &cr);
  static struct envb env;
  env.n = 0;
  env_add(&env, "WEBGW_MQTT_HOST=localhost");
  env_add(&env, "WEBGW_MQTT_PORT=%d", e->broker.tls_port);
  env_add(&env, "WEBGW_MQTT_CA=%s", cr.ca);
  env_add(&env, "WEBGW_MQTT_CERT=%s", cr.cert);
  env_add(&env, "WEBGW_MQTT_KEY=%s", cr.key);
  env_add(&env, "WEBGW_MQTT_PASSWORD_FILE=%s/secrets/web-gateway.password", e->broker.conf);
  env_add(&env, "WEBGW_MQTT_CLIENT_ID=web-gateway-e2e");
  env_add(&env, "WEBGW_DB=%s", e->db);
  env_add(&env, "WEBGW_HTTP_LISTEN=127.0.0.1:%d", e->web_port);
  env_add(&env, "WEBGW_ADMIN_PASSWORD=" E2E_ADMIN_PW);
  /* Cheap password hashes keep start-up fast; production keeps RFC 9106's. */
  env_add(&env, "WEBGW_ARGON2_T_COST=1");
  env_add(&env, "WEBGW_ARGON2_M_KIB=1024");
  const char *ui = getenv("WEBGW_UI_DIR");
  env_add(&env, "WEBGW_UI_DIR=%s", ui ? ui : "");
  char bin[FH_PATH + 32];
  bin_path(bin, sizeof bin, "web-gateway");
  const char *argv[] = {bin, NULL};
  spawn(e, &e->webgw, "web-gateway", argv, &env);
  char url[96];
  snprintf(url, sizeof url, "%s/healthz", e->url);
  wait_healthy(e, &e->webgw, "web-gateway", url);
  e->want_webgw = true;
  login(e);
}

int e2e_webgw_stop(struct e2e *e, int sig)
{
  e->want_webgw = false;
  return fh_stop(&e->webgw, sig, 15000);
}

void e2e_ml_start(struct e2e *e)
{
  struct fh_creds cr;
  fh_broker_creds(&e->broker, "ml-engine", &cr);
  static struct envb env;
  env.n = 0;
  env_add(&env, "ML_MQTT_HOST=localhost");
  env_add(&env, "ML_MQTT_PORT=%d", e->broker.tls_port);
  env_add(&env, "ML_MQTT_CAFILE=%s", cr.ca);
  env_add(&env, "ML_MQTT_CERTFILE=%s", cr.cert);
  env_add(&env, "ML_MQTT_KEYFILE=%s", cr.key);
  env_add(&env, "ML_MQTT_PASSWORD_FILE=%s/secrets/ml-engine.password", e->broker.conf);
  env_add(&env, "ML_MQTT_CLIENT_ID=ml-engine-e2e");
  env_add(&env, "ML_STATE_DIR=%s/ml", e->base);
  env_add(&env, "ML_PUBLISH_S=5");
  char bin[FH_PATH + 32];
  bin_path(bin, sizeof bin, "ml-engine");
  const char *argv[] = {bin, "run", NULL};
  spawn(e, &e->ml, "ml-engine", argv, &env);
  /* It has no HTTP side: ready once it says it subscribed. */
  char log[FH_PATH + 32];
  snprintf(log, sizeof log, "%s/ml-engine.log", e->base);
  int64_t end = e2e_now_ms() + 20000;
  for (;;) {
    if (!fh_alive(&e->ml)) {
      fh_dump_log(&e->ml, 3000);
      fh_die("ml-engine exited at start");
    }
    char *text = fh_read_file(log);
    bool up = text && strstr(text, "connected to the broker");
    free(text);
    if (up)
      break;
    if (e2e_now_ms() > end) {
      fh_dump_log(&e->ml, 3000);
      fh_die("ml-engine did not connect");
    }
    et_sub_pump(&e->events, 50);
  }
  e->want_ml = true;
}

int e2e_ml_stop(struct e2e *e, int sig)
{
  e->want_ml = false;
  return fh_stop(&e->ml, sig, 15000);
}

void e2e_edge_start(struct e2e *e)
{
  struct fh_creds cr;
  fh_broker_creds(&e->broker, "edge-" E2E_SITE, &cr);
  static struct envb env;
  env.n = 0;
  env_add(&env, "EDGE_SITE=" E2E_SITE);
  env_add(&env, "EDGE_SERIAL_PORT=%s", e->tty);
  env_add(&env, "EDGE_SERIAL_REOPEN_MAX_MS=200");
  env_add(&env, "EDGE_MQTT_HOST=localhost");
  env_add(&env, "EDGE_MQTT_PORT=%d", e->proxy ? e2e_proxy_port(e->proxy) : e->broker.tls_port);
  env_add(&env, "EDGE_MQTT_CAFILE=%s", cr.ca);
  env_add(&env, "EDGE_MQTT_CERTFILE=%s", cr.cert);
  env_add(&env, "EDGE_MQTT_KEYFILE=%s", cr.key);
  env_add(&env, "EDGE_MQTT_USERNAME=%s", cr.user);
  env_add(&env, "EDGE_MQTT_PASSWORD_FILE=%s/secrets/%s.password", e->broker.conf, cr.user);
  /* Faults are noticed and repaired within seconds, not minutes. */
  env_add(&env, "EDGE_MQTT_KEEPALIVE_S=5");
  env_add(&env, "EDGE_MQTT_RECONNECT_MAX_S=1");
  env_add(&env, "EDGE_MQTT_RESEND_S=5");
  env_add(&env, "EDGE_STATUS_INTERVAL_S=5");
  env_add(&env, "EDGE_HTTP_LISTEN=127.0.0.1:%d", e->edge_port);
  env_add(&env, "EDGE_BACKLOG_PATH=%s/edge/backlog.db", e->base);
  env_add(&env, "EDGE_COMMANDS_PATH=%s/edge/commands.db", e->base);
  env_add(&env, "EDGE_LOG_LEVEL=info");
  char bin[FH_PATH + 32];
  bin_path(bin, sizeof bin, "edge-agent");
  const char *argv[] = {bin, NULL};
  spawn(e, &e->edge, "edge-agent", argv, &env);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/api/backlog", e->edge_port);
  wait_healthy(e, &e->edge, "edge-agent", url);
  e->want_edge = true;
}

int e2e_edge_stop(struct e2e *e, int sig)
{
  e->want_edge = false;
  return fh_stop(&e->edge, sig, 15000);
}

void e2e_sim_start(struct e2e *e)
{
  char bin[FH_PATH + 32], log[FH_PATH + 32], state[FH_PATH + 16];
  bin_path(bin, sizeof bin, "farm-sim");
  snprintf(log, sizeof log, "%s/farm-sim.log", e->base);
  snprintf(state, sizeof state, "%s/sim", e->base);
  struct stat st;
  off_t from = stat(log, &st) == 0 ? st.st_size : 0;
  char nodes[16], real[16], seed[16], period[16], speed[16], epoch[32];
  snprintf(nodes, sizeof nodes, "%d", e->o.nodes);
  snprintf(real, sizeof real, "%d", e->o.real);
  snprintf(seed, sizeof seed, "%u", e->o.seed);
  snprintf(period, sizeof period, "%d", e->o.period_ms);
  snprintf(speed, sizeof speed, "%d", e->o.speed);
  snprintf(epoch, sizeof epoch, "%lld", (long long)e2e_wall_ms());
  const char *argv[32] = {
      bin,           "--nodes",  nodes,         "--real",    real,     "--seed",   seed,
      "--period-ms", period,     "--speed",     speed,       "--site", E2E_SITE,   "--epoch-ms",
      epoch,         "--serial", e->tty,        "--control", e->ctl,   "--ledger", e->ledger_path,
      "--state-dir", state,      "--log-level", "warn"};
  size_t n = 23;
  if (e->o.anomaly) {
    argv[n++] = "--anomaly";
    argv[n++] = e->o.anomaly;
  }
  argv[n] = NULL;
  spawn(e, &e->sim, "farm-sim", argv, NULL);
  int64_t end = e2e_now_ms() + 15000;
  for (;;) {
    if (!fh_alive(&e->sim)) {
      fh_dump_log(&e->sim, 3000);
      fh_die("farm-sim exited at start");
    }
    char *text = fh_read_file(log);
    const char *s = text ? text + from : NULL;
    if (s && strstr(s, "farm-sim: ready\n")) {
      int found = 0;
      for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned i;
        char mac[13];
        if (sscanf(p, "farm-sim: gateway %12s", mac) == 1)
          memcpy(e->gw, mac, sizeof mac);
        else if (sscanf(p, "farm-sim: node %u %12s", &i, mac) == 2 && i < E2E_NODES_MAX) {
          memcpy(e->node[i], mac, sizeof mac);
          found++;
        }
      }
      free(text);
      if (found != e->o.nodes || strlen(e->gw) != 12)
        fh_die("farm-sim announced %d nodes and gateway '%s'", found, e->gw);
      e->want_sim = true;
      return;
    }
    free(text);
    if (e2e_now_ms() > end) {
      fh_dump_log(&e->sim, 3000);
      fh_die("farm-sim did not say ready");
    }
    et_sub_pump(&e->events, 20);
  }
}

int e2e_sim_stop(struct e2e *e, int sig)
{
  e->want_sim = false;
  return fh_stop(&e->sim, sig, 15000);
}

/* ---- the farm --------------------------------------------------------------- */

static sqlite3 *store_open(struct e2e *e)
{
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

/* Devices of the site with at least one stored reading. */
static int stored_devices(struct e2e *e)
{
  sqlite3 *db = store_open(e);
  if (!db)
    return 0;
  sqlite3_stmt *st = NULL;
  int n = 0;
  if (sqlite3_prepare_v2(db, "SELECT count(DISTINCT device) FROM readings WHERE site = ?1", -1, &st,
                         NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, E2E_SITE, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

void e2e_start(struct e2e *e, const struct e2e_opts *o)
{
  memset(e, 0, sizeof *e);
  e->o = *o;
  if (o->nodes < 1 || o->nodes > E2E_NODES_MAX || o->real < 0 || o->real > o->nodes)
    fh_die("bad farm size");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  fh_tmpdir(e->base, "e2e");
  snprintf(e->db, sizeof e->db, "%s/store.db", e->base);
  snprintf(e->ledger_path, sizeof e->ledger_path, "%s/ledger.jsonl", e->base);
  snprintf(e->tty, sizeof e->tty, "%s/ttyFARM", e->base);
  snprintf(e->ctl, sizeof e->ctl, "%s/farm.ctl", e->base);
  char dir[FH_PATH + 16];
  snprintf(dir, sizeof dir, "%s/edge", e->base);
  if (mkdir(dir, 0755) != 0)
    fh_die("mkdir %s: %s", dir, strerror(errno));
  e->streamer_port = fh_free_port();
  e->web_port = fh_free_port();
  e->edge_port = fh_free_port();
  snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", e->web_port);

  const char *sites[] = {E2E_SITE, NULL};
  fh_broker_setup(&e->broker, e->base, sites);
  /* The observer connects first and alone: libmosquitto's first TLS set-up
   * is not safe against concurrent connects in one process. */
  struct fd_mqtt_config cfg;
  fh_broker_mqtt_config(&e->broker, &e->obs_creds, "web-gateway", "e2e-events", &cfg);
  cfg.clean_start = false;
  cfg.session_expiry_s = 3600;
  cfg.reconnect_min_s = 1;
  cfg.reconnect_max_s = 1;
  et_sub_start(&e->events, &cfg, "v1/farm/+/+/event");

  e2e_streamer_start(e);
  if (o->webgw)
    e2e_webgw_start(e);
  if (o->ml)
    e2e_ml_start(e);
  if (o->proxy)
    e->proxy = e2e_proxy_start(e->broker.tls_port);
  e2e_edge_start(e);
  e2e_sim_start(e);

  /* Ready: the edge lists every node, and the store has a reading of each. */
  int64_t end = e2e_now_ms() + 60000;
  for (;;) {
    json_t *j = e2e_edge_api(e, "/api/peers");
    size_t peers = json_array_size(json_object_get(j, "peers"));
    json_decref(j);
    int devices = stored_devices(e);
    if (peers == (size_t)o->nodes && devices == o->nodes)
      break;
    if (e2e_now_ms() > end) {
      e2e_dump(e);
      fh_die("after 60 s the edge lists %zu peers and the store %d devices of %d", peers, devices,
             o->nodes);
    }
    e2e_step(e, 200);
  }
}

void e2e_stop(struct e2e *e)
{
  e->want_sim = e->want_edge = e->want_ml = e->want_webgw = e->want_streamer = false;
  if (e->sim.pid > 0)
    fh_stop(&e->sim, SIGTERM, 10000);
  if (e->edge.pid > 0)
    fh_stop(&e->edge, SIGTERM, 10000);
  if (e->ml.pid > 0)
    fh_stop(&e->ml, SIGTERM, 10000);
  if (e->webgw.pid > 0)
    fh_stop(&e->webgw, SIGTERM, 10000);
  if (e->streamer.pid > 0)
    fh_stop(&e->streamer, SIGTERM, 10000);
  if (e->events.mq)
    et_sub_stop(&e->events);
  fh_broker_stop(&e->broker);
  e2e_proxy_stop(e->proxy);
  e->proxy = NULL;
  struct e2e_ledger *l = &e->ledger;
  free(l->r);
  free(l->c);
  free(l->b);
  free(l->drop);
  memset(l, 0, sizeof *l);
  if (getenv("E2E_KEEP"))
    printf("e2e: kept %s\n", e->base);
  else
    fh_rmtree(e->base);
  curl_global_cleanup();
}

/* ---- control socket ------------------------------------------------------- */

const char *e2e_ctl(struct e2e *e, bool may_fail, const char *fmt, ...)
{
  static char answer[16384];
  char line[300];
  va_list ap;
  va_start(ap, fmt);
  int ll = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (ll < 0 || (size_t)ll >= sizeof line - 1)
    fh_die("control command too long");
  line[ll++] = '\n';
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(e->ctl) >= sizeof sa.sun_path)
    fh_die("control path too long: %s", e->ctl);
  memcpy(sa.sun_path, e->ctl, strlen(e->ctl) + 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    fh_die("control socket %s: %s", e->ctl, strerror(errno));
  if (write(fd, line, (size_t)ll) != ll)
    fh_die("control write: %s", strerror(errno));
  size_t n = 0;
  answer[0] = '\0';
  const char *last = NULL;
  int64_t end = e2e_now_ms() + 5000;
  while (e2e_now_ms() < end && n + 1 < sizeof answer) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0)
      continue;
    ssize_t r = read(fd, answer + n, sizeof answer - 1 - n);
    if (r <= 0)
      break;
    n += (size_t)r;
    answer[n] = '\0';
    if (answer[n - 1] != '\n')
      continue;
    last = answer + n - 1;
    while (last > answer && last[-1] != '\n')
      last--;
    if (strncmp(last, "ok\n", 3) == 0 || strncmp(last, "error:", 6) == 0)
      break;
    last = NULL;
  }
  close(fd);
  if (!last)
    fh_die("control '%.*s': no answer (%s)", ll - 1, line, answer);
  if (strncmp(last, "error:", 6) == 0) {
    if (may_fail)
      return NULL;
    fh_die("control '%.*s': %s", ll - 1, line, last);
  }
  answer[last - answer] = '\0'; /* drop the final "ok" */
  return answer;
}

long long e2e_sim_status(struct e2e *e, const char *key)
{
  const char *a = e2e_ctl(e, false, "status");
  size_t kl = strlen(key);
  for (const char *p = a; (p = strstr(p, key)) != NULL; p += kl)
    if ((p == a || p[-1] == ' ') && p[kl] == '=')
      return strtoll(p + kl + 1, NULL, 10);
  fh_die("no %s in status: %s", key, a);
}

/* ---- ledger ----------------------------------------------------------------- */

int e2e_node_index(const struct e2e *e, const char *mac)
{
  for (int i = 0; i < e->o.nodes; i++)
    if (strcmp(e->node[i], mac) == 0)
      return i;
  return -1;
}

static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
  if (n < *cap)
    return p;
  *cap = *cap ? *cap * 2 : 1024;
  p = realloc(p, *cap * size);
  if (!p)
    fh_die("out of memory");
  return p;
}

static int metric_id(struct e2e_ledger *l, const char *name, bool add)
{
  for (size_t i = 0; i < l->nmetric; i++)
    if (strcmp(l->metric[i], name) == 0)
      return (int)i;
  if (!add)
    return -1;
  if (l->nmetric == E2E_METRICS_MAX || strlen(name) >= sizeof l->metric[0])
    fh_die("ledger: too many metrics (%s)", name);
  snprintf(l->metric[l->nmetric], sizeof l->metric[0], "%s", name);
  return (int)l->nmetric++;
}

static int node_of(const struct e2e *e, json_t *j, const char *line)
{
  const char *d = json_string_value(json_object_get(j, "device"));
  int i = d ? e2e_node_index(e, d) : -1;
  if (i < 0)
    fh_die("ledger line of an unknown node: %s", line);
  return i;
}

void e2e_ledger_update(struct e2e *e)
{
  struct e2e_ledger *l = &e->ledger;
  FILE *in = fopen(e->ledger_path, "r");
  if (!in)
    return;
  if (fseek(in, l->offset, SEEK_SET) != 0)
    fh_die("ledger: seek");
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, in)) > 0) {
    if (line[len - 1] != '\n')
      break; /* being written: read it next time */
    l->offset += len;
    json_error_t err;
    json_t *j = json_loadb(line, (size_t)len, 0, &err);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (!kind)
      fh_die("ledger: not a ledger line: %s", line);
    if (strcmp(kind, "reading") == 0) {
      l->r = grow(l->r, l->n, &l->cap, sizeof *l->r);
      struct e2e_reading *r = &l->r[l->n++];
      memset(r, 0, sizeof *r);
      r->node = (uint8_t)node_of(e, j, line);
      r->boot = (uint32_t)json_integer_value(json_object_get(j, "boot"));
      r->seq = (uint32_t)json_integer_value(json_object_get(j, "seq"));
      r->sim_ms = json_integer_value(json_object_get(j, "sim_ms"));
      r->syn = json_is_true(json_object_get(j, "syn"));
      const char *k;
      json_t *v;
      json_object_foreach(json_object_get(j, "v"), k, v)
      {
        if (r->nv == E2E_VALUES_MAX)
          fh_die("ledger: too many values: %s", line);
        r->metric[r->nv] = (uint8_t)metric_id(l, k, true);
        r->v[r->nv++] = json_number_value(v);
      }
      l->sorted = false;
    } else if (strcmp(kind, "command") == 0) {
      l->c = grow(l->c, l->nc, &l->ccap, sizeof *l->c);
      struct e2e_cmd_line *c = &l->c[l->nc++];
      memset(c, 0, sizeof *c);
      c->node = (uint8_t)node_of(e, j, line);
      snprintf(c->name, sizeof c->name, "%s", json_string_value(json_object_get(j, "name")));
      char *a = json_dumps(json_object_get(j, "args"), JSON_COMPACT | JSON_SORT_KEYS);
      snprintf(c->args, sizeof c->args, "%s", a ? a : "");
      free(a);
      c->ok = json_is_true(json_object_get(j, "ok"));
    } else if (strcmp(kind, "boot") == 0) {
      l->b = grow(l->b, l->nb, &l->bcap, sizeof *l->b);
      struct e2e_boot_line *b = &l->b[l->nb++];
      memset(b, 0, sizeof *b);
      const char *role = json_string_value(json_object_get(j, "role"));
      b->gateway = role && strcmp(role, "gateway") == 0;
      if (!b->gateway)
        b->node = (uint8_t)node_of(e, j, line);
      b->boot = (uint32_t)json_integer_value(json_object_get(j, "boot"));
      b->lost = (uint32_t)json_integer_value(json_object_get(j, "lost"));
      b->sim_ms = json_integer_value(json_object_get(j, "sim_ms"));
    } else if (strcmp(kind, "dropped") == 0) {
      const char *type = json_string_value(json_object_get(j, "type"));
      if (type && strcmp(type, "tel") == 0) {
        l->drop = grow(l->drop, l->dropped, &l->dcap, sizeof *l->drop);
        struct e2e_key *k = &l->drop[l->dropped++];
        k->node = (uint8_t)node_of(e, j, line);
        k->boot = (uint32_t)json_integer_value(json_object_get(j, "boot"));
        k->seq = (uint32_t)json_integer_value(json_object_get(j, "seq"));
      }
    }
    /* Kinds this reader does not know are ignored, as the format asks. */
    json_decref(j);
  }
  free(line);
  fclose(in);
}

static int key_cmp(uint8_t an, uint32_t ab, uint32_t as, uint8_t bn, uint32_t bb, uint32_t bs)
{
  if (an != bn)
    return an < bn ? -1 : 1;
  if (ab != bb)
    return ab < bb ? -1 : 1;
  if (as != bs)
    return as < bs ? -1 : 1;
  return 0;
}

static int reading_cmp(const void *a, const void *b)
{
  const struct e2e_reading *x = a, *y = b;
  return key_cmp(x->node, x->boot, x->seq, y->node, y->boot, y->seq);
}

static struct e2e_reading *find_reading(struct e2e_ledger *l, uint8_t node, uint32_t boot,
                                        uint32_t seq)
{
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = key_cmp(l->r[mid].node, l->r[mid].boot, l->r[mid].seq, node, boot, seq);
    if (c == 0)
      return &l->r[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* ---- tally ------------------------------------------------------------------ */

static void problem(struct e2e_tally *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct e2e_tally *t, const char *fmt, ...)
{
  if (t->first_problem[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->first_problem, sizeof t->first_problem, fmt, ap);
  va_end(ap);
}

void e2e_tally(struct e2e *e, struct e2e_tally *t)
{
  memset(t, 0, sizeof *t);
  e2e_ledger_update(e);
  struct e2e_ledger *l = &e->ledger;
  if (!l->sorted && l->n) {
    qsort(l->r, l->n, sizeof *l->r, reading_cmp);
    l->sorted = true;
  }
  for (size_t i = 0; i < l->n; i++) {
    l->r[i].seen = 0;
    l->r[i].bad = l->r[i].hist = l->r[i].dropped = false;
  }
  for (size_t i = 0; i < l->dropped; i++) {
    struct e2e_reading *r = find_reading(l, l->drop[i].node, l->drop[i].boot, l->drop[i].seq);
    if (r)
      r->dropped = true;
  }
  /* Gateway restarts that lost messages, in ledger (time) order, with what
   * is left of their count to explain missing readings. */
  size_t ngw = 0;
  int64_t *gw_at = calloc(l->nb + 1, sizeof *gw_at);
  uint32_t *gw_budget = calloc(l->nb + 1, sizeof *gw_budget);
  if (!gw_at || !gw_budget)
    fh_die("out of memory");
  for (size_t i = 0; i < l->nb; i++) {
    if (l->b[i].gateway) {
      t->gw_lost += l->b[i].lost;
      if (l->b[i].lost > 0) {
        gw_at[ngw] = l->b[i].sim_ms;
        gw_budget[ngw++] = l->b[i].lost;
      }
    } else {
      t->node_lost += l->b[i].lost;
    }
  }
  t->ledger = l->n;

  sqlite3 *db = store_open(e);
  if (!db)
    fh_die("cannot open the store %s", e->db);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT device, boot, seq, metric, value, hist, synthetic FROM readings"
                         " WHERE site = ?1 ORDER BY device, boot, seq",
                         -1, &st, NULL) != SQLITE_OK)
    fh_die("store query: %s", sqlite3_errmsg(db));
  sqlite3_bind_text(st, 1, E2E_SITE, -1, SQLITE_STATIC);
  char prev_dev[16] = "";
  int prev_node = -1;
  int64_t prev_boot = -1, prev_seq = -1;
  struct e2e_reading *r = NULL;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    t->rows++;
    const char *dev = (const char *)sqlite3_column_text(st, 0);
    int64_t boot = sqlite3_column_int64(st, 1), seq = sqlite3_column_int64(st, 2);
    const char *metric = (const char *)sqlite3_column_text(st, 3);
    double value = sqlite3_column_double(st, 4);
    bool hist = sqlite3_column_int(st, 5) != 0, syn = sqlite3_column_int(st, 6) != 0;
    bool same = strcmp(dev, prev_dev) == 0 && boot == prev_boot && seq == prev_seq;
    if (!same) {
      if (strcmp(dev, prev_dev) != 0) {
        snprintf(prev_dev, sizeof prev_dev, "%s", dev);
        prev_node = e2e_node_index(e, dev);
      }
      prev_boot = boot;
      prev_seq = seq;
      r = prev_node >= 0 ? find_reading(l, (uint8_t)prev_node, (uint32_t)boot, (uint32_t)seq)
                         : NULL;
      if (!r) {
        t->unknown++;
        problem(t, "stored reading not in the ledger: %s boot %lld seq %lld", dev, (long long)boot,
                (long long)seq);
        continue;
      }
      r->hist = hist;
    }
    if (!r)
      continue;
    int m = metric_id(l, metric, false);
    int slot = -1;
    for (int k = 0; k < r->nv && m >= 0; k++)
      if (r->metric[k] == m)
        slot = k;
    if (slot < 0 || r->v[slot] != value || r->syn != syn || (r->seen & (1u << slot))) {
      if (!r->bad)
        problem(t, "%s boot %u seq %u metric %s: stored %.17g syn %d, ledger %.17g syn %d", dev,
                r->boot, r->seq, metric, value, syn, slot >= 0 ? r->v[slot] : NAN, r->syn);
      r->bad = true;
    } else {
      r->seen |= (uint8_t)(1u << slot);
    }
  }
  if (rc != SQLITE_DONE)
    fh_die("store query: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  sqlite3_close(db);

  for (size_t i = 0; i < l->n; i++) {
    struct e2e_reading *x = &l->r[i];
    uint8_t all = (uint8_t)((1u << x->nv) - 1);
    if (x->seen == 0 && !x->bad) {
      if (x->dropped) {
        t->dropped++; /* never sent, by design */
        continue;
      }
      if (x->sim_ms < e->count_from_sim_ms) {
        t->early++;
        continue;
      }
      if (!t->missing)
        snprintf(t->first_missing, sizeof t->first_missing, "%s boot %u seq %u (sim_ms %lld)",
                 e->node[x->node], x->boot, x->seq, (long long)x->sim_ms);
      t->missing++;
      bool explained = false;
      for (size_t g = 0; g < ngw && !explained; g++) {
        if (gw_at[g] >= x->sim_ms && gw_at[g] - x->sim_ms <= E2E_GW_LOSS_WINDOW_MS &&
            gw_budget[g] > 0) {
          gw_budget[g]--;
          explained = true;
        }
      }
      if (!explained)
        t->unexplained++;
      continue;
    }
    t->expected += x->nv;
    if (x->hist)
      t->hist++;
    if (x->syn)
      t->synthetic++;
    if (x->bad)
      t->mismatched++;
    else if (x->seen != all)
      t->partial++;
    else
      t->stored++;
  }
  free(gw_at);
  free(gw_budget);
}

void e2e_tally_print(const char *what, const struct e2e_tally *t)
{
  printf("%s: ledger %zu readings; store: %zu stored exactly once with equal values, "
         "%zu missing, %zu partial, %zu mismatched, %zu not in the ledger; "
         "%zu rows for %zu expected metric values; %zu replayed (hist), %zu synthetic; "
         "by design: %zu dropped from full node outboxes, %u messages lost at gateway "
         "power-cycles, %u at node restarts\n",
         what, t->ledger, t->stored, t->missing, t->partial, t->mismatched, t->unknown, t->rows,
         t->expected, t->hist, t->synthetic, t->dropped, t->gw_lost, t->node_lost);
  if (t->early)
    printf("%s: %zu readings made before the farm was up are missing\n", what, t->early);
  if (t->missing)
    printf("%s: first missing %s; %zu missing not explained by a gateway power-cycle\n", what,
           t->first_missing, t->unexplained);
  if (t->first_problem[0])
    printf("%s: %s\n", what, t->first_problem);
  fflush(stdout);
}

bool e2e_drain(struct e2e *e, int timeout_ms, struct e2e_tally *t)
{
  /* Paused nodes make no readings, but they keep talking (outboxes drain,
   * and a node that sends nothing reports link.lost and link.back), so the
   * end is judged on the readings: every one stored, or nothing moving any
   * more while the edge holds no unconfirmed telemetry and the gateway no
   * unacknowledged frame. */
  e2e_ctl(e, false, "pause");
  int64_t end = e2e_now_ms() + timeout_ms, still_since = e2e_now_ms();
  size_t last_stored = (size_t)-1, last_rows = (size_t)-1;
  for (;;) {
    e2e_step(e, 500);
    long long uplink = e2e_sim_status(e, "uplink");
    json_t *b = e2e_edge_api(e, "/api/backlog");
    long long next = b ? json_integer_value(json_object_get(b, "next_edge_seq")) : -1;
    long long mark = b ? json_integer_value(json_object_get(b, "watermark")) : -2;
    json_decref(b);
    double pending = e2e_streamer_metric(e, "iot_streamer_pending_readings");
    e2e_tally(e, t);
    bool confirmed = next - 1 == mark && pending == 0;
    if (t->stored != last_stored || t->rows != last_rows) {
      last_stored = t->stored;
      last_rows = t->rows;
      still_since = e2e_now_ms();
    }
    bool all = t->missing == 0 && t->partial == 0;
    if (confirmed && uplink == 0 && (all || e2e_now_ms() - still_since >= 15000))
      return true;
    if (e2e_now_ms() > end) {
      printf("drain: gateway uplink store %lld, edge next_edge_seq %lld and watermark %lld, "
             "%g readings pending in the streamer, %zu missing\n",
             uplink, next, mark, pending, t->missing);
      return false;
    }
  }
}
