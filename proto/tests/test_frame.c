/* SPDX-License-Identifier: MIT */
/*
 * Serial frames: the encoder pinned to a hand-computed frame, the stream
 * decoder fed in every chunking, and each bad input of BAD-INPUTS.md
 * §Serial 1–5 asserted with its outcome and counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "fp/cobs.h"
#include "fp/crc16.h"
#include "fp/frame.h"
#include "testsupport.h"

/* Collects what a decoder reports over a whole stream. */
struct outcome {
  uint8_t payloads[16][FP_FRAME_MAX_PAYLOAD];
  size_t lens[16];
  size_t n;
  int errors[64];
  size_t n_errors;
};

/* Feeds stream in chunks of at most `chunk` bytes (0 = all at once). */
static void run(struct fp_frame_decoder *d, const uint8_t *stream, size_t len,
                size_t chunk, struct outcome *o)
{
  size_t off = 0;
  while (off < len) {
    size_t take = chunk == 0 ? len - off : (len - off < chunk ? len - off : chunk);
    size_t pos = 0;
    while (pos < take) {
      size_t used;
      const uint8_t *p;
      size_t plen;
      int rc = fp_frame_feed(d, stream + off + pos, take - pos, &used, &p, &plen);
      assert_true(used <= take - pos);
      pos += used;
      if (rc != 0) {
        assert_null(p);
        assert_true(o->n_errors < 64);
        o->errors[o->n_errors++] = rc;
      } else if (p != NULL) {
        assert_true(o->n < 16);
        memcpy(o->payloads[o->n], p, plen);
        o->lens[o->n++] = plen;
      } else {
        assert_int_equal(pos, take); /* no outcome means all was consumed */
      }
    }
    off += take;
  }
}

static size_t append_frame(uint8_t *stream, size_t at, const void *payload, size_t len)
{
  size_t n;
  assert_int_equal(fp_frame_encode(payload, len, stream + at, FP_FRAME_MAX_WIRE, &n), 0);
  return at + n;
}

static void test_encode_pinned(void **state)
{
  (void)state;
  /* "123456789" has CRC 0x29b1 and no zero byte, so the frame is one COBS
   * block: code 0x0c (11 bytes + 1), data, CRC big-endian, delimiter. */
  uint8_t out[32];
  size_t n;
  assert_int_equal(fp_frame_encode("123456789", 9, out, sizeof out, &n), 0);
  uint8_t want[14];
  assert_int_equal(ts_hex_decode("0c31323334353637383929b100", want, sizeof want), 13);
  assert_int_equal(n, 13);
  assert_memory_equal(out, want, 13);
  /* A payload with zeros: 00 -> crc16(00) = 0xe1f0 -> 01 03 e1 f0 00. */
  uint8_t zero = 0;
  assert_int_equal(fp_crc16(&zero, 1), 0xe1f0);
  assert_int_equal(fp_frame_encode(&zero, 1, out, sizeof out, &n), 0);
  assert_int_equal(ts_hex_decode("0103e1f000", want, sizeof want), 5);
  assert_int_equal(n, 5);
  assert_memory_equal(out, want, 5);
}

static void test_encode_limits(void **state)
{
  (void)state;
  static uint8_t payload[FP_FRAME_MAX_PAYLOAD + 1];
  static uint8_t out[FP_FRAME_MAX_WIRE + 8];
  size_t n;
  assert_int_equal(fp_frame_encode(payload, 0, out, sizeof out, &n), FARM_EINVAL);
  assert_int_equal(fp_frame_encode(payload, FP_FRAME_MAX_PAYLOAD + 1, out, sizeof out, &n),
                   FARM_EINVAL);
  /* The worst case (no zero at all) fits FP_FRAME_MAX_WIRE exactly. */
  memset(payload, 0x55, sizeof payload);
  uint16_t crc = fp_crc16(payload, FP_FRAME_MAX_PAYLOAD);
  assert_true((crc >> 8) != 0 && (crc & 0xff) != 0);
  assert_int_equal(fp_frame_encode(payload, FP_FRAME_MAX_PAYLOAD, out, FP_FRAME_MAX_WIRE, &n), 0);
  assert_int_equal(n, FP_FRAME_MAX_WIRE);
  assert_int_equal(fp_frame_encode(payload, FP_FRAME_MAX_PAYLOAD, out, FP_FRAME_MAX_WIRE - 1, &n),
                   FARM_ENOSPC);
}

