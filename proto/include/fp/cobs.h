/* SPDX-License-Identifier: MIT */
/*
 * Consistent Overhead Byte Stuffing (Cheshire and Baker, "Consistent Overhead
 * Byte Stuffing", IEEE/ACM ToN 1999). Removes every 0x00 from a block so 0x00
 * can delimit frames on the serial link; the cost is at most one byte per
 * 254 plus one. These functions neither add nor expect the delimiter.
 */
#ifndef FP_COBS_H
#define FP_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case encoded size of n bytes: one code byte per 254 data bytes + 1. */
#define FP_COBS_MAX_ENCODED(n) ((n) + (n) / 254 + 1)

/*
 * Encodes len bytes of src into dst (cap bytes). The output holds no 0x00.
 * src and dst must not overlap. Returns 0 and *out_len, or FARM_ENOSPC.
 */
int fp_cobs_encode(const void *src, size_t len, uint8_t *dst, size_t cap,
                   size_t *out_len);

/*
 * Decodes len bytes of src into dst (cap bytes); dst may equal src (the
 * output is never longer than the input, so decoding in place is safe).
 * Returns 0 and *out_len, or:
 *   FARM_EEMPTY      len is 0 (a valid encoding has at least one code byte)
 *   FARM_EMALFORMED  a code byte points past the end of the input, or a
 *                    0x00 appears in the input (a code or data byte)
 *   FARM_ENOSPC      the decoded data does not fit in cap
 */
int fp_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                   size_t *out_len);

#endif /* FP_COBS_H */
