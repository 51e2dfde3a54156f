/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the MessagePack reader (and, through re-encoding, the
 * writer). Every input is validated and walked by the cursor with a mix of
 * reads and skips; both must agree on the outcome and the error offset.
 * Whatever validates is re-encoded item by item with our writer, which must
 * give a shorter-or-equal value that validates, decodes to the same items,
 * and is a fixed point of re-encoding.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/msgpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,  \
              #cond);                                                        \
      abort();                                                               \
    }                                                                        \
  } while (0)

static bool reader_error(int rc)
{
  return rc == FARM_ETRUNCATED || rc == FARM_EMALFORMED || rc == FARM_EUTF8 ||
         rc == FARM_EDEPTH;
}

/* Writes the item with our writer in its shortest form. */
static int write_item(struct fp_mp_writer *w, const struct fp_item *it)
{
  switch (it->kind) {
  case FP_NIL: return fp_mp_write_nil(w);
  case FP_BOOL: return fp_mp_write_bool(w, it->v.b);
  case FP_UINT: return fp_mp_write_uint(w, it->v.u);
  case FP_NEGINT: {
    int64_t i;
    CHECK(fp_item_to_i64(it, &i) == 0); /* msgpack has no integer below INT64_MIN */
    return fp_mp_write_int(w, i);
  }
  case FP_FLOAT: return fp_mp_write_float(w, it->v.f);
  case FP_STR: return fp_mp_write_str(w, it->v.bytes.ptr, it->v.bytes.len);
  case FP_BIN: return fp_mp_write_bin(w, it->v.bytes.ptr, it->v.bytes.len);
  case FP_ARRAY: return fp_mp_write_array(w, it->v.count);
  case FP_MAP: return fp_mp_write_map(w, it->v.count);
  case FP_EXT: return fp_mp_write_ext(w, it->ext_type, it->v.bytes.ptr, it->v.bytes.len);
  case FP_TIMESTAMP: return fp_mp_write_timestamp(w, it->v.ts.sec, it->v.ts.nsec);
  default:
    CHECK(!"the msgpack reader produced a CBOR-only kind");
    return FARM_EINVAL;
  }
}

/* Re-encodes the one value at the start of in (known to be well-formed). */
static int reencode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
  struct fp_mp_reader r;
  struct fp_mp_writer w;
  struct fp_item it;
  fp_mp_reader_init(&r, in, len);
  fp_mp_writer_init(&w, out, cap);
  do {
    CHECK(fp_mp_read(&r, &it) == 0);
    size_t before = w.len;
    int rc = write_item(&w, &it);
    /* Sticky writer: an item is written whole or not at all. */
    CHECK(rc == 0 ? w.len > before : w.len == before && rc == w.err);
  } while (!fp_mp_done(&r));
  *out_len = w.len;
  return w.err;
}

static bool same_item(const struct fp_item *a, const struct fp_item *b)
{
  if (a->kind != b->kind)
    return false;
  switch (a->kind) {
  case FP_BOOL: return a->v.b == b->v.b;
  case FP_UINT:
  case FP_NEGINT: return a->v.u == b->v.u;
  case FP_FLOAT:
    if (isnan(a->v.f) || isnan(b->v.f))
      return isnan(a->v.f) && isnan(b->v.f);
    return a->v.f == b->v.f && signbit(a->v.f) == signbit(b->v.f);
  case FP_EXT:
  case FP_STR:
  case FP_BIN:
    return a->ext_type == b->ext_type && a->v.bytes.len == b->v.bytes.len &&
           (a->v.bytes.len == 0 || memcmp(a->v.bytes.ptr, b->v.bytes.ptr, a->v.bytes.len) == 0);
  case FP_ARRAY:
  case FP_MAP: return a->v.count == b->v.count;
  case FP_TIMESTAMP: return a->v.ts.sec == b->v.ts.sec && a->v.ts.nsec == b->v.ts.nsec;
  default: return true;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t off = SIZE_MAX;
  const int rc = fp_mp_validate(data, size, &off);
  CHECK(off <= size);
  CHECK(rc == 0 || rc == FARM_ETRAILING || reader_error(rc));
  if (rc == 0)
    CHECK(off == size);
  if (rc == FARM_ETRAILING)
    CHECK(off < size);

  /* The cursor, mixing reads and skips, meets the same outcome. */
  struct fp_mp_reader r;
  struct fp_item it;
  fp_mp_reader_init(&r, data, size);
  int wrc = 0;
  for (size_t n = 0; !fp_mp_done(&r); n++) {
    size_t before = r.pos;
    bool skip = before < size && (data[before] + n) % 3 == 0;
    wrc = skip ? fp_mp_skip(&r) : fp_mp_read(&r, &it);
    if (wrc != 0)
      break;
    CHECK(r.pos > before && r.pos <= size);
    CHECK(r.depth <= FP_MAX_DEPTH);
    if (!skip && (it.kind == FP_STR || it.kind == FP_BIN || it.kind == FP_EXT)) {
      CHECK(it.v.bytes.ptr > data + before && it.v.bytes.ptr <= data + r.pos);
      CHECK(it.v.bytes.len <= (size_t)(data + r.pos - it.v.bytes.ptr));
    }
  }
  if (rc == 0 || rc == FARM_ETRAILING) {
    CHECK(wrc == 0 && fp_mp_done(&r));
    CHECK(r.pos == off);
    CHECK(fp_mp_read(&r, &it) == FARM_EEMPTY && r.err_offset == off);
  } else {
    CHECK(wrc == rc && r.err_offset == off);
    return 0;
  }

  /* One byte less is always a truncated value. */
  size_t cut_off;
  CHECK(fp_mp_validate(data, off - 1, &cut_off) == FARM_ETRUNCATED);
  CHECK(cut_off <= off - 1);

  /* Re-encode the value: shortest forms never take more room than the
   * original ones, so off bytes are always enough. */
  const size_t vlen = off;
  uint8_t *out = malloc(vlen);
  uint8_t *again = malloc(vlen);
  CHECK(out != NULL && again != NULL);
  size_t olen, alen;
  CHECK(reencode(data, vlen, out, vlen, &olen) == 0);
  CHECK(olen >= 1 && olen <= vlen);
  CHECK(fp_mp_validate(out, olen, NULL) == 0);

  /* Shortest form is a fixed point. */
  CHECK(reencode(out, olen, again, vlen, &alen) == 0);
  CHECK(alen == olen && memcmp(out, again, olen) == 0);

  /* A writer one byte short fails with ENOSPC having written a prefix. */
  if (olen > 1) {
    CHECK(reencode(out, olen, again, olen - 1, &alen) == FARM_ENOSPC);
    CHECK(alen < olen && memcmp(out, again, alen) == 0);
  }

  /* The re-encoding carries the same items. */
  struct fp_mp_reader ra, rb;
  struct fp_item ia, ib;
  fp_mp_reader_init(&ra, data, vlen);
  fp_mp_reader_init(&rb, out, olen);
  do {
    CHECK(fp_mp_read(&ra, &ia) == 0);
    CHECK(fp_mp_read(&rb, &ib) == 0);
    CHECK(same_item(&ia, &ib));
  } while (!fp_mp_done(&ra));
  CHECK(fp_mp_done(&rb));

  free(again);
  free(out);
  return 0;
}
