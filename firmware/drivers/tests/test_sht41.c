/* SPDX-License-Identifier: MIT */
/*
 * SHT41 driver against the emulated sensor on a simulated board: the
 * datasheet's CRC-8 example, conversions at raw values worked out by hand,
 * the two-phase timing, and NACK, timeout and CRC errors reported without
 * a value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/sht41.h"
#include "farm/error.h"
#include "sim/board.h"
#include "sim/sht41.h"

static struct sim_clock clk;
static struct hal_port board;
static struct sim_sht41 chip;
static struct sht41_config cfg;
static struct sht41 sensor;

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 5000);
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  bc.clock = &clk;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(&board, &bc), 0);
  sim_sht41_init(&chip, SHT41_ADDR_DEFAULT, 0x12345678u);
  assert_int_equal(sim_board_i2c_attach(&board, &chip.dev), 0);
  sht41_config_default(&cfg);
  assert_int_equal(sht41_init(&sensor, &board, &cfg), 0);
  return 0;
}

/* Runs one full measurement and returns the driver's verdict. */
static int measure(struct sht41_reading *out)
{
  int err = sht41_measure_start(&sensor);
  if (err)
    return err;
  sim_clock_advance(&clk, SHT41_MEASURE_MS);
  return sht41_read(&sensor, out);
}

static void test_crc8_datasheet_example(void **state)
{
  (void)state;
  /* SHT4x datasheet §4.5: CRC(0xBEEF) = 0x92. */
  const uint8_t beef[] = {0xbe, 0xef};
  assert_int_equal(sht41_crc8(beef, 2), 0x92);
  /* Worked by hand from init 0xFF: 0x0000 -> 0x81. */
  const uint8_t zero[] = {0x00, 0x00};
  assert_int_equal(sht41_crc8(zero, 2), 0x81);
}

static void test_crc8_agrees_with_emulator_on_every_word(void **state)
{
  (void)state;
  /* The emulator computes its CRC by long division, independently: every
   * 16-bit word must pass the driver's check. */
  for (uint32_t w = 0; w <= 0xffff; w += 1) {
    sim_sht41_set_raw(&chip, (uint16_t)w, (uint16_t)(0xffff - w));
    struct sht41_reading r;
    assert_int_equal(measure(&r), 0);
    assert_int_equal(r.raw_t, w);
    assert_int_equal(r.raw_rh, 0xffff - w);
  }
}

static void test_conversions_at_known_raw_values(void **state)
{
  (void)state;
  struct sht41_reading r;
  /* T = -45 + 175 * S_T / 65535, in m°C rounded to nearest. */
  sht41_convert(0, 0, &r);
  assert_int_equal(r.t_mc, -45000); /* bottom of the scale */
  sht41_convert(65535, 0, &r);
  assert_int_equal(r.t_mc, 130000); /* -45 + 175 */
  sht41_convert(0x6666, 0, &r);
  assert_int_equal(r.t_mc, 25000); /* 26214 / 65535 = 0.4 exactly; 175 * 0.4 = 70 */
  sht41_convert(24576, 0, &r);
  assert_int_equal(r.t_mc, 20626); /* 175000 * 24576 / 65535 = 65626.0014 */
  sht41_convert(1, 0, &r);
  assert_int_equal(r.t_mc, -44997); /* 175000 / 65535 = 2.67 -> 3 */

  /* RH = -6 + 125 * S_RH / 65535, in m%RH, clamped to 0..100000. */
  sht41_convert(0, 0x8000, &r);
  assert_int_equal(r.rh_mpct, 56501); /* 125000 * 32768 / 65535 = 62500.95 */
  sht41_convert(0, 0, &r);
  assert_int_equal(r.rh_mpct, 0); /* -6 % cropped */
  sht41_convert(0, 65535, &r);
  assert_int_equal(r.rh_mpct, 100000); /* 119 % cropped */
  sht41_convert(0, 3146, &r);
  assert_int_equal(r.rh_mpct, 1); /* 6000.61 -> 6001 - 6000 */
  sht41_convert(0, 3145, &r);
  assert_int_equal(r.rh_mpct, 0); /* 5998.70 -> 5999 - 6000 = -1, cropped */
  sht41_convert(0, 55573, &r);
  assert_int_equal(r.rh_mpct, 99999); /* 105998.70 -> 105999 - 6000 */
  sht41_convert(0, 55574, &r);
  assert_int_equal(r.rh_mpct, 100000); /* 106000.61 -> 100001, cropped */
  assert_int_equal(r.raw_rh, 55574);   /* the raw word keeps the truth */
  assert_false(r.heated);
}

