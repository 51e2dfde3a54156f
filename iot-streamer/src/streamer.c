/* SPDX-License-Identifier: MIT */
/*
 * The ingest loop: MQTT messages in, validated, batched into the store;
 * watermarks, alerts and live items out after each commit.
 */
#include "streamer.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "st/db.h"
#include "farm/error.h"
#include "farmd/json.h"
#include "farmd/mqtt.h"
#include "farmd/topic.h"
#include "http.h"
#include "ingest.h"
#include "live.h"
#include "map.h"
#include "st/store.h"

#define DAY_S 86400LL

const struct fd_cfg_key st_config_keys[] = {
    {"mqtt_host", FD_CFG_STRING, "localhost", 0, 0, "broker host name (must match its certificate)"},
    {"mqtt_port", FD_CFG_INT, "8883", 1, 65535, "broker port"},
    {"mqtt_tls", FD_CFG_BOOL, "true", 0, 0, "TLS to the broker"},
    {"mqtt_ca", FD_CFG_STRING, "/etc/iotferme/certs/ca.crt", 0, 0, "CA certificate (PEM)"},
    {"mqtt_cert", FD_CFG_STRING, "", 0, 0, "client certificate (PEM), with mqtt_key"},
    {"mqtt_key", FD_CFG_STRING, "", 0, 0, "client private key (PEM)"},
    {"mqtt_username", FD_CFG_STRING, "iot-streamer", 0, 0, "broker user"},
    {"mqtt_password", FD_CFG_SECRET, NULL, 0, 0, "broker password (or mqtt_password_file)"},
    {"mqtt_client_id", FD_CFG_STRING, "", 0, 0, "client id; default iot-streamer-HOSTNAME"},
    {"mqtt_keepalive", FD_CFG_INT, "30", 5, 3600, "keepalive, seconds"},
    {"mqtt_session_expiry", FD_CFG_INT, "3600", 0, 7 * DAY_S,
     "seconds the broker keeps the session (and queues messages) while disconnected"},
    {"shared_group", FD_CFG_STRING, "", 0, 0,
     "MQTT v5 shared subscription group; streamers in one group split the load"},
    {"db", FD_CFG_STRING, "/var/lib/iot-streamer/streamer.db", 0, 0,
     "SQLite file path, or a postgresql:// URL"},
    {"http_listen", FD_CFG_STRING, "127.0.0.1:8090", 0, 0,
     "address:port for /live, /metrics, /healthz; empty disables"},
    {"http_threads", FD_CFG_INT, "16", 2, 1024, "HTTP worker threads (one per live client)"},
    {"log_level", FD_CFG_STRING, "info", 0, 0, "error, warn, info or debug"},
    {"batch_max", FD_CFG_INT, "2000", 1, 100000, "readings per database transaction, at most"},
    {"batch_ms", FD_CFG_INT, "50", 1, 10000, "longest a reading waits for its batch, ms"},
    {"max_payload", FD_CFG_INT, "16384", 256, 262144, "largest accepted payload, bytes"},
    {"retention_raw", FD_CFG_INT, "2592000", 0, 100 * 365 * DAY_S,
     "seconds raw readings and events are kept; 0 = forever"},
    {"retention_minute", FD_CFG_INT, "7776000", 0, 100 * 365 * DAY_S,
     "seconds minute rollups are kept; 0 = forever"},
    {"retention_hour", FD_CFG_INT, "0", 0, 100 * 365 * DAY_S,
     "seconds hour rollups are kept; 0 = forever"},
    {"retention_interval", FD_CFG_INT, "3600", 1, DAY_S, "seconds between retention passes"},
    {"rules_refresh", FD_CFG_INT, "10", 1, 3600, "seconds between alert rule reloads"},
    {"alert_tick_ms", FD_CFG_INT, "1000", 20, 60000, "offline check period, ms"},
    {"offline_factor", FD_CFG_INT, "3", 1, 1000, "default k of offline rules"},
    {"expected_interval_ms", FD_CFG_INT, "60000", 100, DAY_S * 1000,
     "reporting interval of a device whose status does not state one"},
    {"live_buffer", FD_CFG_INT, "65536", 16, 10000000, "live items kept for resuming clients"},
};
const size_t st_config_nkeys = sizeof st_config_keys / sizeof st_config_keys[0];

enum msg_kind { MK_TELEMETRY, MK_STATUS, MK_EVENT, MK_EDGE_STATUS, MK_ALERT_ACK, MK_COUNT };
static const char *const msg_kind_names[MK_COUNT] = {"telemetry", "status", "event",
                                                     "edge_status", "alert_ack"};

/* Counters read by the HTTP threads. */
struct metrics {
  atomic_uint_fast64_t msgs[MK_COUNT];
  atomic_uint_fast64_t rejected[ST_REJ_COUNT];
  atomic_uint_fast64_t ignored, stored, duplicate, expired, batches, batch_errors, db_errors,
      db_recovered, watermarks, alerts_opened, alerts_resolved, alerts_open, pending, rules;
  atomic_bool mqtt_up, db_ok;
};

