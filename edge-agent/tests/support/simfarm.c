/* SPDX-License-Identifier: MIT */
/*
 * The whole-chain fixture: farm-sim, edge-agent and Mosquitto as separate
 * processes, an MQTT observer, the simulator's control socket and ledger,
 * and the comparison of the ledger with what reached the broker.
 */
#include "simfarm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void es_opts_default(struct es_opts *o)
{
  memset(o, 0, sizeof *o);
  o->nodes = 4;
  o->real = -1;
  o->seed = 1;
  o->period_ms = 1000;
  o->speed = "5";
  o->codec = "msgpack";
}

void es_env(struct es_farm *f, const char *fmt, ...)
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
  if (f->nenv == ES_ENV_MAX)
    fh_die("too many variables");
  snprintf(f->env_store[f->nenv], sizeof f->env_store[0], "%s", kv);
  f->env[f->nenv] = f->env_store[f->nenv];
  f->nenv++;
  f->env[f->nenv] = NULL;
}

void es_setup(struct es_farm *f, const struct es_opts *o)
{
  memset(f, 0, sizeof *f);
  f->opt = *o;
  if (o->nodes < 1 || o->nodes > ES_NODES_MAX)
    fh_die("nodes must be 1..%d", ES_NODES_MAX);
  fh_tmpdir(f->base, o->tls ? "easimtls" : "easim");
  snprintf(f->tty, sizeof f->tty, "%s/ttyESP-GW", f->base);
  snprintf(f->ctl, sizeof f->ctl, "%s/sim.ctl", f->base);
  snprintf(f->ledger, sizeof f->ledger, "%s/ledger.jsonl", f->base);
  snprintf(f->state, sizeof f->state, "%s/sim-state", f->base);
  f->http_port = fh_free_port();

  struct fd_mqtt_config oc;
  if (o->tls) {
    const char *sites[] = {ES_SITE, NULL};
    fh_broker_setup(&f->broker, f->base, sites);
    fh_broker_mqtt_config(&f->broker, &f->obs_creds, "web-gateway", "observer", &oc);
    struct fh_creds ec;
    fh_broker_creds(&f->broker, "edge-" ES_SITE, &ec);
    es_env(f, "EDGE_MQTT_TLS=1");
    es_env(f, "EDGE_MQTT_HOST=localhost");
    es_env(f, "EDGE_MQTT_CAFILE=%s", ec.ca);
    es_env(f, "EDGE_MQTT_CERTFILE=%s", ec.cert);
    es_env(f, "EDGE_MQTT_KEYFILE=%s", ec.key);
    es_env(f, "EDGE_MQTT_USERNAME=%s", ec.user);
    es_env(f, "EDGE_MQTT_PASSWORD=%s", ec.password);
  } else {
    et_plain_broker(&f->broker, f->base);
    memset(&oc, 0, sizeof oc);
    oc.host = "127.0.0.1";
    oc.client_id = "observer";
    oc.reconnect_min_s = 1;
    oc.reconnect_max_s = 1;
    es_env(f, "EDGE_MQTT_TLS=0");
    es_env(f, "EDGE_MQTT_HOST=127.0.0.1");
  }
  oc.port = f->broker.tls_port;
  /* A persistent session, as the cloud's ingest has: what the agent
   * publishes while the broker restarts is still delivered. */
  oc.clean_start = false;
  oc.session_expiry_s = 3600;
  et_sub_start(&f->obs, &oc, "v1/farm/" ES_SITE "/#");

  es_env(f, "EDGE_SITE=%s", ES_SITE);
  es_env(f, "EDGE_MQTT_PORT=%d", f->broker.tls_port);
  es_env(f, "EDGE_SERIAL_PORT=%s", f->tty);
  es_env(f, "EDGE_SERIAL_CODEC=%s", o->codec);
  es_env(f, "EDGE_SERIAL_REOPEN_MAX_MS=200");
  es_env(f, "EDGE_BACKLOG_PATH=%s/backlog.db", f->base);
  es_env(f, "EDGE_COMMANDS_PATH=%s/commands.db", f->base);
  es_env(f, "EDGE_HTTP_LISTEN=127.0.0.1:%d", f->http_port);
  es_env(f, "EDGE_MQTT_RECONNECT_MAX_S=1");
  es_env(f, "EDGE_MQTT_KEEPALIVE_S=5");
  es_env(f, "EDGE_LOG_LEVEL=info");
}