static void test_measurement_through_the_bus(void **state)
{
  (void)state;
  sim_sht41_set_raw(&chip, 0x6666, 0x8000);
  struct sht41_reading r;
  assert_int_equal(measure(&r), 0);
  assert_int_equal(r.t_mc, 25000);
  assert_int_equal(r.rh_mpct, 56501);
  assert_int_equal(chip.measurements, 1);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_IDLE);

  /* Values set in physical units come back within one raw step. */
  sim_sht41_set(&chip, 21.5, 63.25);
  assert_int_equal(measure(&r), 0);
  assert_in_range(r.t_mc, 21500 - 3, 21500 + 3);
  assert_in_range(r.rh_mpct, 63250 - 2, 63250 + 2);
}

static void test_read_too_early_touches_nothing(void **state)
{
  (void)state;
  uint64_t t0 = hal_clock_ms(&board);
  assert_int_equal(sht41_measure_start(&sensor), 0);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_MEASURE);
  assert_int_equal(sht41_ready_at(&sensor), t0 + 9);
  uint32_t transfers = sim_board_i2c_transfers(&board);

  struct sht41_reading r;
  memset(&r, 0xa5, sizeof r);
  sim_clock_advance(&clk, 8);
  assert_int_equal(sht41_read(&sensor, &r), FARM_EAGAIN);
  assert_int_equal(sim_board_i2c_transfers(&board), transfers); /* nothing sent */
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_MEASURE);   /* still pending */
  assert_int_equal(r.t_mc, (int32_t)0xa5a5a5a5);

  sim_clock_advance(&clk, 1);
  assert_int_equal(sht41_read(&sensor, &r), 0);
  assert_int_equal(r.t_mc, 25000); /* the emulator's 25 °C is raw 26214 = 0.4 * 65535 */
}

static void test_sequencing_errors(void **state)
{
  (void)state;
  struct sht41_reading r;
  uint32_t serial;
  assert_int_equal(sht41_read(&sensor, &r), FARM_ENOENT);
  assert_int_equal(sht41_read_serial(&sensor, &serial), FARM_ENOENT);
  assert_int_equal(sht41_measure_start(&sensor), 0);
  assert_int_equal(sht41_measure_start(&sensor), FARM_EBUSY);
  assert_int_equal(sht41_serial_start(&sensor), FARM_EBUSY);
  sim_clock_advance(&clk, 20);
  assert_int_equal(sht41_read_serial(&sensor, &serial), FARM_ENOENT); /* wrong kind */
  assert_int_equal(sht41_read(&sensor, &r), 0);
  assert_int_equal(sht41_heater_start(&sensor, (enum sht41_heater)0x40), FARM_EINVAL);
}

static void test_nack_on_start_and_on_read(void **state)
{
  (void)state;
  struct sht41_reading r;
  memset(&r, 0x5a, sizeof r);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_NACK, 1);
  assert_int_equal(sht41_measure_start(&sensor), FARM_EIO);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_IDLE);

  assert_int_equal(sht41_measure_start(&sensor), 0);
  sim_clock_advance(&clk, SHT41_MEASURE_MS);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_NACK, 1);
  assert_int_equal(sht41_read(&sensor, &r), FARM_EIO);
  assert_int_equal(r.t_mc, (int32_t)0x5a5a5a5a); /* no made-up value */
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_IDLE);
  assert_int_equal(chip.nacks, 2);
}

static void test_timeout_on_start_and_on_read(void **state)
{
  (void)state;
  struct sht41_reading r;
  memset(&r, 0x5a, sizeof r);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_TIMEOUT, 1);
  assert_int_equal(sht41_measure_start(&sensor), FARM_ETIMEDOUT);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_IDLE);

  assert_int_equal(sht41_measure_start(&sensor), 0);
  sim_clock_advance(&clk, SHT41_MEASURE_MS);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_TIMEOUT, 1);
  assert_int_equal(sht41_read(&sensor, &r), FARM_ETIMEDOUT);
  assert_int_equal(r.rh_mpct, (int32_t)0x5a5a5a5a);

  /* The next measurement works again. */
  assert_int_equal(measure(&r), 0);
  assert_int_equal(r.t_mc, 25000);
}

static void test_crc_error(void **state)
{
  (void)state;
  struct sht41_reading r;
  memset(&r, 0x5a, sizeof r);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_CRC, 1);
  assert_int_equal(measure(&r), FARM_ECRC);
  assert_int_equal(r.t_mc, (int32_t)0x5a5a5a5a);
  assert_int_equal(r.raw_t, 0x5a5a);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_IDLE);
  assert_int_equal(measure(&r), 0);

  uint32_t serial = 7;
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_CRC, 1);
  assert_int_equal(sht41_serial_start(&sensor), 0);
  sim_clock_advance(&clk, SHT41_SERIAL_MS);
  assert_int_equal(sht41_read_serial(&sensor, &serial), FARM_ECRC);
  assert_int_equal(serial, 7);
}

