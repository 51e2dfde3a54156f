/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for farm-sim's untrusted text: the control socket's
 * command lines (fsim_control_exec, each line against a fresh small world
 * that then runs a simulated second) and the --anomaly specification. Every
 * answer must end in exactly one "ok" or "error: ..." line.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fsim/control.h"
#include "fsim/options.h"
#include "fsim/world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
  int lines;
  int finals;
  bool last_final;
};

static void count(void *ctx, const char *line)
{
  struct tally *t = ctx;
  bool final = strcmp(line, "ok") == 0 || strncmp(line, "error: ", 7) == 0;
  t->lines++;
  t->finals += final;
  t->last_final = final;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char text[1024];
  if (size >= sizeof text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  struct fsim_anomaly a;
  char why[128];
  (void)fsim_anomaly_parse(text, &a, why, sizeof why);

  struct fsim_config cfg;
  fsim_config_default(&cfg);
  cfg.nodes = 3;
  cfg.log_level = HAL_LOG_ERROR;
  struct fsim_world *w;
  if (fsim_world_new(&cfg, &w, NULL, 0) != 0)
    return 0;
  struct fsim_control c;
  fsim_control_init(&c, w);
  fsim_control_set_reader(&c, true);
  for (char *line = text; line != NULL;) {
    char *nl = strchr(line, '\n');
    if (nl != NULL)
      *nl = '\0';
    struct tally t = {0};
    int rc = fsim_control_exec(&c, line, count, &t);
    assert(t.finals == 1 && t.last_final);
    assert(rc == 0 || rc < 0);
    fsim_advance(w, fsim_now(w) + 1000);
    line = nl != NULL ? nl + 1 : NULL;
  }
  fsim_world_free(w);
  return 0;
}
