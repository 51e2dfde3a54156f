/* SPDX-License-Identifier: MIT */
/*
 * `ml-engine detect` as a program (from FARM_BIN_DIR): header and one row
 * out per row in, values and timestamps copied verbatim, scores equal to
 * the library's, exit codes and "line N: reason" for malformed input, and
 * a run split in two with --checkpoint giving the same scores as one run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ml/detector.h"

static char dir[256];

/* Runs ml-engine detect with args on input; fills out/err; returns the
 * exit status. */
static int run(const char *args, const char *input, char *out, size_t cap,
               char *err, size_t ecap)
{
  const char *bin = getenv("FARM_BIN_DIR");
  assert_non_null(bin);
  char in_path[300], out_path[300], err_path[300], cmd[2048];
  snprintf(in_path, sizeof in_path, "%s/in.csv", dir);
  snprintf(out_path, sizeof out_path, "%s/out.csv", dir);
  snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
  FILE *f = fopen(in_path, "w");
  assert_non_null(f);
  fputs(input, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s/ml-engine' detect %s <'%s' >'%s' 2>'%s'", bin, args,
           in_path, out_path, err_path);
  int status = system(cmd);
  assert_true(WIFEXITED(status));
  f = fopen(out_path, "r");
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = '\0';
  fclose(f);
  f = fopen(err_path, "r");
  n = fread(err, 1, ecap - 1, f);
  err[n] = '\0';
  fclose(f);
  return WEXITSTATUS(status);
}

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/test_ml_cli.XXXXXX");
  return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static char out[1 << 16], err[4096];

