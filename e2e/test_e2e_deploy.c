/* SPDX-License-Identifier: MIT */
/*
 * The cloud's deployment files (label integration): each unit of
 * deploy/systemd passes `systemd-analyze verify` without a word (and the
 * check fails on a broken unit), every credential a unit loads is the one
 * its environment points at, and every configuration block of
 * docs/deploy-cloud.md ("# /etc/iotferme/NAME.ini") is accepted by its
 * program's --check-config with the unit's environment, the credentials
 * standing in as files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[FH_PATH];
static char out[16384];

static const char *const units[] = {"iot-streamer", "web-gateway", "ml-engine"};

static int setup(void **state)
{
  (void)state;
  fh_tmpdir(dir, "e2edeploy");
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  fh_rmtree(dir);
  return 0;
}

/* Writes text to path with every `from` replaced by `to`. */
static void write_replaced(const char *path, const char *text, const char *from, const char *to)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  const char *p = text, *hit;
  while ((hit = strstr(p, from))) {
    fwrite(p, 1, (size_t)(hit - p), f);
    fputs(to, f);
    p = hit + strlen(from);
  }
  fputs(p, f);
  fclose(f);
}

static char *unit_text(const char *name)
{
  char path[FH_PATH + 64];
  snprintf(path, sizeof path, "%s/deploy/systemd/%s.service", fh_source_dir(), name);
  char *t = fh_read_file(path);
  if (!t)
    fail_msg("%s: missing", path);
  return t;
}

static int verify(const char *unit)
{
  const char *argv[] = {"/usr/bin/systemd-analyze", "verify", "--man=no", unit, NULL};
  return fh_run(argv, out, sizeof out);
}

static void test_units_verify(void **state)
{
  (void)state;
  char bin[FH_PATH + 8];
  snprintf(bin, sizeof bin, "%s/", fh_bin_dir());
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    char *text = unit_text(units[i]);
    char unit[FH_PATH + 64];
    snprintf(unit, sizeof unit, "%s/%s.service", dir, units[i]);
    write_replaced(unit, text, "/usr/local/bin/", bin);
    int rc = verify(unit);
    if (rc != 0 || out[0])
      fail_msg("%s: systemd-analyze verify: status %d: %s", units[i], rc, out);
    /* The check can fail: a program that is not there is reported. */
    write_replaced(unit, text, "/usr/local/bin/", "/nonexistent/");
    assert_int_not_equal(verify(unit), 0);
    free(text);
  }
}

/* Collects the unit's Environment= values (uncommented) with %d and %S
 * replaced, and checks each LoadCredential= is used by one of them. */
static size_t unit_env(const char *name, const char *creds, const char *states, char env[][512],
                       size_t cap)
{
  char *text = unit_text(name);
  size_t n = 0;
  char loaded[8][64];
  size_t nloaded = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "LoadCredential=", 15) == 0 && nloaded < 8) {
      snprintf(loaded[nloaded], sizeof loaded[0], "%.*s", (int)strcspn(line + 15, ":"), line + 15);
      nloaded++;
    }
    if (strncmp(line, "Environment=", 12) != 0 || n == cap)
      continue;
    char v[512] = "";
    size_t k = 0;
    for (const char *p = line + 12; *p && k + 1 < sizeof v; p++) {
      if (p[0] == '%' && (p[1] == 'd' || p[1] == 'S')) {
        k += (size_t)snprintf(v + k, sizeof v - k, "%s", p[1] == 'd' ? creds : states);
        p++;
      } else {
        v[k++] = *p;
        v[k] = '\0';
      }
    }
    snprintf(env[n++], 512, "%s", v);
  }
  for (size_t i = 0; i < nloaded; i++) {
    char want[FH_PATH + 96];
    snprintf(want, sizeof want, "%s/%s", creds, loaded[i]);
    bool used = false;
    for (size_t j = 0; j < n; j++)
      used |= strstr(env[j], want) != NULL;
    if (!used)
      fail_msg("%s: credential %s loaded but not used", name, loaded[i]);
    /* The credential as the service would see it. */
    FILE *f = fopen(want, "w");
    assert_non_null(f);
    fputs("stand-in-secret\n", f);
    fclose(f);
  }
  free(text);
  return n;
}

static void test_doc_configurations(void **state)
{
  (void)state;
  char doc[FH_PATH + 32];
  snprintf(doc, sizeof doc, "%s/docs/deploy-cloud.md", fh_source_dir());
  char *text = fh_read_file(doc);
  assert_non_null(text);
  char creds[FH_PATH + 16], states[FH_PATH + 16];
  snprintf(creds, sizeof creds, "%s/creds", dir);
  snprintf(states, sizeof states, "%s/state", dir);
  mkdir(creds, 0700);
  mkdir(states, 0700);
  size_t checked[3] = {0, 0, 0};
  const char *p = text;
  int block = 0;
  while ((p = strstr(p, "```ini\n# /etc/iotferme/")) != NULL) {
    p += strlen("```ini\n");
    const char *end = strstr(p, "```");
    assert_non_null(end);
    char name[64];
    assert_int_equal(sscanf(p, "# /etc/iotferme/%63[a-z-].ini", name), 1);
    size_t u = 0;
    while (u < 3 && strcmp(units[u], name) != 0)
      u++;
    if (u == 3)
      fail_msg("a configuration for an unknown program: %s", name);
    char ini[FH_PATH + 96];
    snprintf(ini, sizeof ini, "%s/%d-%s.ini", dir, block++, name);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fwrite(p, 1, (size_t)(end - p), f);
    fclose(f);

    /* The unit's environment, in a child so it does not leak. */
    static char env[16][512];
    size_t n = unit_env(name, creds, states, env, 16);
    char bin[FH_PATH + 32];
    snprintf(bin, sizeof bin, "%s/%s", fh_bin_dir(), name);
    const char *argv_svc[] = {bin, "-c", ini, "--check-config", NULL};
    const char *argv_ml[] = {bin, "run", "-c", ini, "--check-config", NULL};
    pid_t pid = fork();
    if (pid == 0) {
      for (size_t i = 0; i < n; i++)
        putenv(env[i]);
      int rc = fh_run(strcmp(name, "ml-engine") == 0 ? argv_ml : argv_svc, out, sizeof out);
      if (rc != 0)
        fprintf(stderr, "%s --check-config on %s: status %d: %s\n", name, ini, rc, out);
      _exit(rc == 0 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_msg("the %s configuration of docs/deploy-cloud.md is refused", name);
    checked[u]++;
    p = end + 3;
  }
  free(text);
  printf("configurations checked: %zu iot-streamer, %zu web-gateway, %zu ml-engine\n", checked[0],
         checked[1], checked[2]);
  /* SQLite and PostgreSQL for the streamer, one for each other program. */
  assert_int_equal(checked[0], 2);
  assert_int_equal(checked[1], 1);
  assert_int_equal(checked[2], 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_units_verify),
      cmocka_unit_test(test_doc_configurations),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
