/* SPDX-License-Identifier: MIT */
/*
 * NAB's scoring rules (see scorer.h): per-row weights from the window
 * geometry, then a sweep over thresholds from the highest score down that
 * keeps, per window, the best (earliest) detection and sums the false
 * positives, exactly the bookkeeping of nab/sweeper.py calcScoreByThreshold.
 */
#include "scorer.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "farm/error.h"

/* config/profiles.json of NAB v1.1 (and of the shared data folder). */
const struct nab_profile nab_profiles[3] = {
    {"standard", 1.0, 0.11, 1.0},
    {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    {"reward_low_FN_rate", 1.0, 0.11, 2.0},
};

size_t nab_probation(size_t rows)
{
  /* min(floor(0.15 * rows), 0.15 * 5000): NAB caps probation at 750 rows. */
  size_t p = (size_t)floor(NAB_PROBATION_PERCENT * (double)rows);
  return p < 750 ? p : 750;
}

double nab_scaled_sigmoid(double x)
{
  /* Beyond three window widths a false positive costs the full weight. */
  if (x > 3.0)
    return -1.0;
  return 2.0 / (1.0 + exp(5.0 * x)) - 1.0;
}

size_t nab_file_points(const struct nab_file *f, const struct nab_profile *p,
                       size_t window_base, struct nab_point *out)
{
  const size_t probation = nab_probation(f->rows);
  /* A detection on a window's first row earns exactly the TP weight. */
  const double max_tp = nab_scaled_sigmoid(-1.0);
  size_t next = 0, n = 0;
  const struct nab_window *cur = NULL, *prev = NULL;

  for (size_t i = 0; i < f->rows; i++) {
    if (cur == NULL && next < f->windows && i == f->win[next].first)
      cur = &f->win[next];
    double weight;
    size_t window = NAB_NO_WINDOW;
    if (cur != NULL) {
      assert(cur->first < cur->last && cur->last < f->rows);
      double width = (double)(cur->last - cur->first + 1);
      double pos = -(double)(cur->last - i + 1) / width;
      weight = nab_scaled_sigmoid(pos) * p->tp / max_tp;
      window = window_base + next;
    } else if (prev == NULL) {
      /* No window before: as far from one as can be. */
      weight = -p->fp;
    } else {
      double width = (double)(prev->last - prev->first + 1);
      weight = nab_scaled_sigmoid((double)(i - prev->last) / (width - 1.0)) * p->fp;
    }
    if (i >= probation)
      out[n++] = (struct nab_point){f->score[i], weight, window};
    if (cur != NULL && i == cur->last) {
      prev = cur;
      cur = NULL;
      next++;
    }
  }
  return n;
}

static int by_score_desc(const void *a, const void *b)
{
  double x = ((const struct nab_point *)a)->score;
  double y = ((const struct nab_point *)b)->score;
  return (x < y) - (x > y);
}

/* Running totals of a sweep: the best weight per window and the FP sum. */
struct tally {
  double *best;
  double fp_sum, win_sum;
  size_t detected, fp_rows;
  const struct nab_profile *p;
};

static int tally_init(struct tally *t, size_t windows, size_t scorable,
                      const struct nab_profile *p)
{
  t->best = malloc((windows ? windows : 1) * sizeof *t->best);
  if (t->best == NULL)
    return FARM_ENOMEM;
  for (size_t w = 0; w < windows; w++)
    t->best[w] = -p->fn;
  t->fp_sum = 0.0;
  /* Only windows with a scorable row cost a miss (sweeper.py
   * _prepareScoreByThresholdParts walks the scorable rows). */
  t->win_sum = -p->fn * (double)scorable;
  t->detected = 0;
  t->fp_rows = 0;
  t->p = p;
  return 0;
}

static void tally_add(struct tally *t, const struct nab_point *pt, size_t windows)
{
  if (pt->window == NAB_NO_WINDOW) {
    t->fp_sum += pt->weight;
    t->fp_rows++;
    return;
  }
  assert(pt->window < windows);
  (void)windows;
  double *b = &t->best[pt->window];
  if (*b == -t->p->fn)
    t->detected++;
  if (pt->weight > *b) {
    t->win_sum += pt->weight - *b;
    *b = pt->weight;
  }
}

static void fill_result(struct nab_result *res, const struct tally *t,
                        double threshold, size_t windows, size_t scorable)
{
  res->threshold = threshold;
  res->raw = t->fp_sum + t->win_sum;
  res->null_raw = -t->p->fn * (double)scorable;
  res->perfect_raw = t->p->tp * (double)windows;
  double span = res->perfect_raw - res->null_raw;
  res->normalised = span > 0.0 ? 100.0 * (res->raw - res->null_raw) / span : 0.0;
  res->windows = windows;
  res->detected = t->detected;
  res->fp_rows = t->fp_rows;
}

int nab_optimise(struct nab_point *points, size_t n, size_t windows,
                 size_t windows_scorable, const struct nab_profile *p,
                 struct nab_result *res)
{
  struct tally t;
  int err = tally_init(&t, windows, windows_scorable, p);
  if (err != 0)
    return err;
  qsort(points, n, sizeof *points, by_score_desc);

  /* NAB starts above every score (1.1): nothing detected. */
  fill_result(res, &t, 1.1, windows, windows_scorable);
  for (size_t i = 0; i < n;) {
    double thr = points[i].score;
    for (; i < n && points[i].score == thr; i++)
      tally_add(&t, &points[i], windows);
    /* Strictly better only: on a tie the higher threshold stays, as with
     * NAB's stable sort of the threshold list. */
    if (t.fp_sum + t.win_sum > res->raw)
      fill_result(res, &t, thr, windows, windows_scorable);
  }
  free(t.best);
  return 0;
}

int nab_score_at(const struct nab_point *points, size_t n, size_t windows,
                 size_t windows_scorable, const struct nab_profile *p,
                 double threshold, struct nab_result *res)
{
  struct tally t;
  int err = tally_init(&t, windows, windows_scorable, p);
  if (err != 0)
    return err;
  for (size_t i = 0; i < n; i++)
    if (points[i].score >= threshold)
      tally_add(&t, &points[i], windows);
  fill_result(res, &t, threshold, windows, windows_scorable);
  free(t.best);
  return 0;
}
