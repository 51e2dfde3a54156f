/* SPDX-License-Identifier: MIT */
/*
 * iot-streamer end to end, one suite for both backends (argv[1] = "sqlite"
 * or "postgres"): a real Mosquitto with TLS, passwords and per-site ACLs,
 * the real iot-streamer binary, and the database it writes, checked with
 * the store's own query layer. Covers duplicates, out-of-order and replayed
 * data, the commit watermark, every bad-input class that reaches the
 * streamer, alert rules and their lifecycle, rollups, retention, the live
 * feed's resume, a corrupt SQLite file, configuration refusals, and two
 * streamers splitting the load through a shared subscription.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <glob.h>

#include <civetweb.h>
#include <cmocka.h>

#include "st/db.h"
#include "farm/error.h"
#include "farmd/mqtt.h"
#include "harness.h"

static const char *backend = "sqlite";
static char base[FH_PATH];
static struct fh_broker broker;
static struct fh_pg pg;
static char dbspec[FH_PATH + 32];
static struct st_db *vdb; /* the test's own connection, for checks */
static struct fd_log quiet;

struct streamer {
  struct fh_proc p;
  int http_port;
  char id[32];
};
static struct streamer sa; /* the main streamer, running during most tests */

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- HTTP ---- */

/* GET path on 127.0.0.1:port; returns the status (0 on failure). */
static int http_get(int port, const char *path, char *body, size_t cap)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return 0;
  }
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
  if (write(s, req, (size_t)n) != n) {
    close(s);
    return 0;
  }
  static char buf[65536];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof buf - 1 && (r = read(s, buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)r;
  close(s);
  buf[len] = '\0';
  int status = 0;
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    return 0;
  const char *b = strstr(buf, "\r\n\r\n");
  if (body && cap)
    snprintf(body, cap, "%s", b ? b + 4 : "");
  return status;
}

/* Status of a bodiless request with any method. */
static int http_req(int port, const char *method, const char *path)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return 0;
  }
  char req[256];
  int n = snprintf(req, sizeof req,
                   "%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                   method, path);
  int status = 0;
  char buf[512];
  if (write(s, req, (size_t)n) == n) {
    ssize_t r = read(s, buf, sizeof buf - 1);
    buf[r > 0 ? r : 0] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
      status = 0;
  }
  close(s);
  return status;
}

/* The value of one metric line ("name{labels}" exactly), -1 if absent. */
static long long metric(int port, const char *name)
{
  static char body[65536];
  if (http_get(port, "/metrics", body, sizeof body) != 200)
    return -1;
  size_t nl = strlen(name);
  for (char *line = body; line && *line;) {
    char *next = strchr(line, '\n');
    if (strncmp(line, name, nl) == 0 && line[nl] == ' ')
      return atoll(line + nl + 1);
    line = next ? next + 1 : NULL;
  }
  return -1;
}

/* ---- database checks ---- */

static int first_col(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  char *out = ud;
  snprintf(out, 256, "%s", col[0] ? col[0] : "NULL");
  return 1; /* first row only */
}

/* First column of the first row as text ("" when no row). */
static const char *qs(const char *sql, const struct st_param *p, size_t n)
{
  static char out[256];
  out[0] = '\0';
  int rc = st_db_exec(vdb, sql, p, n, first_col, out);
  if (rc < 0)
    fail_msg("query failed: %s: %s", sql, st_db_error(vdb));
  return out;
}

static long long qi(const char *sql, const struct st_param *p, size_t n)
{
  const char *s = qs(sql, p, n);
  return s[0] ? atoll(s) : -1;
}

static double qd(const char *sql, const struct st_param *p, size_t n)
{
  return strtod(qs(sql, p, n), NULL);
}

static void exec_sql(const char *sql, const struct st_param *p, size_t n)
{
  if (st_db_exec(vdb, sql, p, n, NULL, NULL) != 0)
    fail_msg("statement failed: %s: %s", sql, st_db_error(vdb));
}

static long long watermark(const char *site)
{
  struct st_param p = ST_TEXT(site);
  return qi("SELECT watermark FROM edges WHERE site = $1", &p, 1);
}

static long long readings_of(const char *site)
{
  struct st_param p = ST_TEXT(site);
  return qi("SELECT count(*) FROM readings WHERE site = $1", &p, 1);
}

/* ---- MQTT clients ---- */

#define MAX_MSGS 256
struct client {
  struct fd_mqtt *m;
  struct fh_creds creds;
  int connects;
  int n;
  char topic[MAX_MSGS][128];
  char payload[MAX_MSGS][512];
};

static struct client *open_clients[8];
static size_t nopen;

static void c_connect(void *ud, int reason)
{
  if (reason == 0)
    ((struct client *)ud)->connects++;
}

static void c_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct client *c = ud;
  if (c->n < MAX_MSGS) {
    snprintf(c->topic[c->n], sizeof c->topic[0], "%s", m->topic);
    snprintf(c->payload[c->n], sizeof c->payload[0], "%.*s", (int)m->len, (const char *)m->payload);
    c->n++;
  }
}

static void pump(int ms)
{
  long long end = now_ms() + ms;
  do {
    struct pollfd pfd[8];
    for (size_t i = 0; i < nopen; i++)
      pfd[i] = (struct pollfd){.fd = fd_mqtt_fd(open_clients[i]->m), .events = POLLIN};
    poll(pfd, (nfds_t)nopen, 10);
    for (size_t i = 0; i < nopen; i++)
      if (pfd[i].revents & POLLIN)
        fd_mqtt_dispatch(open_clients[i]->m, 0);
  } while (now_ms() < end);
}

static bool client_up(void *ud)
{
  return ((struct client *)ud)->connects > 0;
}

/* Waits (pumping MQTT clients) until pred holds; false on timeout. */
static bool wait_for(bool (*pred)(void *), void *ud, int timeout_ms)
{
  long long end = now_ms() + timeout_ms;
  while (now_ms() < end) {
    if (pred(ud))
      return true;
    pump(20);
  }
  return pred(ud);
}

static struct client *client_open(const char *user, const char *id)
{
  struct client *c = calloc(1, sizeof *c);
  assert_non_null(c);
  struct fd_mqtt_config cfg;
  fh_broker_mqtt_config(&broker, &c->creds, user, id, &cfg);
  struct fd_mqtt_callbacks cb = {c_connect, NULL, c_message, NULL};
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, &cb, c, &c->m), 0);
  assert_int_equal(fd_mqtt_start(c->m), 0);
  open_clients[nopen++] = c;
  assert_true(wait_for(client_up, c, 10000));
  return c;
}

