/* SPDX-License-Identifier: MIT */
/* Deployment files: `systemd-analyze verify` passes on the unit without a
 * warning (and the check itself fails on a broken unit), `cmake --install`
 * with a prefix and DESTDIR puts every file in place with ExecStart under
 * the prefix, and the example configuration is accepted by --check-config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[FH_PATH];
static char out[16384];

static int setup(void **state)
{
  (void)state;
  fh_tmpdir(dir, "eadeploy");
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  fh_rmtree(dir);
  return 0;
}

/* The repository's unit with the program path of this build. */
static void unit_copy(const char *to, const char *from_text, const char *replace_with)
{
  char src[FH_PATH + 64];
  snprintf(src, sizeof src, "%s/deploy/edge-agent.service", fh_source_dir());
  char *text = fh_read_file(src);
  assert_non_null(text);
  FILE *f = fopen(to, "w");
  assert_non_null(f);
  const char *p = text;
  const char *hit;
  while ((hit = strstr(p, from_text))) {
    fwrite(p, 1, (size_t)(hit - p), f);
    fputs(replace_with, f);
    p = hit + strlen(from_text);
  }
  fputs(p, f);
  fclose(f);
  free(text);
}

static int verify(const char *unit)
{
  const char *argv[] = {"/usr/bin/systemd-analyze", "verify", "--man=no", unit, NULL};
  return fh_run(argv, out, sizeof out);
}

static void test_systemd_analyze_verify(void **state)
{
  (void)state;
  char unit[FH_PATH + 32], bin[FH_PATH + 32];
  snprintf(unit, sizeof unit, "%s/edge-agent.service", dir);
  snprintf(bin, sizeof bin, "%s/edge-agent", fh_bin_dir());
  unit_copy(unit, "/usr/local/bin/edge-agent", bin);
  int rc = verify(unit);
  if (rc != 0 || out[0])
    fail_msg("systemd-analyze verify: status %d: %s", rc, out);
  /* The check can fail: a typo in a setting is reported. */
  unit_copy(unit, "Type=notify", "Type=notifyy");
  rc = verify(unit);
  assert_true(rc != 0 || strstr(out, "Failed to parse service type"));
  unit_copy(unit, "/usr/local/bin/edge-agent", "/nonexistent/edge-agent");
  assert_int_not_equal(verify(unit), 0);
}

static void test_install_prefix_destdir(void **state)
{
  (void)state;
  char destdir[FH_PATH + 32], env[FH_PATH + 64];
  snprintf(destdir, sizeof destdir, "%s/stage", dir);
  snprintf(env, sizeof env, "DESTDIR=%s", destdir);
  /* DESTDIR reaches cmake through the environment, as from make install. */
  const char *argv[] = {"/usr/bin/env", env,    EA_CMAKE,   "--install", EA_BUILD_DIR,
                        "--component",  "edge", "--prefix", "/opt/farm", NULL};
  int rc = fh_run(argv, out, sizeof out);
  if (rc != 0)
    fail_msg("cmake --install: %d: %s", rc, out);
  static const char *const files[] = {
      "/opt/farm/bin/edge-agent",
      "/opt/farm/lib/systemd/system/edge-agent.service",
      "/opt/farm/lib/udev/rules.d/99-iotferme-gateway.rules",
      "/opt/farm/share/doc/iotferme/edge-agent.ini.example",
      "/opt/farm/share/doc/iotferme/deploy-edge.md",
      "/opt/farm/share/doc/iotferme/edge-agent.md",
      "/opt/farm/share/doc/iotferme/configuration.md",
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char p[FH_PATH + 128];
    snprintf(p, sizeof p, "%s%s", destdir, files[i]);
    if (access(p, F_OK) != 0)
      fail_msg("not installed: %s", files[i]);
  }
  char p[FH_PATH + 128];
  snprintf(p, sizeof p, "%s/opt/farm/bin/edge-agent", destdir);
  assert_int_equal(access(p, X_OK), 0);
  snprintf(p, sizeof p, "%s/opt/farm/lib/systemd/system/edge-agent.service", destdir);
  char *unit = fh_read_file(p);
  assert_non_null(unit);
  assert_non_null(strstr(unit, "\nExecStart=/opt/farm/bin/edge-agent --config "));
  assert_non_null(strstr(unit, "\nExecStartPre=/opt/farm/bin/edge-agent --config "));
  assert_null(strstr(unit, "/usr/local/bin"));
  free(unit);
  /* Nothing outside DESTDIR. */
  assert_int_not_equal(access("/opt/farm/bin/edge-agent", F_OK), 0);
}

static void test_example_config_is_valid(void **state)
{
  (void)state;
  char bin[FH_PATH + 32], ini[FH_PATH + 64];
  snprintf(bin, sizeof bin, "%s/edge-agent", fh_bin_dir());
  snprintf(ini, sizeof ini, "%s/deploy/edge-agent.ini.example", fh_source_dir());
  /* With the secrets that the service passes as credentials. */
  const char *argv[] = {"/usr/bin/env",
                        "EDGE_BASIC_AUTH_PASSWORD=secret",
                        "EDGE_MQTT_PASSWORD=secret",
                        bin,
                        "--config",
                        ini,
                        "--check-config",
                        NULL};
  int rc = fh_run(argv, out, sizeof out);
  if (rc != 0)
    fail_msg("edge-agent --check-config on the example: %d: %s", rc, out);
  assert_string_equal(out, "edge-agent: configuration OK\n");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_systemd_analyze_verify),
      cmocka_unit_test(test_install_prefix_destdir),
      cmocka_unit_test(test_example_config_is_valid),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
