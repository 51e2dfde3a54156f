/* SPDX-License-Identifier: MIT */
/* The real chain (farm-sim, edge-agent, Mosquitto) when the gateway's side
 * of the serial link fails: the USB cable pulled and put back through the
 * simulator's control socket while the nodes keep measuring, and the
 * gateway power-cycled mid-stream. Every reading in the ledger reaches the
 * broker exactly once, except what the ledger itself says a gateway
 * restart took from the gateway's RAM (docs/farm-sim.md: its `boot` line),
 * which must be readings made just before that restart. */
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

static struct es_farm *farm(void **state, unsigned seed)
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
  es_start(f);
  return f;
}

/* Telemetry messages only. */
static size_t tel_count(struct es_farm *f)
{
  size_t n = 0;
  for (size_t i = 0; i < f->obs.n; i++)
    if (strstr(f->obs.msgs[i].topic, "/telemetry/"))
      n++;
  return n;
}

static void unplugged_for(struct es_farm *f, int ms)
{
  es_ctl(f, "unplug");
  es_step(f, 500); /* what was on the wire arrives or is lost */
  size_t before = tel_count(f);
  es_step(f, ms - 500);
  const char *st = es_ctl(f, "status");
  if (!strstr(st, "cable=no"))
    fail_msg("unplugged, yet: %s", st);
  /* The gateway holds what the nodes sent meanwhile, and nothing of it
   * went up. */
  assert_true(es_sim_status(f, "uplink") > 0);
  assert_int_equal(tel_count(f), before);
  es_ctl(f, "plug");
}

static void test_cable_unplugged_and_plugged(void **state)
{
  struct es_farm *f = farm(state, 21);
  es_step(f, 3000);
  unplugged_for(f, 1500);
  es_step(f, 2000);
  unplugged_for(f, 2500);
  es_step(f, 2000);
  struct es_tally t;
  bool drained = es_drain(f, 30000, true, &t);
  es_report("cable", &t);
  char why[768];
  /* The gateway resends what the edge had not acknowledged; the agent
   * drops the resends by gseq, so nothing is published twice. */
  if (!drained || !es_complete(&t, false, why, sizeof why)) {
    es_dump(f);
    fail_msg("cable: %s", drained ? why : "did not drain");
  }
  assert_int_equal(t.gw_lost, 0);
  assert_int_equal(t.hist, 0);
  json_t *j = es_api(f, "/api/status");
  json_t *s = json_object_get(j, "serial");
  /* The agent kept its end open: the cable is the simulator's. */
  assert_true(json_is_true(json_object_get(s, "open")));
  assert_int_equal(json_integer_value(json_object_get(s, "crc")), 0);
  json_decref(j);
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

static json_int_t gateway_boot(struct es_farm *f)
{
  json_t *j = es_api(f, "/api/status");
  json_int_t b = json_integer_value(json_object_get(json_object_get(j, "gateway"), "boot"));
  json_decref(j);
  return b;
}

static void reboot_gateway(struct es_farm *f, json_int_t boot)
{
  es_ctl(f, "reboot gateway");
  int64_t end = et_now_ms() + 10000;
  while (gateway_boot(f) != boot && et_now_ms() < end)
    es_step(f, 50);
  if (gateway_boot(f) != boot) {
    es_dump(f);
    fail_msg("no hello of the gateway's boot %lld", (long long)boot);
  }
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/status", ES_SITE, f->gw);
  char want[32];
  snprintf(want, sizeof want, "\"boot\":%lld", (long long)boot);
  assert_non_null(et_sub_wait_text(&f->obs, topic, want, 5000));
}

static void test_gateway_rebooted(void **state)
{
  struct es_farm *f = farm(state, 22);
  es_step(f, 3000);
  reboot_gateway(f, 2);
  es_step(f, 2000);
  reboot_gateway(f, 3);
  es_step(f, 2000);
  struct es_tally t;
  struct es_ledger l;
  bool drained = es_drain(f, 30000, true, &t);
  es_tally(f, &t, &l);
  es_report("gateway reboot", &t);
  if (!drained) {
    es_dump(f);
    fail_msg("gateway reboot: did not drain");
  }
  /* Both restarts are in the ledger; the nodes kept their boot. */
  size_t gw_boots = 0;
  for (size_t i = 0; i < l.nb; i++) {
    if (l.b[i].gateway)
      gw_boots++;
    else
      assert_int_equal(l.b[i].boot, 1);
  }
  assert_int_equal(gw_boots, 3);
  /* Whatever is missing, the gateway's RAM held it at a restart: no more
   * than the ledger says was lost, each made shortly before a restart. */
  assert_true(t.missing <= t.gw_lost);
  for (size_t i = 0; i < l.n; i++) {
    if (l.r[i].published)
      continue;
    bool explained = false;
    for (size_t k = 0; k < l.nb; k++)
      explained =
          explained || (l.b[k].gateway && l.b[k].boot > 1 && l.b[k].lost > 0 &&
                        l.r[i].sim_ms <= l.b[k].sim_ms && l.b[k].sim_ms - l.r[i].sim_ms < 5000);
    if (!explained) {
      es_dump(f);
      fail_msg("%s boot %u seq %u (sim_ms %lld) missing, no gateway restart explains it",
               l.r[i].dev, l.r[i].boot, l.r[i].seq, (long long)l.r[i].sim_ms);
    }
  }
  es_ledger_free(&l);
  char why[768];
  struct es_tally rest = t;
  rest.missing = 0; /* judged above */
  if (!es_complete(&rest, false, why, sizeof why)) {
    es_dump(f);
    fail_msg("gateway reboot: %s", why);
  }
  json_t *j = es_api(f, "/api/status");
  /* Each hello restarted the agent's numbering. */
  assert_true(
      json_integer_value(json_object_get(json_object_get(j, "serial"), "numbering_resets")) >= 2);
  json_decref(j);
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_cable_unplugged_and_plugged, teardown),
      cmocka_unit_test_teardown(test_gateway_rebooted, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
