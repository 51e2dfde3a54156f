/* SPDX-License-Identifier: MIT */
/* The error table: every code has a distinct message and name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"

static const int all_codes[] = {
#define CODE(name, value, msg) FARM_##name,
    FARM_ERRNO_MAP(CODE)
#undef CODE
};

static void test_every_code_is_negative_and_named(void **state)
{
  (void)state;
  size_t n = sizeof all_codes / sizeof all_codes[0];
  for (size_t i = 0; i < n; i++) {
    assert_true(all_codes[i] < 0);
    assert_string_not_equal(farm_strerror(all_codes[i]), "unknown error");
    assert_string_not_equal(farm_errname(all_codes[i]), "FARM_E?");
    for (size_t j = i + 1; j < n; j++) {
      assert_int_not_equal(all_codes[i], all_codes[j]);
      assert_string_not_equal(farm_strerror(all_codes[i]), farm_strerror(all_codes[j]));
    }
  }
}

static void test_known_and_unknown_codes(void **state)
{
  (void)state;
  assert_string_equal(farm_strerror(0), "success");
  assert_string_equal(farm_strerror(FARM_ECRC), "checksum mismatch");
  assert_string_equal(farm_errname(FARM_ECRC), "FARM_ECRC");
  assert_string_equal(farm_strerror(-9999), "unknown error");
  assert_string_equal(farm_errname(12345), "FARM_E?");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_is_negative_and_named),
      cmocka_unit_test(test_known_and_unknown_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
