/* SPDX-License-Identifier: MIT */
/*
 * The NAB scorer on small cases computed by hand from NAB's rules, and the
 * corpus loader on the shared NAB files. The hand cases use one file of
 * 100 rows (probation floor(0.15 * 100) = 15 rows) with one window on rows
 * 40..49 (width 10), and the standard profile unless said otherwise.
 * S(x) = 2 / (1 + e^(5x)) - 1 is NAB's scaled sigmoid; a detection in the
 * window earns S(-(49 - i + 1) / 10) / S(-1), with S(-1) = 0.98661430.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "corpus.h"
#include "scorer.h"

#define ROWS 100
static const struct nab_window WIN = {40, 49};

/* Scores one 100-row file whose rows listed in hits[] have score 1 (or the
 * scores given), at the optimal threshold under profile k. */
static struct nab_result score_file(const double *scores, int k)
{
  struct nab_file f = {ROWS, scores, 1, &WIN};
  struct nab_point pts[ROWS];
  size_t n = nab_file_points(&f, &nab_profiles[k], 0, pts);
  assert_int_equal(n, ROWS - 15);
  struct nab_result r;
  assert_int_equal(nab_optimise(pts, n, 1, 1, &nab_profiles[k], &r), 0);
  return r;
}

static struct nab_result hits(const size_t *rows, size_t count)
{
  double s[ROWS] = {0};
  for (size_t i = 0; i < count; i++)
    s[rows[i]] = 1.0;
  return score_file(s, 0);
}

static void test_probation_length(void **state)
{
  (void)state;
  assert_int_equal(nab_probation(100), 15);
  assert_int_equal(nab_probation(1127), 169); /* 169.05 floored */
  assert_int_equal(nab_probation(4032), 604);
  assert_int_equal(nab_probation(4999), 749);
  assert_int_equal(nab_probation(5000), 750);
  assert_int_equal(nab_probation(22695), 750); /* capped */
}

static void test_sigmoid(void **state)
{
  (void)state;
  assert_float_equal(nab_scaled_sigmoid(-1.0), 0.98661430, 1e-8);
  assert_float_equal(nab_scaled_sigmoid(0.0), 0.0, 1e-15);
  assert_float_equal(nab_scaled_sigmoid(-0.5), 0.84828364, 1e-8);
  assert_float_equal(nab_scaled_sigmoid(3.0), -0.99999939, 1e-8);
  assert_float_equal(nab_scaled_sigmoid(3.01), -1.0, 0.0); /* beyond 3: -1 */
}

static void test_early_detection(void **state)
{
  (void)state;
  /* Row 40 is the window's first row: S(-1) / S(-1) = 1 = TP weight.
   * raw 1, null -1 (one window missed), perfect 1: normalised 100. */
  struct nab_result r = hits((size_t[]){40}, 1);
  assert_float_equal(r.raw, 1.0, 1e-12);
  assert_float_equal(r.null_raw, -1.0, 1e-12);
  assert_float_equal(r.perfect_raw, 1.0, 1e-12);
  assert_float_equal(r.normalised, 100.0, 1e-9);
  assert_int_equal(r.detected, 1);
  assert_int_equal(r.fp_rows, 0);
}

static void test_middle_and_late_detection(void **state)
{
  (void)state;
  /* Row 45: x = -(49 - 45 + 1) / 10 = -0.5, S = 0.84828364, / S(-1) =
   * 0.85979257. Only the earliest detection counts: 45 and 48 give the
   * same as 45 alone. */
  struct nab_result r = hits((size_t[]){45, 48}, 2);
  assert_float_equal(r.raw, 0.85979257, 1e-8);
  /* Row 49, the last: x = -0.1, S = 0.24491866, / S(-1) = 0.24824155;
   * normalised 100 * (0.24824155 + 1) / 2 = 62.412077. */
  r = hits((size_t[]){49}, 1);
  assert_float_equal(r.raw, 0.24824155, 1e-8);
  assert_float_equal(r.normalised, 62.412077, 1e-5);
}

static void test_no_detection(void **state)
{
  (void)state;
  /* The window is missed: raw -1 = null, normalised 0, threshold 1.1. */
  struct nab_result r = hits(NULL, 0);
  assert_float_equal(r.raw, -1.0, 1e-12);
  assert_float_equal(r.normalised, 0.0, 1e-12);
  assert_float_equal(r.threshold, 1.1, 1e-12);
  assert_int_equal(r.detected, 0);
}

static void test_false_positives(void **state)
{
  (void)state;
  /* Before any window a false positive costs the full 0.11: with the
   * window found at its start, raw = 1 - 0.11 = 0.89. */
  struct nab_result r = hits((size_t[]){20, 40}, 2);
  assert_float_equal(r.raw, 0.89, 1e-12);
  assert_int_equal(r.fp_rows, 1);
  /* Three rows after the window's last row: x = 3 / (10 - 1) = 1/3,
   * S(1/3) = -0.68226179, times 0.11 = -0.07504880. */
  r = hits((size_t[]){40, 52}, 2);
  assert_float_equal(r.raw, 1.0 - 0.07504880, 1e-8);
  /* 41 rows after: x = 4.56 > 3, the full -0.11. */
  r = hits((size_t[]){40, 90}, 2);
  assert_float_equal(r.raw, 0.89, 1e-12);
}