static void test_tiny_csv(void **state)
{
  (void)state;
  const char *in = "timestamp,value\n"
                   "2014-07-01 00:00:00,10844\n"
                   "2014-07-01 00:30:00,8127.50\r\n"
                   "1404176400000,-3e2\n";
  assert_int_equal(run("", in, out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "timestamp,value,anomaly_score\n"
                           "2014-07-01 00:00:00,10844,0.000000\n"
                           "2014-07-01 00:30:00,8127.50,0.000000\n"
                           "1404176400000,-3e2,0.000000\n");
  assert_string_equal(err, "");
  /* Header only: header only. */
  assert_int_equal(run("", "timestamp,value\n", out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "timestamp,value,anomaly_score\n");
}

/* Rows from..to-1 of a 12-value cycle with one spike at row 500. */
static void make_series(char *buf, size_t cap, int from, int to, bool header)
{
  size_t n = 0;
  if (header)
    n += (size_t)snprintf(buf + n, cap - n, "timestamp,value\n");
  for (int i = from; i < to; i++) {
    double v = 10.0 + (i % 12) * 0.5 + (i == 500 ? 40.0 : 0.0);
    n += (size_t)snprintf(buf + n, cap - n, "%d,%.2f\n", 1000000 + i * 60000, v);
  }
}

static void test_scores_match_library_and_checkpoint(void **state)
{
  (void)state;
  static char in[1 << 15];
  make_series(in, sizeof in, 0, 600, true);
  assert_int_equal(run("--threshold 0.45", in, out, sizeof out, err, sizeof err), 0);
  /* Expected scores from the library. */
  struct ml_detector d;
  assert_int_equal(ml_detector_init(&d, NULL), 0);
  static char want[1 << 16];
  size_t n = (size_t)snprintf(want, sizeof want, "timestamp,value,anomaly_score\n");
  int detections = 0;
  for (int i = 0; i < 600; i++) {
    double v = 10.0 + (i % 12) * 0.5 + (i == 500 ? 40.0 : 0.0), s;
    char txt[32];
    snprintf(txt, sizeof txt, "%.2f", v);
    ml_detector_update(&d, strtod(txt, NULL), &s);
    detections += ml_detector_is_detection(&d, s);
    n += (size_t)snprintf(want + n, sizeof want - n, "%d,%s,%.6f\n", 1000000 + i * 60000,
                          txt, s);
  }
  assert_string_equal(out, want);
  assert_int_equal(detections, 1); /* the spike */

  /* The same run in two halves through a checkpoint file. */
  char ckpt[300], args[400];
  snprintf(ckpt, sizeof ckpt, "%s/det.ckpt", dir);
  snprintf(args, sizeof args, "--checkpoint '%s'", ckpt);
  static char first[1 << 15], second[1 << 15];
  make_series(in, sizeof in, 0, 450, true);
  assert_int_equal(run(args, in, first, sizeof first, err, sizeof err), 0);
  make_series(in, sizeof in, 450, 600, true);
  assert_int_equal(run(args, in, second, sizeof second, err, sizeof err), 0);
  /* first + second without its header == the single run. */
  const char *body = strchr(second, '\n') + 1;
  assert_int_equal(strlen(first) + strlen(body), strlen(out));
  assert_memory_equal(out, first, strlen(first));
  assert_string_equal(out + strlen(first), body);

  /* A corrupt checkpoint: exit 2, nothing on stdout. */
  FILE *f = fopen(ckpt, "r+b");
  fseek(f, 40, SEEK_SET);
  fputc('!', f);
  fclose(f);
  assert_int_equal(run(args, in, out, sizeof out, err, sizeof err), 2);
  assert_string_equal(out, "");
  assert_non_null(strstr(err, "checksum mismatch"));
}

static void test_malformed_input(void **state)
{
  (void)state;
  static const struct {
    const char *in, *msg;
  } cases[] = {
      {"", "line 1: empty input, expected the header timestamp,value\n"},
      {"time,value\n1,2\n", "line 1: expected the header timestamp,value\n"},
      {"timestamp,value\n1,2\n3\n", "line 3: expected two fields: timestamp,value\n"},
      {"timestamp,value\n1,2\n2,abc\n", "line 3: value is not a decimal number\n"},
      {"timestamp,value\n1,nan\n", "line 2: value is not a decimal number\n"},
      {"timestamp,value\n1,2\n\n3,4\n", "line 3: empty line\n"},
      {"timestamp,value\nnoon,2\n",
       "line 2: timestamp is neither YYYY-MM-DD HH:MM:SS[.ffffff] nor Unix milliseconds\n"},
      {"timestamp,value\n1,2,3\n", "line 2: more than two fields\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(run("", cases[i].in, out, sizeof out, err, sizeof err), 1);
    assert_string_equal(err, cases[i].msg);
  }
  /* Rows before the bad one were written. */
  run("", "timestamp,value\n1,2\nx\n", out, sizeof out, err, sizeof err);
  assert_string_equal(out, "timestamp,value,anomaly_score\n1,2,0.000000\n");
  /* A line longer than the limit. */
  static char longin[3000];
  snprintf(longin, sizeof longin, "timestamp,value\n1,");
  memset(longin + strlen(longin), '5', 2000);
  assert_int_equal(run("", longin, out, sizeof out, err, sizeof err), 1);
  assert_string_equal(err, "line 2: line too long\n");
}

static void test_usage_errors(void **state)
{
  (void)state;
  const char *in = "timestamp,value\n1,2\n";
  assert_int_equal(run("--threshold 0", in, out, sizeof out, err, sizeof err), 2);
  assert_int_equal(run("--threshold 1.5", in, out, sizeof out, err, sizeof err), 2);
  assert_int_equal(run("--threshold x", in, out, sizeof out, err, sizeof err), 2);
  assert_int_equal(run("--bogus", in, out, sizeof out, err, sizeof err), 2);
  assert_int_equal(run("--threshold", in, out, sizeof out, err, sizeof err), 2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_csv),
      cmocka_unit_test(test_scores_match_library_and_checkpoint),
      cmocka_unit_test(test_malformed_input),
      cmocka_unit_test(test_usage_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
