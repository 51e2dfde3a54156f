/* SPDX-License-Identifier: MIT */
/*
 * The row and timestamp parsers: both timestamp forms pinned to known Unix
 * times, every kind of malformed row refused with its code and reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "ml/csv.h"

static int parse(const char *line, struct ml_csv_row *row)
{
  const char *why = NULL;
  int rc = ml_csv_parse_row(line, strlen(line), row, &why);
  if (rc != 0)
    assert_non_null(why);
  return rc;
}

static void test_timestamps(void **state)
{
  (void)state;
  int64_t us;
  /* 2014-07-01 00:00:00 UTC is Unix 1404172800 (NAB's nyc_taxi start). */
  assert_int_equal(ml_time_parse("2014-07-01 00:00:00", 19, &us), 0);
  assert_true(us == 1404172800LL * 1000000);
  assert_int_equal(ml_time_parse("2014-07-01T00:00:00.5Z", 22, &us), 0);
  assert_true(us == 1404172800LL * 1000000 + 500000);
  assert_int_equal(ml_time_parse("2014-04-10 07:15:00.000000", 26, &us), 0);
  assert_true(us == 1397114100LL * 1000000);
  assert_int_equal(ml_time_parse("1970-01-01 00:00:00", 19, &us), 0);
  assert_true(us == 0);
  assert_int_equal(ml_time_parse("2000-02-29 23:59:59", 19, &us), 0);
  assert_true(us == 951868799LL * 1000000);
  assert_int_equal(ml_time_parse("1404172800000", 13, &us), 0);
  assert_true(us == 1404172800LL * 1000000);

  assert_int_equal(ml_time_parse("", 0, &us), FARM_EMISSING);
  assert_int_equal(ml_time_parse("2014-02-29 00:00:00", 19, &us), FARM_ERANGE);
  assert_int_equal(ml_time_parse("2014-13-01 00:00:00", 19, &us), FARM_ERANGE);
  assert_int_equal(ml_time_parse("2014-01-01 24:00:00", 19, &us), FARM_ERANGE);
  assert_int_equal(ml_time_parse("2014-01-01 00:00:60", 19, &us), FARM_ERANGE);
  assert_int_equal(ml_time_parse("2014-01-01 00:00:00.", 20, &us), FARM_ETYPE);
  assert_int_equal(ml_time_parse("2014-01-01 00:00:00.1234567", 27, &us), FARM_ETYPE);
  assert_int_equal(ml_time_parse("2014-01-01 00:00:00+01", 22, &us), FARM_ETYPE);
  assert_int_equal(ml_time_parse("2014/01/01 00:00:00", 19, &us), FARM_ETYPE);
  assert_int_equal(ml_time_parse("-5", 2, &us), FARM_ETYPE);
  assert_int_equal(ml_time_parse("99999999999999999999", 20, &us), FARM_ERANGE);
}

static void test_good_rows(void **state)
{
  (void)state;
  struct ml_csv_row r;
  assert_true(ml_csv_is_header("timestamp,value", 15));
  assert_false(ml_csv_is_header("timestamp,value,x", 17));
  assert_false(ml_csv_is_header("Timestamp,value", 15));

  assert_int_equal(parse("2014-07-01 00:00:00,10844", &r), 0);
  assert_int_equal(r.ts_len, 19);
  assert_true(r.value == 10844.0);
  assert_int_equal(r.val_len, 5);
  assert_int_equal(parse("1404172800000,-1.5e-3", &r), 0);
  assert_true(r.value == -1.5e-3);
  assert_int_equal(parse("1404172800000,.5", &r), 0);
  assert_true(r.value == 0.5);
  assert_int_equal(parse("1404172800000,+7.", &r), 0);
  assert_true(r.value == 7.0);
  assert_int_equal(parse("1404172800000,1e-400", &r), 0); /* underflow: 0 */
  assert_true(r.value == 0.0);
}

static void test_bad_rows(void **state)
{
  (void)state;
  struct ml_csv_row r;
  static const struct {
    const char *line;
    int err;
  } bad[] = {
      {"", FARM_EEMPTY},
      {"2014-07-01 00:00:00", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,1,2", FARM_EMALFORMED},
      {",1", FARM_EMISSING},
      {"2014-07-01 00:00:00,", FARM_EMISSING},
      {"2014-07-01 00:00:00,abc", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,nan", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,inf", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,0x10", FARM_EMALFORMED},
      {"2014-07-01 00:00:00, 1", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,1e", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,-", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,1e999", FARM_ERANGE},
      {"2014-07-01 00:00:00,\"1\"", FARM_EMALFORMED},
      {"2014-07-01 00:00:00,1\t", FARM_EMALFORMED},
      {"yesterday,1", FARM_ETYPE},
      {"2014-02-30 00:00:00,1", FARM_ERANGE},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = parse(bad[i].line, &r);
    if (rc != bad[i].err)
      fail_msg("\"%s\": %d, expected %d", bad[i].line, rc, bad[i].err);
  }
  /* An embedded NUL is a control character, not the end of the line. */
  assert_int_equal(ml_csv_parse_row("1,2\0" "3", 5, &r, NULL), FARM_EMALFORMED);
  /* Over-long line and over-long number. */
  static char longline[ML_CSV_MAX_LINE + 2];
  memset(longline, '1', sizeof longline - 1);
  assert_int_equal(ml_csv_parse_row(longline, ML_CSV_MAX_LINE + 1, &r, NULL), FARM_ETOOBIG);
  char num[128] = "1,";
  memset(num + 2, '7', ML_CSV_MAX_NUMBER + 1);
  num[2 + ML_CSV_MAX_NUMBER + 1] = '\0';
  assert_int_equal(parse(num, &r), FARM_ETOOBIG);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timestamps),
      cmocka_unit_test(test_good_rows),
      cmocka_unit_test(test_bad_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
