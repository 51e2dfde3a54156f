/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON parsing and typed field access on top of jansson.
 */
#include "farmd/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"

int fd_json_parse(const void *buf, size_t len, size_t max_len, json_t **out,
                  char *why, size_t whylen)
{
  *out = NULL;
  if (len == 0) {
    if (why)
      snprintf(why, whylen, "empty payload");
    return FARM_EEMPTY;
  }
  if (len > max_len) {
    if (why)
      snprintf(why, whylen, "payload of %zu bytes exceeds %zu", len, max_len);
    return FARM_ETOOBIG;
  }
  json_error_t e;
  /* JSON_REJECT_DUPLICATES: {"a":1,"a":2} is ambiguous, refuse it.
   * Without JSON_ALLOW_NUL jansson refuses "\u0000" inside strings. */
  json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
  if (!v) {
    if (why)
      snprintf(why, whylen, "not JSON: %s at byte %d", e.text, e.position);
    return FARM_EMALFORMED;
  }
  if (!json_is_object(v)) {
    json_decref(v);
    if (why)
      snprintf(why, whylen, "top level is not an object");
    return FARM_ETYPE;
  }
  *out = v;
  return 0;
}

static const json_t *field(const json_t *obj, const char *key)
{
  const json_t *v = json_object_get(obj, key);
  return (v && !json_is_null(v)) ? v : NULL;
}

int fd_json_get_i64(const json_t *obj, const char *key, bool required,
                    int64_t min, int64_t max, int64_t def, int64_t *out)
{
  const json_t *v = field(obj, key);
  *out = def;
  if (!v)
    return required ? FARM_EMISSING : 0;
  if (!json_is_integer(v))
    return FARM_ETYPE;
  json_int_t i = json_integer_value(v);
  if (i < min || i > max)
    return FARM_ERANGE;
  *out = i;
  return 0;
}

int fd_json_get_f64(const json_t *obj, const char *key, bool required,
                    double min, double max, double def, double *out)
{
  const json_t *v = field(obj, key);
  *out = def;
  if (!v)
    return required ? FARM_EMISSING : 0;
  if (!json_is_number(v))
    return FARM_ETYPE;
  double d = json_number_value(v);
  if (!isfinite(d) || d < min || d > max)
    return FARM_ERANGE;
  *out = d;
  return 0;
}

int fd_json_get_bool(const json_t *obj, const char *key, bool required,
                     bool def, bool *out)
{
  const json_t *v = field(obj, key);
  *out = def;
  if (!v)
    return required ? FARM_EMISSING : 0;
  if (!json_is_boolean(v))
    return FARM_ETYPE;
  *out = json_is_true(v);
  return 0;
}

int fd_json_get_str(const json_t *obj, const char *key, bool required,
                    size_t max_len, const char *def, const char **out)
{
  const json_t *v = field(obj, key);
  *out = def;
  if (!v)
    return required ? FARM_EMISSING : 0;
  if (!json_is_string(v))
    return FARM_ETYPE;
  size_t n = json_string_length(v);
  if (n == 0 || n > max_len)
    return FARM_ERANGE;
  *out = json_string_value(v);
  return 0;
}

char *fd_json_dump(const json_t *v)
{
  return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
