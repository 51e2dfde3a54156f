/* SPDX-License-Identifier: MIT */
/*
 * Payload validation for the streamer's topics.
 */
#include "ingest.h"

#include <stdio.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/json.h"

static const char *const reject_names[ST_REJ_COUNT] = {"topic", "oversize", "json", "field",
                                                       "range"};

const char *st_reject_name(enum st_reject r)
{
  return (unsigned)r < ST_REJ_COUNT ? reject_names[r] : "?";
}

void st_metric_range(const char *name, double *min, double *max)
{
  static const struct {
    const char *name;
    double min, max;
  } known[] = {
      /* docs/protocol.md §4.6: the project's sensors and their limits. */
      {"temp_c", -40.0, 125.0},     /* SHT41 datasheet, operating range */
      {"rh_pct", 0.0, 100.0},       /* relative humidity */
      {"lux", 0.0, 200000.0},       /* full scale of the light front end */
      {"air_ppm", 0.0, 100000.0},   /* MQ135, clamped */
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(name, known[i].name) == 0) {
      *min = known[i].min;
      *max = known[i].max;
      return;
    }
  }
  *min = -1e9;
  *max = 1e9;
}

/* Maps a getter's error to a reject class and a detail line. */
static int field_error(int rc, const char *field, enum st_reject *why, char *detail, size_t dlen)
{
  switch (rc) {
  case FARM_EMISSING:
    *why = ST_REJ_FIELD;
    snprintf(detail, dlen, "missing field '%s'", field);
    break;
  case FARM_ETYPE:
    *why = ST_REJ_FIELD;
    snprintf(detail, dlen, "field '%s' has the wrong type", field);
    break;
  default:
    *why = ST_REJ_RANGE;
    snprintf(detail, dlen, "field '%s' is out of range", field);
    break;
  }
  return rc;
}

static int parse_object(const void *payload, size_t len, size_t max_len, json_t **o,
                        enum st_reject *why, char *detail, size_t dlen)
{
  int rc = fd_json_parse(payload, len, max_len, o, detail, dlen);
  if (rc == FARM_ETOOBIG)
    *why = ST_REJ_OVERSIZE;
  else if (rc != 0)
    *why = ST_REJ_JSON;
  return rc;
}

int st_parse_telemetry(const void *payload, size_t len, size_t max_len, int64_t now_ms,
                       struct st_telemetry *out, int64_t *edge_seq, enum st_reject *why,
                       char *detail, size_t dlen)
{
  *edge_seq = 0;
  json_t *o;
  int rc = parse_object(payload, len, max_len, &o, why, detail, dlen);
  if (rc)
    return rc;
  const char *field;
  memset(out, 0, sizeof *out);
  if ((rc = fd_json_get_i64(o, "edge_seq", true, 1, FD_JSON_MAX_SAFE_INT, 0, &out->edge_seq)) != 0) {
    field = "edge_seq";
    goto bad;
  }
  *edge_seq = out->edge_seq;
  if ((rc = fd_json_get_i64(o, "boot", true, 0, UINT32_MAX, 0, &out->boot)) != 0) {
    field = "boot";
    goto bad;
  }
  if ((rc = fd_json_get_i64(o, "seq", true, 0, UINT32_MAX, 0, &out->seq)) != 0) {
    field = "seq";
    goto bad;
  }
  if ((rc = fd_json_get_i64(o, "ts", true, ST_TS_MIN, now_ms + ST_TS_FUTURE_MS, 0, &out->ts)) != 0) {
    field = "ts";
    goto bad;
  }
  if ((rc = fd_json_get_i64(o, "up_ms", false, 0, FD_JSON_MAX_SAFE_INT, -1, &out->up_ms)) != 0) {
    field = "up_ms";
    goto bad;
  }
  if ((rc = fd_json_get_i64(o, "rx_ts", false, ST_TS_MIN, now_ms + ST_TS_FUTURE_MS, -1, &out->rx_ts)) != 0) {
    field = "rx_ts";
    goto bad;
  }
  int64_t rssi;
  if ((rc = fd_json_get_i64(o, "rssi", false, -127, 20, 1, &rssi)) != 0) {
    field = "rssi";
    goto bad;
  }
  out->has_rssi = rssi != 1;
  out->rssi = (int)rssi;
  if ((rc = fd_json_get_bool(o, "hist", false, false, &out->hist)) != 0) {
    field = "hist";
    goto bad;
  }
  if ((rc = fd_json_get_bool(o, "synthetic", false, false, &out->synthetic)) != 0) {
    field = "synthetic";
    goto bad;
  }

  json_t *v = json_object_get(o, "v");
  if (!v || !json_is_object(v)) {
    field_error(v ? FARM_ETYPE : FARM_EMISSING, "v", why, detail, dlen);
    json_decref(o);
    return v ? FARM_ETYPE : FARM_EMISSING;
  }
  size_t n = json_object_size(v);
  if (n == 0 || n > ST_METRICS_MAX) {
    *why = ST_REJ_RANGE;
    snprintf(detail, dlen, "'v' holds %zu metrics (1..%d allowed)", n, ST_METRICS_MAX);
    json_decref(o);
    return FARM_ERANGE;
  }
  const char *key;
  json_t *val;
  json_object_foreach(v, key, val)
  {
    size_t kl = strlen(key);
    if (!fd_id_valid(key, kl)) {
      *why = ST_REJ_RANGE;
      snprintf(detail, dlen, "metric name is not an id");
      json_decref(o);
      return FARM_ERANGE;
    }
    if (!json_is_number(val)) {
      *why = ST_REJ_FIELD;
      snprintf(detail, dlen, "metric '%s' is not a number", key);
      json_decref(o);
      return FARM_ETYPE;
    }
    double d = json_number_value(val), lo, hi;
    st_metric_range(key, &lo, &hi);
    if (!(d >= lo && d <= hi)) {
      *why = ST_REJ_RANGE;
      snprintf(detail, dlen, "metric '%s' = %g is outside [%g, %g]", key, d, lo, hi);
      json_decref(o);
      return FARM_ERANGE;
    }
    struct st_metric *m = &out->m[out->nmetrics++];
    memcpy(m->name, key, kl + 1);
    m->value = d;
  }
  json_decref(o);
  return 0;
bad:
  field_error(rc, field, why, detail, dlen);
  json_decref(o);
  return rc;
}

