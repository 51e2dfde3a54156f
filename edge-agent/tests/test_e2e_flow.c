/* SPDX-License-Identifier: MIT */
/* The edge-agent binary between a scripted gateway on a pty and a real
 * Mosquitto: topics and payloads of DESIGN §6, states and the Last Will,
 * and zero readings lost when the agent is killed with SIGKILL mid-stream,
 * when the broker stops and comes back, when the cable is pulled and
 * plugged in again, and over TLS with a client certificate. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "farm.h"

#define TEL "v1/farm/s1/a1b2c3d4e5f6/telemetry/env"

static int setup_plain(void **state)
{
  struct et_farm *f = calloc(1, sizeof *f);
  et_farm_setup(f, false);
  *state = f;
  return 0;
}

static int setup_tls(void **state)
{
  struct et_farm *f = calloc(1, sizeof *f);
  et_farm_setup(f, true);
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

static void hello(struct et_farm *f, uint32_t boot)
{
  struct fp_msg m;
  fgw_hello(&m, et_gw_mac, boot);
  fgw_send(&f->gw, &m);
}

static void expect_all(struct et_farm *f, uint32_t boot, uint32_t from, uint32_t to, int ms,
                       struct et_tally *t)
{
  if (et_farm_wait_all(f, boot, from, to, ms, t) != 0) {
    et_farm_dump(f);
    fail_msg("%zu readings of boot %u missing (first: seq %u), %zu received", t->missing, boot,
             t->missing_first, t->distinct);
  }
}

/* Every key DESIGN §6 names, and nothing else but the clock flag. */
static void check_telemetry(const struct et_msg *m, int64_t edge_seq, uint32_t seq)
{
  json_t *j = et_json(m->payload, m->len);
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
  assert_int_equal(json_integer_value(json_object_get(j, "edge_seq")), edge_seq);
  assert_int_equal(json_integer_value(json_object_get(j, "boot")), 7);
  assert_int_equal(json_integer_value(json_object_get(j, "seq")), seq);
  assert_int_equal(json_integer_value(json_object_get(j, "up_ms")), 1000 * seq);
  assert_int_equal(json_integer_value(json_object_get(j, "rssi")), -60);
  assert_true(json_is_false(json_object_get(j, "hist")));
  assert_true(json_is_false(json_object_get(j, "synthetic")));
  int64_t now = fd_wall_ms();
  int64_t ts = json_integer_value(json_object_get(j, "ts"));
  int64_t rx = json_integer_value(json_object_get(j, "rx_ts"));
  assert_true(rx > now - 60000 && rx <= now);
  /* Rebuilt from the node's uptime: at most the receive time. */
  assert_true(ts <= rx && ts > rx - 60000);
  json_t *vals = json_object_get(j, "v");
  assert_int_equal(json_object_size(vals), 2);
  assert_true(json_number_value(json_object_get(vals, "rh_pct")) == 55.0);
  assert_true(json_is_number(json_object_get(vals, "temp_c")));
  assert_false(m->retain);
  json_decref(j);
}

