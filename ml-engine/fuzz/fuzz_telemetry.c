/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the service's telemetry payload parser on arbitrary
 * bytes. A parsed payload has 1..32 finite metrics named like ids and a
 * time in range; a refused one has a reason class and a detail.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "svc/telemetry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct mls_telemetry t;
  enum mls_reject why = MLS_REJ_COUNT;
  char detail[160] = "";
  const int64_t now = 1710000000000LL;
  if (mls_parse_telemetry(data, size, 4096, now, &t, &why, detail, sizeof detail) == 0) {
    if (t.n < 1 || t.n > MLS_METRICS_MAX || t.ts < MLS_TS_MIN || t.ts > now + MLS_TS_FUTURE_MS)
      __builtin_trap();
    for (size_t i = 0; i < t.n; i++)
      if (!isfinite(t.m[i].value) || !fd_id_valid(t.m[i].name, strlen(t.m[i].name)))
        __builtin_trap();
  } else if (why >= MLS_REJ_COUNT || detail[0] == '\0') {
    __builtin_trap();
  }
  return 0;
}
