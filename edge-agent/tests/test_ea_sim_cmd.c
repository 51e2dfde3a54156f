/* SPDX-License-Identifier: MIT */
/* Commands through the real chain, checked against farm-sim's ledger (one
 * `command` line per command a node ran): relay.set from MQTT
 * (…/{device}/cmd) and from POST /api/cmd reaching the node, its relay and
 * its later readings; a repeated id reported again and never run twice; an
 * expired command reported `expired` and never run; an unknown device
 * failed with the gateway's reason; a command sent while the cable is
 * pulled run once when it is back, and one that expires meanwhile never;
 * and the API's Basic Auth, same-origin and input rules (BAD-INPUTS 14-15,
 * 17-20, 22-23) refusing before anything reaches a node. Every reading of
 * the ledger is published too. */
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

/* farmer:s3cret-pass (RFC 7617 §2). */
#define AUTH "Authorization: Basic ZmFybWVyOnMzY3JldC1wYXNz\r\n"

static int teardown(void **state)
{
  struct es_farm *f = *state;
  if (f) {
    es_teardown(f);
    free(f);
  }
  return 0;
}

/* The states reported for id on device's ack topic, joined by ",". */
static const char *states(struct es_farm *f, const char *device, const char *id)
{
  static char out[256];
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/ack", ES_SITE, device);
  out[0] = '\0';
  for (size_t i = 0; i < f->obs.n; i++) {
    const struct et_msg *m = &f->obs.msgs[i];
    if (strcmp(m->topic, topic) != 0)
      continue;
    json_t *j = et_json(m->payload, m->len);
    if (strcmp(json_string_value(json_object_get(j, "id")), id) == 0) {
      size_t l = strlen(out);
      snprintf(out + l, sizeof out - l, "%s%s", l ? "," : "",
               json_string_value(json_object_get(j, "state")));
    }
    json_decref(j);
  }
  return out;
}

static void expect_states(struct es_farm *f, const char *device, const char *id, const char *want,
                          int timeout_ms)
{
  int64_t end = et_now_ms() + timeout_ms;
  while (strcmp(states(f, device, id), want) != 0 && et_now_ms() < end)
    es_step(f, 30);
  if (strcmp(states(f, device, id), want) != 0) {
    es_dump(f);
    fail_msg("command %s on %s: states '%s', expected '%s'", id, device, states(f, device, id),
             want);
  }
}

/* The error of the last ack of id. */
static const char *last_error(struct es_farm *f, const char *device, const char *id)
{
  static char err[256];
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/ack", ES_SITE, device);
  err[0] = '\0';
  for (size_t i = 0; i < f->obs.n; i++) {
    const struct et_msg *m = &f->obs.msgs[i];
    if (strcmp(m->topic, topic) != 0)
      continue;
    json_t *j = et_json(m->payload, m->len);
    if (strcmp(json_string_value(json_object_get(j, "id")), id) == 0) {
      const char *e = json_string_value(json_object_get(j, "error"));
      snprintf(err, sizeof err, "%s", e ? e : "");
    }
    json_decref(j);
  }
  return err;
}

static void publish_cmd(struct es_farm *f, const char *device, const char *payload)
{
  char topic[96];
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/cmd", ES_SITE, device);
  et_sub_publish(&f->obs, topic, payload, false);
}

/* relay.set lines of the ledger for (device, ch), and all command lines of
 * the device. */
static size_t ledger_relay(struct es_farm *f, const char *device, int ch, size_t *all)
{
  struct es_ledger l;
  struct es_tally t;
  es_tally(f, &t, &l);
  size_t n = 0, a = 0;
  for (size_t i = 0; i < l.nc; i++) {
    if (strcmp(l.c[i].dev, device) != 0)
      continue;
    a++;
    if (strcmp(l.c[i].name, "relay.set") == 0 &&
        json_integer_value(json_object_get(l.c[i].args, "ch")) == ch) {
      assert_true(l.c[i].ok);
      assert_true(json_is_true(json_object_get(l.c[i].args, "on")));
      n++;
    }
  }
  es_ledger_free(&l);
  if (all)
    *all = a;
  return n;
}

/* The relay mask of node index i in the simulator (`nodes`). */
static unsigned relays_of(struct es_farm *f, int i)
{
  const char *a = es_ctl(f, "nodes");
  const char *p = strstr(a, f->node[i]);
  assert_non_null(p);
  p = strstr(p, " relays=0x");
  assert_non_null(p);
  return (unsigned)strtoul(p + 10, NULL, 16);
}

static int post(struct es_farm *f, const char *headers, const char *json, json_t **answer)
{
  static char out[16384];
  const char *body;
  int st = es_post(f, "/api/cmd", headers, json, out, sizeof out, &body);
  if (answer)
    *answer = st > 0 && body[0] == '{' ? et_json(body, strlen(body)) : NULL;
  return st;
}

