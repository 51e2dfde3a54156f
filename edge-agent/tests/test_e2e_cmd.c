/* SPDX-License-Identifier: MIT */
/* Commands end to end, checked against the gateway's ledger: from MQTT and
 * from the API through accepted, sent and executed on the ack topic;
 * duplicates reported again and never run twice; expired ones never sent;
 * unknown devices, names and out-of-range arguments failed with a reason;
 * a pending command resumed after the agent is killed; and the gateway
 * requests of the diagnostics page. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "farm.h"

#define NODE_ID "a1b2c3d4e5f6"
#define ACK     "v1/farm/s1/a1b2c3d4e5f6/ack"
#define CMD     "v1/farm/s1/a1b2c3d4e5f6/cmd"

static int setup(void **state)
{
  struct et_farm *f = calloc(1, sizeof *f);
  et_farm_setup(f, false);
  et_farm_env(f, "EDGE_CMD_TIMEOUT_MS=300");
  et_farm_env(f, "EDGE_CMD_RETRIES=2");
  et_farm_env(f, "EDGE_CMD_NODE_TIMEOUT_MS=3000");
  et_farm_start(f);
  struct fp_msg m;
  fgw_hello(&m, et_gw_mac, 1);
  fgw_send(&f->gw, &m);
  et_farm_step(f, 300);
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

static void rfc3339(char *out, size_t cap, int64_t offset_s)
{
  time_t t = time(NULL) + offset_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The states reported for id on topic, in order, joined by ",". */
static void states(struct et_farm *f, const char *topic, const char *id, char *out, size_t cap)
{
  out[0] = '\0';
  for (size_t i = 0; i < f->obs.n; i++) {
    const struct et_msg *m = &f->obs.msgs[i];
    if (strcmp(m->topic, topic) != 0)
      continue;
    json_t *j = et_json(m->payload, m->len);
    if (strcmp(json_string_value(json_object_get(j, "id")), id) == 0) {
      /* Every ack carries exactly these keys (DESIGN §6, plus ts). */
      assert_int_equal(json_object_size(j), 4);
      assert_non_null(json_object_get(j, "error"));
      assert_true(json_is_integer(json_object_get(j, "ts")));
      size_t l = strlen(out);
      snprintf(out + l, cap - l, "%s%s", l ? "," : "",
               json_string_value(json_object_get(j, "state")));
    }
    json_decref(j);
  }
}

static const char *wait_states(struct et_farm *f, const char *topic, const char *id,
                               const char *want, int timeout_ms)
{
  static char got[256];
  int64_t end = et_now_ms() + timeout_ms;
  do {
    states(f, topic, id, got, sizeof got);
    if (strcmp(got, want) == 0)
      return got;
    et_farm_step(f, 30);
  } while (et_now_ms() < end);
  return got;
}