/* A telemetry message waiting in the batch: rows [first, first + n). */
struct pmsg {
  size_t first, n;
  int64_t received_ts;
};

struct site_state {
  int64_t current;   /* watermark in the database */
  int64_t published; /* last value published */
};

struct streamer {
  const struct fd_cfg *cfg;
  const struct fd_log *log;
  struct fd_ratelimit rl_bad, rl_db;
  struct metrics m;

  struct st_db *db;
  struct fd_mqtt *mqtt;
  struct st_alerts *alerts;
  struct st_live *live;
  struct st_http *http;

  struct st_reading *rows;
  size_t nrows, caprows;
  struct st_edge_seq *seqs;
  size_t nseqs, capseqs;
  struct pmsg *msgs;
  size_t nmsgs, capmsgs;
  int64_t batch_since; /* monotonic ms of the oldest pending item */
  int64_t db_retry_at, db_backoff;

  struct st_map *sites; /* site -> struct site_state */
  pthread_mutex_t gauges_lock;
  char *gauges; /* per-site watermark lines for /metrics */

  int64_t batch_max, batch_ms, max_payload, retention_raw_ms;
};

static void reject(struct streamer *s, enum st_reject why, const char *topic, const char *detail)
{
  atomic_fetch_add(&s->m.rejected[why], 1);
  char shown[160];
  fd_log_escape(topic, strlen(topic), shown, sizeof shown);
  fd_log_rl(s->log, &s->rl_bad, FD_LOG_WARN, "dropped message on '%s': %s: %s", shown,
            st_reject_name(why), detail);
}

/* Grows an array of elements of size sz to hold one more. */
static bool reserve(void **p, size_t *cap, size_t n, size_t sz, size_t more)
{
  if (n + more <= *cap)
    return true;
  size_t nc = *cap ? *cap : 64;
  while (nc < n + more)
    nc *= 2;
  void *np = realloc(*p, nc * sz);
  if (!np)
    return false;
  *p = np;
  *cap = nc;
  return true;
}

static void add_seq(struct streamer *s, const char *site, int64_t edge_seq)
{
  if (!reserve((void **)&s->seqs, &s->capseqs, s->nseqs, sizeof *s->seqs, 1))
    return; /* the edge resends what the watermark does not cover */
  struct st_edge_seq *e = &s->seqs[s->nseqs++];
  snprintf(e->site, sizeof e->site, "%s", site);
  e->edge_seq = edge_seq;
  if (!s->batch_since)
    s->batch_since = fd_mono_ms();
}

static void on_telemetry(struct streamer *s, const struct fd_topic *t, const struct fd_mqtt_msg *msg)
{
  int64_t now = fd_wall_ms();
  struct st_telemetry tm;
  int64_t edge_seq;
  enum st_reject why;
  char detail[160];
  if (st_parse_telemetry(msg->payload, msg->len, (size_t)s->max_payload, now, &tm, &edge_seq,
                         &why, detail, sizeof detail) != 0) {
    reject(s, why, msg->topic, detail);
    /* Refused for good: count it as handled so the watermark moves on. */
    if (edge_seq > 0)
      add_seq(s, t->site, edge_seq);
    return;
  }
  if (!tm.hist)
    st_alerts_seen(s->alerts, t->site, t->device, now, 0);
  add_seq(s, t->site, tm.edge_seq);
  if (s->retention_raw_ms > 0 && tm.ts < now - s->retention_raw_ms) {
    /* Already past retention: it would be deleted at the next pass. */
    atomic_fetch_add(&s->m.expired, tm.nmetrics);
    return;
  }
  if (!reserve((void **)&s->rows, &s->caprows, s->nrows, sizeof *s->rows, tm.nmetrics) ||
      !reserve((void **)&s->msgs, &s->capmsgs, s->nmsgs, sizeof *s->msgs, 1)) {
    fd_log_rl(s->log, &s->rl_db, FD_LOG_ERROR, "out of memory: telemetry dropped");
    return;
  }
  s->msgs[s->nmsgs++] = (struct pmsg){s->nrows, tm.nmetrics, now};
  for (size_t i = 0; i < tm.nmetrics; i++) {
    struct st_reading *r = &s->rows[s->nrows++];
    memset(r, 0, sizeof *r);
    memcpy(r->site, t->site, sizeof r->site);
    memcpy(r->device, t->device, sizeof r->device);
    memcpy(r->group, t->group, sizeof r->group);
    memcpy(r->metric, tm.m[i].name, sizeof r->metric);
    r->value = tm.m[i].value;
    r->ts = tm.ts;
    r->boot = tm.boot;
    r->seq = tm.seq;
    r->edge_seq = tm.edge_seq;
    r->received_ts = now;
    r->up_ms = tm.up_ms;
    r->rx_ts = tm.rx_ts;
    r->rssi = tm.rssi;
    r->has_rssi = tm.has_rssi;
    r->hist = tm.hist;
    r->synthetic = tm.synthetic;
  }
  atomic_store(&s->m.pending, s->nrows);
}

