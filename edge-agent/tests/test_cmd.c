/* SPDX-License-Identifier: MIT */
/* The command manager on a simulated clock: the catalogue's checks, the
 * state machine driven by acks, resends with the same wire id and their
 * limit, timeouts, expiry, idempotent ids, acks that come late or for
 * nothing, resumption after a restart, and RFC 3339 times (RFC 3339 §5.8
 * examples). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "farm/error.h"

static const int64_t T0 = 1800000000000LL;

struct fake {
  bool link_down;
  struct fp_msg sent[64];
  size_t nsent;
  char acks[64][256];
  char ack_dev[64][16];
  size_t nacks;
};

static int fake_send(void *ud, const struct fp_msg *m)
{
  struct fake *f = ud;
  if (f->link_down)
    return FARM_ECLOSED;
  if (f->nsent < 64)
    f->sent[f->nsent++] = *m;
  return 0;
}

static void fake_ack(void *ud, const char *device, const char *json)
{
  struct fake *f = ud;
  if (f->nacks < 64) {
    snprintf(f->acks[f->nacks], sizeof f->acks[0], "%s", json);
    snprintf(f->ack_dev[f->nacks], sizeof f->ack_dev[0], "%s", device);
    f->nacks++;
  }
}

struct ctx {
  char dir[64], db[96];
  struct fd_log lg;
  struct fake fk;
  struct ea_cmd *cm;
};

static void open_cm(struct ctx *c)
{
  struct ea_cmd_opts o = {.path = c->db,
                          .timeout_ms = 1000,
                          .retries = 2,
                          .node_timeout_ms = 5000,
                          .default_ttl_s = 60,
                          .keep = 10};
  struct ea_cmd_callbacks cb = {.send = fake_send, .publish_ack = fake_ack};
  assert_int_equal(ea_cmd_open(&o, &c->lg, &cb, &c->fk, T0, &c->cm), 0);
}

static int setup(void **state)
{
  struct ctx *c = calloc(1, sizeof *c);
  strcpy(c->dir, "/tmp/eacmdXXXXXX");
  if (!mkdtemp(c->dir))
    return -1;
  snprintf(c->db, sizeof c->db, "%s/commands.db", c->dir);
  fd_log_init(&c->lg, "test", FD_LOG_ERROR, stderr);
  open_cm(c);
  *state = c;
  return 0;
}

static int teardown(void **state)
{
  struct ctx *c = *state;
  ea_cmd_close(c->cm);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
  int rc = system(cmd);
  free(c);
  return rc == 0 ? 0 : -1;
}

static void submit(struct ctx *c, const char *json, int64_t now, struct ea_cmd_result *res)
{
  json_error_t e;
  json_t *j = json_loads(json, 0, &e);
  assert_non_null(j);
  ea_cmd_from_http(c->cm, j, now, res);
  json_decref(j);
}

/* "state" of ack i, "" when none. */
static const char *ack_state(struct ctx *c, size_t i)
{
  static char s[32];
  s[0] = '\0';
  if (i >= c->fk.nacks)
    return s;
  json_t *j = json_loads(c->fk.acks[i], 0, NULL);
  snprintf(s, sizeof s, "%s", json_string_value(json_object_get(j, "state")));
  json_decref(j);
  return s;
}

static const char *ack_error(struct ctx *c, size_t i)
{
  static char s[128];
  json_t *j = json_loads(c->fk.acks[i], 0, NULL);
  const char *e = json_string_value(json_object_get(j, "error"));
  snprintf(s, sizeof s, "%s", e ? e : "(null)");
  json_decref(j);
  return s;
}

static void ack(struct ctx *c, uint32_t id, bool ok, enum fp_stage stage, const char *err,
                int64_t now)
{
  struct fp_msg m = {.type = FP_MSG_ACK, .id = id};
  m.u.ack.ok = ok;
  m.u.ack.stage = stage;
  if (err)
    strcpy(m.u.ack.err, err);
  ea_cmd_on_ack(c->cm, &m, now);
}

