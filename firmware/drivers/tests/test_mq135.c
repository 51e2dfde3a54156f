/* SPDX-License-Identifier: MIT */
/*
 * MQ135 driver on a simulated board: divider and power-law arithmetic at
 * points worked out by hand, the warm-up state, and the R0 calibration's
 * round trip through NVS across a reboot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/mq135.h"
#include "farm/error.h"
#include "sim/board.h"

#define ADC_CH 3

static struct sim_clock clk;
static struct hal_port board;
static struct mq135_config cfg;

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 0);
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  bc.clock = &clk;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(&board, &bc), 0);
  mq135_config_default(&cfg);
  cfg.adc_ch = ADC_CH;
  return 0;
}

/* |a - b| <= tol, with the values in the failure message. */
static void assert_near(double a, double b, double tol)
{
  double d = a > b ? a - b : b - a;
  if (!(d <= tol))
    fail_msg("%.6f is not within %.6f of %.6f", a, tol, b);
}

static void test_divider(void **state)
{
  (void)state;
  float rs;
  /* Defaults: Vc = 5000 mV, RL = 10 kΩ; Rs = RL (Vc - Vout) / Vout. */
  assert_int_equal(mq135_rs_from_mv(&cfg, 2500, &rs), 0);
  assert_near(rs, 10000.0, 1e-3); /* 10k * 2500 / 2500 */
  assert_int_equal(mq135_rs_from_mv(&cfg, 1000, &rs), 0);
  assert_near(rs, 40000.0, 1e-2); /* 10k * 4000 / 1000 */
  assert_int_equal(mq135_rs_from_mv(&cfg, 4999, &rs), 0);
  assert_near(rs, 2.0004, 1e-4); /* 10k * 1 / 4999 */
  rs = -1.0f;
  assert_int_equal(mq135_rs_from_mv(&cfg, 0, &rs), FARM_ERANGE);    /* open */
  assert_int_equal(mq135_rs_from_mv(&cfg, 5000, &rs), FARM_ERANGE); /* short */
  assert_int_equal(mq135_rs_from_mv(&cfg, 6000, &rs), FARM_ERANGE);
  assert_near(rs, -1.0, 0.0);
}

static void test_power_law(void **state)
{
  (void)state;
  /* ppm = 116.6020682 * ratio^-2.769034857 */
  assert_near(mq135_ppm_from_ratio(&cfg, 1.0f), 116.6020682, 1e-4);
  /* 2^-2.769034857 = exp(-2.769034857 * 0.693147) = 0.146702 -> 17.1058 */
  assert_near(mq135_ppm_from_ratio(&cfg, 2.0f), 17.1058, 1e-3);
  /* 0.5^-2.769034857 = 6.81652 -> 794.820 */
  assert_near(mq135_ppm_from_ratio(&cfg, 0.5f), 794.820, 0.01);
  /* Clean air, 420 ppm: ratio = (420 / 116.6020682)^(1 / -2.769034857)
   * = exp(1.281488 / -2.769034857) = exp(-0.462793) = 0.629523, so an Rs of
   * 10 kΩ means R0 = 10000 / 0.629523 = 15885.03 Ω. */
  assert_near(mq135_r0_from_rs(&cfg, 10000.0f), 15885.03, 0.05);
}