static void live_simple(struct streamer *s, const char *type, const struct fd_topic *t,
                        const char *payload, size_t len)
{
  json_t *body = json_loadb(payload, len, 0, NULL);
  json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o}", "type", type, "site", t->site, "device",
                        t->device, "received_ts", (json_int_t)fd_wall_ms(), "data",
                        body ? body : json_null());
  if (o) {
    st_live_push(s->live, o);
    json_decref(o);
  }
}

static void db_failed(struct streamer *s, const char *what)
{
  atomic_fetch_add(&s->m.db_errors, 1);
  fd_log_rl(s->log, &s->rl_db, FD_LOG_ERROR, "db: %s: %s", what, st_db_error(s->db));
}

static void on_status(struct streamer *s, const struct fd_topic *t, const struct fd_mqtt_msg *msg)
{
  struct st_status st;
  enum st_reject why;
  char detail[160];
  if (st_parse_status(msg->payload, msg->len, (size_t)s->max_payload, &st, &why, detail,
                      sizeof detail) != 0) {
    reject(s, why, msg->topic, detail);
    return;
  }
  int64_t now = fd_wall_ms();
  if (st_store_status(s->db, t->site, t->device, msg->payload, st.online, st.interval_ms, now) != 0)
    db_failed(s, "status");
  /* A retained status replayed at subscribe time is not a sign of life. */
  if (!msg->retain && st.online != 0)
    st_alerts_seen(s->alerts, t->site, t->device, now, st.interval_ms);
  else if (st.interval_ms > 0)
    st_alerts_seen(s->alerts, t->site, t->device, 0, st.interval_ms);
  live_simple(s, "status", t, msg->payload, msg->len);
}

static void on_event(struct streamer *s, const struct fd_topic *t, const struct fd_mqtt_msg *msg)
{
  struct st_event ev;
  enum st_reject why;
  char detail[160];
  if (st_parse_event(msg->payload, msg->len, (size_t)s->max_payload, &ev, &why, detail,
                     sizeof detail) != 0) {
    reject(s, why, msg->topic, detail);
    return;
  }
  if (st_store_event(s->db, t->site, t->device, ev.ts, fd_wall_ms(), ev.type, msg->payload,
                     NULL) != 0)
    db_failed(s, "event");
  /* Alert transitions were already pushed to the feed when they happened. */
  if (strcmp(ev.type, "alert") != 0)
    live_simple(s, "event", t, msg->payload, msg->len);
}

static void publish_watermark(struct streamer *s, const char *site, struct site_state *ss)
{
  if (ss->current <= ss->published)
    return;
  struct fd_topic t = {.kind = FD_TOPIC_EDGE_COMMIT};
  snprintf(t.site, sizeof t.site, "%s", site);
  snprintf(t.device, sizeof t.device, "%s", FD_EDGE_DEVICE);
  char topic[FD_TOPIC_MAX], payload[64];
  if (fd_topic_format(&t, topic, sizeof topic) != 0)
    return;
  int len = snprintf(payload, sizeof payload, "{\"edge_seq\":%" PRId64 "}", ss->current);
  /* Retained, so an edge that reconnects learns it at once. */
  if (fd_mqtt_publish(s->mqtt, topic, payload, (size_t)len, 1, true, NULL) == 0) {
    ss->published = ss->current;
    atomic_fetch_add(&s->m.watermarks, 1);
  }
}

static void refresh_gauges(struct streamer *s)
{
  size_t cap = 128 + st_map_count(s->sites) * (FD_ID_MAX + 64), len = 0;
  char *g = malloc(cap);
  if (!g)
    return;
  g[0] = '\0';
  size_t pos = 0;
  const char *site;
  void *v;
  while (st_map_next(s->sites, &pos, &site, &v)) {
    int n = snprintf(g + len, cap - len, "iot_streamer_commit_watermark{site=\"%s\"} %" PRId64 "\n",
                     site, ((struct site_state *)v)->current);
    if (n > 0 && (size_t)n < cap - len)
      len += (size_t)n;
  }
  pthread_mutex_lock(&s->gauges_lock);
  free(s->gauges);
  s->gauges = g;
  pthread_mutex_unlock(&s->gauges_lock);
}

static void update_watermark(struct streamer *s, const char *site, int64_t floor)
{
  struct site_state *ss = st_map_put(s->sites, site, NULL);
  if (!ss)
    return;
  int64_t wm = 0;
  int rc = floor > 0 ? st_store_watermark_floor(s->db, site, floor, &wm)
                     : st_store_advance_watermark(s->db, site, &wm);
  if (rc != 0) {
    db_failed(s, "watermark");
    return;
  }
  if (wm > ss->current) {
    ss->current = wm;
    refresh_gauges(s);
  }
  publish_watermark(s, site, ss);
}

static void on_edge_status(struct streamer *s, const struct fd_topic *t,
                           const struct fd_mqtt_msg *msg)
{
  int64_t floor;
  enum st_reject why;
  char detail[160];
  if (st_parse_edge_status(msg->payload, msg->len, (size_t)s->max_payload, &floor, &why, detail,
                           sizeof detail) != 0) {
    reject(s, why, msg->topic, detail);
    return;
  }
  if (st_store_edge_status(s->db, t->site, msg->payload, fd_wall_ms()) != 0)
    db_failed(s, "edge status");
  if (floor > 0)
    update_watermark(s, t->site, floor);
  live_simple(s, "edge_status", t, msg->payload, msg->len);
}

