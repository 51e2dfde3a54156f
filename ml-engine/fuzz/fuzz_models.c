/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: restoring arbitrary bytes as a forecaster checkpoint
 * (the first byte chooses) or a fault-checker checkpoint. When a restore
 * succeeds the model must run on, forecast and save back without tripping
 * an assert or a sanitizer, and save the same bytes it was restored from.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ml/faults.h"
#include "ml/forecast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void forecaster(const uint8_t *data, size_t size)
{
  static struct ml_forecaster fc;
  static uint8_t out[ML_FORECASTER_CHECKPOINT_MAX];
  if (ml_forecaster_restore(&fc, data, size) != 0)
    return;
  size_t len;
  if (ml_forecaster_save(&fc, out, sizeof out, &len) != 0 || len != size ||
      memcmp(out, data, size) != 0)
    __builtin_trap();
  /* Readings from the open bucket on, over two days. */
  int64_t t = fc.bucket * (int64_t)fc.cfg.step_s * 1000;
  for (int i = 0; i < 600; i++) {
    if (ml_forecaster_update(&fc, t + (int64_t)i * 300000, (double)(i % 13) - 6.0, NULL) != 0)
      __builtin_trap();
    struct ml_forecast f;
    if (ml_forecaster_predict(&fc, 1 + (uint32_t)i % fc.cfg.horizon, &f) == 0 &&
        !(isfinite(f.value) && isfinite(f.sd) && f.sd >= 0.0))
      __builtin_trap();
  }
  struct ml_frost_risk r;
  int rc = ml_forecaster_frost(&fc, 0.0, true, &r);
  if (rc < 0 && rc != -16 /* FARM_EAGAIN */)
    __builtin_trap();
  if (ml_forecaster_save(&fc, out, sizeof out, &len) != 0)
    __builtin_trap();
}

static void faults(const uint8_t *data, size_t size)
{
  static struct ml_faults f;
  uint8_t out[ML_FAULTS_CHECKPOINT_SIZE];
  struct ml_fault_config c;
  ml_fault_config_for_metric("temp_c", &c);
  if (ml_faults_restore(&f, &c, data, size) != 0)
    return;
  size_t len;
  if (ml_faults_save(&f, out, sizeof out, &len) != 0 || len != size || memcmp(out, data, size) != 0)
    __builtin_trap();
  int64_t t = f.started ? f.last_ts : 0;
  for (int i = 1; i <= 64; i++) {
    struct ml_fault_result r;
    if (ml_faults_update(&f, t + i, (i % 7) * 30.0 - 50.0, ML_FAULT_LIVE, &r) != 0 ||
        r.n > ML_FAULT_KINDS)
      __builtin_trap();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  if (data[0] & 1)
    forecaster(data + 1, size - 1);
  else
    faults(data + 1, size - 1);
  return 0;
}
