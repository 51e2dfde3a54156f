/* SPDX-License-Identifier: MIT */
/*
 * The scoring of the Numenta Anomaly Benchmark (NAB), as NAB itself does it
 * (nab/sweeper.py, nab/optimizer.py and nab/runner.py of numenta/NAB, and the
 * summary in the shared data's README): every row of every file gets a
 * weight from its position relative to the labelled windows, the first
 * rows of each file are a probation period that is not scored, only the
 * earliest detection inside a window counts, a detection outside every
 * window costs the false-positive weight scaled by how far it lies after
 * the previous window, one threshold is chosen for the whole corpus to
 * maximise the sum, and the sum is normalised between the detector that
 * detects nothing and the perfect one. Rows are identified by index here;
 * matching labelled timestamps to rows is the caller's job.
 */
#ifndef NAB_SCORER_H
#define NAB_SCORER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NAB's probation: 15 % of a file's rows, never more than 15 % of 5000. */
#define NAB_PROBATION_PERCENT 0.15

/* A cost profile (config/profiles.json, "CostMatrix"). */
struct nab_profile {
  const char *name;
  double tp; /* weight of a detection at the very start of a window */
  double fp; /* weight of a false positive far from any window */
  double fn; /* cost of a window without any detection */
};

/* The three profiles NAB publishes, with the weights of config/profiles.json. */
extern const struct nab_profile nab_profiles[3];

/* A labelled window as the indices of its first and last rows (inclusive). */
struct nab_window {
  size_t first, last;
};

/* One data file with a detector's scores. */
struct nab_file {
  size_t rows;
  const double *score;           /* rows scores, each in [0, 1] */
  size_t windows;
  const struct nab_window *win;  /* in time order, disjoint, first < last */
};

/* One scorable row: its score, its NAB weight under a profile, and the
 * corpus-wide index of the window it lies in (or NAB_NO_WINDOW). */
#define NAB_NO_WINDOW SIZE_MAX
struct nab_point {
  double score;
  double weight;
  size_t window;
};

/* The outcome of scoring a corpus at one threshold. */
struct nab_result {
  double threshold;      /* a row is a detection when score >= threshold */
  double raw;            /* NAB's raw score: sum of window and FP weights */
  double null_raw;       /* raw score of the detector that detects nothing */
  double perfect_raw;    /* raw score of the perfect detector */
  double normalised;     /* 100 * (raw - null) / (perfect - null) */
  size_t windows;        /* labelled windows in the corpus */
  size_t detected;       /* windows with at least one detection */
  size_t fp_rows;        /* detections outside every window (after probation) */
};

/* floor(0.15 * rows), capped at 750 (nab/sweeper.py _getProbationaryLength). */
size_t nab_probation(size_t rows);

/*
 * The weight NAB gives a detection at relative position x (nab/sweeper.py
 * scaledSigmoid): 2 / (1 + e^(5x)) - 1, and -1 beyond x = 3. Inside a window
 * x runs from -1 (first row) towards 0 (just past the last row); after a
 * window x is the distance from the window's last row in window widths.
 */
double nab_scaled_sigmoid(double x);

/*
 * Appends the scorable rows of f (those after its probation period) to
 * out, which must have room for f->rows points, and returns how many were
 * written. Window indices are numbered from window_base on, in order, so
 * several files can share one point array. Returns the count; the window
 * count of the file is f->windows.
 */
size_t nab_file_points(const struct nab_file *f, const struct nab_profile *p,
                       size_t window_base, struct nab_point *out);

/*
 * Scores points[0..n) (from nab_file_points over every file of a corpus
 * with `windows` windows in all, of which windows_scorable have at least
 * one row after probation) at the threshold that maximises the raw score,
 * as nab/optimizer.py does: candidate thresholds are every distinct score,
 * plus "above every score" (detecting nothing); on equal scores the higher
 * threshold wins. Sorts points in place. Returns 0, or FARM_ENOMEM.
 */
int nab_optimise(struct nab_point *points, size_t n, size_t windows,
                 size_t windows_scorable, const struct nab_profile *p,
                 struct nab_result *res);

/*
 * Scores points[0..n) at a given threshold (rows with score >= threshold
 * are detections). Same arguments and errors as nab_optimise; points are
 * not reordered.
 */
int nab_score_at(const struct nab_point *points, size_t n, size_t windows,
                 size_t windows_scorable, const struct nab_profile *p,
                 double threshold, struct nab_result *res);

#endif /* NAB_SCORER_H */
