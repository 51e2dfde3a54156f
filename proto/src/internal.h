/* SPDX-License-Identifier: MIT */
/*
 * Internals shared between files of the fp library; not part of its API.
 */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* FP_INTERNAL_H */