int st_parse_status(const void *payload, size_t len, size_t max_len, struct st_status *out,
                    enum st_reject *why, char *detail, size_t dlen)
{
  json_t *o;
  int rc = parse_object(payload, len, max_len, &o, why, detail, dlen);
  if (rc)
    return rc;
  const char *field;
  out->online = -1;
  bool b;
  json_t *jo = json_object_get(o, "online");
  if (jo && !json_is_null(jo)) {
    if ((rc = fd_json_get_bool(o, "online", true, false, &b)) != 0) {
    field = "online";
    goto bad;
  }
    out->online = b;
  } else {
    const char *state;
    if ((rc = fd_json_get_str(o, "state", false, 16, NULL, &state)) != 0) {
    field = "state";
    goto bad;
  }
    if (state && strcmp(state, "online") == 0)
      out->online = 1;
    else if (state && strcmp(state, "offline") == 0)
      out->online = 0;
    else if (state) {
      field_error(FARM_ERANGE, "state", why, detail, dlen);
      json_decref(o);
      return FARM_ERANGE;
    }
  }
  if ((rc = fd_json_get_i64(o, "interval_ms", false, 100, 86400000, 0, &out->interval_ms)) != 0) {
    field = "interval_ms";
    goto bad;
  }
  json_decref(o);
  return 0;
bad:
  field_error(rc, field, why, detail, dlen);
  json_decref(o);
  return rc;
}

static bool event_type_valid(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > FD_ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

int st_parse_event(const void *payload, size_t len, size_t max_len, struct st_event *out,
                   enum st_reject *why, char *detail, size_t dlen)
{
  json_t *o;
  int rc = parse_object(payload, len, max_len, &o, why, detail, dlen);
  if (rc)
    return rc;
  const char *field;
  const char *type;
  if ((rc = fd_json_get_str(o, "type", true, FD_ID_MAX, NULL, &type)) != 0) {
    field = "type";
    goto bad;
  }
  if (!event_type_valid(type)) {
    field_error(FARM_ERANGE, "type", why, detail, dlen);
    json_decref(o);
    return FARM_ERANGE;
  }
  snprintf(out->type, sizeof out->type, "%s", type);
  if ((rc = fd_json_get_i64(o, "ts", false, ST_TS_MIN, FD_JSON_MAX_SAFE_INT, 0, &out->ts)) != 0) {
    field = "ts";
    goto bad;
  }
  json_decref(o);
  return 0;
bad:
  field_error(rc, field, why, detail, dlen);
  json_decref(o);
  return rc;
}

int st_parse_edge_status(const void *payload, size_t len, size_t max_len, int64_t *floor,
                         enum st_reject *why, char *detail, size_t dlen)
{
  json_t *o;
  int rc = parse_object(payload, len, max_len, &o, why, detail, dlen);
  if (rc)
    return rc;
  const char *field;
  if ((rc = fd_json_get_i64(o, "backlog_first_edge_seq", false, 1, FD_JSON_MAX_SAFE_INT, 0, floor)) != 0) {
    field = "backlog_first_edge_seq";
    goto bad;
  }
  json_decref(o);
  return 0;
bad:
  field_error(rc, field, why, detail, dlen);
  json_decref(o);
  return rc;
}

int st_parse_alert_ack(const void *payload, size_t len, struct st_alert_ack *out,
                       enum st_reject *why, char *detail, size_t dlen)
{
  json_t *o;
  int rc = parse_object(payload, len, 4096, &o, why, detail, dlen);
  if (rc)
    return rc;
  const char *field;
  if ((rc = fd_json_get_i64(o, "id", true, 1, FD_JSON_MAX_SAFE_INT, 0, &out->id)) != 0) {
    field = "id";
    goto bad;
  }
  const char *by;
  if ((rc = fd_json_get_str(o, "by", false, FD_ID_MAX, "", &by)) != 0) {
    field = "by";
    goto bad;
  }
  snprintf(out->by, sizeof out->by, "%s", by);
  json_decref(o);
  return 0;
bad:
  field_error(rc, field, why, detail, dlen);
  json_decref(o);
  return rc;
}
