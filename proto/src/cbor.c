/* SPDX-License-Identifier: MIT */
/*
 * CBOR (RFC 8949) writer and cursor reader. The writer emits preferred
 * serialization (§4.1): shortest heads and the narrowest float width that
 * keeps the value. The reader decodes one head at a time, tracking the open
 * arrays, maps, tags and indefinite-length items so it knows when the
 * top-level value ends, and rejects anything not well-formed (§3.3, Appendix
 * F) before it touches a byte past what it has checked.
 */
#include "fp/cbor.h"

#include <assert.h>
#include <string.h>

#include "farm/error.h"

/* Major types, RFC 8949 §3.1. */
enum {
  MT_UINT = 0,
  MT_NEGINT = 1,
  MT_BYTES = 2,
  MT_TEXT = 3,
  MT_ARRAY = 4,
  MT_MAP = 5,
  MT_TAG = 6,
  MT_SIMPLE = 7,
};

/* Additional information, RFC 8949 §3: 24..27 announce a 1, 2, 4 or 8 byte
 * argument, 28..30 are reserved, 31 means indefinite length (or break). */
enum {
  AI_U8 = 24,
  AI_U64 = 27,
  AI_INDEF = 31,
};

/* Major type 7 values, RFC 8949 §3.3. */
enum {
  SV_FALSE = 20,
  SV_TRUE = 21,
  SV_NULL = 22,
  SV_UNDEFINED = 23,
  SV_HALF = 25,
  SV_SINGLE = 26,
  SV_DOUBLE = 27,
};

#define CBOR_BREAK 0xff

/*
 * Markers kept in remaining[] for indefinite levels. An indefinite array or
 * string holds LVL_INDEF. An indefinite map alternates between LVL_MAP_KEY
 * (a key or the break may come) and LVL_MAP_VALUE (a value must come), so a
 * break after a key is caught (§3.2.2 wants an even number of items). A
 * definite level never reaches these values: its count is checked against
 * the bytes that remain, each item taking at least one.
 */
#define LVL_INDEF UINT64_MAX
#define LVL_MAP_KEY (UINT64_MAX - 1)
#define LVL_MAP_VALUE (UINT64_MAX - 2)

/* ---------------------------------------------------------------- writer */

void fp_cbor_writer_init(struct fp_cbor_writer *w, void *buf, size_t cap)
{
  assert(w != NULL);
  assert(buf != NULL || cap == 0);
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->err = 0;
}

/* Length of the shortest head holding arg (§4.2.1): 1, 2, 3, 5 or 9. */
static size_t head_len(uint64_t arg)
{
  if (arg < AI_U8)
    return 1;
  if (arg <= 0xff)
    return 2;
  if (arg <= 0xffff)
    return 3;
  if (arg <= 0xffffffff)
    return 5;
  return 9;
}

/*
 * Appends the shortest head for (major, arg) followed by plen payload bytes,
 * as one unit: all of it or, when it does not fit, nothing and a sticky
 * FARM_ENOSPC. The room check never adds lengths, so a huge plen cannot wrap.
 */
static int put(struct fp_cbor_writer *w, unsigned major, uint64_t arg,
               const void *payload, size_t plen)
{
  if (w->err != 0)
    return w->err;
  size_t hlen = head_len(arg);
  size_t room = w->cap - w->len;
  if (hlen > room || plen > room - hlen) {
    w->err = FARM_ENOSPC;
    return w->err;
  }
  uint8_t *o = w->buf + w->len;
  uint8_t ib = (uint8_t)(major << 5);
  switch (hlen) {
  case 1:
    o[0] = (uint8_t)(ib | arg);
    break;
  case 2:
    o[0] = ib | AI_U8;
    o[1] = (uint8_t)arg;
    break;
  case 3:
    o[0] = ib | (AI_U8 + 1);
    o[1] = (uint8_t)(arg >> 8);
    o[2] = (uint8_t)arg;
    break;
  case 5:
    o[0] = ib | (AI_U8 + 2);
    for (int i = 0; i < 4; i++)
      o[1 + i] = (uint8_t)(arg >> (24 - 8 * i));
    break;
  default:
    o[0] = ib | AI_U64;
    for (int i = 0; i < 8; i++)
      o[1 + i] = (uint8_t)(arg >> (56 - 8 * i));
    break;
  }
  if (plen > 0)
    memcpy(o + hlen, payload, plen);
  w->len += hlen + plen;
  return 0;
}

