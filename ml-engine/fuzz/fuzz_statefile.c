/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the service's checkpoint file on arbitrary bytes (read
 * through fmemopen). Whatever it restores must be a table the service can
 * go on with: every restored stream takes further readings.
 */
#define _POSIX_C_SOURCE 200809L /* fmemopen */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "farm/error.h"
#include "svc/statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");
  if (f == NULL)
    return 0;
  struct mls_table *t;
  if (mls_table_new(8, &t) != 0)
    __builtin_trap();
  struct mls_models m;
  ml_detector_config_default(&m.det);
  ml_forecaster_config_default(&m.fc);
  m.stuck_s = 3600;
  struct mls_state_stats st;
  char err[256];
  int rc = mls_state_read(f, t, &m, &st, err, sizeof err);
  fclose(f);
  if (rc != 0 && rc != FARM_EMALFORMED && rc != FARM_EIO)
    __builtin_trap();
  if (st.restored != mls_table_count(t))
    __builtin_trap();
  for (struct mls_stream *s = mls_table_oldest(t); s != NULL; s = s->newer) {
    for (int i = 1; i <= 16; i++) {
      struct ml_fault_result r;
      if (ml_faults_update(&s->flt, s->last_ts + i, 20.0 + i, ML_FAULT_LIVE, &r) != 0)
        __builtin_trap();
      double score;
      if (r.released && ml_detector_update(&s->det, r.value, &score) != 0)
        __builtin_trap();
    }
  }
  mls_table_free(t);
  return 0;
}
