/* SPDX-License-Identifier: MIT */
/*
 * Alert rule evaluation and lifecycle persistence.
 */
#include "alerts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/topic.h"
#include "map.h"

enum kind { K_THRESHOLD, K_OFFLINE, K_FLATLINE, K_RATE };
enum op { OP_GT, OP_GE, OP_LT, OP_LE };

static const char *const kind_names[] = {"threshold", "offline", "flatline", "rate"};
static const char *const op_names[] = {">", ">=", "<", "<="};

struct rule {
  int64_t id;
  char name[128];
  enum kind kind;
  char site[FD_ID_MAX + 1], device[FD_ID_MAX + 1], metric[FD_ID_MAX + 1]; /* "" = any */
  enum op op;
  bool has_threshold;
  double threshold;
  int64_t duration_ms;
};

/* Per (rule, device, metric). */
struct series {
  int64_t since_ts;   /* condition true since (reading time); 0 = not */
  bool has_last;
  int64_t last_ts;
  double last_value;
  int64_t plateau_ts; /* flatline: when the current value began */
  double plateau_value;
  int64_t open_id;    /* alert open or acknowledged; 0 = none */
};

struct device {
  char site[FD_ID_MAX + 1];
  int64_t last_seen;
  int64_t interval_ms;
};

struct st_alerts {
  struct st_db *db;
  const struct fd_log *log;
  st_alert_sink sink;
  void *ud;
  int64_t offline_factor, default_interval;
  struct rule *rules;
  size_t nrules;
  bool loaded_once;
  struct st_map *series;  /* "rule|device|metric" -> struct series */
  struct st_map *devices; /* device -> struct device */
  uint64_t opened, resolved;
  struct fd_ratelimit rl;
};

int st_alerts_new(struct st_db *db, const struct fd_log *log, st_alert_sink sink, void *ud,
                  int64_t offline_factor, int64_t default_interval_ms, struct st_alerts **out)
{
  struct st_alerts *a = calloc(1, sizeof *a);
  if (!a)
    return FARM_ENOMEM;
  a->db = db;
  a->log = log;
  a->sink = sink;
  a->ud = ud;
  a->offline_factor = offline_factor;
  a->default_interval = default_interval_ms;
  a->series = st_map_new(sizeof(struct series));
  a->devices = st_map_new(sizeof(struct device));
  a->rl = (struct fd_ratelimit)FD_RATELIMIT_INIT(5, 60000);
  if (!a->series || !a->devices) {
    st_alerts_free(a);
    return FARM_ENOMEM;
  }
  *out = a;
  return 0;
}

void st_alerts_free(struct st_alerts *a)
{
  if (!a)
    return;
  st_map_free(a->series);
  st_map_free(a->devices);
  free(a->rules);
  free(a);
}

struct load_ctx {
  struct st_alerts *a;
  struct rule *rules;
  size_t n, cap;
  bool oom;
};

static int parse_kind(const char *s)
{
  for (int i = 0; i < 4; i++)
    if (s && strcmp(s, kind_names[i]) == 0)
      return i;
  return -1;
}

static int parse_op(const char *s)
{
  for (int i = 0; i < 4; i++)
    if (s && strcmp(s, op_names[i]) == 0)
      return i;
  return -1;
}

static void copy_id(char *dst, const char *src)
{
  snprintf(dst, FD_ID_MAX + 1, "%s", src ? src : "");
}

/* id, name, kind, site, device, metric, op, threshold, duration_ms */
static int rule_row(void *ud, int ncol, const char *const *col)
{
  struct load_ctx *c = ud;
  if (ncol < 9)
    return 0;
  struct rule r = {0};
  r.id = col[0] ? strtoll(col[0], NULL, 10) : 0;
  snprintf(r.name, sizeof r.name, "%s", col[1] ? col[1] : "");
  int k = parse_kind(col[2]);
  copy_id(r.site, col[3]);
  copy_id(r.device, col[4]);
  copy_id(r.metric, col[5]);
  int op = parse_op(col[6]);
  r.has_threshold = col[7] != NULL;
  r.threshold = col[7] ? strtod(col[7], NULL) : 0;
  r.duration_ms = col[8] ? strtoll(col[8], NULL, 10) : 0;
  const char *bad = NULL;
  if (k < 0)
    bad = "unknown kind";
  else if (k != K_OFFLINE && !r.metric[0])
    bad = "no metric";
  else if ((k == K_THRESHOLD || k == K_RATE) && (op < 0 || !r.has_threshold))
    bad = "needs op and threshold";
  else if (k == K_FLATLINE && r.duration_ms <= 0)
    bad = "flatline needs a duration";
  else if (r.duration_ms < 0 || !isfinite(r.threshold))
    bad = "bad duration or threshold";
  if (bad) {
    fd_log_rl(c->a->log, &c->a->rl, FD_LOG_WARN, "alerts: rule %lld ignored: %s",
              (long long)r.id, bad);
    return 0;
  }
  r.kind = (enum kind)k;
  r.op = op < 0 ? OP_GT : (enum op)op;
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 16;
    struct rule *nr = realloc(c->rules, nc * sizeof *nr);
    if (!nr) {
      c->oom = true;
      return 1;
    }
    c->rules = nr;
    c->cap = nc;
  }
  c->rules[c->n++] = r;
  return 0;
}

