/* SPDX-License-Identifier: MIT */
/*
 * `ml-engine run` end to end: a real Mosquitto set up as deploy/mosquitto
 * does it (TLS, passwords, the ACL file of the repository) on a free
 * loopback port, the real ml-engine binary logged in as the ml-engine user,
 * an edge publishing telemetry and the web-gateway user watching events and
 * the retained model state.
 *
 * The series is NAB's art_daily_jumpsup (a daily cycle at 5-minute steps
 * with one labelled anomaly window), scaled as a temperature: 2 + v / 4 °C,
 * so nights are about 6.5 °C and days about 22 °C. Published at full speed:
 * live, it gives exactly one anomaly event, inside the labelled window, at
 * the reading the library itself flags; replayed as history, none (and the
 * history is learned: a live reading beyond it alerts at once); as
 * synthetic readings, none and nothing learned. Sensor faults (out of
 * range, spike, stuck) give one event each; malformed messages are counted
 * by class; a restart resumes from the checkpoint and flags the same
 * reading as an uninterrupted run; a damaged checkpoint is moved aside and
 * what precedes the damage is kept.
 */
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <glob.h>
#include <jansson.h>

#include "farm/error.h"
#include "farmd/mqtt.h"
#include "harness.h"
#include "ml/csv.h"
#include "ml/detector.h"
#include "ml/faults.h"
#include "ml/forecast.h"

#define SITE    "s1"
#define D_PROBE "a1b2c3d4e500"
#define D_LIVE  "a1b2c3d4e501"
#define D_HIST  "a1b2c3d4e502"
#define D_SYN   "a1b2c3d4e503"
#define D_FAULT "a1b2c3d4e504"
#define D_CKPT  "a1b2c3d4e505"

static char base[FH_PATH];
static struct fh_broker broker;
static struct fh_proc engine;
static struct fd_log quiet;

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the NAB series ---- */

#define NAB_ROWS 4032
static int64_t nab_ts[NAB_ROWS];
static double nab_t[NAB_ROWS]; /* scaled to °C */
/* The labelled window of art_daily_jumpsup (labels/combined_windows.json). */
static int64_t win_lo, win_hi;

static void load_nab(void)
{
  char path[FH_PATH + 128];
  const char *shared = getenv("FARM_SHARED_DIR");
  if (!shared)
    fh_die("FARM_SHARED_DIR is not set");
  snprintf(path, sizeof path, "%s/data/nab/data/artificialWithAnomaly/art_daily_jumpsup.csv",
           shared);
  FILE *f = fopen(path, "r");
  if (!f)
    fh_die("cannot open %s", path);
  char line[ML_CSV_MAX_LINE + 2];
  int n = 0;
  if (!fgets(line, sizeof line, f))
    fh_die("%s: empty", path);
  while (fgets(line, sizeof line, f)) {
    size_t len = strcspn(line, "\r\n");
    struct ml_csv_row row;
    if (ml_csv_parse_row(line, len, &row, NULL) != 0 || n >= NAB_ROWS)
      fh_die("%s: unexpected row %d", path, n + 2);
    nab_ts[n] = row.ts_us / 1000;
    nab_t[n] = 2.0 + row.value / 4.0;
    n++;
  }
  fclose(f);
  if (n != NAB_ROWS)
    fh_die("%s: %d rows, expected %d", path, n, NAB_ROWS);
  int64_t us;
  if (ml_time_parse("2014-04-10 16:15:00.000000", 26, &us) != 0)
    fh_die("window start");
  win_lo = us / 1000;
  if (ml_time_parse("2014-04-12 01:45:00.000000", 26, &us) != 0)
    fh_die("window end");
  win_hi = us / 1000;
}

/* What the library says about the series through the same pipeline as the
 * service (fault checker, then detector): the times of its detections. */