static int write_head(struct fp_cbor_writer *w, unsigned major, uint64_t arg)
{
  return put(w, major, arg, NULL, 0);
}

/* Appends n bytes spelled out by the caller (floats, indefinite heads, the
 * break), all or nothing like put(). */
static int put_raw(struct fp_cbor_writer *w, const uint8_t *b, size_t n)
{
  if (w->err != 0)
    return w->err;
  if (n > w->cap - w->len) {
    w->err = FARM_ENOSPC;
    return w->err;
  }
  memcpy(w->buf + w->len, b, n);
  w->len += n;
  return 0;
}

static int write_byte(struct fp_cbor_writer *w, uint8_t b)
{
  return put_raw(w, &b, 1);
}

int fp_cbor_write_nil(struct fp_cbor_writer *w)
{
  return write_byte(w, MT_SIMPLE << 5 | SV_NULL);
}

int fp_cbor_write_undefined(struct fp_cbor_writer *w)
{
  return write_byte(w, MT_SIMPLE << 5 | SV_UNDEFINED);
}

int fp_cbor_write_bool(struct fp_cbor_writer *w, bool b)
{
  return write_byte(w, MT_SIMPLE << 5 | (b ? SV_TRUE : SV_FALSE));
}

int fp_cbor_write_uint(struct fp_cbor_writer *w, uint64_t u)
{
  return write_head(w, MT_UINT, u);
}

int fp_cbor_write_int(struct fp_cbor_writer *w, int64_t i)
{
  if (i >= 0)
    return write_head(w, MT_UINT, (uint64_t)i);
  /* -1 - i is in 0..INT64_MAX for every negative i: no overflow. */
  return write_head(w, MT_NEGINT, (uint64_t)(-1 - i));
}

int fp_cbor_write_negint(struct fp_cbor_writer *w, uint64_t n)
{
  return write_head(w, MT_NEGINT, n);
}

