/* SPDX-License-Identifier: MIT */
/*
 * The whole farm end to end (label e2e): farm-sim's gateway and six nodes
 * (three with emulated sensors, three synthetic) on a pty, edge-agent, a
 * TLS Mosquitto set up by deploy/mosquitto, iot-streamer on SQLite,
 * web-gateway and ml-engine, every one the real program. Checked, in this
 * order, on one running farm:
 *   - the REST API lists every node online with its values;
 *   - a relay command sent through the REST API reaches the node (the
 *     ledger says it ran) and comes back `executed`;
 *   - a threshold alert rule added through the API opens when a node's
 *     temperature is pushed above it, and resolves when it comes back;
 *   - an anomaly planted by farm-sim (--anomaly) reaches the event topic as
 *     ml-engine's `anomaly` event for that node and metric;
 *   - the supervision UI and the edge UI show the devices in headless
 *     Chromium;
 *   - after the farm drains, every reading of the ledger is stored exactly
 *     once in the cloud store, with the values the node measured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e.h"

/* The node carrying the planted anomaly, and when (simulated time): after
 * ml-engine's detector has learned (300 readings at one a second). */
#define ANOMALY_NODE   1
#define ANOMALY_AT_MS  420000
#define ANOMALY_FOR_MS 120000
#define ANOMALY_DELTA  15.0

static struct e2e farm;

static int setup(void **state)
{
  (void)state;
  struct e2e_opts o;
  e2e_opts_default(&o);
  o.speed = 10; /* ten readings a second per node */
  static char spec[128];
  snprintf(spec, sizeof spec, "node=%d,metric=temp_c,delta=%g,at_ms=%d,for_ms=%d", ANOMALY_NODE,
           ANOMALY_DELTA, ANOMALY_AT_MS, ANOMALY_FOR_MS);
  o.anomaly = spec;
  e2e_start(&farm, &o);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  e2e_stop(&farm);
  return 0;
}

/* GET path as admin; fails the test unless 200. */
static json_t *get(const char *path)
{
  json_t *o = NULL;
  int st = e2e_api(&farm, "GET", path, NULL, &o);
  if (st != 200 || !o)
    fail_msg("GET %s: %d", path, st);
  return o;
}

static void test_devices_online(void **state)
{
  (void)state;
  json_t *o = NULL;
  int64_t end = e2e_now_ms() + 30000;
  size_t online = 0;
  for (;;) {
    o = get("/devices?site=" E2E_SITE);
    online = 0;
    for (int i = 0; i < farm.o.nodes; i++) {
      json_t *d, *found = NULL;
      size_t k;
      json_array_foreach(json_object_get(o, "devices"), k, d)
      {
        if (strcmp(json_string_value(json_object_get(d, "device")), farm.node[i]) == 0)
          found = d;
      }
      if (found && json_is_true(json_object_get(found, "online")) &&
          json_object_get(json_object_get(found, "latest"), "temp_c"))
        online++;
    }
    if (online == (size_t)farm.o.nodes || e2e_now_ms() > end)
      break;
    json_decref(o);
    e2e_step(&farm, 500);
  }
  printf("devices: %zu of %d nodes online with a temperature\n", online, farm.o.nodes);
  assert_int_equal(online, farm.o.nodes);
  json_decref(o);
}

/* Polls a command until it reaches a final state; returns it (decref). */
static json_t *wait_command(const char *id, int timeout_ms, char *seen, size_t cap)
{
  char path[128];
  snprintf(path, sizeof path, "/commands/%s", id);
  int64_t end = e2e_now_ms() + timeout_ms;
  seen[0] = '\0';
  for (;;) {
    json_t *c = get(path);
    const char *st = json_string_value(json_object_get(c, "state"));
    if (st && !strstr(seen, st) && strlen(seen) + strlen(st) + 2 < cap) {
      strcat(seen, seen[0] ? " " : "");
      strcat(seen, st);
    }
    if (st &&
        (strcmp(st, "executed") == 0 || strcmp(st, "failed") == 0 || strcmp(st, "expired") == 0))
      return c;
    if (e2e_now_ms() > end)
      return c;
    json_decref(c);
    e2e_step(&farm, 100);
  }
}