static int api(struct es_farm *f, const char *method, const char *path, const char *headers,
               const char *json, char *out, size_t cap, const char **body);

void es_dump(struct es_farm *f)
{
  fh_dump_log(&f->agent, 6000);
  fh_dump_log(&f->sim, 3000);
  if (f->agent_up && fh_alive(&f->agent)) {
    /* The gateway's counters from its last stats: ring_drop says whether
     * its uplink store overflowed (readings the ledger cannot list). */
    static char out[1 << 16];
    const char *body;
    if (api(f, "GET", "/api/status", NULL, NULL, out, sizeof out, &body) == 200) {
      json_t *j = json_loads(body, 0, NULL);
      json_t *c = json_object_get(json_object_get(j, "gateway"), "counters");
      char *txt = c ? json_dumps(c, JSON_COMPACT) : NULL;
      fprintf(stderr, "gateway counters (last stats): %s\n", txt ? txt : "none yet");
      free(txt);
      json_decref(j);
    }
  }
  /* What the observer saw, beside the ledger and the agent's files, kept
   * for a post-mortem. */
  char path[FH_PATH + 32];
  snprintf(path, sizeof path, "%s/observed.txt", f->base);
  FILE *out = fopen(path, "w");
  if (out) {
    for (size_t i = 0; i < f->obs.n; i++)
      fprintf(out, "%lld %s %s\n", (long long)f->obs.msgs[i].at_ms, f->obs.msgs[i].topic,
              f->obs.msgs[i].payload);
    fclose(out);
  }
  f->keep = true;
}

static void check_alive(struct es_farm *f)
{
  if (f->agent_up && !fh_alive(&f->agent)) {
    es_dump(f);
    fh_die("edge-agent exited unexpectedly");
  }
  if (f->sim_up && !fh_alive(&f->sim)) {
    es_dump(f);
    fh_die("farm-sim exited unexpectedly");
  }
}

void es_step(struct es_farm *f, int ms)
{
  int64_t end = et_now_ms() + ms;
  do {
    et_sub_pump(&f->obs, ms < 20 ? ms : 20);
    check_alive(f);
  } while (et_now_ms() < end);
}

/* The API request with f->auth before the caller's headers. */
static int api(struct es_farm *f, const char *method, const char *path, const char *headers,
               const char *json, char *out, size_t cap, const char **body)
{
  char h[1024];
  snprintf(h, sizeof h, "%s%s", f->auth ? f->auth : "", headers ? headers : "");
  return et_http(f->http_port, method, path, h, json, out, cap, body);
}

void es_agent_start(struct es_farm *f)
{
  char bin[FH_PATH + 32], log[FH_PATH + 32];
  snprintf(bin, sizeof bin, "%s/edge-agent", fh_bin_dir());
  snprintf(log, sizeof log, "%s/agent.log", f->base);
  const char *argv[] = {bin, NULL};
  fh_spawn(&f->agent, argv, f->env, log, NULL);
  int64_t end = et_now_ms() + 20000;
  while (et_now_ms() < end) {
    if (!fh_alive(&f->agent)) {
      es_dump(f);
      fh_die("edge-agent exited at start");
    }
    char out[256];
    /* Any answer will do (401 when Basic Auth is on). */
    if (et_http(f->http_port, "GET", "/api/backlog", NULL, NULL, out, sizeof out, NULL) > 0) {
      f->agent_up = true;
      return;
    }
    es_step(f, 20);
  }
  es_dump(f);
  fh_die("edge-agent did not answer on port %d", f->http_port);
}

int es_agent_stop(struct es_farm *f, int sig)
{
  f->agent_up = false;
  return fh_stop(&f->agent, sig, 10000);
}

