/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints: the CRC-32 pinned to its catalogue check value; a detector
 * saved mid-stream and restored gives bit-identical scores afterwards (on
 * a NAB-like series with anomalies, after learning, across a hold); every
 * kind of damaged checkpoint is refused and leaves the detector untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "ml/detector.h"
#include "series.h"

static uint8_t buf[ML_CHECKPOINT_SIZE + 8];

static void test_crc32_check_value(void **state)
{
  (void)state;
  /* CRC-32/ISO-HDLC check value (Williams' catalogue). */
  assert_int_equal(ml_crc32("123456789", 9), 0xcbf43926u);
  assert_int_equal(ml_crc32("", 0), 0);
}

static void test_restore_continues_bit_identical(void **state)
{
  (void)state;
  static struct ml_detector a, b;
  /* Split points: while learning, mid-stream, inside the hold after the
   * spike at SERIES_CHANGE. */
  const int splits[] = {100, 1000, SERIES_CHANGE + 5};
  for (size_t t = 0; t < sizeof splits / sizeof splits[0]; t++) {
    struct series_rng r = {42};
    double v[SERIES_LEN];
    for (int i = 0; i < SERIES_LEN; i++)
      v[i] = series_value(SERIES_SPIKE, i, &r);
    assert_int_equal(ml_detector_init(&a, NULL), 0);
    double s;
    for (int i = 0; i < splits[t]; i++)
      assert_int_equal(ml_detector_update(&a, v[i], &s), 0);
    size_t len = 0;
    assert_int_equal(ml_detector_save(&a, buf, sizeof buf, &len), 0);
    assert_int_equal(len, ML_CHECKPOINT_SIZE);
    memset(&b, 0xa5, sizeof b);
    assert_int_equal(ml_detector_restore(&b, buf, len), 0);
    for (int i = splits[t]; i < SERIES_LEN; i++) {
      double sa, sb;
      assert_int_equal(ml_detector_update(&a, v[i], &sa), 0);
      assert_int_equal(ml_detector_update(&b, v[i], &sb), 0);
      assert_memory_equal(&sa, &sb, sizeof sa); /* the same bits */
    }
    /* And the state saved at the end is the same bytes. */
    static uint8_t again[ML_CHECKPOINT_SIZE];
    size_t l2;
    assert_int_equal(ml_detector_save(&a, buf, sizeof buf, &len), 0);
    assert_int_equal(ml_detector_save(&b, again, sizeof again, &l2), 0);
    assert_memory_equal(buf, again, ML_CHECKPOINT_SIZE);
  }
}

static void test_save_needs_room(void **state)
{
  (void)state;
  struct ml_detector d;
  size_t len = 7;
  assert_int_equal(ml_detector_init(&d, NULL), 0);
  assert_int_equal(ml_detector_save(&d, buf, ML_CHECKPOINT_SIZE - 1, &len), FARM_ENOSPC);
  assert_int_equal(len, 7);
}

/* Restoring a damaged copy fails with err and leaves *d as it was. */
static void expect_refused(const uint8_t *cp, size_t len, int err)
{
  static struct ml_detector d, before;
  assert_int_equal(ml_detector_init(&d, NULL), 0);
  double s;
  for (int i = 0; i < 50; i++)
    ml_detector_update(&d, i % 7, &s);
  before = d;
  assert_int_equal(ml_detector_restore(&d, cp, len), err);
  assert_memory_equal(&d, &before, sizeof d);
}

/* Rewrites the trailing CRC after a deliberate change. */
static void reseal(uint8_t *cp)
{
  uint32_t crc = ml_crc32(cp, ML_CHECKPOINT_SIZE - 4);
  for (int i = 0; i < 4; i++)
    cp[ML_CHECKPOINT_SIZE - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_damaged_checkpoints(void **state)
{
  (void)state;
  static struct ml_detector d;
  static uint8_t cp[ML_CHECKPOINT_SIZE + 1];
  size_t len;
  assert_int_equal(ml_detector_init(&d, NULL), 0);
  double s;
  for (int i = 0; i < 400; i++)
    ml_detector_update(&d, (i % 13) * 0.5, &s);
  assert_int_equal(ml_detector_save(&d, cp, sizeof cp, &len), 0);

  expect_refused(cp, 0, FARM_ETRUNCATED);
  expect_refused(cp, 15, FARM_ETRUNCATED);
  expect_refused(cp, len - 1, FARM_ETRUNCATED);
  cp[len] = 0;
  expect_refused(cp, len + 1, FARM_ETRAILING);

  static uint8_t bad[ML_CHECKPOINT_SIZE];
  memcpy(bad, cp, len);
  bad[0] = 'X';
  expect_refused(bad, len, FARM_EMALFORMED);
  memcpy(bad, cp, len);
  bad[4] = 2; /* version 2 */
  expect_refused(bad, len, FARM_EUNSUPPORTED);
  memcpy(bad, cp, len);
  bad[8] ^= 1; /* another table size */
  expect_refused(bad, len, FARM_EMALFORMED);
  memcpy(bad, cp, len);
  bad[100] ^= 0x10; /* one flipped bit */
  expect_refused(bad, len, FARM_ECRC);

  /* Crafted, with a valid CRC: threshold 2.0 (payload offset 0 = byte 16). */
  memcpy(bad, cp, len);
  const double two = 2.0;
  uint64_t bits;
  memcpy(&bits, &two, 8);
  for (int i = 0; i < 8; i++)
    bad[16 + i] = (uint8_t)(bits >> (8 * i));
  reseal(bad);
  expect_refused(bad, len, FARM_ERANGE);
  /* A NaN long-term variance (the 8th double of the state, byte 96). */
  memcpy(bad, cp, len);
  memset(bad + 16 + 8 + 4 + 4 + 8 + 7 * 8, 0xff, 8);
  reseal(bad);
  expect_refused(bad, len, FARM_ERANGE);
  /* A symbol beyond the grid (first of sym[], byte 104). */
  memcpy(bad, cp, len);
  bad[104] = 0xff;
  bad[105] = 0xff;
  reseal(bad);
  expect_refused(bad, len, FARM_ERANGE);
  /* The untouched copy still restores. */
  static struct ml_detector e;
  assert_int_equal(ml_detector_restore(&e, cp, len), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32_check_value),
      cmocka_unit_test(test_restore_continues_bit_identical),
      cmocka_unit_test(test_save_needs_room),
      cmocka_unit_test(test_damaged_checkpoints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
