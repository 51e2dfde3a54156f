/* SPDX-License-Identifier: MIT */
/*
 * nab-bench: measures ml-engine on the Numenta Anomaly Benchmark files of
 * the shared data folder. It runs `ml-engine detect` over every file,
 * writes the scores in NAB's results layout
 * (<out>/<detector>/<category>/<detector>_<file>.csv with columns
 * timestamp,value,anomaly_score,label), scores them with NAB's rules (one
 * optimised threshold per cost profile, normalised between the null and
 * the perfect detector), times the detector library in-process, and
 * prints the normalised scores beside the published detectors'. With
 * --score-results it scores an existing results tree instead (such as
 * NAB's own published results, to check this scorer against them).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corpus.h"
#include "ml/csv.h"
#include "ml/detector.h"
#include "scorer.h"

extern char **environ;

#ifndef NAB_DEFAULT_DIR
#define NAB_DEFAULT_DIR "data/nab"
#endif

/* The shared data README's table: NAB's published results scored on these
 * 42 files (standard, reward low FP, reward low FN). */
static const struct {
  const char *name;
  double score[3];
} published[] = {
    {"ARTime", {71.86, 62.51, 77.38}},
    {"Numenta HTM", {69.88, 63.65, 74.13}},
    {"CAD OSE (contextOSE)", {67.64, 63.33, 71.66}},
    {"Relative Entropy", {55.81, 47.65, 60.40}},
    {"Random Cut Forest", {53.37, 42.61, 61.31}},
    {"earthgecko Skyline", {53.35, 45.10, 57.79}},
    {"KNN CAD", {52.34, 40.12, 58.56}},
    {"Windowed Gaussian", {30.56, 16.37, 37.28}},
    {"null", {0.00, 0.00, 0.00}},
};

struct options {
  const char *nab_dir;
  const char *engine;
  const char *out;
  const char *detector;
  const char *score_root;
  double threshold;
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: nab-bench [--nab DIR] [--engine PATH] [--out DIR]\n"
          "                 [--detector NAME] [--threshold X]\n"
          "       nab-bench --score-results ROOT --detector NAME [--nab DIR]\n"
          "  --nab DIR        NAB data (default $FARM_SHARED_DIR/data/nab)\n"
          "  --engine PATH    ml-engine program (default: beside nab-bench)\n"
          "  --out DIR        results tree to write (default nab-results)\n"
          "  --detector NAME  detector name in the results tree (default iotferme)\n"
          "  --threshold X    passed to ml-engine detect (default %.2f)\n",
          ML_DEFAULT_THRESHOLD);
}

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int mkdirs(const char *path)
{
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return -1;
  for (char *p = buf + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* The engine beside this program: dirname(argv0) or /proc/self/exe. */
static void default_engine(char *out, size_t cap, const char *argv0)
{
  char self[4096];
  const char *base = argv0;
  if (strchr(argv0, '/') == NULL) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = '\0';
      base = self;
    }
  }
  const char *slash = strrchr(base, '/');
  if (slash == NULL)
    snprintf(out, cap, "ml-engine");
  else
    snprintf(out, cap, "%.*s/ml-engine", (int)(slash - base), base);
}

/* Runs the engine with stdin from in_path and stdout to out_path. */
static int run_engine(const struct options *o, const char *in_path,
                      const char *out_path)
{
  char thr[32];
  snprintf(thr, sizeof thr, "%.17g", o->threshold);
  char *argv[] = {(char *)o->engine, "detect", "--threshold", thr, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC,
                                   0666);
  pid_t pid;
  int rc = posix_spawn(&pid, o->engine, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    fprintf(stderr, "nab-bench: cannot run %s: %s\n", o->engine, strerror(rc));
    return -1;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "nab-bench: %s failed on %s (status %d)\n", o->engine, in_path,
            status);
    return -1;
  }
  return 0;
}

/* Checks the engine's output against the data (one row per row, same
 * timestamps) and rewrites it as a NAB results file with the label column. */