static void test_relay_command(void **state)
{
  (void)state;
  const char *mac = farm.node[2];
  char path[96];
  snprintf(path, sizeof path, "/devices/%s/commands", mac);
  json_t *o = NULL;
  assert_int_equal(e2e_api(&farm, "POST", path,
                           "{\"name\":\"relay.set\",\"args\":{\"ch\":3,\"on\":true},"
                           "\"expires_in_s\":120}",
                           &o),
                   202);
  char id[64];
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(o, "id")));
  json_decref(o);
  char seen[128];
  json_t *c = wait_command(id, 30000, seen, sizeof seen);
  printf("relay command %s: states seen %s\n", id, seen);
  assert_string_equal(json_string_value(json_object_get(c, "state")), "executed");
  json_decref(c);

  /* The node ran it: the ledger has it, and the relay is on (channel 3 is
   * bit 2 of the mask). */
  e2e_ledger_update(&farm);
  int node = e2e_node_index(&farm, mac);
  size_t ran = 0;
  for (size_t i = 0; i < farm.ledger.nc; i++) {
    const struct e2e_cmd_line *l = &farm.ledger.c[i];
    if (l->node == node && strcmp(l->name, "relay.set") == 0 && l->ok &&
        strcmp(l->args, "{\"ch\":3,\"on\":true}") == 0)
      ran++;
  }
  assert_int_equal(ran, 1);
  const char *nodes = e2e_ctl(&farm, false, "nodes");
  const char *line = strstr(nodes, mac);
  assert_non_null(line);
  assert_non_null(strstr(line, "relays=0x04"));
  assert_true(strstr(line, "relays=0x04") < strchr(line, '\n'));
}

/* The last temperature the ledger has for a node. */
static double last_temp(int node)
{
  e2e_ledger_update(&farm);
  const struct e2e_ledger *l = &farm.ledger;
  int m = -1;
  for (size_t i = 0; i < l->nmetric; i++)
    if (strcmp(l->metric[i], "temp_c") == 0)
      m = (int)i;
  assert_true(m >= 0);
  double t = 0;
  int64_t at = -1;
  for (size_t i = 0; i < l->n; i++) {
    const struct e2e_reading *r = &l->r[i];
    if (r->node != node || r->sim_ms < at)
      continue;
    for (int k = 0; k < r->nv; k++)
      if (r->metric[k] == m) {
        t = r->v[k];
        at = r->sim_ms;
      }
  }
  assert_true(at >= 0);
  return t;
}

/* The newest alert of rule rid (decref), or NULL. */
static json_t *alert_of(long long rid, const char *device)
{
  char path[128];
  snprintf(path, sizeof path, "/alerts?device=%s&limit=50", device);
  json_t *o = get(path), *a, *found = NULL;
  size_t k;
  json_array_foreach(json_object_get(o, "alerts"), k, a)
  {
    if (!found && json_integer_value(json_object_get(a, "rule_id")) == rid)
      found = json_incref(a);
  }
  json_decref(o);
  return found;
}

