/* SPDX-License-Identifier: MIT */
/*
 * Internals shared between files of the fp library; not part of its API.
 */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fp/msgpack.h"

/*
 * Incremental COBS encoder: bytes go in one at a time from any number of
 * segments (the frame encoder feeds the payload, then its CRC, without
 * copying them together).
 */
struct fp__cobs_enc {
  uint8_t *dst;
  size_t cap;
  size_t len;      /* bytes written, including the open block's code byte */
  size_t code_pos; /* where the open block's code byte goes */
  uint8_t code;    /* 1 + data bytes in the open block */
  bool open;       /* a block is open (its code byte reserved) */
  int err;
};

void fp__cobs_enc_init(struct fp__cobs_enc *e, uint8_t *dst, size_t cap);
void fp__cobs_enc_put(struct fp__cobs_enc *e, const uint8_t *src, size_t len);
/* Closes the last block. Returns 0 and *out_len, or FARM_ENOSPC. */
int fp__cobs_enc_finish(struct fp__cobs_enc *e, size_t *out_len);

/*
 * COBS in place, for data that has no run of 254 non-zero bytes followed by
 * more data (every frame short of 254 bytes, and nearly every other): then
 * the encoding is exactly one byte longer than the data. buf[1..n] holds
 * the n data bytes and buf[0] is free; on return buf[0..n] is their
 * encoding. Returns false, with buf partly rewritten, for other data, which
 * the caller then encodes with fp__cobs_enc_*.
 */
bool fp__cobs_encode_in_place(uint8_t *buf, size_t n);

/*
 * fp_cobs_decode for input known to hold no 0x00, such as the bytes before
 * a frame delimiter that memchr found: it does not look for zeros again.
 * dst may equal src. The same output and errors, except that input both
 * malformed and too long for cap may be reported as either.
 */
int fp__cobs_decode_nz(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                       size_t *out_len);

/* Big-endian loads (every multi-byte MessagePack and CBOR field), assembled
 * from bytes so they need no alignment and work on either byte order. */