static int library_detections(int64_t *at, int cap)
{
  static struct ml_faults flt;
  static struct ml_detector det;
  struct ml_fault_config fc;
  ml_fault_config_for_metric("temp_c", &fc);
  assert_int_equal(ml_faults_init(&flt, &fc), 0);
  assert_int_equal(ml_detector_init(&det, NULL), 0);
  int n = 0;
  for (int i = 0; i < NAB_ROWS; i++) {
    struct ml_fault_result r;
    assert_int_equal(ml_faults_update(&flt, nab_ts[i], nab_t[i], ML_FAULT_LIVE, &r), 0);
    assert_int_equal(r.n, 0); /* the series has no sensor fault */
    if (!r.released)
      continue;
    double s;
    assert_int_equal(ml_detector_update(&det, r.value, &s), 0);
    if (ml_detector_is_detection(&det, s)) {
      if (n < cap)
        at[n] = r.ts_ms;
      n++;
    }
  }
  return n;
}

/* ---- MQTT clients ---- */

#define MAX_EVENTS  256
#define MAX_DEVICES 16

struct observer {
  struct fd_mqtt *m;
  struct fh_creds creds;
  int connects;
  int nev;
  char ev_dev[MAX_EVENTS][32];
  char *ev[MAX_EVENTS];
  int nml;
  char ml_dev[MAX_DEVICES][32];
  char *ml[MAX_DEVICES];
};

struct publisher {
  struct fd_mqtt *m;
  struct fh_creds creds;
  int connects;
  long long edge_seq;
};

static struct observer obs;
static struct publisher edge;

static void obs_connect(void *ud, int reason)
{
  if (reason == 0)
    ((struct observer *)ud)->connects++;
}

static void pub_connect(void *ud, int reason)
{
  if (reason == 0)
    ((struct publisher *)ud)->connects++;
}

/* Topic v1/farm/SITE/DEVICE/KIND: copies DEVICE, returns KIND. */
static const char *split(const char *topic, char dev[32])
{
  const char *p = topic + strlen("v1/farm/" SITE "/");
  const char *slash = strchr(p, '/');
  if (!slash || slash - p >= 32)
    return "";
  memcpy(dev, p, (size_t)(slash - p));
  dev[slash - p] = '\0';
  return slash + 1;
}

static void obs_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct observer *o = ud;
  char dev[32];
  const char *kind = split(m->topic, dev);
  char *copy = strndup(m->payload, m->len);
  assert_non_null(copy);
  if (strcmp(kind, "event") == 0 && o->nev < MAX_EVENTS) {
    snprintf(o->ev_dev[o->nev], 32, "%s", dev);
    o->ev[o->nev++] = copy;
    return;
  }
  if (strcmp(kind, "ml") == 0) {
    for (int i = 0; i < o->nml; i++) {
      if (strcmp(o->ml_dev[i], dev) == 0) {
        free(o->ml[i]);
        o->ml[i] = copy;
        return;
      }
    }
    if (o->nml < MAX_DEVICES) {
      snprintf(o->ml_dev[o->nml], 32, "%s", dev);
      o->ml[o->nml++] = copy;
      return;
    }
  }
  free(copy);
}

static void pump(int ms)
{
  long long end = now_ms() + ms;
  do {
    struct pollfd pfd[2] = {{.fd = fd_mqtt_fd(obs.m), .events = POLLIN},
                            {.fd = edge.m ? fd_mqtt_fd(edge.m) : -1, .events = POLLIN}};
    poll(pfd, 2, 10);
    if (pfd[0].revents & POLLIN)
      fd_mqtt_dispatch(obs.m, 0);
    if (pfd[1].revents & POLLIN)
      fd_mqtt_dispatch(edge.m, 0);
  } while (now_ms() < end);
}

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

static bool obs_up(void *ud)
{
  (void)ud;
  return obs.connects > 0;
}

static bool edge_up(void *ud)
{
  (void)ud;
  return edge.connects > 0;
}

