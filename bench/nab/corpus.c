/* SPDX-License-Identifier: MIT */
/*
 * Loading the NAB corpus and results files (see corpus.h). Data rows are
 * parsed with the same strict parser `ml-engine detect` uses, so the
 * benchmark and the product agree on what a row is.
 */
#include "corpus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "farm/error.h"
#include "ml/csv.h"

static int failf(char *err, size_t errlen, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return code;
}

char *nab_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (cap - n < 65536) {
      size_t ncap = cap ? cap * 2 : 1 << 20;
      char *nb = realloc(buf, ncap + 1);
      if (nb == NULL)
        goto fail;
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f))
        goto fail;
      break;
    }
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
fail:
  free(buf);
  fclose(f);
  return NULL;
}

/* Cuts the next line out of *p (NUL-terminating it in place); NULL at end. */
static char *next_line(char **p, size_t *len)
{
  char *s = *p;
  if (*s == '\0')
    return NULL;
  char *nl = strchr(s, '\n');
  if (nl != NULL) {
    *nl = '\0';
    *p = nl + 1;
  } else {
    *p = s + strlen(s);
  }
  size_t n = strlen(s);
  if (n > 0 && s[n - 1] == '\r')
    s[--n] = '\0';
  *len = n;
  return s;
}

static int load_data(struct nab_series *s, const char *path, char *err,
                     size_t errlen)
{
  size_t len;
  char *text = nab_read_file(path, &len);
  if (text == NULL)
    return failf(err, errlen, FARM_EIO, "%s: %s", path, strerror(errno));
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  s->ts = malloc(lines * sizeof *s->ts);
  s->value = malloc(lines * sizeof *s->value);
  s->score = calloc(lines, sizeof *s->score);
  int rc = 0;
  if (s->ts == NULL || s->value == NULL || s->score == NULL) {
    rc = failf(err, errlen, FARM_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  char *p = text;
  size_t n, lineno = 1;
  char *line = next_line(&p, &n);
  if (line == NULL || !ml_csv_is_header(line, n)) {
    rc = failf(err, errlen, FARM_EMALFORMED, "%s: no timestamp,value header", path);
    goto done;
  }
  s->rows = 0;
  while ((line = next_line(&p, &n)) != NULL) {
    lineno++;
    struct ml_csv_row row;
    const char *why;
    int e = ml_csv_parse_row(line, n, &row, &why);
    if (e != 0) {
      rc = failf(err, errlen, e, "%s: line %zu: %s", path, lineno, why);
      goto done;
    }
    s->ts[s->rows] = row.ts_us;
    s->value[s->rows] = row.value;
    s->rows++;
  }
done:
  free(text);
  return rc;
}

static int find_row(const struct nab_series *s, const char *stamp, size_t *row,
                    char *err, size_t errlen)
{
  int64_t t;
  if (ml_time_parse(stamp, strlen(stamp), &t) != 0)
    return failf(err, errlen, FARM_EMALFORMED, "%s: bad window bound \"%s\"",
                 s->name, stamp);
  /* The first row with that timestamp, as NAB's timestamps.index(): a
   * few NAB files have timestamps that repeat or go back, so no bisection. */
  size_t lo = 0;
  while (lo < s->rows && s->ts[lo] != t)
    lo++;
  if (lo == s->rows)
    return failf(err, errlen, FARM_ENOENT, "%s: window bound %s is no row",
                 s->name, stamp);
  *row = lo;
  return 0;
}

static int load_windows(struct nab_series *s, json_t *list, char *err,
                        size_t errlen)
{
  if (!json_is_array(list))
    return failf(err, errlen, FARM_ETYPE, "%s: windows are not a list", s->name);
  s->windows = json_array_size(list);
  s->win = calloc(s->windows ? s->windows : 1, sizeof *s->win);
  if (s->win == NULL)
    return failf(err, errlen, FARM_ENOMEM, "out of memory");
  for (size_t w = 0; w < s->windows; w++) {
    json_t *pair = json_array_get(list, w);
    json_t *a = json_array_get(pair, 0), *b = json_array_get(pair, 1);
    if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(a) ||
        !json_is_string(b))
      return failf(err, errlen, FARM_ETYPE, "%s: window %zu is not [start, end]",
                   s->name, w);
    int rc = find_row(s, json_string_value(a), &s->win[w].first, err, errlen);
    if (rc == 0)
      rc = find_row(s, json_string_value(b), &s->win[w].last, err, errlen);
    if (rc != 0)
      return rc;
    if (s->win[w].first >= s->win[w].last ||
        (w > 0 && s->win[w].first <= s->win[w - 1].last))
      return failf(err, errlen, FARM_EMALFORMED,
                   "%s: window %zu is empty, reversed or overlapping", s->name, w);
  }
  return 0;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(((const struct nab_series *)a)->name,
                ((const struct nab_series *)b)->name);
}

int nab_corpus_load(struct nab_corpus *c, const char *dir, char *err,
                    size_t errlen)
{
  memset(c, 0, sizeof *c);
  char path[4096];
  snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (root == NULL)
    return failf(err, errlen, FARM_EIO, "%s: %s", path, jerr.text);
  int rc = 0;
  if (!json_is_object(root)) {
    rc = failf(err, errlen, FARM_ETYPE, "%s: not an object", path);
    goto done;
  }
  c->series = calloc(json_object_size(root) + 1, sizeof *c->series);
  if (c->series == NULL) {
    rc = failf(err, errlen, FARM_ENOMEM, "out of memory");
    goto done;
  }
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    struct nab_series *s = &c->series[c->count++];
    s->name = strdup(key);
    if (s->name == NULL) {
      rc = failf(err, errlen, FARM_ENOMEM, "out of memory");
      goto done;
    }
    snprintf(path, sizeof path, "%s/data/%s", dir, key);
    if ((rc = load_data(s, path, err, errlen)) != 0)
      goto done;
    if ((rc = load_windows(s, val, err, errlen)) != 0)
      goto done;
  }
  qsort(c->series, c->count, sizeof *c->series, by_name);
  for (size_t i = 0; i < c->count; i++) {
    const struct nab_series *s = &c->series[i];
    c->rows += s->rows;
    c->windows += s->windows;
    for (size_t w = 0; w < s->windows; w++)
      c->windows_scorable += s->win[w].last >= nab_probation(s->rows);
  }
done:
  json_decref(root);
  return rc;
}

