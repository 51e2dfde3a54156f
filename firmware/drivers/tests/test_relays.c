/* SPDX-License-Identifier: MIT */
/*
 * Relay bank on simulated GPIO: boot state and active-low wiring,
 * interlocks, leases ending at the exact millisecond, the safe state, the
 * change reports, and config validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/relays.h"
#include "farm/error.h"
#include "sim/board.h"

static struct sim_clock clk;
static struct hal_port board;
static struct relays_config cfg;
static struct relays bank;

struct change {
  uint8_t ch;
  bool on;
  enum relays_cause cause;
  uint8_t state_seen;
};
static struct change changes[32];
static size_t nchanges;

static void on_change(void *ctx, uint8_t ch, bool on, enum relays_cause cause)
{
  struct relays *r = ctx;
  assert_true(nchanges < 32);
  changes[nchanges++] = (struct change){ch, on, cause, relays_state(r)};
}

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 0);
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  bc.clock = &clk;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(&board, &bc), 0);
  sim_clock_advance(&clk, 10000);

  memset(&cfg, 0, sizeof cfg);
  cfg.count = 6;
  for (uint8_t ch = 0; ch < 6; ch++)
    cfg.gpio[ch] = (uint8_t)(10 + ch);
  cfg.active_low = 0x02; /* channel 1's driver inverts */
  cfg.boot_on = 0x05;    /* channels 0 and 2 */
  cfg.safe_on = 0x10;    /* channel 4 (ventilation) stays on when safe */
  cfg.interlock_count = 2;
  cfg.interlocks[0] = (struct relays_interlock){0, 1};
  cfg.interlocks[1] = (struct relays_interlock){2, 3};
  nchanges = 0;
  return 0;
}

static void init_bank(void)
{
  assert_int_equal(relays_init(&bank, &board, &cfg, on_change, &bank), 0);
}

static void test_boot_state(void **state)
{
  (void)state;
  init_bank();
  assert_int_equal(relays_state(&bank), 0x05);
  assert_true(sim_board_gpio(&board, 10));  /* ch0 on, active high */
  assert_true(sim_board_gpio(&board, 11));  /* ch1 off, active low: high */
  assert_true(sim_board_gpio(&board, 12));  /* ch2 on */
  assert_false(sim_board_gpio(&board, 13)); /* ch3..5 off */
  assert_false(sim_board_gpio(&board, 14));
  assert_false(sim_board_gpio(&board, 15));
  /* Every output driven once, whatever its level was. */
  for (uint8_t out = 10; out < 16; out++)
    assert_int_equal(sim_board_gpio_writes(&board, out), 1);
  assert_int_equal(nchanges, 0); /* the boot state is not a change */
  for (uint8_t ch = 0; ch < 6; ch++)
    assert_int_equal(relays_lease_end(&bank, ch), 0);
}

static void test_switching_and_reports(void **state)
{
  (void)state;
  init_bank();
  assert_int_equal(relays_set(&bank, 0, false, 0), 0);
  assert_false(sim_board_gpio(&board, 10));
  assert_int_equal(relays_set(&bank, 1, true, 0), 0);
  assert_false(sim_board_gpio(&board, 11)); /* active low: on is low */
  assert_true(relays_is_on(&bank, 1));
  assert_int_equal(nchanges, 2);
  assert_int_equal(changes[0].ch, 0);
  assert_false(changes[0].on);
  assert_int_equal(changes[0].cause, RELAYS_CAUSE_COMMAND);
  assert_int_equal(changes[0].state_seen, 0x04); /* reported after the change */
  assert_int_equal(changes[1].ch, 1);
  assert_true(changes[1].on);
  assert_int_equal(changes[1].state_seen, 0x06);

  /* Setting the state it already has writes nothing and reports nothing. */
  uint32_t writes = sim_board_gpio_writes(&board, 11);
  assert_int_equal(relays_set(&bank, 1, true, 0), 0);
  assert_int_equal(sim_board_gpio_writes(&board, 11), writes);
  assert_int_equal(nchanges, 2);
}

static void test_interlock(void **state)
{
  (void)state;
  init_bank(); /* ch0 and ch2 on */
  uint32_t writes = sim_board_gpio_writes(&board, 11);
  assert_int_equal(relays_set(&bank, 1, true, 0), FARM_EBUSY);
  assert_int_equal(relays_set(&bank, 3, true, 5000), FARM_EBUSY);
  assert_int_equal(relays_state(&bank), 0x05); /* nothing changed */
  assert_int_equal(sim_board_gpio_writes(&board, 11), writes);
  assert_int_equal(relays_lease_end(&bank, 3), 0);
  assert_int_equal(nchanges, 0);
  /* Channel 1 is not interlocked with 2 or 3. */
  assert_int_equal(relays_set(&bank, 0, false, 0), 0);
  assert_int_equal(relays_set(&bank, 1, true, 0), 0);
  assert_int_equal(relays_set(&bank, 0, true, 0), FARM_EBUSY);
}