void es_sim_start(struct es_farm *f)
{
  char bin[FH_PATH + 32], log[FH_PATH + 32];
  snprintf(bin, sizeof bin, "%s/farm-sim", fh_bin_dir());
  snprintf(log, sizeof log, "%s/sim.log", f->base);
  struct stat st;
  off_t from = stat(log, &st) == 0 ? st.st_size : 0;
  char nodes[16], real[16], seed[16], period[16], loss[32];
  snprintf(nodes, sizeof nodes, "%d", f->opt.nodes);
  snprintf(real, sizeof real, "%d", f->opt.real >= 0 ? f->opt.real : (f->opt.nodes + 1) / 2);
  snprintf(seed, sizeof seed, "%u", f->opt.seed);
  snprintf(period, sizeof period, "%d", f->opt.period_ms);
  snprintf(loss, sizeof loss, "%g", f->opt.loss);
  const char *argv[] = {
      bin,           "--nodes", nodes,         "--real",   real,     "--seed",    seed,
      "--period-ms", period,    "--loss",      loss,       "--site", ES_SITE,     "--codec",
      f->opt.codec,  "--speed", f->opt.speed,  "--serial", f->tty,   "--control", f->ctl,
      "--ledger",    f->ledger, "--state-dir", f->state,   NULL};
  fh_spawn(&f->sim, argv, NULL, log, NULL);
  int64_t end = et_now_ms() + 15000;
  for (;;) {
    if (!fh_alive(&f->sim)) {
      fh_dump_log(&f->sim, 3000);
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
          memcpy(f->gw, mac, sizeof mac);
        else if (sscanf(p, "farm-sim: node %u %12s", &i, mac) == 2 && i < ES_NODES_MAX) {
          memcpy(f->node[i], mac, sizeof mac);
          found++;
        }
      }
      free(text);
      if (found != f->opt.nodes || strlen(f->gw) != 12)
        fh_die("farm-sim announced %d nodes and gateway '%s'", found, f->gw);
      f->sim_up = true;
      return;
    }
    free(text);
    if (et_now_ms() > end) {
      fh_dump_log(&f->sim, 3000);
      fh_die("farm-sim did not say ready");
    }
    es_step(f, 20);
  }
}

void es_start(struct es_farm *f)
{
  es_agent_start(f);
  es_sim_start(f);
  int64_t end = et_now_ms() + 20000;
  while (et_now_ms() < end) {
    json_t *j = es_api(f, "/api/peers");
    size_t n = json_array_size(json_object_get(j, "peers"));
    json_decref(j);
    if (n == (size_t)f->opt.nodes)
      return;
    es_step(f, 100);
  }
  es_dump(f);
  fh_die("the agent did not list the %d nodes as peers", f->opt.nodes);
}