static void client_close(struct client *c)
{
  for (size_t i = 0; i < nopen; i++) {
    if (open_clients[i] == c) {
      open_clients[i] = open_clients[--nopen];
      break;
    }
  }
  fd_mqtt_free(c->m);
  free(c);
}

static void publish(struct client *c, const char *topic, const char *payload, size_t len)
{
  int rc = fd_mqtt_publish(c->m, topic, payload, len, 1, false, NULL);
  if (rc != 0)
    fail_msg("publish %s: %d", topic, rc);
}

static void publish_s(struct client *c, const char *topic, const char *payload)
{
  publish(c, topic, payload, strlen(payload));
}

/* One telemetry message; v is the inside of the "v" object. */
static void tel(struct client *c, const char *site, const char *dev, long long edge_seq,
                long long boot, long long seq, long long ts, bool hist, const char *v)
{
  char topic[128], payload[512];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/telemetry/env", site, dev);
  snprintf(payload, sizeof payload,
           "{\"edge_seq\":%lld,\"boot\":%lld,\"seq\":%lld,\"ts\":%lld,\"up_ms\":%lld,"
           "\"rssi\":-60,\"hist\":%s,\"synthetic\":false,\"v\":{%s}}",
           edge_seq, boot, seq, ts, seq * 1000, hist ? "true" : "false", v);
  publish_s(c, topic, payload);
}

struct wm_want {
  const char *site;
  long long n;
};

static bool wm_reached(void *ud)
{
  struct wm_want *w = ud;
  return watermark(w->site) >= w->n;
}

static void wait_watermark(const char *site, long long n)
{
  struct wm_want w = {site, n};
  if (!wait_for(wm_reached, &w, 15000))
    fail_msg("watermark of %s is %lld, want %lld", site, watermark(site), n);
}

/* ---- streamer processes ---- */

static char env_store[40][2 * FH_PATH];

static void streamer_start(struct streamer *s, const char *id, const char *group, const char *db)
{
  memset(s, 0, sizeof *s);
  snprintf(s->id, sizeof s->id, "%s", id);
  s->http_port = fh_free_port();
  struct fh_creds cr;
  fh_broker_creds(&broker, "iot-streamer", &cr);
  size_t n = 0;
#define ENV(...) snprintf(env_store[n++], sizeof env_store[0], __VA_ARGS__)
  ENV("STREAMER_MQTT_HOST=localhost");
  ENV("STREAMER_MQTT_PORT=%d", broker.tls_port);
  ENV("STREAMER_MQTT_TLS=true");
  ENV("STREAMER_MQTT_CA=%s", cr.ca);
  ENV("STREAMER_MQTT_CERT=%s", cr.cert);
  ENV("STREAMER_MQTT_KEY=%s", cr.key);
  ENV("STREAMER_MQTT_USERNAME=iot-streamer");
  ENV("STREAMER_MQTT_PASSWORD_FILE=%s/secrets/iot-streamer.password", broker.conf);
  ENV("STREAMER_MQTT_CLIENT_ID=%s", id);
  ENV("STREAMER_SHARED_GROUP=%s", group ? group : "");
  ENV("STREAMER_DB=%s", db);
  ENV("STREAMER_HTTP_LISTEN=127.0.0.1:%d", s->http_port);
  ENV("STREAMER_HTTP_THREADS=8");
  ENV("STREAMER_LOG_LEVEL=debug");
  ENV("STREAMER_BATCH_MS=10");
  ENV("STREAMER_ALERT_TICK_MS=100");
  ENV("STREAMER_RULES_REFRESH=1");
  ENV("STREAMER_RETENTION_INTERVAL=1");
  ENV("STREAMER_RETENTION_RAW=604800");
  ENV("STREAMER_RETENTION_MINUTE=1209600");
  ENV("STREAMER_RETENTION_HOUR=0");
  ENV("STREAMER_LIVE_BUFFER=1000");
#undef ENV
  const char *env[41];
  for (size_t i = 0; i < n; i++)
    env[i] = env_store[i];
  env[n] = NULL;
  char bin[FH_PATH + 32], log[FH_PATH + 64];
  snprintf(bin, sizeof bin, "%s/iot-streamer", fh_bin_dir());
  snprintf(log, sizeof log, "%s/%s.log", base, id);
  const char *argv[] = {bin, NULL};
  fh_spawn(&s->p, argv, env, log, NULL);
  char body[512];
  long long end = now_ms() + 20000;
  while (now_ms() < end) {
    if (!fh_alive(&s->p))
      break;
    if (http_get(s->http_port, "/healthz", body, sizeof body) == 200)
      return;
    sleep_ms(50);
  }
  fh_dump_log(&s->p, 4000);
  fail_msg("streamer %s did not become healthy", id);
}

static void streamer_stop(struct streamer *s)
{
  if (s->p.pid && fh_stop(&s->p, SIGTERM, 10000) != 0) {
    fh_dump_log(&s->p, 4000);
    fail_msg("streamer %s did not stop cleanly", s->id);
  }
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
  (void)state;
  fd_log_init(&quiet, "test", FD_LOG_ERROR, NULL);
  mg_init_library(0);
  fh_tmpdir(base, "streamer");
  const char *sites[] = {"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s10", NULL};
  fh_broker_setup(&broker, base, sites);
  if (strcmp(backend, "postgres") == 0) {
    fh_pg_start(&pg, base);
    snprintf(dbspec, sizeof dbspec, "%s", pg.url);
  } else {
    snprintf(dbspec, sizeof dbspec, "%s/streamer.db", base);
  }
  streamer_start(&sa, "st-a", NULL, dbspec);
  char err[256];
  if (st_db_open(dbspec, &quiet, &vdb, NULL, err, sizeof err) != 0)
    fh_die("verifier cannot open %s: %s", dbspec, err);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  st_db_close(vdb);
  if (sa.p.pid)
    fh_stop(&sa.p, SIGTERM, 10000);
  if (pg.proc.pid)
    fh_pg_stop(&pg);
  fh_broker_stop(&broker);
  fh_rmtree(base);
  return 0;
}

static int test_teardown(void **state)
{
  (void)state;
  while (nopen)
    client_close(open_clients[0]);
  return 0;
}

/* ---- tests ---- */