static void test_stream_any_chunking(void **state)
{
  (void)state;
  static uint8_t stream[3 * FP_FRAME_MAX_WIRE];
  static uint8_t big[FP_FRAME_MAX_PAYLOAD];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i % 7); /* zeros every 7 bytes */
  size_t len = 0;
  len = append_frame(stream, len, "a", 1);
  len = append_frame(stream, len, big, sizeof big);
  len = append_frame(stream, len, "\x00\x00\x00", 3);
  const size_t chunks[] = {0, 1, 2, 3, 7, 64, 255, 1000};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    static struct outcome o;
    memset(&o, 0, sizeof o);
    struct fp_frame_decoder d;
    fp_frame_decoder_init(&d);
    run(&d, stream, len, chunks[c], &o);
    assert_int_equal(o.n_errors, 0);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.lens[0], 1);
    assert_memory_equal(o.payloads[0], "a", 1);
    assert_int_equal(o.lens[1], sizeof big);
    assert_memory_equal(o.payloads[1], big, sizeof big);
    assert_int_equal(o.lens[2], 3);
    assert_memory_equal(o.payloads[2], "\x00\x00\x00", 3);
    assert_int_equal(d.count.frames, 3);
    assert_int_equal(d.count.bytes, len);
  }
}

static void test_rejections_counted_and_resynchronised(void **state)
{
  (void)state;
  static uint8_t stream[8192];
  size_t len = 0;
  /* Empty frames (two delimiters in a row, and one at the start). */
  stream[len++] = 0;
  len = append_frame(stream, len, "good1", 5);
  stream[len++] = 0;
  /* CRC mismatch: a good frame with one data byte changed. */
  size_t start = len;
  len = append_frame(stream, len, "crcbad", 6);
  stream[start + 2] ^= 0x01;
  /* COBS: a code byte pointing past the end of the frame. */
  const uint8_t bad_cobs[] = {0x09, 0x41, 0x42, 0x00};
  memcpy(stream + len, bad_cobs, sizeof bad_cobs);
  len += sizeof bad_cobs;
  /* Too short to hold payload and CRC: decodes to two bytes. */
  const uint8_t runt[] = {0x03, 0x41, 0x42, 0x00};
  memcpy(stream + len, runt, sizeof runt);
  len += sizeof runt;
  /* Garbage with no delimiter, longer than any frame, then a good frame. */
  memset(stream + len, 0x7e, 3000);
  len += 3000;
  stream[len++] = 0;
  len = append_frame(stream, len, "good2", 5);
  /* A partial frame at the end (the cable was pulled). */
  len = append_frame(stream, len, "partial", 7);
  len -= 4;

  for (size_t chunk = 0; chunk <= 13; chunk += 13) {
    static struct outcome o;
    memset(&o, 0, sizeof o);
    struct fp_frame_decoder d;
    fp_frame_decoder_init(&d);
    run(&d, stream, len, chunk, &o);
    assert_int_equal(o.n, 2);
    assert_memory_equal(o.payloads[0], "good1", 5);
    assert_memory_equal(o.payloads[1], "good2", 5);
    const int want[] = {FARM_EEMPTY, FARM_EEMPTY, FARM_ECRC, FARM_EMALFORMED,
                        FARM_ETRUNCATED, FARM_ETOOBIG};
    assert_int_equal(o.n_errors, 6);
    assert_memory_equal(o.errors, want, sizeof want);
    assert_int_equal(d.count.frames, 2);
    assert_int_equal(d.count.empty, 2);
    assert_int_equal(d.count.crc, 1);
    assert_int_equal(d.count.cobs, 1);
    assert_int_equal(d.count.shortf, 1);
    assert_int_equal(d.count.oversize, 1);
    assert_int_equal(d.count.bytes, len);
    /* The partial frame is pending; a reset drops it without a count, and
     * the next frame decodes cleanly. */
    assert_int_not_equal(d.len, 0);
    fp_frame_decoder_reset(&d);
    size_t used;
    const uint8_t *p;
    size_t plen;
    uint8_t again[64];
    size_t an = append_frame(again, 0, "after", 5);
    assert_int_equal(fp_frame_feed(&d, again, an, &used, &p, &plen), 0);
    assert_non_null(p);
    assert_int_equal(plen, 5);
    assert_memory_equal(p, "after", 5);
    assert_int_equal(d.count.crc + d.count.cobs + d.count.shortf, 3);
  }
}

