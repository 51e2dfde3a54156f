/* SPDX-License-Identifier: MIT */
/* farmctl's admin helpers: k=v arguments typed as the API expects them,
 * relative times, and the aligned tables (with control characters from the
 * network kept off the terminal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd_admin.h"
#include "farm/error.h"

static void test_kv(void **state)
{
  (void)state;
  json_t *o = json_object();
  char why[160];
  assert_int_equal(admin_parse_kv("ch=2", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("on=true", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("off=false", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("t=-12.5", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("name=lux", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("mac=a1b2c3d4e5f6", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("empty=", o, why, sizeof why), 0);
  assert_int_equal(admin_parse_kv("big=99999999999999999999", o, why, sizeof why), 0);
  assert_true(json_is_integer(json_object_get(o, "ch")));
  assert_int_equal(json_integer_value(json_object_get(o, "ch")), 2);
  assert_true(json_is_true(json_object_get(o, "on")));
  assert_true(json_is_false(json_object_get(o, "off")));
  assert_true(json_real_value(json_object_get(o, "t")) == -12.5);
  assert_string_equal(json_string_value(json_object_get(o, "name")), "lux");
  assert_string_equal(json_string_value(json_object_get(o, "mac")), "a1b2c3d4e5f6");
  assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
  assert_true(json_is_real(json_object_get(o, "big"))); /* beyond int64: a number still */
  assert_int_equal(admin_parse_kv("novalue", o, why, sizeof why), FARM_EINVAL);
  assert_int_equal(admin_parse_kv("=x", o, why, sizeof why), FARM_EINVAL);
  json_decref(o);
}

static void test_times(void **state)
{
  (void)state;
  int64_t t;
  assert_int_equal(admin_parse_time("now", 1000000, &t), 0);
  assert_int_equal(t, 1000000);
  assert_int_equal(admin_parse_time("-90s", 1000000, &t), 0);
  assert_int_equal(t, 910000);
  assert_int_equal(admin_parse_time("-2h", 10000000, &t), 0);
  assert_int_equal(t, 10000000 - 7200000);
  assert_int_equal(admin_parse_time("-1d", 86400000, &t), 0);
  assert_int_equal(t, 0);
  assert_int_equal(admin_parse_time("1732600000000", 0, &t), 0);
  assert_int_equal(t, 1732600000000LL);
  assert_int_equal(admin_parse_time("-5w", 0, &t), FARM_EINVAL);
  assert_int_equal(admin_parse_time("-h", 0, &t), FARM_EINVAL);
  assert_int_equal(admin_parse_time("12x", 0, &t), FARM_EINVAL);
  assert_int_equal(admin_parse_time("", 0, &t), FARM_EINVAL);
  assert_int_equal(admin_parse_time("-99999999999999999d", 0, &t), FARM_EINVAL);
}

static void test_table(void **state)
{
  (void)state;
  json_t *rows = json_loads("[{\"device\":\"a1b2c3d4e5f6\",\"online\":true,\"rssi\":-61,"
                            "\"latest\":{\"temp_c\":{\"ts\":1,\"value\":21.5}},\"fw\":null},"
                            "{\"device\":\"x\",\"online\":false,\"rssi\":null,"
                            "\"latest\":{},\"fw\":\"bad\\u001b[2Jname\"}]",
                            0, NULL);
  assert_non_null(rows);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  const char *cols[] = {"device", "online", "rssi", "latest", "fw"};
  admin_table(f, rows, cols, 5);
  fclose(f);
  assert_string_equal(buf,
                      "DEVICE        ONLINE  RSSI  LATEST       FW\n"
                      "a1b2c3d4e5f6  yes     -61   temp_c=21.5  -\n"
                      "x             no      -                  bad?[2Jname\n");
  free(buf);
  json_decref(rows);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kv),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
