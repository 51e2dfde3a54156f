/* SPDX-License-Identifier: MIT */
/*
 * The ml-engine program, two subcommands (there is no default one: without
 * a subcommand it prints its usage and exits 2).
 *
 * `ml-engine detect` runs one detector over a `timestamp,value` CSV read on
 * stdin and writes `timestamp,value,anomaly_score` on stdout, one row per
 * input row, timestamps and values copied verbatim; it is the same code the
 * service runs per stream and the one the NAB benchmark measures. Exit
 * status: 0 done, 1 malformed input ("line N: reason" on stderr, after the
 * rows before it were written), 2 usage, I/O or checkpoint error.
 *
 * `ml-engine run` is the MQTT service (svc/service.h): configuration from
 * an INI file and ML_* environment variables, fail closed. Exit status: 0
 * after SIGTERM or SIGINT (checkpoint saved), 1 when it cannot start or the
 * last checkpoint failed, 2 configuration refused or usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/config.h"
#include "farmd/log.h"
#include "ml/csv.h"
#include "ml/detector.h"
#include "svc/service.h"

extern char **environ;

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
  fprintf(f,
          "usage: ml-engine detect [--threshold X] [--checkpoint FILE]\n"
          "  Reads a timestamp,value CSV on stdin, writes\n"
          "  timestamp,value,anomaly_score on stdout.\n"
          "  --threshold X      detection threshold in (0, 1] (default %.2f)\n"
          "  --checkpoint FILE  resume from FILE if it exists; save the\n"
          "                     detector there after the last row\n"
          "exit: 0 done, 1 malformed input (line N: reason), 2 usage or I/O\n"
          "\n"
          "usage: ml-engine run [-c FILE] [--check-config] [--print-config]\n"
          "  The MQTT service: anomalies, sensor faults, forecasts.\n"
          "  -c, --config FILE  INI configuration (also ML_CONFIG)\n"
          "  --check-config     validate the configuration and exit\n"
          "  --print-config     print the effective configuration (secrets hidden)\n"
          "  Every key can be overridden by ML_<KEY> in the environment;\n"
          "  secrets also by ML_<KEY>_FILE. Keys:\n",
          ML_DEFAULT_THRESHOLD);
  for (size_t i = 0; i < mls_config_nkeys; i++)
    fprintf(f, "  %-22s %s (default: %s)\n", mls_config_keys[i].name, mls_config_keys[i].help,
            mls_config_keys[i].def ? mls_config_keys[i].def : "none");
  fprintf(f, "exit: 0 stopped by a signal, 1 could not start, 2 configuration or usage\n");
}

/*
 * Reads one line of at most cap-1 bytes (without its "\n" or "\r\n") into
 * buf. Returns its length, -1 at end of input, -2 when the line is longer
 * (the rest of the input is not read: the run stops there anyway).
 */
static long read_line(FILE *in, char *buf, size_t cap)
{
  size_t n = 0;
  int ch;
  while ((ch = getc(in)) != EOF && ch != '\n') {
    if (n + 1 >= cap)
      return -2;
    buf[n++] = (char)ch;
  }
  if (ch == EOF && n == 0)
    return -1;
  if (n > 0 && buf[n - 1] == '\r')
    n--;
  buf[n] = '\0';
  return (long)n;
}

static int load_checkpoint(const char *path, struct ml_detector *d, bool *found)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (errno == ENOENT) {
      *found = false;
      return 0;
    }
    fprintf(stderr, "ml-engine: checkpoint %s: %s\n", path, strerror(errno));
    return -1;
  }
  static uint8_t buf[ML_CHECKPOINT_SIZE + 1];
  /* One byte more than a checkpoint, to notice trailing garbage. */
  size_t n = fread(buf, 1, sizeof buf, f);
  bool bad = ferror(f);
  fclose(f);
  int err = bad ? FARM_EIO : ml_detector_restore(d, buf, n);
  if (err != 0) {
    fprintf(stderr, "ml-engine: checkpoint %s: %s\n", path, farm_strerror(err));
    return -1;
  }
  *found = true;
  return 0;
}

/* Writes the checkpoint beside the file and renames it over, so a crash
 * never leaves a half-written checkpoint. */
static int save_checkpoint(const char *path, const struct ml_detector *d)
{
  static uint8_t buf[ML_CHECKPOINT_SIZE];
  size_t n;
  char tmp[4096];
  if (ml_detector_save(d, buf, sizeof buf, &n) != 0 ||
      snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    fprintf(stderr, "ml-engine: checkpoint %s: path too long\n", path);
    return -1;
  }
  FILE *f = fopen(tmp, "wb");
  if (f == NULL)
    goto fail;
  bool ok = fwrite(buf, 1, n, f) == n;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    goto fail;
  }
  return 0;
fail:
  fprintf(stderr, "ml-engine: checkpoint %s: %s\n", path, strerror(errno));
  return -1;
}

static int parse_threshold(const char *s, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !(v > 0.0 && v <= 1.0))
    return -1;
  *out = v;
  return 0;
}

