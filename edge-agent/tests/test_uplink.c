/* SPDX-License-Identifier: MIT */
/* The MQTT link against a real Mosquitto (plain and TLS): topics and
 * payloads, PUBACK deletion until a commit watermark is seen and watermark
 * deletion after, the replay of rows stored during a broker outage with
 * hist:true and pacing while live rows go first, refused commit payloads,
 * and commands handed to the agent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <poll.h>

#include "backlog.h"
#include "config.h"
#include "edgetest.h"
#include "farm/error.h"
#include "uplink.h"

struct ctx {
  char base[FH_PATH];
  struct fh_broker broker;
  struct ea_config cfg;
  struct fd_log lg;
  struct ea_backlog *bl;
  struct ea_uplink *up;
  struct et_sub obs;
  unsigned connected;
  char cmd_device[80];
  char cmd_payload[256];
  unsigned cmds;
  uint32_t seq;
};

static void on_connected(void *ud)
{
  struct ctx *c = ud;
  c->connected++;
}

static void on_cmd(void *ud, const char *device, const char *payload, size_t len)
{
  struct ctx *c = ud;
  c->cmds++;
  snprintf(c->cmd_device, sizeof c->cmd_device, "%s", device);
  snprintf(c->cmd_payload, sizeof c->cmd_payload, "%.*s", (int)len, payload);
}

static void load_cfg(struct ctx *c, char **extra)
{
  char port[64], db[FH_PATH + 64], cmdb[FH_PATH + 64];
  snprintf(port, sizeof port, "EDGE_MQTT_PORT=%d", c->broker.tls_port);
  snprintf(db, sizeof db, "EDGE_BACKLOG_PATH=%s/backlog.db", c->base);
  snprintf(cmdb, sizeof cmdb, "EDGE_COMMANDS_PATH=%s/commands.db", c->base);
  char *env[32] = {"EDGE_SITE=s1",
                   "EDGE_MQTT_HOST=127.0.0.1",
                   port,
                   db,
                   cmdb,
                   "EDGE_MQTT_TLS=0",
                   "EDGE_MQTT_RECONNECT_MAX_S=1",
                   "EDGE_MQTT_REPLAY_RATE=40",
                   "EDGE_MQTT_INFLIGHT=16"};
  size_t n = 9;
  for (size_t i = 0; extra && extra[i]; i++)
    env[n++] = extra[i];
  env[n] = NULL;
  char err[256];
  if (ea_config_load(&c->cfg, NULL, env, err, sizeof err) != 0)
    fail_msg("config: %s", err);
}

static void start_link(struct ctx *c)
{
  struct ea_backlog_opts bo = {
      .path = c->cfg.backlog_path, .max_bytes = 1 << 24, .dedupe_hours = 1};
  assert_int_equal(ea_backlog_open(&bo, &c->lg, fd_wall_ms(), &c->bl), 0);
  struct ea_uplink_callbacks cb = {.on_connected = on_connected, .on_cmd = on_cmd};
  assert_int_equal(ea_uplink_new(&c->cfg, c->bl, &c->lg, &cb, c, &c->up), 0);
}

static int setup_plain(void **state)
{
  struct ctx *c = calloc(1, sizeof *c);
  fh_tmpdir(c->base, "eaup");
  fd_log_init(&c->lg, "link", FD_LOG_ERROR, stderr);
  et_plain_broker(&c->broker, c->base);
  load_cfg(c, NULL);
  start_link(c);
  /* A persistent session: the broker keeps what arrives while the
   * observer reconnects after a broker restart. */
  struct fd_mqtt_config oc = {.host = "127.0.0.1",
                              .port = c->broker.tls_port,
                              .client_id = "observer",
                              .clean_start = false,
                              .session_expiry_s = 3600,
                              .reconnect_min_s = 1,
                              .reconnect_max_s = 1};
  et_sub_start(&c->obs, &oc, "v1/farm/s1/#");
  *state = c;
  return 0;
}

static int teardown(void **state)
{
  struct ctx *c = *state;
  et_sub_stop(&c->obs);
  ea_uplink_free(c->up);
  ea_backlog_close(c->bl);
  ea_config_free(&c->cfg);
  fh_broker_stop(&c->broker);
  fh_rmtree(c->base);
  free(c);
  return 0;
}

/* The agent's loop, reduced to the link and the backlog. */
static void run(struct ctx *c, int ms)
{
  int64_t end = et_now_ms() + ms;
  do {
    struct pollfd p = {.fd = ea_uplink_fd(c->up), .events = POLLIN};
    poll(&p, 1, 5);
    ea_uplink_dispatch(c->up);
    if (ea_backlog_dirty(c->bl))
      assert_int_equal(ea_backlog_commit(c->bl), 0);
    ea_uplink_pump(c->up, fd_mono_ms());
    et_sub_pump(&c->obs, 1);
  } while (et_now_ms() < end);
}

