/* SPDX-License-Identifier: MIT */
/*
 * The emulated SHT4x at the raw transaction level (no driver): what it
 * answers, when it stays silent, its CRC bytes, and the injected faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "sim/board.h"
#include "sim/sht41.h"

static struct sim_clock clk;
static struct hal_port board;
static struct sim_sht41 chip;

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 100);
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  bc.clock = &clk;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(&board, &bc), 0);
  sim_sht41_init(&chip, 0x44, 0xcafe0042u);
  assert_int_equal(sim_board_i2c_attach(&board, &chip.dev), 0);
  return 0;
}

static int cmd(uint8_t c)
{
  return hal_i2c_transfer(&board, 0x44, &c, 1, NULL, 0, 10);
}

static int rd(uint8_t *buf, size_t n)
{
  return hal_i2c_transfer(&board, 0x44, NULL, 0, buf, n, 10);
}

static void test_nack_before_measurement_time(void **state)
{
  (void)state;
  uint8_t buf[6];
  sim_sht41_set_raw(&chip, 0xbeef, 0x0000);
  assert_int_equal(cmd(0xfd), 0);
  /* 8.3 ms is the datasheet maximum: at 8 ms the chip may still measure. */
  sim_clock_advance(&clk, 8);
  assert_int_equal(rd(buf, 6), FARM_EIO);
  sim_clock_advance(&clk, 1);
  assert_int_equal(rd(buf, 6), 0);
  /* SHT4x datasheet §4.5: CRC(0xBEEF) = 0x92; CRC(0x0000) = 0x81. */
  const uint8_t want[6] = {0xbe, 0xef, 0x92, 0x00, 0x00, 0x81};
  assert_memory_equal(buf, want, 6);
  /* Handed out once. */
  assert_int_equal(rd(buf, 6), FARM_EIO);
  assert_int_equal(chip.measurements, 1);
}

static void test_shorter_measurements(void **state)
{
  (void)state;
  uint8_t buf[6];
  /* Medium (4.5 ms) and low (1.7 ms) repeatability. */
  assert_int_equal(cmd(0xf6), 0);
  sim_clock_advance(&clk, 4);
  assert_int_equal(rd(buf, 6), FARM_EIO);
  sim_clock_advance(&clk, 1);
  assert_int_equal(rd(buf, 6), 0);
  assert_int_equal(cmd(0xe0), 0);
  sim_clock_advance(&clk, 1);
  assert_int_equal(rd(buf, 6), FARM_EIO);
  sim_clock_advance(&clk, 1);
  assert_int_equal(rd(buf, 6), 0);
}

static void test_values_from_physical_units(void **state)
{
  (void)state;
  /* 25 °C: (25 + 45) * 65535 / 175 = 26214 = 0x6666; 50 %RH:
   * (50 + 6) * 65535 / 125 = 29359.68 -> 29360 = 0x72b0. */
  uint8_t buf[6];
  assert_int_equal(cmd(0xfd), 0);
  sim_clock_advance(&clk, 9);
  assert_int_equal(rd(buf, 6), 0);
  assert_int_equal(buf[0] << 8 | buf[1], 0x6666);
  assert_int_equal(buf[3] << 8 | buf[4], 0x72b0);
  /* Beyond the scale: limited to the 16-bit range. */
  sim_sht41_set(&chip, 200.0, -10.0);
  assert_int_equal(chip.raw_t, 65535);
  assert_int_equal(chip.raw_rh, 0);
}

static void test_serial_and_reset(void **state)
{
  (void)state;
  uint8_t buf[6];
  assert_int_equal(cmd(0x89), 0);
  sim_clock_advance(&clk, 1);
  assert_int_equal(rd(buf, 6), 0);
  assert_int_equal(buf[0] << 8 | buf[1], 0xcafe);
  assert_int_equal(buf[3] << 8 | buf[4], 0x0042);

  /* A reset discards a finished but uncollected result. */
  assert_int_equal(cmd(0xfd), 0);
  sim_clock_advance(&clk, 9);
  assert_int_equal(cmd(0x94), 0);
  assert_int_equal(chip.resets, 1);
  assert_int_equal(rd(buf, 6), FARM_EIO); /* resetting: silent */
  sim_clock_advance(&clk, 1);
  assert_int_equal(rd(buf, 6), FARM_EIO); /* reset done: nothing to read */
  assert_int_equal(cmd(0xfd), 0);
}

static void test_protocol_violations(void **state)
{
  (void)state;
  uint8_t buf[8];
  assert_int_equal(rd(buf, 6), FARM_EIO); /* nothing measured */
  assert_int_equal(cmd(0x42), FARM_EIO);  /* unknown command */
  const uint8_t two[2] = {0xfd, 0x00};
  assert_int_equal(hal_i2c_transfer(&board, 0x44, two, 2, NULL, 0, 10), FARM_EIO);
  /* Write then repeated-start read: the result cannot be ready yet. */
  uint8_t c = 0xfd;
  assert_int_equal(hal_i2c_transfer(&board, 0x44, &c, 1, buf, 6, 10), FARM_EIO);
  /* The command was taken: the chip is measuring and ignores commands. */
  assert_int_equal(cmd(0xfd), FARM_EIO);
  sim_clock_advance(&clk, 9);
  /* Reading more than six bytes: the rest is the bus pull-up. */
  assert_int_equal(rd(buf, 8), 0);
  assert_int_equal(buf[6], 0xff);
  assert_int_equal(buf[7], 0xff);
  /* Nobody at 0x45; bad arguments. */
  assert_int_equal(hal_i2c_transfer(&board, 0x45, &c, 1, NULL, 0, 10), FARM_EIO);
  assert_int_equal(hal_i2c_transfer(&board, 0x80, &c, 1, NULL, 0, 10), FARM_EINVAL);
  assert_int_equal(hal_i2c_transfer(&board, 0x44, NULL, 0, NULL, 0, 10), FARM_EINVAL);
  assert_int_equal(hal_i2c_transfer(&board, 0x44, &c, 1, NULL, 0, 0), FARM_EINVAL);
}

static void test_injected_faults(void **state)
{
  (void)state;
  uint8_t buf[6];
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_NACK, 2);
  assert_int_equal(cmd(0xfd), FARM_EIO);
  assert_int_equal(cmd(0xfd), FARM_EIO);
  assert_int_equal(cmd(0xfd), 0);
  sim_clock_advance(&clk, 9);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_TIMEOUT, 1);
  assert_int_equal(rd(buf, 6), FARM_ETIMEDOUT);
  /* The result survived the failed transfer. */
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_CRC, 1);
  assert_int_equal(rd(buf, 6), 0);
  assert_int_equal(buf[0] << 8 | buf[1], 0x6666);
  assert_int_equal(buf[2], 0x93 ^ 0x01); /* CRC(0x6666) = 0x93, one bit flipped */
  assert_int_equal(cmd(0xfd), 0);
  sim_clock_advance(&clk, 9);
  assert_int_equal(rd(buf, 6), 0);
  assert_int_equal(buf[2], 0x93); /* CRC(0x6666), fault used up */
  /* Cleared. */
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_NACK, 5);
  sim_sht41_inject(&chip, SIM_SHT41_FAULT_NONE, 0);
  assert_int_equal(cmd(0xfd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_nack_before_measurement_time, setup),
      cmocka_unit_test_setup(test_shorter_measurements, setup),
      cmocka_unit_test_setup(test_values_from_physical_units, setup),
      cmocka_unit_test_setup(test_serial_and_reset, setup),
      cmocka_unit_test_setup(test_protocol_violations, setup),
      cmocka_unit_test_setup(test_injected_faults, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