static void test_missing_sensor(void **state)
{
  (void)state;
  struct sht41_config other = cfg;
  other.addr = 0x45; /* nobody there */
  struct sht41 s;
  assert_int_equal(sht41_init(&s, &board, &other), 0);
  assert_int_equal(sht41_measure_start(&s), FARM_EIO);
  assert_int_equal(sht41_serial_start(&s), FARM_EIO);
  assert_int_equal(sht41_soft_reset(&s), FARM_EIO);
}

static void test_serial_number(void **state)
{
  (void)state;
  uint32_t serial = 0;
  assert_int_equal(sht41_serial_start(&sensor), 0);
  assert_int_equal(sht41_read_serial(&sensor, &serial), FARM_EAGAIN);
  sim_clock_advance(&clk, SHT41_SERIAL_MS);
  assert_int_equal(sht41_read_serial(&sensor, &serial), 0);
  assert_int_equal(serial, 0x12345678u);
}

static void test_soft_reset(void **state)
{
  (void)state;
  /* While the chip measures it ignores its address, a reset included. */
  assert_int_equal(sht41_measure_start(&sensor), 0);
  sim_clock_advance(&clk, 2);
  assert_int_equal(sht41_soft_reset(&sensor), FARM_EIO);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_IDLE);

  sim_clock_advance(&clk, 10);
  assert_int_equal(sht41_soft_reset(&sensor), 0);
  assert_int_equal(chip.resets, 1);
  assert_int_equal(sht41_pending(&sensor), SHT41_OP_RESET);
  assert_int_equal(sht41_measure_start(&sensor), FARM_EBUSY); /* tSR not over */
  sim_clock_advance(&clk, SHT41_SOFT_RESET_MS);
  struct sht41_reading r;
  assert_int_equal(measure(&r), 0);
}

static void test_heater(void **state)
{
  (void)state;
  uint64_t t0 = hal_clock_ms(&board);
  assert_int_equal(sht41_heater_start(&sensor, SHT41_HEATER_200MW_1S), 0);
  assert_int_equal(sht41_ready_at(&sensor), t0 + 1100);
  struct sht41_reading r;
  sim_clock_advance(&clk, 1099);
  assert_int_equal(sht41_read(&sensor, &r), FARM_EAGAIN);
  sim_clock_advance(&clk, 1);
  assert_int_equal(sht41_read(&sensor, &r), 0);
  assert_true(r.heated);

  assert_int_equal(sht41_heater_start(&sensor, SHT41_HEATER_20MW_100MS), 0);
  assert_int_equal(sht41_ready_at(&sensor), t0 + 1100 + 110);
  sim_clock_advance(&clk, 110);
  assert_int_equal(sht41_read(&sensor, &r), 0);
  assert_true(r.heated);

  assert_int_equal(measure(&r), 0);
  assert_false(r.heated);
}

static void test_config_validation(void **state)
{
  (void)state;
  struct sht41 s;
  struct sht41_config c = cfg;
  c.addr = 0x80;
  assert_int_equal(sht41_init(&s, &board, &c), FARM_EINVAL);
  c.addr = 0x03;
  assert_int_equal(sht41_init(&s, &board, &c), FARM_EINVAL);
  c.addr = 0x44;
  c.i2c_timeout_ms = 0;
  assert_int_equal(sht41_init(&s, &board, &c), FARM_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_crc8_datasheet_example, setup),
      cmocka_unit_test_setup(test_crc8_agrees_with_emulator_on_every_word, setup),
      cmocka_unit_test_setup(test_conversions_at_known_raw_values, setup),
      cmocka_unit_test_setup(test_measurement_through_the_bus, setup),
      cmocka_unit_test_setup(test_read_too_early_touches_nothing, setup),
      cmocka_unit_test_setup(test_sequencing_errors, setup),
      cmocka_unit_test_setup(test_nack_on_start_and_on_read, setup),
      cmocka_unit_test_setup(test_timeout_on_start_and_on_read, setup),
      cmocka_unit_test_setup(test_crc_error, setup),
      cmocka_unit_test_setup(test_missing_sensor, setup),
      cmocka_unit_test_setup(test_serial_number, setup),
      cmocka_unit_test_setup(test_soft_reset, setup),
      cmocka_unit_test_setup(test_heater, setup),
      cmocka_unit_test_setup(test_config_validation, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
