/* SPDX-License-Identifier: MIT */
/*
 * The ml-engine service loop (see service.h): configuration, the MQTT
 * client, the per-reading pipeline (order check, fault checker, detector,
 * forecaster, frost check), events and status publications, periodic
 * checkpoints and statistics.
 */
#include "service.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "farm/error.h"
#include "farmd/mqtt.h"
#include "statefile.h"
#include "telemetry.h"

#define DAY_S 86400LL

const struct fd_cfg_key mls_config_keys[] = {
    {"mqtt_host", FD_CFG_STRING, "localhost", 0, 0,
     "broker host name (must match its certificate)"},
    {"mqtt_port", FD_CFG_INT, "8883", 1, 65535, "broker port"},
    {"mqtt_tls", FD_CFG_BOOL, "true", 0, 0, "TLS to the broker"},
    {"mqtt_cafile", FD_CFG_STRING, "", 0, 0, "CA certificate (PEM); required with TLS"},
    {"mqtt_certfile", FD_CFG_STRING, "", 0, 0, "client certificate (PEM), with mqtt_keyfile"},
    {"mqtt_keyfile", FD_CFG_STRING, "", 0, 0, "client private key (PEM)"},
    {"mqtt_username", FD_CFG_STRING, "ml-engine", 0, 0, "broker user"},
    {"mqtt_password", FD_CFG_SECRET, NULL, 0, 0, "broker password (or mqtt_password_file)"},
    {"mqtt_client_id", FD_CFG_STRING, "", 0, 0, "client id; default ml-engine-HOSTNAME"},
    {"mqtt_keepalive_s", FD_CFG_INT, "30", 5, 3600, "keepalive, seconds"},
    {"mqtt_session_expiry_s", FD_CFG_INT, "3600", 0, 7 * DAY_S,
     "seconds the broker keeps the session and queues telemetry while the engine is away"},
    {"mqtt_topic", FD_CFG_STRING, "v1/farm/+/+/telemetry/+", 0, 0,
     "telemetry subscription (narrow it to shard by site)"},
    {"threshold", FD_CFG_STRING, "0.45", 0, 0, "anomaly score threshold, in (0, 1]"},
    {"frost_c", FD_CFG_STRING, "1.0", 0, 0, "frost risk when the forecast reaches this, °C"},
    {"frost_metric", FD_CFG_STRING, "temp_c", 0, 0, "metric the frost check watches"},
    {"forecast_step_s", FD_CFG_INT, "900", ML_FC_STEP_MIN_S, ML_FC_DAY_S,
     "forecast bucket, seconds; divides a day"},
    {"forecast_horizon_h", FD_CFG_INT, "12", 1, 24, "hours forecast ahead"},
    {"stuck_s", FD_CFG_INT, "3600", 0, 7 * DAY_S,
     "seconds a value must stay unchanged to be a stuck sensor; 0 disables"},
    {"state_dir", FD_CFG_STRING, "/var/lib/ml-engine", 0, 0,
     "directory of the checkpoint (streams.ckpt); empty: none"},
    {"checkpoint_s", FD_CFG_INT, "300", 1, DAY_S, "seconds between checkpoints"},
    {"publish_s", FD_CFG_INT, "60", 1, 3600, "seconds between status publications of a device"},
    {"max_streams", FD_CFG_INT, "4096", 1, 1000000,
     "(device, metric) streams kept; the least recently updated is evicted"},
    {"max_payload", FD_CFG_INT, "16384", 256, 262144, "largest accepted payload, bytes"},
    {"stats_s", FD_CFG_INT, "300", 0, DAY_S,
     "seconds between statistics log lines; 0: only at exit"},
    {"log_level", FD_CFG_STRING, "info", 0, 0, "error, warn, info or debug"},
};
const size_t mls_config_nkeys = sizeof mls_config_keys / sizeof mls_config_keys[0];

/* "(environment ML_X)", "(file line N)" or "(default)": where a key came from. */
static void origin(const struct fd_cfg *cfg, const char *name, char *out, size_t cap)
{
  for (size_t i = 0; i < cfg->nkeys; i++) {
    if (strcmp(cfg->keys[i].name, name) != 0)
      continue;
    const struct fd_cfg_value *v = &cfg->values[i];
    if (v->origin == FD_CFG_ENV) {
      char up[80];
      size_t k = 0;
      for (; name[k] && k < sizeof up - 1; k++)
        up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
      up[k] = '\0';
      snprintf(out, cap, "environment ML_%s", up);
    } else if (v->origin == FD_CFG_FILE) {
      snprintf(out, cap, "configuration file, line %u", v->line);
    } else {
      snprintf(out, cap, "default");
    }
    return;
  }
  snprintf(out, cap, "?");
}

