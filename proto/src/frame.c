/* SPDX-License-Identifier: MIT */
/*
 * Serial frame encoder and incremental stream decoder (see fp/frame.h).
 * The decoder finds the delimiter with memchr; a frame that arrives whole
 * in one chunk is decoded straight from it, one split over several chunks
 * is gathered first and decoded in place. Either way it needs one
 * frame-sized buffer and no allocation.
 */
#include "fp/frame.h"

#include <assert.h>
#include <string.h>

#include "farm/error.h"
#include "fp/crc16.h"
#include "internal.h"

int fp_frame_encode(const void *payload, size_t len, uint8_t *out, size_t cap,
                    size_t *out_len)
{
  if (len == 0 || len > FP_FRAME_MAX_PAYLOAD)
    return FARM_EINVAL;
  uint16_t crc = fp_crc16(payload, len);
  const uint8_t crc_be[2] = {(uint8_t)(crc >> 8), (uint8_t)crc};
  /* The usual frame: payload and CRC copied in one go behind the first code
   * byte and encoded in place, len + 3 bytes and the delimiter. */
  if (cap >= len + 4) {
    memcpy(out + 1, payload, len);
    memcpy(out + 1 + len, crc_be, sizeof crc_be);
    if (fp__cobs_encode_in_place(out, len + 2)) {
      out[len + 3] = 0;
      *out_len = len + 4;
      return 0;
    }
  }
  struct fp__cobs_enc e;
  size_t n;
  fp__cobs_enc_init(&e, out, cap);
  fp__cobs_enc_put(&e, payload, len);
  fp__cobs_enc_put(&e, crc_be, sizeof crc_be);
  int rc = fp__cobs_enc_finish(&e, &n);
  if (rc != 0)
    return rc;
  if (n >= cap)
    return FARM_ENOSPC; /* no room for the delimiter */
  out[n++] = 0;
  *out_len = n;
  return 0;
}

void fp_frame_decoder_init(struct fp_frame_decoder *d)
{
  memset(&d->count, 0, sizeof d->count);
  d->len = 0;
  d->discarding = false;
}

void fp_frame_decoder_reset(struct fp_frame_decoder *d)
{
  d->len = 0;
  d->discarding = false;
}

/*
 * Decodes the encoded bytes of one frame, src[0..n) (no 0x00 among them:
 * the caller cut them at the delimiter), into d->buf, and counts and
 * returns the outcome. src is d->buf itself for a frame gathered over
 * several calls, or the caller's bytes when the frame came whole.
 */
static int finish_frame(struct fp_frame_decoder *d, const uint8_t *src, size_t n,
                        const uint8_t **payload, size_t *payload_len)
{
  size_t out;
  d->len = 0;
  if (n == 0) {
    d->count.empty++;
    return FARM_EEMPTY;
  }
  if (fp__cobs_decode_nz(src, n, d->buf, sizeof d->buf, &out) != 0) {
    d->count.cobs++;
    return FARM_EMALFORMED;
  }
  if (out < 3) {
    d->count.shortf++;
    return FARM_ETRUNCATED;
  }
  size_t plen = out - 2;
  if (plen > FP_FRAME_MAX_PAYLOAD) {
    /* Fits the encoded bound but decodes past the payload limit. */
    d->count.oversize++;
    return FARM_ETOOBIG;
  }
  /* The CRC of the payload followed by its own big-endian CRC is 0 (no
   * reflection, no final XOR), so one pass checks the whole frame. */
  if (fp_crc16(d->buf, out) != 0) {
    d->count.crc++;
    return FARM_ECRC;
  }
  d->count.frames++;
  *payload = d->buf;
  *payload_len = plen;
  return 0;
}

int fp_frame_feed(struct fp_frame_decoder *d, const uint8_t *data, size_t len,
                  size_t *consumed, const uint8_t **payload,
                  size_t *payload_len)
{
  assert(d != NULL && consumed != NULL && payload != NULL && payload_len != NULL);
  size_t i = 0;
  int rc = 0;
  *payload = NULL;
  *payload_len = 0;
  while (i < len) {
    const uint8_t *zero = memchr(data + i, 0, len - i);
    size_t run = zero != NULL ? (size_t)(zero - (data + i)) : len - i;
    if (!d->discarding) {
      if (run > sizeof d->buf - d->len) {
        /* More bytes than any valid frame: drop them up to the next 0x00. */
        d->discarding = true;
        d->len = 0;
        d->count.oversize++;
        i += run;
        rc = FARM_ETOOBIG;
        goto out;
      }
      if (zero != NULL && d->len == 0) {
        /* The whole frame is in this chunk, as it usually is: decode it
         * straight from the caller's bytes, without gathering it first. */
        rc = finish_frame(d, data + i, run, payload, payload_len);
        i += run + 1;
        goto out;
      }
      memcpy(d->buf + d->len, data + i, run);
      d->len += run;
    }
    i += run;
    if (zero == NULL)
      break;
    i++; /* the delimiter */
    if (d->discarding) {
      d->discarding = false; /* resynchronised; already reported */
      continue;
    }
    rc = finish_frame(d, d->buf, d->len, payload, payload_len);
    goto out;
  }
out:
  d->count.bytes += i;
  *consumed = i;
  return rc;
}
