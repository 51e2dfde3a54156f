/* SPDX-License-Identifier: MIT */
/* The backlog seen from outside the agent: a corrupt file at start moved
 * aside with an alarm on the status topic, an event and the API; both cap
 * policies with their counters and the watermark floor; a store that
 * refuses writes (a file-size limit) giving a visible degraded mode that
 * resumes by itself with no reading lost; and a configuration that does not
 * parse refusing to start with the file, line and reason. */
#define _GNU_SOURCE /* prlimit */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "farm.h"

static int setup(void **state)
{
  struct et_farm *f = calloc(1, sizeof *f);
  et_farm_setup(f, false);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct et_farm *f = *state;
  et_farm_teardown(f);
  free(f);
  return 0;
}

static void hello(struct et_farm *f)
{
  struct fp_msg m;
  fgw_hello(&m, et_gw_mac, 1);
  fgw_send(&f->gw, &m);
}

static json_int_t backlog_int(struct et_farm *f, const char *key)
{
  json_t *j = et_farm_api(f, "/api/backlog");
  json_int_t v = json_integer_value(json_object_get(j, key));
  json_decref(j);
  return v;
}

static void test_corrupt_file_at_start(void **state)
{
  struct et_farm *f = *state;
  char path[FH_PATH + 32];
  snprintf(path, sizeof path, "%s/backlog.db", f->base);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("SQLite format 3\nnot really: the SD card returned garbage here", fp);
  fclose(fp);
  et_farm_start(f);
  const struct et_msg *m =
      et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "backlog_corrupt", 10000);
  if (!m)
    et_farm_dump(f);
  assert_non_null(m);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/event", "\"backlog.corrupt\"", 5000));
  json_t *j = et_farm_api(f, "/api/backlog");
  assert_true(json_is_true(json_object_get(j, "corrupt_alarm")));
  const char *aside = json_string_value(json_object_get(j, "corrupt_path"));
  assert_non_null(strstr(aside, "backlog.db.corrupt-"));
  char *kept = fh_read_file(aside);
  assert_non_null(kept);
  assert_non_null(strstr(kept, "SD card returned garbage"));
  free(kept);
  json_decref(j);
  /* And it works on the fresh file. */
  hello(f);
  et_farm_send(f, 1, 1, 20);
  struct et_tally t;
  assert_int_equal(et_farm_wait_all(f, 1, 1, 20, 10000, &t), 0);
}

/* Fills a 64 KiB backlog while the broker is away. */
static void fill_while_offline(struct et_farm *f, const char *policy)
{
  et_farm_env(f, "EDGE_BACKLOG_MAX_BYTES=65536");
  et_farm_env(f, "EDGE_BACKLOG_FULL_POLICY=%s", policy);
  et_farm_start(f);
  hello(f);
  et_farm_step(f, 300);
  fh_broker_stop(&f->broker);
  et_farm_step(f, 300);
  for (uint32_t s = 1; s <= 1200; s += 100) {
    et_farm_send(f, 3, s, s + 99);
    et_farm_step(f, 50);
  }
  int64_t end = et_now_ms() + 10000;
  while (f->gw.nkept > 0 && et_now_ms() < end)
    et_farm_step(f, 50);
  /* Every frame was handled (stored or refused by the policy). */
  assert_int_equal(f->gw.nkept, 0);
  assert_true(backlog_int(f, "bytes") <= 65536);
}

static void test_cap_drop_oldest(void **state)
{
  struct et_farm *f = *state;
  fill_while_offline(f, "drop_oldest");
  json_int_t dropped = backlog_int(f, "dropped_oldest");
  json_int_t depth = backlog_int(f, "depth");
  assert_true(dropped > 0);
  assert_int_equal(dropped + depth, 1200);
  assert_int_equal(backlog_int(f, "rejected_full"), 0);
  assert_int_equal(backlog_int(f, "first_edge_seq"), dropped + 1);
  fh_broker_start(&f->broker);
  /* The newest survive; the floor tells the cloud what is gone. */
  struct et_tally t;
  assert_int_equal(et_farm_wait_all(f, 3, (uint32_t)dropped + 1, 1200, 20000, &t), 0);
  et_farm_tally(f, 3, 1, (uint32_t)dropped, &t);
  assert_int_equal(t.distinct, 0);
  char floor[64];
  snprintf(floor, sizeof floor, "\"backlog_first_edge_seq\":%lld", (long long)dropped + 1);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", floor, 5000));
}

static void test_cap_reject_new(void **state)
{
  struct et_farm *f = *state;
  fill_while_offline(f, "reject_new");
  json_int_t rejected = backlog_int(f, "rejected_full");
  json_int_t depth = backlog_int(f, "depth");
  assert_true(rejected > 0);
  assert_int_equal(rejected + depth, 1200);
  assert_int_equal(backlog_int(f, "dropped_oldest"), 0);
  json_t *j = et_farm_api(f, "/api/status");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(j, "serial"), "readings_refused_full")),
      rejected);
  json_decref(j);
  fh_broker_start(&f->broker);
  struct et_tally t;
  assert_int_equal(et_farm_wait_all(f, 3, 1, (uint32_t)depth, 20000, &t), 0);
  et_farm_tally(f, 3, (uint32_t)depth + 1, 1200, &t);
  assert_int_equal(t.distinct, 0);
}