static void clients_open(void)
{
  struct fd_mqtt_config cfg;
  fh_broker_mqtt_config(&broker, &obs.creds, "web-gateway", "test-observer", &cfg);
  struct fd_mqtt_callbacks ocb = {obs_connect, NULL, obs_message, NULL};
  if (fd_mqtt_new(&cfg, &quiet, &ocb, &obs, &obs.m) != 0 ||
      fd_mqtt_subscribe(obs.m, "v1/farm/+/+/event", 1, false) != 0 ||
      fd_mqtt_subscribe(obs.m, "v1/farm/+/+/ml", 1, false) != 0 || fd_mqtt_start(obs.m) != 0)
    fh_die("observer client");
  /* One connection at a time: libmosquitto sets up a process-wide TLS
   * object lazily on the first connect, and two network threads doing it
   * at once leak one of them. */
  if (!wait_for(obs_up, NULL, 15000))
    fh_die("observer did not connect");
  fh_broker_mqtt_config(&broker, &edge.creds, "edge-" SITE, "test-edge", &cfg);
  struct fd_mqtt_callbacks pcb = {pub_connect, NULL, NULL, NULL};
  if (fd_mqtt_new(&cfg, &quiet, &pcb, &edge, &edge.m) != 0 || fd_mqtt_start(edge.m) != 0)
    fh_die("edge client");
  if (!wait_for(edge_up, NULL, 15000))
    fh_die("edge did not connect");
}

static void publish_raw(const char *topic, const void *payload, size_t len)
{
  /* The client's queue is large; a refusal would be a test failure. */
  for (int attempt = 0;; attempt++) {
    int rc = fd_mqtt_publish(edge.m, topic, payload, len, 1, false, NULL);
    if (rc == 0)
      return;
    if (attempt > 200)
      fail_msg("publish on %s: %s", topic, farm_strerror(rc));
    pump(10);
  }
}

/* One telemetry message; v is the inside of the "v" object. */
static void tel(const char *dev, int64_t ts, bool hist, bool synthetic, const char *v)
{
  char topic[128], payload[512];
  snprintf(topic, sizeof topic, "v1/farm/" SITE "/%s/telemetry/env", dev);
  edge.edge_seq++;
  snprintf(payload, sizeof payload,
           "{\"edge_seq\":%lld,\"boot\":1,\"seq\":%lld,\"ts\":%" PRId64
           ",\"up_ms\":1000,\"rssi\":-60,\"hist\":%s,\"synthetic\":%s,\"v\":{%s}}",
           edge.edge_seq, edge.edge_seq, ts, hist ? "true" : "false", synthetic ? "true" : "false",
           v);
  publish_raw(topic, payload, strlen(payload));
}

static void tel_temp(const char *dev, int64_t ts, double t, bool hist, bool synthetic)
{
  char v[64];
  snprintf(v, sizeof v, "\"temp_c\":%.17g", t);
  tel(dev, ts, hist, synthetic, v);
}

/* ---- what the observer saw ---- */

static const char *ml_of(const char *dev)
{
  for (int i = 0; i < obs.nml; i++)
    if (strcmp(obs.ml_dev[i], dev) == 0)
      return obs.ml[i];
  return NULL;
}

/* metrics.<metric> of a device's latest status, or NULL (a new reference). */
static json_t *ml_metric(const char *dev, const char *metric)
{
  const char *p = ml_of(dev);
  if (!p)
    return NULL;
  json_t *o = json_loads(p, 0, NULL);
  assert_non_null(o);
  json_t *m = json_object_get(json_object_get(o, "metrics"), metric);
  if (m)
    json_incref(m);
  json_decref(o);
  return m;
}

static long long ml_readings(const char *dev)
{
  json_t *m = ml_metric(dev, "temp_c");
  long long n = m ? json_integer_value(json_object_get(m, "readings")) : -1;
  json_decref(m);
  return n;
}

struct want_readings {
  const char *dev;
  long long n;
};

static bool readings_reached(void *ud)
{
  struct want_readings *w = ud;
  return ml_readings(w->dev) == w->n;
}

static void wait_readings(const char *dev, long long n)
{
  struct want_readings w = {dev, n};
  if (!wait_for(readings_reached, &w, 40000)) {
    fh_dump_log(&engine, 3000);
    fail_msg("%s: status shows %lld readings, want %lld", dev, ml_readings(dev), n);
  }
  pump(300); /* events published before that status are in by now */
}