static void test_config_refused(void **state)
{
  (void)state;
  char bin[FH_PATH + 32], log[FH_PATH + 32], ini[FH_PATH + 32];
  snprintf(bin, sizeof bin, "%s/iot-streamer", fh_bin_dir());
  snprintf(log, sizeof log, "%s/config.log", base);
  snprintf(ini, sizeof ini, "%s/bad.ini", base);
  FILE *f = fopen(ini, "w");
  assert_non_null(f);
  fputs("db = /tmp/x.db\n[mqtt]\nport = 88x3\n", f);
  fclose(f);

  struct fh_proc p;
  const char *argv1[] = {bin, "--check-config", NULL};
  const char *env1[] = {"STREAMER_BOGUS=1", NULL};
  fh_spawn(&p, argv1, env1, log, NULL);
  assert_int_equal(fh_wait(&p, 5000), 2);
  const char *argv2[] = {bin, "-c", ini, NULL};
  fh_spawn(&p, argv2, NULL, log, NULL);
  assert_int_equal(fh_wait(&p, 5000), 2);
  const char *env3[] = {"STREAMER_MQTT_PORT=0", NULL};
  fh_spawn(&p, argv1, env3, log, NULL);
  assert_int_equal(fh_wait(&p, 5000), 2);
  char *out = fh_read_file(log);
  assert_non_null(out);
  assert_non_null(strstr(out, "configuration refused: environment STREAMER_BOGUS: unknown key 'bogus'"));
  char want[FH_PATH + 128];
  snprintf(want, sizeof want, "configuration refused: %s:3: 'mqtt_port' expects an integer, got '88x3'", ini);
  assert_non_null(strstr(out, want));
  assert_non_null(strstr(out, "environment STREAMER_MQTT_PORT: 'mqtt_port' = 0 is outside [1, 65535]"));
  free(out);
}

static void test_duplicates_and_out_of_order(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s1", "t-edge-s1");
  long long t0 = wall_ms() - 3600000;
  /* seq order 3,1,2,5,4 and two resends of seq 2 and 5 with new edge_seqs
   * (what an edge does after a reconnect), plus a second boot. */
  const int seqs[] = {3, 1, 2, 5, 4, 2, 5};
  long long es = 0;
  for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
    char v[128];
    snprintf(v, sizeof v, "\"temp_c\":%d.5,\"rh_pct\":%d", 20 + seqs[i], 40 + seqs[i]);
    tel(e, "s1", "a1b2c3d4e5f6", ++es, 7, seqs[i], t0 + seqs[i] * 1000LL, false, v);
  }
  tel(e, "s1", "a1b2c3d4e5f6", ++es, 8, 1, t0 + 10000, false, "\"temp_c\":30");
  wait_watermark("s1", es);

  /* 5 distinct (boot 7) seqs × 2 metrics + 1 reading of boot 8. */
  assert_int_equal(readings_of("s1"), 11);
  struct st_param p[] = {ST_TEXT("a1b2c3d4e5f6"), ST_TEXT("temp_c")};
  assert_int_equal(qi("SELECT count(DISTINCT seq) FROM readings WHERE device = $1 AND metric = $2 AND boot = 7", p, 2), 5);
  assert_true(qd("SELECT value FROM readings WHERE device = $1 AND metric = $2 AND boot = 7 AND seq = 4", p, 2) == 24.5);
  /* The first copy of seq 2 is the one kept: edge_seq 3, not the resend 6. */
  assert_int_equal(qi("SELECT edge_seq FROM readings WHERE device = $1 AND metric = $2 AND boot = 7 AND seq = 2", p, 2), 3);
  assert_int_equal(qi("SELECT up_ms FROM readings WHERE device = $1 AND metric = $2 AND boot = 7 AND seq = 2", p, 2), 2000);
  assert_int_equal(qi("SELECT rssi FROM readings WHERE device = $1 AND metric = $2 AND boot = 7 AND seq = 2", p, 2), -60);
  assert_string_equal(qs("SELECT grp FROM readings WHERE device = $1 AND metric = $2 AND boot = 7 AND seq = 2", p, 2), "env");
  assert_false(st_db_bool(qs("SELECT hist FROM readings WHERE device = $1 AND metric = $2 AND boot = 7 AND seq = 2", p, 2)));
  /* Duplicates never count twice in the rollups. */
  assert_int_equal(qi("SELECT sum(count) FROM rollup_minute WHERE device = $1 AND metric = $2", p, 2), 6);
  assert_int_equal(qi("SELECT sum(count) FROM rollup_hour WHERE device = $1 AND metric = $2", p, 2), 6);
  /* Latest is the newest reading time, whatever the arrival order. */
  assert_int_equal(qi("SELECT ts FROM latest WHERE device = $1 AND metric = $2", p, 2), t0 + 10000);
  assert_true(qd("SELECT value FROM latest WHERE device = $1 AND metric = $2", p, 2) == 30.0);
  assert_string_equal(qs("SELECT site FROM devices WHERE device = $1", p, 1), "s1");
  assert_int_equal(metric(sa.http_port, "iot_streamer_readings_duplicate_total"), 4);
}

static void test_watermark_waits_for_gaps(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s2", "t-edge-s2");
  assert_int_equal(fd_mqtt_subscribe(e->m, "v1/farm/s2/edge/commit", 1, false), 0);
  pump(200);
  long long t0 = wall_ms() - 60000;
  long long order[] = {1, 2, 4, 5};
  for (size_t i = 0; i < 4; i++)
    tel(e, "s2", "d2", order[i], 1, order[i], t0 + order[i], false, "\"lux\":100");
  wait_watermark("s2", 2);
  pump(500); /* 4 and 5 are stored but 3 is missing: it must stay at 2 */
  assert_int_equal(readings_of("s2"), 4);
  assert_int_equal(watermark("s2"), 2);
  tel(e, "s2", "d2", 3, 1, 3, t0 + 3, false, "\"lux\":100");
  wait_watermark("s2", 5);
  pump(300);
  /* Published retained on v1/farm/s2/edge/commit; the last one says 5. */
  assert_true(e->n > 0);
  assert_string_equal(e->topic[e->n - 1], "v1/farm/s2/edge/commit");
  assert_string_equal(e->payload[e->n - 1], "{\"edge_seq\":5}");
  /* A new subscriber gets the retained value at once. */
  struct client *late = client_open("edge-s2", "t-edge-s2-late");
  assert_int_equal(fd_mqtt_subscribe(late->m, "v1/farm/s2/edge/commit", 1, false), 0);
  pump(500);
  assert_int_equal(late->n, 1);
  assert_string_equal(late->payload[0], "{\"edge_seq\":5}");

  /* The edge says everything below 10 was confirmed before (a database
   * that lost them, or a fresh one): the watermark jumps to 9. */
  publish_s(e, "v1/farm/s2/edge/status", "{\"online\":true,\"backlog_first_edge_seq\":10}");
  wait_watermark("s2", 9);
  tel(e, "s2", "d2", 10, 1, 10, t0 + 10, false, "\"lux\":100");
  wait_watermark("s2", 10);
  struct st_param p = ST_TEXT("s2");
  assert_non_null(strstr(qs("SELECT status FROM edges WHERE site = $1", &p, 1), "backlog_first_edge_seq"));
}