static void test_warm_up_is_reported(void **state)
{
  (void)state;
  cfg.r0_ohm = 20000.0f; /* nominal, so the only thing missing is heat */
  sim_clock_advance(&clk, 1234);
  struct mq135 m;
  assert_int_equal(mq135_init(&m, &board, &cfg), 0);
  assert_int_equal(mq135_ready_at(&m), 1234 + MQ135_DEFAULT_WARMUP_MS);
  assert_false(mq135_calibrated(&m));

  assert_int_equal(sim_board_adc_set(&board, ADC_CH, 1000), 0);
  struct mq135_reading r;
  assert_int_equal(mq135_read(&m, &r), 0);
  assert_int_equal(r.state, MQ135_WARMING_UP); /* a value, but flagged */
  assert_int_equal(r.mv, 1000);
  assert_near(r.rs_ohm, 40000.0, 0.01);
  assert_near(r.ratio, 2.0, 1e-6);
  assert_near(r.ppm, 17.1058, 1e-3);

  sim_clock_advance(&clk, MQ135_DEFAULT_WARMUP_MS - 1);
  assert_int_equal(mq135_state(&m), MQ135_WARMING_UP);
  sim_clock_advance(&clk, 1);
  assert_int_equal(mq135_state(&m), MQ135_READY);
  assert_int_equal(mq135_read(&m, &r), 0);
  assert_int_equal(r.state, MQ135_READY);
}

static void test_uncalibrated_gives_no_ppm(void **state)
{
  (void)state;
  cfg.warmup_ms = 10;
  struct mq135 m;
  assert_int_equal(mq135_init(&m, &board, &cfg), 0);
  sim_clock_advance(&clk, 10);
  assert_int_equal(mq135_state(&m), MQ135_UNCALIBRATED);
  assert_int_equal(sim_board_adc_set(&board, ADC_CH, 2500), 0);
  struct mq135_reading r;
  assert_int_equal(mq135_read(&m, &r), 0);
  assert_int_equal(r.state, MQ135_UNCALIBRATED);
  assert_near(r.rs_ohm, 10000.0, 1e-3);
  assert_near(r.ratio, 0.0, 0.0);
  assert_near(r.ppm, 0.0, 0.0);
}

static void test_calibration_round_trip_through_nvs(void **state)
{
  (void)state;
  cfg.warmup_ms = 1000;
  struct mq135 m;
  assert_int_equal(mq135_init(&m, &board, &cfg), 0);
  assert_int_equal(sim_board_adc_set(&board, ADC_CH, 2500), 0);
  float r0 = 0.0f;
  /* A cold sensor would store a wrong R0. */
  assert_int_equal(mq135_calibrate(&m, &r0), FARM_EBUSY);
  uint32_t stored;
  assert_int_equal(hal_nvs_get_u32(&board, MQ135_DEFAULT_NVS_KEY, &stored), FARM_ENOENT);

  sim_clock_advance(&clk, 1000);
  uint32_t commits = sim_board_nvs_commits(&board);
  assert_int_equal(mq135_calibrate(&m, &r0), 0);
  assert_near(r0, 15885.0, 0.0); /* 15885.03 rounded to whole ohms */
  assert_int_equal(sim_board_nvs_commits(&board), commits + 1);
  assert_int_equal(hal_nvs_get_u32(&board, MQ135_DEFAULT_NVS_KEY, &stored), 0);
  assert_int_equal(stored, 15885);
  assert_true(mq135_calibrated(&m));

  /* In the same air the sensor now reads the reference: 10000 / 15885 =
   * 0.629525, a hair above the exact 0.629523, so just under 420 ppm. */
  struct mq135_reading r;
  assert_int_equal(mq135_read(&m, &r), 0);
  assert_int_equal(r.state, MQ135_READY);
  assert_near(r.ppm, 419.998, 0.01);

  /* Power cycle: the committed R0 is loaded by a fresh driver. */
  sim_board_restart(&board);
  struct mq135 again;
  assert_int_equal(mq135_init(&again, &board, &cfg), 0);
  assert_true(mq135_calibrated(&again));
  assert_near(mq135_r0(&again), 15885.0, 0.0);
  assert_int_equal(mq135_state(&again), MQ135_WARMING_UP); /* heater restarted */

  /* Forgetting erases it for good. */
  assert_int_equal(mq135_forget(&again), 0);
  assert_false(mq135_calibrated(&again));
  assert_near(mq135_r0(&again), 0.0, 0.0);
  sim_board_restart(&board);
  assert_int_equal(mq135_init(&again, &board, &cfg), 0);
  assert_false(mq135_calibrated(&again));

  /* Rounded, not truncated: at 2400 mV Rs = 10k * 2600 / 2400 = 10833.33 Ω
   * and R0 = 10833.33 / 0.629523 = 17208.78 Ω, stored as 17209. */
  sim_clock_advance(&clk, 1000);
  assert_int_equal(sim_board_adc_set(&board, ADC_CH, 2400), 0);
  assert_int_equal(mq135_calibrate(&again, &r0), 0);
  assert_near(r0, 17209.0, 0.0);
  assert_int_equal(hal_nvs_get_u32(&board, MQ135_DEFAULT_NVS_KEY, &stored), 0);
  assert_int_equal(stored, 17209);
}