static inline uint16_t fp__ld16(const uint8_t *p)
{
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t fp__ld32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static inline uint64_t fp__ld64(const uint8_t *p)
{
  return (uint64_t)fp__ld32(p) << 32 | fp__ld32(p + 4);
}

/* Big-endian stores, byte by byte for the same reasons. */
static inline void fp__st16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline void fp__st32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline void fp__st64(uint8_t *p, uint64_t v)
{
  fp__st32(p, (uint32_t)(v >> 32));
  fp__st32(p + 4, (uint32_t)v);
}

/*
 * memcpy for the few bytes of a key or a name (n <= 16), without a call:
 * two fixed-size copies that overlap in the middle cover every length, and
 * neither reads or writes outside the n bytes.
 */
static inline void fp__copy_short(uint8_t *dst, const void *src, size_t n)
{
  const uint8_t *s = src;
  if (n >= 8) {
    memcpy(dst, s, 8);
    memcpy(dst + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    memcpy(dst, s, 4);
    memcpy(dst + n - 4, s + n - 4, 4);
  } else if (n >= 2) {
    memcpy(dst, s, 2);
    memcpy(dst + n - 2, s + n - 2, 2);
  } else if (n == 1) {
    dst[0] = s[0];
  }
}

/*
 * True if the bytes are ASCII, which map keys and most text values are: the
 * high bits are tested a word at a time (short strings with two overlapping
 * loads), so the common case costs a few instructions and the full UTF-8
 * check runs only on the rest.
 */
static inline bool fp__is_ascii(const uint8_t *p, size_t len)
{
  uint64_t acc = 0;
  if (len >= 8) {
    uint64_t x;
    for (size_t i = 0; i < len - 8; i += 8) {
      memcpy(&x, p + i, sizeof x);
      acc |= x;
    }
    memcpy(&x, p + len - 8, sizeof x);
    acc |= x;
  } else if (len >= 4) {
    uint32_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + len - 4, sizeof b);
    acc = a | b;
  } else {
    for (size_t i = 0; i < len; i++)
      acc |= p[i];
  }
  return (acc & UINT64_C(0x8080808080808080)) == 0;
}

/*
 * The MessagePack reader's bookkeeping after an item of `used` bytes: it
 * counts against the innermost open container; a non-empty container head
 * then opens `owed` items of its own, while any other item may complete one
 * or more enclosing containers. Always returns 0 (for tail calls).
 */
static inline int fp__mp_advance(struct fp_mp_reader *r, size_t used, uint64_t owed)
{
  unsigned depth = r->depth;
  bool closed = false;
  r->pos += used;
  /* The decremented count is tested from the register, not re-read from
   * memory: this runs once per item. */
  if (depth > 0)
    closed = --r->remaining[depth - 1] == 0;
  if (owed != 0) {
    r->remaining[depth] = owed;
    r->depth = (uint8_t)(depth + 1);
  } else if (closed) {
    /* The container is complete, and so may be the ones around it. */
    depth--;
    while (depth > 0 && r->remaining[depth - 1] == 0)
      depth--;
    r->depth = (uint8_t)depth;
  }
  return 0;
}

/*
 * A MessagePack cursor for the message decoder's fast paths (msg.c): the
 * forms its encoder emits, read straight from the buffer without building an
 * fp_item and without the reader's container bookkeeping. Each fp__mp_get_*
 * reads one item at c->p when it has one of the forms named and lies whole
 * before c->end, moves c->p past it and returns true; otherwise it returns
 * false and leaves c->p alone. They decide no errors: a caller that gets
 * false reads the item the general way (fp_mp_read), which does.
 */
struct fp__mp_cur {
  const uint8_t *p;   /* the next item head */
  const uint8_t *end; /* the end of the input */
};

/* fixstr (0xa0 | len). Its encoding is NOT checked: the caller checks it
 * (fp__is_ascii), or only accepts text equal to ASCII it knows. */
static inline bool fp__mp_get_str(struct fp__mp_cur *c, struct fp_bytes *s)
{
  if (c->p == c->end || (c->p[0] & 0xe0) != 0xa0)
    return false;
  size_t len = c->p[0] & 0x1fu;
  if (len >= (size_t)(c->end - c->p))
    return false;
  s->ptr = c->p + 1;
  s->len = len;
  c->p += 1 + len;
  return true;
}

/* Positive fixint, uint 8/16/32/64. */
static inline bool fp__mp_get_uint(struct fp__mp_cur *c, uint64_t *u)
{
  const uint8_t *p = c->p;
  size_t avail = (size_t)(c->end - p);
  if (avail == 0)
    return false;
  if (p[0] <= 0x7f) {
    *u = p[0];
    c->p = p + 1;
  } else if (p[0] == 0xcc && avail >= 2) {
    *u = p[1];
    c->p = p + 2;
  } else if (p[0] == 0xcd && avail >= 3) {
    *u = fp__ld16(p + 1);
    c->p = p + 3;
  } else if (p[0] == 0xce && avail >= 5) {
    *u = fp__ld32(p + 1);
    c->p = p + 5;
  } else if (p[0] == 0xcf && avail >= 9) {
    *u = fp__ld64(p + 1);
    c->p = p + 9;
  } else {
    return false;
  }
  return true;
}

/* An integer of -128..127 as positive fixint, negative fixint or int 8. */
static inline bool fp__mp_get_small_int(struct fp__mp_cur *c, int *v)
{
  const uint8_t *p = c->p;
  size_t avail = (size_t)(c->end - p);
  if (avail == 0)
    return false;
  if (p[0] <= 0x7f) {
    *v = p[0];
    c->p = p + 1;
  } else if (p[0] >= 0xe0) {
    *v = (int)p[0] - 256;
    c->p = p + 1;
  } else if (p[0] == 0xd0 && avail >= 2) {
    *v = p[1] <= 0x7f ? (int)p[1] : (int)p[1] - 256;
    c->p = p + 2;
  } else {
    return false;
  }
  return true;
}

/* float 64 or float 32, as a double (float32 widens exactly). */
static inline bool fp__mp_get_float(struct fp__mp_cur *c, double *f)
{
  const uint8_t *p = c->p;
  size_t avail = (size_t)(c->end - p);
  if (avail >= 9 && p[0] == 0xcb) {
    uint64_t bits = fp__ld64(p + 1);
    memcpy(f, &bits, sizeof bits);
    c->p = p + 9;
    return true;
  }
  if (avail >= 5 && p[0] == 0xca) {
    uint32_t bits = fp__ld32(p + 1);
    float g;
    memcpy(&g, &bits, sizeof g);
    *f = g;
    c->p = p + 5;
    return true;
  }
  return false;
}

/* false (0xc2) or true (0xc3). */
static inline bool fp__mp_get_bool(struct fp__mp_cur *c, bool *b)
{
  if (c->p == c->end || (c->p[0] & 0xfe) != 0xc2)
    return false;
  *b = c->p[0] == 0xc3;
  c->p++;
  return true;
}

/* bin 8. */
static inline bool fp__mp_get_bin(struct fp__mp_cur *c, struct fp_bytes *b)
{
  size_t avail = (size_t)(c->end - c->p);
  if (avail < 2 || c->p[0] != 0xc4 || c->p[1] > avail - 2)
    return false;
  b->ptr = c->p + 2;
  b->len = c->p[1];
  c->p += 2 + b->len;
  return true;
}

/* fixmap head (0x80 | n); its 2n items follow. */
static inline bool fp__mp_get_map(struct fp__mp_cur *c, unsigned *n)
{
  if (c->p == c->end || (c->p[0] & 0xf0) != 0x80)
    return false;
  *n = c->p[0] & 0x0fu;
  c->p++;
  return true;
}

/*
 * The same reads on a reader, for decoders that mix them with fp_mp_read:
 * fp__mp_take_* takes the item at r->pos when fp__mp_get_* reads it, and
 * advances the reader past it exactly as fp_mp_read would (text must then
 * be checked here, as fp_mp_read checks it); otherwise it returns false and
 * changes nothing. So a take never accepts what fp_mp_read would reject.
 */
static inline struct fp__mp_cur fp__mp_cur_of(const struct fp_mp_reader *r)
{
  struct fp__mp_cur c = {r->buf + r->pos, r->buf + r->len};
  /* Nothing may be read once the top-level value is complete (fp_mp_read
   * fails with FARM_EEMPTY): an empty cursor reads nothing. */
  if (r->depth == 0 && r->pos != 0)
    c.end = c.p;
  return c;
}

static inline bool fp__mp_take_str(struct fp_mp_reader *r, struct fp_bytes *s)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (!fp__mp_get_str(&c, s) || !fp__is_ascii(s->ptr, s->len))
    return false;
  fp__mp_advance(r, 1 + s->len, 0);
  return true;
}

