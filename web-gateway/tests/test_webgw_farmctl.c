/* SPDX-License-Identifier: MIT */
/*
 * farmctl's admin commands against the real web-gateway, streamer, broker
 * and a scripted edge: tables and --json, a series, a command followed to
 * executed (and a failing one, and a refused one with the API's reason),
 * rules added, listed and deleted, alerts, events, credentials from the
 * environment, and the usage and credential errors with their exit codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "wgtest.h"

#define DEV "a1b2c3d4e5f6"

static struct wgt w;
static struct wgt_edge *edge;
static char tok[64];
static char out[65536];
static char farmctl[FH_PATH + 32];
static long long t0;

/* Runs farmctl --url URL --token TOKEN args...; returns its status. */
static int run(const char *const *args)
{
  const char *argv[32] = {farmctl, "--url", w.url, "--token", tok};
  size_t n = 5;
  for (size_t i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  return fh_run(argv, out, sizeof out);
}

static int group_setup(void **state)
{
  (void)state;
  snprintf(farmctl, sizeof farmctl, "%s/farmctl", fh_bin_dir());
  wgt_start(&w, "sqlite", NULL);
  edge = wgt_edge_start(&w);
  wgt_edge_status(edge, DEV, true);
  t0 = (wgt_wall_ms() / 60000 - 10) * 60000;
  for (int i = 0; i < 3; i++) {
    char v[64];
    snprintf(v, sizeof v, "\"temp_c\":%d.25", 20 + i);
    wgt_edge_tel(edge, DEV, t0 + i * 60000LL, v);
  }
  if (wgt_login(&w, "admin", WGT_ADMIN_PASSWORD, tok, NULL) != 200)
    fh_die("cannot log in");
  /* Until the streamer has stored the readings. */
  long long end = wgt_now_ms() + 15000;
  while (wgt_now_ms() < end) {
    if (run((const char *[]){"device", DEV, NULL}) == 0 && strstr(out, "temp_c=22.25"))
      return 0;
    wgt_sleep_ms(100);
  }
  fh_die("readings not stored: %s", out);
}

static int group_teardown(void **state)
{
  (void)state;
  wgt_edge_stop(edge);
  return wgt_stop(&w);
}

static void test_devices_and_sites(void **state)
{
  (void)state;
  assert_int_equal(run((const char *[]){"devices", NULL}), 0);
  assert_int_equal(strncmp(out, "DEVICE", 6), 0);
  assert_non_null(strstr(out, DEV));
  assert_non_null(strstr(out, "1.4.2"));
  assert_int_equal(run((const char *[]){"--json", "devices", "--site", "north", NULL}), 0);
  json_t *o = json_loads(out, 0, NULL);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "devices"), 0), "device")), DEV);
  json_decref(o);
  assert_int_equal(run((const char *[]){"sites", NULL}), 0);
  assert_non_null(strstr(out, "north"));
}

static void test_telemetry(void **state)
{
  (void)state;
  char from[32], to[32];
  snprintf(from, sizeof from, "%lld", t0);
  snprintf(to, sizeof to, "%lld", t0 + 180000);
  assert_int_equal(run((const char *[]){"telemetry", DEV, "temp_c", "--from", from, "--to", to, NULL}), 0);
  assert_non_null(strstr(out, "20.25"));
  assert_non_null(strstr(out, "22.25"));
  /* Hour rollups are keyed by the start of their hour: ask from the hour
   * that holds t0, or a run in the first minutes of an hour would miss it. */
  char hour[32];
  snprintf(hour, sizeof hour, "%lld", t0 / 3600000 * 3600000);
  assert_int_equal(run((const char *[]){"telemetry", DEV, "temp_c", "--from", hour, "--step", "3600000", "--json", NULL}), 0);
  json_t *o = json_loads(out, 0, NULL);
  long long count = 0;
  size_t i;
  json_t *pt;
  json_array_foreach(json_object_get(o, "points"), i, pt)
    count += json_integer_value(json_array_get(pt, 4));
  assert_int_equal(count, 3);
  json_decref(o);
  assert_int_equal(run((const char *[]){"telemetry", DEV, "temp_c", "--step", "1000", NULL}), 1);
  assert_non_null(strstr(out, "HTTP 400"));
  assert_int_equal(run((const char *[]){"telemetry", DEV, "temp_c", "--from", "yesterday", NULL}), 2);
}

