/* SPDX-License-Identifier: MIT */
/* The backlog in the real chain (farm-sim, edge-agent, Mosquitto), checked
 * against the simulator's ledger: a backlog file found corrupt at start
 * (alarm, event, a fresh file) while the gateway holds what the nodes sent
 * meanwhile — nothing lost; and a 64 KiB cap filled while the broker is
 * away, where the ledger shows exactly what each policy gives up:
 * drop_oldest the oldest readings of the outage, reject_new the newest,
 * each as many as its counter says, every other reading published. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "simfarm.h"

static int teardown(void **state)
{
  struct es_farm *f = *state;
  if (f) {
    es_teardown(f);
    free(f);
  }
  return 0;
}

static void finish(struct es_farm *f)
{
  char why[512];
  if (!es_finish(f, why, sizeof why))
    fail_msg("%s", why);
}

static json_int_t backlog_int(struct es_farm *f, const char *key)
{
  json_t *j = es_api(f, "/api/backlog");
  json_int_t v = json_integer_value(json_object_get(j, key));
  json_decref(j);
  return v;
}

static void test_corrupt_backlog_at_start(void **state)
{
  struct es_opts o;
  es_opts_default(&o);
  o.nodes = 3;
  o.seed = 61;
  o.speed = "3";
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  es_start(f);
  es_step(f, 2000);
  /* Everything so far published, then a clean stop. */
  struct es_tally t;
  if (!es_drain(f, 20000, true, &t)) {
    es_dump(f);
    fail_msg("did not drain before the stop");
  }
  assert_int_equal(es_agent_stop(f, SIGTERM), 0);
  /* The card returns garbage where the file was. */
  char path[FH_PATH + 32];
  snprintf(path, sizeof path, "%s/backlog.db", f->base);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("SQLite format 3\nnot really: the SD card returned garbage here", fp);
  fclose(fp);
  /* The nodes go on; the gateway keeps what they send. */
  es_ctl(f, "resume");
  es_step(f, 1500);
  assert_true(es_sim_status(f, "uplink") > 0);
  es_agent_start(f);
  if (!et_sub_wait_text(&f->obs, "v1/farm/" ES_SITE "/edge/status", "backlog_corrupt", 10000)) {
    es_dump(f);
    fail_msg("no backlog_corrupt alarm on the edge status");
  }
  assert_non_null(
      et_sub_wait_text(&f->obs, "v1/farm/" ES_SITE "/edge/event", "\"backlog.corrupt\"", 5000));
  json_t *j = es_api(f, "/api/backlog");
  assert_true(json_is_true(json_object_get(j, "corrupt_alarm")));
  char *kept = fh_read_file(json_string_value(json_object_get(j, "corrupt_path")));
  json_decref(j);
  assert_non_null(kept);
  assert_non_null(strstr(kept, "SD card returned garbage"));
  free(kept);
  es_step(f, 2000);
  bool drained = es_drain(f, 30000, true, &t);
  es_report("corrupt backlog", &t);
  char why[768];
  if (!drained || !es_complete(&t, false, why, sizeof why)) {
    es_dump(f);
    fail_msg("corrupt backlog: %s", drained ? why : "did not drain");
  }
  finish(f);
}

/* Fills the 64 KiB backlog while the broker is away, until the policy has
 * acted on at least 60 readings; returns the policy's counter. */
static json_int_t fill_while_offline(struct es_farm *f, const char *policy, const char *counter)
{
  es_env(f, "EDGE_BACKLOG_MAX_BYTES=65536");
  es_env(f, "EDGE_BACKLOG_FULL_POLICY=%s", policy);
  es_start(f);
  es_step(f, 1000);
  fh_broker_stop(&f->broker);
  int64_t end = et_now_ms() + 30000;
  while (backlog_int(f, counter) < 60 && et_now_ms() < end)
    es_step(f, 200);
  json_int_t n = backlog_int(f, counter);
  if (n < 60) {
    es_dump(f);
    fail_msg("%s: %lld after 30 s", counter, (long long)n);
  }
  assert_true(backlog_int(f, "bytes") <= 65536);
  /* Only the policy's own counter moved. */
  assert_int_equal(
      backlog_int(f, strcmp(counter, "dropped_oldest") == 0 ? "rejected_full" : "dropped_oldest"),
      0);
  /* Every frame is handled, stored or refused: nothing piles up at the
   * gateway (it holds what one commit group has not acknowledged yet). */
  int64_t until = et_now_ms() + 5000;
  long long held;
  while ((held = es_sim_status(f, "uplink")) > 16 && et_now_ms() < until)
    es_step(f, 20);
  if (held > 16) {
    es_dump(f);
    fail_msg("the gateway holds %lld messages with the backlog full", held);
  }
  fh_broker_start(&f->broker);
  return n;
}

