/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the CBOR reader. Each input is validated, then walked
 * with the cursor mixing fp_cbor_read and fp_cbor_skip; both must agree on
 * the outcome and its offset. A valid input is re-encoded item by item with
 * our writer: the result must be no longer (preferred serialization only
 * shortens), validate, read back as the same items, and re-encode to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      abort();                                                                \
  } while (0)

static bool known_error(int rc)
{
  return rc == FARM_ETRUNCATED || rc == FARM_EMALFORMED || rc == FARM_EUTF8 ||
         rc == FARM_EDEPTH || rc == FARM_ETRAILING;
}

static void check_item(const struct fp_item *it, const uint8_t *data,
                       size_t size)
{
  if ((it->kind == FP_STR || it->kind == FP_BIN) && !it->indefinite) {
    /* A payload lies inside the input. */
    CHECK(it->v.bytes.len <= size);
    CHECK(it->v.bytes.ptr >= data);
    CHECK((size_t)(it->v.bytes.ptr - data) <= size - it->v.bytes.len);
  }
  if (it->kind == FP_FLOAT)
    CHECK(it->float_bits == 16 || it->float_bits == 32 ||
          it->float_bits == 64);
}

/* Walks the input with read and skip interleaved; returns the first error
 * (0 if the top-level value completed) and its offset. */
static int walk(const uint8_t *data, size_t size, size_t *offset)
{
  struct fp_cbor_reader r;
  struct fp_item it;
  fp_cbor_reader_init(&r, data, size);
  unsigned step = 0;
  while (!fp_cbor_done(&r)) {
    size_t before = r.pos;
    int rc;
    /* Skip now and then, picked from the input so the fuzzer steers it. */
    unsigned pick = before < size ? data[before] : 0;
    if (((pick + step) & 3) == 0) {
      rc = fp_cbor_skip(&r);
    } else {
      rc = fp_cbor_read(&r, &it);
      if (rc == 0)
        check_item(&it, data, size);
    }
    step++;
    CHECK(r.pos <= size);
    CHECK(r.depth <= FP_MAX_DEPTH);
    if (rc != 0) {
      CHECK(r.err_offset <= size);
      *offset = r.err_offset;
      return rc;
    }
    CHECK(r.pos > before); /* every successful call consumes input */
  }
  CHECK(fp_cbor_read(&r, &it) == FARM_EEMPTY);
  CHECK(r.err_offset == r.pos);
  *offset = r.pos;
  return 0;
}

static bool same_item(const struct fp_item *a, const struct fp_item *b)
{
  if (a->kind != b->kind || a->indefinite != b->indefinite)
    return false;
  switch (a->kind) {
  case FP_UINT:
  case FP_NEGINT:
  case FP_TAG:
  case FP_SIMPLE:
    return a->v.u == b->v.u;
  case FP_BOOL:
    return a->v.b == b->v.b;
  case FP_FLOAT:
    if (a->v.f != a->v.f)
      return b->v.f != b->v.f;
    return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
  case FP_STR:
  case FP_BIN:
    return a->indefinite ||
           (a->v.bytes.len == b->v.bytes.len &&
            (a->v.bytes.len == 0 ||
             memcmp(a->v.bytes.ptr, b->v.bytes.ptr, a->v.bytes.len) == 0));
  case FP_ARRAY:
  case FP_MAP:
    return a->indefinite || a->v.count == b->v.count;
  default:
    return true;
  }
}

static void write_item(struct fp_cbor_writer *w, const struct fp_item *it)
{
  switch (it->kind) {
  case FP_UINT:
    fp_cbor_write_uint(w, it->v.u);
    break;
  case FP_NEGINT:
    fp_cbor_write_negint(w, it->v.u);
    break;
  case FP_FLOAT:
    fp_cbor_write_float(w, it->v.f);
    break;
  case FP_STR:
    if (it->indefinite)
      fp_cbor_write_indef_str(w);
    else
      fp_cbor_write_str(w, it->v.bytes.ptr, it->v.bytes.len);
    break;
  case FP_BIN:
    if (it->indefinite)
      fp_cbor_write_indef_bin(w);
    else
      fp_cbor_write_bin(w, it->v.bytes.ptr, it->v.bytes.len);
    break;
  case FP_ARRAY:
    if (it->indefinite)
      fp_cbor_write_indef_array(w);
    else
      fp_cbor_write_array(w, it->v.count);
    break;
  case FP_MAP:
    if (it->indefinite)
      fp_cbor_write_indef_map(w);
    else
      fp_cbor_write_map(w, it->v.count);
    break;
  case FP_TAG:
    fp_cbor_write_tag(w, it->v.u);
    break;
  case FP_BOOL:
    fp_cbor_write_bool(w, it->v.b);
    break;
  case FP_NIL:
    fp_cbor_write_nil(w);
    break;
  case FP_UNDEFINED:
    fp_cbor_write_undefined(w);
    break;
  case FP_SIMPLE:
    CHECK(it->v.u <= 255);
    fp_cbor_write_simple(w, (uint8_t)it->v.u);
    break;
  case FP_BREAK:
    fp_cbor_write_break(w);
    break;
  default:
    abort();
  }
}

/* Re-encodes the single valid value in data into out; returns its length. */
static size_t reencode(const uint8_t *data, size_t size, uint8_t *out,
                       size_t cap)
{
  struct fp_cbor_reader r;
  struct fp_item it;
  struct fp_cbor_writer w;
  fp_cbor_reader_init(&r, data, size);
  fp_cbor_writer_init(&w, out, cap);
  while (!fp_cbor_done(&r)) {
    CHECK(fp_cbor_read(&r, &it) == 0);
    write_item(&w, &it);
  }
  CHECK(w.err == 0);
  return w.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t voff = 0;
  int vrc = fp_cbor_validate(data, size, &voff);
  CHECK(vrc == 0 || known_error(vrc));
  CHECK(voff <= size);

  size_t woff = 0;
  int wrc = walk(data, size, &woff);
  if (wrc == 0) {
    /* The value ended at woff: validate agrees, trailing bytes aside. */
    if (woff == size)
      CHECK(vrc == 0);
    else
      CHECK(vrc == FARM_ETRAILING && voff == woff);
  } else {
    CHECK(wrc == vrc && woff == voff);
  }
  if (vrc != 0)
    return 0;

  /* Preferred serialization never lengthens a head or a float. */
  uint8_t *out = malloc(size);
  uint8_t *again = malloc(size);
  CHECK(out != NULL && again != NULL);
  size_t n = reencode(data, size, out, size);
  CHECK(fp_cbor_validate(out, n, NULL) == 0);

  /* The same items, in the same order. */
  struct fp_cbor_reader a, b;
  struct fp_item ia, ib;
  fp_cbor_reader_init(&a, data, size);
  fp_cbor_reader_init(&b, out, n);
  while (!fp_cbor_done(&a)) {
    CHECK(fp_cbor_read(&a, &ia) == 0);
    CHECK(fp_cbor_read(&b, &ib) == 0);
    CHECK(same_item(&ia, &ib));
  }
  CHECK(fp_cbor_done(&b));

  /* Preferred serialization is a fixed point. */
  size_t m = reencode(out, n, again, n);
  CHECK(m == n && memcmp(out, again, n) == 0);
  free(again);
  free(out);
  return 0;
}