static void on_alert_ack(struct streamer *s, const struct fd_mqtt_msg *msg)
{
  struct st_alert_ack ack;
  enum st_reject why;
  char detail[160];
  if (st_parse_alert_ack(msg->payload, msg->len, &ack, &why, detail, sizeof detail) != 0) {
    reject(s, why, msg->topic, detail);
    return;
  }
  int rc = st_alerts_ack(s->alerts, ack.id, ack.by[0] ? ack.by : "unknown", fd_wall_ms());
  if (rc == FARM_ENOENT)
    fd_log_rl(s->log, &s->rl_bad, FD_LOG_INFO, "ack for alert %" PRId64 ": not open", ack.id);
  else if (rc != 0)
    db_failed(s, "alert ack");
}

#define ACK_TOPIC "v1/cloud/alerts/ack"

static void on_message(void *ud, const struct fd_mqtt_msg *msg)
{
  struct streamer *s = ud;
  if (strcmp(msg->topic, ACK_TOPIC) == 0) {
    atomic_fetch_add(&s->m.msgs[MK_ALERT_ACK], 1);
    on_alert_ack(s, msg);
    return;
  }
  struct fd_topic t;
  int rc = fd_topic_parse(msg->topic, strlen(msg->topic), &t);
  if (rc != 0) {
    reject(s, ST_REJ_TOPIC, msg->topic, rc == FARM_EUNKNOWN ? "unknown kind" : "bad topic");
    return;
  }
  if (msg->len > (size_t)s->max_payload) {
    char detail[64];
    snprintf(detail, sizeof detail, "%zu bytes", msg->len);
    reject(s, ST_REJ_OVERSIZE, msg->topic, detail);
    return;
  }
  switch (t.kind) {
  case FD_TOPIC_TELEMETRY:
    atomic_fetch_add(&s->m.msgs[MK_TELEMETRY], 1);
    on_telemetry(s, &t, msg);
    break;
  case FD_TOPIC_STATUS:
    atomic_fetch_add(&s->m.msgs[MK_STATUS], 1);
    on_status(s, &t, msg);
    break;
  case FD_TOPIC_EVENT:
    atomic_fetch_add(&s->m.msgs[MK_EVENT], 1);
    on_event(s, &t, msg);
    break;
  case FD_TOPIC_EDGE_STATUS:
    atomic_fetch_add(&s->m.msgs[MK_EDGE_STATUS], 1);
    on_edge_status(s, &t, msg);
    break;
  case FD_TOPIC_CMD:
  case FD_TOPIC_ACK:
  case FD_TOPIC_EDGE_COMMIT:
  case FD_TOPIC_ML:
    /* Commands and their outcome are the web-gateway's, model state is
     * ml-engine's; commits are ours. */
    atomic_fetch_add(&s->m.ignored, 1);
    break;
  }
}

static void publish_all_watermarks(struct streamer *s)
{
  size_t pos = 0;
  const char *site;
  void *v;
  while (st_map_next(s->sites, &pos, &site, &v))
    publish_watermark(s, site, v);
}

static void on_connect(void *ud, int reason)
{
  struct streamer *s = ud;
  if (reason != 0)
    return;
  atomic_store(&s->m.mqtt_up, true);
  /* Whatever could not be published while disconnected goes out now. */
  publish_all_watermarks(s);
}

static void on_disconnect(void *ud, int reason)
{
  (void)reason;
  atomic_store(&((struct streamer *)ud)->m.mqtt_up, false);
}

static void alert_sink(void *ud, const struct st_alert_event *e)
{
  struct streamer *s = ud;
  if (strcmp(e->state, "open") == 0)
    atomic_fetch_add(&s->m.alerts_opened, 1);
  else if (strcmp(e->state, "resolved") == 0)
    atomic_fetch_add(&s->m.alerts_resolved, 1);
  uint64_t opened, resolved, open_now;
  st_alerts_counts(s->alerts, &opened, &resolved, &open_now);
  atomic_store(&s->m.alerts_open, open_now);

  json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:f, s:I, s:s}", "type", "alert",
                        "alert_id", (json_int_t)e->alert_id, "state", e->state, "rule_id",
                        (json_int_t)e->rule_id, "rule", e->rule, "kind", e->kind, "site", e->site,
                        "device", e->device, "value", e->value, "ts", (json_int_t)e->ts,
                        "message", e->message);
  if (!o)
    return;
  if (e->metric && e->metric[0])
    json_object_set_new(o, "metric", json_string(e->metric));
  if (e->by)
    json_object_set_new(o, "by", json_string(e->by));
  st_live_push(s->live, o);
  char *text = fd_json_dump(o);
  json_decref(o);
  if (!text)
    return;
  struct fd_topic t = {.kind = FD_TOPIC_EVENT};
  snprintf(t.site, sizeof t.site, "%s", e->site);
  snprintf(t.device, sizeof t.device, "%s", e->device);
  char topic[FD_TOPIC_MAX];
  if (fd_topic_format(&t, topic, sizeof topic) == 0 &&
      fd_mqtt_publish(s->mqtt, topic, text, strlen(text), 1, false, NULL) != 0)
    fd_log_rl(s->log, &s->rl_db, FD_LOG_WARN, "alert %" PRId64 " %s: not published (offline)",
              e->alert_id, e->state);
  free(text);
}