struct bad_msg {
  const char *topic;
  const char *payload;
  const char *reason;
};

static void test_bad_inputs_are_counted_and_dropped(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s3", "t-edge-s3");
  static const char *const reasons[] = {"topic", "oversize", "json", "field", "range"};
  long long before[5];
  for (int i = 0; i < 5; i++) {
    char name[96];
    snprintf(name, sizeof name, "iot_streamer_rejected_total{reason=\"%s\"}", reasons[i]);
    before[i] = metric(sa.http_port, name);
    assert_true(before[i] >= 0);
  }
  const char *T = "v1/farm/s3/d3/telemetry/env";
  static const struct bad_msg bad[] = {
      /* BAD-INPUTS §14: topics outside the tree's shape. */
      {"v1/farm/s3/D3/telemetry/env", "{}", "topic"},
      {"v1/farm/s3/d3/telemetry/env/extra", "{}", "topic"},
      {"v1/farm/s3/d3/telemetry", "{}", "topic"},
      {"v1/farm/s3/d.3/status", "{}", "topic"},
      {"v1/farm/s3/d3/whatever", "{}", "topic"},
      {"v1/farm/s3/edge/telemetry/env", "{}", "topic"},
      /* §15: not JSON, wrong shape. */
      {NULL, "not json at all", "json"},
      {NULL, "[1,2,3]", "json"},
      {NULL, "{\"edge_seq\":1,\"edge_seq\":2}", "json"},
      {NULL, "{\"edge_seq\":\"\xff\xfe\"}", "json"},
      {NULL, "", "json"},
      {NULL, "{\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", "field"},
      {NULL, "{\"edge_seq\":1,\"boot\":\"1\",\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", "field"},
      {NULL, "{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":[1]}", "field"},
      {NULL, "{\"edge_seq\":3,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":\"hot\"}}", "field"},
      /* §13: physically impossible values, out-of-range fields. */
      {NULL, "{\"edge_seq\":4,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"temp_c\":900}}", "range"},
      {NULL, "{\"edge_seq\":5,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"rh_pct\":101}}", "range"},
      {NULL, "{\"edge_seq\":6,\"boot\":-1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", "range"},
      {NULL, "{\"edge_seq\":7,\"boot\":1,\"seq\":1,\"ts\":5,\"v\":{\"t\":1}}", "range"},
      {NULL, "{\"edge_seq\":8,\"boot\":1,\"seq\":1,\"ts\":99999999999999,\"v\":{\"t\":1}}", "range"},
      {NULL, "{\"edge_seq\":9,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"Bad-Name\":1}}", "range"},
      {"v1/farm/s3/d3/status", "{\"online\":\"maybe\"}", "field"},
      {"v1/farm/s3/d3/event", "{\"type\":\"Not An Id\"}", "range"},
      {"v1/farm/s3/edge/status", "nope", "json"},
  };
  long long want[5] = {0};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    publish_s(e, bad[i].topic ? bad[i].topic : T, bad[i].payload);
    for (int k = 0; k < 5; k++)
      want[k] += strcmp(bad[i].reason, reasons[k]) == 0;
  }
  /* §15: an oversized payload (the default limit is 16 KiB). */
  static char big[20000];
  memset(big, ' ', sizeof big);
  publish(e, T, big, sizeof big);
  want[1]++;
  /* A good one last: everything before it has been handled once it is in. */
  long long ts = wall_ms() - 1000;
  tel(e, "s3", "d3", 10, 1, 1, ts, false, "\"temp_c\":21");
  /* The refused messages with a readable edge_seq (1..9) count as handled. */
  wait_watermark("s3", 10);
  for (int k = 0; k < 5; k++) {
    char name[96];
    snprintf(name, sizeof name, "iot_streamer_rejected_total{reason=\"%s\"}", reasons[k]);
    long long got = metric(sa.http_port, name) - before[k];
    if (got != want[k])
      fail_msg("rejected{%s}: got %lld want %lld", reasons[k], got, want[k]);
  }
  /* Nothing of the bad ones was stored; the streamer is still healthy. */
  assert_int_equal(readings_of("s3"), 1);
  struct st_param p = ST_TEXT("s3");
  assert_int_equal(qi("SELECT count(*) FROM events WHERE site = $1", &p, 1), 0);
  assert_int_equal(qi("SELECT count(*) FROM devices WHERE site = $1 AND status IS NOT NULL", &p, 1), 0);
  char body[256];
  assert_int_equal(http_get(sa.http_port, "/healthz", body, sizeof body), 200);
  assert_non_null(strstr(body, "\"status\":\"ok\""));
  /* HTTP refusals: unknown path, wrong method. */
  assert_int_equal(http_get(sa.http_port, "/nothing-here", NULL, 0), 404);
  assert_int_equal(http_req(sa.http_port, "POST", "/healthz"), 405);
  assert_int_equal(http_req(sa.http_port, "DELETE", "/metrics"), 405);
}

static bool rules_loaded(void *ud)
{
  return metric(sa.http_port, "iot_streamer_alert_rules") == *(long long *)ud;
}

/* SIGHUP, then wait until the streamer reports exactly n rules loaded. */
static void reload_rules(long long n)
{
  kill(sa.p.pid, SIGHUP);
  if (!wait_for(rules_loaded, &n, 10000))
    fail_msg("streamer has %lld rules, want %lld", metric(sa.http_port, "iot_streamer_alert_rules"), n);
}

