/* SPDX-License-Identifier: MIT */
/*
 * The simulated board's other hardware: uptime and wall clock on the
 * shared simulated clock, ADC, GPIO, the serial pipe and its cable, the log
 * sink with the board's MAC, seeded random bytes, and reboot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "sim/board.h"

static struct sim_clock clk;
static struct hal_port board;

static char last_line[SIM_LOG_LINE_MAX];
static uint8_t last_mac[HAL_MAC_LEN];
static enum hal_log_level last_level;
static int nlines;

static void sink(void *ctx, const uint8_t mac[HAL_MAC_LEN], enum hal_log_level level,
                 const char *line)
{
  assert_ptr_equal(ctx, &nlines);
  memcpy(last_mac, mac, HAL_MAC_LEN);
  last_level = level;
  snprintf(last_line, sizeof last_line, "%s", line);
  nlines++;
}

static void config(struct sim_board_config *bc)
{
  sim_board_config_default(bc);
  const uint8_t mac[HAL_MAC_LEN] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
  memcpy(bc->mac, mac, HAL_MAC_LEN);
  bc->clock = &clk;
  bc->log = sink;
  bc->log_ctx = &nlines;
  bc->log_level = HAL_LOG_INFO;
}

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 50000);
  nlines = 0;
  struct sim_board_config bc;
  config(&bc);
  assert_int_equal(sim_board_init(&board, &bc), 0);
  return 0;
}

static void test_uptime_and_wall_clock(void **state)
{
  (void)state;
  assert_int_equal(hal_clock_ms(&board), 0); /* since this board's boot */
  sim_clock_advance(&clk, 1500);
  assert_int_equal(hal_clock_ms(&board), 1500);

  uint64_t wall = 1;
  assert_int_equal(hal_wall_clock_get(&board, &wall), FARM_ENOENT);
  assert_int_equal(wall, 1);
  assert_int_equal(hal_wall_clock_set(&board, 0), FARM_EINVAL);
  assert_int_equal(hal_wall_clock_set(&board, 1700000000000ull), 0);
  sim_clock_advance(&clk, 250);
  assert_int_equal(hal_wall_clock_get(&board, &wall), 0);
  assert_int_equal(wall, 1700000000250ull);

  /* A reboot restarts the uptime and forgets the wall clock. */
  hal_reboot(&board);
  sim_board_restart(&board);
  assert_int_equal(sim_board_boots(&board), 1);
  assert_int_equal(hal_clock_ms(&board), 0);
  assert_int_equal(hal_wall_clock_get(&board, &wall), FARM_ENOENT);
  sim_clock_advance(&clk, 7);
  assert_int_equal(hal_clock_ms(&board), 7);
}

static void test_adc_and_gpio(void **state)
{
  (void)state;
  uint32_t mv = 1;
  assert_int_equal(hal_adc_read_mv(&board, 0, &mv), 0);
  assert_int_equal(mv, 0);
  assert_int_equal(sim_board_adc_set(&board, 7, 3123), 0);
  assert_int_equal(hal_adc_read_mv(&board, 7, &mv), 0);
  assert_int_equal(mv, 3123);
  assert_int_equal(hal_adc_read_mv(&board, SIM_ADC_CHANNELS, &mv), FARM_EINVAL);
  assert_int_equal(sim_board_adc_set(&board, SIM_ADC_CHANNELS, 1), FARM_EINVAL);
  assert_int_equal(sim_board_adc_fail(&board, 7, FARM_EIO), 0);
  assert_int_equal(hal_adc_read_mv(&board, 7, &mv), FARM_EIO);
  assert_int_equal(sim_board_adc_fail(&board, 7, 0), 0);
  assert_int_equal(hal_adc_read_mv(&board, 7, &mv), 0);

  assert_false(sim_board_gpio(&board, 3));
  assert_int_equal(hal_gpio_write(&board, 3, true), 0);
  assert_true(sim_board_gpio(&board, 3));
  assert_int_equal(hal_gpio_write(&board, 3, true), 0);
  assert_int_equal(sim_board_gpio_writes(&board, 3), 2);
  assert_int_equal(hal_gpio_write(&board, SIM_GPIO_OUTPUTS, true), FARM_EINVAL);
  /* Outputs come out of a reboot low. */
  sim_board_restart(&board);
  assert_false(sim_board_gpio(&board, 3));
  /* ADC inputs are the outside world: they survive. */
  assert_int_equal(hal_adc_read_mv(&board, 7, &mv), 0);
  assert_int_equal(mv, 3123);
}

