/* SPDX-License-Identifier: MIT */
/* The real chain (farm-sim, edge-agent, Mosquitto) when the edge's side
 * fails: the agent killed with SIGKILL mid-stream and started again (three
 * times, with frames waiting for their grouped commit), and the broker stopped
 * while the nodes keep measuring and started again. Zero readings of the
 * ledger lost. Duplicates are allowed here — QoS 1 publishes again what was
 * in flight at a crash or a disconnect — and are counted and reported; the
 * cloud drops them by (device, boot, seq). */
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

static struct es_farm *farm(void **state, unsigned seed, int commit_ms)
{
  struct es_opts o;
  es_opts_default(&o);
  o.nodes = 3;
  o.seed = seed;
  /* Nine readings a second: the gateway's uplink store (GW_RING_BYTES)
   * holds several seconds of them while the edge cannot take them. */
  o.speed = "3";
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  es_env(f, "EDGE_BACKLOG_COMMIT_MS=%d", commit_ms);
  es_start(f);
  return f;
}

static void expect_complete(struct es_farm *f, const char *what, struct es_tally *t)
{
  bool drained = es_drain(f, 30000, true, t);
  es_report(what, t);
  char why[768];
  if (!drained || !es_complete(t, true, why, sizeof why)) {
    es_dump(f);
    fail_msg("%s: %s", what, drained ? why : "did not drain");
  }
  assert_int_equal(t->gw_lost, 0);
}

static void test_agent_killed_mid_stream(void **state)
{
  /* Frames wait up to 400 ms for their grouped commit: a kill nearly
   * always finds some accepted and not yet committed, which the gateway
   * must still hold (rx only after commit). */
  struct es_farm *f = farm(state, 31, 400);
  es_step(f, 3000);
  assert_int_equal(es_agent_stop(f, SIGKILL), 128 + SIGKILL);
  /* Nobody reads the pty: the simulated cable does not conduct, the
   * gateway keeps what the nodes send. */
  es_step(f, 800);
  assert_true(strstr(es_ctl(f, "status"), "reader=no") != NULL);
  assert_true(es_sim_status(f, "uplink") > 0);
  es_agent_start(f);
  es_step(f, 1500);
  /* Again, with rows still being replayed and published. */
  assert_int_equal(es_agent_stop(f, SIGKILL), 128 + SIGKILL);
  es_step(f, 500);
  es_agent_start(f);
  es_step(f, 1300);
  assert_int_equal(es_agent_stop(f, SIGKILL), 128 + SIGKILL);
  es_agent_start(f);
  es_step(f, 2000);
  struct es_tally t;
  expect_complete(f, "agent SIGKILL", &t);
  assert_true(t.ledger >= 3 * 20);
  /* The agent's two restarts each opened the port and took the gateway's
   * resends. */
  json_t *j = es_api(f, "/api/status");
  assert_true(json_is_true(json_object_get(json_object_get(j, "serial"), "open")));
  assert_true(json_integer_value(json_object_get(json_object_get(j, "serial"), "accepted")) > 0);
  json_decref(j);
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

static void test_broker_stopped_and_restarted(void **state)
{
  struct es_farm *f = farm(state, 32, 20);
  es_step(f, 3000);
  fh_broker_stop(&f->broker);
  es_step(f, 3000);
  /* Stored while the cloud is away, and acknowledged to the gateway. */
  json_t *j = es_api(f, "/api/status");
  assert_true(json_is_false(json_object_get(json_object_get(j, "mqtt"), "connected")));
  json_int_t depth = json_integer_value(json_object_get(json_object_get(j, "backlog"), "depth"));
  json_decref(j);
  assert_true(depth >= 15);
  assert_true(es_sim_status(f, "uplink") < 10);
  fh_broker_start(&f->broker);
  es_step(f, 3000);
  struct es_tally t;
  expect_complete(f, "broker restart", &t);
  /* What waited in the backlog went out as history. */
  assert_true(t.hist >= (size_t)depth);
  j = es_api(f, "/api/status");
  assert_true(json_integer_value(json_object_get(json_object_get(j, "mqtt"), "connects")) >= 2);
  json_decref(j);
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_agent_killed_mid_stream, teardown),
      cmocka_unit_test_teardown(test_broker_stopped_and_restarted, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
