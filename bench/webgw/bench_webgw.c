/* SPDX-License-Identifier: MIT */
/*
 * web-gateway throughput: wrk sends GET /api/v1/devices (100 devices with
 * three latest values each, bearer token) to the real web-gateway on its
 * SQLite store, then the very same request to nginx serving the body the
 * gateway answered as a static file, in the same run on the same machine.
 * The ratio gateway/nginx is the figure (target >= 0.7). A third run
 * with cache_ms=0 (a database query per request) is printed for the
 * record.
 *
 *   bench-webgw [--quick] [--seconds N] [--connections N]
 *
 * Both servers get the same wrk settings (2 threads, keep-alive). The
 * gateway serves the device list from a copy at most cache_ms (1 s) old,
 * as in production; nginx runs two workers, sendfile and keep-alive on.
 * It makes its own broker, certificates and store and removes them after.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm/error.h"
#include "harness.h"
#include "st/store.h"

#define NDEV 100

static char base[FH_PATH];
static struct fh_broker broker;
static struct fh_proc gw, gw2, ngx;

static void cleanup(void)
{
  if (gw.pid)
    fh_stop(&gw, SIGTERM, 10000);
  if (gw2.pid)
    fh_stop(&gw2, SIGTERM, 10000);
  if (ngx.pid)
    fh_stop(&ngx, SIGTERM, 5000);
  if (broker.proc.pid)
    fh_broker_stop(&broker);
  if (base[0])
    fh_rmtree(base);
}

static void fill_store(const char *path)
{
  struct fd_log quiet;
  fd_log_init(&quiet, "bench", FD_LOG_ERROR, NULL);
  struct st_db *db;
  char err[256];
  if (st_db_open(path, &quiet, &db, NULL, err, sizeof err) != 0 || st_store_init(db) != 0)
    fh_die("store: %s", err);
  struct st_reading r[NDEV * 3];
  memset(r, 0, sizeof r);
  long long now = fd_wall_ms();
  const char *metrics[3] = {"temp_c", "rh_pct", "lux"};
  for (int d = 0; d < NDEV; d++) {
    char dev[16], status[160];
    snprintf(dev, sizeof dev, "a1b2c3d4%04x", d);
    snprintf(status, sizeof status,
             "{\"online\":true,\"rssi\":%d,\"fw\":\"1.4.2\",\"interval_ms\":60000}", -40 - d % 50);
    if (st_store_status(db, d < 50 ? "north" : "south", dev, status, 1, 60000, now) != 0)
      fh_die("store status: %s", st_db_error(db));
    for (int m = 0; m < 3; m++) {
      struct st_reading *x = &r[d * 3 + m];
      snprintf(x->site, sizeof x->site, "%s", d < 50 ? "north" : "south");
      snprintf(x->device, sizeof x->device, "%s", dev);
      snprintf(x->metric, sizeof x->metric, "%s", metrics[m]);
      snprintf(x->group, sizeof x->group, "env");
      x->ts = now - 1000;
      x->value = 20.0 + d * 0.1 + m;
      x->boot = 1;
      x->seq = m;
      x->edge_seq = d * 3 + m + 1;
      x->received_ts = now;
      x->up_ms = x->rx_ts = -1;
    }
  }
  if (st_store_write_batch(db, r, NDEV * 3, NULL, 0) != 0)
    fh_die("store batch: %s", st_db_error(db));
  st_db_close(db);
}

/* Requests/s from wrk's output, or 0. */
static double wrk(int port, const char *token, int seconds, int conns, char *body)
{
  char url[96], dur[16], c[16], hdr[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/devices", port);
  snprintf(dur, sizeof dur, "%ds", seconds);
  snprintf(c, sizeof c, "%d", conns);
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
  const char *argv[] = {"/usr/bin/wrk", "-t2", "-c", c, "-d", dur, "--latency", "-H", hdr, url,
                        NULL};
  static char out[16384];
  int st = fh_run(argv, out, sizeof out);
  const char *rps = strstr(out, "Requests/sec:");
  const char *non2xx = strstr(out, "Non-2xx");
  if (st != 0 || !rps || non2xx) {
    fprintf(stderr, "wrk failed (status %d):\n%s\n", st, out);
    return 0;
  }
  const char *p99 = strstr(out, " 99%");
  snprintf(body, 64, "%.20s", p99 ? p99 + 4 : "?");
  char *nl = strchr(body, '\n');
  if (nl)
    *nl = '\0';
  return strtod(rps + 13, NULL);
}

/* Starts web-gateway on the store with cache_ms; returns its port. The
 * worker count matches the connections (keep-alive holds one each). */
static int start_gateway(struct fh_proc *p, const char *db, int conns, int cache_ms,
                         const char *logname)
{
  struct fh_creds cr;
  fh_broker_creds(&broker, "web-gateway", &cr);
  int port = fh_free_port();
  static char env[16][2 * FH_PATH];
  size_t n = 0;
#define ENV(...) snprintf(env[n++], sizeof env[0], __VA_ARGS__)
  ENV("WEBGW_MQTT_HOST=localhost");
  ENV("WEBGW_MQTT_PORT=%d", broker.tls_port);
  ENV("WEBGW_MQTT_CA=%s", cr.ca);
  ENV("WEBGW_MQTT_CERT=%s", cr.cert);
  ENV("WEBGW_MQTT_KEY=%s", cr.key);
  ENV("WEBGW_MQTT_PASSWORD_FILE=%s/secrets/web-gateway.password", broker.conf);
  ENV("WEBGW_MQTT_CLIENT_ID=bench-%d", port);
  ENV("WEBGW_DB=%s", db);
  ENV("WEBGW_HTTP_LISTEN=127.0.0.1:%d", port);
  ENV("WEBGW_HTTP_THREADS=%d", conns + 8);
  ENV("WEBGW_ADMIN_PASSWORD=bench-password-1");
  ENV("WEBGW_CACHE_MS=%d", cache_ms);
  ENV("WEBGW_UI_DIR=");
  ENV("WEBGW_LOG_LEVEL=warn");
#undef ENV
  const char *envp[17];
  for (size_t i = 0; i < n; i++)
    envp[i] = env[i];
  envp[n] = NULL;
  char bin[FH_PATH + 32], log[FH_PATH + 32];
  snprintf(bin, sizeof bin, "%s/web-gateway", fh_bin_dir());
  snprintf(log, sizeof log, "%s/%s", base, logname);
  const char *argv[] = {bin, NULL};
  fh_spawn(p, argv, envp, log, NULL);
  if (!fh_wait_port(port, 20000))
    fh_die("web-gateway did not start");
  return port;
}

int main(int argc, char **argv)
{
  int seconds = 10, conns = 32;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      seconds = 2;
    else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc)
      conns = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench-webgw [--quick] [--seconds N] [--connections N]\n");
      return 2;
    }
  }
  if (seconds < 1 || conns < 1 || conns > 500)
    return 2;
  /* Run from the build tree without CTest: the programs are next to us. */
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
  if (access("/usr/bin/wrk", X_OK) != 0 || access("/usr/sbin/nginx", X_OK) != 0)
    fh_die("needs wrk and nginx (scripts/install-deps)");
  atexit(cleanup);
  fh_tmpdir(base, "bench-webgw");
  const char *sites[] = {"north", "south", NULL};
  fh_broker_setup(&broker, base, sites);
  char db[FH_PATH + 16];
  snprintf(db, sizeof db, "%s/farm.db", base);
  fill_store(db);

  int gport = start_gateway(&gw, db, conns, 1000, "gateway.log");
  /* A token, and the body the gateway serves, for nginx. */
  char cmd[4096], out[65536];
  snprintf(cmd, sizeof cmd,
           "curl -sf -H 'Content-Type: application/json' -d '{\"username\":\"admin\",\"password\":"
           "\"bench-password-1\"}' http://127.0.0.1:%d/api/v1/login",
           gport);
  const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
  if (fh_run(sh, out, sizeof out) != 0)
    fh_die("login failed: %s", out);
  const char *t = strstr(out, "\"token\":\"");
  if (!t)
    fh_die("no token in %s", out);
  char token[64];
  snprintf(token, sizeof token, "%.47s", t + 9);
  char root[FH_PATH + 16];
  snprintf(root, sizeof root, "%s/www/api/v1", base);
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s && curl -sf -H 'Authorization: Bearer %s' -o %s/devices "
           "http://127.0.0.1:%d/api/v1/devices && wc -c < %s/devices",
           root, token, root, gport, root);
  if (fh_run(sh, out, sizeof out) != 0)
    fh_die("GET /api/v1/devices failed: %s", out);
  long bytes = atol(out);

  /* nginx on the same file, same path. */
  int nport = fh_free_port();
  char conf[FH_PATH + 16];
  snprintf(conf, sizeof conf, "%s/nginx.conf", base);
  FILE *f = fopen(conf, "w");
  if (!f)
    fh_die("cannot write %s", conf);
  fprintf(f,
          "daemon off;\nworker_processes 2;\npid %s/nginx.pid;\nerror_log %s/nginx.err warn;\n"
          "events { worker_connections 1024; }\n"
          "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n"
          "  client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;\n"
          "  uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;\n"
          "  server {\n    listen 127.0.0.1:%d;\n    root %s/www;\n"
          "    location = /api/v1/devices { default_type application/json; }\n  }\n}\n",
          base, base, base, base, base, base, base, nport, base);
  fclose(f);
  char log[FH_PATH + 32];
  snprintf(log, sizeof log, "%s/nginx.log", base);
  /* Run as root, nginx's workers become "nobody": the temporary tree and
   * the body file are world-readable (fh_tmpdir makes it 0755). */
  const char *nargv[] = {"/usr/sbin/nginx", "-c", conf, "-p", base, NULL};
  fh_spawn(&ngx, nargv, NULL, log, NULL);
  if (!fh_wait_port(nport, 10000)) {
    fh_dump_log(&ngx, 2000);
    fh_die("nginx did not start");
  }

  printf("GET /api/v1/devices: %d devices, %ld bytes, wrk -t2 -c%d -d%ds, keep-alive\n", NDEV,
         bytes, conns, seconds);
  char p99_gw[64] = "", p99_ngx[64] = "", p99_raw[64] = "";
  double g = wrk(gport, token, seconds, conns, p99_gw);
  double x = wrk(nport, token, seconds, conns, p99_ngx);
  /* The same without any cache: a token lookup and the device query on
   * every request (for the record; the target is on the production set-up). */
  fh_stop(&gw, SIGTERM, 10000);
  int rport = start_gateway(&gw2, db, conns, 0, "gateway-nocache.log");
  double raw = wrk(rport, token, seconds, conns, p99_raw);
  if (g <= 0 || x <= 0 || raw <= 0)
    fh_die("a run failed");
  printf("%-24s %12s %10s\n", "server", "requests/s", "p99");
  printf("%-24s %12.0f %10s\n", "web-gateway", g, p99_gw);
  printf("%-24s %12.0f %10s\n", "nginx (static file)", x, p99_ngx);
  printf("%-24s %12.0f %10s\n", "web-gateway, cache_ms=0", raw, p99_raw);
  printf("ratio %.2f (target >= 0.7: %s); without cache %.2f\n", g / x,
         g / x >= 0.7 ? "met" : "NOT MET", raw / x);
  return 0;
}
