/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the CBOR codec against libcbor 0.8. A seeded
 * generator builds thousands of random nested values (integers of every
 * width, floats exact in half/single/double, UTF-8 text, byte strings,
 * arrays, maps, tags, simple values, indefinite-length items). Each is
 * (a) written with our writer and loaded with cbor_load, the libcbor tree
 * compared with the value, and (b) built with libcbor's builders and
 * serialized with cbor_serialize_alloc, those bytes read with our reader and
 * compared with the value; when both encoders should pick the same bytes,
 * they must be identical. Set CBOR_DIFF_SEED to replay another seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cbor.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/cbor.h"
#include "testsupport.h"

#define VALUES 5000
#define DEFAULT_SEED UINT64_C(0x1ce5eed5cb0f2026)

enum vkind {
  V_UINT,
  V_NEGINT,
  V_FLOAT,
  V_STR,
  V_BIN,
  V_ARRAY,
  V_MAP,
  V_TAG,
  V_SIMPLE,
  V_BOOL,
  V_NULL,
  V_UNDEF,
};

/* A generated value. Containers own their items; a map stores keys and
 * values interleaved (n = 2 * pairs); an indefinite string its chunks. */
struct val {
  enum vkind kind;
  bool indef;
  uint64_t u;    /* integer argument, tag number, simple value, bool */
  double f;      /* V_FLOAT */
  int fbits;     /* width preferred serialization must choose */
  int lib_fbits; /* width libcbor is asked to build (see build_lib) */
  uint8_t *bytes;
  size_t len;
  struct val *items;
  size_t n;
};

struct gen {
  struct ts_rng rng;
  int budget; /* containers left for this value, bounds its size */
};

static uint64_t below(struct gen *g, uint64_t n)
{
  return ts_rng_below(&g->rng, n);
}

/* An integer argument from one of the five head sizes (RFC 8949 §3), with
 * the boundaries of each drawn often. */
static uint64_t gen_arg(struct gen *g)
{
  static const uint64_t lo[] = {0, 24, 256, 65536, UINT64_C(1) << 32};
  static const uint64_t hi[] = {23, 255, 65535, UINT32_MAX, UINT64_MAX};
  unsigned c = (unsigned)below(g, 5);
  switch (below(g, 4)) {
  case 0:
    return lo[c];
  case 1:
    return hi[c];
  default:
    return lo[c] + below(g, hi[c] - lo[c]) + (below(g, 2) ? 1 : 0);
  }
}

/*
 * Floats, with the width each must take, decided here from how the value was
 * drawn (and, for plain decimals, with frexp), independently of the writer.
 */
static double half_value(uint16_t h)
{
  /* RFC 8949 Appendix D. */
  int e = h >> 10 & 0x1f;
  int m = h & 0x3ff;
  double v;
  if (e == 0)
    v = ldexp(m, -24);
  else if (e != 31)
    v = ldexp(m + 1024, e - 25);
  else
    v = m == 0 ? INFINITY : NAN;
  return h & 0x8000 ? -v : v;
}

static bool half_exact(double d)
{
  if (d == 0 || isinf(d))
    return true;
  if (fabs(d) > 65504.0)
    return false;
  int e;
  double m = frexp(fabs(d), &e); /* d = m * 2^e, m in [0.5, 1) */
  if (e >= -13)                  /* normal half: 11 significant bits */
    return ldexp(m, 11) == floor(ldexp(m, 11));
  double units = ldexp(fabs(d), 24); /* subnormal: whole units of 2^-24 */
  return units == floor(units);
}

static int float_width(double d)
{
  if (isnan(d) || half_exact(d))
    return 16;
  if (fabs(d) <= 3.4028234663852886e+38 && (double)(float)d == d)
    return 32;
  return 64;
}