/* Events of a device, optionally of one type: count, and the i-th as JSON. */
static int events(const char *dev, const char *type, json_t **out, int cap)
{
  int n = 0;
  for (int i = 0; i < obs.nev; i++) {
    if (strcmp(obs.ev_dev[i], dev) != 0)
      continue;
    json_t *o = json_loads(obs.ev[i], 0, NULL);
    assert_non_null(o);
    /* Every event names its device and metric and says why. */
    assert_string_equal(json_string_value(json_object_get(o, "device")), dev);
    assert_non_null(json_string_value(json_object_get(o, "metric")));
    assert_non_null(json_string_value(json_object_get(o, "reason")));
    assert_true(json_is_number(json_object_get(o, "score")));
    assert_true(json_is_number(json_object_get(o, "value")));
    assert_true(json_is_integer(json_object_get(o, "ts")));
    if (type && strcmp(json_string_value(json_object_get(o, "type")), type) != 0) {
      json_decref(o);
      continue;
    }
    if (n < cap && out)
      out[n] = o;
    else
      json_decref(o);
    n++;
  }
  return n;
}

/* The last "stats" line of the engine's log: the value of key=, or -1. */
static long long stat_of(const char *key)
{
  char *log = fh_read_file(engine.log);
  if (!log)
    return -1;
  char *line = NULL;
  for (char *p = strstr(log, "stats ("); p; p = strstr(p + 1, "stats ("))
    line = p;
  long long v = -1;
  if (line) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    char *at = strstr(line, pat);
    if (at)
      v = atoll(at + strlen(pat));
  }
  free(log);
  return v;
}

/* ---- the engine ---- */

static char env_store[24][2 * FH_PATH];

static void engine_start(void)
{
  struct fh_creds cr;
  fh_broker_creds(&broker, "ml-engine", &cr);
  size_t n = 0;
#define ENV(...) snprintf(env_store[n++], sizeof env_store[0], __VA_ARGS__)
  ENV("ML_MQTT_HOST=localhost");
  ENV("ML_MQTT_PORT=%d", broker.tls_port);
  ENV("ML_MQTT_TLS=true");
  ENV("ML_MQTT_CAFILE=%s", cr.ca);
  ENV("ML_MQTT_CERTFILE=%s", cr.cert);
  ENV("ML_MQTT_KEYFILE=%s", cr.key);
  ENV("ML_MQTT_USERNAME=ml-engine");
  ENV("ML_MQTT_PASSWORD_FILE=%s/secrets/ml-engine.password", broker.conf);
  ENV("ML_MQTT_CLIENT_ID=ml-engine-test");
  ENV("ML_STATE_DIR=%s/state", base);
  ENV("ML_PUBLISH_S=1");
  ENV("ML_STATS_S=1");
  ENV("ML_CHECKPOINT_S=3600");
  ENV("ML_FROST_C=1.0");
  ENV("ML_LOG_LEVEL=debug");
#undef ENV
  const char *env[25];
  for (size_t i = 0; i < n; i++)
    env[i] = env_store[i];
  env[n] = NULL;
  char bin[FH_PATH + 32], log[FH_PATH + 32];
  snprintf(bin, sizeof bin, "%s/ml-engine", fh_bin_dir());
  snprintf(log, sizeof log, "%s/ml-engine.log", base);
  const char *argv[] = {bin, "run", NULL};
  fh_spawn(&engine, argv, env, log, NULL);
}

struct want_probe {
  long long n;
};

static bool probe_seen(void *ud)
{
  return ml_readings(D_PROBE) >= ((struct want_probe *)ud)->n;
}

/* Ready once a probe reading has gone through it: the subscription is
 * live and status publications come back. Also a barrier: a probe is
 * handled after every message the edge published before it. A probe sent
 * before the subscription existed is lost, so another follows every two
 * seconds until the count moves. */
static void engine_barrier(void)
{
  static int64_t probe_ts = 1700000000000LL;
  long long end = now_ms() + 30000;
  while (now_ms() < end && fh_alive(&engine)) {
    struct want_probe w = {ml_readings(D_PROBE) + 1};
    tel_temp(D_PROBE, probe_ts, 15.0 + (double)(probe_ts / 60000 % 7) * 0.1, false, false);
    probe_ts += 60000;
    if (wait_for(probe_seen, &w, 2000))
      return;
  }
  fh_dump_log(&engine, 4000);
  fail_msg("ml-engine did not handle a probe reading");
}

