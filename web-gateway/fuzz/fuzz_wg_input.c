/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what web-gateway reads from clients before any
 * database work: the live feed's filter query, a command body checked
 * against the catalogue, and the token shape check. The first byte picks
 * the parser; invariants: an accepted filter holds only valid ids within
 * the limits, an accepted command names a catalogue entry, a token of the
 * right shape is exactly WG_TOKEN_LEN long.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "cmdcat.h"
#include "farmd/topic.h"
#include "live.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > 8192)
    return 0;
  char *s = malloc(size);
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0';
  switch (data[0] % 3) {
  case 0: {
    struct wg_live_filter f;
    char why[128];
    if (wg_live_parse_filter(s, &f, why, sizeof why) == 0) {
      if (f.nsite > WG_LIVE_FILTER_MAX || f.ndevice > WG_LIVE_FILTER_MAX ||
          f.nmetric > WG_LIVE_FILTER_MAX)
        abort();
      for (int i = 0; i < f.nsite; i++)
        if (!fd_id_valid(f.site[i], strlen(f.site[i])))
          abort();
      for (int i = 0; i < f.ndevice; i++)
        if (!fd_id_valid(f.device[i], strlen(f.device[i])))
          abort();
      for (int i = 0; i < f.nmetric; i++)
        if (!fd_id_valid(f.metric[i], strlen(f.metric[i])))
          abort();
    }
    break;
  }
  case 1: {
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    const char *name = json_string_value(json_object_get(o, "name"));
    char why[160];
    if (name && wg_cmd_check(name, json_object_get(o, "args"), why, sizeof why) == 0) {
      static const char *const known[] = {"relay.set", "feature.set", "period.set", "identify",
                                          "reboot"};
      int ok = 0;
      for (size_t i = 0; i < 5; i++)
        ok |= strcmp(name, known[i]) == 0;
      if (!ok)
        abort();
    }
    json_decref(o);
    break;
  }
  default:
    if (wg_token_shape(s, strlen(s)) && strlen(s) != WG_TOKEN_LEN)
      abort();
    break;
  }
  free(s);
  return 0;
}