static uint64_t double_bits(double f)
{
  uint64_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

static double bits_double(uint64_t b)
{
  double f;
  memcpy(&f, &b, sizeof f);
  return f;
}

/*
 * If the finite, non-zero double with bit pattern b is exactly representable
 * in the IEEE 754 binary format with ebits exponent and mbits fraction bits
 * (half: 5/10, single: 8/23), stores that format's bit pattern in *out.
 * Works on bits so no out-of-range conversion (undefined in C) ever happens.
 */
static bool narrow_exact(uint64_t b, unsigned ebits, unsigned mbits,
                         uint32_t *out)
{
  uint32_t sign = (uint32_t)(b >> 63) << (ebits + mbits);
  int bexp = (int)(b >> 52 & 0x7ff);
  uint64_t frac = b & ((UINT64_C(1) << 52) - 1);
  int bias = (1 << (ebits - 1)) - 1;
  int emin = 1 - bias;
  /* Double subnormals are below 2^-1022, far under the smallest single. */
  if (bexp == 0)
    return false;
  int e = bexp - 1023;
  if (e > bias)
    return false;
  if (e >= emin) {
    unsigned drop = 52 - mbits;
    if ((frac & ((UINT64_C(1) << drop) - 1)) != 0)
      return false;
    *out = sign | (uint32_t)(e + bias) << mbits | (uint32_t)(frac >> drop);
    return true;
  }
  /* A subnormal of the target counts in units of 2^(emin - mbits); the
   * value (2^52 + frac) * 2^(e - 52) must be a whole number of them. */
  if (e < emin - (int)mbits)
    return false;
  unsigned shift = 52 - mbits + (unsigned)(emin - e); /* <= 52 */
  uint64_t sig = frac | UINT64_C(1) << 52;
  if ((sig & ((UINT64_C(1) << shift) - 1)) != 0)
    return false;
  *out = sign | (uint32_t)(sig >> shift);
  return true;
}

int fp_cbor_write_float(struct fp_cbor_writer *w, double f)
{
  uint64_t b = double_bits(f);
  uint64_t mag = b & ~(UINT64_C(1) << 63);
  uint8_t h[9];
  uint32_t narrow;
  if (mag > UINT64_C(0x7ff0000000000000)) {
    /* Every NaN as the half 0x7e00 (RFC 8949 §4.2.2). */
    static const uint8_t nan[3] = {MT_SIMPLE << 5 | SV_HALF, 0x7e, 0x00};
    return put_raw(w, nan, 3);
  }
  if (mag == 0 || mag == UINT64_C(0x7ff0000000000000)) {
    /* ±0 and ±infinity exist in every width: half. */
    uint16_t half = (uint16_t)((b >> 48 & 0x8000) | (mag != 0 ? 0x7c00 : 0));
    h[0] = MT_SIMPLE << 5 | SV_HALF;
    h[1] = (uint8_t)(half >> 8);
    h[2] = (uint8_t)half;
    return put_raw(w, h, 3);
  }
  if (narrow_exact(b, 5, 10, &narrow)) {
    h[0] = MT_SIMPLE << 5 | SV_HALF;
    h[1] = (uint8_t)(narrow >> 8);
    h[2] = (uint8_t)narrow;
    return put_raw(w, h, 3);
  }
  if (narrow_exact(b, 8, 23, &narrow)) {
    h[0] = MT_SIMPLE << 5 | SV_SINGLE;
    for (int i = 0; i < 4; i++)
      h[1 + i] = (uint8_t)(narrow >> (24 - 8 * i));
    return put_raw(w, h, 5);
  }
  h[0] = MT_SIMPLE << 5 | SV_DOUBLE;
  for (int i = 0; i < 8; i++)
    h[1 + i] = (uint8_t)(b >> (56 - 8 * i));
  return put_raw(w, h, 9);
}

int fp_cbor_write_str(struct fp_cbor_writer *w, const void *s, size_t len)
{
  assert(s != NULL || len == 0);
  return put(w, MT_TEXT, len, s, len);
}

int fp_cbor_write_cstr(struct fp_cbor_writer *w, const char *s)
{
  assert(s != NULL);
  return fp_cbor_write_str(w, s, strlen(s));
}

int fp_cbor_write_bin(struct fp_cbor_writer *w, const void *p, size_t len)
{
  assert(p != NULL || len == 0);
  return put(w, MT_BYTES, len, p, len);
}

int fp_cbor_write_array(struct fp_cbor_writer *w, uint64_t n)
{
  return write_head(w, MT_ARRAY, n);
}

int fp_cbor_write_map(struct fp_cbor_writer *w, uint64_t n)
{
  return write_head(w, MT_MAP, n);
}

int fp_cbor_write_tag(struct fp_cbor_writer *w, uint64_t tag)
{
  return write_head(w, MT_TAG, tag);
}

int fp_cbor_write_simple(struct fp_cbor_writer *w, uint8_t v)
{
  if (w->err != 0)
    return w->err;
  /* 20..23 are false/true/null/undefined, 24..31 are not simple values in
   * one byte (§3.3); two-byte forms below 32 are not well-formed. */
  if (v >= SV_FALSE && v < 32) {
    w->err = FARM_EINVAL;
    return w->err;
  }
  if (v < AI_U8)
    return write_byte(w, (uint8_t)(MT_SIMPLE << 5 | v));
  uint8_t h[2] = {MT_SIMPLE << 5 | AI_U8, v};
  return put_raw(w, h, 2);
}

int fp_cbor_write_indef_bin(struct fp_cbor_writer *w)
{
  return write_byte(w, MT_BYTES << 5 | AI_INDEF);
}

int fp_cbor_write_indef_str(struct fp_cbor_writer *w)
{
  return write_byte(w, MT_TEXT << 5 | AI_INDEF);
}

int fp_cbor_write_indef_array(struct fp_cbor_writer *w)
{
  return write_byte(w, MT_ARRAY << 5 | AI_INDEF);
}

int fp_cbor_write_indef_map(struct fp_cbor_writer *w)
{
  return write_byte(w, MT_MAP << 5 | AI_INDEF);
}

int fp_cbor_write_break(struct fp_cbor_writer *w)
{
  return write_byte(w, CBOR_BREAK);
}

/* ---------------------------------------------------------------- reader */

void fp_cbor_reader_init(struct fp_cbor_reader *r, const void *buf, size_t len)
{
  assert(r != NULL);
  assert(buf != NULL || len == 0);
  r->buf = buf;
  r->len = len;
  r->pos = 0;
  r->err_offset = 0;
  r->depth = 0;
}

static int fail(struct fp_cbor_reader *r, size_t at, int err)
{
  r->err_offset = at;
  return err;
}

/* One whole item ended at the innermost level: count it there. A definite
 * level it completes closes and is in turn one item of its parent. */
static void item_done(struct fp_cbor_reader *r)
{
  while (r->depth > 0) {
    uint64_t *rem = &r->remaining[r->depth - 1];
    if (*rem >= LVL_MAP_VALUE) {
      if (*rem == LVL_MAP_KEY)
        *rem = LVL_MAP_VALUE;
      else if (*rem == LVL_MAP_VALUE)
        *rem = LVL_MAP_KEY;
      return;
    }
    if (--*rem != 0)
      return;
    r->depth--;
  }
}

static int push(struct fp_cbor_reader *r, size_t at, uint64_t remaining,
                uint8_t chunk_major)
{
  if (r->depth == FP_MAX_DEPTH)
    return fail(r, at, FARM_EDEPTH);
  r->remaining[r->depth] = remaining;
  r->chunk_major[r->depth] = chunk_major;
  r->depth++;
  return 0;
}

/* The big-endian argument of 1, 2, 4 or 8 bytes following an initial byte. */
static uint64_t read_be(const uint8_t *p, size_t n)
{
  switch (n) {
  case 1:
    return p[0];
  case 2:
    return (uint64_t)p[0] << 8 | p[1];
  case 4:
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 |
           p[3];
  default:
    return read_be(p, 4) << 32 | read_be(p + 4, 4);
  }
}

static double half_to_double(uint16_t h)
{
  uint64_t sign = (uint64_t)(h >> 15) << 63;
  unsigned e = h >> 10 & 0x1f;
  uint64_t m = h & 0x3ff;
  if (e == 0) {
    /* Zero or subnormal: m * 2^-24 (RFC 8949 Appendix D), exact. */
    return bits_double(double_bits((double)m / 16777216.0) | sign);
  }
  if (e == 31) /* infinity, or NaN with its payload kept */
    return bits_double(sign | UINT64_C(0x7ff) << 52 | m << 42);
  return bits_double(sign | (uint64_t)(e - 15 + 1023) << 52 | m << 42);
}

/* Fills *it from a major type 7 head; the caller advances and counts it. */
static int read_simple(struct fp_cbor_reader *r, struct fp_item *it, size_t at,
                       unsigned ai, uint64_t arg)
{
  switch (ai) {
  case SV_FALSE:
  case SV_TRUE:
    it->kind = FP_BOOL;
    it->v.b = ai == SV_TRUE;
    break;
  case SV_NULL:
    it->kind = FP_NIL;
    break;
  case SV_UNDEFINED:
    it->kind = FP_UNDEFINED;
    break;
  case AI_U8:
    /* §3.3: a two-byte simple value below 32 is not well-formed. */
    if (arg < 32)
      return fail(r, at, FARM_EMALFORMED);
    it->kind = FP_SIMPLE;
    it->v.u = arg;
    break;
  case SV_HALF:
    it->kind = FP_FLOAT;
    it->float_bits = 16;
    it->v.f = half_to_double((uint16_t)arg);
    break;
  case SV_SINGLE: {
    uint32_t b32 = (uint32_t)arg;
    float f32;
    memcpy(&f32, &b32, sizeof f32);
    it->kind = FP_FLOAT;
    it->float_bits = 32;
    it->v.f = f32;
    break;
  }
  case SV_DOUBLE:
    it->kind = FP_FLOAT;
    it->float_bits = 64;
    it->v.f = bits_double(arg);
    break;
  case AI_INDEF: {
    /* The break closes the innermost level, which must be an indefinite
     * array, string, or map that is not waiting for a value (§3.2.1). */
    if (r->depth == 0)
      return fail(r, at, FARM_EMALFORMED);
    uint64_t rem = r->remaining[r->depth - 1];
    if (rem != LVL_INDEF && rem != LVL_MAP_KEY)
      return fail(r, at, FARM_EMALFORMED);
    it->kind = FP_BREAK;
    r->depth--;
    break;
  }
  default: /* 0..19 */
    it->kind = FP_SIMPLE;
    it->v.u = ai;
    break;
  }
  return 0;
}

int fp_cbor_read(struct fp_cbor_reader *r, struct fp_item *it)
{
  size_t at = r->pos;
  if (r->depth == 0 && at > 0)
    return fail(r, at, FARM_EEMPTY);
  size_t avail = r->len - at;
  if (avail == 0)
    return fail(r, at, FARM_ETRUNCATED);

  const uint8_t *p = r->buf + at;
  unsigned major = p[0] >> 5;
  unsigned ai = p[0] & 0x1f;
  uint64_t arg = ai;
  size_t hlen = 1;
  if (ai >= AI_U8) {
    if (ai <= AI_U64) {
      size_t n = (size_t)1 << (ai - AI_U8);
      if (avail - 1 < n)
        return fail(r, at, FARM_ETRUNCATED);
      arg = read_be(p + 1, n);
      hlen += n;
    } else if (ai != AI_INDEF) {
      return fail(r, at, FARM_EMALFORMED); /* 28..30 reserved, §3 */
    }
  }

  /* Inside an indefinite string only definite strings of the same major
   * type (the chunks) or the break may follow (§3.2.3). */
  if (r->depth > 0) {
    uint8_t cm = r->chunk_major[r->depth - 1];
    if (cm != 0 && p[0] != CBOR_BREAK && (major != cm || ai == AI_INDEF))
      return fail(r, at, FARM_EMALFORMED);
  }

  it->indefinite = false;
  it->float_bits = 0;
  it->ext_type = 0;
  size_t end = at + hlen; /* where this item ends, if it is complete */
  switch (major) {
  case MT_UINT:
  case MT_NEGINT:
    if (ai == AI_INDEF)
      return fail(r, at, FARM_EMALFORMED);
    it->kind = major == MT_UINT ? FP_UINT : FP_NEGINT;
    it->v.u = arg;
    break;

  case MT_BYTES:
  case MT_TEXT:
    it->kind = major == MT_TEXT ? FP_STR : FP_BIN;
    if (ai == AI_INDEF) {
      int rc = push(r, at, LVL_INDEF, (uint8_t)major);
      if (rc != 0)
        return rc;
      it->indefinite = true;
      it->v.bytes.ptr = NULL;
      it->v.bytes.len = 0;
      r->pos = end;
      return 0;
    }
    /* Compare with what remains, never compute at + hlen + arg first. */
    if (arg > avail - hlen)
      return fail(r, at, FARM_ETRUNCATED);
    it->v.bytes.ptr = p + hlen;
    it->v.bytes.len = (size_t)arg;
    if (major == MT_TEXT && !fp_utf8_valid(p + hlen, (size_t)arg))
      return fail(r, at, FARM_EUTF8);
    end += (size_t)arg;
    break;

  case MT_ARRAY:
  case MT_MAP: {
    it->kind = major == MT_MAP ? FP_MAP : FP_ARRAY;
    if (ai == AI_INDEF) {
      int rc = push(r, at, major == MT_MAP ? LVL_MAP_KEY : LVL_INDEF, 0);
      if (rc != 0)
        return rc;
      it->indefinite = true;
      it->v.count = 0;
      r->pos = end;
      return 0;
    }
    /* Each item takes at least one byte, so a count beyond the bytes left
     * can never be satisfied: reject it now, before a caller trusts it.
     * This also keeps 2 * pairs from overflowing. */
    uint64_t left = avail - hlen;
    if (major == MT_MAP ? arg > left / 2 : arg > left)
      return fail(r, at, FARM_ETRUNCATED);
    it->v.count = arg;
    if (arg == 0)
      break; /* empty: complete at once, opens no level */
    int rc = push(r, at, major == MT_MAP ? 2 * arg : arg, 0);
    if (rc != 0)
      return rc;
    r->pos = end;
    return 0;
  }

  case MT_TAG: {
    if (ai == AI_INDEF)
      return fail(r, at, FARM_EMALFORMED);
    it->kind = FP_TAG;
    it->v.u = arg;
    /* A tag is a level holding exactly one item (§3.4). */
    int rc = push(r, at, 1, 0);
    if (rc != 0)
      return rc;
    r->pos = end;
    return 0;
  }

  default: {
    int rc = read_simple(r, it, at, ai, arg);
    if (rc != 0)
      return rc;
    break;
  }
  }
  r->pos = end;
  item_done(r);
  return 0;
}

int fp_cbor_skip(struct fp_cbor_reader *r)
{
  struct fp_item it;
  uint8_t base = r->depth;
  do {
    int rc = fp_cbor_read(r, &it);
    if (rc != 0)
      return rc;
  } while (r->depth > base);
  return 0;
}

bool fp_cbor_done(const struct fp_cbor_reader *r)
{
  return r->depth == 0 && r->pos > 0;
}

int fp_cbor_validate(const void *buf, size_t len, size_t *err_offset)
{
  struct fp_cbor_reader r;
  fp_cbor_reader_init(&r, buf, len);
  int rc = fp_cbor_skip(&r);
  if (rc == 0 && r.pos < len) {
    rc = FARM_ETRAILING;
    r.err_offset = r.pos;
  }
  if (err_offset != NULL)
    *err_offset = rc == 0 ? 0 : r.err_offset;
  return rc;
}