/* The error of the last ack of id. */
static char *last_error(struct et_farm *f, const char *topic, const char *id)
{
  static char err[256];
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

static void test_mqtt_commands(void **state)
{
  struct et_farm *f = *state;
  char exp[64], payload[512];
  rfc3339(exp, sizeof exp, 60);
  snprintf(
      payload, sizeof payload,
      "{\"id\":\"c-1\",\"name\":\"relay.set\",\"args\":{\"ch\":2,\"on\":true},\"expires\":\"%s\"}",
      exp);
  et_sub_publish(&f->obs, CMD, payload, false);
  assert_string_equal(wait_states(f, ACK, "c-1", "accepted,sent,executed", 5000),
                      "accepted,sent,executed");
  const struct fgw_cmd *c = fgw_ledger_by_name(&f->gw, "relay.set", 0);
  assert_non_null(c);
  assert_int_equal(c->runs, 1);
  assert_memory_equal(c->mac, et_node, 6);

  /* The same id again: the first outcome is reported again, nothing runs
   * (BAD-INPUTS 23). */
  et_sub_publish(&f->obs, CMD, payload, false);
  assert_string_equal(wait_states(f, ACK, "c-1", "accepted,sent,executed,executed", 3000),
                      "accepted,sent,executed,executed");
  assert_int_equal(c->runs, 1);
  assert_int_equal(c->seen, 1);
  assert_int_equal(f->gw.nledger, 1);

  /* Already expired: never sent. */
  et_sub_publish(&f->obs, CMD,
                 "{\"id\":\"c-2\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":false},"
                 "\"expires\":\"2020-01-01T00:00:00Z\"}",
                 false);
  assert_string_equal(wait_states(f, ACK, "c-2", "expired", 3000), "expired");

  /* Refused before anything is sent (BAD-INPUTS 22). */
  et_sub_publish(&f->obs, CMD, "{\"id\":\"c-3\",\"name\":\"launch.rocket\"}", false);
  assert_string_equal(wait_states(f, ACK, "c-3", "failed", 3000), "failed");
  assert_string_equal(last_error(f, ACK, "c-3"), "unknown command 'launch.rocket'");
  et_sub_publish(&f->obs, CMD,
                 "{\"id\":\"c-4\",\"name\":\"relay.set\",\"args\":{\"ch\":7,\"on\":true}}", false);
  assert_string_equal(wait_states(f, ACK, "c-4", "failed", 3000), "failed");
  assert_string_equal(last_error(f, ACK, "c-4"), "'ch' must be 1..6");
  et_sub_publish(
      &f->obs, CMD,
      "{\"id\":\"c-5\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true,\"for_s\":-5}}",
      false);
  assert_string_equal(wait_states(f, ACK, "c-5", "failed", 3000), "failed");
  assert_string_equal(last_error(f, ACK, "c-5"), "'for_s' must be 0..86400");
  et_sub_publish(&f->obs, CMD,
                 "{\"id\":\"c-6\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true,\"x\":1}}",
                 false);
  assert_string_equal(wait_states(f, ACK, "c-6", "failed", 3000), "failed");
  assert_string_equal(last_error(f, ACK, "c-6"), "unknown argument 'x' for relay.set");
  /* A device the gateway does not know: the gateway refuses it. */
  f->gw.nknown = 1;
  memcpy(f->gw.known_macs[0], et_node, 6);
  et_sub_publish(&f->obs, "v1/farm/s1/0a0b0c0d0e0f/cmd",
                 "{\"id\":\"c-7\",\"name\":\"identify\",\"args\":{\"s\":3}}", false);
  assert_string_equal(wait_states(f, "v1/farm/s1/0a0b0c0d0e0f/ack", "c-7", "accepted,failed", 3000),
                      "accepted,failed");
  assert_string_equal(last_error(f, "v1/farm/s1/0a0b0c0d0e0f/ack", "c-7"), "unknown peer");
  /* A device id that is not a MAC. */
  et_sub_publish(&f->obs, "v1/farm/s1/pump-1/cmd", "{\"id\":\"c-8\",\"name\":\"reboot\"}", false);
  assert_string_equal(wait_states(f, "v1/farm/s1/pump-1/ack", "c-8", "failed", 3000), "failed");
  /* No usable id: nothing to report on; dropped and counted. */
  et_sub_publish(&f->obs, CMD, "{\"name\":\"reboot\"}", false);
  et_sub_publish(&f->obs, CMD, "{\"id\":\"bad id!\",\"name\":\"reboot\"}", false);
  et_sub_publish(&f->obs, CMD, "not json", false);
  et_sub_publish(&f->obs, CMD, "{\"id\":\"x\",\"id\":\"y\"}", false);
  /* Oversized (BAD-INPUTS 15), and a device id outside [a-z0-9_-] in the
   * topic (BAD-INPUTS 14): dropped before any parsing. */
  static char huge[6000];
  memset(huge, ' ', sizeof huge - 1);
  static const char head[] = "{\"id\":\"c-9\",\"name\":\"reboot\"";
  memcpy(huge, head, sizeof head - 1);
  huge[sizeof huge - 2] = '}';
  et_sub_publish(&f->obs, CMD, huge, false);
  et_sub_publish(&f->obs, "v1/farm/s1/A1B2C3D4E5F6/cmd", "{\"id\":\"c-10\",\"name\":\"reboot\"}",
                 false);
  et_farm_step(f, 500);
  assert_int_equal(et_sub_count(&f->obs, "v1/farm/s1/A1B2C3D4E5F6/ack"), 0);
  char none[64];
  states(f, ACK, "c-9", none, sizeof none);
  assert_string_equal(none, "");
  json_t *j = et_farm_api(f, "/api/status");
  json_t *cs = json_object_get(j, "commands");
  assert_int_equal(json_integer_value(json_object_get(cs, "dropped")), 5);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "mqtt"), "bad_topic")), 1);
  assert_int_equal(json_integer_value(json_object_get(cs, "duplicates")), 1);
  assert_int_equal(json_integer_value(json_object_get(cs, "executed")), 1);
  json_decref(j);
  /* Only c-1 and c-7 ever reached the gateway. */
  assert_int_equal(f->gw.nledger, 2);
}

