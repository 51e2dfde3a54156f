/* SPDX-License-Identifier: MIT */
/*
 * web-gateway entry point: command line, configuration (INI file and
 * WEBGW_* environment, fail closed), signals, then the service loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "farmd/config.h"
#include "farmd/log.h"
#include "wg.h"

extern char **environ;

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static void usage(FILE *out)
{
  fprintf(out,
          "usage: web-gateway [-c FILE] [--check-config] [--print-config]\n"
          "  -c, --config FILE  INI configuration (also WEBGW_CONFIG)\n"
          "  --check-config     validate the configuration and exit\n"
          "  --print-config     print the effective configuration (secrets hidden)\n"
          "Every key can be overridden by WEBGW_<KEY> in the environment;\n"
          "secrets also by WEBGW_<KEY>_FILE. Keys:\n");
  for (size_t i = 0; i < wg_config_nkeys; i++)
    fprintf(out, "  %-22s %s (default: %s)\n", wg_config_keys[i].name, wg_config_keys[i].help,
            wg_config_keys[i].def ? wg_config_keys[i].def : "none");
}

int main(int argc, char **argv)
{
  const char *file = getenv("WEBGW_CONFIG");
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
      fprintf(stderr, "web-gateway: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  struct fd_cfg cfg;
  if (fd_cfg_init(&cfg, wg_config_keys, wg_config_nkeys) != 0) {
    fprintf(stderr, "web-gateway: out of memory\n");
    return 1;
  }
  char err[512];
  static const char *const allow[] = {"WEBGW_CONFIG", NULL};
  if ((file && file[0] && fd_cfg_load_file(&cfg, file, err, sizeof err) != 0) ||
      fd_cfg_load_env(&cfg, "WEBGW_", environ, allow, err, sizeof err) != 0) {
    fprintf(stderr, "web-gateway: configuration refused: %s\n", err);
    fd_cfg_free(&cfg);
    return 2;
  }
  enum fd_log_level level;
  if (fd_log_level_parse(fd_cfg_str(&cfg, "log_level"), &level) != 0) {
    fprintf(stderr,
            "web-gateway: configuration refused: log_level must be error, warn, info or debug\n");
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
  fd_log_init(&log, "web-gateway", level, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  /* libcurl's global state, once, before any thread uses it. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    fprintf(stderr, "web-gateway: cannot initialise libcurl\n");
    fd_cfg_free(&cfg);
    return 1;
  }
  int rc = wg_run(&cfg, &log, &stop_flag);
  curl_global_cleanup();
  fd_cfg_free(&cfg);
  return rc;
}
