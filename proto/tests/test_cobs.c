/* SPDX-License-Identifier: MIT */
/*
 * COBS pinned to the examples of Cheshire and Baker's paper (as tabulated in
 * the usual references), round trips at block boundaries, and every class
 * of malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "fp/cobs.h"
#include "testsupport.h"

struct example {
  uint8_t raw[300];
  size_t raw_len;
  uint8_t enc[300];
  size_t enc_len;
};

/* Builds the long examples: sequences of consecutive byte values. */
static size_t seq(uint8_t *out, unsigned from, unsigned to)
{
  size_t n = 0;
  for (unsigned v = from; v <= to; v++)
    out[n++] = (uint8_t)v;
  return n;
}

static void check_pair(const uint8_t *raw, size_t raw_len, const uint8_t *enc,
                       size_t enc_len)
{
  uint8_t out[400];
  size_t n = 0;
  assert_int_equal(fp_cobs_encode(raw, raw_len, out, sizeof out, &n), 0);
  assert_int_equal(n, enc_len);
  assert_memory_equal(out, enc, enc_len);
  assert_true(n <= FP_COBS_MAX_ENCODED(raw_len));
  assert_null(memchr(out, 0, n));
  assert_int_equal(fp_cobs_decode(enc, enc_len, out, sizeof out, &n), 0);
  assert_int_equal(n, raw_len);
  if (raw_len > 0)
    assert_memory_equal(out, raw, raw_len);
}

static void test_short_examples(void **state)
{
  (void)state;
  static const struct {
    const char *raw, *enc;
  } ex[] = {
      {"", "01"},
      {"00", "0101"},
      {"0000", "010101"},
      {"001100", "01021101"},
      {"11220033", "0311220233"},
      {"11223344", "0511223344"},
      {"11000000", "0211010101"},
  };
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
    uint8_t raw[16], enc[16];
    long rn = ts_hex_decode(ex[i].raw, raw, sizeof raw);
    long en = ts_hex_decode(ex[i].enc, enc, sizeof enc);
    check_pair(raw, (size_t)rn, enc, (size_t)en);
  }
}

static void test_long_examples(void **state)
{
  (void)state;
  uint8_t raw[300], enc[300];
  size_t rn, en;

  /* 01..FE (254 bytes) -> FF 01..FE: one full block, nothing after. */
  rn = seq(raw, 0x01, 0xfe);
  enc[0] = 0xff;
  en = 1 + seq(enc + 1, 0x01, 0xfe);
  check_pair(raw, rn, enc, en);

  /* 00..FE (255 bytes) -> 01 FF 01..FE */
  rn = seq(raw, 0x00, 0xfe);
  enc[0] = 0x01;
  enc[1] = 0xff;
  en = 2 + seq(enc + 2, 0x01, 0xfe);
  check_pair(raw, rn, enc, en);

  /* 01..FF (255 bytes) -> FF 01..FE 02 FF */
  rn = seq(raw, 0x01, 0xff);
  enc[0] = 0xff;
  en = 1 + seq(enc + 1, 0x01, 0xfe);
  enc[en++] = 0x02;
  enc[en++] = 0xff;
  check_pair(raw, rn, enc, en);

  /* 02..FF 00 (255 bytes) -> FF 02..FF 01 01 */
  rn = seq(raw, 0x02, 0xff);
  raw[rn++] = 0x00;
  enc[0] = 0xff;
  en = 1 + seq(enc + 1, 0x02, 0xff);
  enc[en++] = 0x01;
  enc[en++] = 0x01;
  check_pair(raw, rn, enc, en);

  /* 03..FF 00 01 (255 bytes) -> FE 03..FF 02 01 */
  rn = seq(raw, 0x03, 0xff);
  raw[rn++] = 0x00;
  raw[rn++] = 0x01;
  enc[0] = 0xfe;
  en = 1 + seq(enc + 1, 0x03, 0xff);
  enc[en++] = 0x02;
  enc[en++] = 0x01;
  check_pair(raw, rn, enc, en);
}

static void test_round_trip_block_boundaries(void **state)
{
  (void)state;
  struct ts_rng rng;
  ts_rng_seed(&rng, 42);
  static uint8_t raw[1200], enc[1300], dec[1200];
  const size_t lens[] = {0, 1, 253, 254, 255, 256, 507, 508, 509, 762, 1200};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
    for (int zeros = 0; zeros < 3; zeros++) {
      size_t len = lens[li];
      for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)ts_rng_below(&rng, 256);
        raw[i] = zeros == 0 ? (b | 1) : zeros == 1 ? b : (b & 1 ? 0 : b);
      }
      size_t en, dn;
      assert_int_equal(fp_cobs_encode(raw, len, enc, sizeof enc, &en), 0);
      assert_true(en <= FP_COBS_MAX_ENCODED(len));
      assert_null(memchr(enc, 0, en));
      assert_int_equal(fp_cobs_decode(enc, en, dec, sizeof dec, &dn), 0);
      assert_int_equal(dn, len);
      assert_memory_equal(dec, raw, len);
      /* In place. */
      assert_int_equal(fp_cobs_decode(enc, en, enc, en, &dn), 0);
      assert_int_equal(dn, len);
      assert_memory_equal(enc, raw, len);
    }
  }
}

static void test_malformed_inputs(void **state)
{
  (void)state;
  uint8_t out[64];
  size_t n = 0xdead;
  /* Empty input: not even a code byte. */
  assert_int_equal(fp_cobs_decode((const uint8_t *)"", 0, out, sizeof out, &n), FARM_EEMPTY);
  /* A code byte pointing past the end. */
  const uint8_t past[] = {0x05, 0x11, 0x22};
  assert_int_equal(fp_cobs_decode(past, sizeof past, out, sizeof out, &n), FARM_EMALFORMED);
  const uint8_t past2[] = {0x02, 0x11, 0x03, 0x22};
  assert_int_equal(fp_cobs_decode(past2, sizeof past2, out, sizeof out, &n), FARM_EMALFORMED);
  /* A zero inside a block, and a zero as a code byte. */
  const uint8_t zero_in[] = {0x03, 0x11, 0x00};
  assert_int_equal(fp_cobs_decode(zero_in, sizeof zero_in, out, sizeof out, &n), FARM_EMALFORMED);
  const uint8_t zero_code[] = {0x02, 0x11, 0x00, 0x01};
  assert_int_equal(fp_cobs_decode(zero_code, sizeof zero_code, out, sizeof out, &n), FARM_EMALFORMED);
  assert_int_equal(n, 0xdead); /* nothing reported on failure */
}

static void test_output_too_small(void **state)
{
  (void)state;
  const uint8_t raw[] = {0x11, 0x22, 0x00, 0x33};
  uint8_t out[8];
  size_t n;
  for (size_t cap = 0; cap < 5; cap++)
    assert_int_equal(fp_cobs_encode(raw, sizeof raw, out, cap, &n), FARM_ENOSPC);
  assert_int_equal(fp_cobs_encode(raw, sizeof raw, out, 5, &n), 0);
  const uint8_t enc[] = {0x03, 0x11, 0x22, 0x02, 0x33};
  for (size_t cap = 0; cap < 4; cap++)
    assert_int_equal(fp_cobs_decode(enc, sizeof enc, out, cap, &n), FARM_ENOSPC);
  assert_int_equal(fp_cobs_decode(enc, sizeof enc, out, 4, &n), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_short_examples),
      cmocka_unit_test(test_long_examples),
      cmocka_unit_test(test_round_trip_block_boundaries),
      cmocka_unit_test(test_malformed_inputs),
      cmocka_unit_test(test_output_too_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