static void test_catalogue(void **state)
{
  struct ctx *c = *state;
  static const struct {
    const char *body;
    int status;
    const char *error;
  } cases[] = {
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"ch\":6,\"on\":true,\"for_"
       "s\":10}}",
       202, ""},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"ch\":0,\"on\":true}}", 422,
       "'ch' must be 1..6"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":1}}", 422,
       "'on' must be true or false"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"ch\":1.5,\"on\":true}}",
       422, "'ch' must be an integer"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"on\":true}}", 422,
       "missing argument 'ch'"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":false,\"for_"
       "s\":5}}",
       422, "'for_s' needs on"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"feature.set\",\"args\":{\"name\":\"gps\",\"on\":"
       "true}}",
       422, "'name' must be one of sht41, lux, mq135, relays, synthetic"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"feature.set\",\"args\":{\"name\":\"lux\",\"on\":"
       "false}}",
       202, ""},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"period.set\",\"args\":{\"ms\":3600001}}", 422,
       "'ms' must be 1000..3600000"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\"}", 202, ""},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"args\":{\"now\":true}}", 422,
       "unknown argument 'now' for reboot"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"args\":[1]}", 422,
       "args must be an object"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"args\":{\"Bad\":1}}", 422,
       "argument names are 1-15 of [a-z0-9_]"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"RELAY.SET\"}", 422, "unknown command 'RELAY.SET'"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":7}", 400, "name must be a text of 1-31 bytes"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"ttl_s\":0}", 400,
       "ttl_s must be 1..604800"},
      {"{\"device\":\"a1b2c3d4e5f\",\"name\":\"reboot\"}", 400,
       "device must be a node MAC (12 lowercase hex digits)"},
      {"{\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"id\":\"has space\"}", 400,
       "id must be 1-64 of [A-Za-z0-9._:-]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ea_cmd_result r;
    submit(c, cases[i].body, T0, &r);
    if (r.http_status != cases[i].status || strcmp(r.error, cases[i].error) != 0)
      fail_msg("case %zu: %d \"%s\", expected %d \"%s\"", i, r.http_status, r.error,
               cases[i].status, cases[i].error);
  }
  /* Only the three valid ones went to the gateway, with distinct ids. */
  assert_int_equal(c->fk.nsent, 3);
  assert_true(c->fk.sent[0].id != c->fk.sent[1].id && c->fk.sent[1].id != c->fk.sent[2].id);
  assert_string_equal(c->fk.sent[0].u.cmd.name, "relay.set");
  assert_int_equal(c->fk.sent[0].u.cmd.n_args, 3);
}

static void test_lifecycle(void **state)
{
  struct ctx *c = *state;
  struct ea_cmd_result r;
  submit(c, "{\"id\":\"a\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\",\"args\":{\"s\":5}}",
         T0, &r);
  assert_int_equal(r.http_status, 202);
  assert_int_equal(c->fk.nsent, 1);
  uint32_t w = c->fk.sent[0].id;
  assert_string_equal(ack_state(c, 0), "accepted");
  assert_string_equal(c->fk.ack_dev[0], "a1b2c3d4e5f6");
  /* No answer: resent with the same id after the timeout. */
  assert_int_equal(ea_cmd_tick(c->cm, T0 + 500), 500);
  ea_cmd_tick(c->cm, T0 + 1000);
  assert_int_equal(c->fk.nsent, 2);
  assert_int_equal(c->fk.sent[1].id, w);
  ack(c, w, true, FP_STAGE_GW, NULL, T0 + 1100);
  assert_string_equal(ack_state(c, 1), "sent");
  ack(c, w, true, FP_STAGE_GW, NULL, T0 + 1150); /* the resend's answer */
  assert_int_equal(c->fk.nacks, 2);
  ack(c, w, true, FP_STAGE_NODE, NULL, T0 + 1200);
  assert_string_equal(ack_state(c, 2), "executed");
  assert_string_equal(ack_error(c, 2), "(null)");
  /* An ack after the outcome: counted, ignored. */
  ack(c, w, false, FP_STAGE_NODE, "timeout", T0 + 1300);
  ack(c, 999999, true, FP_STAGE_GW, NULL, T0 + 1300);
  struct ea_cmd_stats st;
  ea_cmd_stats(c->cm, &st);
  assert_int_equal(st.late_acks, 1);
  assert_int_equal(st.unknown_acks, 1);
  assert_int_equal(st.executed, 1);
  assert_int_equal(st.resends, 1);
  assert_int_equal(c->fk.nacks, 3);
  /* The same id again: its outcome again, nothing sent. */
  submit(c, "{\"id\":\"a\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\"}", T0 + 2000, &r);
  assert_int_equal(r.http_status, 200);
  assert_true(r.duplicate);
  assert_int_equal(r.state, EA_CMD_EXECUTED);
  assert_string_equal(ack_state(c, 3), "executed");
  assert_int_equal(c->fk.nsent, 2);

  /* Refused by the gateway, then by the node. */
  submit(c, "{\"id\":\"b\",\"device\":\"0a0b0c0d0e0f\",\"name\":\"reboot\"}", T0, &r);
  ack(c, c->fk.sent[c->fk.nsent - 1].id, false, FP_STAGE_GW, "unknown peer", T0 + 10);
  assert_string_equal(ack_state(c, c->fk.nacks - 1), "failed");
  assert_string_equal(ack_error(c, c->fk.nacks - 1), "unknown peer");
  submit(c, "{\"id\":\"c\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\"}", T0, &r);
  uint32_t wc = c->fk.sent[c->fk.nsent - 1].id;
  ack(c, wc, true, FP_STAGE_GW, NULL, T0 + 10);
  /* The node never answers. */
  ea_cmd_tick(c->cm, T0 + 10 + 5000);
  assert_string_equal(ack_state(c, c->fk.nacks - 1), "failed");
  assert_string_equal(ack_error(c, c->fk.nacks - 1), "the node did not answer in time");
}