static void gen_float(struct gen *g, struct val *v)
{
  v->kind = V_FLOAT;
  switch (below(g, 6)) {
  case 0: { /* any half but NaN, subnormals and ±0 included */
    uint16_t h;
    do
      h = (uint16_t)below(g, 0x10000);
    while ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
    if (below(g, 3) == 0)
      h &= 0x83ff; /* force a subnormal (or zero) */
    v->f = half_value(h);
    v->fbits = 16;
    break;
  }
  case 1: { /* a single that no half holds: low 13 fraction bits not 0 */
    uint32_t b;
    do
      b = (uint32_t)below(g, UINT64_C(1) << 32);
    while ((b & 0x7f800000) == 0x7f800000 || (b & 0x1fff) == 0);
    float f32;
    memcpy(&f32, &b, sizeof f32);
    v->f = f32;
    v->fbits = 32;
    break;
  }
  case 2: { /* a double that no single holds: low 29 fraction bits not 0 */
    uint64_t b;
    do
      b = ts_rng_next(&g->rng);
    while ((b & UINT64_C(0x7ff0000000000000)) ==
               UINT64_C(0x7ff0000000000000) ||
           (b & 0x1fffffff) == 0);
    memcpy(&v->f, &b, sizeof v->f);
    v->fbits = 64;
    break;
  }
  case 3: { /* decimals and binary fractions of every kind */
    double num = (double)((int64_t)below(g, 2000001) - 1000000);
    static const double den[] = {1, 2, 8, 10, 100, 1024, 3, 1e-300, 65536};
    v->f = num / den[below(g, sizeof den / sizeof den[0])];
    v->fbits = float_width(v->f);
    break;
  }
  case 4: { /* integral values around the half and single limits */
    static const double edge[] = {65504, 65505, 65520, 2048, 2049, 16777216,
                                  16777217, 1e10, 3.4028234663852886e+38};
    v->f = edge[below(g, sizeof edge / sizeof edge[0])] * (below(g, 2) ? 1 : -1);
    v->fbits = float_width(v->f);
    break;
  }
  default: {
    static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN};
    v->f = special[below(g, 5)];
    v->fbits = 16;
    break;
  }
  }
  assert_int_equal(v->fbits, float_width(v->f));
  v->lib_fbits = v->fbits;
}

