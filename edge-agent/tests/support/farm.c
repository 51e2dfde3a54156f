/* SPDX-License-Identifier: MIT */
/*
 * End-to-end fixture of the edge agent: broker, gateway pty, observer and
 * the agent process.
 */
#include "farm.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t et_node[6] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
const uint8_t et_gw_mac[6] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01};

void et_farm_env(struct et_farm *f, const char *fmt, ...)
{
  char kv[FH_PATH + 160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(kv, sizeof kv, fmt, ap);
  va_end(ap);
  size_t kl = strcspn(kv, "=");
  for (int i = 0; i < f->nenv; i++) {
    if (strncmp(f->env_store[i], kv, kl) == 0 && f->env_store[i][kl] == '=') {
      snprintf(f->env_store[i], sizeof f->env_store[i], "%s", kv);
      return;
    }
  }
  if (f->nenv == ET_ENV_MAX)
    fh_die("too many variables");
  snprintf(f->env_store[f->nenv], sizeof f->env_store[0], "%s", kv);
  f->env[f->nenv] = f->env_store[f->nenv];
  f->nenv++;
  f->env[f->nenv] = NULL;
}

void et_farm_setup(struct et_farm *f, bool tls)
{
  memset(f, 0, sizeof *f);
  f->tls = tls;
  fh_tmpdir(f->base, tls ? "eafarmtls" : "eafarm");
  snprintf(f->tty, sizeof f->tty, "%s/ttyESP-GW", f->base);
  fgw_init(&f->gw, f->tty, FP_CODEC_MSGPACK);
  f->http_port = fh_free_port();

  struct fd_mqtt_config oc;
  static struct fh_creds obs_creds; /* strings must outlive the client set-up */
  if (tls) {
    const char *sites[] = {ET_SITE, NULL};
    fh_broker_setup(&f->broker, f->base, sites);
    fh_broker_mqtt_config(&f->broker, &obs_creds, "iot-streamer", "observer", &oc);
    struct fh_creds ec;
    fh_broker_creds(&f->broker, "edge-" ET_SITE, &ec);
    char pwfile[FH_PATH + 64];
    snprintf(pwfile, sizeof pwfile, "%s/secrets/edge-%s.password", f->broker.conf, ET_SITE);
    et_farm_env(f, "EDGE_MQTT_TLS=1");
    et_farm_env(f, "EDGE_MQTT_HOST=localhost");
    et_farm_env(f, "EDGE_MQTT_CAFILE=%s", ec.ca);
    et_farm_env(f, "EDGE_MQTT_CERTFILE=%s", ec.cert);
    et_farm_env(f, "EDGE_MQTT_KEYFILE=%s", ec.key);
    et_farm_env(f, "EDGE_MQTT_USERNAME=%s", ec.user);
    /* The password from a file, as with systemd credentials. */
    et_farm_env(f, "EDGE_MQTT_PASSWORD_FILE=%s", pwfile);
  } else {
    et_plain_broker(&f->broker, f->base);
    memset(&oc, 0, sizeof oc);
    oc.host = "127.0.0.1";
    oc.client_id = "observer";
    oc.reconnect_min_s = 1;
    oc.reconnect_max_s = 1;
    et_farm_env(f, "EDGE_MQTT_TLS=0");
    et_farm_env(f, "EDGE_MQTT_HOST=127.0.0.1");
  }
  oc.port = f->broker.tls_port;
  /* A persistent session: nothing the agent publishes is missed across a
   * broker restart. */
  oc.clean_start = false;
  oc.session_expiry_s = 3600;
  et_sub_start(&f->obs, &oc, "v1/farm/" ET_SITE "/#");

  et_farm_env(f, "EDGE_SITE=%s", ET_SITE);
  et_farm_env(f, "EDGE_MQTT_PORT=%d", f->broker.tls_port);
  et_farm_env(f, "EDGE_SERIAL_PORT=%s", f->tty);
  et_farm_env(f, "EDGE_SERIAL_REOPEN_MAX_MS=200");
  et_farm_env(f, "EDGE_BACKLOG_PATH=%s/backlog.db", f->base);
  et_farm_env(f, "EDGE_COMMANDS_PATH=%s/commands.db", f->base);
  et_farm_env(f, "EDGE_HTTP_LISTEN=127.0.0.1:%d", f->http_port);
  et_farm_env(f, "EDGE_MQTT_RECONNECT_MAX_S=1");
  et_farm_env(f, "EDGE_MQTT_KEEPALIVE_S=5");
  et_farm_env(f, "EDGE_LOG_LEVEL=info");
}

void et_farm_step(struct et_farm *f, int ms)
{
  int64_t end = et_now_ms() + ms;
  do {
    fgw_serve(&f->gw, 5, 0);
    et_sub_pump(&f->obs, 1);
  } while (et_now_ms() < end);
}

void et_farm_start(struct et_farm *f)
{
  char bin[FH_PATH + 32], log[FH_PATH + 32];
  snprintf(bin, sizeof bin, "%s/edge-agent", fh_bin_dir());
  snprintf(log, sizeof log, "%s/agent.log", f->base);
  char script[128];
  snprintf(script, sizeof script, "ulimit -S -f %d && exec \"$0\"", f->fsize_kib * 2);
  const char *plain[] = {bin, NULL};
  /* ulimit -f counts 512-byte blocks. */
  const char *limited[] = {"/bin/sh", "-c", script, bin, NULL};
  fh_spawn(&f->agent, f->fsize_kib > 0 ? limited : plain, f->env, log, NULL);
  f->starts++;
  int64_t end = et_now_ms() + 15000;
  while (et_now_ms() < end) {
    if (!fh_alive(&f->agent)) {
      fh_dump_log(&f->agent, 3000);
      fh_die("edge-agent exited at start");
    }
    char out[256];
    /* Any answer will do (401 when Basic Auth is on). */
    if (et_http(f->http_port, "GET", "/api/backlog", NULL, NULL, out, sizeof out, NULL) > 0)
      return;
    et_farm_step(f, 20);
  }
  fh_dump_log(&f->agent, 3000);
  fh_die("edge-agent did not answer on port %d", f->http_port);
}

int et_farm_stop(struct et_farm *f, int sig)
{
  return fh_stop(&f->agent, sig, 10000);
}

void et_farm_dump(struct et_farm *f)
{
  fh_dump_log(&f->agent, 6000);
}

void et_farm_teardown(struct et_farm *f)
{
  if (f->agent.pid > 0)
    fh_stop(&f->agent, SIGTERM, 5000);
  et_sub_stop(&f->obs);
  fh_broker_stop(&f->broker);
  fgw_free(&f->gw);
  fh_rmtree(f->base);
}

void et_farm_send(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to)
{
  for (uint32_t s = from; s <= to; s++) {
    struct fp_msg m;
    fgw_tel(&m, et_node, boot, s, 15.0 + (s % 100) / 10.0);
    fgw_send(&f->gw, &m);
    if ((s - from) % 32 == 31)
      fgw_serve(&f->gw, 0, 0);
  }
}

void et_farm_tally(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to, struct et_tally *t)
{
  memset(t, 0, sizeof *t);
  size_t n = to >= from ? (size_t)(to - from + 1) : 0;
  unsigned char *seen = calloc(n + 1, 1);
  if (!seen)
    fh_die("out of memory");
  char topic[128];
  snprintf(topic, sizeof topic, "v1/farm/%s/a1b2c3d4e5f6/telemetry/env", ET_SITE);
  for (size_t i = 0; i < f->obs.n; i++) {
    const struct et_msg *m = &f->obs.msgs[i];
    if (strcmp(m->topic, topic) != 0)
      continue;
    json_t *j = et_json(m->payload, m->len);
    json_int_t b = json_integer_value(json_object_get(j, "boot"));
    json_int_t s = json_integer_value(json_object_get(j, "seq"));
    bool hist = json_is_true(json_object_get(j, "hist"));
    json_decref(j);
    if (b != (json_int_t)boot || s < from || s > to)
      continue;
    t->messages++;
    if (hist)
      t->hist++;
    if (seen[s - from]++)
      t->duplicates++;
    else
      t->distinct++;
  }
  for (size_t i = 0; i < n; i++) {
    if (!seen[i]) {
      if (!t->missing_first)
        t->missing_first = from + (uint32_t)i;
      t->missing++;
    }
  }
  free(seen);
}

size_t et_farm_wait_all(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to,
                        int timeout_ms, struct et_tally *t)
{
  int64_t end = et_now_ms() + timeout_ms;
  for (;;) {
    et_farm_tally(f, boot, from, to, t);
    if (t->missing == 0 || et_now_ms() > end)
      return t->missing;
    et_farm_step(f, 50);
  }
}

int et_farm_get(struct et_farm *f, const char *path, char *out, size_t cap, const char **body)
{
  return et_http(f->http_port, "GET", path, NULL, NULL, out, cap, body);
}

json_t *et_farm_api(struct et_farm *f, const char *path)
{
  static char out[1 << 18];
  const char *body;
  int st = et_farm_get(f, path, out, sizeof out, &body);
  if (st != 200)
    fh_die("GET %s: %d", path, st);
  return et_json(body, strlen(body));
}