static void test_commands_to_the_ledger(void **state)
{
  struct es_opts o;
  es_opts_default(&o);
  o.nodes = 3;
  o.seed = 51;
  struct es_farm *f = calloc(1, sizeof *f);
  *state = f;
  es_setup(f, &o);
  es_env(f, "EDGE_BASIC_AUTH_USER=farmer");
  es_env(f, "EDGE_BASIC_AUTH_PASSWORD=s3cret-pass");
  f->auth = AUTH;
  es_start(f);
  es_step(f, 1000);
  const char *n0 = f->node[0], *n1 = f->node[1], *n2 = f->node[2];
  char payload[512], body[512];

  /* MQTT: accepted, sent, executed; the node ran it once. */
  publish_cmd(f, n0, "{\"id\":\"m-1\",\"name\":\"relay.set\",\"args\":{\"ch\":2,\"on\":true}}");
  expect_states(f, n0, "m-1", "accepted,sent,executed", 10000);
  assert_int_equal(ledger_relay(f, n0, 2, NULL), 1);
  assert_int_equal(relays_of(f, 0), 0x02);
  /* The same id again: its outcome reported again, nothing run. */
  publish_cmd(f, n0, "{\"id\":\"m-1\",\"name\":\"relay.set\",\"args\":{\"ch\":2,\"on\":true}}");
  expect_states(f, n0, "m-1", "accepted,sent,executed,executed", 5000);
  /* Already expired: reported, never run. */
  publish_cmd(f, n0,
              "{\"id\":\"m-2\",\"name\":\"relay.set\",\"args\":{\"ch\":5,\"on\":true},"
              "\"expires\":\"2020-01-01T00:00:00Z\"}");
  expect_states(f, n0, "m-2", "expired", 5000);
  /* A MAC the gateway does not know: it says so. */
  publish_cmd(f, "020000000099",
              "{\"id\":\"m-3\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true}}");
  expect_states(f, "020000000099", "m-3", "accepted,failed", 10000);
  assert_string_equal(last_error(f, "020000000099", "m-3"), "unknown peer");
  /* Unknown name, out of range: failed before anything is sent. */
  publish_cmd(f, n0, "{\"id\":\"m-4\",\"name\":\"relay.pulse\",\"args\":{\"ch\":1}}");
  expect_states(f, n0, "m-4", "failed", 5000);
  publish_cmd(f, n0, "{\"id\":\"m-5\",\"name\":\"relay.set\",\"args\":{\"ch\":7,\"on\":true}}");
  expect_states(f, n0, "m-5", "failed", 5000);
  assert_string_equal(last_error(f, n0, "m-5"), "'ch' must be 1..6");
  /* Not JSON, no id, a device id that is not ours to parse: dropped. */
  publish_cmd(f, n0, "relay.set 1 on");
  publish_cmd(f, n0, "{\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true}}");
  et_sub_publish(&f->obs, "v1/farm/" ES_SITE "/NODE-0/cmd",
                 "{\"id\":\"m-6\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true}}", false);

  /* HTTP: 202, then the same states; the same id again is 200 and a
   * duplicate. */
  snprintf(body, sizeof body,
           "{\"id\":\"h-1\",\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":3,"
           "\"on\":true}}",
           n1);
  json_t *a;
  assert_int_equal(post(f, NULL, body, &a), 202);
  assert_string_equal(json_string_value(json_object_get(a, "state")), "accepted");
  json_decref(a);
  expect_states(f, n1, "h-1", "accepted,sent,executed", 10000);
  assert_int_equal(post(f, NULL, body, &a), 200);
  assert_true(json_is_true(json_object_get(a, "duplicate")));
  assert_string_equal(json_string_value(json_object_get(a, "state")), "executed");
  json_decref(a);
  assert_int_equal(relays_of(f, 1), 0x04);
  /* Expired: 422, never run. */
  snprintf(body, sizeof body,
           "{\"id\":\"h-2\",\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":5,"
           "\"on\":true},\"expires\":\"2020-01-01T00:00:00Z\"}",
           n1);
  assert_int_equal(post(f, NULL, body, &a), 422);
  assert_string_equal(json_string_value(json_object_get(a, "state")), "expired");
  json_decref(a);
  /* An unknown device: accepted, then failed by the gateway. */
  assert_int_equal(post(f, NULL,
                        "{\"id\":\"h-3\",\"device\":\"020000000098\",\"name\":\"identify\","
                        "\"args\":{\"s\":2}}",
                        NULL),
                   202);
  expect_states(f, "020000000098", "h-3", "accepted,failed", 10000);

  /* Refused at the door, all aimed at node 2's relay 1 (BAD-INPUTS 17-20,
   * 22): none may reach it. */
  snprintf(body, sizeof body,
           "{\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true}}", n2);
  char out[4096];
  assert_int_equal(et_http(f->http_port, "POST", "/api/cmd", NULL, body, out, sizeof out, NULL),
                   401);
  assert_int_equal(et_http(f->http_port, "POST", "/api/cmd",
                           "Authorization: Basic ZmFybWVyOndyb25n\r\n", body, out, sizeof out,
                           NULL),
                   401);
  assert_int_equal(post(f, "Origin: http://evil.example\r\n", body, NULL), 403);
  assert_int_equal(post(f, "Sec-Fetch-Site: cross-site\r\n", body, NULL), 403);
  char raw[1024];
  int rl = snprintf(raw, sizeof raw,
                    "POST /api/cmd HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" AUTH
                    "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                    f->http_port, strlen(body), body);
  assert_int_equal(et_http_raw(f->http_port, raw, (size_t)rl, out, sizeof out, NULL), 415);
  assert_int_equal(post(f, NULL, "{\"device\":", NULL), 400);
  snprintf(payload, sizeof payload,
           "GET /api/cmd?device=%s&name=relay.set HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
           "Connection: close\r\n" AUTH "\r\n",
           n2, f->http_port);
  assert_int_equal(et_http_raw(f->http_port, payload, strlen(payload), out, sizeof out, NULL), 405);
  snprintf(body, sizeof body,
           "{\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true,"
           "\"for_s\":-5}}",
           n2);
  assert_int_equal(post(f, NULL, body, NULL), 422);
  snprintf(body, sizeof body,
           "{\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":7,\"on\":true}}", n2);
  assert_int_equal(post(f, NULL, body, NULL), 422);

  /* The cable pulled: one command waits and runs once it is back, one
   * expires meanwhile and never runs. */
  es_ctl(f, "unplug");
  es_step(f, 200);
  snprintf(body, sizeof body,
           "{\"id\":\"u-1\",\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":4,"
           "\"on\":true},\"ttl_s\":60}",
           n0);
  assert_int_equal(post(f, NULL, body, NULL), 202);
  snprintf(body, sizeof body,
           "{\"id\":\"u-2\",\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":6,"
           "\"on\":true},\"ttl_s\":1}",
           n1);
  assert_int_equal(post(f, NULL, body, NULL), 202);
  expect_states(f, n1, "u-2", "accepted,expired", 5000);
  assert_string_equal(states(f, n0, "u-1"), "accepted");
  es_ctl(f, "plug");
  expect_states(f, n0, "u-1", "accepted,sent,executed", 15000);

  /* Now node 2 gets a valid one: its only command in the ledger. */
  snprintf(body, sizeof body,
           "{\"id\":\"h-4\",\"device\":\"%s\",\"name\":\"relay.set\",\"args\":{\"ch\":6,"
           "\"on\":true}}",
           n2);
  assert_int_equal(post(f, NULL, body, NULL), 202);
  expect_states(f, n2, "h-4", "accepted,sent,executed", 10000);
  es_step(f, 1500); /* a reading or two with the relays on */
  assert_int_equal(relays_of(f, 0), 0x0a);
  assert_int_equal(relays_of(f, 1), 0x04);
  assert_int_equal(relays_of(f, 2), 0x20);

  /* The ledger: exactly the four commands that ran, each once. */
  size_t all0, all1, all2;
  assert_int_equal(ledger_relay(f, n0, 2, &all0), 1);
  assert_int_equal(ledger_relay(f, n0, 4, NULL), 1);
  assert_int_equal(ledger_relay(f, n1, 3, &all1), 1);
  assert_int_equal(ledger_relay(f, n2, 6, &all2), 1);
  assert_int_equal(all0, 2);
  assert_int_equal(all1, 1);
  assert_int_equal(all2, 1);
  json_t *j = es_api(f, "/api/status");
  json_t *cs = json_object_get(j, "commands");
  assert_true(json_integer_value(json_object_get(cs, "duplicates")) >= 2);
  assert_true(json_integer_value(json_object_get(cs, "dropped")) >= 2);
  assert_true(json_integer_value(json_object_get(json_object_get(j, "mqtt"), "bad_topic")) >= 1);
  json_decref(j);

  /* The relays reached the readings: node 0's last ones carry 0x0a. */
  struct es_tally t;
  struct es_ledger l;
  es_tally(f, &t, &l);
  json_int_t last0 = -1;
  for (size_t i = 0; i < l.n; i++)
    if (strcmp(l.r[i].dev, n0) == 0)
      last0 = json_integer_value(json_object_get(l.r[i].v, "relays"));
  es_ledger_free(&l);
  assert_int_equal(last0, 0x0a);
  bool drained = es_drain(f, 30000, true, &t);
  es_report("commands", &t);
  char why[768];
  if (!drained || !es_complete(&t, false, why, sizeof why)) {
    es_dump(f);
    fail_msg("commands: %s", drained ? why : "did not drain");
  }
  char end_why[512];
  if (!es_finish(f, end_why, sizeof end_why))
    fail_msg("%s", end_why);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_commands_to_the_ledger, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