static int group_setup(void **state)
{
  (void)state;
  fd_log_init(&quiet, "test", FD_LOG_ERROR, NULL);
  load_nab();
  fh_tmpdir(base, "mlsvc");
  const char *sites[] = {SITE, NULL};
  fh_broker_setup(&broker, base, sites);
  clients_open();
  engine_start();
  engine_barrier();
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  if (engine.pid)
    fh_stop(&engine, SIGTERM, 10000);
  fd_mqtt_free(obs.m);
  fd_mqtt_free(edge.m);
  for (int i = 0; i < obs.nev; i++)
    free(obs.ev[i]);
  for (int i = 0; i < obs.nml; i++)
    free(obs.ml[i]);
  fh_broker_stop(&broker);
  fh_rmtree(base);
  return 0;
}

/* ---- tests ---- */

static void test_live_series_one_anomaly_in_window(void **state)
{
  (void)state;
  int64_t expect[8];
  /* The library flags one reading of the series, inside the window. */
  assert_int_equal(library_detections(expect, 8), 1);
  assert_true(expect[0] >= win_lo && expect[0] <= win_hi);

  for (int i = 0; i < NAB_ROWS; i++)
    tel_temp(D_LIVE, nab_ts[i], nab_t[i], false, false);
  wait_readings(D_LIVE, NAB_ROWS);

  json_t *ev[8];
  assert_int_equal(events(D_LIVE, NULL, NULL, 0), 1); /* no fault, no frost */
  assert_int_equal(events(D_LIVE, "anomaly", ev, 8), 1);
  assert_string_equal(json_string_value(json_object_get(ev[0], "metric")), "temp_c");
  assert_string_equal(json_string_value(json_object_get(ev[0], "reason")), "score_above_threshold");
  int64_t ts = json_integer_value(json_object_get(ev[0], "ts"));
  assert_true(ts == expect[0]);
  assert_true(ts >= win_lo && ts <= win_hi);
  int at = 0;
  while (nab_ts[at] != ts)
    at++;
  assert_true(json_number_value(json_object_get(ev[0], "value")) == nab_t[at]);
  assert_true(json_number_value(json_object_get(ev[0], "score")) >= ML_DEFAULT_THRESHOLD);
  json_decref(ev[0]);

  /* The retained state: past learning, a 12-hour forecast on 15-minute
   * buckets for the night after the series and the next morning, equal to
   * the library's and following the learned day (about 6.5 °C at night,
   * 22 °C by late morning). */
  json_t *m = ml_metric(D_LIVE, "temp_c");
  assert_non_null(m);
  assert_true(json_is_false(json_object_get(m, "learning")));
  assert_true(json_integer_value(json_object_get(m, "ts")) == nab_ts[NAB_ROWS - 2]);
  json_t *fc = json_object_get(m, "forecast");
  assert_true(json_is_object(fc));
  assert_int_equal(json_integer_value(json_object_get(fc, "step_s")), 900);
  json_t *pts = json_object_get(fc, "points");
  assert_int_equal(json_array_size(pts), 48);

  static struct ml_forecaster lib;
  assert_int_equal(ml_forecaster_init(&lib, NULL), 0);
  for (int i = 0; i < NAB_ROWS - 1; i++) /* the last reading is still held */
    assert_int_equal(ml_forecaster_update(&lib, nab_ts[i], nab_t[i], NULL), 0);
  for (size_t h = 1; h <= 48; h++) {
    json_t *p = json_array_get(pts, h - 1);
    struct ml_forecast f;
    assert_int_equal(ml_forecaster_predict(&lib, (uint32_t)h, &f), 0);
    assert_true(json_integer_value(json_array_get(p, 0)) == f.ts_ms);
    double v = json_number_value(json_array_get(p, 1));
    double lo = json_number_value(json_array_get(p, 2)),
           hi = json_number_value(json_array_get(p, 3));
    assert_true(fabs(v - f.value) <= 1e-5 * fabs(f.value));
    assert_true(lo < v && v < hi);
  }
  double first = json_number_value(json_array_get(json_array_get(pts, 0), 1));
  double last = json_number_value(json_array_get(json_array_get(pts, 47), 1));
  assert_true(first > 5.5 && first < 8.5);
  assert_true(last > 18.0 && last < 26.0);
  json_t *frost = json_object_get(m, "frost");
  assert_true(json_number_value(json_object_get(frost, "threshold")) == 1.0);
  assert_true(json_number_value(json_object_get(frost, "min")) > 1.0);
  json_decref(m);
}

