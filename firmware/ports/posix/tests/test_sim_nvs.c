/* SPDX-License-Identifier: MIT */
/*
 * Simulated NVS: the typed get/set contract of hal.h, staged sets lost and
 * committed ones kept across a simulated reboot, persistence to a state
 * directory across a whole new process's worth of board, the atomic file
 * replacement, a damaged file refused, and storage running full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "farm/error.h"
#include "sim/board.h"

static struct sim_clock clk;
static struct hal_port board;
static char dir[256];

static void board_up(struct hal_port *b, const char *state_dir)
{
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  bc.mac[5] = 0x42;
  bc.clock = &clk;
  bc.state_dir = state_dir;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(b, &bc), 0);
}

static int setup(void **state)
{
  (void)state;
  sim_clock_init(&clk, 0);
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/simnvs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/020000000042.nvs", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/020000000042.nvs.tmp", dir);
  unlink(path);
  rmdir(dir);
  return 0;
}

static void write_text(const char *text)
{
  char path[512];
  snprintf(path, sizeof path, "%s/020000000042.nvs", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_typed_values(void **state)
{
  (void)state;
  board_up(&board, NULL);
  uint32_t v = 0;
  assert_int_equal(hal_nvs_get_u32(&board, "boot", &v), FARM_ENOENT);
  assert_int_equal(hal_nvs_set_u32(&board, "boot", 7), 0);
  assert_int_equal(hal_nvs_get_u32(&board, "boot", &v), 0); /* staged sets are visible */
  assert_int_equal(v, 7);
  assert_int_equal(hal_nvs_set_u32(&board, "boot", 0xffffffffu), 0);
  assert_int_equal(hal_nvs_get_u32(&board, "boot", &v), 0);
  assert_int_equal(v, 0xffffffffu);

  uint8_t buf[8];
  size_t len = 0;
  assert_int_equal(hal_nvs_set_blob(&board, "asset", "north-2", 7), 0);
  assert_int_equal(hal_nvs_get_blob(&board, "asset", buf, sizeof buf, &len), 0);
  assert_int_equal(len, 7);
  assert_memory_equal(buf, "north-2", 7);
  /* Too small: the size needed comes back. */
  len = 0;
  assert_int_equal(hal_nvs_get_blob(&board, "asset", buf, 3, &len), FARM_ENOSPC);
  assert_int_equal(len, 7);
  assert_int_equal(hal_nvs_get_blob(&board, "asset", NULL, 0, &len), FARM_ENOSPC);
  /* Types are kept apart. */
  assert_int_equal(hal_nvs_get_u32(&board, "asset", &v), FARM_ETYPE);
  assert_int_equal(hal_nvs_get_blob(&board, "boot", buf, sizeof buf, &len), FARM_ETYPE);
  /* A set of another type replaces the value. */
  assert_int_equal(hal_nvs_set_u32(&board, "asset", 5), 0);
  assert_int_equal(hal_nvs_get_u32(&board, "asset", &v), 0);
  assert_int_equal(v, 5);
  /* Empty blobs exist. */
  assert_int_equal(hal_nvs_set_blob(&board, "empty", NULL, 0), 0);
  assert_int_equal(hal_nvs_get_blob(&board, "empty", NULL, 0, &len), 0);
  assert_int_equal(len, 0);

  assert_int_equal(hal_nvs_erase(&board, "boot"), 0);
  assert_int_equal(hal_nvs_erase(&board, "boot"), FARM_ENOENT);
  assert_int_equal(hal_nvs_get_u32(&board, "boot", &v), FARM_ENOENT);
}