static void test_retries_and_expiry(void **state)
{
  struct ctx *c = *state;
  struct ea_cmd_result r;
  submit(c, "{\"id\":\"r\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\"}", T0, &r);
  for (int64_t t = T0; t <= T0 + 3000; t += 1000)
    ea_cmd_tick(c->cm, t);
  /* Sent once and resent twice (cmd_retries = 2), then given up. */
  assert_int_equal(c->fk.nsent, 3);
  assert_string_equal(ack_state(c, 1), "failed");
  assert_string_equal(ack_error(c, 1), "the gateway did not answer");

  /* While the link is down nothing counts as an attempt; the command
   * expires before it could be sent. */
  c->fk.link_down = true;
  submit(c, "{\"id\":\"e\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\",\"ttl_s\":5}", T0, &r);
  assert_int_equal(r.state, EA_CMD_ACCEPTED);
  for (int64_t t = T0; t <= T0 + 4000; t += 1000)
    ea_cmd_tick(c->cm, t);
  assert_string_equal(ack_state(c, c->fk.nacks - 1), "accepted");
  ea_cmd_tick(c->cm, T0 + 5000);
  assert_string_equal(ack_state(c, c->fk.nacks - 1), "expired");
  assert_int_equal(c->fk.nsent, 3);
  c->fk.link_down = false;

  /* Already expired on arrival: never sent. */
  submit(c,
         "{\"id\":\"x\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\","
         "\"expires\":\"2020-01-01T00:00:00Z\"}",
         T0, &r);
  assert_int_equal(r.http_status, 422);
  assert_int_equal(r.state, EA_CMD_EXPIRED);
  assert_int_equal(c->fk.nsent, 3);
}

static void test_resume_after_restart(void **state)
{
  struct ctx *c = *state;
  struct ea_cmd_result r;
  submit(c, "{\"id\":\"p\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\"}", T0, &r);
  submit(c, "{\"id\":\"q\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\"}", T0, &r);
  uint32_t wp = c->fk.sent[0].id, wq = c->fk.sent[1].id;
  ack(c, wq, true, FP_STAGE_GW, NULL, T0 + 10); /* q is sent, p still accepted */
  ea_cmd_close(c->cm);
  memset(&c->fk, 0, sizeof c->fk);
  open_cm(c);
  struct ea_cmd_stats st;
  ea_cmd_stats(c->cm, &st);
  assert_int_equal(st.pending, 2);
  /* Both go again at once, with their ids. */
  ea_cmd_tick(c->cm, T0 + 20);
  assert_int_equal(c->fk.nsent, 1);
  assert_int_equal(c->fk.sent[0].id, wp);
  ack(c, wp, true, FP_STAGE_GW, NULL, T0 + 30);
  ack(c, wp, true, FP_STAGE_NODE, NULL, T0 + 40);
  ack(c, wq, true, FP_STAGE_NODE, NULL, T0 + 50);
  assert_string_equal(ack_state(c, 0), "sent");
  assert_string_equal(ack_state(c, 1), "executed");
  assert_string_equal(ack_state(c, 2), "executed");
  /* New ids never repeat old ones. */
  submit(c, "{\"id\":\"n\",\"device\":\"a1b2c3d4e5f6\",\"name\":\"reboot\"}", T0, &r);
  uint32_t wn = c->fk.sent[c->fk.nsent - 1].id;
  assert_true(wn != wp && wn != wq);
  json_t *list = ea_cmd_list_json(c->cm, 10);
  assert_int_equal(json_array_size(list), 3);
  json_decref(list);
}

static void test_rfc3339(void **state)
{
  (void)state;
  int64_t ms;
  assert_int_equal(ea_rfc3339_parse("1985-04-12T23:20:50.52Z", &ms), 0);
  assert_int_equal(ms, 482196050520LL);
  assert_int_equal(ea_rfc3339_parse("1996-12-19T16:39:57-08:00", &ms), 0);
  assert_int_equal(ms, 851042397000LL);
  assert_int_equal(ea_rfc3339_parse("1990-12-31T23:59:60Z", &ms), 0); /* leap second */
  assert_int_equal(ms, 662687999000LL);
  assert_int_equal(ea_rfc3339_parse("1937-01-01T12:00:27.87+00:20", &ms), 0);
  assert_int_equal(ms, -1041337172130LL);
  assert_int_equal(ea_rfc3339_parse("2024-02-29t00:00:00z", &ms), 0);
  static const char *const bad[] = {"",
                                    "2024-02-30T00:00:00Z",
                                    "2023-02-29T00:00:00Z",
                                    "2024-01-01T00:00:00",
                                    "2024-01-01 00:00:00Z",
                                    "2024-01-01T24:00:00Z",
                                    "2024-01-01T00:00:00.Z",
                                    "2024-01-01T00:00:00+0100",
                                    "2024-1-01T00:00:00Z",
                                    "2024-01-01T00:00:00Zjunk"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (ea_rfc3339_parse(bad[i], &ms) != FARM_EINVAL)
      fail_msg("accepted \"%s\"", bad[i]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_catalogue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retries_and_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_after_restart, setup, teardown),
      cmocka_unit_test(test_rfc3339),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