static long long add_rule(const char *name, const char *kind, const char *site, const char *device,
                          const char *metric_name, const char *op, double threshold, bool has_threshold,
                          long long duration_ms)
{
  struct st_param p[] = {ST_TEXT(name), ST_TEXT(kind), ST_TEXT(site),
                         device ? ST_TEXT(device) : ST_NULLP,
                         metric_name ? ST_TEXT(metric_name) : ST_NULLP, op ? ST_TEXT(op) : ST_NULLP,
                         has_threshold ? ST_F64(threshold) : ST_NULLP, ST_I64(duration_ms)};
  return qi("INSERT INTO alert_rules (name, kind, site, device, metric, op, threshold, duration_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            p, 8);
}

static long long alerts_in(const char *device, const char *state)
{
  struct st_param p[] = {ST_TEXT(device), ST_TEXT(state)};
  return qi("SELECT count(*) FROM alerts WHERE device = $1 AND state = $2", p, 2);
}

struct alert_want {
  const char *device, *state;
  long long n;
};

static bool alerts_reach(void *ud)
{
  struct alert_want *w = ud;
  return alerts_in(w->device, w->state) >= w->n;
}

static void wait_alerts(const char *device, const char *state, long long n)
{
  struct alert_want w = {device, state, n};
  if (!wait_for(alerts_reach, &w, 10000))
    fail_msg("%s: %lld alerts %s, want %lld", device, alerts_in(device, state), state, n);
}

static void test_history_does_not_raise_live_alerts(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s4", "t-edge-s4");
  add_rule("too hot", "threshold", "s4", NULL, "temp_c", ">", 30, true, 0);
  reload_rules(1);
  long long t0 = wall_ms() - 600000;
  /* Replayed backlog, far above the threshold: stored, flagged, no alert. */
  for (int i = 1; i <= 5; i++)
    tel(e, "s4", "d4", i, 1, i, t0 + i * 1000, true, "\"temp_c\":45");
  wait_watermark("s4", 5);
  assert_int_equal(readings_of("s4"), 5);
  struct st_param p = ST_TEXT("s4");
  assert_int_equal(qi("SELECT count(*) FROM readings WHERE site = $1 AND hist", &p, 1), 5);
  pump(300);
  assert_int_equal(alerts_in("d4", "open"), 0);
  /* The same value live opens one alert; cooling down resolves it. */
  tel(e, "s4", "d4", 6, 1, 6, t0 + 6000, false, "\"temp_c\":45");
  wait_alerts("d4", "open", 1);
  tel(e, "s4", "d4", 7, 1, 7, t0 + 7000, false, "\"temp_c\":46");
  wait_watermark("s4", 7);
  assert_int_equal(alerts_in("d4", "open"), 1); /* not a second one */
  tel(e, "s4", "d4", 8, 1, 8, t0 + 8000, false, "\"temp_c\":25");
  wait_alerts("d4", "resolved", 1);
  assert_int_equal(alerts_in("d4", "open"), 0);
}

static bool has_event_state(void *ud)
{
  struct client *c = ud;
  for (int i = 0; i < c->n; i++)
    if (strstr(c->payload[i], "\"state\":\"acknowledged\""))
      return true;
  return false;
}

static void test_alert_rules_and_lifecycle(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s5", "t-edge-s5");
  struct client *gw = client_open("web-gateway", "t-gw");
  assert_int_equal(fd_mqtt_subscribe(gw->m, "v1/farm/s5/+/event", 1, false), 0);
  add_rule("hot for a minute", "threshold", "s5", "th", "temp_c", ">=", 30, true, 60000);
  add_rule("fast change", "rate", "s5", "rt", "lux", ">", 100, true, 0);
  add_rule("stuck sensor", "flatline", "s5", "fl", "rh_pct", NULL, 0.01, true, 10000);
  add_rule("offline", "offline", "s5", "off", NULL, NULL, 3, true, 0);
  reload_rules(5);
  long long t0 = wall_ms() - 900000;
  long long es = 0;

  /* Threshold for a duration, on reading time: 30 at t0, t0+30 s: not yet;
   * t0+60 s: held for 60 s, opens. */
  tel(e, "s5", "th", ++es, 1, 1, t0, false, "\"temp_c\":30");
  tel(e, "s5", "th", ++es, 1, 2, t0 + 30000, false, "\"temp_c\":35");
  wait_watermark("s5", es);
  assert_int_equal(alerts_in("th", "open"), 0);
  /* A dip below resets the clock. */
  tel(e, "s5", "th", ++es, 1, 3, t0 + 40000, false, "\"temp_c\":29");
  tel(e, "s5", "th", ++es, 1, 4, t0 + 50000, false, "\"temp_c\":31");
  tel(e, "s5", "th", ++es, 1, 5, t0 + 100000, false, "\"temp_c\":31");
  wait_watermark("s5", es);
  assert_int_equal(alerts_in("th", "open"), 0);
  tel(e, "s5", "th", ++es, 1, 6, t0 + 110000, false, "\"temp_c\":32");
  wait_alerts("th", "open", 1);

  /* Rate: 10 -> 20 in 1 s is 10/s, not > 100; 20 -> 1000 in 2 s is 490/s. */
  tel(e, "s5", "rt", ++es, 1, 1, t0, false, "\"lux\":10");
  tel(e, "s5", "rt", ++es, 1, 2, t0 + 1000, false, "\"lux\":20");
  wait_watermark("s5", es);
  assert_int_equal(alerts_in("rt", "open"), 0);
  tel(e, "s5", "rt", ++es, 1, 3, t0 + 3000, false, "\"lux\":1000");
  wait_alerts("rt", "open", 1);
  struct st_param rp = ST_TEXT("rt");
  assert_true(qd("SELECT value FROM alerts WHERE device = $1", &rp, 1) == 490.0);
  tel(e, "s5", "rt", ++es, 1, 4, t0 + 4000, false, "\"lux\":1001");
  wait_alerts("rt", "resolved", 1);

  /* Flatline: within 0.01 for 10 s of reading time opens; a move resolves. */
  tel(e, "s5", "fl", ++es, 1, 1, t0, false, "\"rh_pct\":50");
  tel(e, "s5", "fl", ++es, 1, 2, t0 + 5000, false, "\"rh_pct\":50.005");
  wait_watermark("s5", es);
  assert_int_equal(alerts_in("fl", "open"), 0);
  tel(e, "s5", "fl", ++es, 1, 3, t0 + 10000, false, "\"rh_pct\":50");
  wait_alerts("fl", "open", 1);
  tel(e, "s5", "fl", ++es, 1, 4, t0 + 11000, false, "\"rh_pct\":55");
  wait_alerts("fl", "resolved", 1);

  /* Offline: a device that says it reports every 200 ms, k = 3. */
  publish_s(e, "v1/farm/s5/off/status", "{\"online\":true,\"interval_ms\":200}");
  wait_alerts("off", "open", 1);
  struct st_param op = ST_TEXT("off");
  assert_true(qi("SELECT interval_ms FROM devices WHERE device = $1", &op, 1) == 200);
  tel(e, "s5", "off", ++es, 1, 1, wall_ms(), false, "\"lux\":1");
  wait_alerts("off", "resolved", 1);
  /* Retire the rule, or the silent device keeps raising it. */
  exec_sql("UPDATE alert_rules SET enabled = FALSE WHERE kind = 'offline'", NULL, 0);
  reload_rules(4);

  /* Acknowledge the open threshold alert from the web-gateway. */
  struct st_param tp = ST_TEXT("th");
  long long id = qi("SELECT id FROM alerts WHERE device = $1 AND state = 'open'", &tp, 1);
  assert_true(id > 0);
  char ack[96];
  snprintf(ack, sizeof ack, "{\"id\":%lld,\"by\":\"alice\"}", id);
  publish_s(gw, "v1/cloud/alerts/ack", ack);
  wait_alerts("th", "acknowledged", 1);
  assert_string_equal(qs("SELECT ack_by FROM alerts WHERE device = $1", &tp, 1), "alice");
  /* Every transition went out as an event on the device's topic. */
  assert_true(wait_for(has_event_state, gw, 5000));
  bool saw_open = false;
  for (int i = 0; i < gw->n; i++)
    if (strstr(gw->payload[i], "\"state\":\"open\"") && strstr(gw->topic[i], "/th/event"))
      saw_open = true;
  assert_true(saw_open);
  /* Acknowledged, then resolved when the temp_c comes down. */
  tel(e, "s5", "th", ++es, 1, 7, t0 + 120000, false, "\"temp_c\":20");
  wait_alerts("th", "resolved", 1);
  assert_true(qi("SELECT resolved_ts FROM alerts WHERE device = $1", &tp, 1) > 0);
  /* Alert events arrive back through the broker and are kept as events. */
  struct st_param sp = ST_TEXT("s5");
  assert_true(qi("SELECT count(*) FROM events WHERE site = $1 AND type = 'alert'", &sp, 1) >= 4);
}

static void test_rollups(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s6", "t-edge-s6");
  long long h = (wall_ms() / 3600000 - 3) * 3600000; /* an hour boundary, 3 h ago */
  /* minute h: 10, 20, 30; minute h+1m: 5; next hour: -2 and 8. */
  struct {
    long long ts;
    const char *v;
  } in[] = {{h + 1000, "\"x\":10"},     {h + 30000, "\"x\":20"},      {h + 59999, "\"x\":30"},
            {h + 60000, "\"x\":5"},     {h + 3600000, "\"x\":-2"},     {h + 3659999, "\"x\":8"}};
  for (int i = 0; i < 6; i++)
    tel(e, "s6", "d6", i + 1, 1, i + 1, in[i].ts, false, in[i].v);
  /* The same readings again (a replay after reconnect): no effect. */
  for (int i = 0; i < 6; i++)
    tel(e, "s6", "d6", i + 7, 1, i + 1, in[i].ts, true, in[i].v);
  wait_watermark("s6", 12);
  struct st_param p[] = {ST_TEXT("d6"), ST_I64(h)};
  assert_int_equal(qi("SELECT count FROM rollup_minute WHERE device = $1 AND bucket = $2", p, 2), 3);
  assert_true(qd("SELECT min FROM rollup_minute WHERE device = $1 AND bucket = $2", p, 2) == 10);
  assert_true(qd("SELECT max FROM rollup_minute WHERE device = $1 AND bucket = $2", p, 2) == 30);
  assert_true(qd("SELECT sum FROM rollup_minute WHERE device = $1 AND bucket = $2", p, 2) == 60);
  assert_true(qd("SELECT sum / count FROM rollup_minute WHERE device = $1 AND bucket = $2", p, 2) == 20);
  struct st_param p1[] = {ST_TEXT("d6"), ST_I64(h + 60000)};
  assert_int_equal(qi("SELECT count FROM rollup_minute WHERE device = $1 AND bucket = $2", p1, 2), 1);
  assert_int_equal(qi("SELECT count(*) FROM rollup_minute WHERE device = $1", p, 1), 3); /* h, h+1 min, h+60 min */
  assert_int_equal(qi("SELECT count FROM rollup_hour WHERE device = $1 AND bucket = $2", p, 2), 4);
  assert_true(qd("SELECT min FROM rollup_hour WHERE device = $1 AND bucket = $2", p, 2) == 5);
  assert_true(qd("SELECT max FROM rollup_hour WHERE device = $1 AND bucket = $2", p, 2) == 30);
  struct st_param p2[] = {ST_TEXT("d6"), ST_I64(h + 3600000)};
  assert_int_equal(qi("SELECT count FROM rollup_hour WHERE device = $1 AND bucket = $2", p2, 2), 2);
  assert_true(qd("SELECT min FROM rollup_hour WHERE device = $1 AND bucket = $2", p2, 2) == -2);
  assert_true(qd("SELECT sum FROM rollup_hour WHERE device = $1 AND bucket = $2", p2, 2) == 6);
}

struct ret_want {
  long long n;
};

static bool old_gone(void *ud)
{
  (void)ud;
  struct st_param p = ST_TEXT("s9");
  return qi("SELECT count(*) FROM readings WHERE site = $1", &p, 1) == 1 &&
         qi("SELECT count(*) FROM rollup_minute WHERE site = $1", &p, 1) == 1;
}

static void test_retention(void **state)
{
  (void)state;
  long long now = wall_ms();
  const char *ins = "INSERT INTO readings (site, device, metric, ts, value, boot, seq, edge_seq,"
                    " hist, synthetic, received_ts, grp) VALUES ('s9', 'd9', 'x', $1, 1, 1, $2, 1,"
                    " FALSE, FALSE, $1, 'g')";
  struct st_param old[] = {ST_I64(now - 8LL * 86400000), ST_I64(1)};   /* past 7 days */
  struct st_param fresh[] = {ST_I64(now - 6LL * 86400000), ST_I64(2)}; /* within */
  exec_sql(ins, old, 2);
  exec_sql(ins, fresh, 2);
  const char *roll_m = "INSERT INTO rollup_minute (device, metric, bucket, site, min, max, sum, count)"
                       " VALUES ('d9', 'x', $1, 's9', 1, 1, 1, 1)";
  const char *roll_h = "INSERT INTO rollup_hour (device, metric, bucket, site, min, max, sum, count)"
                       " VALUES ('d9', 'x', $1, 's9', 1, 1, 1, 1)";
  struct st_param m_old = ST_I64(now - 15LL * 86400000), m_new = ST_I64(now - 13LL * 86400000);
  exec_sql(roll_m, &m_old, 1);
  exec_sql(roll_m, &m_new, 1);
  struct st_param h_old = ST_I64(now - 400LL * 86400000); /* hour rollups: kept forever */
  exec_sql(roll_h, &h_old, 1);
  assert_true(wait_for(old_gone, NULL, 10000));
  struct st_param p = ST_TEXT("s9");
  assert_int_equal(qi("SELECT seq FROM readings WHERE site = $1", &p, 1), 2);
  assert_int_equal(qi("SELECT count(*) FROM rollup_hour WHERE site = $1", &p, 1), 1);

  /* A reading that arrives already past retention is not stored, but its
   * edge_seq is handled. */
  struct client *e = client_open("edge-s6", "t-edge-s6-ret");
  tel(e, "s6", "d6old", 13, 1, 1, now - 9LL * 86400000, true, "\"x\":1");
  wait_watermark("s6", 13);
  struct st_param d = ST_TEXT("d6old");
  assert_int_equal(qi("SELECT count(*) FROM readings WHERE device = $1", &d, 1), 0);
  assert_true(metric(sa.http_port, "iot_streamer_readings_expired_total") >= 1);
}

/* ---- WebSocket client for /live ---- */

struct ws {
  pthread_mutex_t lock;
  int n;
  char items[64][600];
  bool closed;
};

static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *ud)
{
  (void)conn;
  struct ws *w = ud;
  if ((flags & 0xf) != MG_WEBSOCKET_OPCODE_TEXT)
    return 1;
  /* Other tests' sites share the feed: keep the greeting and site s7. */
  char text[600];
  snprintf(text, sizeof text, "%.*s", (int)len, data);
  if (!strstr(text, "\"type\":\"hello\"") && !strstr(text, "\"type\":\"reset\"") &&
      !strstr(text, "\"site\":\"s7\""))
    return 1;
  pthread_mutex_lock(&w->lock);
  if (w->n < 64)
    snprintf(w->items[w->n++], sizeof w->items[0], "%.*s", (int)len, data);
  pthread_mutex_unlock(&w->lock);
  return 1;
}

