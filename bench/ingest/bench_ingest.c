/* SPDX-License-Identifier: MIT */
/*
 * Ingest benchmark: how many readings per second iot-streamer stores on
 * each backend, against mosquitto_sub draining the very same messages from
 * the same broker to /dev/null in the same run (both subscribe before an
 * edge publishes N telemetry messages of 3 metrics each, QoS 1 over TLS).
 * The ratio streamer/mosquitto_sub is the figure (targets: >= 0.8 on
 * SQLite, >= 0.5 on PostgreSQL); the broker, the certificates and the
 * PostgreSQL cluster are made for the run and removed after it.
 *
 *   bench-ingest [--quick] [--messages N]
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st/db.h"
#include "farmd/mqtt.h"
#include "harness.h"

static char base[FH_PATH];
static struct fh_broker broker;
static struct fd_log quiet;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int row_i64(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  *(long long *)ud = col[0] ? atoll(col[0]) : 0;
  return 1;
}

static long long watermark(struct st_db *db)
{
  long long wm = 0;
  st_db_exec(db, "SELECT watermark FROM edges WHERE site = 'bench'", NULL, 0, row_i64, &wm);
  return wm;
}

struct result {
  double streamer_s, sub_s;
};

static bool on_connect_seen;

static void on_connect(void *ud, int reason)
{
  (void)ud;
  if (reason == 0)
    on_connect_seen = true;
}

static int run(const char *name, const char *dbspec, long long n, struct result *out)
{
  /* iot-streamer on this backend. */
  struct fh_creds cr;
  fh_broker_creds(&broker, "iot-streamer", &cr);
  static char env[16][2 * FH_PATH];
  int k = 0;
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_PORT=%d", broker.tls_port);
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_CA=%s", cr.ca);
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_CERT=%s", cr.cert);
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_KEY=%s", cr.key);
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_PASSWORD_FILE=%s/secrets/iot-streamer.password",
           broker.conf);
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_CLIENT_ID=bench-%s", name);
  snprintf(env[k++], sizeof env[0], "STREAMER_MQTT_SESSION_EXPIRY=0");
  snprintf(env[k++], sizeof env[0], "STREAMER_DB=%s", dbspec);
  snprintf(env[k++], sizeof env[0], "STREAMER_HTTP_LISTEN=");
  snprintf(env[k++], sizeof env[0], "STREAMER_LOG_LEVEL=%s", getenv("BENCH_LOG_LEVEL") ? getenv("BENCH_LOG_LEVEL") : "warn");
  const char *envp[17];
  for (int i = 0; i < k; i++)
    envp[i] = env[i];
  envp[k] = NULL;
  char bin[FH_PATH + 32], log[FH_PATH + 64];
  snprintf(bin, sizeof bin, "%s/iot-streamer", fh_bin_dir());
  snprintf(log, sizeof log, "%s/streamer-%s.log", base, name);
  const char *argv[] = {bin, NULL};
  struct fh_proc st;
  fh_spawn(&st, argv, envp, log, NULL);

  /* mosquitto_sub reads its options from $XDG_CONFIG_HOME/mosquitto_sub,
   * so the password is not on its command line. */
  char xdg[FH_PATH + 16], opts[FH_PATH + 64], count[32], sublog[FH_PATH + 64];
  snprintf(xdg, sizeof xdg, "%s/xdg", base);
  mkdir(xdg, 0700);
  snprintf(opts, sizeof opts, "%s/mosquitto_sub", xdg);
  FILE *f = fopen(opts, "w");
  if (!f)
    fh_die("%s", opts);
  chmod(opts, 0600);
  fprintf(f, "-h localhost\n-p %d\n--cafile %s\n--cert %s\n--key %s\n-u iot-streamer\n-P %s\n",
          broker.tls_port, cr.ca, cr.cert, cr.key, cr.password);
  fclose(f);
  snprintf(count, sizeof count, "%lld", n);
  snprintf(sublog, sizeof sublog, "%s/sub-%s.log", base, name);
  char xdgenv[FH_PATH + 32];
  snprintf(xdgenv, sizeof xdgenv, "XDG_CONFIG_HOME=%s", xdg);
  const char *subenv[] = {xdgenv, NULL};
  const char *subargv[] = {"/usr/bin/mosquitto_sub", "-V", "5", "-q", "1", "-C", count, "-t",
                           "v1/farm/bench/+/telemetry/#", NULL};
  /* Its output is the messages themselves: to /dev/null. */
  struct fh_proc sub;
  fh_spawn(&sub, subargv, subenv, "/dev/null", NULL);
  (void)sublog;

  char err[256];
  struct st_db *db = NULL;
  for (int i = 0; i < 100 && !db; i++) {
    if (st_db_open(dbspec, &quiet, &db, NULL, err, sizeof err) != 0) {
      db = NULL;
      sleep_ms(50);
    }
  }
  if (!db)
    fh_die("cannot open %s: %s", dbspec, err);
  /* Let both subscriptions land and the streamer create its tables. */
  sleep_ms(1500);
  if (!fh_alive(&st) || !fh_alive(&sub)) {
    fh_dump_log(&st, 2000);
    fh_die("a subscriber did not start");
  }

  struct fd_mqtt_config cfg;
  struct fh_creds ec;
  fh_broker_mqtt_config(&broker, &ec, "edge-bench", "bench-edge", &cfg);
  struct fd_mqtt_callbacks cb = {.on_connect = on_connect};
  struct fd_mqtt *edge;
  on_connect_seen = false;
  if (fd_mqtt_new(&cfg, &quiet, &cb, NULL, &edge) != 0 || fd_mqtt_start(edge) != 0)
    fh_die("edge client");
  while (!on_connect_seen) {
    struct pollfd p = {.fd = fd_mqtt_fd(edge), .events = POLLIN};
    poll(&p, 1, 50);
    fd_mqtt_dispatch(edge, 0);
  }

  long long t0 = wall_ms() - 3600000;
  double start = now_s();
  char payload[256];
  for (long long i = 1; i <= n; i++) {
    int len = snprintf(payload, sizeof payload,
                       "{\"edge_seq\":%lld,\"boot\":1,\"seq\":%lld,\"ts\":%lld,\"up_ms\":%lld,"
                       "\"rssi\":-60,\"v\":{\"temp_c\":%.2f,\"rh_pct\":%.1f,\"lux\":%lld}}",
                       i, i, t0 + i * 10, i * 10, 20.0 + (double)(i % 100) / 10.0,
                       40.0 + (double)(i % 50), i % 1000);
    const char *dev = (i % 4 == 0) ? "d0" : (i % 4 == 1) ? "d1" : (i % 4 == 2) ? "d2" : "d3";
    char topic[64];
    snprintf(topic, sizeof topic, "v1/farm/bench/%s/telemetry/env", dev);
    while (fd_mqtt_publish(edge, topic, payload, (size_t)len, 1, false, NULL) != 0)
      sleep_ms(1);
    if (i % 256 == 0)
      fd_mqtt_dispatch(edge, 0);
  }
  double sub_done = 0, st_done = 0;
  double limit = start + 600;
  while ((!sub_done || !st_done) && now_s() < limit) {
    fd_mqtt_dispatch(edge, 0);
    if (!sub_done && !fh_alive(&sub))
      sub_done = now_s();
    if (!st_done && watermark(db) >= n)
      st_done = now_s();
    sleep_ms(5);
  }
  fd_mqtt_free(edge);
  fh_stop(&sub, SIGTERM, 2000);
  fh_stop(&st, SIGTERM, 10000);
  st_db_close(db);
  if (!sub_done || !st_done)
    fh_die("%s: timed out (mosquitto_sub %s, streamer %s)", name, sub_done ? "done" : "not done",
           st_done ? "done" : "not done");
  out->sub_s = sub_done - start;
  out->streamer_s = st_done - start;
  return 0;
}