static void test_lease_ends_at_the_exact_ms(void **state)
{
  (void)state;
  init_bank();
  uint64_t t0 = hal_clock_ms(&board);
  assert_int_equal(relays_set(&bank, 5, true, 5000), 0);
  assert_int_equal(relays_lease_end(&bank, 5), t0 + 5000);
  uint64_t at = 0;
  assert_true(relays_next_deadline(&bank, &at));
  assert_int_equal(at, t0 + 5000);

  assert_int_equal(relays_tick(&bank, t0 + 4999), 0);
  assert_true(relays_is_on(&bank, 5));
  assert_int_equal(relays_tick(&bank, t0 + 5000), 0);
  assert_false(relays_is_on(&bank, 5));
  assert_false(sim_board_gpio(&board, 15));
  assert_int_equal(relays_lease_end(&bank, 5), 0);
  assert_false(relays_next_deadline(&bank, &at));
  assert_int_equal(nchanges, 2);
  assert_int_equal(changes[1].ch, 5);
  assert_false(changes[1].on);
  assert_int_equal(changes[1].cause, RELAYS_CAUSE_LEASE);
  /* Ended once: later ticks change nothing. */
  assert_int_equal(relays_tick(&bank, t0 + 9000), 0);
  assert_int_equal(nchanges, 2);
}

static void test_new_command_replaces_lease(void **state)
{
  (void)state;
  init_bank();
  uint64_t t0 = hal_clock_ms(&board);
  assert_int_equal(relays_set(&bank, 4, true, 1000), 0);
  assert_int_equal(relays_set(&bank, 5, true, 3000), 0);
  sim_clock_advance(&clk, 500);
  assert_int_equal(relays_set(&bank, 4, true, 2000), 0); /* extended */
  assert_int_equal(relays_lease_end(&bank, 4), t0 + 2500);
  uint64_t at;
  assert_true(relays_next_deadline(&bank, &at));
  assert_int_equal(at, t0 + 2500);
  assert_int_equal(relays_set(&bank, 5, true, 0), 0); /* made permanent */
  assert_int_equal(relays_lease_end(&bank, 5), 0);
  assert_int_equal(relays_tick(&bank, t0 + 1000), 0);
  assert_true(relays_is_on(&bank, 4)); /* the old end no longer counts */
  assert_int_equal(relays_tick(&bank, t0 + 10000), 0);
  assert_false(relays_is_on(&bank, 4));
  assert_true(relays_is_on(&bank, 5));
  /* Off clears a lease. */
  assert_int_equal(relays_set(&bank, 3, false, 0), 0);
  assert_int_equal(relays_set(&bank, 1, false, 0), 0);
}

static void test_argument_errors(void **state)
{
  (void)state;
  init_bank();
  assert_int_equal(relays_set(&bank, 6, true, 0), FARM_ERANGE); /* relay 7 of 6 */
  assert_int_equal(relays_set(&bank, 255, false, 0), FARM_ERANGE);
  assert_int_equal(relays_set(&bank, 5, false, 1000), FARM_EINVAL);
  assert_false(relays_is_on(&bank, 6));
  assert_int_equal(relays_lease_end(&bank, 7), 0);
  assert_int_equal(nchanges, 0);
}

static void test_safe_state(void **state)
{
  (void)state;
  init_bank();
  assert_int_equal(relays_set(&bank, 5, true, 60000), 0);
  nchanges = 0;
  assert_int_equal(relays_safe(&bank), 0);
  assert_int_equal(relays_state(&bank), 0x10);
  assert_true(sim_board_gpio(&board, 14));
  assert_false(sim_board_gpio(&board, 10));
  assert_false(sim_board_gpio(&board, 12));
  assert_false(sim_board_gpio(&board, 15));
  assert_true(sim_board_gpio(&board, 11)); /* active-low channel off */
  uint64_t at;
  assert_false(relays_next_deadline(&bank, &at)); /* leases gone */
  /* Offs first (0, 2, 5), then ons (4), each reported as SAFE. */
  assert_int_equal(nchanges, 4);
  const uint8_t order[] = {0, 2, 5, 4};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(changes[i].ch, order[i]);
    assert_int_equal(changes[i].on, i == 3);
    assert_int_equal(changes[i].cause, RELAYS_CAUSE_SAFE);
  }
  /* Already safe: nothing more happens. */
  assert_int_equal(relays_safe(&bank), 0);
  assert_int_equal(nchanges, 4);
}