static int write_results(struct nab_series *s, const char *engine_out,
                         const char *path)
{
  char err[512];
  if (nab_read_scores(s, engine_out, true, err, sizeof err) != 0) {
    fprintf(stderr, "nab-bench: %s\n", err);
    return -1;
  }
  size_t len;
  char *text = nab_read_file(engine_out, &len);
  FILE *f = text ? fopen(path, "w") : NULL;
  if (f == NULL) {
    free(text);
    fprintf(stderr, "nab-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = text, *nl;
  size_t row = 0, w = 0;
  fprintf(f, "timestamp,value,anomaly_score,label\n");
  line = strchr(line, '\n') + 1; /* the header, checked by nab_read_scores */
  for (; (nl = strchr(line, '\n')) != NULL && row < s->rows; line = nl + 1, row++) {
    while (w < s->windows && row > s->win[w].last)
      w++;
    int label = w < s->windows && row >= s->win[w].first;
    fprintf(f, "%.*s,%d\n", (int)(nl - line), line, label);
  }
  free(text);
  if (fclose(f) != 0) {
    fprintf(stderr, "nab-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int run_corpus(struct nab_corpus *c, const struct options *o, double *engine_s)
{
  double t0 = now_s();
  for (size_t i = 0; i < c->count; i++) {
    struct nab_series *s = &c->series[i];
    char in_path[4096], path[4096], tmp[4200], dir[4096];
    snprintf(in_path, sizeof in_path, "%s/data/%s", o->nab_dir, s->name);
    if (nab_results_path(path, sizeof path, o->out, o->detector, s->name) != 0)
      return -1;
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (mkdirs(dir) != 0) {
      fprintf(stderr, "nab-bench: mkdir %s: %s\n", dir, strerror(errno));
      return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.engine", path);
    int rc = run_engine(o, in_path, tmp);
    if (rc == 0)
      rc = write_results(s, tmp, path);
    remove(tmp);
    if (rc != 0)
      return -1;
  }
  *engine_s = now_s() - t0;
  return 0;
}

/* Runs the library over every file in-process: the detector's own cost,
 * without process start-up or CSV. Also checks the engine's scores are the
 * library's (to the 6 decimals the CSV carries). */
static int time_library(const struct nab_corpus *c, double threshold, double *us)
{
  static struct ml_detector d;
  struct ml_detector_config cfg;
  ml_detector_config_default(&cfg);
  cfg.threshold = threshold;
  double best = INFINITY;
  volatile double sink = 0.0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_s();
    for (size_t i = 0; i < c->count; i++) {
      const struct nab_series *s = &c->series[i];
      ml_detector_init(&d, &cfg);
      for (size_t r = 0; r < s->rows; r++) {
        double score;
        ml_detector_update(&d, s->value[r], &score);
        sink += score;
        if (rep == 0 && fabs(score - s->score[r]) > 5e-7) {
          fprintf(stderr, "nab-bench: %s row %zu: engine %.6f, library %.6f\n",
                  s->name, r + 1, s->score[r], score);
          return -1;
        }
      }
    }
    double t = now_s() - t0;
    if (t < best)
      best = t;
  }
  (void)sink;
  *us = best * 1e6 / (double)c->rows;
  return 0;
}

static void machine(char *out, size_t cap)
{
  snprintf(out, cap, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL)
    return;
  char line[512];
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "model name", 10) == 0) {
      char *v = strchr(line, ':');
      if (v != NULL) {
        v += 1 + (v[1] == ' ');
        v[strcspn(v, "\n")] = '\0';
        snprintf(out, cap, "%s", v);
      }
      break;
    }
  }
  fclose(f);
}

static int score_and_print(const struct nab_corpus *c, const struct options *o,
                           bool ours)
{
  struct nab_result best[3], fixed[3];
  for (int k = 0; k < 3; k++) {
    if (nab_corpus_score(c, &nab_profiles[k], -1.0, &best[k]) != 0 ||
        (ours && nab_corpus_score(c, &nab_profiles[k], o->threshold, &fixed[k]) != 0)) {
      fprintf(stderr, "nab-bench: out of memory\n");
      return -1;
    }
  }
  printf("\n%-24s %9s %14s %14s\n", "detector", "standard", "reward_low_FP",
         "reward_low_FN");
  printf("%-24s %9.2f %14.2f %14.2f   <- this run\n", o->detector, best[0].normalised,
         best[1].normalised, best[2].normalised);
  for (size_t i = 0; i < sizeof published / sizeof published[0]; i++)
    printf("%-24s %9.2f %14.2f %14.2f   (published)\n", published[i].name,
           published[i].score[0], published[i].score[1], published[i].score[2]);
  printf("\nper profile (threshold optimised over the corpus, as NAB does):\n");
  for (int k = 0; k < 3; k++)
    printf("  %-20s threshold %.6f  raw %8.3f  windows detected %zu/%zu  "
           "false-positive rows %zu\n",
           nab_profiles[k].name, best[k].threshold, best[k].raw, best[k].detected,
           best[k].windows, best[k].fp_rows);
  if (ours) {
    printf("at the configured threshold %.2f (no optimisation):\n", o->threshold);
    for (int k = 0; k < 3; k++)
      printf("  %-20s %6.2f  windows detected %zu/%zu  false-positive rows %zu\n",
             nab_profiles[k].name, fixed[k].normalised, fixed[k].detected,
             fixed[k].windows, fixed[k].fp_rows);
  }
  printf("\nNAB scores: standard %.2f reward_low_FP_rate %.2f reward_low_FN_rate %.2f\n",
         best[0].normalised, best[1].normalised, best[2].normalised);
  return 0;
}

int main(int argc, char **argv)
{
  char engine[4096], nab_dir[4096];
  struct options o = {NULL, NULL, "nab-results", "iotferme", NULL,
                      ML_DEFAULT_THRESHOLD};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (v != NULL && strcmp(a, "--nab") == 0) {
      o.nab_dir = v;
    } else if (v != NULL && strcmp(a, "--engine") == 0) {
      o.engine = v;
    } else if (v != NULL && strcmp(a, "--out") == 0) {
      o.out = v;
    } else if (v != NULL && strcmp(a, "--detector") == 0) {
      o.detector = v;
    } else if (v != NULL && strcmp(a, "--score-results") == 0) {
      o.score_root = v;
    } else if (v != NULL && strcmp(a, "--threshold") == 0) {
      char *end;
      o.threshold = strtod(v, &end);
      if (*end != '\0' || !(o.threshold > 0.0 && o.threshold <= 1.0)) {
        fprintf(stderr, "nab-bench: --threshold must be in (0, 1]\n");
        return 2;
      }
    } else {
      usage(stderr);
      return 2;
    }
    i++;
  }
  if (o.nab_dir == NULL) {
    const char *shared = getenv("FARM_SHARED_DIR");
    if (shared != NULL)
      snprintf(nab_dir, sizeof nab_dir, "%s/data/nab", shared);
    else
      snprintf(nab_dir, sizeof nab_dir, "%s", NAB_DEFAULT_DIR);
    o.nab_dir = nab_dir;
  }
  if (o.engine == NULL) {
    default_engine(engine, sizeof engine, argv[0]);
    o.engine = engine;
  }

  struct nab_corpus c;
  char err[1024];
  int rc = 1;
  if (nab_corpus_load(&c, o.nab_dir, err, sizeof err) != 0) {
    fprintf(stderr, "nab-bench: %s\n", err);
    goto done;
  }
  printf("NAB corpus %s: %zu files, %zu windows, %zu rows\n", o.nab_dir, c.count,
         c.windows, c.rows);

  if (o.score_root != NULL) {
    for (size_t i = 0; i < c.count; i++) {
      char path[4096];
      if (nab_results_path(path, sizeof path, o.score_root, o.detector,
                           c.series[i].name) != 0 ||
          nab_read_scores(&c.series[i], path, false, err, sizeof err) != 0) {
        fprintf(stderr, "nab-bench: %s\n", err);
        goto done;
      }
    }
    rc = score_and_print(&c, &o, false) == 0 ? 0 : 1;
    goto done;
  }

  double engine_s, lib_us;
  if (run_corpus(&c, &o, &engine_s) != 0 || time_library(&c, o.threshold, &lib_us) != 0)
    goto done;
  printf("results written under %s/%s/ by %s detect --threshold %.2f\n", o.out,
         o.detector, o.engine, o.threshold);
  if (score_and_print(&c, &o, true) != 0)
    goto done;
  char cpu[256];
  machine(cpu, sizeof cpu);
  printf("cost: %.3f us/point in-process (detector library, one core, best of 3); "
         "%.3f us/point through ml-engine detect (process start, CSV in and out)\n",
         lib_us, engine_s * 1e6 / (double)c.rows);
  printf("machine: %s, %ld online CPUs\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
  rc = 0;
done:
  nab_corpus_free(&c);
  return rc;
}