static int post(struct et_farm *f, const char *path, const char *json, const char **body)
{
  static char out[8192];
  return et_http(f->http_port, "POST", path, NULL, json, out, sizeof out, body);
}

static void test_http_commands(void **state)
{
  struct et_farm *f = *state;
  const char *body;
  assert_int_equal(
      post(f, "/api/cmd",
           "{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"ch\":3,\"on\":true}}",
           &body),
      202);
  json_t *j = et_json(body, strlen(body));
  char id[80];
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
  assert_string_equal(json_string_value(json_object_get(j, "state")), "accepted");
  json_decref(j);
  assert_string_equal(wait_states(f, ACK, id, "accepted,sent,executed", 5000),
                      "accepted,sent,executed");
  j = et_farm_api(f, "/api/commands");
  json_t *first = json_array_get(json_object_get(j, "commands"), 0);
  assert_string_equal(json_string_value(json_object_get(first, "id")), id);
  assert_string_equal(json_string_value(json_object_get(first, "state")), "executed");
  assert_string_equal(json_string_value(json_object_get(first, "source")), "http");
  json_decref(j);

  const char *dup = "{\"id\":\"h-1\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\"}";
  assert_int_equal(post(f, "/api/cmd", dup, &body), 202);
  assert_string_equal(wait_states(f, ACK, "h-1", "accepted,sent,executed", 5000),
                      "accepted,sent,executed");
  assert_int_equal(post(f, "/api/cmd", dup, &body), 200);
  assert_non_null(strstr(body, "\"duplicate\":true"));
  assert_non_null(strstr(body, "\"state\":\"executed\""));
  assert_int_equal(fgw_ledger_by_name(&f->gw, "identify", 0)->runs, 1);
  assert_null(fgw_ledger_by_name(&f->gw, "identify", 1));

  /* 422: understood but refused; 400: not even a command. */
  assert_int_equal(post(f, "/api/cmd", "{\"device\":\"a1b2c3d4e5f6\",\"name\":\"nope\"}", &body),
                   422);
  assert_non_null(strstr(body, "unknown command"));
  assert_int_equal(post(f, "/api/cmd",
                        "{\"device\":\"a1b2c3d4e5f6\",\"name\":\"period.set\",\"args\":{\"ms\":5}}",
                        &body),
                   422);
  assert_non_null(strstr(body, "'ms' must be 1000..3600000"));
  assert_int_equal(post(f, "/api/cmd", "{\"device\":\"A1B2C3D4E5F6\",\"name\":\"reboot\"}", &body),
                   400);
  assert_int_equal(post(f, "/api/cmd", "{\"name\":\"reboot\"}", &body), 400);
  assert_int_equal(post(f, "/api/cmd", "[1,2]", &body), 400);
  assert_int_equal(
      post(f, "/api/cmd",
           "{\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"expires\":\"tomorrow\"}", &body),
      400);
}