static size_t put_utf8(uint8_t *p, uint32_t cp)
{
  if (cp < 0x80) {
    p[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    p[0] = (uint8_t)(0xc0 | cp >> 6);
    p[1] = (uint8_t)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    p[0] = (uint8_t)(0xe0 | cp >> 12);
    p[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    p[2] = (uint8_t)(0x80 | (cp & 0x3f));
    return 3;
  }
  p[0] = (uint8_t)(0xf0 | cp >> 18);
  p[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
  p[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
  p[3] = (uint8_t)(0x80 | (cp & 0x3f));
  return 4;
}

static size_t gen_len(struct gen *g)
{
  switch (below(g, 8)) {
  case 0:
    return 0;
  case 1:
    return 23 + below(g, 3); /* across the one-byte length boundary */
  case 2:
    return 250 + below(g, 12); /* across 255/256 */
  default:
    return below(g, 12);
  }
}

static void gen_string(struct gen *g, struct val *v, bool text)
{
  v->kind = text ? V_STR : V_BIN;
  size_t n = gen_len(g);
  v->bytes = malloc(4 * n + 1);
  assert_non_null(v->bytes);
  v->len = 0;
  if (!text) {
    for (size_t i = 0; i < n; i++)
      v->bytes[v->len++] = (uint8_t)below(g, 256);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t cp;
    switch (below(g, 5)) {
    case 0:
      cp = 0x80 + (uint32_t)below(g, 0x800 - 0x80);
      break;
    case 1:
      do
        cp = 0x800 + (uint32_t)below(g, 0x10000 - 0x800);
      while (cp >= 0xd800 && cp <= 0xdfff); /* no surrogates in UTF-8 */
      break;
    case 2:
      cp = 0x10000 + (uint32_t)below(g, 0x110000 - 0x10000);
      break;
    default:
      cp = (uint32_t)below(g, 0x80);
      break;
    }
    v->len += put_utf8(v->bytes + v->len, cp);
  }
}

static void gen_value(struct gen *g, struct val *v, int depth);

static void gen_items(struct gen *g, struct val *v, size_t n, int depth)
{
  v->n = n;
  v->items = calloc(n > 0 ? n : 1, sizeof *v->items);
  assert_non_null(v->items);
  for (size_t i = 0; i < n; i++)
    gen_value(g, &v->items[i], depth + 1);
}

static void gen_value(struct gen *g, struct val *v, int depth)
{
  memset(v, 0, sizeof *v);
  bool nest = depth < 5 && g->budget > 0;
  unsigned pick = (unsigned)below(g, nest ? 16 : 11);
  if (depth == 0 && below(g, 4) != 0)
    pick = 11 + (unsigned)below(g, 5); /* mostly nested values on top */
  switch (pick) {
  case 0:
  case 1:
    v->kind = V_UINT;
    v->u = gen_arg(g);
    break;
  case 2:
  case 3:
    v->kind = V_NEGINT;
    v->u = below(g, 8) == 0 ? (uint64_t)INT64_MAX : gen_arg(g);
    break;
  case 4:
  case 5:
    gen_float(g, v);
    break;
  case 6:
  case 7:
    gen_string(g, v, pick == 6);
    if (below(g, 5) == 0) { /* an indefinite string: 0..3 chunks */
      free(v->bytes);
      v->bytes = NULL;
      v->len = 0;
      v->indef = true;
      v->n = below(g, 4);
      v->items = calloc(v->n + 1, sizeof *v->items);
      assert_non_null(v->items);
      for (size_t i = 0; i < v->n; i++)
        gen_string(g, &v->items[i], pick == 6);
    }
    break;
  case 8:
    v->kind = V_SIMPLE;
    v->u = below(g, 2) ? below(g, 20) : 32 + below(g, 224);
    break;
  case 9:
    v->kind = V_BOOL;
    v->u = below(g, 2);
    break;
  case 10:
    v->kind = below(g, 2) ? V_NULL : V_UNDEF;
    break;
  case 11:
  case 12:
    g->budget--;
    v->kind = V_ARRAY;
    v->indef = below(g, 4) == 0;
    gen_items(g, v, below(g, 10) == 0 ? 24 + below(g, 3) : below(g, 6), depth);
    break;
  case 13:
  case 14:
    g->budget--;
    v->kind = V_MAP;
    v->indef = below(g, 4) == 0;
    gen_items(g, v, 2 * below(g, 5), depth);
    break;
  default:
    g->budget--;
    v->kind = V_TAG;
    v->u = gen_arg(g);
    gen_items(g, v, 1, depth);
    break;
  }
}

static void free_val(struct val *v)
{
  for (size_t i = 0; i < v->n; i++)
    free_val(&v->items[i]);
  free(v->items);
  free(v->bytes);
}

/* ------------------------------------------------------ our encoder */

static void write_val(struct fp_cbor_writer *w, const struct val *v)
{
  switch (v->kind) {
  case V_UINT:
    fp_cbor_write_uint(w, v->u);
    break;
  case V_NEGINT:
    /* Both spellings of the same head. */
    if (v->u <= (uint64_t)INT64_MAX && (v->u & 1))
      fp_cbor_write_int(w, -1 - (int64_t)v->u);
    else
      fp_cbor_write_negint(w, v->u);
    break;
  case V_FLOAT:
    fp_cbor_write_float(w, v->f);
    break;
  case V_STR:
  case V_BIN:
    if (v->indef) {
      if (v->kind == V_STR)
        fp_cbor_write_indef_str(w);
      else
        fp_cbor_write_indef_bin(w);
      for (size_t i = 0; i < v->n; i++)
        write_val(w, &v->items[i]);
      fp_cbor_write_break(w);
    } else if (v->kind == V_STR) {
      fp_cbor_write_str(w, v->bytes, v->len);
    } else {
      fp_cbor_write_bin(w, v->bytes, v->len);
    }
    break;
  case V_ARRAY:
  case V_MAP:
    if (v->indef) {
      if (v->kind == V_ARRAY)
        fp_cbor_write_indef_array(w);
      else
        fp_cbor_write_indef_map(w);
    } else if (v->kind == V_ARRAY) {
      fp_cbor_write_array(w, v->n);
    } else {
      fp_cbor_write_map(w, v->n / 2);
    }
    for (size_t i = 0; i < v->n; i++)
      write_val(w, &v->items[i]);
    if (v->indef)
      fp_cbor_write_break(w);
    break;
  case V_TAG:
    fp_cbor_write_tag(w, v->u);
    write_val(w, &v->items[0]);
    break;
  case V_SIMPLE:
    fp_cbor_write_simple(w, (uint8_t)v->u);
    break;
  case V_BOOL:
    fp_cbor_write_bool(w, v->u != 0);
    break;
  case V_NULL:
    fp_cbor_write_nil(w);
    break;
  case V_UNDEF:
    fp_cbor_write_undefined(w);
    break;
  }
}

/* ------------------------------------------------------ our decoder */

static bool same_double(double a, double b)
{
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  return memcmp(&a, &b, sizeof a) == 0; /* -0.0 is not 0.0 */
}

static void match_ours(struct fp_cbor_reader *r, const struct val *v,
                       bool lib_widths);

static void match_ours_item(struct fp_cbor_reader *r, const struct fp_item *it,
                            const struct val *v, bool lib_widths)
{
  struct fp_item brk;
  switch (v->kind) {
  case V_UINT:
  case V_NEGINT:
    assert_int_equal(it->kind, v->kind == V_UINT ? FP_UINT : FP_NEGINT);
    assert_true(it->v.u == v->u);
    break;
  case V_FLOAT:
    assert_int_equal(it->kind, FP_FLOAT);
    assert_int_equal(it->float_bits, lib_widths ? v->lib_fbits : v->fbits);
    assert_true(same_double(it->v.f, v->f));
    break;
  case V_STR:
  case V_BIN:
    assert_int_equal(it->kind, v->kind == V_STR ? FP_STR : FP_BIN);
    assert_int_equal(it->indefinite, v->indef);
    if (v->indef) {
      for (size_t i = 0; i < v->n; i++)
        match_ours(r, &v->items[i], lib_widths);
      assert_int_equal(fp_cbor_read(r, &brk), 0);
      assert_int_equal(brk.kind, FP_BREAK);
    } else {
      assert_int_equal(it->v.bytes.len, v->len);
      if (v->len > 0)
        assert_memory_equal(it->v.bytes.ptr, v->bytes, v->len);
    }
    break;
  case V_ARRAY:
  case V_MAP:
    assert_int_equal(it->kind, v->kind == V_ARRAY ? FP_ARRAY : FP_MAP);
    assert_int_equal(it->indefinite, v->indef);
    if (!v->indef)
      assert_int_equal(it->v.count, v->kind == V_ARRAY ? v->n : v->n / 2);
    for (size_t i = 0; i < v->n; i++)
      match_ours(r, &v->items[i], lib_widths);
    if (v->indef) {
      assert_int_equal(fp_cbor_read(r, &brk), 0);
      assert_int_equal(brk.kind, FP_BREAK);
    }
    break;
  case V_TAG:
    assert_int_equal(it->kind, FP_TAG);
    assert_true(it->v.u == v->u);
    match_ours(r, &v->items[0], lib_widths);
    break;
  case V_SIMPLE:
    assert_int_equal(it->kind, FP_SIMPLE);
    assert_true(it->v.u == v->u);
    break;
  case V_BOOL:
    assert_int_equal(it->kind, FP_BOOL);
    assert_int_equal(it->v.b, v->u != 0);
    break;
  case V_NULL:
    assert_int_equal(it->kind, FP_NIL);
    break;
  case V_UNDEF:
    assert_int_equal(it->kind, FP_UNDEFINED);
    break;
  }
}

static void match_ours(struct fp_cbor_reader *r, const struct val *v,
                       bool lib_widths)
{
  struct fp_item it;
  int rc = fp_cbor_read(r, &it);
  if (rc != 0)
    fail_msg("read at %zu: %s", r->err_offset, farm_errname(rc));
  match_ours_item(r, &it, v, lib_widths);
}

/* Reads one whole value from bytes with our reader and compares it. */
static void decode_ours(const uint8_t *p, size_t n, const struct val *v,
                        bool lib_widths)
{
  size_t off = 0;
  int rc = fp_cbor_validate(p, n, &off);
  if (rc != 0)
    fail_msg("validate: %s at %zu in %s", farm_errname(rc), off, ts_hex(p, n));
  struct fp_cbor_reader r;
  fp_cbor_reader_init(&r, p, n);
  match_ours(&r, v, lib_widths);
  assert_true(fp_cbor_done(&r));
  assert_int_equal(r.pos, n);
}

/* ------------------------------------------------------------ libcbor */

static bool has_indef(const struct val *v)
{
  if (v->indef)
    return true;
  for (size_t i = 0; i < v->n; i++)
    if (has_indef(&v->items[i]))
      return true;
  return false;
}

/*
 * libcbor 0.8's decoder refuses, as CBOR_ERR_MALFORMATED, two well-formed
 * things our generator makes: simple values other than false/true/null/
 * undefined, and tags 6..20 in the one-byte head (0xc6..0xd4, "unassigned"
 * in its decoder table). Values holding either are checked through (b) only.
 */
static bool lib_cannot_load(const struct val *v)
{
  if (v->kind == V_SIMPLE || (v->kind == V_TAG && v->u >= 6 && v->u <= 20))
    return true;
  for (size_t i = 0; i < v->n; i++)
    if (lib_cannot_load(&v->items[i]))
      return true;
  return false;
}

static void match_lib(const cbor_item_t *c, const struct val *v)
{
  switch (v->kind) {
  case V_UINT:
  case V_NEGINT:
    assert_true(v->kind == V_UINT ? cbor_isa_uint(c) : cbor_isa_negint(c));
    assert_true(cbor_get_int(c) == v->u);
    break;
  case V_FLOAT: {
    assert_true(cbor_is_float(c));
    static const int width_bits[] = {[CBOR_FLOAT_16] = 16, [CBOR_FLOAT_32] = 32,
                                     [CBOR_FLOAT_64] = 64};
    assert_int_equal(width_bits[cbor_float_get_width(c)], v->fbits);
    assert_true(same_double(cbor_float_get_float(c), v->f));
    break;
  }
  case V_STR:
  case V_BIN: {
    bool text = v->kind == V_STR;
    assert_true(text ? cbor_isa_string(c) : cbor_isa_bytestring(c));
    if (v->indef) {
      assert_false(text ? cbor_string_is_definite(c)
                        : cbor_bytestring_is_definite(c));
      size_t n = text ? cbor_string_chunk_count(c)
                      : cbor_bytestring_chunk_count(c);
      cbor_item_t **chunks = text ? cbor_string_chunks_handle(c)
                                  : cbor_bytestring_chunks_handle(c);
      assert_int_equal(n, v->n);
      for (size_t i = 0; i < n; i++)
        match_lib(chunks[i], &v->items[i]);
    } else {
      assert_true(text ? cbor_string_is_definite(c)
                       : cbor_bytestring_is_definite(c));
      size_t n = text ? cbor_string_length(c) : cbor_bytestring_length(c);
      assert_int_equal(n, v->len);
      if (n > 0)
        assert_memory_equal(text ? cbor_string_handle(c)
                                 : cbor_bytestring_handle(c),
                            v->bytes, n);
    }
    break;
  }
  case V_ARRAY:
    assert_true(cbor_isa_array(c));
    assert_int_equal(cbor_array_is_indefinite(c), v->indef);
    assert_int_equal(cbor_array_size(c), v->n);
    for (size_t i = 0; i < v->n; i++)
      match_lib(cbor_array_handle(c)[i], &v->items[i]);
    break;
  case V_MAP: {
    assert_true(cbor_isa_map(c));
    assert_int_equal(cbor_map_is_indefinite(c), v->indef);
    assert_int_equal(cbor_map_size(c), v->n / 2);
    struct cbor_pair *pairs = cbor_map_handle(c);
    for (size_t i = 0; i < v->n / 2; i++) {
      match_lib(pairs[i].key, &v->items[2 * i]);
      match_lib(pairs[i].value, &v->items[2 * i + 1]);
    }
    break;
  }
  case V_TAG: {
    assert_true(cbor_isa_tag(c));
    assert_true(cbor_tag_value(c) == v->u);
    cbor_item_t *inner = cbor_tag_item(c); /* a new reference */
    match_lib(inner, &v->items[0]);
    cbor_decref(&inner);
    break;
  }
  case V_SIMPLE:
    fail_msg("libcbor 0.8 cannot load simple values");
    break;
  case V_BOOL:
    assert_true(cbor_is_bool(c));
    assert_int_equal(cbor_get_bool(c), v->u != 0);
    break;
  case V_NULL:
    assert_true(cbor_is_null(c));
    break;
  case V_UNDEF:
    assert_true(cbor_is_undef(c));
    break;
  }
}

static cbor_item_t *lib_uint(uint64_t u, bool neg)
{
  /* libcbor writes the width of the item it is given, so pick the width
   * that holds u in the shortest head. */
  if (u <= UINT8_MAX)
    return neg ? cbor_build_negint8((uint8_t)u) : cbor_build_uint8((uint8_t)u);
  if (u <= UINT16_MAX)
    return neg ? cbor_build_negint16((uint16_t)u)
               : cbor_build_uint16((uint16_t)u);
  if (u <= UINT32_MAX)
    return neg ? cbor_build_negint32((uint32_t)u)
               : cbor_build_uint32((uint32_t)u);
  return neg ? cbor_build_negint64(u) : cbor_build_uint64(u);
}

/* True if the half is subnormal and not a power of two (see build_lib). */
static bool lib_half_lossy(double f)
{
  if (f == 0 || fabs(f) >= 0x1p-14)
    return false;
  int e;
  return frexp(fabs(f), &e) != 0.5;
}

/*
 * Builds v with libcbor. Sets *identical to false when libcbor's bytes cannot
 * match ours: libcbor 0.8's half encoder (_cbor_encode_half) writes every
 * subnormal half as 1 << (24 + exponent), dropping the other fraction bits,
 * so such values are built as singles instead and read back at 32 bits.
 */
static cbor_item_t *build_lib(struct val *v, bool *identical)
{
  cbor_item_t *c = NULL;
  switch (v->kind) {
  case V_UINT:
  case V_NEGINT:
    c = lib_uint(v->u, v->kind == V_NEGINT);
    break;
  case V_FLOAT:
    v->lib_fbits = v->fbits;
    if (v->fbits == 16 && lib_half_lossy(v->f)) {
      v->lib_fbits = 32;
      *identical = false;
    }
    if (v->lib_fbits == 16)
      c = cbor_build_float2((float)v->f);
    else if (v->lib_fbits == 32)
      c = cbor_build_float4((float)v->f);
    else
      c = cbor_build_float8(v->f);
    break;
  case V_STR:
  case V_BIN:
    if (v->indef) {
      c = v->kind == V_STR ? cbor_new_indefinite_string()
                           : cbor_new_indefinite_bytestring();
      for (size_t i = 0; i < v->n; i++) {
        cbor_item_t *chunk = build_lib(&v->items[i], identical);
        assert_true(v->kind == V_STR ? cbor_string_add_chunk(c, cbor_move(chunk))
                                     : cbor_bytestring_add_chunk(c, cbor_move(chunk)));
      }
    } else if (v->kind == V_STR) {
      c = cbor_build_stringn((const char *)v->bytes, v->len);
    } else {
      c = cbor_build_bytestring(v->bytes, v->len);
    }
    break;
  case V_ARRAY:
    c = v->indef ? cbor_new_indefinite_array() : cbor_new_definite_array(v->n);
    for (size_t i = 0; i < v->n; i++)
      assert_true(cbor_array_push(c, cbor_move(build_lib(&v->items[i], identical))));
    break;
  case V_MAP:
    c = v->indef ? cbor_new_indefinite_map() : cbor_new_definite_map(v->n / 2);
    for (size_t i = 0; i < v->n; i += 2) {
      struct cbor_pair p = {
          .key = cbor_move(build_lib(&v->items[i], identical)),
          .value = cbor_move(build_lib(&v->items[i + 1], identical)),
      };
      assert_true(cbor_map_add(c, p));
    }
    break;
  case V_TAG:
    c = cbor_build_tag(v->u, cbor_move(build_lib(&v->items[0], identical)));
    break;
  case V_SIMPLE:
    c = cbor_build_ctrl((uint8_t)v->u);
    break;
  case V_BOOL:
    c = cbor_build_bool(v->u != 0);
    break;
  case V_NULL:
    c = cbor_new_null();
    break;
  case V_UNDEF:
    c = cbor_new_undef();
    break;
  }
  assert_non_null(c);
  return c;
}

/* ----------------------------------------------------------------- test */

static uint64_t seed_from_env(void)
{
  const char *s = getenv("CBOR_DIFF_SEED");
  return s != NULL && s[0] != '\0' ? strtoull(s, NULL, 0) : DEFAULT_SEED;
}

static void test_against_libcbor(void **state)
{
  (void)state;
  static uint8_t out[1 << 16];
  uint64_t seed = seed_from_env();
  print_message("seed=0x%016" PRIx64 " (set CBOR_DIFF_SEED to replay)\n", seed);
  struct gen g;
  ts_rng_seed(&g.rng, seed);
  size_t loaded = 0, same_bytes = 0, subnormal_halves = 0, indefinite = 0;
  size_t total_bytes = 0;

  for (int i = 0; i < VALUES; i++) {
    struct val v;
    g.budget = 12;
    gen_value(&g, &v, 0);

    /* Ours: write, check it reads back as the value. */
    struct fp_cbor_writer w;
    fp_cbor_writer_init(&w, out, sizeof out);
    write_val(&w, &v);
    assert_int_equal(w.err, 0);
    total_bytes += w.len;
    decode_ours(out, w.len, &v, false);

    /* (a) Our bytes through cbor_load. */
    if (!lib_cannot_load(&v)) {
      struct cbor_load_result res;
      cbor_item_t *c = cbor_load(out, w.len, &res);
      if (c == NULL)
        fail_msg("value %d: cbor_load error %d at %zu in %s", i,
                 (int)res.error.code, res.error.position, ts_hex(out, w.len));
      assert_int_equal(res.read, w.len);
      match_lib(c, &v);
      cbor_decref(&c);
      loaded++;
    }

    /* (b) libcbor's bytes through our reader. */
    bool identical = true;
    cbor_item_t *c = build_lib(&v, &identical);
    unsigned char *lbuf = NULL;
    size_t lcap = 0;
    size_t llen = cbor_serialize_alloc(c, &lbuf, &lcap);
    assert_true(llen > 0);
    decode_ours(lbuf, llen, &v, true);
    if (identical) {
      if (llen != w.len || memcmp(lbuf, out, llen) != 0) {
        char ours[512];
        snprintf(ours, sizeof ours, "%s", ts_hex(out, w.len < 200 ? w.len : 200));
        fail_msg("value %d: ours %s, libcbor %s", i, ours,
                 ts_hex(lbuf, llen < 200 ? llen : 200));
      }
      same_bytes++;
    } else {
      subnormal_halves++;
    }
    if (has_indef(&v))
      indefinite++;
    free(lbuf);
    cbor_decref(&c);
    free_val(&v);
  }
  print_message("%d values (%zu bytes): %zu through cbor_load, %zu "
                "byte-identical, %zu with lossy libcbor halves, %zu with "
                "indefinite items\n",
                VALUES, total_bytes, loaded, same_bytes, subnormal_halves,
                indefinite);
  /* The generator really exercised every path. */
  assert_true(loaded > VALUES / 2);
  assert_true(same_bytes > VALUES * 3 / 4);
  assert_true(subnormal_halves > 0);
  assert_true(indefinite > 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_libcbor),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