static void test_topics_payloads_states(void **state)
{
  struct et_farm *f = *state;
  et_farm_start(f);
  const struct et_msg *m =
      et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"online\":true", 10000);
  assert_non_null(m);
  assert_true(m->retain || true); /* delivered live; retained on the broker */

  hello(f, 3);
  struct fp_msg p = {.type = FP_MSG_PEER};
  memcpy(p.u.peer.mac, et_node, 6);
  p.u.peer.state = FP_PEER_JOINED;
  strcpy(p.u.peer.asset, "greenhouse-2/north");
  strcpy(p.u.peer.fw, "1.4.2");
  p.u.peer.has_rssi = true;
  p.u.peer.rssi = -71;
  fgw_send(&f->gw, &p);
  struct fp_msg e = {.type = FP_MSG_EVT};
  memcpy(e.u.evt.mac, et_node, 6);
  strcpy(e.u.evt.name, "boot");
  e.u.evt.has_boot = e.u.evt.has_seq = true;
  e.u.evt.boot = 7;
  e.u.evt.seq = 0;
  e.u.evt.n_args = 2;
  strcpy(e.u.evt.args[0].key, "feat");
  e.u.evt.args[0].kind = FP_ARG_INT;
  e.u.evt.args[0].v.i = 0x0b; /* sht41, lux, relays */
  strcpy(e.u.evt.args[1].key, "period_ms");
  e.u.evt.args[1].kind = FP_ARG_INT;
  e.u.evt.args[1].v.i = 5000;
  fgw_send(&f->gw, &e);
  et_farm_send(f, 7, 1, 5);
  struct et_tally t;
  expect_all(f, 7, 1, 5, 10000, &t);
  assert_int_equal(t.duplicates, 0);
  for (size_t i = 0, k = 0; i < f->obs.n; i++)
    if (strcmp(f->obs.msgs[i].topic, TEL) == 0) {
      check_telemetry(&f->obs.msgs[i], (int64_t)k + 1, (uint32_t)k + 1);
      k++;
    }

  /* The gateway got the time at its hello (protocol §4.5). */
  et_farm_step(f, 300);
  assert_true(f->gw.time_syncs >= 1);
  assert_true((int64_t)f->gw.last_time_sync_ts > fd_wall_ms() - 10000);

  /* Device status, retained, with what the peer and boot messages said. */
  m = et_sub_wait_text(&f->obs, "v1/farm/s1/a1b2c3d4e5f6/status", "\"features\"", 5000);
  assert_non_null(m);
  json_t *j = et_json(m->payload, m->len);
  assert_true(json_is_true(json_object_get(j, "online")));
  assert_string_equal(json_string_value(json_object_get(j, "state")), "online");
  assert_string_equal(json_string_value(json_object_get(j, "asset")), "greenhouse-2/north");
  assert_string_equal(json_string_value(json_object_get(j, "fw")), "1.4.2");
  assert_int_equal(json_integer_value(json_object_get(j, "interval_ms")), 5000);
  json_t *feat = json_object_get(j, "features");
  assert_int_equal(json_array_size(feat), 3);
  assert_string_equal(json_string_value(json_array_get(feat, 2)), "relays");
  json_decref(j);
  /* The gateway's own status on its MAC (DESIGN §6). */
  m = et_sub_wait_text(&f->obs, "v1/farm/s1/240ac4000001/status", "\"role\":\"gateway\"", 5000);
  assert_non_null(m);
  /* The node's event. */
  m = et_sub_wait_text(&f->obs, "v1/farm/s1/a1b2c3d4e5f6/event", "\"type\":\"boot\"", 5000);
  assert_non_null(m);
  j = et_json(m->payload, m->len);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "args"), "period_ms")),
                   5000);
  json_decref(j);

  /* The API sees the same. */
  j = et_farm_api(f, "/api/peers");
  json_t *peer = json_array_get(json_object_get(j, "peers"), 0);
  assert_string_equal(json_string_value(json_object_get(peer, "id")), "a1b2c3d4e5f6");
  assert_int_equal(json_integer_value(json_object_get(peer, "readings")), 5);
  assert_true(json_number_value(json_object_get(json_object_get(peer, "v"), "rh_pct")) == 55.0);
  json_decref(j);

  /* Killed: the broker publishes the Last Will (retained offline). */
  et_sub_clear(&f->obs);
  assert_int_equal(et_farm_stop(f, SIGKILL), 128 + SIGKILL);
  m = et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"online\":false", 15000);
  assert_non_null(m);
  /* Back: online again, and a clean stop says offline itself. */
  et_farm_start(f);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"online\":true", 10000));
  et_sub_clear(&f->obs);
  assert_int_equal(et_farm_stop(f, SIGTERM), 0);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"online\":false", 5000));
}