void nab_corpus_free(struct nab_corpus *c)
{
  for (size_t i = 0; i < c->count; i++) {
    free(c->series[i].name);
    free(c->series[i].ts);
    free(c->series[i].value);
    free(c->series[i].score);
    free(c->series[i].win);
  }
  free(c->series);
  memset(c, 0, sizeof *c);
}

int nab_results_path(char *out, size_t cap, const char *root,
                     const char *detector, const char *series_name)
{
  const char *slash = strrchr(series_name, '/');
  int category_len = slash ? (int)(slash - series_name) : 0;
  const char *file = slash ? slash + 1 : series_name;
  int n = snprintf(out, cap, "%s/%s/%.*s%s%s_%s", root, detector, category_len,
                   series_name, slash ? "/" : "", detector, file);
  return n < 0 || (size_t)n >= cap ? FARM_ENOSPC : 0;
}

/* Splits a line at commas in place: fields[0..*count). */
static void split(char *line, char **fields, size_t cap, size_t *count)
{
  size_t n = 0;
  fields[n++] = line;
  for (char *p = line; *p != '\0'; p++) {
    if (*p == ',') {
      *p = '\0';
      if (n == cap)
        break;
      fields[n++] = p + 1;
    }
  }
  *count = n;
}

int nab_read_scores(struct nab_series *s, const char *path, bool check_ts,
                    char *err, size_t errlen)
{
  size_t len;
  char *text = nab_read_file(path, &len);
  if (text == NULL)
    return failf(err, errlen, FARM_EIO, "%s: %s", path, strerror(errno));
  int rc = 0;
  char *p = text, *fields[32];
  size_t n, nf, ts_col = SIZE_MAX, score_col = SIZE_MAX;
  char *line = next_line(&p, &n);
  if (line != NULL) {
    split(line, fields, 32, &nf);
    for (size_t i = 0; i < nf; i++) {
      if (strcmp(fields[i], "timestamp") == 0)
        ts_col = i;
      else if (strcmp(fields[i], "anomaly_score") == 0)
        score_col = i;
    }
  }
  if (ts_col == SIZE_MAX || score_col == SIZE_MAX) {
    rc = failf(err, errlen, FARM_EMALFORMED,
               "%s: header lacks timestamp or anomaly_score", path);
    goto done;
  }
  size_t row = 0;
  while ((line = next_line(&p, &n)) != NULL) {
    if (n == 0)
      continue;
    split(line, fields, 32, &nf);
    int64_t t;
    char *end;
    if (nf <= ts_col || nf <= score_col || row >= s->rows ||
        (check_ts && (ml_time_parse(fields[ts_col], strlen(fields[ts_col]), &t) != 0 ||
                      t != s->ts[row]))) {
      rc = failf(err, errlen, FARM_EMALFORMED,
                 "%s: row %zu does not match the data file", path, row + 1);
      goto done;
    }
    errno = 0;
    double v = strtod(fields[score_col], &end);
    if (end == fields[score_col] || *end != '\0' || errno != 0 || !(v >= 0.0) ||
        v > 1.0) {
      rc = failf(err, errlen, FARM_ERANGE, "%s: row %zu: bad anomaly_score \"%s\"",
                 path, row + 1, fields[score_col]);
      goto done;
    }
    s->score[row++] = v;
  }
  if (row != s->rows)
    rc = failf(err, errlen, FARM_EMALFORMED, "%s: %zu rows, the data has %zu", path,
               row, s->rows);
done:
  free(text);
  return rc;
}

int nab_corpus_score(const struct nab_corpus *c, const struct nab_profile *p,
                     double threshold, struct nab_result *res)
{
  struct nab_point *pts = malloc((c->rows ? c->rows : 1) * sizeof *pts);
  if (pts == NULL)
    return FARM_ENOMEM;
  size_t n = 0, base = 0;
  for (size_t i = 0; i < c->count; i++) {
    const struct nab_series *s = &c->series[i];
    struct nab_file f = {s->rows, s->score, s->windows, s->win};
    n += nab_file_points(&f, p, base, pts + n);
    base += s->windows;
  }
  int rc = threshold < 0.0
               ? nab_optimise(pts, n, c->windows, c->windows_scorable, p, res)
               : nab_score_at(pts, n, c->windows, c->windows_scorable, p,
                              threshold, res);
  free(pts);
  return rc;
}