/* A sanitizer's report in a log file, or NULL. */
static const char *sanitizer_report(const char *log)
{
  static const char *const marks[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:"};
  char *text = fh_read_file(log);
  const char *found = NULL;
  for (size_t i = 0; text && !found && i < sizeof marks / sizeof marks[0]; i++)
    if (strstr(text, marks[i]))
      found = marks[i];
  free(text);
  return found;
}

bool es_finish(struct es_farm *f, char *why, size_t cap)
{
  why[0] = '\0';
  f->sim_up = f->agent_up = false;
  int sim = fh_stop(&f->sim, SIGTERM, 10000);
  int agent = fh_stop(&f->agent, SIGTERM, 10000);
  char *slog = fh_read_file(f->sim.log);
  bool stopped = slog && strstr(slog, "farm-sim: stopped at sim_ms=");
  free(slog);
  const char *rs = sanitizer_report(f->sim.log), *ra = sanitizer_report(f->agent.log);
  if (sim != 0 || !stopped)
    snprintf(why, cap, "farm-sim exited with %d on SIGTERM%s", sim,
             stopped ? "" : " without saying where it stopped");
  else if (agent != 0)
    snprintf(why, cap, "edge-agent exited with %d on SIGTERM", agent);
  else if (rs || ra)
    snprintf(why, cap, "%s in the %s log", rs ? rs : ra, rs ? "farm-sim" : "edge-agent");
  if (why[0])
    es_dump(f);
  return why[0] == '\0';
}

void es_teardown(struct es_farm *f)
{
  f->sim_up = f->agent_up = false;
  if (f->sim.pid > 0)
    fh_stop(&f->sim, SIGTERM, 5000);
  if (f->agent.pid > 0)
    fh_stop(&f->agent, SIGTERM, 5000);
  if (f->obs.mq)
    et_sub_stop(&f->obs);
  fh_broker_stop(&f->broker);
  if (f->keep)
    fprintf(stderr, "kept %s for inspection\n", f->base);
  else
    fh_rmtree(f->base);
}

const char *es_ctl(struct es_farm *f, const char *fmt, ...)
{
  static char answer[8192];
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
  if (strlen(f->ctl) >= sizeof sa.sun_path)
    fh_die("control path too long: %s", f->ctl);
  memcpy(sa.sun_path, f->ctl, strlen(f->ctl) + 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    fh_die("control socket %s: %s", f->ctl, strerror(errno));
  if (write(fd, line, (size_t)ll) != ll)
    fh_die("control write: %s", strerror(errno));
  size_t n = 0;
  answer[0] = '\0';
  bool done = false;
  int64_t end = et_now_ms() + 5000;
  while (!done && et_now_ms() < end && n + 1 < sizeof answer) {
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
    const char *last = answer + n - 1;
    while (last > answer && last[-1] != '\n')
      last--;
    done = strncmp(last, "ok\n", 3) == 0 || strncmp(last, "error:", 6) == 0;
  }
  close(fd);
  if (n > 0 && answer[n - 1] == '\n')
    answer[--n] = '\0';
  size_t al = strlen(answer);
  if (al < 2 || strcmp(answer + al - 2, "ok") != 0 || (al > 2 && answer[al - 3] != '\n'))
    fh_die("control '%.*s': '%s'", ll - 1, line, answer);
  return answer;
}

long long es_sim_status(struct es_farm *f, const char *key)
{
  const char *a = es_ctl(f, "status");
  size_t kl = strlen(key);
  for (const char *p = a; (p = strstr(p, key)) != NULL; p += kl) {
    if ((p == a || p[-1] == ' ') && p[kl] == '=')
      return strtoll(p + kl + 1, NULL, 10);
  }
  fh_die("no %s in status: %s", key, a);
}

/* ---- ledger ----------------------------------------------------------------- */

static int reading_cmp(const void *a, const void *b)
{
  const struct es_reading *x = a, *y = b;
  int c = strcmp(x->dev, y->dev);
  if (c != 0)
    return c;
  if (x->boot != y->boot)
    return x->boot < y->boot ? -1 : 1;
  if (x->seq != y->seq)
    return x->seq < y->seq ? -1 : 1;
  return 0;
}

static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
  if (n < *cap)
    return p;
  *cap = *cap ? *cap * 2 : 256;
  p = realloc(p, *cap * size);
  if (!p)
    fh_die("out of memory");
  return p;
}

static void copy_dev(char out[13], json_t *j)
{
  const char *d = json_string_value(json_object_get(j, "device"));
  if (!d || strlen(d) != 12)
    fh_die("ledger line without a device");
  memcpy(out, d, 13);
}

void es_ledger_load(struct es_farm *f, struct es_ledger *l)
{
  memset(l, 0, sizeof *l);
  size_t cap_r = 0, cap_c = 0, cap_b = 0;
  FILE *in = fopen(f->ledger, "r");
  if (!in)
    return; /* nothing written yet */
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, in)) > 0) {
    if (line[len - 1] != '\n')
      break; /* being written */
    json_t *j = et_json(line, (size_t)len);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (!kind)
      fh_die("ledger line without a kind: %s", line);
    if (strcmp(kind, "reading") == 0) {
      l->r = grow(l->r, l->n, &cap_r, sizeof *l->r);
      struct es_reading *r = &l->r[l->n++];
      memset(r, 0, sizeof *r);
      copy_dev(r->dev, j);
      r->boot = (uint32_t)json_integer_value(json_object_get(j, "boot"));
      r->seq = (uint32_t)json_integer_value(json_object_get(j, "seq"));
      r->up_ms = json_integer_value(json_object_get(j, "up_ms"));
      r->sim_ms = json_integer_value(json_object_get(j, "sim_ms"));
      r->syn = json_is_true(json_object_get(j, "syn"));
      r->v = json_incref(json_object_get(j, "v"));
    } else if (strcmp(kind, "command") == 0) {
      l->c = grow(l->c, l->nc, &cap_c, sizeof *l->c);
      struct es_command *c = &l->c[l->nc++];
      memset(c, 0, sizeof *c);
      copy_dev(c->dev, j);
      snprintf(c->name, sizeof c->name, "%s", json_string_value(json_object_get(j, "name")));
      c->args = json_incref(json_object_get(j, "args"));
      c->ok = json_is_true(json_object_get(j, "ok"));
      const char *e = json_string_value(json_object_get(j, "err"));
      snprintf(c->err, sizeof c->err, "%s", e ? e : "");
    } else if (strcmp(kind, "boot") == 0) {
      l->b = grow(l->b, l->nb, &cap_b, sizeof *l->b);
      struct es_boot *b = &l->b[l->nb++];
      copy_dev(b->dev, j);
      const char *role = json_string_value(json_object_get(j, "role"));
      b->gateway = role && strcmp(role, "gateway") == 0;
      b->boot = (uint32_t)json_integer_value(json_object_get(j, "boot"));
      b->lost = (unsigned)json_integer_value(json_object_get(j, "lost"));
      b->sim_ms = json_integer_value(json_object_get(j, "sim_ms"));
    } else if (strcmp(kind, "dropped") == 0) {
      l->dropped++;
    }
    json_decref(j);
  }
  free(line);
  fclose(in);
  if (l->n)
    qsort(l->r, l->n, sizeof *l->r, reading_cmp);
}

