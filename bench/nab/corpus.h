/* SPDX-License-Identifier: MIT */
/*
 * The NAB corpus on disk: the data files named by labels/combined_windows.json,
 * their windows turned into row indices, and results files in NAB's layout
 * (<root>/<detector>/<category>/<detector>_<file>.csv) read back or written.
 * This is benchmark code: it allocates, and every function that can fail
 * writes a one-line reason into the caller's err buffer.
 */
#ifndef NAB_CORPUS_H
#define NAB_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scorer.h"

struct nab_series {
  char *name;              /* "realKnownCause/nyc_taxi.csv" */
  size_t rows;
  int64_t *ts;             /* microseconds since the epoch, per row */
  double *value;           /* per row */
  double *score;           /* per row, filled by a detector run or a results file */
  size_t windows;
  struct nab_window *win;  /* labelled windows as row indices */
};

struct nab_corpus {
  struct nab_series *series; /* sorted by name */
  size_t count;
  size_t windows;            /* all labelled windows */
  size_t windows_scorable;   /* those with a row after probation */
  size_t rows;               /* all rows */
};

/*
 * Loads dir/labels/combined_windows.json and every data file it names
 * (dir/data/<name>). Every window bound must be the timestamp of a row
 * (NAB matches them exactly). Returns 0, or a negative FARM_E* code with a
 * reason in err. The corpus is freed with nab_corpus_free, also after a
 * failure.
 */
int nab_corpus_load(struct nab_corpus *c, const char *dir, char *err,
                    size_t errlen);

void nab_corpus_free(struct nab_corpus *c);

/*
 * Reads the anomaly_score column of a results file (any CSV whose header
 * names `timestamp` and `anomaly_score` columns, such as NAB's published
 * results) into s->score. The file must have exactly s->rows rows. With
 * check_ts every row's timestamp must also equal the data file's; without,
 * rows are paired by position only, as NAB's own scorer does (one of NAB's
 * published results files has shifted timestamps and NAB still scores it).
 * Returns 0, or a negative code with a reason in err.
 */
int nab_read_scores(struct nab_series *s, const char *path, bool check_ts,
                    char *err, size_t errlen);

/*
 * Path of a series' results file under root for a detector, NAB's layout:
 * root/detector/<category>/detector_<file>.csv. Returns 0 or FARM_ENOSPC.
 */
int nab_results_path(char *out, size_t cap, const char *root,
                     const char *detector, const char *series_name);

/*
 * Scores the corpus (the score arrays of every series) under a profile, at
 * the optimal threshold when threshold < 0, else at that threshold.
 * Returns 0 or FARM_ENOMEM.
 */
int nab_corpus_score(const struct nab_corpus *c, const struct nab_profile *p,
                     double threshold, struct nab_result *res);

/* Reads a whole file into a NUL-terminated heap buffer (caller frees). */
char *nab_read_file(const char *path, size_t *len);

#endif /* NAB_CORPUS_H */