static void test_all_off_safe_state(void **state)
{
  (void)state;
  cfg.safe_on = 0;
  init_bank();
  assert_int_equal(relays_safe(&bank), 0);
  assert_int_equal(relays_state(&bank), 0);
  for (uint8_t out = 10; out < 16; out++)
    assert_int_equal(sim_board_gpio(&board, out), out == 11); /* ch1 active low */
}

static void test_gpio_failure_changes_nothing(void **state)
{
  (void)state;
  cfg.gpio[5] = SIM_GPIO_OUTPUTS; /* the board has no such output */
  assert_int_equal(relays_init(&bank, &board, &cfg, on_change, &bank), FARM_EINVAL);
  assert_int_equal(relays_state(&bank), 0x05); /* the others were driven */
  assert_int_equal(relays_set(&bank, 5, true, 1000), FARM_EINVAL);
  assert_false(relays_is_on(&bank, 5));
  assert_int_equal(relays_lease_end(&bank, 5), 0);
  assert_int_equal(nchanges, 0);
}

static void test_stuck_output_keeps_interlock_and_lease(void **state)
{
  (void)state;
  cfg.safe_on = 0x02; /* safe: channel 1 on, but it is interlocked with 0 */
  init_bank();        /* channel 0 on */
  assert_int_equal(sim_board_gpio_fail(&board, 10, FARM_EIO), 0);
  /* Channel 0 cannot go off, so channel 1 must not come on. */
  assert_int_equal(relays_safe(&bank), FARM_EIO);
  assert_true(relays_is_on(&bank, 0));
  assert_false(relays_is_on(&bank, 1));
  assert_true(sim_board_gpio(&board, 11)); /* ch1 active low: still off */
  assert_false(relays_is_on(&bank, 2));    /* the others did go safe */

  /* A lease whose output fails to switch is retried at the next tick. */
  uint64_t t0 = hal_clock_ms(&board);
  assert_int_equal(sim_board_gpio_fail(&board, 10, 0), 0);
  assert_int_equal(relays_set(&bank, 0, true, 100), 0);
  assert_int_equal(sim_board_gpio_fail(&board, 10, FARM_EIO), 0);
  assert_int_equal(relays_tick(&bank, t0 + 100), FARM_EIO);
  assert_true(relays_is_on(&bank, 0));
  assert_int_equal(relays_lease_end(&bank, 0), t0 + 100);
  assert_int_equal(sim_board_gpio_fail(&board, 10, 0), 0);
  nchanges = 0;
  assert_int_equal(relays_tick(&bank, t0 + 101), 0);
  assert_false(relays_is_on(&bank, 0));
  assert_int_equal(nchanges, 1);
  assert_int_equal(changes[0].cause, RELAYS_CAUSE_LEASE);
}

static void test_validation(void **state)
{
  (void)state;
  struct relays_config c = cfg;
  assert_int_equal(relays_validate(&c), 0);
  c.count = 0;
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c.count = RELAYS_MAX + 1;
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.gpio[3] = c.gpio[1];
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.boot_on = 0x40; /* channel 6 of 6 */
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.interlocks[1] = (struct relays_interlock){3, 3};
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.interlocks[1] = (struct relays_interlock){2, 6};
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.interlock_count = RELAYS_MAX_INTERLOCKS + 1;
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.boot_on = 0x03; /* 0 and 1 interlocked */
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c = cfg;
  c.safe_on = 0x0c; /* 2 and 3 interlocked */
  assert_int_equal(relays_validate(&c), FARM_EINVAL);
  c.safe_on = 0x0c;
  assert_int_equal(relays_init(&bank, &board, &c, NULL, NULL), FARM_EINVAL);
  /* Eight channels is the most. */
  c = cfg;
  c.count = 8;
  c.gpio[6] = 0;
  c.gpio[7] = 1;
  c.boot_on = 0x80;
  assert_int_equal(relays_validate(&c), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_boot_state, setup),
      cmocka_unit_test_setup(test_switching_and_reports, setup),
      cmocka_unit_test_setup(test_interlock, setup),
      cmocka_unit_test_setup(test_lease_ends_at_the_exact_ms, setup),
      cmocka_unit_test_setup(test_new_command_replaces_lease, setup),
      cmocka_unit_test_setup(test_argument_errors, setup),
      cmocka_unit_test_setup(test_safe_state, setup),
      cmocka_unit_test_setup(test_all_off_safe_state, setup),
      cmocka_unit_test_setup(test_gpio_failure_changes_nothing, setup),
      cmocka_unit_test_setup(test_stuck_output_keeps_interlock_and_lease, setup),
      cmocka_unit_test_setup(test_validation, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