static void test_threshold_alert(void **state)
{
  (void)state;
  const int node = 0;
  const char *mac = farm.node[node];
  double now = last_temp(node);
  double threshold = now + 12.0;
  char rule[512];
  snprintf(rule, sizeof rule,
           "{\"name\":\"greenhouse too hot\",\"kind\":\"threshold\",\"device\":\"%s\","
           "\"metric\":\"temp_c\",\"op\":\">=\",\"threshold\":%.1f,\"duration_ms\":2000}",
           mac, threshold);
  json_t *o = NULL;
  assert_int_equal(e2e_api(&farm, "POST", "/rules", rule, &o), 201);
  long long rid = json_integer_value(json_object_get(o, "id"));
  json_decref(o);
  assert_true(rid > 0);
  e2e_step(&farm, 2500); /* the streamer reloads its rules every second */
  assert_null(alert_of(rid, mac));

  /* 20 degrees more for 60 simulated seconds (6 s at speed 10). */
  e2e_ctl(&farm, false, "anomaly %s temp_c 20 60", mac);
  json_t *a = NULL;
  int64_t end = e2e_now_ms() + 30000;
  while (!a && e2e_now_ms() < end) {
    e2e_step(&farm, 200);
    a = alert_of(rid, mac);
  }
  assert_non_null(a);
  printf("alert %lld opened: %s\n", (long long)json_integer_value(json_object_get(a, "id")),
         json_string_value(json_object_get(a, "message")));
  assert_true(json_real_value(json_object_get(a, "value")) >= threshold);
  long long aid = json_integer_value(json_object_get(a, "id"));
  json_decref(a);

  /* Back to normal: resolved. */
  end = e2e_now_ms() + 40000;
  const char *st = NULL;
  for (;;) {
    a = alert_of(rid, mac);
    st = a ? json_string_value(json_object_get(a, "state")) : NULL;
    if ((st && strcmp(st, "resolved") == 0) || e2e_now_ms() > end)
      break;
    json_decref(a);
    e2e_step(&farm, 200);
  }
  assert_non_null(st);
  assert_string_equal(st, "resolved");
  assert_int_equal(json_integer_value(json_object_get(a, "id")), aid);
  json_decref(a);

  /* Both transitions went out on the node's event topic. */
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/" E2E_SITE "/%s/event", mac);
  bool opened = false, resolved = false;
  for (size_t i = 0; i < farm.events.n; i++) {
    const struct et_msg *m = &farm.events.msgs[i];
    if (strcmp(m->topic, topic) != 0)
      continue;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    if (json_integer_value(json_object_get(j, "alert_id")) == aid) {
      const char *s = json_string_value(json_object_get(j, "state"));
      opened |= s && strcmp(s, "open") == 0;
      resolved |= s && strcmp(s, "resolved") == 0;
    }
    json_decref(j);
  }
  assert_true(opened);
  assert_true(resolved);
}

/* True when value is a temperature node ANOMALY_NODE measured inside the
 * planted window, and at least 10 degrees above everything before it. */
static bool planted_value(double value)
{
  e2e_ledger_update(&farm);
  const struct e2e_ledger *l = &farm.ledger;
  double before = -1e9;
  bool inside = false;
  for (size_t i = 0; i < l->n; i++) {
    const struct e2e_reading *r = &l->r[i];
    if (r->node != ANOMALY_NODE)
      continue;
    for (int k = 0; k < r->nv; k++) {
      if (strcmp(l->metric[r->metric[k]], "temp_c") != 0)
        continue;
      if (r->sim_ms < ANOMALY_AT_MS && r->v[k] > before)
        before = r->v[k];
      else if (r->sim_ms >= ANOMALY_AT_MS && r->sim_ms <= ANOMALY_AT_MS + ANOMALY_FOR_MS &&
               r->v[k] == value)
        inside = true;
    }
  }
  return inside && value >= before + 10.0;
}

