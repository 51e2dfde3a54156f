/* SPDX-License-Identifier: MIT */
/*
 * Validation of commands against the node catalogue (see cmdcat.h).
 */
#include "cmdcat.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"

enum akind { A_INT, A_BOOL, A_FEATURE };

struct argspec {
  const char *key;
  enum akind kind;
  bool required;
  int64_t min, max;
};

struct cmdspec {
  const char *name;
  size_t nargs;
  struct argspec args[3];
};

/* Six relays (architecture §1); times and periods as the node core bounds
 * them. */
static const struct cmdspec catalogue[] = {
    {"relay.set",
     3,
     {{"ch", A_INT, true, 1, 6}, {"on", A_BOOL, true, 0, 0}, {"for_s", A_INT, false, 0, 86400}}},
    {"feature.set", 2, {{"name", A_FEATURE, true, 0, 0}, {"on", A_BOOL, true, 0, 0}}},
    {"period.set", 1, {{"ms", A_INT, true, 1000, 3600000}}},
    {"identify", 1, {{"s", A_INT, false, 1, 60}}},
    {"reboot", 0, {{0}}},
};

static const char *const features[] = {"sht41", "lux", "mq135", "relays", "synthetic"};

int wg_cmd_check(const char *name, const json_t *args, char *why, size_t cap)
{
  const struct cmdspec *spec = NULL;
  for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++)
    if (strcmp(catalogue[i].name, name) == 0)
      spec = &catalogue[i];
  if (!spec) {
    snprintf(why, cap, "unknown command '%.40s' (relay.set, feature.set, period.set, identify, reboot)",
             name);
    return FARM_EUNKNOWN;
  }
  if (args && !json_is_null(args) && !json_is_object(args)) {
    snprintf(why, cap, "args must be an object");
    return FARM_ETYPE;
  }
  const char *k;
  json_t *v;
  if (args && json_is_object(args)) {
    json_object_foreach((json_t *)args, k, v)
    {
      bool known = false;
      for (size_t s = 0; s < spec->nargs; s++)
        known = known || strcmp(spec->args[s].key, k) == 0;
      if (!known) {
        snprintf(why, cap, "unknown argument '%.20s' for %s", k, spec->name);
        return FARM_EINVAL;
      }
    }
  }
  bool on = false;
  int64_t for_s = 0;
  for (size_t s = 0; s < spec->nargs; s++) {
    const struct argspec *as = &spec->args[s];
    v = args && json_is_object(args) ? json_object_get(args, as->key) : NULL;
    if (!v || json_is_null(v)) {
      if (as->required) {
        snprintf(why, cap, "missing argument '%s'", as->key);
        return FARM_EMISSING;
      }
      continue;
    }
    switch (as->kind) {
    case A_INT: {
      if (!json_is_integer(v)) {
        snprintf(why, cap, "'%s' must be an integer", as->key);
        return FARM_ETYPE;
      }
      int64_t i = json_integer_value(v);
      if (i < as->min || i > as->max) {
        snprintf(why, cap, "'%s' must be %" PRId64 "..%" PRId64, as->key, as->min, as->max);
        return FARM_ERANGE;
      }
      if (strcmp(as->key, "for_s") == 0)
        for_s = i;
      break;
    }
    case A_BOOL:
      if (!json_is_boolean(v)) {
        snprintf(why, cap, "'%s' must be true or false", as->key);
        return FARM_ETYPE;
      }
      if (strcmp(as->key, "on") == 0)
        on = json_is_true(v);
      break;
    case A_FEATURE: {
      bool found = false;
      for (size_t f = 0; json_is_string(v) && f < sizeof features / sizeof features[0]; f++)
        found = found || strcmp(json_string_value(v), features[f]) == 0;
      if (!found) {
        snprintf(why, cap, "'%s' must be one of sht41, lux, mq135, relays, synthetic", as->key);
        return json_is_string(v) ? FARM_ERANGE : FARM_ETYPE;
      }
      break;
    }
    }
  }
  if (strcmp(spec->name, "relay.set") == 0 && !on && for_s != 0) {
    snprintf(why, cap, "'for_s' needs on");
    return FARM_EINVAL;
  }
  return 0;
}