/* Live item for one telemetry message: only its newly stored metrics. */
static void live_telemetry(struct streamer *s, const struct pmsg *pm)
{
  const struct st_reading *r0 = &s->rows[pm->first];
  json_t *v = json_object();
  size_t n = 0;
  for (size_t i = 0; i < pm->n; i++) {
    const struct st_reading *r = &s->rows[pm->first + i];
    if (r->inserted) {
      json_object_set_new(v, r->metric, json_real(r->value));
      n++;
    }
  }
  if (n == 0) {
    json_decref(v);
    return;
  }
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:o}", "type",
                        "telemetry", "site", r0->site, "device", r0->device, "group", r0->group,
                        "ts", (json_int_t)r0->ts, "boot", (json_int_t)r0->boot, "seq",
                        (json_int_t)r0->seq, "edge_seq", (json_int_t)r0->edge_seq, "hist",
                        r0->hist, "synthetic", r0->synthetic, "v", v);
  if (o) {
    st_live_push(s->live, o);
    json_decref(o);
  }
}

static int cmp_seq_site(const void *a, const void *b)
{
  const struct st_edge_seq *x = a, *y = b;
  int c = strcmp(x->site, y->site);
  if (c)
    return c;
  return (x->edge_seq > y->edge_seq) - (x->edge_seq < y->edge_seq);
}

static void flush(struct streamer *s)
{
  if (s->nrows == 0 && s->nseqs == 0)
    return;
  int64_t now = fd_mono_ms();
  if (s->db_retry_at && now < s->db_retry_at)
    return;
  if (s->nseqs)
    qsort(s->seqs, s->nseqs, sizeof *s->seqs, cmp_seq_site);
  int64_t t_start = fd_mono_ms();
  int rc = st_store_write_batch(s->db, s->rows, s->nrows, s->seqs, s->nseqs);
  int64_t t_written = fd_mono_ms();
  if (rc != 0) {
    atomic_fetch_add(&s->m.batch_errors, 1);
    atomic_store(&s->m.db_ok, false);
    db_failed(s, "batch");
    /* Keep the batch and retry with backoff; the MQTT queue fills up
     * meanwhile and slows the broker down. */
    s->db_backoff = s->db_backoff ? (s->db_backoff * 2 > 5000 ? 5000 : s->db_backoff * 2) : 100;
    s->db_retry_at = now + s->db_backoff;
    return;
  }
  if (!atomic_load(&s->m.db_ok))
    fd_log(s->log, FD_LOG_INFO, "db: writes succeed again");
  atomic_store(&s->m.db_ok, true);
  s->db_retry_at = 0;
  s->db_backoff = 0;
  atomic_fetch_add(&s->m.batches, 1);

  size_t inserted = 0;
  for (size_t i = 0; i < s->nrows; i++)
    inserted += s->rows[i].inserted;
  atomic_fetch_add(&s->m.stored, inserted);
  atomic_fetch_add(&s->m.duplicate, s->nrows - inserted);

  for (size_t i = 0; i < s->nmsgs; i++)
    live_telemetry(s, &s->msgs[i]);
  for (size_t i = 0; i < s->nrows; i++) {
    const struct st_reading *r = &s->rows[i];
    if (r->inserted && !r->hist)
      st_alerts_reading(s->alerts, r->site, r->device, r->metric, r->ts, r->value);
  }
  for (size_t i = 0; i < s->nseqs; i++) {
    if (i > 0 && strcmp(s->seqs[i].site, s->seqs[i - 1].site) == 0)
      continue;
    update_watermark(s, s->seqs[i].site, 0);
  }
  fd_log(s->log, FD_LOG_DEBUG, "batch: %zu readings (%zu new), %zu messages: %lld ms to store, %lld ms after",
         s->nrows, inserted, s->nseqs, (long long)(t_written - t_start),
         (long long)(fd_mono_ms() - t_written));
  s->nrows = s->nseqs = s->nmsgs = 0;
  s->batch_since = 0;
  atomic_store(&s->m.pending, 0);
}

