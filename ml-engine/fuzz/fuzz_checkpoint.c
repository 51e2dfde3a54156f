/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: restoring arbitrary bytes. When a restore succeeds the
 * detector must run on and save back the same length without tripping an
 * assert or a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>

#include "ml/detector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct ml_detector d;
  static uint8_t out[ML_CHECKPOINT_SIZE];
  if (ml_detector_restore(&d, data, size) != 0)
    return 0;
  double s;
  for (int i = 0; i < 64; i++) {
    if (ml_detector_update(&d, (double)(i % 9) * 1.5, &s) != 0 || !(s >= 0.0 && s <= 1.0))
      __builtin_trap();
  }
  size_t len;
  if (ml_detector_save(&d, out, sizeof out, &len) != 0 || len != ML_CHECKPOINT_SIZE)
    __builtin_trap();
  return 0;
}