static void test_commands(void **state)
{
  (void)state;
  assert_int_equal(run((const char *[]){"cmd", DEV, "relay.set", "ch=2", "on=true", "--wait", NULL}), 0);
  assert_non_null(strstr(out, "executed"));
  assert_int_equal(run((const char *[]){"cmd", DEV, "relay.set", "ch=5", "on=false", "--wait", NULL}), 1);
  assert_non_null(strstr(out, "relay 5 does not answer"));
  assert_int_equal(run((const char *[]){"cmd", DEV, "relay.set", "ch=9", "on=true", NULL}), 1);
  assert_non_null(strstr(out, "HTTP 422: 'ch' must be 1..6"));
  assert_int_equal(run((const char *[]){"cmd", DEV, "relay.set", "ch", NULL}), 2);
  assert_int_equal(run((const char *[]){"cmd", DEV, "identify", "s=3", NULL}), 0);
  assert_non_null(strstr(out, "pending"));
}

static void test_rules_alerts_events(void **state)
{
  (void)state;
  assert_int_equal(run((const char *[]){"rules", "add", "name=too hot", "kind=threshold", "metric=temp_c", "op=>=", "threshold=30", NULL}), 0);
  assert_non_null(strstr(out, "too hot"));
  assert_int_equal(run((const char *[]){"--json", "rules", NULL}), 0);
  json_t *o = json_loads(out, 0, NULL);
  json_t *r = json_array_get(json_object_get(o, "rules"), 0);
  assert_true(json_real_value(json_object_get(r, "threshold")) == 30.0);
  char id[32];
  snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(r, "id")));
  json_decref(o);
  assert_int_equal(run((const char *[]){"rules", "add", "name=x", "kind=threshold", NULL}), 1);
  assert_non_null(strstr(out, "HTTP 422"));
  assert_int_equal(run((const char *[]){"rules", "delete", id, NULL}), 0);
  assert_int_equal(run((const char *[]){"rules", "delete", id, NULL}), 1);
  assert_int_equal(run((const char *[]){"alerts", "--state", "active", NULL}), 0);
  assert_int_equal(strncmp(out, "ID", 2), 0);
  assert_int_equal(run((const char *[]){"events", "--device", DEV, NULL}), 0);
  assert_int_equal(run((const char *[]){"ack", "999999", NULL}), 1);
  assert_non_null(strstr(out, "HTTP 404"));
}

static void test_credentials_and_usage(void **state)
{
  (void)state;
  const char *noauth[] = {farmctl, "devices", NULL};
  unsetenv("FARMCTL_URL");
  unsetenv("FARMCTL_TOKEN");
  assert_int_equal(fh_run(noauth, out, sizeof out), 2);
  assert_non_null(strstr(out, "--url"));
  setenv("FARMCTL_URL", w.url, 1);
  setenv("FARMCTL_TOKEN", tok, 1);
  assert_int_equal(fh_run(noauth, out, sizeof out), 0);
  assert_non_null(strstr(out, DEV));
  setenv("FARMCTL_TOKEN", "fgw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1);
  assert_int_equal(fh_run(noauth, out, sizeof out), 1);
  assert_non_null(strstr(out, "HTTP 401"));
  unsetenv("FARMCTL_TOKEN");
  const char *bogus[] = {farmctl, "--url", w.url, "--token", tok, "frobnicate", NULL};
  assert_int_equal(fh_run(bogus, out, sizeof out), 2);
  /* The codec commands are still there. */
  const char *help[] = {farmctl, "--help", NULL};
  assert_int_equal(fh_run(help, out, sizeof out), 0);
  assert_non_null(strstr(out, "codec encode"));
  assert_non_null(strstr(out, "telemetry"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_devices_and_sites),
      cmocka_unit_test(test_telemetry),
      cmocka_unit_test(test_commands),
      cmocka_unit_test(test_rules_alerts_events),
      cmocka_unit_test(test_credentials_and_usage),
  };
  return cmocka_run_group_tests_name("farmctl", tests, group_setup, group_teardown);
}