static inline bool fp__mp_take_uint(struct fp_mp_reader *r, uint64_t *u)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (!fp__mp_get_uint(&c, u))
    return false;
  fp__mp_advance(r, (size_t)(c.p - (r->buf + r->pos)), 0);
  return true;
}

static inline bool fp__mp_take_small_int(struct fp_mp_reader *r, int *v)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (!fp__mp_get_small_int(&c, v))
    return false;
  fp__mp_advance(r, (size_t)(c.p - (r->buf + r->pos)), 0);
  return true;
}

static inline bool fp__mp_take_float(struct fp_mp_reader *r, double *f)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (!fp__mp_get_float(&c, f))
    return false;
  fp__mp_advance(r, (size_t)(c.p - (r->buf + r->pos)), 0);
  return true;
}

static inline bool fp__mp_take_bool(struct fp_mp_reader *r, bool *b)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (!fp__mp_get_bool(&c, b))
    return false;
  fp__mp_advance(r, 1, 0);
  return true;
}

static inline bool fp__mp_take_bin(struct fp_mp_reader *r, struct fp_bytes *b)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (!fp__mp_get_bin(&c, b))
    return false;
  fp__mp_advance(r, 2 + b->len, 0);
  return true;
}

/* A fixmap head is entered as fp_mp_read enters it, within FP_MAX_DEPTH. */
static inline bool fp__mp_take_map(struct fp_mp_reader *r, unsigned *n)
{
  struct fp__mp_cur c = fp__mp_cur_of(r);
  if (r->depth >= FP_MAX_DEPTH || !fp__mp_get_map(&c, n))
    return false;
  fp__mp_advance(r, 1, 2u * *n);
  return true;
}