/* A decimal key in (min, max] (open_min) or [min, max]; `range` says which
 * in the error line. */
static int real_key(const struct fd_cfg *cfg, const char *name, double min, bool open_min,
                    double max, const char *range, double *out, char *err, size_t errlen)
{
  const char *s = fd_cfg_str(cfg, name);
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : NAN;
  if (s == NULL || end == s || *end != '\0' || errno != 0 || !(v >= min && v <= max) ||
      (open_min && v == min)) {
    char from[96];
    origin(cfg, name, from, sizeof from);
    snprintf(err, errlen, "%s: expected a decimal number in %s (%s)", name, range, from);
    return FARM_EINVAL;
  }
  *out = v;
  return 0;
}

int mls_settings_load(const struct fd_cfg *cfg, struct mls_settings *out, char *err, size_t errlen)
{
  memset(out, 0, sizeof *out);
  ml_detector_config_default(&out->models.det);
  ml_forecaster_config_default(&out->models.fc);
  if (real_key(cfg, "threshold", 0.0, true, 1.0, "(0, 1]", &out->models.det.threshold, err,
               errlen) != 0 ||
      real_key(cfg, "frost_c", -40.0, false, 125.0, "[-40, 125]", &out->frost_c, err, errlen) != 0)
    return FARM_EINVAL;
  const char *fm = fd_cfg_str(cfg, "frost_metric");
  if (!fm || !fd_id_valid(fm, strlen(fm))) {
    snprintf(err, errlen, "frost_metric: expected a metric name, 1-64 of [a-z0-9_-]");
    return FARM_EINVAL;
  }
  snprintf(out->frost_metric, sizeof out->frost_metric, "%s", fm);
  int64_t step = fd_cfg_int(cfg, "forecast_step_s"), hz = fd_cfg_int(cfg, "forecast_horizon_h");
  if (ML_FC_DAY_S % step != 0) {
    snprintf(err, errlen, "forecast_step_s: %" PRId64 " does not divide a day (86400 s)", step);
    return FARM_EINVAL;
  }
  if ((hz * 3600) % step != 0) {
    snprintf(err, errlen,
             "forecast_horizon_h: %" PRId64 " h is not a whole number of %" PRId64 " s buckets", hz,
             step);
    return FARM_EINVAL;
  }
  out->models.fc.step_s = (uint32_t)step;
  out->models.fc.horizon = (uint32_t)(hz * 3600 / step);
  out->models.stuck_s = (uint32_t)fd_cfg_int(cfg, "stuck_s");
  if (!ml_forecaster_config_valid(&out->models.fc)) {
    snprintf(err, errlen, "forecast_step_s and forecast_horizon_h: not a valid grid");
    return FARM_EINVAL;
  }

  bool tls = fd_cfg_bool(cfg, "mqtt_tls");
  if (tls && !fd_cfg_isset(cfg, "mqtt_cafile")) {
    snprintf(err, errlen, "mqtt_cafile: required with mqtt_tls (or set mqtt_tls = false)");
    return FARM_EINVAL;
  }
  if (!tls && (fd_cfg_isset(cfg, "mqtt_cafile") || fd_cfg_isset(cfg, "mqtt_certfile") ||
               fd_cfg_isset(cfg, "mqtt_keyfile"))) {
    snprintf(err, errlen, "mqtt_cafile, mqtt_certfile, mqtt_keyfile: set but mqtt_tls is off");
    return FARM_EINVAL;
  }
  if (fd_cfg_isset(cfg, "mqtt_certfile") != fd_cfg_isset(cfg, "mqtt_keyfile")) {
    snprintf(err, errlen, "mqtt_certfile and mqtt_keyfile: set both or neither");
    return FARM_EINVAL;
  }
  if (fd_cfg_isset(cfg, "mqtt_password") && !fd_cfg_isset(cfg, "mqtt_username")) {
    snprintf(err, errlen, "mqtt_password: needs mqtt_username");
    return FARM_EINVAL;
  }
  const char *dir = fd_cfg_str(cfg, "state_dir");
  if (dir && dir[0] &&
      snprintf(out->state_path, sizeof out->state_path, "%s/streams.ckpt", dir) >=
          (int)sizeof out->state_path - 32) {
    snprintf(err, errlen, "state_dir: path too long");
    return FARM_EINVAL;
  }
  return 0;
}

/* ---- the service ---- */

/* Events waiting for the broker while disconnected, at most. */
#define OUTBOX_MAX 1024