static void series_key(char *out, size_t cap, int64_t rule, const char *device, const char *metric)
{
  snprintf(out, cap, "%lld|%s|%s", (long long)rule, device, metric);
}

static int device_row(void *ud, int ncol, const char *const *col)
{
  struct st_alerts *a = ud;
  if (ncol < 4 || !col[0] || !col[1])
    return 0;
  struct device *d = st_map_put(a->devices, col[0], NULL);
  if (!d)
    return 1;
  copy_id(d->site, col[1]);
  d->last_seen = col[2] ? strtoll(col[2], NULL, 10) : 0;
  d->interval_ms = col[3] ? strtoll(col[3], NULL, 10) : 0;
  return 0;
}

static int open_row(void *ud, int ncol, const char *const *col)
{
  struct st_alerts *a = ud;
  if (ncol < 4 || !col[0] || !col[1] || !col[2])
    return 0;
  char key[256];
  series_key(key, sizeof key, strtoll(col[1], NULL, 10), col[2], col[3] ? col[3] : "");
  struct series *s = st_map_put(a->series, key, NULL);
  if (!s)
    return 1;
  s->open_id = strtoll(col[0], NULL, 10);
  return 0;
}

int st_alerts_reload(struct st_alerts *a)
{
  struct load_ctx c = {.a = a};
  int rc = st_db_exec(a->db,
                      "SELECT id, name, kind, site, device, metric, op, threshold, duration_ms"
                      " FROM alert_rules WHERE enabled ORDER BY id",
                      NULL, 0, rule_row, &c);
  if (rc != 0 || c.oom) {
    free(c.rules);
    return rc ? FARM_EIO : FARM_ENOMEM;
  }
  free(a->rules);
  a->rules = c.rules;
  a->nrules = c.n;
  if (!a->loaded_once) {
    /* After a restart: offline detection continues from the stored
     * last-seen times, and open alerts can still resolve. */
    rc = st_db_exec(a->db, "SELECT device, site, last_seen, interval_ms FROM devices", NULL, 0,
                    device_row, a);
    if (rc == 0)
      rc = st_db_exec(a->db,
                      "SELECT id, rule_id, device, metric FROM alerts WHERE state <> 'resolved'",
                      NULL, 0, open_row, a);
    if (rc != 0)
      return FARM_EIO;
    a->loaded_once = true;
  }
  return 0;
}

size_t st_alerts_rule_count(const struct st_alerts *a)
{
  return a->nrules;
}

static bool matches(const struct rule *r, const char *site, const char *device, const char *metric)
{
  return (!r->site[0] || strcmp(r->site, site) == 0) &&
         (!r->device[0] || strcmp(r->device, device) == 0) &&
         (!metric || strcmp(r->metric, metric) == 0);
}

static bool compare(enum op op, double v, double t)
{
  switch (op) {
  case OP_GT:
    return v > t;
  case OP_GE:
    return v >= t;
  case OP_LT:
    return v < t;
  case OP_LE:
    return v <= t;
  }
  return false;
}

static void emit(struct st_alerts *a, const struct rule *r, int64_t id, const char *state,
                 const char *site, const char *device, const char *metric, double value,
                 int64_t ts, const char *by, const char *message)
{
  if (!a->sink)
    return;
  struct st_alert_event e = {.alert_id = id,
                             .rule_id = r ? r->id : 0,
                             .rule = r ? r->name : "",
                             .kind = r ? kind_names[r->kind] : "",
                             .state = state,
                             .site = site,
                             .device = device,
                             .metric = metric,
                             .value = value,
                             .ts = ts,
                             .by = by,
                             .message = message};
  a->sink(a->ud, &e);
}

static int id_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  *(int64_t *)ud = col[0] ? strtoll(col[0], NULL, 10) : 0;
  return 0;
}

