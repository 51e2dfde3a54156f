/* SPDX-License-Identifier: MIT */
/*
 * The detector on constructed series (tests/series.h): for each kind of
 * planted change, with five seeds, a detection soon after the change and
 * none before it once learning is over; on a daily cycle without anomaly,
 * no detection at all. Also the contract: scores in [0, 1], zero while
 * learning, NaN and infinities refused without touching the state.
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

/* Runs one series; returns the number of detections, their positions in
 * at[] (up to cap). */
static int run(enum series_kind k, uint64_t seed, int *at, int cap)
{
  struct series_rng r = {seed * 0x9e3779b97f4a7c15ull};
  static struct ml_detector d;
  assert_int_equal(ml_detector_init(&d, NULL), 0);
  int n = 0;
  for (int i = 0; i < SERIES_LEN; i++) {
    double s;
    assert_int_equal(ml_detector_update(&d, series_value(k, i, &r), &s), 0);
    assert_true(s >= 0.0 && s <= 1.0);
    if (i < ML_DEFAULT_LEARN)
      assert_true(s == 0.0);
    if (ml_detector_is_detection(&d, s)) {
      if (n < cap)
        at[n] = i;
      n++;
    }
  }
  return n;
}

/* First detection within `delay` values of the change, none before it;
 * with `only_one`, none after either. */
static void check_kind(enum series_kind k, int delay, bool only_one)
{
  for (uint64_t seed = 1; seed <= 5; seed++) {
    int at[32];
    int n = run(k, seed, at, 32);
    assert_true(n >= 1);
    assert_true(at[0] >= SERIES_CHANGE);
    assert_true(at[0] <= SERIES_CHANGE + delay);
    if (only_one)
      assert_int_equal(n, 1);
  }
}

static void test_spike(void **state)
{
  (void)state;
  check_kind(SERIES_SPIKE, 0, true); /* on the spike itself */
}

static void test_level_shift(void **state)
{
  (void)state;
  check_kind(SERIES_SHIFT, 0, true); /* on the first shifted value */
}

static void test_variance_change(void **state)
{
  (void)state;
  /* Four times the noise: found within 100 values (when the wider noise
   * first passes the old range or moves the short-term variance). Later
   * records of the wider regime may detect again: they are new extremes. */
  check_kind(SERIES_VARIANCE, 100, false);
}

static void test_flat_line(void **state)
{
  (void)state;
  /* A stuck sensor: the sequence of repeated values is a new context and
   * the short-term variance collapses, within 40 values. */
  check_kind(SERIES_FLAT, 40, true);
}

static void test_daily_cycle_without_anomaly(void **state)
{
  (void)state;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    int at[8];
    assert_int_equal(run(SERIES_DAILY, seed, at, 8), 0);
  }
}

static void test_rejects_non_finite(void **state)
{
  (void)state;
  struct ml_detector d, before;
  assert_int_equal(ml_detector_init(&d, NULL), 0);
  double s = 0.25;
  for (int i = 0; i < 10; i++)
    assert_int_equal(ml_detector_update(&d, i, &s), 0);
  before = d;
  s = 0.25;
  assert_int_equal(ml_detector_update(&d, NAN, &s), FARM_EINVAL);
  assert_int_equal(ml_detector_update(&d, INFINITY, &s), FARM_EINVAL);
  assert_int_equal(ml_detector_update(&d, -INFINITY, &s), FARM_EINVAL);
  assert_true(s == 0.25);
  assert_memory_equal(&d, &before, sizeof d);
}

static void test_config(void **state)
{
  (void)state;
  struct ml_detector d;
  struct ml_detector_config c;
  ml_detector_config_default(&c);
  assert_true(c.threshold == ML_DEFAULT_THRESHOLD);
  assert_int_equal(c.learn, ML_DEFAULT_LEARN);
  assert_int_equal(c.rest, ML_DEFAULT_REST);
  c.threshold = 0.0;
  assert_int_equal(ml_detector_init(&d, &c), FARM_EINVAL);
  c.threshold = 1.5;
  assert_int_equal(ml_detector_init(&d, &c), FARM_EINVAL);
  c.threshold = NAN;
  assert_int_equal(ml_detector_init(&d, &c), FARM_EINVAL);
  c.threshold = 1.0;
  assert_int_equal(ml_detector_init(&d, &c), 0);
  assert_true(ml_detector_is_detection(&d, 1.0));
  assert_false(ml_detector_is_detection(&d, 0.999));
  assert_int_equal(ml_detector_set_threshold(&d, 0.2), 0);
  assert_true(ml_detector_is_detection(&d, 0.2));
  assert_int_equal(ml_detector_set_threshold(&d, -1.0), FARM_EINVAL);
  assert_true(ml_detector_is_detection(&d, 0.2));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spike),
      cmocka_unit_test(test_level_shift),
      cmocka_unit_test(test_variance_change),
      cmocka_unit_test(test_flat_line),
      cmocka_unit_test(test_daily_cycle_without_anomaly),
      cmocka_unit_test(test_rejects_non_finite),
      cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