static char *render_metrics(void *ud)
{
  struct streamer *s = ud;
  size_t cap = 8192, len = 0;
  char *b = malloc(cap);
  if (!b)
    return NULL;
#define OUT(...)                                                     \
  do {                                                               \
    int n_ = snprintf(b + len, cap - len, __VA_ARGS__);              \
    if (n_ > 0 && (size_t)n_ < cap - len)                            \
      len += (size_t)n_;                                             \
  } while (0)
#define COUNTER(name, help, value)                                                   \
  OUT("# HELP iot_streamer_%s %s\n# TYPE iot_streamer_%s counter\niot_streamer_%s %" PRIu64 "\n", \
      name, help, name, name, (uint64_t)(value))
#define GAUGE(name, help, value)                                                     \
  OUT("# HELP iot_streamer_%s %s\n# TYPE iot_streamer_%s gauge\niot_streamer_%s %" PRIu64 "\n", \
      name, help, name, name, (uint64_t)(value))
  OUT("# HELP iot_streamer_messages_total MQTT messages received, by topic kind.\n"
      "# TYPE iot_streamer_messages_total counter\n");
  for (int k = 0; k < MK_COUNT; k++)
    OUT("iot_streamer_messages_total{kind=\"%s\"} %" PRIu64 "\n", msg_kind_names[k],
        (uint64_t)atomic_load(&s->m.msgs[k]));
  OUT("# HELP iot_streamer_rejected_total Messages dropped by validation, by reason.\n"
      "# TYPE iot_streamer_rejected_total counter\n");
  for (int r = 0; r < ST_REJ_COUNT; r++)
    OUT("iot_streamer_rejected_total{reason=\"%s\"} %" PRIu64 "\n", st_reject_name(r),
        (uint64_t)atomic_load(&s->m.rejected[r]));
  COUNTER("ignored_total", "Messages on topics the streamer does not handle (cmd, ack, commit).",
          atomic_load(&s->m.ignored));
  COUNTER("readings_stored_total", "Readings written for the first time.", atomic_load(&s->m.stored));
  COUNTER("readings_duplicate_total", "Readings already stored (same device, boot, seq, metric).",
          atomic_load(&s->m.duplicate));
  COUNTER("readings_expired_total", "Readings older than the raw retention, not stored.",
          atomic_load(&s->m.expired));
  COUNTER("batches_total", "Database transactions committed.", atomic_load(&s->m.batches));
  COUNTER("batch_errors_total", "Database transactions that failed (and were retried).",
          atomic_load(&s->m.batch_errors));
  COUNTER("db_errors_total", "Failed database operations of any kind.", atomic_load(&s->m.db_errors));
  COUNTER("db_recovered_total", "Damaged SQLite files moved aside at start.",
          atomic_load(&s->m.db_recovered));
  COUNTER("watermarks_published_total", "Commit watermarks published.", atomic_load(&s->m.watermarks));
  COUNTER("alerts_opened_total", "Alerts opened.", atomic_load(&s->m.alerts_opened));
  COUNTER("alerts_resolved_total", "Alerts resolved.", atomic_load(&s->m.alerts_resolved));
  GAUGE("alerts_open", "Alerts open or acknowledged, as known to this streamer.",
        atomic_load(&s->m.alerts_open));
  GAUGE("alert_rules", "Alert rules loaded (enabled and valid).", atomic_load(&s->m.rules));
  GAUGE("pending_readings", "Readings waiting for the next transaction.", atomic_load(&s->m.pending));
  GAUGE("live_clients", "Connected /live clients.", st_live_clients(s->live));
  COUNTER("live_sent_total", "Items written to /live clients.", st_live_sent(s->live));
  GAUGE("mqtt_connected", "1 while connected to the broker.", atomic_load(&s->m.mqtt_up) ? 1 : 0);
  GAUGE("db_ok", "1 while database writes succeed.", atomic_load(&s->m.db_ok) ? 1 : 0);
  struct fd_mqtt_stats ms;
  fd_mqtt_get_stats(s->mqtt, &ms);
  COUNTER("mqtt_connects_total", "Successful connections to the broker.", ms.connects);
  pthread_mutex_lock(&s->gauges_lock);
  OUT("# HELP iot_streamer_commit_watermark Highest edge_seq committed, per site.\n"
      "# TYPE iot_streamer_commit_watermark gauge\n");
  if (s->gauges) {
    size_t gl = strlen(s->gauges);
    if (len + gl + 1 > cap) {
      char *nb = realloc(b, len + gl + 1);
      if (nb) {
        b = nb;
        cap = len + gl + 1;
      }
    }
    OUT("%s", s->gauges);
  }
  pthread_mutex_unlock(&s->gauges_lock);
#undef GAUGE
#undef COUNTER
#undef OUT
  return b;
}

static char *render_health(void *ud, int *status)
{
  struct streamer *s = ud;
  bool mq = atomic_load(&s->m.mqtt_up), db = atomic_load(&s->m.db_ok);
  *status = mq && db ? 200 : 503;
  char *b = malloc(160);
  if (b)
    snprintf(b, 160, "{\"status\":\"%s\",\"mqtt\":%s,\"db\":%s,\"pending\":%" PRIu64 "}",
             mq && db ? "ok" : "degraded", mq ? "true" : "false", db ? "true" : "false",
             (uint64_t)atomic_load(&s->m.pending));
  return b;
}

static int site_row(void *ud, int ncol, const char *const *col)
{
  struct streamer *s = ud;
  if (ncol < 2 || !col[0])
    return 0;
  struct site_state *ss = st_map_put(s->sites, col[0], NULL);
  if (ss)
    ss->current = col[1] ? strtoll(col[1], NULL, 10) : 0;
  return 0;
}