static void open_alert(struct st_alerts *a, const struct rule *r, struct series *s,
                       const char *site, const char *device, const char *metric, double value,
                       int64_t ts)
{
  char msg[256];
  switch (r->kind) {
  case K_THRESHOLD:
    snprintf(msg, sizeof msg, "%s %s %g for %lld s (value %g)", metric, op_names[r->op],
             r->threshold, (long long)(r->duration_ms / 1000), value);
    break;
  case K_RATE:
    snprintf(msg, sizeof msg, "%s changes at %g/s (%s %g)", metric, value, op_names[r->op],
             r->threshold);
    break;
  case K_FLATLINE:
    snprintf(msg, sizeof msg, "%s stuck at %g for %lld s", metric, value,
             (long long)(r->duration_ms / 1000));
    break;
  case K_OFFLINE:
    snprintf(msg, sizeof msg, "no message for %g s", value);
    break;
  }
  int64_t id = 0;
  struct st_param p[] = {ST_I64(r->id), ST_TEXT(site),  ST_TEXT(device),
                         metric[0] ? ST_TEXT(metric) : ST_NULLP,
                         ST_TEXT(kind_names[r->kind]), ST_I64(ts), ST_F64(value), ST_TEXT(msg)};
  int rc = st_db_exec(a->db,
                      "INSERT INTO alerts (rule_id, site, device, metric, kind, state, opened_ts,"
                      " value, message) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8)"
                      " RETURNING id",
                      p, 8, id_row, &id);
  if (rc != 0 || id == 0) {
    fd_log_rl(a->log, &a->rl, FD_LOG_ERROR, "alerts: cannot store alert: %s",
              st_db_error(a->db));
    return;
  }
  s->open_id = id;
  a->opened++;
  fd_log(a->log, FD_LOG_INFO, "alert %lld open: rule '%s' on %s/%s: %s", (long long)id, r->name,
         site, device, msg);
  emit(a, r, id, "open", site, device, metric, value, ts, NULL, msg);
}

static void resolve_alert(struct st_alerts *a, const struct rule *r, struct series *s,
                          const char *site, const char *device, const char *metric, double value,
                          int64_t ts)
{
  int64_t id = s->open_id;
  s->open_id = 0;
  int64_t hit = 0;
  struct st_param p[] = {ST_I64(id), ST_I64(ts)};
  int rc = st_db_exec(a->db,
                      "UPDATE alerts SET state = 'resolved', resolved_ts = $2"
                      " WHERE id = $1 AND state <> 'resolved' RETURNING id",
                      p, 2, id_row, &hit);
  if (rc != 0) {
    /* Keep it open in memory so the next reading tries again. */
    s->open_id = id;
    fd_log_rl(a->log, &a->rl, FD_LOG_ERROR, "alerts: cannot resolve %lld: %s", (long long)id,
              st_db_error(a->db));
    return;
  }
  if (!hit)
    return; /* resolved elsewhere (another streamer) */
  a->resolved++;
  fd_log(a->log, FD_LOG_INFO, "alert %lld resolved", (long long)id);
  emit(a, r, id, "resolved", site, device, metric, value, ts, NULL, "condition cleared");
}

static struct series *series_for(struct st_alerts *a, const struct rule *r, const char *device,
                                 const char *metric)
{
  char key[256];
  series_key(key, sizeof key, r->id, device, metric);
  return st_map_put(a->series, key, NULL);
}

/* Shared by threshold and rate: a condition that must hold for a while. */
static void held(struct st_alerts *a, const struct rule *r, struct series *s, bool cond,
                 const char *site, const char *device, const char *metric, double value,
                 int64_t ts)
{
  if (cond) {
    if (!s->since_ts)
      s->since_ts = ts;
    if (!s->open_id && ts - s->since_ts >= r->duration_ms)
      open_alert(a, r, s, site, device, metric, value, ts);
  } else {
    s->since_ts = 0;
    if (s->open_id)
      resolve_alert(a, r, s, site, device, metric, value, ts);
  }
}

void st_alerts_reading(struct st_alerts *a, const char *site, const char *device,
                       const char *metric, int64_t ts, double value)
{
  for (size_t i = 0; i < a->nrules; i++) {
    const struct rule *r = &a->rules[i];
    if (r->kind == K_OFFLINE || !matches(r, site, device, metric))
      continue;
    struct series *s = series_for(a, r, device, metric);
    if (!s)
      return;
    /* Late readings cannot change a judgement already made on newer ones. */
    if (s->has_last && ts <= s->last_ts)
      continue;
    switch (r->kind) {
    case K_THRESHOLD:
      held(a, r, s, compare(r->op, value, r->threshold), site, device, metric, value, ts);
      break;
    case K_RATE:
      if (s->has_last) {
        double rate = (value - s->last_value) * 1000.0 / (double)(ts - s->last_ts);
        held(a, r, s, compare(r->op, rate, r->threshold), site, device, metric, rate, ts);
      }
      break;
    case K_FLATLINE: {
      double eps = r->has_threshold ? r->threshold : 0.0;
      if (!s->plateau_ts || fabs(value - s->plateau_value) > eps) {
        s->plateau_ts = ts;
        s->plateau_value = value;
        if (s->open_id)
          resolve_alert(a, r, s, site, device, metric, value, ts);
      } else if (!s->open_id && ts - s->plateau_ts >= r->duration_ms) {
        open_alert(a, r, s, site, device, metric, value, ts);
      }
      break;
    }
    case K_OFFLINE:
      break;
    }
    s->has_last = true;
    s->last_ts = ts;
    s->last_value = value;
  }
}