static void test_serial_pipe(void **state)
{
  (void)state;
  size_t n = 99;
  uint8_t buf[16];
  assert_false(hal_serial_connected(&board));
  assert_int_equal(hal_serial_write(&board, "abc", 3, &n), FARM_ECLOSED);
  assert_int_equal(n, 0);
  assert_int_equal(hal_serial_read(&board, buf, sizeof buf, &n), FARM_ECLOSED);
  assert_int_equal(sim_serial_host_write(&board, "x", 1, &n), FARM_ECLOSED);

  sim_serial_set_connected(&board, true);
  assert_true(hal_serial_connected(&board));
  assert_int_equal(hal_serial_write(&board, "up", 2, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(sim_serial_host_read(&board, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(buf, "up", 2);
  assert_int_equal(sim_serial_host_read(&board, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(sim_serial_host_write(&board, "down", 4, &n), 0);
  assert_int_equal(hal_serial_read(&board, buf, 3, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(buf, "dow", 3);
  assert_int_equal(hal_serial_read(&board, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(buf[0], 'n');

  /* A full transmit buffer takes what fits. */
  static uint8_t lots[SIM_SERIAL_BUF + 100];
  assert_int_equal(hal_serial_write(&board, lots, sizeof lots, &n), 0);
  assert_int_equal(n, SIM_SERIAL_BUF);
  assert_int_equal(hal_serial_write(&board, "z", 1, &n), 0);
  assert_int_equal(n, 0);

  /* Pulling the cable loses what was in flight. */
  assert_int_equal(sim_serial_host_write(&board, "lost", 4, &n), 0);
  sim_serial_set_connected(&board, false);
  sim_serial_set_connected(&board, true);
  assert_int_equal(sim_serial_host_read(&board, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(hal_serial_read(&board, buf, sizeof buf, &n), 0);
  assert_int_equal(n, 0);
}

static void test_log(void **state)
{
  (void)state;
  hal_log(&board, HAL_LOG_WARN, "relay %d stuck at %s", 4, "on");
  assert_int_equal(nlines, 1);
  assert_string_equal(last_line, "relay 4 stuck at on");
  assert_int_equal(last_level, HAL_LOG_WARN);
  const uint8_t mac[HAL_MAC_LEN] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
  assert_memory_equal(last_mac, mac, HAL_MAC_LEN);
  hal_log(&board, HAL_LOG_DEBUG, "below the level");
  assert_int_equal(nlines, 1);
  /* Long lines are cut, not overflowed. */
  char longs[600];
  memset(longs, 'x', sizeof longs - 1);
  longs[sizeof longs - 1] = '\0';
  hal_log(&board, HAL_LOG_ERROR, "%s", longs);
  assert_int_equal(strlen(last_line), SIM_LOG_LINE_MAX - 1);
  hal_reboot(&board);
  assert_string_equal(last_line, "reboot requested");
}

static void test_random_is_seeded(void **state)
{
  (void)state;
  uint8_t a[37], b[37];
  hal_random(&board, a, sizeof a);

  struct sim_board_config bc;
  config(&bc);
  static struct hal_port same, other_seed, other_mac;
  assert_int_equal(sim_board_init(&same, &bc), 0);
  hal_random(&same, b, sizeof b);
  assert_memory_equal(a, b, sizeof a);

  bc.seed = 2;
  assert_int_equal(sim_board_init(&other_seed, &bc), 0);
  hal_random(&other_seed, b, sizeof b);
  assert_memory_not_equal(a, b, sizeof a);

  bc.seed = 1;
  bc.mac[0] ^= 1;
  assert_int_equal(sim_board_init(&other_mac, &bc), 0);
  hal_random(&other_mac, b, sizeof b);
  assert_memory_not_equal(a, b, sizeof a);

  /* Not stuck: successive draws differ. */
  hal_random(&board, b, sizeof b);
  assert_memory_not_equal(a, b, sizeof a);
  hal_random(&board, NULL, 0);
}

static void test_config_errors(void **state)
{
  (void)state;
  struct sim_board_config bc;
  config(&bc);
  static struct hal_port b;
  bc.clock = NULL;
  assert_int_equal(sim_board_init(&b, &bc), FARM_EINVAL);
  config(&bc);
  bc.channel = 0;
  assert_int_equal(sim_board_init(&b, &bc), FARM_EINVAL);
  config(&bc);
  char huge[SIM_PATH_MAX];
  memset(huge, 'd', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  bc.state_dir = huge;
  assert_int_equal(sim_board_init(&b, &bc), FARM_EINVAL);
  config(&bc);
  bc.state_dir = "/nonexistent-dir-for-test"; /* no file yet: fine */
  assert_int_equal(sim_board_init(&b, &bc), 0);
  /* But a commit there cannot be written. */
  assert_int_equal(hal_nvs_set_u32(&b, "k", 1), 0);
  assert_int_equal(hal_nvs_commit(&b), FARM_EIO);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_uptime_and_wall_clock, setup),
      cmocka_unit_test_setup(test_adc_and_gpio, setup),
      cmocka_unit_test_setup(test_serial_pipe, setup),
      cmocka_unit_test_setup(test_log, setup),
      cmocka_unit_test_setup(test_random_is_seeded, setup),
      cmocka_unit_test_setup(test_config_errors, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