enum counter {
  C_RECEIVED,   /* messages */
  C_READINGS,   /* metric values taken */
  C_HIST,       /* ... of which history */
  C_SYNTHETIC,  /* metric values of synthetic readings: not learned */
  C_LATE,       /* not after the stream's last reading: duplicates, out of order */
  C_STREAMS,    /* streams created */
  C_EVICTED,    /* streams evicted at the capacity */
  C_METRIC_CAP, /* metric values refused: their device has too many streams */
  C_ANOMALY,    /* events published or queued, by type */
  C_FAULT,
  C_FROST,
  C_QUEUED,  /* events queued while disconnected */
  C_DROPPED, /* publications lost (outbox full, broker refused) */
  C_STATUS,  /* status publications */
  C_CHECKPOINTS,
  C_CHECKPOINT_ERRORS,
  C_COUNT
};
static const char *const counter_names[C_COUNT] = {
    "received", "readings",   "hist",        "synthetic",        "late",  "streams",
    "evicted",  "metric_cap", "anomalies",   "faults",           "frost", "queued",
    "dropped",  "status",     "checkpoints", "checkpoint_errors"};

struct outmsg {
  char *topic;
  char *payload;
};

/* A growing string; oom sticks. */
struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
};

struct svc {
  const struct fd_cfg *cfg;
  const struct mls_settings *set;
  const struct fd_log *log;
  struct fd_ratelimit rl_bad, rl_pub;
  struct fd_mqtt *mqtt;
  struct mls_table *tbl;
  uint64_t c[C_COUNT];
  uint64_t rejected[MLS_REJ_COUNT];
  struct outmsg outbox[OUTBOX_MAX];
  size_t out_head, out_n;
  long pending_acks; /* QoS 1 publications not yet acknowledged */
  size_t max_payload;
  struct sbuf sb;
  struct mls_telemetry tel; /* the message being handled */
};

static void sb_reset(struct sbuf *b)
{
  b->len = 0;
  b->oom = false;
  if (b->p)
    b->p[0] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
  if (b->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t nc = b->cap ? b->cap : 1024;
    while (nc <= b->len + (size_t)n)
      nc *= 2;
    char *np = realloc(b->p, nc);
    if (np == NULL) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = nc;
  }
}

/* The shortest decimal that reads back as the same double (JSON has no
 * NaN or infinity; every number here is finite by construction). */
