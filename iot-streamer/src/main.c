/* SPDX-License-Identifier: MIT */
/*
 * iot-streamer entry point: command line, configuration (INI file and
 * STREAMER_* environment, fail closed), signals, then the service loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farmd/config.h"
#include "farmd/log.h"
#include "streamer.h"

extern char **environ;

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_stop(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static void on_hup(int sig)
{
  (void)sig;
  reload_flag = 1;
}

static void usage(FILE *out)
{
  fprintf(out,
          "usage: iot-streamer [-c FILE] [--check-config] [--print-config]\n"
          "  -c, --config FILE  INI configuration (also STREAMER_CONFIG)\n"
          "  --check-config     validate the configuration and exit\n"
          "  --print-config     print the effective configuration (secrets hidden)\n"
          "Every key can be overridden by STREAMER_<KEY> in the environment;\n"
          "secrets also by STREAMER_<KEY>_FILE. Keys:\n");
  for (size_t i = 0; i < st_config_nkeys; i++)
    fprintf(out, "  %-22s %s (default: %s)\n", st_config_keys[i].name, st_config_keys[i].help,
            st_config_keys[i].def ? st_config_keys[i].def : "none");
}

int main(int argc, char **argv)
{
  const char *file = getenv("STREAMER_CONFIG");
  bool check = false, print = false;
  for (int i = 1; i < argc; i++) {
    if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
      file = argv[++i];
    } else if (strcmp(argv[i], "--check-config") == 0) {
      check = true;
    } else if (strcmp(argv[i], "--print-config") == 0) {
      print = true;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "iot-streamer: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  struct fd_cfg cfg;
  if (fd_cfg_init(&cfg, st_config_keys, st_config_nkeys) != 0) {
    fprintf(stderr, "iot-streamer: out of memory\n");
    return 1;
  }
  char err[512];
  static const char *const allow[] = {"STREAMER_CONFIG", NULL};
  if ((file && file[0] && fd_cfg_load_file(&cfg, file, err, sizeof err) != 0) ||
      fd_cfg_load_env(&cfg, "STREAMER_", environ, allow, err, sizeof err) != 0) {
    fprintf(stderr, "iot-streamer: configuration refused: %s\n", err);
    fd_cfg_free(&cfg);
    return 2;
  }
  enum fd_log_level level;
  if (fd_log_level_parse(fd_cfg_str(&cfg, "log_level"), &level) != 0) {
    fprintf(stderr, "iot-streamer: configuration refused: log_level must be error, warn, info or debug\n");
    fd_cfg_free(&cfg);
    return 2;
  }
  if (print)
    fd_cfg_dump(&cfg, stdout);
  if (check || print) {
    fd_cfg_free(&cfg);
    return 0;
  }

  struct fd_log log;
  fd_log_init(&log, "iot-streamer", level, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  int rc = st_run(&cfg, &log, &stop_flag, &reload_flag);
  fd_cfg_free(&cfg);
  return rc;
}