static void test_ml_anomaly(void **state)
{
  (void)state;
  const char *mac = farm.node[ANOMALY_NODE];
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/" E2E_SITE "/%s/event", mac);
  /* The anomaly starts at 420 s of simulated time, 42 s after the start,
   * once the detector has learned; it needs a reading or two of it. The
   * detector may flag other moments too (its business): the test looks
   * for the event about a planted reading. */
  json_t *ev = NULL;
  size_t from = 0, others = 0;
  int64_t end = e2e_now_ms() + 120000;
  while (!ev && e2e_now_ms() < end) {
    e2e_step(&farm, 500);
    for (; from < farm.events.n && !ev; from++) {
      const struct et_msg *m = &farm.events.msgs[from];
      if (strcmp(m->topic, topic) != 0)
        continue;
      json_t *j = json_loadb(m->payload, m->len, 0, NULL);
      const char *type = json_string_value(json_object_get(j, "type"));
      const char *metric = json_string_value(json_object_get(j, "metric"));
      if (type && strcmp(type, "anomaly") == 0 && metric && strcmp(metric, "temp_c") == 0) {
        if (planted_value(json_number_value(json_object_get(j, "value"))))
          ev = json_incref(j);
        else
          others++;
      }
      json_decref(j);
    }
  }
  if (!ev)
    e2e_dump(&farm);
  assert_non_null(ev);
  char *text = json_dumps(ev, JSON_COMPACT);
  printf("ml-engine event on the planted anomaly: %s (%zu other temp_c anomaly events of the "
         "node before it)\n",
         text, others);
  free(text);
  assert_true(json_number_value(json_object_get(ev, "score")) >= 0.45);
  json_decref(ev);

  /* Nothing on the synthetic nodes: ml-engine does not learn made-up
   * values. */
  for (size_t i = 0; i < farm.events.n; i++) {
    const struct et_msg *m = &farm.events.msgs[i];
    for (int n = farm.o.real; n < farm.o.nodes; n++) {
      char t[96];
      snprintf(t, sizeof t, "v1/farm/" E2E_SITE "/%s/event", farm.node[n]);
      if (strcmp(m->topic, t) == 0)
        assert_null(strstr(m->payload, "\"anomaly\""));
    }
  }
}

static void test_ui_shows_devices(void **state)
{
  (void)state;
  const char *pw = getenv("PLAYWRIGHT_CORE");
  assert_non_null(pw);
  char nodes[E2E_NODES_MAX * 13 + 1] = "";
  for (int i = 0; i < farm.o.nodes; i++) {
    strcat(nodes, i ? "," : "");
    strcat(nodes, farm.node[i]);
  }
  char edge[64], script[FH_PATH + 64];
  snprintf(edge, sizeof edge, "http://127.0.0.1:%d/", farm.edge_port);
  snprintf(script, sizeof script, "%s/e2e/ui/farm.e2e.cjs", fh_source_dir());
  setenv("E2E_URL", farm.url, 1);
  setenv("E2E_EDGE_URL", edge, 1);
  setenv("E2E_USER", "admin", 1);
  setenv("E2E_PASSWORD", E2E_ADMIN_PW, 1);
  setenv("E2E_NODES", nodes, 1);
  setenv("E2E_GATEWAY", farm.gw, 1);
  const char *argv[] = {"/usr/bin/env", "node", script, NULL};
  static char out[16384];
  int rc = fh_run(argv, out, sizeof out);
  printf("%s", out);
  assert_int_equal(rc, 0);
}

static void test_every_reading_stored_once(void **state)
{
  (void)state;
  struct e2e_tally t;
  bool drained = e2e_drain(&farm, 60000, &t);
  e2e_tally_print("e2e", &t);
  printf("streamer: %.0f readings stored, %.0f duplicates ignored\n",
         e2e_streamer_metric(&farm, "iot_streamer_readings_stored_total"),
         e2e_streamer_metric(&farm, "iot_streamer_readings_duplicate_total"));
  assert_true(drained);
  assert_true(t.ledger > 1000);
  assert_int_equal(t.dropped, 0);
  assert_int_equal(t.missing, 0);
  assert_int_equal(t.partial, 0);
  assert_int_equal(t.mismatched, 0);
  assert_int_equal(t.unknown, 0);
  assert_int_equal(t.stored, t.ledger);
  /* One row per metric of every reading: nothing stored twice. */
  assert_int_equal(t.rows, t.expected);
  assert_true(t.synthetic > 0 && t.synthetic < t.ledger);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_devices_online),   cmocka_unit_test(test_relay_command),
      cmocka_unit_test(test_threshold_alert),  cmocka_unit_test(test_ml_anomaly),
      cmocka_unit_test(test_ui_shows_devices), cmocka_unit_test(test_every_reading_stored_once),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
