/* SPDX-License-Identifier: MIT */
/* Logging: levels, line format, the token-bucket rate limiter and escaping
 * of untrusted bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "farmd/log.h"

static void test_levels_and_format(void **state)
{
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  struct fd_log lg;
  fd_log_init(&lg, "prog", FD_LOG_INFO, mem);
  lg.journal = false;
  fd_log(&lg, FD_LOG_DEBUG, "hidden %d", 1);
  fd_log(&lg, FD_LOG_WARN, "shown %d", 2);
  fclose(mem);
  assert_null(strstr(buf, "hidden"));
  /* "YYYY-MM-DDTHH:MM:SS.mmmZ prog[pid] warn: shown 2\n" */
  assert_int_equal(buf[4], '-');
  assert_int_equal(buf[10], 'T');
  assert_int_equal(buf[23], 'Z');
  assert_non_null(strstr(buf, " prog["));
  assert_non_null(strstr(buf, "] warn: shown 2\n"));
  free(buf);

  buf = NULL;
  mem = open_memstream(&buf, &len);
  fd_log_init(&lg, "prog", FD_LOG_DEBUG, mem);
  lg.journal = true;
  fd_log(&lg, FD_LOG_ERROR, "bad");
  fclose(mem);
  assert_string_equal(buf, "<3>bad\n");
  free(buf);
}

static void test_level_parse(void **state)
{
  (void)state;
  enum fd_log_level l;
  assert_int_equal(fd_log_level_parse("debug", &l), 0);
  assert_int_equal(l, FD_LOG_DEBUG);
  assert_int_equal(fd_log_level_parse("warn", &l), 0);
  assert_int_equal(l, FD_LOG_WARN);
  assert_int_equal(fd_log_level_parse("verbose", &l), FARM_EINVAL);
}

static void test_ratelimit(void **state)
{
  (void)state;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(3, 1000);
  uint64_t sup = 99;
  int64_t t = 5000;
  /* A burst of three passes, the rest are counted. */
  for (int i = 0; i < 3; i++) {
    assert_true(fd_ratelimit_allow(&rl, t, &sup));
    assert_int_equal(sup, 0);
  }
  for (int i = 0; i < 10; i++)
    assert_false(fd_ratelimit_allow(&rl, t + i, &sup));
  /* One token comes back every interval/burst = 333 ms. */
  assert_false(fd_ratelimit_allow(&rl, t + 300, &sup));
  assert_true(fd_ratelimit_allow(&rl, t + 340, &sup));
  assert_int_equal(sup, 11);
  assert_false(fd_ratelimit_allow(&rl, t + 341, &sup));
  /* After a long quiet spell the bucket is full again, not fuller. */
  for (int i = 0; i < 3; i++)
    assert_true(fd_ratelimit_allow(&rl, t + 100000, &sup));
  assert_false(fd_ratelimit_allow(&rl, t + 100000, &sup));
}

static void test_rl_log_reports_suppressed(void **state)
{
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  struct fd_log lg;
  fd_log_init(&lg, "p", FD_LOG_INFO, mem);
  lg.journal = true;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(2, 60000);
  for (int i = 0; i < 1000; i++)
    fd_log_rl(&lg, &rl, FD_LOG_WARN, "bad input %d", i);
  /* Force a token back as if the interval had passed. */
  rl.tokens = 1.0;
  fd_log_rl(&lg, &rl, FD_LOG_WARN, "bad input again");
  fclose(mem);
  assert_string_equal(buf, "<4>bad input 0\n<4>bad input 1\n"
                           "<4>bad input again (998 similar lines suppressed)\n");
  free(buf);
}

static void test_escape(void **state)
{
  (void)state;
  char out[32];
  assert_string_equal(fd_log_escape("abc", 3, out, sizeof out), "abc");
  assert_string_equal(fd_log_escape("a\nb\x00\xff\\", 6, out, sizeof out),
                      "a\\x0ab\\x00\\xff\\\\");
  char small[8];
  assert_string_equal(fd_log_escape("0123456789", 10, small, sizeof small), "0123...");
  assert_string_equal(fd_log_escape("0123456", 7, small, sizeof small), "0123456");
  assert_string_equal(fd_log_escape("\x01\x02", 2, small, sizeof small), "\\x01...");
  char tiny[3];
  assert_string_equal(fd_log_escape("abcdef", 6, tiny, sizeof tiny), "..");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_levels_and_format),
      cmocka_unit_test(test_level_parse),
      cmocka_unit_test(test_ratelimit),
      cmocka_unit_test(test_rl_log_reports_suppressed),
      cmocka_unit_test(test_escape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
