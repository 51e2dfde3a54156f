/* SPDX-License-Identifier: MIT */
/* Conversions on decoded items and the UTF-8 check shared by both readers. */
#include "fp/value.h"

#include <string.h>

#include "farm/error.h"

int fp_item_to_i64(const struct fp_item *it, int64_t *out)
{
  if (it->kind == FP_UINT) {
    if (it->v.u > (uint64_t)INT64_MAX)
      return FARM_ERANGE;
    *out = (int64_t)it->v.u;
    return 0;
  }
  if (it->kind == FP_NEGINT) {
    /* The value is -1 - u; it fits when u <= INT64_MAX. */
    if (it->v.u > (uint64_t)INT64_MAX)
      return FARM_ERANGE;
    *out = -1 - (int64_t)it->v.u;
    return 0;
  }
  return FARM_ETYPE;
}

int fp_item_to_u64(const struct fp_item *it, uint64_t *out)
{
  if (it->kind == FP_UINT) {
    *out = it->v.u;
    return 0;
  }
  return it->kind == FP_NEGINT ? FARM_ERANGE : FARM_ETYPE;
}

int fp_item_to_double(const struct fp_item *it, double *out)
{
  switch (it->kind) {
  case FP_UINT:
    *out = (double)it->v.u;
    return 0;
  case FP_NEGINT:
    *out = -1.0 - (double)it->v.u;
    return 0;
  case FP_FLOAT:
    *out = it->v.f;
    return 0;
  default:
    return FARM_ETYPE;
  }
}

bool fp_item_is_str(const struct fp_item *it, const char *s)
{
  size_t n = strlen(s);
  return it->kind == FP_STR && !it->indefinite && it->v.bytes.len == n &&
         (n == 0 || memcmp(it->v.bytes.ptr, s, n) == 0);
}

bool fp_utf8_valid(const uint8_t *p, size_t len)
{
  size_t i = 0;
  while (i < len) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) {
      need = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      need = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false; /* continuation byte or 0xf8.. lead */
    }
    if (len - i <= need)
      return false;
    for (size_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    /* RFC 3629 §3: overlong forms, surrogates and values past U+10FFFF are
     * not UTF-8. */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return false;
    i += need + 1;
  }
  return true;
}
