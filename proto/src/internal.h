/* SPDX-License-Identifier: MIT */
/*
 * Internals shared between files of the fp library; not part of its API.
 */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fp/value.h"

/*
 * Fast paths. The code under FP__FAST is for speed only: without it the
 * library gives the same results for every input through its general code.
 * Builds that optimize for size leave it out (GCC and Clang define
 * __OPTIMIZE_SIZE__ for -Os, as the firmware images are built: the
 * gateway's flash budget, firmware/size, has no room for it, and its serial
 * link carries a few messages a second); so does a build that defines
 * FP_NO_FAST_PATHS, for instance to test the general code alone.
 */
#if defined(__OPTIMIZE_SIZE__) || defined(FP_NO_FAST_PATHS)
#define FP__FAST 0
#else
#define FP__FAST 1
#endif

/*
 * Incremental COBS encoder: bytes go in one at a time from any number of
 * segments (the frame encoder, for data fp__cobs_encode_in_place cannot
 * take, feeds the payload, then its CRC, without copying them together).
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

/* Big-endian loads (every multi-byte MessagePack field), assembled from
 * bytes so they need no alignment and work on either byte order. */
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

/*
 * A MessagePack cursor for the message decoder's fast path (msg.c): the
 * forms its encoder emits, read straight from the buffer without building an
 * fp_item and without the reader's container bookkeeping. Each fp__mp_get_*
 * reads one item at c->p when it has one of the forms named and lies whole
 * before c->end, moves c->p past it and returns true; otherwise it returns
 * false and leaves c->p alone. They decide no errors: a caller that gets
 * false leaves the input to the general decoder (fp_mp_read), which does.
 */
struct fp__mp_cur {
  const uint8_t *p;   /* the next item head */
  const uint8_t *end; /* the end of the input */
};

/* fixstr (0xa0 | len). Its UTF-8 is NOT checked: the caller must only
 * accept text it compares with ASCII it knows (keys, type names, the
 * [a-z0-9_] of entry names), which is valid UTF-8. */
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
 * MessagePack numbers in their shortest form (msgpack spec, "formats"),
 * stored at p, which has room for FP__MP_NUM_MAX bytes; each returns the
 * number of bytes written. The writer's fp_mp_write_uint/int/float and the
 * message encoder's fast path (msg.c) both write numbers through these, so
 * they emit the same bytes. Defined in msgpack.c.
 */
#define FP__MP_NUM_MAX 9

size_t fp__mp_put_uint(uint8_t *p, uint64_t u);
/* Non-negative values take the unsigned forms. */
size_t fp__mp_put_int(uint8_t *p, int64_t i);
/* float32 when the value survives the round trip exactly, else float64. */
size_t fp__mp_put_float(uint8_t *p, double f);

#endif /* FP_INTERNAL_H */
