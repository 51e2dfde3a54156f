/* SPDX-License-Identifier: MIT */
/*
 * COBS encoder and decoder. Each block starts with a code byte c: c-1 data
 * bytes follow, then an implied 0x00 unless c is 0xff (a full block) or the
 * block ends the data (Cheshire and Baker 1999, §3).
 */
#include "fp/cobs.h"

#include <string.h>

#include "farm/error.h"
#include "internal.h"

void fp__cobs_enc_init(struct fp__cobs_enc *e, uint8_t *dst, size_t cap)
{
  e->dst = dst;
  e->cap = cap;
  e->code_pos = 0;
  e->len = 1; /* room for the first code byte */
  e->code = 1;
  e->open = true;
  e->err = cap == 0 ? FARM_ENOSPC : 0;
}

void fp__cobs_enc_put(struct fp__cobs_enc *e, const uint8_t *src, size_t len)
{
  size_t i = 0;
  while (i < len && e->err == 0) {
    if (!e->open) {
      /* Opened lazily after a full block, so data ending exactly on a
       * full block gets no useless trailing 0x01 (the minimal encoding). */
      if (e->len >= e->cap) {
        e->err = FARM_ENOSPC;
        break;
      }
      e->code_pos = e->len++;
      e->code = 1;
      e->open = true;
    }
    /* Copy the longest run of non-zero bytes the open block can take in
     * one go: frames are mostly runs, so this is memchr + memcpy speed. */
    size_t room = (size_t)(0xff - e->code);
    size_t n = len - i < room ? len - i : room;
    const uint8_t *zero = memchr(src + i, 0, n);
    size_t run = zero != NULL ? (size_t)(zero - (src + i)) : n;
    if (run > e->cap - e->len) {
      e->err = FARM_ENOSPC;
      break;
    }
    memcpy(e->dst + e->len, src + i, run);
    e->len += run;
    e->code = (uint8_t)(e->code + run);
    i += run;
    if (e->code == 0xff) {
      /* 254 data bytes: a full block, with no implied zero. */
      e->dst[e->code_pos] = e->code;
      e->open = false;
      continue;
    }
    if (zero == NULL)
      continue;
    /* Close the block: its code says where this zero was. A block must
     * follow, even an empty one, or the zero would be lost at the end. */
    e->dst[e->code_pos] = e->code;
    if (e->len >= e->cap) {
      e->err = FARM_ENOSPC;
      break;
    }
    e->code_pos = e->len++;
    e->code = 1;
    i++;
  }
}

int fp__cobs_enc_finish(struct fp__cobs_enc *e, size_t *out_len)
{
  if (e->err != 0)
    return e->err;
  if (e->open)
    e->dst[e->code_pos] = e->code;
  *out_len = e->len;
  return 0;
}

bool fp__cobs_encode_in_place(uint8_t *buf, size_t n)
{
  /* Each 0x00 becomes the code of the block that follows it: its distance
   * to the next 0x00, or to the end. */
  size_t code_pos = 0;
  for (;;) {
    const uint8_t *zero = memchr(buf + code_pos + 1, 0, n - code_pos);
    size_t next = zero != NULL ? (size_t)(zero - buf) : n + 1;
    size_t code = next - code_pos;
    /* 254 non-zero bytes make a full block (0xff), which has no implied
     * zero: fine at the end, but anywhere else the block after it needs a
     * code byte of its own, which there is no room for here. */
    if (code > 0xff || (code == 0xff && zero != NULL))
      return false;
    buf[code_pos] = (uint8_t)code;
    if (zero == NULL)
      return true;
    code_pos = next;
  }
}

int fp_cobs_encode(const void *src, size_t len, uint8_t *dst, size_t cap,
                   size_t *out_len)
{
  struct fp__cobs_enc e;
  fp__cobs_enc_init(&e, dst, cap);
  fp__cobs_enc_put(&e, src, len);
  return fp__cobs_enc_finish(&e, out_len);
}

int fp_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                   size_t *out_len)
{
  if (len == 0)
    return FARM_EEMPTY;
  size_t in = 0;
  size_t out = 0;
  while (in < len) {
    uint8_t code = src[in++];
    if (code == 0)
      return FARM_EMALFORMED;
    size_t n = (size_t)code - 1;
    if (n > len - in)
      return FARM_EMALFORMED; /* the block runs past the end */
    if (n > cap - out)
      return FARM_ENOSPC;
    /* A zero inside a block cannot come from an encoder. */
    if (memchr(src + in, 0, n) != NULL)
      return FARM_EMALFORMED;
    memmove(dst + out, src + in, n); /* may be in place: out <= in */
    in += n;
    out += n;
    if (code != 0xff && in < len) {
      if (out == cap)
        return FARM_ENOSPC;
      dst[out++] = 0;
    }
  }
  *out_len = out;
  return 0;
}

/*
 * Without a 0x00 in the input (fp__cobs_decode_nz), the common frame is
 * decoded without going block by block: every code byte but the first
 * stands exactly where its block's implied zero goes once the first is
 * dropped, so one bulk move and a walk along the chain of codes, writing a
 * zero over each, decode it. Only a full block (code 0xff, no implied zero)
 * followed by another block breaks that; such frames, 254 non-zero bytes in
 * a row, take the block-by-block path.
 */
static int decode_blocks(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                         size_t *out_len)
{
  size_t in = 0;
  size_t out = 0;
  while (in < len) {
    uint8_t code = src[in++];
    size_t n = (size_t)code - 1;
    if (n > cap - out)
      return FARM_ENOSPC;
    memmove(dst + out, src + in, n); /* may be in place: out <= in */
    in += n;
    out += n;
    if (code != 0xff && in < len) {
      if (out == cap)
        return FARM_ENOSPC;
      dst[out++] = 0;
    }
  }
  *out_len = out;
  return 0;
}

int fp__cobs_decode_nz(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                       size_t *out_len)
{
  if (len == 0)
    return FARM_EEMPTY;
  /* Check the chain of codes first (reading only the code bytes): each
   * block must end inside the input. */
  bool full_inside = false;
  for (size_t pos = 0; pos < len;) {
    size_t code = src[pos];
    if (code - 1 > len - pos - 1)
      return FARM_EMALFORMED; /* the block runs past the end */
    pos += code;
    full_inside |= code == 0xff && pos < len;
  }
  if (full_inside)
    return decode_blocks(src, len, dst, cap, out_len);
  if (len - 1 > cap)
    return FARM_ENOSPC;
  size_t pos = src[0];
  memmove(dst, src + 1, len - 1); /* may be in place */
  while (pos < len) {
    size_t code = dst[pos - 1]; /* src[pos], moved */
    dst[pos - 1] = 0;
    pos += code;
  }
  *out_len = len - 1;
  return 0;
}