static void wait_connected(struct ctx *c, unsigned n)
{
  int64_t end = et_now_ms() + 15000;
  while (c->connected < n && et_now_ms() < end)
    run(c, 20);
  assert_true(c->connected >= n);
}

static void add_rows(struct ctx *c, unsigned n)
{
  for (unsigned i = 0; i < n; i++) {
    char body[128];
    c->seq++;
    snprintf(body, sizeof body,
             "\"boot\":3,\"seq\":%u,\"ts\":1732646400000,\"v\":{\"temp_c\":21.5}", c->seq);
    struct ea_row_in r = {.kind = EA_ROW_TELEMETRY,
                          .topic = "v1/farm/s1/a1b2c3d4e5f6/telemetry/env",
                          .body = body,
                          .has_key = true,
                          .device = "a1b2c3d4e5f6",
                          .boot = 3,
                          .seq = c->seq};
    assert_int_equal(ea_backlog_add(c->bl, &r, fd_wall_ms(), NULL), 0);
  }
  assert_int_equal(ea_backlog_commit(c->bl), 0);
}

static uint64_t depth(struct ctx *c)
{
  struct ea_backlog_stats st;
  ea_backlog_stats(c->bl, 0, &st);
  return st.depth;
}

#define TEL "v1/farm/s1/a1b2c3d4e5f6/telemetry/env"

/* Runs the link until the observer has n telemetry messages. */
static size_t wait_tel(struct ctx *c, size_t n, int timeout_ms)
{
  int64_t end = et_now_ms() + timeout_ms;
  while (et_sub_count_prefix(&c->obs, TEL) < n && et_now_ms() < end)
    run(c, 20);
  return et_sub_count_prefix(&c->obs, TEL);
}

static void check_tel(const struct et_msg *m, int64_t edge_seq, bool hist)
{
  json_t *j = et_json(m->payload, m->len);
  assert_int_equal(json_integer_value(json_object_get(j, "edge_seq")), edge_seq);
  assert_int_equal(json_integer_value(json_object_get(j, "boot")), 3);
  assert_true(json_is_integer(json_object_get(j, "seq")));
  assert_true(json_is_boolean(json_object_get(j, "hist")));
  assert_int_equal(json_is_true(json_object_get(j, "hist")), hist);
  assert_true(json_is_object(json_object_get(j, "v")));
  assert_false(m->retain);
  json_decref(j);
}

static void test_live_then_puback_fallback(void **state)
{
  struct ctx *c = *state;
  wait_connected(c, 1);
  add_rows(c, 10);
  run(c, 300);
  assert_int_equal(wait_tel(c, 10, 5000), 10);
  for (size_t i = 0; i < 10; i++)
    check_tel(&c->obs.msgs[i], (int64_t)i + 1, false);
  run(c, 200);
  /* No watermark was ever published for s1: each PUBACK deleted its row. */
  assert_int_equal(depth(c), 0);
  struct ea_uplink_stats st;
  ea_uplink_stats(c->up, &st);
  assert_int_equal(st.published, 10);
  assert_int_equal(st.acked, 10);
  assert_int_equal(st.live_published, 10);
}

static void test_watermark_mode(void **state)
{
  struct ctx *c = *state;
  wait_connected(c, 1);
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":0}", true);
  run(c, 300);
  add_rows(c, 8);
  assert_int_equal(wait_tel(c, 8, 5000), 8);
  run(c, 300);
  /* PUBACKed but not committed by the cloud: all kept. */
  assert_int_equal(depth(c), 8);
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":5}", true);
  run(c, 400);
  assert_int_equal(depth(c), 3);
  /* Refused payloads change nothing (BAD-INPUTS 15). */
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "not json", false);
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":\"8\"}", false);
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":-1}", false);
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":8,\"edge_seq\":8}", false);
  run(c, 400);
  assert_int_equal(depth(c), 3);
  struct ea_uplink_stats st;
  ea_uplink_stats(c->up, &st);
  assert_int_equal(st.bad_payload, 4);
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":8}", true);
  run(c, 400);
  assert_int_equal(depth(c), 0);
  ea_uplink_stats(c->up, &st);
  assert_int_equal(st.watermark, 8);
  assert_int_equal(st.commits_received, 3);
  /* Clear the retained watermark for the next test's broker state. */
  et_sub_publish(&c->obs, "v1/farm/s1/edge/commit", "", true);
  run(c, 100);
}