/* The ledger's verdict on a cap: the readings missing are the ones the
 * policy gave up — for reject_new exactly as many as the agent counts
 * refused readings (`readings_refused_full`; the backlog's `rejected_full`
 * also counts the node events refused), for drop_oldest no more than the
 * rows dropped — and all older (drop_oldest) or all newer (reject_new)
 * than every reading the backlog kept through the outage. */
static void check_cap(struct es_farm *f, const char *what, bool oldest_go)
{
  struct es_tally t;
  struct es_ledger l;
  bool drained = es_drain(f, 40000, false, &t);
  es_tally(f, &t, &l);
  es_report(what, &t);
  json_t *j = es_api(f, "/api/status");
  json_int_t dropped =
      json_integer_value(json_object_get(json_object_get(j, "backlog"), "dropped_oldest"));
  json_int_t refused =
      json_integer_value(json_object_get(json_object_get(j, "serial"), "readings_refused_full"));
  json_decref(j);
  printf("%s: dropped_oldest %lld, readings_refused_full %lld\n", what, (long long)dropped,
         (long long)refused);
  bool counted = oldest_go ? refused == 0 && (json_int_t)t.missing <= dropped
                           : dropped == 0 && (json_int_t)t.missing == refused;
  if (!drained || t.missing == 0 || !counted || t.unknown || t.mismatched || t.dropped) {
    es_dump(f);
    fail_msg("%s: %zu missing, dropped_oldest %lld, readings_refused_full %lld; %zu unknown, "
             "%zu mismatched (%s)",
             what, t.missing, (long long)dropped, (long long)refused, t.unknown, t.mismatched,
             t.first_problem);
  }
  int64_t kept_min = INT64_MAX, kept_max = INT64_MIN, gone_min = INT64_MAX, gone_max = INT64_MIN;
  for (size_t i = 0; i < l.n; i++) {
    const struct es_reading *r = &l.r[i];
    if (r->published == 0) {
      gone_min = r->sim_ms < gone_min ? r->sim_ms : gone_min;
      gone_max = r->sim_ms > gone_max ? r->sim_ms : gone_max;
    } else if (r->hist > 0) {
      kept_min = r->sim_ms < kept_min ? r->sim_ms : kept_min;
      kept_max = r->sim_ms > kept_max ? r->sim_ms : kept_max;
    }
  }
  es_ledger_free(&l);
  printf("%s: readings given up made at sim_ms %lld..%lld, kept through the outage %lld..%lld\n",
         what, (long long)gone_min, (long long)gone_max, (long long)kept_min, (long long)kept_max);
  assert_true(kept_min <= kept_max);
  if (oldest_go)
    assert_true(gone_max <= kept_min);
  else
    assert_true(gone_min >= kept_max);
}

static struct es_farm *cap_farm(void **state, unsigned seed)
{
  struct es_opts o;
  es_opts_default(&o);
  /* Eighty readings a second, so 64 KiB fill in a few seconds. */
  o.nodes = 8;
  o.seed = seed;
  o.speed = "10";
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  return f;
}

static void test_cap_drop_oldest(void **state)
{
  struct es_farm *f = cap_farm(state, 62);
  fill_while_offline(f, "drop_oldest", "dropped_oldest");
  check_cap(f, "cap drop_oldest", true);
  finish(f);
}

static void test_cap_reject_new(void **state)
{
  struct es_farm *f = cap_farm(state, 63);
  fill_while_offline(f, "reject_new", "rejected_full");
  check_cap(f, "cap reject_new", false);
  finish(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_corrupt_backlog_at_start, teardown),
      cmocka_unit_test_teardown(test_cap_drop_oldest, teardown),
      cmocka_unit_test_teardown(test_cap_reject_new, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