static void test_history_learned_without_events(void **state)
{
  (void)state;
  for (int i = 0; i < NAB_ROWS; i++)
    tel_temp(D_HIST, nab_ts[i], nab_t[i], true, false);
  wait_readings(D_HIST, NAB_ROWS);
  assert_int_equal(events(D_HIST, NULL, NULL, 0), 0);
  json_t *m = ml_metric(D_HIST, "temp_c");
  assert_true(json_is_false(json_object_get(m, "learning")));
  json_decref(m);

  /* Learned: the first live reading beyond everything seen alerts at once
   * (a fresh stream would still be learning for 300 readings). It is
   * released when the next one shows it is no spike. */
  int64_t t = nab_ts[NAB_ROWS - 1];
  tel_temp(D_HIST, t + 300000, 60.0, false, false);
  tel_temp(D_HIST, t + 600000, 60.0, false, false);
  wait_readings(D_HIST, NAB_ROWS + 2);
  json_t *ev[4];
  assert_int_equal(events(D_HIST, NULL, NULL, 0), 1);
  assert_int_equal(events(D_HIST, "anomaly", ev, 4), 1);
  assert_true(json_integer_value(json_object_get(ev[0], "ts")) == t + 300000);
  assert_true(json_number_value(json_object_get(ev[0], "value")) == 60.0);
  assert_true(json_number_value(json_object_get(ev[0], "score")) == 1.0);
  json_decref(ev[0]);
  /* A late or repeated reading is not learned. */
  long long late = stat_of("late");
  tel_temp(D_HIST, t + 600000, 60.0, false, false);
  tel_temp(D_HIST, nab_ts[10], 20.0, true, false);
  engine_barrier();
  pump(1500);
  assert_int_equal(ml_readings(D_HIST), NAB_ROWS + 2);
  assert_int_equal(stat_of("late"), late + 2);
}

static void test_synthetic_ignored(void **state)
{
  (void)state;
  long long before = stat_of("synthetic");
  for (int i = 0; i < NAB_ROWS; i++)
    tel_temp(D_SYN, nab_ts[i], nab_t[i], false, true);
  engine_barrier();
  pump(1500); /* a stats line after the barrier */
  assert_int_equal(events(D_SYN, NULL, NULL, 0), 0);
  assert_null(ml_of(D_SYN));
  assert_int_equal(stat_of("synthetic"), before + NAB_ROWS);
}

