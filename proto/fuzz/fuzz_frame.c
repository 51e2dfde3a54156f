/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the serial frame stream decoder. The input is split into
 * chunks whose sizes come from the input itself; every payload handed out
 * must carry a valid CRC, re-encode to a frame that decodes to itself, and
 * the counters must add up to the delimiters seen.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fp/crc16.h"
#include "fp/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_payload(const uint8_t *p, size_t len)
{
  static uint8_t wire[FP_FRAME_MAX_WIRE];
  size_t n;
  assert(len >= 1 && len <= FP_FRAME_MAX_PAYLOAD);
  assert(fp_frame_encode(p, len, wire, sizeof wire, &n) == 0);
  struct fp_frame_decoder d2;
  fp_frame_decoder_init(&d2);
  size_t used;
  const uint8_t *q;
  size_t qlen;
  assert(fp_frame_feed(&d2, wire, n, &used, &q, &qlen) == 0);
  assert(q != NULL && qlen == len && memcmp(p, q, len) == 0 && used == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct fp_frame_decoder d;
  fp_frame_decoder_init(&d);
  size_t chunk = size > 0 ? (size_t)(data[0] % 64) + 1 : 1;
  size_t pos = 0;
  uint32_t outcomes = 0;
  while (pos < size) {
    size_t take = size - pos < chunk ? size - pos : chunk;
    size_t off = 0;
    while (off < take) {
      size_t used;
      const uint8_t *p;
      size_t plen;
      int rc = fp_frame_feed(&d, data + pos + off, take - off, &used, &p, &plen);
      assert(used <= take - off);
      off += used;
      if (rc != 0 || p != NULL)
        outcomes++;
      if (rc == 0 && p != NULL)
        check_payload(p, plen);
      if (rc == 0 && p == NULL)
        assert(off == take);
    }
    pos += take;
  }
  const struct fp_frame_counters *c = &d.count;
  assert(c->bytes == size);
  assert(outcomes == c->frames + c->empty + c->shortf + c->cobs + c->crc + c->oversize);
  return 0;
}