void es_ledger_free(struct es_ledger *l)
{
  for (size_t i = 0; i < l->n; i++)
    json_decref(l->r[i].v);
  for (size_t i = 0; i < l->nc; i++)
    json_decref(l->c[i].args);
  free(l->r);
  free(l->c);
  free(l->b);
  memset(l, 0, sizeof *l);
}

/* ---- tally ------------------------------------------------------------------ */

/* The device of a telemetry topic v1/farm/SITE/DEVICE/telemetry/GROUP, or
 * false for any other topic. */
static bool telemetry_device(const char *topic, char dev[13])
{
  static const char prefix[] = "v1/farm/" ES_SITE "/";
  size_t pl = sizeof prefix - 1;
  if (strncmp(topic, prefix, pl) != 0)
    return false;
  const char *d = topic + pl;
  const char *slash = strchr(d, '/');
  if (!slash || strncmp(slash, "/telemetry/", 11) != 0)
    return false;
  size_t dl = (size_t)(slash - d);
  if (dl != 12)
    fh_die("telemetry on a device id that is not a MAC: %s", topic);
  memcpy(dev, d, 12);
  dev[12] = '\0';
  return true;
}

/* Published values equal to the ledger's: the same metrics, the same
 * doubles (both sides print the shortest decimal that reads back). */
static bool same_values(json_t *ledger, json_t *pub)
{
  if (!json_is_object(ledger) || !json_is_object(pub) ||
      json_object_size(ledger) != json_object_size(pub))
    return false;
  const char *k;
  json_t *v;
  json_object_foreach(ledger, k, v)
  {
    json_t *p = json_object_get(pub, k);
    if (!json_is_number(v) || !json_is_number(p) || json_number_value(v) != json_number_value(p))
      return false;
  }
  return true;
}