static void test_sensor_faults(void **state)
{
  (void)state;
  /* One reading a minute, 20 °C with ±0.1 °C and 55 %RH: at reading 60,
   * 130 °C (out of range); at 100, 29 °C and back (a spike); from 200, 18.5
   * °C unchanged for 80 minutes (stuck once it has lasted an hour, at 260). */
  const int64_t t0 = 1710000000000LL;
  unsigned s = 12345;
  int i = 0;
  for (; i < 300; i++) {
    s = s * 1103515245u + 12345u;
    double t = 20.0 + ((double)(s >> 16 & 0x7fff) / 32767.0 - 0.5) * 0.2;
    if (i == 60)
      t = 130.0;
    if (i == 100)
      t = 29.0;
    if (i >= 200 && i < 280)
      t = 18.5;
    char v[96];
    snprintf(v, sizeof v, "\"temp_c\":%.17g,\"rh_pct\":%.17g", t, 55.0 + (i % 5) * 0.3);
    tel(D_FAULT, t0 + i * 60000LL, false, false, v);
  }
  wait_readings(D_FAULT, 300);
  json_t *ev[8];
  assert_int_equal(events(D_FAULT, NULL, NULL, 0), 3);
  assert_int_equal(events(D_FAULT, "sensor_fault", ev, 8), 3);
  const char *reasons[] = {"out_of_range", "spike", "stuck"};
  const int64_t at[] = {t0 + 60 * 60000LL, t0 + 100 * 60000LL, t0 + 260 * 60000LL};
  const double val[] = {130.0, 29.0, 18.5};
  for (int k = 0; k < 3; k++) {
    assert_string_equal(json_string_value(json_object_get(ev[k], "metric")), "temp_c");
    assert_string_equal(json_string_value(json_object_get(ev[k], "reason")), reasons[k]);
    assert_true(json_integer_value(json_object_get(ev[k], "ts")) == at[k]);
    assert_true(json_number_value(json_object_get(ev[k], "value")) == val[k]);
    assert_non_null(json_string_value(json_object_get(ev[k], "detail")));
  }
  assert_true(json_number_value(json_object_get(ev[0], "limit")) == 125.0);
  assert_string_equal(json_string_value(json_object_get(ev[0], "detail")),
                      "130 is outside the sensor's range -40..125");
  /* "jump from <before> to 29 and back to <after>, beyond 5" (5 °C: the
   * spike minimum of temp_c is above 10 mean steps of this noise). */
  const char *spike = json_string_value(json_object_get(ev[1], "detail"));
  assert_non_null(strstr(spike, " to 29 and back to "));
  assert_true(strlen(spike) > 10 && strcmp(spike + strlen(spike) - 10, ", beyond 5") == 0);
  assert_string_equal(json_string_value(json_object_get(ev[2], "detail")),
                      "18.5 unchanged for 3600 s (61 readings)");
  assert_true(json_integer_value(json_object_get(ev[2], "since")) == t0 + 200 * 60000LL);
  for (int k = 0; k < 3; k++)
    json_decref(ev[k]);
  /* Both metrics have their state; the stuck episode ended at 280. */
  json_t *m = ml_metric(D_FAULT, "temp_c");
  assert_int_equal(json_array_size(json_object_get(m, "faults")), 0);
  json_decref(m);
  m = ml_metric(D_FAULT, "rh_pct");
  assert_non_null(m);
  assert_int_equal(json_integer_value(json_object_get(m, "readings")), 300);
  json_decref(m);
}

static void test_malformed_counted(void **state)
{
  (void)state;
  long long before = stat_of("malformed");
  const char *t = "v1/farm/" SITE "/" D_FAULT "/telemetry/env";
  static const struct {
    const char *payload;
    const char *cls;
  } bad[] = {
      {"not json", "json"},
      {"[1,2]", "json"},
      {"{\"ts\":1710000000000,\"ts\":1710000000001,\"v\":{\"temp_c\":1}}", "json"},
      {"", "json"},
      {"{}", "field"},
      {"{\"ts\":\"soon\",\"v\":{\"temp_c\":1}}", "field"},
      {"{\"ts\":1710000000000,\"v\":[1]}", "field"},
      {"{\"ts\":1710000000000,\"v\":{\"temp_c\":\"hot\"}}", "field"},
      {"{\"ts\":1710000000000,\"hist\":\"yes\",\"v\":{\"temp_c\":1}}", "field"},
      {"{\"ts\":5,\"v\":{\"temp_c\":1}}", "range"},
      {"{\"ts\":1710000000000,\"v\":{}}", "range"},
      {"{\"ts\":1710000000000,\"v\":{\"Temp\":1}}", "range"},
  };
  const size_t nbad = sizeof bad / sizeof bad[0];
  long long cls_before[4];
  const char *classes[] = {"malformed_json", "malformed_field", "malformed_range",
                           "malformed_topic"};
  for (int k = 0; k < 4; k++)
    cls_before[k] = stat_of(classes[k]);
  for (size_t k = 0; k < nbad; k++)
    publish_raw(t, bad[k].payload, strlen(bad[k].payload));
  /* A wrong topic (an id with capitals) and an oversized payload. */
  static const char good[] = "{\"ts\":1710000000000,\"v\":{\"temp_c\":1}}";
  publish_raw("v1/farm/" SITE "/A1B2C3D4E5F6/telemetry/env", good, strlen(good));
  static char big[20000];
  memset(big, ' ', sizeof big);
  memcpy(big, good, strlen(good));
  publish_raw(t, big, sizeof big);
  engine_barrier();
  pump(1500);
  assert_true(fh_alive(&engine));
  assert_int_equal(stat_of("malformed"), before + (long long)nbad + 2);
  assert_int_equal(stat_of("malformed_json"), cls_before[0] + 4);
  assert_int_equal(stat_of("malformed_field"), cls_before[1] + 5);
  assert_int_equal(stat_of("malformed_range"), cls_before[2] + 3);
  assert_int_equal(stat_of("malformed_topic"), cls_before[3] + 1);
  assert_true(stat_of("malformed_oversize") >= 1);
  /* Nothing of it reached a stream: D_FAULT still has its 300 readings. */
  assert_int_equal(ml_readings(D_FAULT), 300);
}