static void test_decoded_payload_over_limit(void **state)
{
  (void)state;
  /* 2051 zero bytes (a 2049-byte payload + 2) encode to 2052 bytes of 0x01:
   * within the encoded bound, but the payload is over the limit. */
  static uint8_t stream[2100];
  memset(stream, 0x01, 2052);
  stream[2052] = 0;
  struct fp_frame_decoder d;
  fp_frame_decoder_init(&d);
  size_t used;
  const uint8_t *p;
  size_t plen;
  assert_int_equal(fp_frame_feed(&d, stream, 2053, &used, &p, &plen), FARM_ETOOBIG);
  assert_int_equal(used, 2053);
  assert_int_equal(d.count.oversize, 1);
  assert_int_equal(d.count.frames, 0);
}

static void test_maximum_frame_accepted(void **state)
{
  (void)state;
  static uint8_t payload[FP_FRAME_MAX_PAYLOAD];
  static uint8_t wire[FP_FRAME_MAX_WIRE];
  memset(payload, 0x55, sizeof payload);
  size_t n;
  assert_int_equal(fp_frame_encode(payload, sizeof payload, wire, sizeof wire, &n), 0);
  struct fp_frame_decoder d;
  fp_frame_decoder_init(&d);
  size_t used;
  const uint8_t *p;
  size_t plen;
  assert_int_equal(fp_frame_feed(&d, wire, n, &used, &p, &plen), 0);
  assert_non_null(p);
  assert_int_equal(plen, sizeof payload);
  assert_int_equal(d.count.oversize, 0);
}

static void test_random_corruption_never_yields_wrong_payload(void **state)
{
  (void)state;
  /* Any payload handed out must be one that was sent: flip bits at random
   * and check that corrupted frames are rejected, never altered. */
  struct ts_rng rng;
  ts_rng_seed(&rng, 7);
  for (int round = 0; round < 2000; round++) {
    uint8_t payload[40], wire[64];
    size_t plen = 1 + ts_rng_below(&rng, sizeof payload);
    for (size_t i = 0; i < plen; i++)
      payload[i] = (uint8_t)ts_rng_below(&rng, 256);
    size_t n;
    assert_int_equal(fp_frame_encode(payload, plen, wire, sizeof wire, &n), 0);
    size_t bit = ts_rng_below(&rng, (n - 1) * 8);
    wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    struct fp_frame_decoder d;
    fp_frame_decoder_init(&d);
    size_t pos = 0;
    while (pos < n) {
      size_t used;
      const uint8_t *p;
      size_t got;
      int rc = fp_frame_feed(&d, wire + pos, n - pos, &used, &p, &got);
      pos += used;
      if (rc == 0 && p != NULL) {
        assert_int_equal(got, plen);
        assert_memory_equal(p, payload, plen);
      }
    }
    assert_int_equal(d.count.frames, 0); /* CRC-16 catches single-bit errors */
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_pinned),
      cmocka_unit_test(test_encode_limits),
      cmocka_unit_test(test_stream_any_chunking),
      cmocka_unit_test(test_rejections_counted_and_resynchronised),
      cmocka_unit_test(test_decoded_payload_over_limit),
      cmocka_unit_test(test_maximum_frame_accepted),
      cmocka_unit_test(test_random_corruption_never_yields_wrong_payload),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