/* SIGKILL while readings stream in: what was acknowledged was committed,
 * what was not is resent by the gateway. */
static void test_sigkill_mid_stream(void **state)
{
  struct et_farm *f = *state;
  et_farm_start(f);
  hello(f, 1);
  for (uint32_t s = 1; s <= 300; s += 50) {
    et_farm_send(f, 9, s, s + 49);
    et_farm_step(f, 20);
  }
  assert_int_equal(et_farm_stop(f, SIGKILL), 128 + SIGKILL);
  /* The gateway keeps sending while the edge is down. */
  et_farm_send(f, 9, 301, 450);
  et_farm_step(f, 200);
  et_farm_start(f);
  et_farm_send(f, 9, 451, 600);
  struct et_tally t;
  expect_all(f, 9, 1, 600, 30000, &t);
  /* Everything the gateway kept was acknowledged in the end. */
  et_farm_step(f, 500);
  assert_int_equal(f->gw.nkept, 0);
  json_t *j = et_farm_api(f, "/api/status");
  assert_true(json_integer_value(json_object_get(json_object_get(j, "serial"), "accepted")) > 0);
  json_decref(j);
}

static void test_broker_outage(void **state)
{
  struct et_farm *f = *state;
  et_farm_env(f, "EDGE_MQTT_REPLAY_RATE=500");
  et_farm_start(f);
  hello(f, 1);
  et_farm_send(f, 4, 1, 100);
  struct et_tally t;
  expect_all(f, 4, 1, 100, 10000, &t);
  fh_broker_stop(&f->broker);
  et_farm_send(f, 4, 101, 300);
  et_farm_step(f, 1000);
  /* Stored and acknowledged to the gateway while the cloud is away. */
  assert_int_equal(f->gw.nkept, 0);
  json_t *j = et_farm_api(f, "/api/backlog");
  assert_true(json_integer_value(json_object_get(j, "depth")) >= 200);
  json_decref(j);
  j = et_farm_api(f, "/api/status");
  assert_true(json_is_false(json_object_get(json_object_get(j, "mqtt"), "connected")));
  json_decref(j);
  fh_broker_start(&f->broker);
  et_farm_send(f, 4, 301, 320);
  expect_all(f, 4, 1, 320, 30000, &t);
  /* The ones that waited were replayed as history. */
  assert_true(t.hist >= 200);
  et_farm_step(f, 500);
  j = et_farm_api(f, "/api/backlog");
  /* No commit watermark on this broker: the PUBACKs emptied the backlog. */
  assert_int_equal(json_integer_value(json_object_get(j, "depth")), 0);
  json_decref(j);
}

static void test_cable_pulled(void **state)
{
  struct et_farm *f = *state;
  et_farm_start(f);
  hello(f, 1);
  et_farm_send(f, 5, 1, 100);
  et_farm_step(f, 100);
  /* Half a frame on the wire, then the cable goes; the gateway keeps
   * queueing. */
  uint8_t half[] = {0x20, 0x88, 0xa1, 0x74, 0xa3};
  fgw_write(&f->gw, half, sizeof half);
  fgw_unplug(&f->gw);
  et_farm_send(f, 5, 101, 200);
  et_farm_step(f, 700);
  json_t *j = et_farm_api(f, "/api/status");
  assert_true(json_is_false(json_object_get(json_object_get(j, "serial"), "open")));
  json_decref(j);
  fgw_replug(&f->gw);
  et_farm_step(f, 50);
  et_farm_send(f, 5, 201, 250);
  struct et_tally t;
  expect_all(f, 5, 1, 250, 20000, &t);
  j = et_farm_api(f, "/api/status");
  json_t *s = json_object_get(j, "serial");
  assert_true(json_is_true(json_object_get(s, "open")));
  assert_true(json_integer_value(json_object_get(s, "losses")) >= 1);
  assert_true(json_integer_value(json_object_get(s, "opens")) >= 2);
  json_decref(j);
}