int main(int argc, char **argv)
{
  long long n = 50000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      n = 2000;
    else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
      n = atoll(argv[++i]);
    else {
      fprintf(stderr, "usage: bench-ingest [--quick] [--messages N]\n");
      return 2;
    }
  }
  /* Run from the build tree without CTest: find the programs next to us. */
  if (!getenv("FARM_BIN_DIR")) {
    char self[FH_PATH];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
      self[len] = '\0';
      char *slash = strrchr(self, '/');
      if (slash)
        *slash = '\0';
      setenv("FARM_BIN_DIR", self, 0);
    }
  }
  setenv("FARM_SOURCE_DIR", FARM_SOURCE_TREE, 0);
  signal(SIGPIPE, SIG_IGN);
  fd_log_init(&quiet, "bench", FD_LOG_ERROR, NULL);
  fh_tmpdir(base, "bench-ingest");
  const char *sites[] = {"bench", NULL};
  fh_broker_setup(&broker, base, sites);

  struct fh_pg pg;
  fh_pg_start(&pg, base);
  char sqlite[FH_PATH + 32];
  snprintf(sqlite, sizeof sqlite, "%s/bench.db", base);

  struct result rs, rp;
  run("sqlite", sqlite, n, &rs);
  run("postgres", pg.url, n, &rp);
  fh_pg_stop(&pg);
  fh_broker_stop(&broker);
  if (!getenv("BENCH_KEEP"))
    fh_rmtree(base);
  else
    printf("kept %s\n", base);

  double readings = 3.0 * (double)n;
  printf("ingest: %lld telemetry messages x 3 metrics, QoS 1 over TLS, one edge\n", n);
  printf("%-10s %14s %18s %7s %7s\n", "backend", "readings/s", "mosquitto_sub/s", "ratio",
         "target");
  struct {
    const char *name;
    struct result *r;
    double target;
  } rows[] = {{"sqlite", &rs, 0.8}, {"postgres", &rp, 0.5}};
  for (int i = 0; i < 2; i++) {
    double st = readings / rows[i].r->streamer_s;
    double sub = readings / rows[i].r->sub_s;
    printf("%-10s %14.0f %18.0f %7.2f %7.2f %s\n", rows[i].name, st, sub, st / sub,
           rows[i].target, st / sub >= rows[i].target ? "met" : "NOT MET");
  }
  return 0;
}
