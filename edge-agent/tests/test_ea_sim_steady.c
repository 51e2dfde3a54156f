/* SPDX-License-Identifier: MIT */
/* The real chain in steady state: farm-sim's gateway and nodes on its pty,
 * the edge-agent binary, a real Mosquitto. Every reading in the simulator's
 * ledger reaches the broker exactly once with the ledger's values, under
 * the right topic, with the payload keys of DESIGN §6, a dense edge_seq and
 * reading times rebuilt from the nodes' uptime; the node and gateway
 * statuses name what the simulator built. Once in MessagePack on a plain
 * broker in real time, once in CBOR over TLS with client certificates at
 * five times real time, with a relay command through to the ledger. */
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

static void expect_complete(struct es_farm *f, const char *what, bool dups_allowed,
                            struct es_tally *t)
{
  bool drained = es_drain(f, 30000, true, t);
  es_report(what, t);
  char why[768];
  if (!es_complete(t, dups_allowed, why, sizeof why) || !drained) {
    es_dump(f);
    fail_msg("%s: %s", what, why[0] ? why : "did not drain");
  }
}

/* Every key DESIGN §6 names, and nothing else but the clock flag. */
static void check_keys(const struct et_msg *m, json_t *j)
{
  static const char *const keys[] = {"edge_seq", "boot", "seq",  "ts",        "up_ms",
                                     "rx_ts",    "rssi", "hist", "synthetic", "v"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!json_object_get(j, keys[i]))
      fail_msg("telemetry lacks '%s': %s", keys[i], m->payload);
  const char *k;
  json_t *v;
  json_object_foreach(j, k, v)
  {
    bool known = strcmp(k, "ts_unsync") == 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      known = known || strcmp(k, keys[i]) == 0;
    if (!known)
      fail_msg("unexpected key '%s' in %s", k, m->payload);
  }
}

/* The telemetry in arrival order: topics on the simulator's node MACs,
 * edge_seq 1, 2, 3, ... with no gap, every key, live data; with
 * check_time, times rebuilt from the uptime (only meaningful when the
 * simulator runs in real time). Returns how many. */
static size_t check_stream(struct es_farm *f, bool check_time, int64_t t0)
{
  json_int_t next = 1;
  int64_t now = fd_wall_ms();
  for (size_t i = 0; i < f->obs.n; i++) {
    const struct et_msg *m = &f->obs.msgs[i];
    if (!strstr(m->topic, "/telemetry/"))
      continue;
    bool ours = false;
    for (int k = 0; k < f->opt.nodes; k++) {
      char topic[96];
      snprintf(topic, sizeof topic, "v1/farm/%s/%s/telemetry/env", ES_SITE, f->node[k]);
      ours = ours || strcmp(m->topic, topic) == 0;
    }
    if (!ours)
      fail_msg("telemetry on an unexpected topic %s", m->topic);
    assert_false(m->retain);
    json_t *j = et_json(m->payload, m->len);
    check_keys(m, j);
    if (json_integer_value(json_object_get(j, "edge_seq")) != next)
      fail_msg("edge_seq %lld where %lld was due: %s",
               (long long)json_integer_value(json_object_get(j, "edge_seq")), (long long)next,
               m->payload);
    next++;
    assert_true(json_is_false(json_object_get(j, "hist")));
    json_int_t rssi = json_integer_value(json_object_get(j, "rssi"));
    assert_true(json_is_integer(json_object_get(j, "rssi")) && rssi < -20 && rssi > -100);
    json_int_t rx = json_integer_value(json_object_get(j, "rx_ts"));
    if (rx < t0 || rx > now)
      fail_msg("rx_ts %lld outside the run [%lld, %lld]", (long long)rx, (long long)t0,
               (long long)now);
    if (check_time) {
      /* ts = up_ms + the smallest transit seen for the boot (docs §4): at
       * most the receive time, and close to it on a loopback. */
      json_int_t ts = json_integer_value(json_object_get(j, "ts"));
      if (ts > rx || rx - ts > 3000)
        fail_msg("ts %lld against rx_ts %lld: %s", (long long)ts, (long long)rx, m->payload);
    }
    json_decref(j);
  }
  return (size_t)(next - 1);
}