static void test_pending_survives_restart(void **state)
{
  struct et_farm *f = *state;
  const char *body;
  f->gw.answer = false;
  assert_int_equal(post(f, "/api/cmd",
                        "{\"id\":\"p-1\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"feature.set\","
                        "\"args\":{\"name\":\"synthetic\",\"on\":true}}",
                        &body),
                   202);
  et_farm_step(f, 500);
  const struct fgw_cmd *c = fgw_ledger_by_name(&f->gw, "feature.set", 0);
  assert_non_null(c);
  assert_true(c->seen >= 1);
  uint32_t wire = c->id;
  assert_int_equal(et_farm_stop(f, SIGKILL), 128 + SIGKILL);
  f->gw.answer = true;
  et_farm_start(f);
  assert_string_equal(wait_states(f, ACK, "p-1", "accepted,sent,executed", 8000),
                      "accepted,sent,executed");
  /* Resent with the same id after the restart, run once. */
  c = fgw_ledger_by_name(&f->gw, "feature.set", 0);
  assert_int_equal(c->id, wire);
  assert_true(c->seen >= 2);
  assert_int_equal(c->runs, 1);
  assert_null(fgw_ledger_by_name(&f->gw, "feature.set", 1));

  /* A gateway that never answers: resent cmd_retries times, then failed. */
  f->gw.answer = false;
  assert_int_equal(post(f, "/api/cmd",
                        "{\"id\":\"p-2\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\"}", &body),
                   202);
  assert_string_equal(wait_states(f, ACK, "p-2", "accepted,failed", 5000), "accepted,failed");
  assert_string_equal(last_error(f, ACK, "p-2"), "the gateway did not answer");
  assert_int_equal(fgw_ledger_by_name(&f->gw, "reboot", 0)->seen, 3);
  f->gw.answer = true;

  /* Unplugged: a command that expires before the link is back is never
   * sent. */
  fgw_unplug(&f->gw);
  et_farm_step(f, 300);
  assert_int_equal(
      post(f, "/api/cmd",
           "{\"id\":\"p-3\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\",\"ttl_s\":1}", &body),
      202);
  assert_string_equal(wait_states(f, ACK, "p-3", "accepted,expired", 4000), "accepted,expired");
  fgw_replug(&f->gw);
  et_farm_step(f, 800);
  assert_null(fgw_ledger_by_name(&f->gw, "identify", 0));
}

static void test_diag_requests(void **state)
{
  struct et_farm *f = *state;
  const char *body;
  unsigned syncs = f->gw.time_syncs;
  assert_int_equal(post(f, "/api/diag/ping", "{}", &body), 202);
  assert_int_equal(post(f, "/api/diag/time-sync", NULL, &body), 415);
  assert_int_equal(post(f, "/api/diag/time-sync", "", &body), 202);
  assert_int_equal(post(f, "/api/diag/pair", "{\"duration_s\":120}", &body), 202);
  assert_int_equal(post(f, "/api/diag/pair", "{\"duration_s\":0}", &body), 202);
  assert_int_equal(post(f, "/api/diag/pair", "{\"duration_s\":3601}", &body), 422);
  assert_int_equal(post(f, "/api/diag/set-mac", "{\"mac\":\"010000000001\"}", &body), 422);
  assert_non_null(strstr(body, "unicast"));
  assert_int_equal(post(f, "/api/diag/set-mac", "{\"mac\":\"0200000001\"}", &body), 422);
  assert_int_equal(post(f, "/api/diag/set-mac", "{\"mac\":\"020000000001\"}", &body), 202);
  et_farm_step(f, 500);
  assert_int_equal(f->gw.pings, 1);
  assert_int_equal(f->gw.time_syncs, syncs + 1);
  assert_int_equal(f->gw.pair_begins, 1);
  assert_int_equal(f->gw.pair_ends, 1);
  assert_int_equal(f->gw.set_macs, 1);
  json_t *j = et_farm_api(f, "/api/status");
  json_t *reqs = json_object_get(j, "requests");
  bool ping_ok = false;
  for (size_t i = 0; i < json_array_size(reqs); i++) {
    json_t *r = json_array_get(reqs, i);
    if (strcmp(json_string_value(json_object_get(r, "type")), "ping") == 0)
      ping_ok = strcmp(json_string_value(json_object_get(r, "state")), "ok") == 0 &&
                json_integer_value(json_object_get(r, "gateway_up_ms")) == 12345;
  }
  assert_true(ping_ok);
  json_decref(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_mqtt_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http_commands, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pending_survives_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_diag_requests, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