static void test_probation_ignored(void **state)
{
  (void)state;
  /* A detection on row 10 (< 15) is neither a false positive nor counted:
   * with nothing else the file scores as the null detector. */
  struct nab_result r = hits((size_t[]){10}, 1);
  assert_float_equal(r.raw, -1.0, 1e-12);
  assert_int_equal(r.fp_rows, 0);

  /* A window over the end of probation (rows 10..20, width 11): a hit on
   * row 12 is in probation and does not count; row 15 is x = -6/11,
   * S(-6/11) / S(-1) = 0.88913549. */
  const struct nab_window w = {10, 20};
  double s[ROWS] = {0};
  s[12] = 1.0;
  struct nab_file f = {ROWS, s, 1, &w};
  struct nab_point pts[ROWS];
  size_t n = nab_file_points(&f, &nab_profiles[0], 0, pts);
  struct nab_result res;
  assert_int_equal(nab_optimise(pts, n, 1, 1, &nab_profiles[0], &res), 0);
  assert_float_equal(res.raw, -1.0, 1e-12);
  s[15] = 1.0;
  n = nab_file_points(&f, &nab_profiles[0], 0, pts);
  assert_int_equal(nab_optimise(pts, n, 1, 1, &nab_profiles[0], &res), 0);
  assert_float_equal(res.raw, 0.88913549, 1e-8);
}

static void test_threshold_optimised_per_profile(void **state)
{
  (void)state;
  /* Row 20 (FP) scores 0.9, row 45 (in the window) 0.6. Candidates:
   *   1.1: nothing,        raw -1 (standard)
   *   0.9: the FP only,    raw -1 - 0.11 = -1.11
   *   0.6: both,           raw 0.85979257 - 0.11 = 0.74979257  <- best
   * reward_low_FP (fp 0.22): 0.85979257 - 0.22 = 0.63979257, still 0.6.
   * reward_low_FN (fn 2): null -2, normalised 100 * (0.74979257 + 2) / 3
   * = 91.659752. */
  double s[ROWS] = {0};
  s[20] = 0.9;
  s[45] = 0.6;
  struct nab_result r = score_file(s, 0);
  assert_float_equal(r.threshold, 0.6, 0.0);
  assert_float_equal(r.raw, 0.74979257, 1e-8);
  r = score_file(s, 1);
  assert_float_equal(r.raw, 0.63979257, 1e-8);
  r = score_file(s, 2);
  assert_float_equal(r.null_raw, -2.0, 1e-12);
  assert_float_equal(r.normalised, 91.659752, 1e-5);

  /* At a fixed threshold of 0.7 only the FP counts: -1 - 0.11. */
  struct nab_file f = {ROWS, s, 1, &WIN};
  struct nab_point pts[ROWS];
  size_t n = nab_file_points(&f, &nab_profiles[0], 0, pts);
  struct nab_result fixed;
  assert_int_equal(nab_score_at(pts, n, 1, 1, &nab_profiles[0], 0.7, &fixed), 0);
  assert_float_equal(fixed.raw, -1.11, 1e-12);
}

static void test_shared_corpus(void **state)
{
  (void)state;
  const char *shared = getenv("FARM_SHARED_DIR");
  assert_non_null(shared);
  char dir[4096], err[512];
  snprintf(dir, sizeof dir, "%s/data/nab", shared);
  struct nab_corpus c;
  int rc = nab_corpus_load(&c, dir, err, sizeof err);
  if (rc != 0)
    fail_msg("%s", err);
  assert_int_equal(c.count, 42);
  assert_int_equal(c.windows, 69);
  assert_int_equal(c.windows_scorable, 69);
  /* nyc_taxi's first window, 2014-10-30 15:30 .. 2014-11-03 22:30, is rows
   * 5839..6045 (0-based) of the data file. */
  for (size_t i = 0; i < c.count; i++) {
    if (strcmp(c.series[i].name, "realKnownCause/nyc_taxi.csv") == 0) {
      assert_int_equal(c.series[i].rows, 10320);
      assert_int_equal(c.series[i].windows, 5);
      assert_int_equal(c.series[i].win[0].first, 5839);
      assert_int_equal(c.series[i].win[0].last, 6045);
    }
  }
  /* Every row scored 0: the null detector, normalised 0 in every profile. */
  for (int k = 0; k < 3; k++) {
    struct nab_result r;
    assert_int_equal(nab_corpus_score(&c, &nab_profiles[k], -1.0, &r), 0);
    assert_float_equal(r.normalised, 0.0, 1e-12);
  }
  nab_corpus_free(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_probation_length),
      cmocka_unit_test(test_sigmoid),
      cmocka_unit_test(test_early_detection),
      cmocka_unit_test(test_middle_and_late_detection),
      cmocka_unit_test(test_no_detection),
      cmocka_unit_test(test_false_positives),
      cmocka_unit_test(test_probation_ignored),
      cmocka_unit_test(test_threshold_optimised_per_profile),
      cmocka_unit_test(test_shared_corpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