static int detect(int argc, char **argv)
{
  const char *ckpt = NULL;
  double threshold = ML_DEFAULT_THRESHOLD;
  bool threshold_set = false;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc) {
      if (parse_threshold(argv[++i], &threshold) != 0) {
        fprintf(stderr, "ml-engine: --threshold must be a number in (0, 1]\n");
        return EXIT_USAGE;
      }
      threshold_set = true;
    } else if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) {
      ckpt = argv[++i];
    } else {
      usage(stderr);
      return EXIT_USAGE;
    }
  }

  static struct ml_detector det;
  struct ml_detector_config cfg;
  ml_detector_config_default(&cfg);
  cfg.threshold = threshold;
  if (ml_detector_init(&det, &cfg) != 0)
    return EXIT_USAGE;
  bool resumed = false;
  if (ckpt != NULL && load_checkpoint(ckpt, &det, &resumed) != 0)
    return EXIT_USAGE;
  /* An explicit threshold wins over the one saved in the checkpoint. */
  if (resumed && threshold_set)
    ml_detector_set_threshold(&det, threshold);

  char line[ML_CSV_MAX_LINE + 2];
  long len = read_line(stdin, line, sizeof line);
  if (len < 0 || !ml_csv_is_header(line, (size_t)len)) {
    fprintf(stderr, "line 1: %s\n",
            len == -1 ? "empty input, expected the header timestamp,value"
                      : "expected the header timestamp,value");
    return EXIT_INPUT;
  }
  if (printf("timestamp,value,anomaly_score\n") < 0)
    goto io_error;

  /* Rows are taken in input order. Timestamps are checked for form only:
   * real series (NAB's among them) have a few that repeat or go back. */
  for (unsigned long lineno = 2;; lineno++) {
    len = read_line(stdin, line, sizeof line);
    if (len == -1)
      break;
    struct ml_csv_row row;
    const char *why = "line too long";
    int err = len == -2 ? FARM_ETOOBIG : ml_csv_parse_row(line, (size_t)len, &row, &why);
    if (err != 0) {
      fflush(stdout);
      fprintf(stderr, "line %lu: %s\n", lineno, why);
      return EXIT_INPUT;
    }
    double score;
    /* The parser only lets finite values through, so update cannot fail. */
    if (ml_detector_update(&det, row.value, &score) != 0)
      return EXIT_USAGE;
    if (printf("%.*s,%.*s,%.6f\n", (int)row.ts_len, row.ts, (int)row.val_len, row.val, score) < 0)
      goto io_error;
  }
  if (ferror(stdin)) {
    fprintf(stderr, "ml-engine: reading stdin: %s\n", strerror(errno));
    return EXIT_USAGE;
  }
  if (fflush(stdout) != 0)
    goto io_error;
  if (ckpt != NULL && save_checkpoint(ckpt, &det) != 0)
    return EXIT_USAGE;
  return EXIT_OK;
io_error:
  fprintf(stderr, "ml-engine: writing stdout: %s\n", strerror(errno));
  return EXIT_USAGE;
}

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static int run(int argc, char **argv)
{
  const char *file = getenv("ML_CONFIG");
  bool check = false, print = false;
  for (int i = 0; i < argc; i++) {
    if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
      file = argv[++i];
    } else if (strcmp(argv[i], "--check-config") == 0) {
      check = true;
    } else if (strcmp(argv[i], "--print-config") == 0) {
      print = true;
    } else {
      fprintf(stderr, "ml-engine: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  struct fd_cfg cfg;
  if (fd_cfg_init(&cfg, mls_config_keys, mls_config_nkeys) != 0) {
    fprintf(stderr, "ml-engine: out of memory\n");
    return 1;
  }
  char err[512];
  static const char *const allow[] = {"ML_CONFIG", NULL};
  static struct mls_settings set;
  enum fd_log_level level;
  if ((file && file[0] && fd_cfg_load_file(&cfg, file, err, sizeof err) != 0) ||
      fd_cfg_load_env(&cfg, "ML_", environ, allow, err, sizeof err) != 0 ||
      mls_settings_load(&cfg, &set, err, sizeof err) != 0) {
    fprintf(stderr, "ml-engine: configuration refused: %s\n", err);
    fd_cfg_free(&cfg);
    return EXIT_USAGE;
  }
  if (fd_log_level_parse(fd_cfg_str(&cfg, "log_level"), &level) != 0) {
    fprintf(stderr,
            "ml-engine: configuration refused: log_level must be error, warn, info or debug\n");
    fd_cfg_free(&cfg);
    return EXIT_USAGE;
  }
  if (print)
    fd_cfg_dump(&cfg, stdout);
  if (check || print) {
    fd_cfg_free(&cfg);
    return EXIT_OK;
  }
  struct fd_log log;
  fd_log_init(&log, "ml-engine", level, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  int rc = mls_run(&cfg, &set, &log, &stop_flag);
  fd_cfg_free(&cfg);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc >= 2 && strcmp(argv[1], "detect") == 0)
    return detect(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "run") == 0)
    return run(argc - 2, argv + 2);
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return EXIT_OK;
  }
  usage(stderr);
  return EXIT_USAGE;
}