/*
 * MessagePack numbers in their shortest form (msgpack spec, "formats"),
 * stored at p, which has room for FP__MP_NUM_MAX bytes. Each returns the
 * number of bytes of the item; fp__mp_*_size gives it without writing. The
 * writer (msgpack.c) and the message encoder's fast path (msg.c) both
 * write numbers through these, so they emit the same bytes.
 */
#define FP__MP_NUM_MAX 9

static inline size_t fp__mp_uint_size(uint64_t u)
{
  return u <= 0x7f ? 1 : u <= UINT8_MAX ? 2 : u <= UINT16_MAX ? 3 : u <= UINT32_MAX ? 5 : 9;
}

static inline size_t fp__mp_put_uint(uint8_t *p, uint64_t u)
{
  if (u <= 0x7f) { /* positive fixint */
    p[0] = (uint8_t)u;
    return 1;
  }
  if (u <= UINT8_MAX) {
    p[0] = 0xcc;
    p[1] = (uint8_t)u;
    return 2;
  }
  if (u <= UINT16_MAX) {
    p[0] = 0xcd;
    fp__st16(p + 1, (uint16_t)u);
    return 3;
  }
  if (u <= UINT32_MAX) {
    p[0] = 0xce;
    fp__st32(p + 1, (uint32_t)u);
    return 5;
  }
  p[0] = 0xcf;
  fp__st64(p + 1, u);
  return 9;
}

/* Non-negative values take the unsigned forms. */
static inline size_t fp__mp_int_size(int64_t i)
{
  if (i >= 0)
    return fp__mp_uint_size((uint64_t)i);
  return i >= -32 ? 1 : i >= INT8_MIN ? 2 : i >= INT16_MIN ? 3 : i >= INT32_MIN ? 5 : 9;
}

static inline size_t fp__mp_put_int(uint8_t *p, int64_t i)
{
  if (i >= 0)
    return fp__mp_put_uint(p, (uint64_t)i);
  /* Conversions of negative values to unsigned types are defined modulo
   * 2^N (C11 6.3.1.3), which is exactly the two's complement field. */
  if (i >= -32) { /* negative fixint 0xe0..0xff */
    p[0] = (uint8_t)i;
    return 1;
  }
  if (i >= INT8_MIN) {
    p[0] = 0xd0;
    p[1] = (uint8_t)i;
    return 2;
  }
  if (i >= INT16_MIN) {
    p[0] = 0xd1;
    fp__st16(p + 1, (uint16_t)i);
    return 3;
  }
  if (i >= INT32_MIN) {
    p[0] = 0xd2;
    fp__st32(p + 1, (uint32_t)i);
    return 5;
  }
  p[0] = 0xd3;
  fp__st64(p + 1, (uint64_t)i);
  return 9;
}

static inline size_t fp__mp_put_f32(uint8_t *p, float f)
{
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  p[0] = 0xca;
  fp__st32(p + 1, bits);
  return 5;
}

static inline size_t fp__mp_put_f64(uint8_t *p, double f)
{
  uint64_t bits;
  memcpy(&bits, &f, sizeof bits);
  p[0] = 0xcb;
  fp__st64(p + 1, bits);
  return 9;
}

/*
 * True when f is written as float32: it survives the round trip through
 * float exactly. NaN and the infinities exist in float32 (IEEE 754
 * binary32); a finite value is narrowed only inside float's range, where
 * the conversion is defined (C11 6.3.1.5).
 */
static inline bool fp__mp_float_is_f32(double f)
{
  if (f >= -FLT_MAX && f <= FLT_MAX)
    return (double)(float)f == f;
  return isnan(f) || isinf(f);
}

static inline size_t fp__mp_put_float(uint8_t *p, double f)
{
  return fp__mp_float_is_f32(f) ? fp__mp_put_f32(p, (float)f) : fp__mp_put_f64(p, f);
}

#endif /* FP_INTERNAL_H */