static void test_checkpoint_restart_continues(void **state)
{
  (void)state;
  int64_t expect[8];
  assert_int_equal(library_detections(expect, 8), 1);
  const int half = 2000; /* before the anomaly window */
  for (int i = 0; i < half; i++)
    tel_temp(D_CKPT, nab_ts[i], nab_t[i], false, false);
  wait_readings(D_CKPT, half);
  /* SIGTERM: handled readings are checkpointed, exit status 0. */
  assert_int_equal(fh_stop(&engine, SIGTERM, 15000), 0);
  engine_start();
  engine_barrier();
  char *log = fh_read_file(engine.log);
  assert_non_null(log);
  assert_non_null(strstr(log, "restored 6 streams")); /* probe, live, hist, fault x2, ckpt */
  free(log);
  for (int i = half; i < NAB_ROWS; i++)
    tel_temp(D_CKPT, nab_ts[i], nab_t[i], false, false);
  /* The count goes on from the checkpoint: not 2032 readings but all. */
  wait_readings(D_CKPT, NAB_ROWS);
  json_t *ev[4];
  assert_int_equal(events(D_CKPT, NULL, NULL, 0), 1);
  assert_int_equal(events(D_CKPT, "anomaly", ev, 4), 1);
  /* The very reading an uninterrupted run flags. */
  assert_true(json_integer_value(json_object_get(ev[0], "ts")) == expect[0]);
  json_decref(ev[0]);
}

static void test_damaged_checkpoint_moved_aside(void **state)
{
  (void)state;
  assert_int_equal(fh_stop(&engine, SIGTERM, 15000), 0);
  char path[FH_PATH + 32];
  snprintf(path, sizeof path, "%s/state/streams.ckpt", base);
  /* One bit flipped in the last record (the most recently used stream). */
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, -40, SEEK_END), 0);
  int c = fgetc(f);
  assert_int_equal(fseek(f, -40, SEEK_END), 0);
  fputc(c ^ 0x08, f);
  assert_int_equal(fclose(f), 0);
  engine_start();
  engine_barrier();
  assert_true(fh_alive(&engine));
  char *log = fh_read_file(engine.log);
  assert_non_null(log);
  assert_non_null(strstr(log, "CRC mismatch"));
  assert_non_null(strstr(log, "5 streams restored"));
  free(log);
  char pattern[FH_PATH + 48];
  snprintf(pattern, sizeof pattern, "%s.corrupt-*", path);
  glob_t g;
  assert_int_equal(glob(pattern, 0, NULL, &g), 0);
  assert_int_equal(g.gl_pathc, 1);
  globfree(&g);
  /* A fresh checkpoint was written at start, and the engine goes on. */
  FILE *again = fopen(path, "rb");
  assert_non_null(again);
  fclose(again);
}

static void test_clean_exit(void **state)
{
  (void)state;
  /* SIGTERM: status 0 (a sanitizer build would exit otherwise on a leak),
   * the final statistics and checkpoint. */
  assert_int_equal(fh_stop(&engine, SIGTERM, 15000), 0);
  char *log = fh_read_file(engine.log);
  assert_non_null(log);
  int stops = 0; /* the log is appended to by every run: three stops so far */
  for (char *p = strstr(log, "stats (exit)"); p; p = strstr(p + 1, "stats (exit)"))
    stops++;
  assert_int_equal(stops, 3);
  free(log);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_live_series_one_anomaly_in_window),
      cmocka_unit_test(test_history_learned_without_events),
      cmocka_unit_test(test_synthetic_ignored),
      cmocka_unit_test(test_sensor_faults),
      cmocka_unit_test(test_malformed_counted),
      cmocka_unit_test(test_checkpoint_restart_continues),
      cmocka_unit_test(test_damaged_checkpoint_moved_aside),
      cmocka_unit_test(test_clean_exit),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