static void problem(struct es_tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct es_tally *t, const char *fmt, ...)
{
  if (t->first_problem[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->first_problem, sizeof t->first_problem, fmt, ap);
  va_end(ap);
}

void es_tally(struct es_farm *f, struct es_tally *t, struct es_ledger *keep)
{
  memset(t, 0, sizeof *t);
  struct es_ledger l;
  es_ledger_load(f, &l);
  t->ledger = l.n;
  t->dropped = l.dropped;
  for (size_t i = 0; i < l.nb; i++)
    if (l.b[i].gateway)
      t->gw_lost += l.b[i].lost;
  for (size_t i = 0; i < f->obs.n; i++) {
    const struct et_msg *m = &f->obs.msgs[i];
    struct es_reading key;
    if (!telemetry_device(m->topic, key.dev))
      continue;
    t->published++;
    json_t *j = et_json(m->payload, m->len);
    key.boot = (uint32_t)json_integer_value(json_object_get(j, "boot"));
    key.seq = (uint32_t)json_integer_value(json_object_get(j, "seq"));
    bool hist = json_is_true(json_object_get(j, "hist"));
    if (hist)
      t->hist++;
    struct es_reading *r = l.n ? bsearch(&key, l.r, l.n, sizeof *l.r, reading_cmp) : NULL;
    if (r && hist)
      r->hist++;
    if (!r) {
      /* The ledger is read after the observer's messages, and a reading
       * is in the ledger before it is sent: a miss is a real stranger. */
      t->unknown++;
      problem(t, "published reading not in the ledger: %s %s", m->topic, m->payload);
    } else {
      if (r->published++ == 0)
        t->distinct++;
      else
        t->duplicates++;
      if (json_integer_value(json_object_get(j, "up_ms")) != r->up_ms ||
          json_is_true(json_object_get(j, "synthetic")) != r->syn ||
          !same_values(r->v, json_object_get(j, "v"))) {
        t->mismatched++;
        char *lv = json_dumps(r->v, JSON_COMPACT);
        problem(t, "%s boot %u seq %u: ledger up_ms %lld syn %d v %s, published %s", r->dev,
                r->boot, r->seq, (long long)r->up_ms, r->syn, lv ? lv : "?", m->payload);
        free(lv);
      }
    }
    json_decref(j);
  }
  for (size_t i = 0; i < l.n; i++) {
    if (l.r[i].published == 0) {
      if (!t->missing)
        snprintf(t->first_missing, sizeof t->first_missing, "%s boot %u seq %u (sim_ms %lld)",
                 l.r[i].dev, l.r[i].boot, l.r[i].seq, (long long)l.r[i].sim_ms);
      t->missing++;
    }
  }
  if (keep)
    *keep = l;
  else
    es_ledger_free(&l);
}

void es_report(const char *what, const struct es_tally *t)
{
  printf("%s: %zu readings in the ledger, %zu telemetry messages, %zu distinct, %zu missing, "
         "%zu duplicates, %zu hist, %zu unknown, %zu mismatched, %zu dropped by nodes, "
         "%u lost at gateway restarts\n",
         what, t->ledger, t->published, t->distinct, t->missing, t->duplicates, t->hist, t->unknown,
         t->mismatched, t->dropped, t->gw_lost);
  if (t->missing)
    printf("%s: first missing %s\n", what, t->first_missing);
  if (t->first_problem[0])
    printf("%s: %s\n", what, t->first_problem);
  fflush(stdout);
}

bool es_complete(const struct es_tally *t, bool dups_allowed, char *why, size_t cap)
{
  why[0] = '\0';
  if (t->ledger == 0)
    snprintf(why, cap, "no reading in the ledger");
  else if (t->missing)
    snprintf(why, cap, "%zu of %zu readings missing, first %s", t->missing, t->ledger,
             t->first_missing);
  else if (t->unknown || t->mismatched)
    snprintf(why, cap, "%zu unknown, %zu mismatched: %s", t->unknown, t->mismatched,
             t->first_problem);
  else if (t->dropped)
    snprintf(why, cap, "%zu readings dropped by nodes", t->dropped);
  else if (t->duplicates && !dups_allowed)
    snprintf(why, cap, "%zu duplicates", t->duplicates);
  return why[0] == '\0';
}

/* Sum of the nodes' outboxes (the `nodes` answer). */
static long outboxes(struct es_farm *f)
{
  const char *a = es_ctl(f, "nodes");
  long sum = 0;
  for (const char *p = a; (p = strstr(p, " outbox=")) != NULL; p += 8)
    sum += strtol(p + 8, NULL, 10);
  return sum;
}

bool es_drain(struct es_farm *f, int timeout_ms, bool want_all, struct es_tally *t)
{
  es_ctl(f, "pause");
  int64_t end = et_now_ms() + timeout_ms;
  for (;;) {
    es_step(f, 200);
    long held = outboxes(f) + es_sim_status(f, "uplink");
    json_t *b = es_api(f, "/api/backlog");
    json_int_t depth = json_integer_value(json_object_get(b, "depth"));
    json_decref(b);
    es_tally(f, t, NULL);
    if (held == 0 && depth == 0 && (!want_all || t->missing <= t->gw_lost)) {
      if (t->missing == 0)
        return true;
      /* Readings a gateway restart (or a cap) took can never come: let
       * the broker's last deliveries arrive, then count again. */
      es_step(f, 1000);
      es_tally(f, t, NULL);
      return true;
    }
    if (et_now_ms() > end) {
      printf("drain: %ld held by the simulator, backlog depth %lld, %zu missing\n", held,
             (long long)depth, t->missing);
      return false;
    }
  }
}

json_t *es_api(struct es_farm *f, const char *path)
{
  static char out[1 << 18];
  const char *body;
  int st = api(f, "GET", path, NULL, NULL, out, sizeof out, &body);
  if (st != 200)
    fh_die("GET %s: %d", path, st);
  return et_json(body, strlen(body));
}

int es_post(struct es_farm *f, const char *path, const char *headers, const char *json, char *out,
            size_t cap, const char **body)
{
  return api(f, "POST", path, headers, json, out, cap, body);
}