/* The retained statuses name the simulator's gateway and nodes. */
static void check_statuses(struct es_farm *f)
{
  for (int k = 0; k < f->opt.nodes; k++) {
    char topic[96], asset[64];
    snprintf(topic, sizeof topic, "v1/farm/%s/%s/status", ES_SITE, f->node[k]);
    const struct et_msg *m = et_sub_wait_text(&f->obs, topic, "\"online\":true", 5000);
    if (!m)
      fail_msg("no online status on %s", topic);
    json_t *j = et_json(m->payload, m->len);
    snprintf(asset, sizeof asset, "%s/node-%02d", ES_SITE, k);
    assert_string_equal(json_string_value(json_object_get(j, "asset")), asset);
    assert_string_equal(json_string_value(json_object_get(j, "fw")), "sim-1.0");
    assert_int_equal(json_integer_value(json_object_get(j, "boot")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "interval_ms")), f->opt.period_ms);
    /* The simulator enables the first four features (docs/farm-sim.md). */
    assert_int_equal(json_array_size(json_object_get(j, "features")), 4);
    json_decref(j);
  }
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/status", ES_SITE, f->gw);
  assert_non_null(et_sub_wait_text(&f->obs, topic, "\"role\":\"gateway\"", 5000));
  json_t *j = es_api(f, "/api/status");
  json_t *g = json_object_get(j, "gateway");
  assert_string_equal(json_string_value(json_object_get(g, "id")), f->gw);
  assert_string_equal(json_string_value(json_object_get(g, "fw")), "sim-1.0");
  json_t *s = json_object_get(j, "serial");
  assert_string_equal(json_string_value(json_object_get(s, "codec")), f->opt.codec);
  /* Nothing on the wire was damaged. */
  assert_int_equal(json_integer_value(json_object_get(s, "crc")), 0);
  assert_int_equal(json_integer_value(json_object_get(s, "decode_errors")), 0);
  json_decref(j);
  j = es_api(f, "/api/peers");
  json_t *peers = json_object_get(j, "peers");
  assert_int_equal(json_array_size(peers), f->opt.nodes);
  for (size_t i = 0; i < json_array_size(peers); i++)
    assert_true(json_is_true(json_object_get(json_array_get(peers, i), "online")));
  json_decref(j);
}

static void test_steady_msgpack_plain(void **state)
{
  struct es_opts o;
  es_opts_default(&o);
  o.nodes = 6;
  o.seed = 11;
  o.speed = "1"; /* real time: reading times can be checked */
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  int64_t t0 = fd_wall_ms();
  es_start(f);
  es_step(f, 8000);
  struct es_tally t;
  expect_complete(f, "steady msgpack", false, &t);
  /* Six nodes at one reading a second for eight seconds at least. */
  assert_true(t.ledger >= 40);
  assert_int_equal(t.hist, 0);
  assert_int_equal(t.gw_lost, 0);
  assert_int_equal(check_stream(f, true, t0), t.published);
  check_statuses(f);
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

static void test_steady_cbor_tls(void **state)
{
  struct es_opts o;
  es_opts_default(&o);
  o.nodes = 4;
  o.seed = 12;
  o.codec = "cbor";
  o.tls = true;
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  int64_t t0 = fd_wall_ms();
  es_start(f);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"online\":true", 10000));
  es_step(f, 4000);
  /* A command over TLS, encoded in CBOR to the gateway, run by node 1. */
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/cmd", ES_SITE, f->node[1]);
  et_sub_publish(&f->obs, topic,
                 "{\"id\":\"tls-1\",\"name\":\"relay.set\",\"args\":{\"ch\":4,\"on\":true}}",
                 false);
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/ack", ES_SITE, f->node[1]);
  if (!et_sub_wait_text(&f->obs, topic, "\"state\":\"executed\"", 10000)) {
    es_dump(f);
    fail_msg("relay.set over TLS not executed");
  }
  es_step(f, 3000);
  struct es_tally t;
  struct es_ledger l;
  expect_complete(f, "steady cbor tls", false, &t);
  assert_true(t.ledger >= 4 * 30);
  assert_int_equal(t.hist, 0);
  assert_int_equal(check_stream(f, false, t0), t.published);
  check_statuses(f);
  es_tally(f, &t, &l);
  assert_int_equal(l.nc, 1);
  assert_string_equal(l.c[0].dev, f->node[1]);
  assert_string_equal(l.c[0].name, "relay.set");
  assert_true(l.c[0].ok);
  assert_int_equal(json_integer_value(json_object_get(l.c[0].args, "ch")), 4);
  /* The relay's state is in the node's later readings (bit 3: channel 4). */
  bool seen_on = false;
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.r[i].dev, f->node[1]) == 0 &&
        json_integer_value(json_object_get(l.r[i].v, "relays")) == 0x08)
      seen_on = true;
  assert_true(seen_on);
  es_ledger_free(&l);
  assert_non_null(strstr(es_ctl(f, "nodes"), "relays=0x08"));
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_steady_msgpack_plain, teardown),
      cmocka_unit_test_teardown(test_steady_cbor_tls, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