static void ws_close(const struct mg_connection *conn, void *ud)
{
  (void)conn;
  struct ws *w = ud;
  pthread_mutex_lock(&w->lock);
  w->closed = true;
  pthread_mutex_unlock(&w->lock);
}

static struct mg_connection *ws_open(struct ws *w, const char *cursor)
{
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->lock, NULL);
  char path[160], err[256];
  snprintf(path, sizeof path, "/live%s%s", cursor ? "?cursor=" : "", cursor ? cursor : "");
  struct mg_connection *c = mg_connect_websocket_client("127.0.0.1", sa.http_port, 0, err, sizeof err,
                                                        path, NULL, ws_data, ws_close, w);
  if (!c)
    fail_msg("websocket: %s", err);
  return c;
}

static int ws_count(struct ws *w)
{
  pthread_mutex_lock(&w->lock);
  int n = w->n;
  pthread_mutex_unlock(&w->lock);
  return n;
}

struct ws_want {
  struct ws *w;
  int n;
};

static bool ws_has(void *ud)
{
  struct ws_want *x = ud;
  return ws_count(x->w) >= x->n;
}

/* The value of "key":"..." in a JSON text, into out. */
static const char *jstr(const char *json, const char *key, char *out, size_t cap)
{
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(json, pat);
  out[0] = '\0';
  if (p) {
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
  }
  return out;
}