static void test_outage_replay_paced_live_first(void **state)
{
  struct ctx *c = *state;
  wait_connected(c, 1);
  fh_broker_stop(&c->broker);
  run(c, 300);
  assert_false(ea_uplink_connected(c->up));
  add_rows(c, 80); /* edge_seq 1..80 wait through the outage */
  fh_broker_start(&c->broker);
  wait_connected(c, 2);
  int64_t t0 = et_now_ms();
  /* A live reading while the replay runs (40/s: about 2 s for 80). */
  run(c, 300);
  add_rows(c, 1); /* edge_seq 81 */
  int64_t end = et_now_ms() + 10000;
  while (et_sub_count_prefix(&c->obs, TEL) < 81 && et_now_ms() < end)
    run(c, 20);
  int64_t t1 = et_now_ms();
  /* (The broker also delivers the link's Last Will from its shutdown.) */
  assert_int_equal(et_sub_count_prefix(&c->obs, TEL), 81);
  int live_at = -1, last_hist = -1;
  int64_t prev = 0;
  for (size_t i = 0; i < c->obs.n; i++) {
    if (strcmp(c->obs.msgs[i].topic, TEL) != 0)
      continue;
    json_t *j = et_json(c->obs.msgs[i].payload, c->obs.msgs[i].len);
    int64_t es = json_integer_value(json_object_get(j, "edge_seq"));
    bool hist = json_is_true(json_object_get(j, "hist"));
    json_decref(j);
    if (es == 81) {
      assert_false(hist);
      live_at = (int)i;
    } else {
      assert_true(hist);
      assert_true(es > prev); /* in order within the replay */
      prev = es;
      last_hist = (int)i;
    }
  }
  assert_int_equal(prev, 80);
  /* The live reading did not wait for the end of the replay. */
  assert_true(live_at >= 0 && live_at < last_hist);
  /* Paced: 80 rows at 40/s with a burst of 16 take well over a second. */
  assert_true(t1 - t0 > 1200);
  struct ea_uplink_stats st;
  ea_uplink_stats(c->up, &st);
  assert_int_equal(st.hist_published, 80);
  assert_int_equal(st.connects, 2);
  assert_int_equal(st.disconnects, 1);
  run(c, 300);
  assert_int_equal(depth(c), 0);
}

static void test_commands_reach_the_agent(void **state)
{
  struct ctx *c = *state;
  wait_connected(c, 1);
  et_sub_publish(&c->obs, "v1/farm/s1/a1b2c3d4e5f6/cmd",
                 "{\"id\":\"c-1\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true}}", false);
  run(c, 400);
  assert_int_equal(c->cmds, 1);
  assert_string_equal(c->cmd_device, "a1b2c3d4e5f6");
  assert_string_equal(c->cmd_payload,
                      "{\"id\":\"c-1\",\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true}}");
  /* State publications are direct and can be retained. */
  assert_int_equal(
      ea_uplink_publish_state(c->up, "v1/farm/s1/edge/status", "{\"online\":true}", true), 0);
  const struct et_msg *m =
      et_sub_wait_text(&c->obs, "v1/farm/s1/edge/status", "\"online\":true", 3000);
  assert_non_null(m);
}

static int setup_tls(void **state)
{
  struct ctx *c = calloc(1, sizeof *c);
  fh_tmpdir(c->base, "eaupt");
  fd_log_init(&c->lg, "link", FD_LOG_ERROR, stderr);
  const char *sites[] = {"s1", NULL};
  fh_broker_setup(&c->broker, c->base, sites);
  struct fh_creds cr;
  fh_broker_creds(&c->broker, "edge-s1", &cr);
  char ca[FH_PATH + 64], cert[FH_PATH + 128], key[FH_PATH + 128], pw[200];
  snprintf(ca, sizeof ca, "EDGE_MQTT_CAFILE=%s", cr.ca);
  snprintf(cert, sizeof cert, "EDGE_MQTT_CERTFILE=%s", cr.cert);
  snprintf(key, sizeof key, "EDGE_MQTT_KEYFILE=%s", cr.key);
  snprintf(pw, sizeof pw, "EDGE_MQTT_PASSWORD=%s", cr.password);
  char *extra[] = {"EDGE_MQTT_TLS=1",          ca,  cert, key, "EDGE_MQTT_USERNAME=edge-s1", pw,
                   "EDGE_MQTT_HOST=localhost", NULL};
  load_cfg(c, extra);
  /* The observer connects first and alone: libmosquitto sets up OpenSSL's
   * UI method on the first TLS connection without a lock, so two first
   * connections at once leak one (found under LeakSanitizer). */
  static struct fh_creds oc_cr;
  struct fd_mqtt_config oc;
  fh_broker_mqtt_config(&c->broker, &oc_cr, "web-gateway", "observer", &oc);
  et_sub_start(&c->obs, &oc, "v1/farm/s1/#");
  start_link(c);
  *state = c;
  return 0;
}

static void test_tls(void **state)
{
  struct ctx *c = *state;
  wait_connected(c, 1);
  add_rows(c, 20);
  assert_int_equal(wait_tel(c, 20, 5000), 20);
  for (size_t i = 0; i < 20; i++)
    check_tel(&c->obs.msgs[i], (int64_t)i + 1, false);
  run(c, 200);
  assert_int_equal(depth(c), 0);
  struct ea_uplink_stats st;
  ea_uplink_stats(c->up, &st);
  assert_int_equal(st.refused, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_live_then_puback_fallback, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_watermark_mode, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_outage_replay_paced_live_first, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_commands_reach_the_agent, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_tls, setup_tls, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