static void test_tls_end_to_end(void **state)
{
  struct et_farm *f = *state;
  et_farm_start(f);
  assert_non_null(et_sub_wait_text(&f->obs, "v1/farm/s1/edge/status", "\"online\":true", 15000));
  /* An IoTferme cloud: the store publishes a commit watermark (the observer
   * logs in as iot-streamer, which the ACL lets publish it). From then on
   * a PUBACK no longer deletes a row; the watermark does. */
  et_sub_publish(&f->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":0}", true);
  et_farm_step(f, 500);
  hello(f, 1);
  et_farm_send(f, 2, 1, 200);
  struct et_tally t;
  expect_all(f, 2, 1, 200, 20000, &t);
  et_farm_step(f, 300);
  json_t *j = et_farm_api(f, "/api/backlog");
  assert_int_equal(json_integer_value(json_object_get(j, "depth")), 200);
  json_decref(j);
  et_sub_publish(&f->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":150}", true);
  et_farm_step(f, 1000);
  j = et_farm_api(f, "/api/backlog");
  assert_int_equal(json_integer_value(json_object_get(j, "watermark")), 150);
  assert_int_equal(json_integer_value(json_object_get(j, "depth")), 50);
  assert_int_equal(json_integer_value(json_object_get(j, "first_edge_seq")), 151);
  json_decref(j);
  et_sub_publish(&f->obs, "v1/farm/s1/edge/commit", "{\"edge_seq\":200}", true);
  et_farm_step(f, 1000);
  j = et_farm_api(f, "/api/backlog");
  assert_int_equal(json_integer_value(json_object_get(j, "depth")), 0);
  json_decref(j);
  assert_int_equal(et_farm_stop(f, SIGTERM), 0);
}

/* Datagrams the agent sent to NOTIFY_SOCKET until timeout, appended to
 * log (separated by "|"); returns how many said WATCHDOG=1. */
static int notifications(int fd, int timeout_ms, char *log, size_t cap)
{
  int watchdogs = 0;
  int64_t end = et_now_ms() + timeout_ms;
  while (et_now_ms() < end) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0)
      continue;
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
      continue;
    buf[n] = '\0';
    if (strstr(buf, "WATCHDOG=1"))
      watchdogs++;
    size_t l = strlen(log);
    snprintf(log + l, cap - l, "%s|", buf);
  }
  return watchdogs;
}

/* systemd's side: READY=1 once up, WATCHDOG=1 at half the watchdog period
 * from the loop, STOPPING=1 on SIGTERM (sd_notify(3), sd_watchdog_enabled(3)). */
static void test_systemd_notify(void **state)
{
  struct et_farm *f = *state;
  char path[FH_PATH + 16];
  snprintf(path, sizeof path, "%s/notify", f->base);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  assert_true(strlen(path) < sizeof a.sun_path);
  strcpy(a.sun_path, path);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  et_farm_env(f, "NOTIFY_SOCKET=%s", path);
  et_farm_env(f, "WATCHDOG_USEC=200000");
  et_farm_start(f);
  static char log[16384];
  log[0] = '\0';
  int dogs = notifications(fd, 1500, log, sizeof log);
  assert_non_null(strstr(log, "READY=1\nSTATUS=site s1"));
  /* Every 100 ms for 1.5 s: leave room for a loaded machine. */
  if (dogs < 8)
    fail_msg("%d watchdog notifications in 1.5 s: %s", dogs, log);
  assert_int_equal(et_farm_stop(f, SIGTERM), 0);
  notifications(fd, 300, log, sizeof log);
  assert_non_null(strstr(log, "STOPPING=1"));
  close(fd);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_topics_payloads_states, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_sigkill_mid_stream, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_broker_outage, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_cable_pulled, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_tls_end_to_end, setup_tls, teardown),
      cmocka_unit_test_setup_teardown(test_systemd_notify, setup_plain, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