static long long jint(const char *json, const char *key)
{
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  return p ? atoll(p + strlen(pat)) : -1;
}

static void test_live_feed_resumes(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s7", "t-edge-s7");
  struct ws w1;
  struct mg_connection *c1 = ws_open(&w1, NULL);
  struct ws_want h1 = {&w1, 1};
  assert_true(wait_for(ws_has, &h1, 5000));
  char type[32];
  assert_string_equal(jstr(w1.items[0], "type", type, sizeof type), "hello");
  long long t0 = wall_ms() - 1000;
  for (int i = 1; i <= 5; i++)
    tel(e, "s7", "d7", i, 1, i, t0 + i, false, "\"lux\":1");
  struct ws_want h6 = {&w1, 6};
  assert_true(wait_for(ws_has, &h6, 5000));
  char cursor[64];
  for (int i = 1; i <= 5; i++) {
    assert_string_equal(jstr(w1.items[i], "type", type, sizeof type), "telemetry");
    assert_int_equal(jint(w1.items[i], "seq"), i);
  }
  jstr(w1.items[5], "cursor", cursor, sizeof cursor);
  mg_close_connection(c1);

  /* Missed while away: 6..10. */
  for (int i = 6; i <= 10; i++)
    tel(e, "s7", "d7", i, 1, i, t0 + i, false, "\"lux\":1");
  wait_watermark("s7", 10);
  pump(100);
  struct ws w2;
  struct mg_connection *c2 = ws_open(&w2, cursor);
  struct ws_want h2 = {&w2, 6};
  assert_true(wait_for(ws_has, &h2, 5000));
  assert_string_equal(jstr(w2.items[0], "type", type, sizeof type), "hello");
  assert_non_null(strstr(w2.items[0], "\"resumed\":true"));
  for (int i = 1; i <= 5; i++)
    assert_int_equal(jint(w2.items[i], "seq"), 5 + i);
  /* And live again afterwards, nothing twice. */
  tel(e, "s7", "d7", 11, 1, 11, t0 + 11, false, "\"lux\":1");
  struct ws_want h3 = {&w2, 7};
  assert_true(wait_for(ws_has, &h3, 5000));
  pump(200);
  assert_int_equal(ws_count(&w2), 7);
  assert_int_equal(jint(w2.items[6], "seq"), 11);
  mg_close_connection(c2);

  /* A cursor from another run: reset first. */
  struct ws w3;
  struct mg_connection *c3 = ws_open(&w3, "12345-1");
  struct ws_want h4 = {&w3, 1};
  assert_true(wait_for(ws_has, &h4, 5000));
  assert_string_equal(jstr(w3.items[0], "type", type, sizeof type), "reset");
  mg_close_connection(c3);
  pthread_mutex_destroy(&w1.lock);
  pthread_mutex_destroy(&w2.lock);
  pthread_mutex_destroy(&w3.lock);
}

