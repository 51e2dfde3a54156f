/* SPDX-License-Identifier: MIT */
/* Strict JSON parsing and typed getters: every refusal has its own code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "farmd/json.h"

static int parse(const char *s, json_t **v)
{
  char why[128];
  return fd_json_parse(s, strlen(s), 1024, v, why, sizeof why);
}

static void test_parse_refusals(void **state)
{
  (void)state;
  json_t *v;
  assert_int_equal(parse("", &v), FARM_EEMPTY);
  assert_int_equal(parse("not json", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":1", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":1} x", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":1,\"a\":2}", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":\"x\\u0000y\"}", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":\"\xff\"}", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":NaN}", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":1e999}", &v), FARM_EMALFORMED);
  assert_int_equal(parse("{\"a\":123456789012345678901234567890}", &v), FARM_EMALFORMED);
  assert_int_equal(parse("[1,2]", &v), FARM_ETYPE);
  assert_int_equal(parse("42", &v), FARM_EMALFORMED); /* jansson wants an array or object */
  assert_null(v);
  char big[2000];
  memset(big, ' ', sizeof big);
  big[0] = '{';
  big[sizeof big - 2] = '}';
  big[sizeof big - 1] = '\0';
  assert_int_equal(parse(big, &v), FARM_ETOOBIG);
  /* Embedded NUL byte in the buffer, outside any string. */
  char why[128];
  assert_int_equal(fd_json_parse("{}\0{}", 5, 1024, &v, why, sizeof why), FARM_EMALFORMED);
}

static void test_getters(void **state)
{
  (void)state;
  json_t *o;
  assert_int_equal(parse("{\"i\":42,\"neg\":-5,\"f\":21.5,\"b\":true,\"s\":\"hi\","
                         "\"n\":null,\"e\":\"\",\"fi\":2.0}",
                         &o),
                   0);
  int64_t i;
  double d;
  bool b;
  const char *s;
  assert_int_equal(fd_json_get_i64(o, "i", true, 0, 100, -1, &i), 0);
  assert_int_equal(i, 42);
  assert_int_equal(fd_json_get_i64(o, "neg", true, 0, 100, -1, &i), FARM_ERANGE);
  assert_int_equal(fd_json_get_i64(o, "f", true, 0, 100, -1, &i), FARM_ETYPE);
  assert_int_equal(fd_json_get_i64(o, "fi", true, 0, 100, -1, &i), FARM_ETYPE);
  assert_int_equal(fd_json_get_i64(o, "s", true, 0, 100, -1, &i), FARM_ETYPE);
  assert_int_equal(fd_json_get_i64(o, "missing", true, 0, 100, -1, &i), FARM_EMISSING);
  assert_int_equal(fd_json_get_i64(o, "missing", false, 0, 100, 7, &i), 0);
  assert_int_equal(i, 7);
  assert_int_equal(fd_json_get_i64(o, "n", false, 0, 100, 8, &i), 0);
  assert_int_equal(i, 8);
  assert_int_equal(fd_json_get_i64(o, "n", true, 0, 100, 8, &i), FARM_EMISSING);

  assert_int_equal(fd_json_get_f64(o, "f", true, -40, 125, 0, &d), 0);
  assert_true(d == 21.5);
  assert_int_equal(fd_json_get_f64(o, "i", true, -40, 125, 0, &d), 0);
  assert_true(d == 42.0);
  assert_int_equal(fd_json_get_f64(o, "f", true, -40, 20, 0, &d), FARM_ERANGE);
  assert_int_equal(fd_json_get_f64(o, "b", true, -40, 20, 0, &d), FARM_ETYPE);

  assert_int_equal(fd_json_get_bool(o, "b", true, false, &b), 0);
  assert_true(b);
  assert_int_equal(fd_json_get_bool(o, "i", true, false, &b), FARM_ETYPE);
  assert_int_equal(fd_json_get_bool(o, "missing", false, true, &b), 0);
  assert_true(b);

  assert_int_equal(fd_json_get_str(o, "s", true, 10, NULL, &s), 0);
  assert_string_equal(s, "hi");
  assert_int_equal(fd_json_get_str(o, "s", true, 1, NULL, &s), FARM_ERANGE);
  assert_int_equal(fd_json_get_str(o, "e", true, 10, NULL, &s), FARM_ERANGE);
  assert_int_equal(fd_json_get_str(o, "i", true, 10, NULL, &s), FARM_ETYPE);
  assert_int_equal(fd_json_get_str(o, "missing", false, 10, "dflt", &s), 0);
  assert_string_equal(s, "dflt");

  char *text = fd_json_dump(o);
  assert_non_null(text);
  assert_string_equal(text, "{\"i\":42,\"neg\":-5,\"f\":21.5,\"b\":true,\"s\":\"hi\","
                            "\"n\":null,\"e\":\"\",\"fi\":2.0}");
  free(text);
  json_decref(o);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_refusals),
      cmocka_unit_test(test_getters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
