/* SPDX-License-Identifier: MIT */
/* The real chain (farm-sim, edge-agent, Mosquitto) with the radio losing
 * 30 % of the frames and of their acknowledgements: the nodes resend, the
 * gateway filters the copies whose acknowledgement was lost (its replay
 * counter, read through the agent's API, proves the loss was applied), and
 * every reading of the ledger still reaches the broker exactly once. */
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

/* A counter of the gateway's last `stats` (sent every 60 s of simulated
 * time), or -1 before the first. */
static json_int_t gw_counter(struct es_farm *f, const char *name)
{
  json_t *j = es_api(f, "/api/status");
  json_t *c = json_object_get(json_object_get(json_object_get(j, "gateway"), "counters"), name);
  json_int_t v = json_is_integer(c) ? json_integer_value(c) : -1;
  json_decref(j);
  return v;
}

static void test_radio_loss_30(void **state)
{
  struct es_opts o;
  es_opts_default(&o);
  o.nodes = 3;
  o.seed = 41;
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  es_start(f);
  es_step(f, 2000);
  es_ctl(f, "loss 0.3");
  /* Until the gateway's stats (every 60 simulated seconds, 12 s here)
   * report copies filtered, which only lost acknowledgements make. */
  int64_t end = et_now_ms() + 20000;
  while (gw_counter(f, "replay") <= 0 && et_now_ms() < end)
    es_step(f, 500);
  json_int_t replays = gw_counter(f, "replay");
  printf("loss: the gateway filtered %lld copies\n", (long long)replays);
  if (replays <= 0) {
    es_dump(f);
    fail_msg("no copy filtered by the gateway under 30 %% loss: loss not applied");
  }
  es_step(f, 1000);
  struct es_tally t;
  bool drained = es_drain(f, 40000, true, &t);
  es_report("loss 30%", &t);
  char why[768];
  if (!drained || !es_complete(&t, false, why, sizeof why)) {
    es_dump(f);
    fail_msg("loss 30%%: %s", drained ? why : "did not drain");
  }
  assert_true(t.ledger >= 3 * 50);
  assert_int_equal(t.gw_lost, 0);
  assert_int_equal(t.hist, 0);
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_radio_loss_30, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