static void test_keys(void **state)
{
  (void)state;
  board_up(&board, NULL);
  assert_int_equal(hal_nvs_set_u32(&board, "", 1), FARM_EINVAL);
  assert_int_equal(hal_nvs_set_u32(&board, "fifteen_chars_x", 1), 0); /* 15: the limit */
  assert_int_equal(hal_nvs_set_u32(&board, "sixteen_chars_xx", 1), FARM_EINVAL);
  assert_int_equal(hal_nvs_set_blob(&board, "with space", "x", 1), FARM_EINVAL);
  assert_int_equal(hal_nvs_set_u32(&board, "line\nfeed", 1), FARM_EINVAL);
  uint32_t v;
  assert_int_equal(hal_nvs_get_u32(&board, "sixteen_chars_xx", &v), FARM_ENOENT);
  assert_int_equal(hal_nvs_erase(&board, ""), FARM_ENOENT);
}

static void test_staged_sets_lost_at_reboot(void **state)
{
  (void)state;
  board_up(&board, NULL);
  assert_int_equal(hal_nvs_set_u32(&board, "kept", 1), 0);
  assert_int_equal(hal_nvs_commit(&board), 0);
  assert_int_equal(hal_nvs_set_u32(&board, "kept", 2), 0);
  assert_int_equal(hal_nvs_set_u32(&board, "staged", 3), 0);
  assert_int_equal(hal_nvs_erase(&board, "kept"), 0);
  hal_reboot(&board);
  sim_board_restart(&board);
  uint32_t v = 0;
  assert_int_equal(hal_nvs_get_u32(&board, "kept", &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(hal_nvs_get_u32(&board, "staged", &v), FARM_ENOENT);
  assert_int_equal(sim_board_nvs_commits(&board), 1);
  assert_string_equal(sim_board_nvs_path(&board), "");
}

static void test_persisted_across_processes(void **state)
{
  (void)state;
  board_up(&board, dir);
  char want[512];
  snprintf(want, sizeof want, "%s/020000000042.nvs", dir);
  assert_string_equal(sim_board_nvs_path(&board), want);
  assert_int_equal(access(want, F_OK), -1); /* nothing until a commit */

  assert_int_equal(hal_nvs_set_u32(&board, "boot", 12), 0);
  assert_int_equal(hal_nvs_set_blob(&board, "mac", "\x00\xff\x10", 3), 0);
  assert_int_equal(hal_nvs_commit(&board), 0);
  assert_int_equal(hal_nvs_set_u32(&board, "boot", 13), 0); /* never committed */
  assert_int_equal(access(want, F_OK), 0);
  char tmp[520];
  snprintf(tmp, sizeof tmp, "%s.tmp", want);
  assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */

  /* The file is the documented text. */
  FILE *f = fopen(want, "r");
  assert_non_null(f);
  char text[256] = {0};
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  assert_true(n > 0);
  assert_string_equal(text, "iotferme-nvs 1\nu32 boot 12\nblob mac 00ff10\n");

  /* A new simulator run: a fresh board struct, same MAC and state dir. */
  static struct hal_port later;
  board_up(&later, dir);
  uint32_t v = 0;
  assert_int_equal(hal_nvs_get_u32(&later, "boot", &v), 0);
  assert_int_equal(v, 12);
  uint8_t mac[4];
  size_t len = 0;
  assert_int_equal(hal_nvs_get_blob(&later, "mac", mac, sizeof mac, &len), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(mac, "\x00\xff\x10", 3);
  /* And what it loaded is also what survives its own reboot. */
  assert_int_equal(hal_nvs_set_u32(&later, "boot", 99), 0);
  sim_board_restart(&later);
  assert_int_equal(hal_nvs_get_u32(&later, "boot", &v), 0);
  assert_int_equal(v, 12);
}

static void test_commit_failure(void **state)
{
  (void)state;
  board_up(&board, dir);
  assert_int_equal(hal_nvs_set_u32(&board, "a", 1), 0);
  sim_board_nvs_fail_next(&board, FARM_EIO);
  assert_int_equal(hal_nvs_commit(&board), FARM_EIO);
  assert_int_equal(sim_board_nvs_commits(&board), 0);
  sim_board_restart(&board);
  uint32_t v;
  assert_int_equal(hal_nvs_get_u32(&board, "a", &v), FARM_ENOENT);
  sim_board_nvs_fail_next(&board, FARM_ENOSPC);
  assert_int_equal(hal_nvs_set_u32(&board, "a", 1), FARM_ENOSPC);
  assert_int_equal(hal_nvs_set_u32(&board, "a", 1), 0); /* once only */
}

static void test_damaged_files_refused(void **state)
{
  (void)state;
  static const char *bad[] = {
      "",                                         /* no magic */
      "iotferme-nvs 2\n",                         /* another version */
      "iotferme-nvs 1\nu32 boot 12",              /* cut mid-line */
      "iotferme-nvs 1\nu32 boot -1\n",            /* sign */
      "iotferme-nvs 1\nu32 boot 4294967296\n",    /* beyond u32 */
      "iotferme-nvs 1\nu32 boot 1 2\n",           /* extra field */
      "iotferme-nvs 1\nblob mac 0f0\n",           /* odd hex */
      "iotferme-nvs 1\nblob mac 0G\n",            /* not hex */
      "iotferme-nvs 1\nblob mac 0F\n",            /* we write lowercase */
      "iotferme-nvs 1\nu32 sixteen_chars_xx 1\n", /* key too long */
      "iotferme-nvs 1\nu32 a 1\nu32 a 2\n",       /* duplicate */
      "iotferme-nvs 1\nfloat a 1\n",              /* unknown type */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_text(bad[i]);
    struct sim_board_config bc;
    sim_board_config_default(&bc);
    bc.mac[5] = 0x42;
    bc.clock = &clk;
    bc.state_dir = dir;
    if (sim_board_init(&board, &bc) != FARM_EMALFORMED)
      fail_msg("case %zu accepted", i);
  }
  write_text("iotferme-nvs 1\nblob e -\nu32 z 0\n");
  board_up(&board, dir);
  size_t len = 1;
  assert_int_equal(hal_nvs_get_blob(&board, "e", NULL, 0, &len), 0);
  assert_int_equal(len, 0);
}

static void test_storage_full(void **state)
{
  (void)state;
  board_up(&board, NULL);
  static uint8_t big[SIM_NVS_BYTES];
  assert_int_equal(hal_nvs_set_blob(&board, "big", big, SIM_NVS_BYTES + 1), FARM_ENOSPC);
  assert_int_equal(hal_nvs_set_blob(&board, "big", big, SIM_NVS_BYTES - 4), 0);
  assert_int_equal(hal_nvs_set_u32(&board, "x", 1), 0);
  assert_int_equal(hal_nvs_set_u32(&board, "y", 1), FARM_ENOSPC);
  /* Replacing a value frees its old space first. */
  assert_int_equal(hal_nvs_set_blob(&board, "big", big, SIM_NVS_BYTES - 8), 0);
  assert_int_equal(hal_nvs_set_u32(&board, "y", 2), 0);
  uint32_t v = 0;
  assert_int_equal(hal_nvs_get_u32(&board, "x", &v), 0); /* moved, intact */
  assert_int_equal(v, 1);
  assert_int_equal(hal_nvs_erase(&board, "big"), 0);
  /* Entry count limit. */
  char key[8];
  for (int i = 2; i < SIM_NVS_ENTRIES; i++) {
    snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(hal_nvs_set_u32(&board, key, (uint32_t)i), 0);
  }
  assert_int_equal(hal_nvs_set_u32(&board, "one_more", 1), FARM_ENOSPC);
  assert_int_equal(hal_nvs_get_u32(&board, "k77", &v), 0);
  assert_int_equal(v, 77);
  assert_int_equal(hal_nvs_get_u32(&board, "y", &v), 0);
  assert_int_equal(v, 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_typed_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_staged_sets_lost_at_reboot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_persisted_across_processes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commit_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_files_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_storage_full, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