static void test_corrupt_sqlite_is_moved_aside(void **state)
{
  (void)state;
  char path[FH_PATH + 32];
  snprintf(path, sizeof path, "%s/corrupt.db", base);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < 200; i++)
    fputs("this is not a database file at all. ", f);
  fclose(f);
  struct streamer sd;
  streamer_start(&sd, "st-d", NULL, path);
  assert_int_equal(metric(sd.http_port, "iot_streamer_db_recovered_total"), 1);
  streamer_stop(&sd);
  char pattern[FH_PATH + 48];
  snprintf(pattern, sizeof pattern, "%s.corrupt-*", path);
  glob_t g;
  assert_int_equal(glob(pattern, 0, NULL, &g), 0);
  assert_int_equal(g.gl_pathc, 1);
  char *moved = fh_read_file(g.gl_pathv[0]);
  assert_non_null(moved);
  assert_non_null(strstr(moved, "this is not a database"));
  free(moved);
  globfree(&g);
  char *log = fh_read_file(sd.p.log);
  assert_non_null(strstr(log, "is damaged"));
  free(log);
}

static bool healthz_is(int want)
{
  return http_get(sa.http_port, "/healthz", NULL, 0) == want;
}

static bool degraded(void *ud)
{
  (void)ud;
  return healthz_is(503);
}

static bool healthy(void *ud)
{
  (void)ud;
  return healthz_is(200);
}

/* BAD-INPUTS §26: the database goes away under load and comes back. */
static void test_database_outage_loses_nothing(void **state)
{
  (void)state;
  struct client *e = client_open("edge-s10", "t-edge-s10");
  long long t0 = wall_ms() - 100000;
  for (int i = 1; i <= 20; i++)
    tel(e, "s10", "d10", i, 1, i, t0 + i, false, "\"lux\":5");
  wait_watermark("s10", 20);
  long long errors = metric(sa.http_port, "iot_streamer_batch_errors_total");
  fh_pg_stop(&pg);
  for (int i = 21; i <= 60; i++)
    tel(e, "s10", "d10", i, 1, i, t0 + i, false, "\"lux\":5");
  assert_true(wait_for(degraded, NULL, 10000));
  assert_true(metric(sa.http_port, "iot_streamer_batch_errors_total") > errors);
  assert_int_equal(metric(sa.http_port, "iot_streamer_db_ok"), 0);
  fh_pg_restart(&pg);
  /* The test's own connection notices the restart on its first query. */
  st_db_exec(vdb, "SELECT 1", NULL, 0, NULL, NULL);
  st_db_exec(vdb, "SELECT 1", NULL, 0, NULL, NULL);
  wait_watermark("s10", 60);
  assert_int_equal(readings_of("s10"), 60);
  assert_true(wait_for(healthy, NULL, 10000));
}

struct shared_want {
  long long readings;
};

static bool shared_done(void *ud)
{
  struct shared_want *w = ud;
  return watermark("s8") >= 300 && readings_of("s8") >= w->readings;
}

static void test_shared_group_splits_without_loss_or_duplicates(void **state)
{
  (void)state;
  /* Only the two group members may ingest during this test. */
  streamer_stop(&sa);
  struct streamer sb, sc;
  streamer_start(&sb, "st-b", "ingest", dbspec);
  streamer_start(&sc, "st-c", "ingest", dbspec);
  struct client *e = client_open("edge-s8", "t-edge-s8");
  long long t0 = wall_ms() - 120000;
  for (int i = 1; i <= 300; i++)
    tel(e, "s8", i % 2 ? "d8a" : "d8b", i, 1, i, t0 + i, false, "\"temp_c\":20,\"rh_pct\":50");
  struct shared_want w = {600};
  if (!wait_for(shared_done, &w, 30000))
    fail_msg("shared group: watermark %lld, readings %lld", watermark("s8"), readings_of("s8"));
  pump(300);
  assert_int_equal(readings_of("s8"), 600);
  struct st_param p = ST_TEXT("s8");
  assert_int_equal(qi("SELECT count(*) FROM (SELECT DISTINCT device, seq, metric FROM readings WHERE site = $1) AS u", &p, 1), 600);
  long long b = metric(sb.http_port, "iot_streamer_readings_stored_total");
  long long c = metric(sc.http_port, "iot_streamer_readings_stored_total");
  /* Each reading was stored by exactly one member, and both did work. */
  assert_int_equal(b + c, 600);
  assert_true(b > 0);
  assert_true(c > 0);
  assert_int_equal(metric(sb.http_port, "iot_streamer_readings_duplicate_total") +
                       metric(sc.http_port, "iot_streamer_readings_duplicate_total"),
                   0);
  streamer_stop(&sb);
  streamer_stop(&sc);
}

int main(int argc, char **argv)
{
  if (argc > 1)
    backend = argv[1];
  if (strcmp(backend, "sqlite") != 0 && strcmp(backend, "postgres") != 0) {
    fprintf(stderr, "usage: %s sqlite|postgres\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_config_refused, test_teardown),
      cmocka_unit_test_teardown(test_duplicates_and_out_of_order, test_teardown),
      cmocka_unit_test_teardown(test_watermark_waits_for_gaps, test_teardown),
      cmocka_unit_test_teardown(test_bad_inputs_are_counted_and_dropped, test_teardown),
      cmocka_unit_test_teardown(test_history_does_not_raise_live_alerts, test_teardown),
      cmocka_unit_test_teardown(test_alert_rules_and_lifecycle, test_teardown),
      cmocka_unit_test_teardown(test_rollups, test_teardown),
      cmocka_unit_test_teardown(test_retention, test_teardown),
      cmocka_unit_test_teardown(test_live_feed_resumes, test_teardown),
      /* SQLite only: a damaged file is a SQLite matter. */
      cmocka_unit_test_teardown(test_corrupt_sqlite_is_moved_aside, test_teardown),
      /* PostgreSQL only: the server is a separate process that can go away. */
      cmocka_unit_test_teardown(test_database_outage_loses_nothing, test_teardown),
      /* Last: it stops the main streamer. */
      cmocka_unit_test_teardown(test_shared_group_splits_without_loss_or_duplicates, test_teardown),
  };
  size_t n = sizeof tests / sizeof tests[0];
  struct CMUnitTest run[sizeof tests / sizeof tests[0]];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (tests[i].test_func == test_corrupt_sqlite_is_moved_aside && strcmp(backend, "sqlite") != 0)
      continue;
    if (tests[i].test_func == test_database_outage_loses_nothing && strcmp(backend, "postgres") != 0)
      continue;
    run[k++] = tests[i];
  }
  cmocka_set_message_output(CM_OUTPUT_STDOUT);
  return _cmocka_run_group_tests(backend, run, k, group_setup, group_teardown);
}