static void test_calibration_failures_change_nothing(void **state)
{
  (void)state;
  cfg.warmup_ms = 0;
  cfg.r0_ohm = 30000.0f;
  struct mq135 m;
  assert_int_equal(mq135_init(&m, &board, &cfg), 0);
  assert_int_equal(sim_board_adc_set(&board, ADC_CH, 2500), 0);

  sim_board_nvs_fail_next(&board, FARM_EIO);
  assert_int_equal(mq135_calibrate(&m, NULL), FARM_EIO);
  assert_near(mq135_r0(&m), 30000.0, 0.0);
  assert_false(mq135_calibrated(&m));

  assert_int_equal(sim_board_adc_set(&board, ADC_CH, 0), 0);
  assert_int_equal(mq135_calibrate(&m, NULL), FARM_ERANGE);
  assert_int_equal(sim_board_adc_fail(&board, ADC_CH, FARM_EIO), 0);
  assert_int_equal(mq135_calibrate(&m, NULL), FARM_EIO);
  struct mq135_reading r;
  memset(&r, 0x11, sizeof r);
  assert_int_equal(mq135_read(&m, &r), FARM_EIO);
  assert_int_equal(r.mv, 0x11111111u);
  assert_near(mq135_r0(&m), 30000.0, 0.0);
}

static void test_bad_stored_values(void **state)
{
  (void)state;
  struct mq135 m;
  /* A zero is damage: ignored, the nominal R0 stays. */
  cfg.r0_ohm = 25000.0f;
  assert_int_equal(hal_nvs_set_u32(&board, MQ135_DEFAULT_NVS_KEY, 0), 0);
  assert_int_equal(mq135_init(&m, &board, &cfg), 0);
  assert_false(mq135_calibrated(&m));
  assert_near(mq135_r0(&m), 25000.0, 0.0);
  /* Another type under the key is reported. */
  assert_int_equal(hal_nvs_set_blob(&board, MQ135_DEFAULT_NVS_KEY, "x", 1), 0);
  assert_int_equal(mq135_init(&m, &board, &cfg), FARM_ETYPE);
}

static void test_config_validation(void **state)
{
  (void)state;
  struct mq135 m;
  struct mq135_config c = cfg;
  c.nvs_key = "a_key_too_long_x"; /* 16 characters */
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.nvs_key = "";
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.supply_mv = 0;
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.rl_ohm = 0;
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.a = 0.0f;
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.b = 0.0f;
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.clean_air_ppm = -1.0f;
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.r0_ohm = -5.0f;
  assert_int_equal(mq135_init(&m, &board, &c), FARM_EINVAL);
  c = cfg;
  c.nvs_key = "mq135_r0_b"; /* a second sensor's own key is fine */
  assert_int_equal(mq135_init(&m, &board, &c), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_divider, setup),
      cmocka_unit_test_setup(test_power_law, setup),
      cmocka_unit_test_setup(test_warm_up_is_reported, setup),
      cmocka_unit_test_setup(test_uncalibrated_gives_no_ppm, setup),
      cmocka_unit_test_setup(test_calibration_round_trip_through_nvs, setup),
      cmocka_unit_test_setup(test_calibration_failures_change_nothing, setup),
      cmocka_unit_test_setup(test_bad_stored_values, setup),
      cmocka_unit_test_setup(test_config_validation, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
