/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the row parser on arbitrary bytes, as one line. */
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include "ml/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ml_csv_row row;
  const char *why = NULL;
  if (ml_csv_parse_row((const char *)data, size, &row, &why) == 0) {
    /* A parsed row points into the input and holds a finite value. */
    if (!isfinite(row.value) || row.ts != (const char *)data ||
        row.ts_len + 1 + row.val_len != size)
      __builtin_trap();
  } else if (why == NULL) {
    __builtin_trap();
  }
  return 0;
}