static const char *num(double v, char buf[32])
{
  assert(isfinite(v));
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(buf, 32, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return buf;
}

/* RFC 3339 UTC time of Unix ms, for human-readable details. */
static const char *iso(int64_t ms, char buf[32])
{
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  if (gmtime_r(&s, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, 32, "%" PRId64, ms);
  return buf;
}

static void drop_oldest(struct svc *s)
{
  struct outmsg *o = &s->outbox[s->out_head];
  free(o->topic);
  free(o->payload);
  s->out_head = (s->out_head + 1) % OUTBOX_MAX;
  s->out_n--;
}

static int publish(struct svc *s, const char *topic, const char *payload, bool retain)
{
  int rc = fd_mqtt_publish(s->mqtt, topic, payload, strlen(payload), 1, retain, NULL);
  if (rc == 0)
    s->pending_acks++;
  return rc;
}

/* Publishes an event now, or keeps it for the next connection. */
static void send_event(struct svc *s, const struct mls_device *d, const char *payload)
{
  struct fd_topic t = {.kind = FD_TOPIC_EVENT};
  memcpy(t.site, d->site, sizeof t.site);
  memcpy(t.device, d->device, sizeof t.device);
  char topic[FD_TOPIC_MAX];
  int rc = fd_topic_format(&t, topic, sizeof topic);
  assert(rc == 0);
  rc = publish(s, topic, payload, false);
  if (rc == 0)
    return;
  if (rc != FARM_ECLOSED) {
    s->c[C_DROPPED]++;
    fd_log_rl(s->log, &s->rl_pub, FD_LOG_WARN, "event on %s not published: %s", topic,
              farm_strerror(rc));
    return;
  }
  if (s->out_n == OUTBOX_MAX) {
    drop_oldest(s);
    s->c[C_DROPPED]++;
  }
  struct outmsg *o = &s->outbox[(s->out_head + s->out_n) % OUTBOX_MAX];
  o->topic = strdup(topic);
  o->payload = strdup(payload);
  if (o->topic == NULL || o->payload == NULL) {
    free(o->topic);
    free(o->payload);
    s->c[C_DROPPED]++;
    return;
  }
  s->out_n++;
  s->c[C_QUEUED]++;
}

static void flush_outbox(struct svc *s)
{
  while (s->out_n > 0) {
    struct outmsg *o = &s->outbox[s->out_head];
    int rc = publish(s, o->topic, o->payload, false);
    if (rc == FARM_ECLOSED)
      return;
    if (rc != 0)
      s->c[C_DROPPED]++;
    drop_oldest(s);
  }
}

/* The start of every event: type, device, metric, score, value, ts. */
static void event_head(struct svc *s, const char *type, const struct mls_stream *st, double score,
                       double value, int64_t ts, const char *reason)
{
  char a[32], b[32];
  sb_reset(&s->sb);
  sb_printf(&s->sb,
            "{\"type\":\"%s\",\"device\":\"%s\",\"metric\":\"%s\",\"score\":%s,\"value\":%s,"
            "\"ts\":%" PRId64 ",\"reason\":\"%s\"",
            type, st->dev->device, st->metric, num(score, a), num(value, b), ts, reason);
}

static void event_send(struct svc *s, const struct mls_stream *st)
{
  sb_printf(&s->sb, "}");
  if (s->sb.oom) {
    s->c[C_DROPPED]++;
    return;
  }
  send_event(s, st->dev, s->sb.p);
}

static void anomaly_event(struct svc *s, const struct mls_stream *st, double value, int64_t ts,
                          double score)
{
  char a[32], b[32];
  s->c[C_ANOMALY]++;
  event_head(s, "anomaly", st, score, value, ts, "score_above_threshold");
  sb_printf(&s->sb,
            ",\"detail\":\"anomaly score %.4f at or above the threshold %s\",\"threshold\":%s",
            score, num(s->set->models.det.threshold, a), num(s->set->models.det.threshold, b));
  event_send(s, st);
}

static void fault_event(struct svc *s, const struct mls_stream *st, const struct ml_fault_event *e)
{
  /* One buffer per number of a call: num() writes into the one it gets. */
  char a[32], b[32], c[32], d[32];
  s->c[C_FAULT]++;
  event_head(s, "sensor_fault", st, 1.0, e->value, e->ts_ms, ml_fault_name(e->kind));
  switch (e->kind) {
  case ML_FAULT_RANGE: {
    struct ml_fault_config fc;
    mls_fault_config(st->metric, &s->set->models, &fc);
    sb_printf(&s->sb, ",\"detail\":\"%s is outside the sensor's range %s..%s\",\"limit\":%s",
              num(e->value, a), num(fc.min, b), num(fc.max, c), num(e->bound, d));
    break;
  }
  case ML_FAULT_STUCK:
    sb_printf(&s->sb,
              ",\"detail\":\"%s unchanged for %" PRId64 " s (%" PRIu32
              " readings)\",\"since\":%" PRId64 ",\"count\":%" PRIu32,
              num(e->value, a), (e->ts_ms - e->since_ms) / 1000, e->count, e->since_ms, e->count);
    break;
  case ML_FAULT_SPIKE:
  default:
    sb_printf(&s->sb,
              ",\"detail\":\"jump from %s to %s and back to %s, beyond %s\",\"before\":%s,"
              "\"after\":%s",
              num(e->before, a), num(e->value, b), num(e->after, c), num(e->jump, d),
              num(e->before, a), num(e->after, c));
    break;
  }
  event_send(s, st);
}

static void frost_event(struct svc *s, const struct mls_stream *st, int64_t ts,
                        const struct ml_frost_risk *r)
{
  char a[32], b[32], c[32], t[32];
  s->c[C_FROST]++;
  event_head(s, "frost_risk", st, r->probability, r->at.value, ts, "forecast_below_threshold");
  sb_printf(&s->sb,
            ",\"detail\":\"forecast %s for %s, at or below %s (probability %.2f)\","
            "\"at\":%" PRId64 ",\"threshold\":%s,\"sd\":%s",
            num(r->at.value, a), iso(r->at.ts_ms, t), num(r->threshold, b), r->probability,
            r->at.ts_ms, num(r->threshold, b), num(r->at.sd, c));
  event_send(s, st);
}

/* One metric value of a telemetry message through its stream. */
static void take_reading(struct svc *s, const struct fd_topic *t, const struct mls_telemetry *tel,
                         const struct mls_metric *m)
{
  struct mls_stream *st = mls_table_find(s->tbl, t->site, t->device, m->name);
  if (st == NULL) {
    bool evicted;
    int rc = mls_table_add(s->tbl, t->site, t->device, m->name, &st, &evicted);
    if (rc != 0) {
      s->c[C_METRIC_CAP] += rc == FARM_ENOSPC;
      fd_log_rl(s->log, &s->rl_bad, FD_LOG_WARN, "%s/%s: metric %s not followed: %s", t->site,
                t->device, m->name,
                rc == FARM_ENOSPC ? "too many metrics on this device" : farm_strerror(rc));
      return;
    }
    rc = mls_stream_init(st, &s->set->models);
    assert(rc == 0);
    s->c[C_STREAMS]++;
    s->c[C_EVICTED] += evicted;
  } else {
    mls_table_touch(s->tbl, st);
  }
  if (tel->ts <= st->last_ts) {
    /* Models learn in time order: a duplicate or an older reading (history
     * arriving after newer live data) is not learned. */
    s->c[C_LATE]++;
    return;
  }
  s->c[C_READINGS]++;
  s->c[C_HIST] += tel->hist;
  st->last_ts = tel->ts;
  st->readings++;
  st->dev->dirty = true;

  struct ml_fault_result fr;
  uint8_t flags = tel->hist ? 0 : ML_FAULT_LIVE;
  int rc = ml_faults_update(&st->flt, tel->ts, m->value, flags, &fr);
  if (rc == FARM_ERANGE) {
    /* Only a crafted checkpoint can leave a model ahead of its stream
     * (statefile.c checks the plain cases): start it afresh. */
    struct ml_fault_config fc;
    mls_fault_config(st->metric, &s->set->models, &fc);
    ml_faults_init(&st->flt, &fc);
    rc = ml_faults_update(&st->flt, tel->ts, m->value, flags, &fr);
  }
  assert(rc == 0);
  for (size_t i = 0; i < fr.n; i++)
    fault_event(s, st, &fr.ev[i]);
  if (!fr.released)
    return;

  bool live = fr.flags & ML_FAULT_LIVE;
  double score;
  rc = ml_detector_update(&st->det, fr.value, &score);
  assert(rc == 0);
  st->released++;
  st->value = fr.value;
  st->value_ts = fr.ts_ms;
  st->score = score;
  if (live && ml_detector_is_detection(&st->det, score))
    anomaly_event(s, st, fr.value, fr.ts_ms, score);

  bool closed;
  rc = ml_forecaster_update(&st->fc, fr.ts_ms, fr.value, &closed);
  if (rc == FARM_ERANGE) {
    ml_forecaster_init(&st->fc, &s->set->models.fc); /* as above */
    rc = ml_forecaster_update(&st->fc, fr.ts_ms, fr.value, &closed);
  }
  assert(rc == 0);
  if (closed && strcmp(st->metric, s->set->frost_metric) == 0) {
    struct ml_frost_risk risk;
    if (ml_forecaster_frost(&st->fc, s->set->frost_c, live, &risk) == 1)
      frost_event(s, st, fr.ts_ms, &risk);
  }
}

static void reject(struct svc *s, enum mls_reject why, const char *topic, const char *detail)
{
  s->rejected[why]++;
  char shown[160];
  fd_log_escape(topic, strlen(topic), shown, sizeof shown);
  fd_log_rl(s->log, &s->rl_bad, FD_LOG_WARN, "dropped message on '%s': %s: %s", shown,
            mls_reject_name(why), detail);
}

static void on_message(void *ud, const struct fd_mqtt_msg *msg)
{
  struct svc *s = ud;
  s->c[C_RECEIVED]++;
  struct fd_topic t;
  int rc = fd_topic_parse(msg->topic, strlen(msg->topic), &t);
  if (rc != 0 || t.kind != FD_TOPIC_TELEMETRY) {
    reject(s, MLS_REJ_TOPIC, msg->topic,
           rc != 0 ? "not a topic of the v1/farm tree" : "not a telemetry topic");
    return;
  }
  struct mls_telemetry *tel = &s->tel;
  enum mls_reject why;
  char detail[160];
  if (mls_parse_telemetry(msg->payload, msg->len, s->max_payload, fd_wall_ms(), tel, &why, detail,
                          sizeof detail) != 0) {
    reject(s, why, msg->topic, detail);
    return;
  }
  if (tel->synthetic) {
    /* Made up by a node without sensors: nothing real to learn or alert on. */
    s->c[C_SYNTHETIC] += tel->n;
    return;
  }
  for (size_t i = 0; i < tel->n; i++)
    take_reading(s, &t, tel, &tel->m[i]);
}

/* The retained status of a device: every metric's last reading, score,
 * active faults and forecast. */
static void publish_status(struct svc *s, struct mls_device *d, int64_t now_wall)
{
  char a[32], b[32], c[32];
  struct sbuf *sb = &s->sb;
  sb_reset(sb);
  sb_printf(sb, "{\"ts\":%" PRId64 ",\"metrics\":{", now_wall);
  for (size_t i = 0; i < d->n; i++) {
    const struct mls_stream *st = d->streams[i];
    sb_printf(sb, "%s\"%s\":{\"readings\":%" PRIu64 ",\"learning\":%s", i ? "," : "", st->metric,
              st->readings, st->released <= s->set->models.det.learn ? "true" : "false");
    if (st->released > 0)
      sb_printf(sb, ",\"ts\":%" PRId64 ",\"value\":%s,\"score\":%.4f", st->value_ts,
                num(st->value, a), st->score);
    sb_printf(sb, ",\"threshold\":%s,\"faults\":[", num(s->set->models.det.threshold, a));
    unsigned active = ml_faults_active(&st->flt);
    bool first = true;
    for (int k = 0; k < ML_FAULT_KINDS; k++) {
      if (active & (1u << k)) {
        sb_printf(sb, "%s\"%s\"", first ? "" : ",", ml_fault_name((enum ml_fault_kind)k));
        first = false;
      }
    }
    sb_printf(sb, "]");
    struct ml_forecast f;
    if (ml_forecaster_predict(&st->fc, 1, &f) != 0) {
      sb_printf(sb, ",\"forecast\":null}");
      continue;
    }
    const struct ml_forecaster_config *fc = &s->set->models.fc; /* every stream's */
    sb_printf(sb, ",\"forecast\":{\"step_s\":%" PRIu32 ",\"sigma\":%s,\"points\":[", fc->step_s,
              num(ml_forecaster_sigma(&st->fc), a));
    for (uint32_t h = 1; h <= fc->horizon; h++) {
      int rc = ml_forecaster_predict(&st->fc, h, &f);
      assert(rc == 0);
      (void)rc;
      /* Six significant digits are well beyond any sensor's resolution. */
      sb_printf(sb, "%s[%" PRId64 ",%.6g,%.6g,%.6g]", h > 1 ? "," : "", f.ts_ms, f.value,
                f.value - 1.96 * f.sd, f.value + 1.96 * f.sd);
    }
    sb_printf(sb, "]}");
    if (strcmp(st->metric, s->set->frost_metric) == 0) {
      struct ml_forecaster probe = st->fc; /* the check must not change the episode */
      struct ml_frost_risk r;
      if (ml_forecaster_frost(&probe, s->set->frost_c, false, &r) >= 0)
        sb_printf(
            sb, ",\"frost\":{\"threshold\":%s,\"min\":%s,\"at\":%" PRId64 ",\"probability\":%.4f}",
            num(s->set->frost_c, b), num(r.at.value, c), r.at.ts_ms, r.probability);
    }
    sb_printf(sb, "}");
  }
  sb_printf(sb, "}}");
  if (sb->oom)
    return;
  char topic[FD_TOPIC_MAX + 8];
  snprintf(topic, sizeof topic, FD_TOPIC_ROOT "/%s/%s/ml", d->site, d->device);
  int rc = publish(s, topic, sb->p, true);
  if (rc == 0) {
    d->dirty = false;
    s->c[C_STATUS]++;
  } else if (rc != FARM_ECLOSED) {
    s->c[C_DROPPED]++;
    d->dirty = false; /* it would fail the same way again */
    fd_log_rl(s->log, &s->rl_pub, FD_LOG_WARN, "status on %s not published: %s", topic,
              farm_strerror(rc));
  }
}

static void publish_dirty(struct svc *s)
{
  int64_t now = fd_wall_ms();
  for (struct mls_device *d = mls_table_devices(s->tbl); d != NULL; d = d->next)
    if (d->dirty)
      publish_status(s, d, now);
}

static void on_connect(void *ud, int reason)
{
  struct svc *s = ud;
  if (reason != 0) {
    fd_log(s->log, FD_LOG_ERROR, "broker refused the connection (reason 0x%02x)", reason);
    return;
  }
  fd_log(s->log, FD_LOG_INFO, "connected to the broker");
  flush_outbox(s);
}

static void on_disconnect(void *ud, int reason)
{
  struct svc *s = ud;
  fd_log(s->log, FD_LOG_WARN, "disconnected from the broker (reason 0x%02x)", reason);
  /* Unacknowledged publications are resent by the library or lost with
   * the session; stop waiting for them. */
  s->pending_acks = 0;
}

static void on_publish(void *ud, int mid, int reason)
{
  struct svc *s = ud;
  (void)mid;
  if (s->pending_acks > 0)
    s->pending_acks--;
  if (reason >= 0x80) {
    s->c[C_DROPPED]++;
    fd_log_rl(s->log, &s->rl_pub, FD_LOG_WARN, "broker refused a publication (reason 0x%02x)",
              reason);
  }
}

static void log_stats(struct svc *s, const char *when)
{
  char line[1024];
  size_t o = (size_t)snprintf(line, sizeof line, "stats (%s):", when);
  for (int i = 0; i < C_COUNT && o < sizeof line; i++)
    o += (size_t)snprintf(line + o, sizeof line - o, " %s=%" PRIu64, counter_names[i], s->c[i]);
  uint64_t bad = 0;
  for (int i = 0; i < MLS_REJ_COUNT; i++)
    bad += s->rejected[i];
  if (o < sizeof line)
    o += (size_t)snprintf(line + o, sizeof line - o, " malformed=%" PRIu64, bad);
  for (int i = 0; i < MLS_REJ_COUNT && o < sizeof line; i++)
    o += (size_t)snprintf(line + o, sizeof line - o, " malformed_%s=%" PRIu64,
                          mls_reject_name((enum mls_reject)i), s->rejected[i]);
  if (o < sizeof line)
    snprintf(line + o, sizeof line - o, " active_streams=%zu", mls_table_count(s->tbl));
  fd_log(s->log, FD_LOG_INFO, "%s", line);
}

static int checkpoint(struct svc *s)
{
  if (!s->set->state_path[0])
    return 0;
  char err[512];
  int64_t t0 = fd_mono_ms();
  if (mls_state_save(s->tbl, s->set->state_path, err, sizeof err) != 0) {
    s->c[C_CHECKPOINT_ERRORS]++;
    fd_log(s->log, FD_LOG_ERROR, "checkpoint not saved: %s", err);
    return -1;
  }
  s->c[C_CHECKPOINTS]++;
  fd_log(s->log, FD_LOG_DEBUG, "checkpoint: %zu streams in %" PRId64 " ms", mls_table_count(s->tbl),
         fd_mono_ms() - t0);
  return 0;
}

/* Restores the checkpoint, moving a damaged one aside (BAD-INPUTS §25:
 * detect at open, keep a copy, start with what could be read). */
static int restore(struct svc *s)
{
  const char *path = s->set->state_path;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (errno == ENOENT) {
      fd_log(s->log, FD_LOG_INFO, "no checkpoint at %s: every stream starts learning", path);
      return 0;
    }
    fd_log(s->log, FD_LOG_ERROR, "checkpoint %s: %s", path, strerror(errno));
    return -1;
  }
  struct mls_state_stats st;
  char err[512];
  int rc = mls_state_read(f, s->tbl, &s->set->models, &st, err, sizeof err);
  fclose(f);
  if (rc == FARM_ENOMEM) {
    fd_log(s->log, FD_LOG_ERROR, "checkpoint %s: out of memory", path);
    return -1;
  }
  if (rc != 0) {
    char aside[4200];
    snprintf(aside, sizeof aside, "%s.corrupt-%" PRId64, path, fd_wall_ms());
    bool moved = rename(path, aside) == 0;
    fd_log(s->log, FD_LOG_ERROR, "checkpoint %s is damaged (%s); %s; %zu streams restored", path,
           err, moved ? aside : "could not move it aside", st.restored);
    if (!moved)
      return -1;
  }
  fd_log(s->log, FD_LOG_INFO,
         "restored %zu streams from %s (%zu with a model started afresh, %zu beyond max_streams)",
         st.restored, path, st.reset, st.dropped);
  return 0;
}

static int open_all(struct svc *s)
{
  const struct fd_cfg *c = s->cfg;
  if (mls_table_new((size_t)fd_cfg_int(c, "max_streams"), &s->tbl) != 0) {
    fd_log(s->log, FD_LOG_ERROR, "out of memory");
    return -1;
  }
  if (s->set->state_path[0]) {
    const char *dir = fd_cfg_str(c, "state_dir");
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
      fd_log(s->log, FD_LOG_ERROR, "state_dir %s: %s", dir, strerror(errno));
      return -1;
    }
    /* Saving what was restored proves the directory writable before the
     * first periodic checkpoint would find out. */
    if (restore(s) != 0 || checkpoint(s) != 0)
      return -1;
  } else {
    fd_log(s->log, FD_LOG_WARN, "no state_dir: models are not checkpointed");
  }

  char client_id[128];
  const char *cid = fd_cfg_str(c, "mqtt_client_id");
  if (!cid || !cid[0]) {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(client_id, sizeof client_id, "ml-engine-%s", host);
    cid = client_id;
  }
  bool tls = fd_cfg_bool(c, "mqtt_tls");
  int64_t expiry = fd_cfg_int(c, "mqtt_session_expiry_s");
  struct fd_mqtt_config mc = {
      .host = fd_cfg_str(c, "mqtt_host"),
      .port = (int)fd_cfg_int(c, "mqtt_port"),
      .client_id = cid,
      .tls = tls,
      .ca_file = tls ? fd_cfg_str(c, "mqtt_cafile") : NULL,
      .cert_file = fd_cfg_isset(c, "mqtt_certfile") ? fd_cfg_str(c, "mqtt_certfile") : NULL,
      .key_file = fd_cfg_isset(c, "mqtt_keyfile") ? fd_cfg_str(c, "mqtt_keyfile") : NULL,
      .username = fd_cfg_isset(c, "mqtt_username") ? fd_cfg_str(c, "mqtt_username") : NULL,
      .password = fd_cfg_str(c, "mqtt_password"),
      .keepalive_s = (int)fd_cfg_int(c, "mqtt_keepalive_s"),
      /* A persistent session: telemetry published while the engine is
       * down waits at the broker, so no reading is missed by a restart. */
      .clean_start = expiry == 0,
      .session_expiry_s = (uint32_t)expiry,
  };
  struct fd_mqtt_callbacks cb = {on_connect, on_disconnect, on_message, on_publish};
  int rc = fd_mqtt_new(&mc, s->log, &cb, s, &s->mqtt);
  if (rc != 0) {
    fd_log(s->log, FD_LOG_ERROR,
           "MQTT settings refused: %s (check mqtt_cafile, mqtt_certfile, mqtt_keyfile)",
           farm_strerror(rc));
    return -1;
  }
  const char *filter = fd_cfg_str(c, "mqtt_topic");
  if (fd_mqtt_subscribe(s->mqtt, filter, 1, false) != 0) {
    fd_log(s->log, FD_LOG_ERROR, "mqtt_topic '%s' is not a valid subscription", filter);
    return -1;
  }
  if (fd_mqtt_start(s->mqtt) != 0) {
    fd_log(s->log, FD_LOG_ERROR, "cannot start the MQTT client");
    return -1;
  }
  fd_log(s->log, FD_LOG_INFO, "subscribed %s as %s to %s:%d", filter, cid, mc.host, mc.port);
  return 0;
}