void st_alerts_seen(struct st_alerts *a, const char *site, const char *device, int64_t now_ms,
                    int64_t interval_ms)
{
  struct device *d = st_map_put(a->devices, device, NULL);
  if (!d)
    return;
  copy_id(d->site, site);
  if (now_ms > d->last_seen)
    d->last_seen = now_ms;
  if (interval_ms > 0)
    d->interval_ms = interval_ms;
  if (now_ms <= 0)
    return; /* only the interval changed */
  for (size_t i = 0; i < a->nrules; i++) {
    const struct rule *r = &a->rules[i];
    if (r->kind != K_OFFLINE || !matches(r, site, device, NULL))
      continue;
    struct series *s = series_for(a, r, device, "");
    if (s && s->open_id)
      resolve_alert(a, r, s, site, device, "", 0, now_ms);
  }
}

void st_alerts_tick(struct st_alerts *a, int64_t now_ms)
{
  bool any = false;
  for (size_t i = 0; i < a->nrules; i++)
    any |= a->rules[i].kind == K_OFFLINE;
  if (!any)
    return;
  size_t pos = 0;
  const char *name;
  void *v;
  while (st_map_next(a->devices, &pos, &name, &v)) {
    struct device *d = v;
    for (size_t i = 0; i < a->nrules; i++) {
      const struct rule *r = &a->rules[i];
      if (r->kind != K_OFFLINE || !matches(r, d->site, name, NULL))
        continue;
      double k = r->has_threshold && r->threshold > 0 ? r->threshold : (double)a->offline_factor;
      int64_t interval = d->interval_ms > 0 ? d->interval_ms : a->default_interval;
      double silent = (double)(now_ms - d->last_seen);
      if (silent <= k * (double)interval)
        continue;
      /* The series map may grow here; values keep their address. */
      struct series *s = series_for(a, r, name, "");
      if (s && !s->open_id)
        open_alert(a, r, s, d->site, name, "", silent / 1000.0, now_ms);
    }
  }
}

struct ack_ctx {
  int64_t rule_id;
  char site[FD_ID_MAX + 1], device[FD_ID_MAX + 1], metric[FD_ID_MAX + 1];
  double value;
  bool found;
};

static int ack_row(void *ud, int ncol, const char *const *col)
{
  struct ack_ctx *c = ud;
  if (ncol < 5)
    return 0;
  c->found = true;
  c->rule_id = col[0] ? strtoll(col[0], NULL, 10) : 0;
  copy_id(c->site, col[1]);
  copy_id(c->device, col[2]);
  copy_id(c->metric, col[3]);
  c->value = col[4] ? strtod(col[4], NULL) : 0;
  return 0;
}

int st_alerts_ack(struct st_alerts *a, int64_t id, const char *by, int64_t now_ms)
{
  struct ack_ctx c = {0};
  struct st_param p[] = {ST_I64(id), ST_I64(now_ms), ST_TEXT(by)};
  int rc = st_db_exec(a->db,
                      "UPDATE alerts SET state = 'acknowledged', ack_ts = $2, ack_by = $3"
                      " WHERE id = $1 AND state = 'open'"
                      " RETURNING rule_id, site, device, metric, value",
                      p, 3, ack_row, &c);
  if (rc != 0)
    return FARM_EIO;
  if (!c.found)
    return FARM_ENOENT;
  const struct rule *r = NULL;
  for (size_t i = 0; i < a->nrules; i++)
    if (a->rules[i].id == c.rule_id)
      r = &a->rules[i];
  fd_log(a->log, FD_LOG_INFO, "alert %lld acknowledged by %s", (long long)id, by);
  emit(a, r, id, "acknowledged", c.site, c.device, c.metric, c.value, now_ms, by,
       "acknowledged");
  return 0;
}

void st_alerts_counts(const struct st_alerts *a, uint64_t *opened, uint64_t *resolved,
                      uint64_t *open_now)
{
  *opened = a->opened;
  *resolved = a->resolved;
  uint64_t n = 0;
  size_t pos = 0;
  const char *k;
  void *v;
  while (st_map_next(a->series, &pos, &k, &v))
    n += ((struct series *)v)->open_id != 0;
  *open_now = n;
}
