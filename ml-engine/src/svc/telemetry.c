/* SPDX-License-Identifier: MIT */
/*
 * Validation of telemetry payloads for the ml-engine service (see
 * telemetry.h), on farmd's strict JSON parser and typed getters.
 */
#include "telemetry.h"

#include <stdio.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/json.h"

static const char *const reject_names[MLS_REJ_COUNT] = {"topic", "oversize", "json", "field",
                                                        "range"};

const char *mls_reject_name(enum mls_reject r)
{
  return (unsigned)r < MLS_REJ_COUNT ? reject_names[r] : "?";
}

static int field_error(int rc, const char *field, enum mls_reject *why, char *detail, size_t dlen)
{
  if (rc == FARM_EMISSING || rc == FARM_ETYPE) {
    *why = MLS_REJ_FIELD;
    snprintf(detail, dlen,
             rc == FARM_EMISSING ? "missing field '%s'" : "field '%s' has the wrong type", field);
  } else {
    *why = MLS_REJ_RANGE;
    snprintf(detail, dlen, "field '%s' is out of range", field);
  }
  return rc;
}

int mls_parse_telemetry(const void *payload, size_t len, size_t max_len, int64_t now_ms,
                        struct mls_telemetry *out, enum mls_reject *why, char *detail, size_t dlen)
{
  json_t *o;
  int rc = fd_json_parse(payload, len, max_len, &o, detail, dlen);
  if (rc != 0) {
    *why = rc == FARM_ETOOBIG ? MLS_REJ_OVERSIZE : MLS_REJ_JSON;
    return rc;
  }
  memset(out, 0, sizeof *out);
  const char *field;
  if ((rc = fd_json_get_i64(o, "ts", true, MLS_TS_MIN, now_ms + MLS_TS_FUTURE_MS, 0, &out->ts)) !=
      0) {
    field = "ts";
    goto bad;
  }
  if ((rc = fd_json_get_bool(o, "hist", false, false, &out->hist)) != 0) {
    field = "hist";
    goto bad;
  }
  if ((rc = fd_json_get_bool(o, "synthetic", false, false, &out->synthetic)) != 0) {
    field = "synthetic";
    goto bad;
  }
  json_t *v = json_object_get(o, "v");
  if (v == NULL || !json_is_object(v)) {
    rc = v == NULL ? FARM_EMISSING : FARM_ETYPE;
    field = "v";
    goto bad;
  }
  size_t n = json_object_size(v);
  if (n == 0 || n > MLS_METRICS_MAX) {
    *why = MLS_REJ_RANGE;
    snprintf(detail, dlen, "'v' holds %zu metrics (1..%d allowed)", n, MLS_METRICS_MAX);
    rc = FARM_ERANGE;
    goto out;
  }
  const char *key;
  json_t *val;
  json_object_foreach(v, key, val)
  {
    size_t kl = strlen(key);
    if (!fd_id_valid(key, kl)) {
      *why = MLS_REJ_RANGE;
      snprintf(detail, dlen, "a metric name is not an id");
      rc = FARM_ERANGE;
      goto out;
    }
    if (!json_is_number(val)) {
      *why = MLS_REJ_FIELD;
      snprintf(detail, dlen, "metric '%s' is not a number", key);
      rc = FARM_ETYPE;
      goto out;
    }
    struct mls_metric *m = &out->m[out->n++];
    memcpy(m->name, key, kl + 1);
    /* jansson never yields NaN or infinity: a number that overflows a
     * double is refused by the parser. */
    m->value = json_number_value(val);
  }
  rc = 0;
  goto out;
bad:
  field_error(rc, field, why, detail, dlen);
out:
  json_decref(o);
  return rc;
}