static void close_all(struct svc *s)
{
  fd_mqtt_free(s->mqtt);
  mls_table_free(s->tbl);
  while (s->out_n > 0)
    drop_oldest(s);
  free(s->sb.p);
}

int mls_run(const struct fd_cfg *cfg, const struct mls_settings *set, const struct fd_log *log,
            volatile sig_atomic_t *stop)
{
  struct svc *s = calloc(1, sizeof *s);
  if (s == NULL)
    return 1;
  s->cfg = cfg;
  s->set = set;
  s->log = log;
  s->rl_bad = (struct fd_ratelimit)FD_RATELIMIT_INIT(10, 10000);
  s->rl_pub = (struct fd_ratelimit)FD_RATELIMIT_INIT(5, 10000);
  s->max_payload = (size_t)fd_cfg_int(cfg, "max_payload");
  if (open_all(s) != 0) {
    close_all(s);
    free(s);
    return 1;
  }
  const int64_t publish_ms = fd_cfg_int(cfg, "publish_s") * 1000;
  const int64_t ckpt_ms = fd_cfg_int(cfg, "checkpoint_s") * 1000;
  const int64_t stats_ms = fd_cfg_int(cfg, "stats_s") * 1000;
  int64_t now = fd_mono_ms();
  int64_t next_publish = now + publish_ms, next_ckpt = now + ckpt_ms;
  int64_t next_stats = stats_ms ? now + stats_ms : INT64_MAX;
  fd_log(log, FD_LOG_INFO, "running");
  while (!*stop) {
    struct pollfd pfd = {.fd = fd_mqtt_fd(s->mqtt), .events = POLLIN};
    /* Stop requests are checked at least every 100 ms. */
    poll(&pfd, 1, 100);
    if (pfd.revents & POLLIN)
      fd_mqtt_dispatch(s->mqtt, 256);
    now = fd_mono_ms();
    if (now >= next_publish) {
      flush_outbox(s);
      publish_dirty(s);
      next_publish = now + publish_ms;
    }
    if (now >= next_ckpt) {
      checkpoint(s);
      next_ckpt = now + ckpt_ms;
    }
    if (now >= next_stats) {
      log_stats(s, "periodic");
      next_stats = now + stats_ms;
    }
  }
  fd_log(log, FD_LOG_INFO, "stopping");
  /* What the broker has already handed over is learned before saving. */
  while (fd_mqtt_dispatch(s->mqtt, 0) > 0) {
  }
  flush_outbox(s);
  publish_dirty(s);
  int rc = checkpoint(s);
  /* Give the last publications up to two seconds to be acknowledged. */
  int64_t until = fd_mono_ms() + 2000;
  while (s->pending_acks > 0 && fd_mqtt_connected(s->mqtt) && fd_mono_ms() < until) {
    struct pollfd pfd = {.fd = fd_mqtt_fd(s->mqtt), .events = POLLIN};
    poll(&pfd, 1, 20);
    if (pfd.revents & POLLIN)
      fd_mqtt_dispatch(s->mqtt, 0);
  }
  log_stats(s, "exit");
  close_all(s);
  free(s);
  return rc == 0 ? 0 : 1;
}
