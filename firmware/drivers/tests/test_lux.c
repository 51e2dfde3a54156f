/* SPDX-License-Identifier: MIT */
/*
 * Lux driver: interpolation on rising and falling curves at points worked
 * out by hand, clamping outside the curve, and validation of bad curves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/lux.h"
#include "farm/error.h"
#include "sim/board.h"

static struct sim_clock clk;
static struct hal_port board;

/* A photodiode's rising, roughly logarithmic response. */
static const struct lux_point rising[] = {
    {200, 0},
    {1000, 100},
    {2000, 1000},
    {3000, 10000},
};
static const struct lux_config rising_cfg = {.adc_ch = 1, .points = rising, .count = 4};

/* An LDR on the high side of a divider: more light, fewer millivolts. */
static const struct lux_point falling[] = {{500, 2000}, {1500, 500}, {3100, 5}};
static const struct lux_config falling_cfg = {.adc_ch = 2, .points = falling, .count = 3};

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 0);
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  bc.clock = &clk;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(&board, &bc), 0);
  return 0;
}

static void test_rising_curve(void **state)
{
  (void)state;
  bool clamped = true;
  /* On the points themselves. */
  assert_int_equal(lux_from_mv(&rising_cfg, 200, &clamped), 0);
  assert_false(clamped);
  assert_int_equal(lux_from_mv(&rising_cfg, 1000, &clamped), 100);
  assert_int_equal(lux_from_mv(&rising_cfg, 3000, &clamped), 10000);
  assert_false(clamped);
  /* Between points: l0 + (mv - m0) (l1 - l0) / (m1 - m0), rounded. */
  assert_int_equal(lux_from_mv(&rising_cfg, 600, NULL), 50);    /* 400 * 100 / 800 */
  assert_int_equal(lux_from_mv(&rising_cfg, 1500, NULL), 550);  /* 100 + 500 * 900 / 1000 */
  assert_int_equal(lux_from_mv(&rising_cfg, 2500, NULL), 5500); /* 1000 + 500 * 9000 / 1000 */
  assert_int_equal(lux_from_mv(&rising_cfg, 205, NULL), 1);     /* 5 * 100 / 800 = 0.625 */
  assert_int_equal(lux_from_mv(&rising_cfg, 204, NULL), 1);     /* 0.5 rounds up */
  assert_int_equal(lux_from_mv(&rising_cfg, 203, NULL), 0);     /* 0.375 */
  /* Outside: the nearest end, flagged. */
  assert_int_equal(lux_from_mv(&rising_cfg, 100, &clamped), 0);
  assert_true(clamped);
  assert_int_equal(lux_from_mv(&rising_cfg, 3300, &clamped), 10000);
  assert_true(clamped);
}

static void test_falling_curve(void **state)
{
  (void)state;
  assert_int_equal(lux_validate(&falling_cfg), 0);
  assert_int_equal(lux_from_mv(&falling_cfg, 1000, NULL), 1250); /* 2000 - 500 * 1500 / 1000 */
  assert_int_equal(lux_from_mv(&falling_cfg, 2300, NULL), 253); /* 500 - 800 * 495 / 1600 = 252.5 */
  assert_int_equal(lux_from_mv(&falling_cfg, 3100, NULL), 5);
  bool clamped = false;
  assert_int_equal(lux_from_mv(&falling_cfg, 0, &clamped), 2000);
  assert_true(clamped);
}

static void test_read_through_adc(void **state)
{
  (void)state;
  struct lux l;
  assert_int_equal(lux_init(&l, &board, &rising_cfg), 0);
  assert_int_equal(sim_board_adc_set(&board, 1, 1500), 0);
  struct lux_reading r;
  assert_int_equal(lux_read(&l, &r), 0);
  assert_int_equal(r.mv, 1500);
  assert_int_equal(r.lux, 550);
  assert_false(r.clamped);

  assert_int_equal(sim_board_adc_set(&board, 1, 3300), 0);
  assert_int_equal(lux_read(&l, &r), 0);
  assert_int_equal(r.lux, 10000);
  assert_true(r.clamped);

  memset(&r, 0x22, sizeof r);
  assert_int_equal(sim_board_adc_fail(&board, 1, FARM_EIO), 0);
  assert_int_equal(lux_read(&l, &r), FARM_EIO);
  assert_int_equal(r.lux, 0x22222222u);

  struct lux_config nowhere = rising_cfg;
  nowhere.adc_ch = 200; /* the board has no such channel */
  assert_int_equal(lux_init(&l, &board, &nowhere), 0);
  assert_int_equal(lux_read(&l, &r), FARM_EINVAL);
}

static void test_validation(void **state)
{
  (void)state;
  struct lux_config c = rising_cfg;
  c.count = 1;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);
  c.count = LUX_MAX_POINTS + 1;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);
  c = rising_cfg;
  c.points = NULL;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  static const struct lux_point same_mv[] = {{100, 0}, {100, 10}, {200, 20}};
  c.points = same_mv;
  c.count = 3;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  static const struct lux_point backwards_mv[] = {{300, 0}, {200, 10}};
  c.points = backwards_mv;
  c.count = 2;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  static const struct lux_point up_down[] = {{100, 0}, {200, 50}, {300, 40}};
  c.points = up_down;
  c.count = 3;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  static const struct lux_point too_bright[] = {{100, 0}, {200, LUX_MAX_LUX + 1}};
  c.points = too_bright;
  c.count = 2;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  static const struct lux_point too_many_mv[] = {{100, 0}, {LUX_MAX_MV + 1, 10}};
  c.points = too_many_mv;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  static const struct lux_point flat[] = {{100, 7}, {200, 7}};
  c.points = flat;
  c.count = 2;
  assert_int_equal(lux_validate(&c), FARM_EINVAL);

  /* A plateau inside a rising curve is still monotonic. */
  static const struct lux_point plateau[] = {{100, 0}, {200, 50}, {300, 50}, {400, 90}};
  c.points = plateau;
  c.count = 4;
  assert_int_equal(lux_validate(&c), 0);
  assert_int_equal(lux_from_mv(&c, 250, NULL), 50);
  assert_int_equal(lux_from_mv(&c, 350, NULL), 70);

  struct lux l;
  c.count = 1;
  assert_int_equal(lux_init(&l, &board, &c), FARM_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_rising_curve, setup),
      cmocka_unit_test_setup(test_falling_curve, setup),
      cmocka_unit_test_setup(test_read_through_adc, setup),
      cmocka_unit_test_setup(test_validation, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