static int open_all(struct streamer *s)
{
  const struct fd_cfg *c = s->cfg;
  char err[512], shown[512];
  const char *spec = fd_cfg_str(c, "db");
  st_db_redact(spec, shown, sizeof shown);
  bool recovered = false;
  if (st_db_open(spec, s->log, &s->db, &recovered, err, sizeof err) != 0) {
    fd_log(s->log, FD_LOG_ERROR, "cannot open database %s: %s", shown, err);
    return 1;
  }
  if (recovered)
    atomic_fetch_add(&s->m.db_recovered, 1);
  int rc = st_store_init(s->db);
  if (rc != 0) {
    fd_log(s->log, FD_LOG_ERROR, "cannot prepare database %s: %s", shown,
           rc == FARM_EUNSUPPORTED ? "made by a newer version" : st_db_error(s->db));
    return 1;
  }
  fd_log(s->log, FD_LOG_INFO, "database %s (%s)", shown,
         st_db_dialect(s->db) == ST_POSTGRES ? "PostgreSQL" : "SQLite");
  atomic_store(&s->m.db_ok, true);
  /* Known sites and their watermarks, republished once connected. */
  if (st_db_exec(s->db, "SELECT site, watermark FROM edges", NULL, 0, site_row, s) != 0)
    db_failed(s, "edges");
  refresh_gauges(s);

  if (st_alerts_new(s->db, s->log, alert_sink, s, fd_cfg_int(c, "offline_factor"),
                    fd_cfg_int(c, "expected_interval_ms"), &s->alerts) != 0)
    return 1;
  if (st_alerts_reload(s->alerts) != 0)
    db_failed(s, "alert rules");
  atomic_store(&s->m.rules, st_alerts_rule_count(s->alerts));

  if (st_live_new((size_t)fd_cfg_int(c, "live_buffer"), (uint64_t)fd_wall_ms(), &s->live) != 0 ||
      st_live_start(s->live) != 0) {
    fd_log(s->log, FD_LOG_ERROR, "cannot start the live feed");
    return 1;
  }

  char client_id[128];
  const char *cid = fd_cfg_str(c, "mqtt_client_id");
  if (!cid || !cid[0]) {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(client_id, sizeof client_id, "iot-streamer-%s", host);
    cid = client_id;
  }
  bool tls = fd_cfg_bool(c, "mqtt_tls");
  struct fd_mqtt_config mc = {
      .host = fd_cfg_str(c, "mqtt_host"),
      .port = (int)fd_cfg_int(c, "mqtt_port"),
      .client_id = cid,
      .tls = tls,
      .ca_file = tls ? fd_cfg_str(c, "mqtt_ca") : NULL,
      .cert_file = fd_cfg_isset(c, "mqtt_cert") ? fd_cfg_str(c, "mqtt_cert") : NULL,
      .key_file = fd_cfg_isset(c, "mqtt_key") ? fd_cfg_str(c, "mqtt_key") : NULL,
      .username = fd_cfg_isset(c, "mqtt_username") ? fd_cfg_str(c, "mqtt_username") : NULL,
      .password = fd_cfg_str(c, "mqtt_password"),
      .keepalive_s = (int)fd_cfg_int(c, "mqtt_keepalive"),
      .clean_start = fd_cfg_int(c, "mqtt_session_expiry") == 0,
      .session_expiry_s = (uint32_t)fd_cfg_int(c, "mqtt_session_expiry"),
  };
  struct fd_mqtt_callbacks cb = {on_connect, on_disconnect, on_message, NULL};
  rc = fd_mqtt_new(&mc, s->log, &cb, s, &s->mqtt);
  if (rc != 0) {
    fd_log(s->log, FD_LOG_ERROR, "MQTT settings refused: %s (check mqtt_ca, mqtt_cert, mqtt_key)",
           farm_strerror(rc));
    return 1;
  }
  const char *group = fd_cfg_str(c, "shared_group");
  char filter[160], ack[160];
  if (group && group[0]) {
    if (!fd_id_valid(group, strlen(group))) {
      fd_log(s->log, FD_LOG_ERROR, "shared_group must be 1-64 characters of [a-z0-9_-]");
      return 1;
    }
    snprintf(filter, sizeof filter, "$share/%s/" FD_TOPIC_ROOT "/+/+/#", group);
    snprintf(ack, sizeof ack, "$share/%s/" ACK_TOPIC, group);
  } else {
    snprintf(filter, sizeof filter, FD_TOPIC_ROOT "/+/+/#");
    snprintf(ack, sizeof ack, ACK_TOPIC);
  }
  if (fd_mqtt_subscribe(s->mqtt, filter, 1, false) != 0 ||
      fd_mqtt_subscribe(s->mqtt, ack, 1, false) != 0 || fd_mqtt_start(s->mqtt) != 0) {
    fd_log(s->log, FD_LOG_ERROR, "cannot start the MQTT client");
    return 1;
  }
  fd_log(s->log, FD_LOG_INFO, "subscribed %s as %s to %s:%d", filter, cid, mc.host, mc.port);

  const char *listen = fd_cfg_str(c, "http_listen");
  if (listen && listen[0]) {
    struct st_http_handlers h = {render_metrics, render_health, s};
    if (st_http_start(listen, (int)fd_cfg_int(c, "http_threads"), s->live, &h, s->log, &s->http,
                      err, sizeof err) != 0) {
      fd_log(s->log, FD_LOG_ERROR, "cannot listen on %s: %s", listen, err);
      return 1;
    }
    fd_log(s->log, FD_LOG_INFO, "HTTP on %s: /live /metrics /healthz", listen);
  }
  return 0;
}