/* The store stops taking writes (a file-size limit makes every write past
 * it fail, as a full disk does): the agent stays up, says it is degraded,
 * stops acknowledging (the gateway keeps the readings), and resumes when
 * writes work again. */
static void test_degraded_mode(void **state)
{
  struct et_farm *f = *state;
  f->fsize_kib = 160;
  et_farm_env(f, "EDGE_BACKLOG_COMMIT_MS=0");
  /* Keep rows after their PUBACK so the files keep growing. */
  et_farm_start(f);
  et_sub_publish(&f->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":0}", true);
  et_farm_step(f, 300);
  hello(f);
  uint32_t sent = 0;
  bool degraded = false;
  for (int round = 0; round < 60 && !degraded; round++) {
    et_farm_send(f, 6, sent + 1, sent + 100);
    sent += 100;
    et_farm_step(f, 100);
    json_t *j = et_farm_api(f, "/api/status");
    degraded = json_is_true(json_object_get(json_object_get(j, "edge"), "degraded"));
    json_decref(j);
  }
  assert_true(degraded);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"degraded\":true", 5000));
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/event", "backlog.degraded", 5000));
  /* Still serving, still collecting into the gateway's buffer. */
  et_farm_send(f, 6, sent + 1, sent + 50);
  sent += 50;
  et_farm_step(f, 500);
  assert_true(fh_alive(&f->agent));
  assert_true(f->gw.nkept > 0);
  /* Space comes back: the limit is lifted from outside. */
  struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
  assert_int_equal(prlimit(f->agent.pid, RLIMIT_FSIZE, &rl, NULL), 0);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/event", "backlog.recovered", 10000));
  /* The gateway's resend timer brings back what was not acknowledged. */
  fgw_resend(&f->gw);
  struct et_tally t;
  if (et_farm_wait_all(f, 6, 1, sent, 30000, &t) != 0) {
    et_farm_dump(f);
    fail_msg("%zu readings missing after recovery (first %u)", t.missing, t.missing_first);
  }
  json_t *j = et_farm_api(f, "/api/status");
  assert_true(json_is_false(json_object_get(json_object_get(j, "edge"), "degraded")));
  json_decref(j);
}

static int run_agent(struct et_farm *f, const char *const argv[], const char *const env[],
                     char *out, size_t cap)
{
  char log[FH_PATH + 32];
  snprintf(log, sizeof log, "%s/run.log", f->base);
  remove(log);
  struct fh_proc p;
  fh_spawn(&p, argv, env, log, NULL);
  /* These runs end at once; a hang is caught by the test's timeout. */
  int status = 0;
  if (waitpid(p.pid, &status, 0) != p.pid)
    fh_die("waitpid");
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  char *text = fh_read_file(log);
  snprintf(out, cap, "%s", text ? text : "");
  free(text);
  return rc;
}

static void test_config_refused(void **state)
{
  struct et_farm *f = *state;
  char bin[FH_PATH + 32], ini[FH_PATH + 32], out[1024];
  snprintf(bin, sizeof bin, "%s/edge-agent", fh_bin_dir());
  snprintf(ini, sizeof ini, "%s/edge.ini", f->base);
  FILE *fp = fopen(ini, "w");
  fputs("site = s1\n[mqtt]\nhots = broker\n", fp);
  fclose(fp);
  const char *argv1[] = {bin, "--config", ini, NULL};
  const char *env[] = {"EDGE_MQTT_CAFILE=/ca.crt", NULL};
  assert_int_equal(run_agent(f, argv1, env, out, sizeof out), 2);
  char want[FH_PATH + 256];
  snprintf(want, sizeof want, "edge-agent: %s:3: unknown key 'mqtt_hots'\n", ini);
  assert_string_equal(out, want);

  const char *env2[] = {"EDGE_SITE=s1", "EDGE_MQTT_TLS=0", "EDGE_SERIAL_CODEC=json", NULL};
  const char *argv2[] = {bin, NULL};
  assert_int_equal(run_agent(f, argv2, env2, out, sizeof out), 2);
  assert_string_equal(out, "edge-agent: environment EDGE_SERIAL_CODEC: expected msgpack or cbor\n");

  fp = fopen(ini, "w");
  fputs("site = s1\nmqtt_tls = off\n[serial]\ncodec = cbor\n", fp);
  fclose(fp);
  const char *argv3[] = {bin, "--config", ini, "--check-config", NULL};
  assert_int_equal(run_agent(f, argv3, NULL, out, sizeof out), 0);
  assert_string_equal(out, "edge-agent: configuration OK\n");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_corrupt_file_at_start, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cap_drop_oldest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cap_reject_new, setup, teardown),
      cmocka_unit_test_setup_teardown(test_degraded_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