static void close_all(struct streamer *s)
{
  st_http_stop(s->http); /* detaches every live client */
  fd_mqtt_free(s->mqtt);
  st_live_free(s->live);
  st_alerts_free(s->alerts);
  st_db_close(s->db);
  st_map_free(s->sites);
  free(s->rows);
  free(s->seqs);
  free(s->msgs);
  free(s->gauges);
  pthread_mutex_destroy(&s->gauges_lock);
}

int st_run(const struct fd_cfg *cfg, const struct fd_log *log, volatile sig_atomic_t *stop,
           volatile sig_atomic_t *reload)
{
  struct streamer *s = calloc(1, sizeof *s);
  if (!s)
    return 1;
  s->cfg = cfg;
  s->log = log;
  s->rl_bad = (struct fd_ratelimit)FD_RATELIMIT_INIT(10, 10000);
  s->rl_db = (struct fd_ratelimit)FD_RATELIMIT_INIT(5, 10000);
  s->batch_max = fd_cfg_int(cfg, "batch_max");
  s->batch_ms = fd_cfg_int(cfg, "batch_ms");
  s->max_payload = fd_cfg_int(cfg, "max_payload");
  s->retention_raw_ms = fd_cfg_int(cfg, "retention_raw") * 1000;
  pthread_mutex_init(&s->gauges_lock, NULL);
  s->sites = st_map_new(sizeof(struct site_state));
  int result = s->sites ? open_all(s) : 1;
  if (result != 0) {
    close_all(s);
    free(s);
    return result;
  }

  int64_t tick_ms = fd_cfg_int(cfg, "alert_tick_ms");
  int64_t now = fd_mono_ms();
  int64_t next_tick = now + tick_ms;
  int64_t next_rules = now + fd_cfg_int(cfg, "rules_refresh") * 1000;
  int64_t next_retention = now; /* once at start */
  fd_log(log, FD_LOG_INFO, "running");
  while (!*stop) {
    now = fd_mono_ms();
    int64_t wait = next_tick - now;
    if (s->batch_since) {
      int64_t due = s->batch_since + s->batch_ms - now;
      if (s->db_retry_at)
        due = s->db_retry_at - now;
      if (due < wait)
        wait = due;
    }
    if (wait > 100)
      wait = 100; /* stop requests are checked at least this often */
    if (wait < 0)
      wait = 0;
    /* Back-pressure: with a full batch and a failing database, stop
     * taking messages until it recovers. */
    bool full = s->nrows >= (size_t)s->batch_max;
    struct pollfd pfd = {.fd = fd_mqtt_fd(s->mqtt), .events = full ? 0 : POLLIN};
    poll(&pfd, 1, (int)wait);
    if (!full && (pfd.revents & POLLIN)) {
      /* Dispatch in slices so a batch is cut at batch_max. */
      while (s->nrows < (size_t)s->batch_max && fd_mqtt_dispatch(s->mqtt, 64) > 0) {
      }
    }
    now = fd_mono_ms();
    if ((s->nrows >= (size_t)s->batch_max) ||
        (s->batch_since && now - s->batch_since >= s->batch_ms))
      flush(s);
    if (now >= next_tick) {
      st_alerts_tick(s->alerts, fd_wall_ms());
      next_tick = now + tick_ms;
    }
    if (now >= next_rules || *reload) {
      *reload = 0;
      if (st_alerts_reload(s->alerts) != 0)
        db_failed(s, "alert rules");
      atomic_store(&s->m.rules, st_alerts_rule_count(s->alerts));
      next_rules = now + fd_cfg_int(cfg, "rules_refresh") * 1000;
    }
    if (now >= next_retention) {
      int64_t deleted = 0;
      if (st_store_retention(s->db, fd_wall_ms(), s->retention_raw_ms,
                             fd_cfg_int(cfg, "retention_minute") * 1000,
                             fd_cfg_int(cfg, "retention_hour") * 1000, &deleted) != 0)
        db_failed(s, "retention");
      else if (deleted)
        fd_log(log, FD_LOG_INFO, "retention: %" PRId64 " readings removed", deleted);
      next_retention = now + fd_cfg_int(cfg, "retention_interval") * 1000;
    }
  }
  fd_log(log, FD_LOG_INFO, "stopping");
  /* Store what is pending; one more try if the database hiccups. */
  fd_mqtt_dispatch(s->mqtt, 0);
  s->db_retry_at = 0;
  flush(s);
  close_all(s);
  free(s);
  return 0;
}
