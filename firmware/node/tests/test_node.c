/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the node core (node/node.h) against the fake board of
 * fake_hal.h: the boot counter, the telemetry period and seq continuity,
 * the two-phase SHT41 reading and synthetic mode when it fails, resends
 * with the same (boot, seq) and head-of-line blocking, outbox overflow,
 * every command with its refusals and duplicate ids, features persisted
 * across restarts, link-loss safety and recovery, pairing, and frames from
 * other MACs or replayed. Time is the fake clock: nothing here sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_hal.h"
#include "farm/error.h"
#include "fp/radio.h"
#include "node/node.h"

static const uint8_t gw_mac[HAL_MAC_LEN] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01};
static const uint8_t other_mac[HAL_MAC_LEN] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x99};
static const uint8_t bcast[HAL_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define PERIOD_MS 10000u
#define GW_CH     6

/* A photodiode front end: 0 mV dark, 3000 mV at 60 klx. */
static const struct lux_point lux_curve[] = {{0, 0}, {3000, 60000}};

struct t {
  struct hal_port port;
  struct node_config cfg;
  struct node node;
  uint32_t gw_boot, gw_seq; /* the fake gateway's numbering */
  unsigned readings;        /* on_reading calls */
  struct fp_radio_msg last_reading;
  unsigned commands; /* on_command calls */
  unsigned dropped;  /* on_dropped calls */
  struct fp_radio_msg last_dropped;
  bool last_ok;
  char last_err[FP_MSG_ERR_MAX + 1];
};

static void on_reading(void *ctx, const struct fp_radio_msg *tel)
{
  struct t *t = ctx;
  t->readings++;
  t->last_reading = *tel;
}

static void on_dropped(void *ctx, const struct fp_radio_msg *m)
{
  struct t *t = ctx;
  t->dropped++;
  t->last_dropped = *m;
}

static void on_command(void *ctx, const struct fp_radio_cmd *cmd, bool ok, const char *err)
{
  struct t *t = ctx;
  (void)cmd;
  t->commands++;
  t->last_ok = ok;
  snprintf(t->last_err, sizeof t->last_err, "%s", err);
}

static void config(struct t *t)
{
  struct node_config *c = &t->cfg;
  node_config_default(c);
  c->fw = "1.2.3";
  c->asset = "greenhouse-2/north";
  c->period_ms = PERIOD_MS;
  c->features_built = NODE_F_SHT41 | NODE_F_LUX | NODE_F_RELAYS | NODE_F_SYNTHETIC;
  c->features_default = NODE_F_SHT41 | NODE_F_LUX | NODE_F_RELAYS;
  c->silence_periods = 3;
  c->synthetic_seed = 42;
  c->identify_gpio = 10;
  c->lux.adc_ch = 1;
  c->lux.points = lux_curve;
  c->lux.count = 2;
  c->relays.count = 6;
  for (uint8_t i = 0; i < 6; i++)
    c->relays.gpio[i] = i;
  c->relays.interlock_count = 1;
  c->relays.interlocks[0].a = 4; /* channels 5 and 6 on the wire */
  c->relays.interlocks[0].b = 5;
  c->hooks.on_reading = on_reading;
  c->hooks.on_command = on_command;
  c->hooks.on_dropped = on_dropped;
  c->hooks.ctx = t;
}

static int setup(void **state)
{
  static struct t t;
  memset(&t, 0, sizeof t);
  fake_init(&t.port);
  t.port.adc_mv[1] = 1500; /* 30 klx */
  t.port.verbose = getenv("NODE_TEST_VERBOSE") != NULL;
  config(&t);
  t.gw_boot = 7;
  assert_int_equal(node_init(&t.node, &t.cfg, &t.port), 0);
  *state = &t;
  return 0;
}

/* Restarts the node on the same board (NVS kept). */
static void restart(struct t *t)
{
  fake_reboot_keep_nvs(&t->port);
  assert_int_equal(node_init(&t->node, &t->cfg, &t->port), 0);
}

static void tick(struct t *t)
{
  node_tick(&t->node);
}

/* Moves the clock in steps small enough for every deadline, ticking. */
static void advance(struct t *t, uint64_t ms)
{
  uint64_t end = t->port.now_ms + ms;
  while (t->port.now_ms < end) {
    uint64_t next = node_next_deadline(&t->node);
    if (next <= t->port.now_ms)
      next = t->port.now_ms + 1;
    t->port.now_ms = next < end ? next : end;
    tick(t);
  }
}

static void decode(const struct fake_frame *f, struct fp_radio_msg *m)
{
  struct fp_msg_error err;
  int rc = fp_radio_decode(f->data, f->len, m, &err);
  if (rc != 0)
    fail_msg("sent frame does not decode: %s key %s", farm_errname(rc), err.key);
}

static void send_to_node(struct t *t, const uint8_t *mac, const struct fp_radio_msg *m)
{
  uint8_t buf[FP_RADIO_MTU];
  size_t len = 0;
  assert_int_equal(fp_radio_encode(m, buf, sizeof buf, &len), 0);
  node_on_radio_rx(&t->node, mac, buf, len, -60);
}

static void join_ack(struct t *t, const uint8_t *mac, uint8_t ch, bool ts)
{
  struct fp_radio_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_RADIO_JOIN_ACK;
  m.boot = t->gw_boot;
  m.seq = ++t->gw_seq;
  m.u.join_ack.ch = ch;
  m.u.join_ack.has_ts = ts;
  m.u.join_ack.ts = 1732646400000u;
  send_to_node(t, mac, &m);
}

/* Pairs the node with gw_mac (it starts unpaired) and delivers nothing. */
static void pair(struct t *t)
{
  tick(t);
  join_ack(t, gw_mac, GW_CH, false);
  assert_true(node_paired(&t->node, NULL));
}

static void deliver(struct t *t, bool ok)
{
  node_on_radio_sent(&t->node, gw_mac, ok);
}

/* Confirms every send until the outbox is empty; returns how many. */
static unsigned flush(struct t *t)
{
  unsigned n = 0;
  for (;;) {
    if (!t->node.in_flight) {
      /* A failed send waits for its backoff: let that time pass. */
      if (node_outbox_count(&t->node) > 0 && t->node.retry_at_ms > t->port.now_ms)
        t->port.now_ms = t->node.retry_at_ms;
      tick(t);
      if (!t->node.in_flight)
        break;
    }
    deliver(t, true);
    n++;
    assert_true(n < 1000);
  }
  assert_int_equal(node_outbox_count(&t->node), 0);
  return n;
}

/* Frames to the gateway from index `from` on, decoded. */
static unsigned gw_frames(struct t *t, unsigned from, struct fp_radio_msg *out, unsigned cap)
{
  unsigned n = 0;
  for (unsigned i = from; i < t->port.n_sent && n < cap; i++) {
    if (memcmp(t->port.sent[i].mac, gw_mac, HAL_MAC_LEN) == 0)
      decode(&t->port.sent[i], &out[n++]);
  }
  return n;
}

static struct fp_arg *arg(struct fp_radio_cmd *c, const char *key, enum fp_arg_kind kind)
{
  struct fp_arg *a = &c->args[c->n_args++];
  snprintf(a->key, sizeof a->key, "%s", key);
  a->kind = kind;
  return a;
}

static void cmd_init(struct fp_radio_msg *m, uint32_t id, const char *name)
{
  memset(m, 0, sizeof *m);
  m->type = FP_RADIO_CMD;
  m->u.cmd.id = id;
  snprintf(m->u.cmd.name, sizeof m->u.cmd.name, "%s", name);
}

static void send_cmd(struct t *t, struct fp_radio_msg *m)
{
  m->boot = t->gw_boot;
  m->seq = ++t->gw_seq;
  send_to_node(t, gw_mac, m);
}

/* relay_set's for_s when the argument is left out. */
#define NO_LEASE INT64_MIN

static void relay_set(struct t *t, uint32_t id, int64_t ch, bool on, int64_t for_s)
{
  struct fp_radio_msg m;
  cmd_init(&m, id, "relay.set");
  arg(&m.u.cmd, "ch", FP_ARG_INT)->v.i = ch;
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = on;
  if (for_s != NO_LEASE)
    arg(&m.u.cmd, "for_s", FP_ARG_INT)->v.i = for_s;
  send_cmd(t, &m);
}

/* Runs a command to completion and returns its answer. */
static struct fp_radio_cmd_ack answer(struct t *t)
{
  flush(t);
  struct fp_radio_msg all[FAKE_MAX_SENT];
  unsigned n = gw_frames(t, 0, all, FAKE_MAX_SENT);
  for (unsigned i = n; i-- > 0;) {
    if (all[i].type == FP_RADIO_CMD_ACK)
      return all[i].u.cmd_ack;
  }
  fail_msg("no cmd_ack sent");
  struct fp_radio_cmd_ack none = {0};
  return none;
}

static void expect_refused(struct t *t, const char *err)
{
  struct fp_radio_cmd_ack a = answer(t);
  if (a.ok)
    fail_msg("command %u accepted, expected \"%s\"", (unsigned)a.id, err);
  assert_string_equal(a.err, err);
  assert_false(t->last_ok);
  assert_string_equal(t->last_err, err);
}

static const struct fp_metric *metric(const struct fp_radio_msg *m, const char *name)
{
  for (unsigned i = 0; i < m->u.tel.n_metrics; i++) {
    if (strcmp(m->u.tel.v[i].name, name) == 0)
      return &m->u.tel.v[i];
  }
  return NULL;
}

static unsigned count_events(const struct fp_radio_msg *all, unsigned n, const char *name)
{
  unsigned c = 0;
  for (unsigned i = 0; i < n; i++)
    c += all[i].type == FP_RADIO_EVT && strcmp(all[i].u.evt.name, name) == 0;
  return c;
}

/* ------------------------------------------------------------------ */
/* Boot counter, period, seq                                          */

static void test_boot_counter_increments(void **state)
{
  struct t *t = *state;
  uint32_t v = 0;
  assert_int_equal(node_boot(&t->node), 1);
  assert_true(fake_nvs_u32(&t->port, NODE_NVS_BOOT, &v));
  assert_int_equal(v, 1);
  restart(t);
  assert_int_equal(node_boot(&t->node), 2);
  restart(t);
  assert_int_equal(node_boot(&t->node), 3);
  assert_true(fake_nvs_u32(&t->port, NODE_NVS_BOOT, &v));
  assert_int_equal(v, 3);

  /* A boot that cannot be counted durably does not start. */
  t->port.fail_commit = true;
  fake_reboot_keep_nvs(&t->port);
  assert_int_equal(node_init(&t->node, &t->cfg, &t->port), FARM_EIO);
  t->port.fail_commit = false;

  /* A bad config is refused. */
  struct node_config bad = t->cfg;
  bad.period_ms = NODE_PERIOD_MIN_MS - 1;
  assert_int_equal(node_init(&t->node, &bad, &t->port), FARM_EINVAL);
  bad = t->cfg;
  bad.features_default = NODE_F_MQ135; /* not built */
  assert_int_equal(node_init(&t->node, &bad, &t->port), FARM_EINVAL);
}

static void test_period_and_seq_continuity(void **state)
{
  struct t *t = *state;
  pair(t);
  uint64_t t0 = t->port.now_ms;
  flush(t);
  /* The first reading at the first tick; none more within a period. */
  advance(t, 20); /* the SHT41's 9 ms */
  assert_int_equal(t->readings, 1);
  flush(t);
  advance(t, PERIOD_MS - 40);
  assert_int_equal(t->readings, 1);
  advance(t, 40);
  assert_int_equal(t->readings, 2);
  flush(t);
  for (int i = 0; i < 5; i++) {
    advance(t, PERIOD_MS);
    flush(t);
  }
  assert_int_equal(t->readings, 7);
  flush(t);

  struct fp_radio_msg all[64];
  unsigned n = gw_frames(t, 0, all, 64);
  assert_int_equal(n, 8); /* boot event + 7 readings */
  assert_int_equal(all[0].type, FP_RADIO_EVT);
  assert_string_equal(all[0].u.evt.name, "boot");
  uint64_t prev_up = 0;
  for (unsigned i = 0; i < n; i++) {
    assert_int_equal(all[i].boot, 1);
    assert_int_equal(all[i].seq, i + 1); /* seq counts from 1, no gap */
    if (i > 0) {
      assert_int_equal(all[i].type, FP_RADIO_TEL);
      /* (boot, seq, up_ms): up_ms on the period grid from the first */
      assert_int_equal(all[i].u.tel.up_ms, t0 + (i - 1) * PERIOD_MS);
      if (i > 1)
        assert_int_equal(all[i].u.tel.up_ms - prev_up, PERIOD_MS);
      prev_up = all[i].u.tel.up_ms;
    }
  }
  assert_int_equal(node_stats(&t->node)->readings, 7);
}

static void test_sht41_two_phase_real_values(void **state)
{
  struct t *t = *state;
  pair(t);
  /* The first tick started the measurement; its result is not there yet. */
  assert_int_equal(t->port.sht41_measurements, 1);
  assert_int_equal(t->readings, 0);
  assert_int_equal(node_next_deadline(&t->node), t->port.now_ms + SHT41_MEASURE_MS);
  advance(t, SHT41_MEASURE_MS);
  assert_int_equal(t->readings, 1);
  const struct fp_radio_msg *r = &t->last_reading;
  assert_false(r->u.tel.syn);
  assert_float_equal(metric(r, "temp_c")->value, 21.5, 0.01);
  assert_float_equal(metric(r, "rh_pct")->value, 55.0, 0.01);
  assert_float_equal(metric(r, "lux")->value, 30000, 0.5);
  assert_float_equal(metric(r, "relays")->value, 0, 0);
  assert_null(metric(r, "air_ppm")); /* not built */
}

/* ------------------------------------------------------------------ */
/* Synthetic mode                                                     */

static void check_plausible(const struct fp_radio_msg *r)
{
  assert_true(r->u.tel.syn);
  double temp = metric(r, "temp_c")->value;
  double rh = metric(r, "rh_pct")->value;
  assert_true(temp > 5 && temp < 30);
  assert_true(rh > 5 && rh < 100);
}

static void test_synthetic_when_sht41_nacks(void **state)
{
  struct t *t = *state;
  t->port.sht41 = FAKE_SHT41_NACK;
  pair(t);
  advance(t, 20);
  assert_int_equal(t->readings, 1);
  check_plausible(&t->last_reading);
  /* Lux still real: only the failing sensor is synthetic. */
  assert_float_equal(metric(&t->last_reading, "lux")->value, 30000, 0.5);
  double first = metric(&t->last_reading, "temp_c")->value;
  advance(t, PERIOD_MS);
  check_plausible(&t->last_reading);
  /* Noise: two synthetic readings differ. */
  assert_true(metric(&t->last_reading, "temp_c")->value != first);

  /* A bad CRC is a failure too, never a value. */
  t->port.sht41 = FAKE_SHT41_BADCRC;
  advance(t, PERIOD_MS);
  check_plausible(&t->last_reading);
  assert_true(metric(&t->last_reading, "temp_c")->value != 21.5);

  /* The sensor comes back: real values, syn clear. */
  t->port.sht41 = FAKE_SHT41_OK;
  advance(t, PERIOD_MS);
  assert_false(t->last_reading.u.tel.syn);
  assert_float_equal(metric(&t->last_reading, "temp_c")->value, 21.5, 0.01);

  flush(t);
  struct fp_radio_msg all[64];
  unsigned n = gw_frames(t, 0, all, 64);
  /* One fault event for the whole outage, one recovery. */
  assert_int_equal(count_events(all, n, "sensor.fault"), 1);
  assert_int_equal(count_events(all, n, "sensor.ok"), 1);
  assert_int_equal(node_stats(&t->node)->synthetic, 3);

  /* The synthetic feature makes every sensor synthetic. */
  struct fp_radio_msg m;
  cmd_init(&m, 1, "feature.set");
  strcpy(arg(&m.u.cmd, "name", FP_ARG_STR)->v.s, "synthetic");
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = true;
  send_cmd(t, &m);
  assert_true(answer(t).ok);
  advance(t, PERIOD_MS);
  check_plausible(&t->last_reading);
  assert_float_not_equal(metric(&t->last_reading, "lux")->value, 30000, 0.5);
}

static void test_synthetic_is_deterministic_per_seed(void **state)
{
  struct t *t = *state;
  t->port.sht41 = FAKE_SHT41_NACK;
  pair(t);
  advance(t, 20);
  struct fp_radio_msg a = t->last_reading;

  /* Same seed and boot: the same values. */
  struct t t2;
  memset(&t2, 0, sizeof t2);
  fake_init(&t2.port);
  t2.port.adc_mv[1] = 1500;
  t2.port.sht41 = FAKE_SHT41_NACK;
  config(&t2);
  assert_int_equal(node_init(&t2.node, &t2.cfg, &t2.port), 0);
  t2.gw_boot = 7;
  pair(&t2);
  advance(&t2, 20);
  assert_true(fp_radio_equal(&a, &t2.last_reading));
}

static void test_lux_adc_failure_is_synthetic(void **state)
{
  struct t *t = *state;
  t->port.adc_rc = FARM_EIO;
  pair(t);
  advance(t, 20);
  assert_true(t->last_reading.u.tel.syn);
  double lux = metric(&t->last_reading, "lux")->value;
  assert_true(lux >= 0 && lux <= 60000);
  /* The SHT41 values stay real. */
  assert_float_equal(metric(&t->last_reading, "temp_c")->value, 21.5, 0.01);
  t->port.adc_rc = 0;
  advance(t, PERIOD_MS);
  assert_false(t->last_reading.u.tel.syn);
  assert_float_equal(metric(&t->last_reading, "lux")->value, 30000, 0.5);
}

/* The MQ135 reports nothing while its heater warms up: a working sensor
 * without a value yet is neither faked nor flagged. */
static void test_mq135_warm_up(void **state)
{
  struct t *t = *state;
  t->cfg.features_built |= NODE_F_MQ135;
  t->cfg.features_default |= NODE_F_MQ135;
  t->cfg.mq135.adc_ch = 0;
  t->cfg.mq135.r0_ohm = 40000; /* nominal: Rs at 1000 mV is 40 kohm */
  t->cfg.mq135.warmup_ms = 60000;
  t->port.adc_mv[0] = 1000;
  restart(t);
  pair(t);
  advance(t, 20);
  assert_null(metric(&t->last_reading, "air_ppm"));
  assert_false(t->last_reading.u.tel.syn);
  advance(t, 6 * PERIOD_MS);
  const struct fp_metric *ppm = metric(&t->last_reading, "air_ppm");
  assert_non_null(ppm);
  /* ratio 1: ppm = a * 1^b = a (the datasheet curve fit) */
  assert_float_equal(ppm->value, MQ135_DEFAULT_A, 0.1);
  assert_false(t->last_reading.u.tel.syn);
}

/* ------------------------------------------------------------------ */
/* Resend and head-of-line blocking                                   */

static void test_resend_same_boot_seq(void **state)
{
  struct t *t = *state;
  pair(t);
  advance(t, 20);
  assert_true(t->node.in_flight);
  unsigned first = t->port.n_sent - 1;
  struct fake_frame head = t->port.sent[first];

  /* Failed: nothing is sent before the backoff... */
  deliver(t, false);
  assert_int_equal(t->port.n_sent, first + 1);
  advance(t, t->cfg.retry_ms - 1);
  assert_int_equal(t->port.n_sent, first + 1);
  /* ...then the very same bytes again. */
  advance(t, 1);
  assert_int_equal(t->port.n_sent, first + 2);
  assert_int_equal(t->port.sent[first + 1].len, head.len);
  assert_memory_equal(t->port.sent[first + 1].data, head.data, head.len);

  /* The backoff doubles: 200 ms now. */
  deliver(t, false);
  advance(t, 2 * t->cfg.retry_ms - 1);
  assert_int_equal(t->port.n_sent, first + 2);
  advance(t, 1);
  assert_int_equal(t->port.n_sent, first + 3);
  assert_memory_equal(t->port.sent[first + 2].data, head.data, head.len);

  /* No status at all: given up on after the timeout and resent. */
  advance(t, t->cfg.send_timeout_ms);
  deliver(t, false);
  advance(t, t->cfg.retry_max_ms);
  assert_memory_equal(t->port.sent[t->port.n_sent - 1].data, head.data, head.len);

  /* The radio queue refusing is retried too. */
  t->port.send_rc = FARM_EBUSY;
  deliver(t, false);
  advance(t, t->cfg.retry_max_ms);
  unsigned busy_at = t->port.n_sent;
  assert_true(node_stats(&t->node)->busy > 0);
  t->port.send_rc = 0;
  advance(t, t->cfg.retry_max_ms);
  assert_int_equal(t->port.n_sent, busy_at + 1);
  assert_memory_equal(t->port.sent[busy_at].data, head.data, head.len);
  assert_true(node_stats(&t->node)->failed >= 3);
}

static void test_head_of_line_blocking(void **state)
{
  struct t *t = *state;
  t->cfg.silence_periods = 0; /* silence is another test's */
  pair(t);
  /* Five periods while every send fails: readings pile up behind the head
   * and only the head goes on the air. */
  for (int i = 0; i < 5 * 20; i++) {
    advance(t, PERIOD_MS / 20);
    if (t->node.in_flight)
      deliver(t, false);
  }
  assert_int_equal(t->readings, 5);
  struct fp_radio_msg all[FAKE_MAX_SENT];
  unsigned n = gw_frames(t, 0, all, FAKE_MAX_SENT);
  assert_true(n > 5);
  for (unsigned i = 0; i < n; i++)
    assert_int_equal(all[i].seq, 1); /* the boot event, again and again */
  /* Now they go through, strictly in order, each once. */
  unsigned before = t->port.n_sent;
  flush(t);
  n = gw_frames(t, before, all, FAKE_MAX_SENT);
  assert_int_equal(n, 1 + t->readings); /* the boot event and each reading */
  for (unsigned i = 0; i < n; i++)
    assert_int_equal(all[i].seq, i + 1);

  /* Mixed outcomes: the sequence of seqs on the air never goes back and a
   * seq is repeated only until it is delivered. */
  before = t->port.n_sent;
  uint32_t delivered_up_to = n;
  for (int i = 0; i < 300; i++) {
    advance(t, 331);
    if (t->node.in_flight) {
      bool ok = i % 3 == 0;
      struct fp_radio_msg m;
      decode(&t->port.sent[t->port.n_sent - 1], &m);
      assert_int_equal(m.seq, delivered_up_to + 1);
      deliver(t, ok);
      if (ok)
        delivered_up_to = m.seq;
    }
  }
  assert_true(delivered_up_to > n + 5);
  flush(t);
}

static void test_outbox_overflow_counted(void **state)
{
  struct t *t = *state;
  t->cfg.silence_periods = 0; /* silence is another test's */
  /* Unpaired: nothing leaves, 40 readings + the boot event pile up. */
  t->cfg.join_interval_ms = 1000000; /* keep the log quiet */
  advance(t, 39 * PERIOD_MS + 20);
  assert_int_equal(t->readings, 40);
  assert_int_equal(node_outbox_count(&t->node), NODE_OUTBOX_MAX);
  assert_int_equal(node_stats(&t->node)->dropped, 41 - NODE_OUTBOX_MAX);
  /* The ledger hears of each: the last one dropped was seq 9, a reading. */
  assert_int_equal(t->dropped, 41 - NODE_OUTBOX_MAX);
  assert_int_equal(t->last_dropped.type, FP_RADIO_TEL);
  assert_int_equal(t->last_dropped.seq, 41 - NODE_OUTBOX_MAX);

  /* After pairing the newest 32 go out, oldest first. */
  join_ack(t, gw_mac, GW_CH, false);
  flush(t);
  struct fp_radio_msg all[64];
  unsigned n = gw_frames(t, 0, all, 64);
  assert_int_equal(n, NODE_OUTBOX_MAX);
  for (unsigned i = 0; i < n; i++) {
    assert_int_equal(all[i].type, FP_RADIO_TEL);
    assert_int_equal(all[i].seq, 41 - NODE_OUTBOX_MAX + 1 + i);
  }

  /* Overflow while the head is on the air (its status slow to come) keeps
   * the head: the message after it is dropped instead. */
  t->cfg.send_timeout_ms = 24 * 3600 * 1000u;
  t->port.n_sent = 0;
  while (!t->node.in_flight)
    advance(t, 10);
  struct fp_radio_msg head;
  decode(&t->port.sent[0], &head);
  uint32_t dropped = node_stats(&t->node)->dropped;
  unsigned made = t->readings;
  advance(t, (NODE_OUTBOX_MAX + 3) * PERIOD_MS); /* no status yet */
  assert_true(t->node.in_flight);
  made = t->readings - made;
  assert_int_equal(node_outbox_count(&t->node), NODE_OUTBOX_MAX);
  assert_int_equal(node_stats(&t->node)->dropped - dropped, 1 + made - NODE_OUTBOX_MAX);
  deliver(t, true); /* the head's status at last */
  flush(t);
  static struct fp_radio_msg sent[FAKE_MAX_SENT];
  n = gw_frames(t, 0, sent, FAKE_MAX_SENT);
  assert_true(n < FAKE_MAX_SENT);
  /* The head once, then the newest 31 once each, in order. */
  assert_int_equal(n, NODE_OUTBOX_MAX);
  assert_int_equal(sent[0].seq, head.seq);
  assert_true(sent[1].seq > head.seq + 1);
  for (unsigned i = 2; i < n; i++)
    assert_int_equal(sent[i].seq, sent[i - 1].seq + 1);
  assert_int_equal(sent[n - 1].seq, t->node.seq);
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */

static void test_relay_set(void **state)
{
  struct t *t = *state;
  t->cfg.silence_periods = 0; /* silence is another test's */
  pair(t);
  flush(t);
  relay_set(t, 100, 1, true, NO_LEASE);
  struct fp_radio_cmd_ack a = answer(t);
  if (!a.ok)
    fail_msg("refused: %s", a.err);
  assert_string_equal(a.err, "");
  assert_int_equal(a.id, 100);
  assert_true(t->port.gpio[0]);
  assert_true(t->last_ok);

  /* Out of range, missing, wrong type, unknown argument (BAD-INPUTS 22). */
  relay_set(t, 101, 7, true, NO_LEASE);
  expect_refused(t, "ch out of range (1..6)");
  relay_set(t, 102, 0, true, NO_LEASE);
  expect_refused(t, "ch out of range (1..6)");
  relay_set(t, 103, 2, true, -5);
  expect_refused(t, "for_s out of range (0..86400)");
  relay_set(t, 104, 2, true, 86401);
  expect_refused(t, "for_s out of range (0..86400)");
  relay_set(t, 105, 2, false, 10);
  expect_refused(t, "for_s needs on");
  struct fp_radio_msg m;
  cmd_init(&m, 106, "relay.set");
  arg(&m.u.cmd, "ch", FP_ARG_INT)->v.i = 2;
  send_cmd(t, &m);
  expect_refused(t, "missing on");
  cmd_init(&m, 107, "relay.set");
  arg(&m.u.cmd, "ch", FP_ARG_STR);
  arg(&m.u.cmd, "on", FP_ARG_BOOL);
  send_cmd(t, &m);
  expect_refused(t, "ch must be an integer");
  cmd_init(&m, 108, "relay.set");
  arg(&m.u.cmd, "ch", FP_ARG_INT)->v.i = 2;
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = true;
  arg(&m.u.cmd, "for", FP_ARG_INT)->v.i = 5;
  send_cmd(t, &m);
  expect_refused(t, "unknown argument for");
  assert_false(t->port.gpio[1]);

  /* Interlock: 5 on, then 6 refused. */
  relay_set(t, 109, 5, true, NO_LEASE);
  assert_true(answer(t).ok);
  relay_set(t, 110, 6, true, NO_LEASE);
  expect_refused(t, "interlocked with a channel that is on");
  assert_false(t->port.gpio[5]);

  /* A lease: on for 30 s, then off by itself with an event. */
  unsigned before = t->port.n_sent;
  relay_set(t, 111, 3, true, 30);
  assert_true(answer(t).ok);
  assert_true(t->port.gpio[2]);
  advance(t, 29000);
  assert_true(t->port.gpio[2]);
  advance(t, 1000);
  assert_false(t->port.gpio[2]);
  flush(t);
  struct fp_radio_msg all[FAKE_MAX_SENT];
  unsigned n = gw_frames(t, before, all, FAKE_MAX_SENT);
  bool lease_event = false;
  for (unsigned i = 0; i < n; i++) {
    const struct fp_radio_evt *e = &all[i].u.evt;
    if (all[i].type == FP_RADIO_EVT && strcmp(e->name, "relay") == 0 && e->args[0].v.i == 3 &&
        !e->args[1].v.b && strcmp(e->args[2].v.s, "lease") == 0)
      lease_event = true;
  }
  assert_true(lease_event);
  /* The relays metric reports the mask: channels 1 and 5. */
  assert_float_equal(metric(&t->last_reading, "relays")->value, 0x11, 0);
  assert_int_equal(node_stats(&t->node)->commands, 12);
}

static void test_other_commands(void **state)
{
  struct t *t = *state;
  pair(t);
  advance(t, 20); /* the first reading */
  flush(t);
  struct fp_radio_msg m;

  cmd_init(&m, 1, "period.set");
  arg(&m.u.cmd, "ms", FP_ARG_INT)->v.i = NODE_PERIOD_MIN_MS - 1;
  send_cmd(t, &m);
  expect_refused(t, "ms out of range (1000..3600000)");
  cmd_init(&m, 2, "period.set");
  arg(&m.u.cmd, "ms", FP_ARG_INT)->v.i = NODE_PERIOD_MAX_MS + 1;
  send_cmd(t, &m);
  expect_refused(t, "ms out of range (1000..3600000)");
  cmd_init(&m, 3, "period.set");
  send_cmd(t, &m);
  expect_refused(t, "missing ms");
  cmd_init(&m, 4, "period.set");
  arg(&m.u.cmd, "ms", FP_ARG_INT)->v.i = 2000;
  send_cmd(t, &m);
  assert_true(answer(t).ok);
  assert_int_equal(node_period_ms(&t->node), 2000);
  uint32_t v = 0;
  assert_true(fake_nvs_u32(&t->port, NODE_NVS_PERIOD, &v));
  assert_int_equal(v, 2000);
  unsigned r = t->readings;
  advance(t, 2000 * 5 + 20);
  assert_int_equal(t->readings, r + 5);

  cmd_init(&m, 5, "feature.set");
  strcpy(arg(&m.u.cmd, "name", FP_ARG_STR)->v.s, "warp_drive");
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = true;
  send_cmd(t, &m);
  expect_refused(t, "unknown feature warp_drive");
  cmd_init(&m, 6, "feature.set");
  strcpy(arg(&m.u.cmd, "name", FP_ARG_STR)->v.s, "mq135");
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = true;
  send_cmd(t, &m);
  expect_refused(t, "feature mq135 is not built in");
  cmd_init(&m, 7, "feature.set");
  strcpy(arg(&m.u.cmd, "name", FP_ARG_STR)->v.s, "lux");
  send_cmd(t, &m);
  expect_refused(t, "missing on");

  /* identify blinks the indicator, then leaves it off. */
  cmd_init(&m, 8, "identify");
  arg(&m.u.cmd, "s", FP_ARG_INT)->v.i = 61;
  send_cmd(t, &m);
  expect_refused(t, "s out of range (1..60)");
  cmd_init(&m, 9, "identify");
  arg(&m.u.cmd, "s", FP_ARG_INT)->v.i = 2;
  send_cmd(t, &m);
  assert_true(answer(t).ok);
  advance(t, 2000);
  assert_true(t->port.gpio_writes[10] >= 8);
  assert_false(t->port.gpio[10]);

  cmd_init(&m, 10, "self_destruct");
  send_cmd(t, &m);
  expect_refused(t, "unknown command self_destruct");
  assert_int_equal(t->commands, 10);
}

static void test_reboot_command(void **state)
{
  struct t *t = *state;
  pair(t);
  flush(t);
  struct fp_radio_msg m;
  cmd_init(&m, 77, "reboot");
  arg(&m.u.cmd, "now", FP_ARG_BOOL);
  send_cmd(t, &m);
  expect_refused(t, "unknown argument now");
  assert_int_equal(t->port.reboots, 0);

  cmd_init(&m, 78, "reboot");
  send_cmd(t, &m);
  /* Answered first; the restart waits for the answer's delivery. */
  assert_int_equal(t->port.reboots, 0);
  assert_true(t->node.in_flight);
  struct fp_radio_msg ack;
  decode(&t->port.sent[t->port.n_sent - 1], &ack);
  assert_int_equal(ack.type, FP_RADIO_CMD_ACK);
  assert_true(ack.u.cmd_ack.ok);
  deliver(t, true);
  assert_int_equal(t->port.reboots, 1);
  /* Halted: nothing more happens until node_init. */
  unsigned sent = t->port.n_sent;
  advance(t, 5 * PERIOD_MS);
  assert_int_equal(t->port.n_sent, sent);

  /* After the restart, a retry of the same command is answered, not run. */
  restart(t);
  t->gw_seq += 10;
  cmd_init(&m, 78, "reboot");
  send_cmd(t, &m);
  struct fp_radio_cmd_ack a = answer(t);
  assert_true(a.ok);
  assert_int_equal(a.id, 78);
  assert_int_equal(t->port.reboots, 1);
  assert_int_equal(node_stats(&t->node)->duplicates, 1);

  /* A reboot whose answer is never delivered happens after the grace. */
  cmd_init(&m, 79, "reboot");
  send_cmd(t, &m);
  advance(t, t->cfg.reboot_grace_ms - 1);
  assert_int_equal(t->port.reboots, 1);
  advance(t, 1);
  assert_int_equal(t->port.reboots, 2);
}

static void test_duplicate_command_ids(void **state)
{
  struct t *t = *state;
  pair(t);
  flush(t);
  relay_set(t, 500, 1, true, NO_LEASE);
  assert_true(answer(t).ok);
  assert_int_equal(t->commands, 1);
  assert_true(t->port.gpio[0]);
  unsigned writes = t->port.gpio_writes[0];

  /* The same id again, even with other arguments: first outcome, not run. */
  relay_set(t, 500, 1, false, NO_LEASE);
  struct fp_radio_cmd_ack a = answer(t);
  assert_true(a.ok);
  assert_int_equal(a.id, 500);
  assert_true(t->port.gpio[0]);
  assert_int_equal(t->port.gpio_writes[0], writes);
  assert_int_equal(t->commands, 1);

  /* A refused command stays refused with the same text. */
  relay_set(t, 501, 9, true, NO_LEASE);
  expect_refused(t, "ch out of range (1..6)");
  relay_set(t, 501, 1, true, NO_LEASE);
  a = answer(t);
  assert_false(a.ok);
  assert_string_equal(a.err, "ch out of range (1..6)");
  assert_int_equal(t->commands, 2);
  assert_int_equal(node_stats(&t->node)->duplicates, 2);

  /* A duplicate while the first answer still waits: one answer only. */
  t->port.send_rc = FARM_EBUSY;
  relay_set(t, 502, 2, true, NO_LEASE);
  relay_set(t, 502, 2, true, NO_LEASE);
  t->port.send_rc = 0;
  unsigned before = t->port.n_sent;
  flush(t);
  struct fp_radio_msg all[16];
  unsigned n = gw_frames(t, before, all, 16);
  unsigned acks = 0;
  for (unsigned i = 0; i < n; i++)
    acks += all[i].type == FP_RADIO_CMD_ACK && all[i].u.cmd_ack.id == 502;
  assert_int_equal(acks, 1);
}

/* ------------------------------------------------------------------ */
/* Features                                                           */

static void feature_set(struct t *t, uint32_t id, const char *name, bool on)
{
  struct fp_radio_msg m;
  cmd_init(&m, id, "feature.set");
  strcpy(arg(&m.u.cmd, "name", FP_ARG_STR)->v.s, name);
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = on;
  send_cmd(t, &m);
}

static void test_feature_set_persisted(void **state)
{
  struct t *t = *state;
  pair(t);
  flush(t);
  feature_set(t, 1, "lux", false);
  assert_true(answer(t).ok);
  advance(t, PERIOD_MS);
  assert_null(metric(&t->last_reading, "lux"));
  assert_non_null(metric(&t->last_reading, "temp_c"));

  relay_set(t, 2, 1, true, NO_LEASE);
  assert_true(answer(t).ok);
  feature_set(t, 3, "relays", false);
  assert_true(answer(t).ok);
  assert_false(t->port.gpio[0]); /* relays off: safe state */
  relay_set(t, 4, 1, true, NO_LEASE);
  expect_refused(t, "feature relays is off");

  /* Across a restart. */
  restart(t);
  assert_int_equal(node_features(&t->node), NODE_F_SHT41);
  pair(t);
  advance(t, 20);
  assert_null(metric(&t->last_reading, "lux"));
  assert_null(metric(&t->last_reading, "relays"));

  /* A setting that cannot be stored is refused and not applied. */
  t->port.fail_commit = true;
  feature_set(t, 5, "lux", true);
  expect_refused(t, "cannot store the setting");
  t->port.fail_commit = false;
  assert_int_equal(node_features(&t->node), NODE_F_SHT41);
  feature_set(t, 6, "lux", true);
  assert_true(answer(t).ok);
  assert_int_equal(node_features(&t->node), NODE_F_SHT41 | NODE_F_LUX);

  /* Every sensor off: a period with nothing to say sends nothing. */
  feature_set(t, 7, "lux", false);
  feature_set(t, 8, "sht41", false);
  flush(t);
  unsigned r = t->readings;
  advance(t, 3 * PERIOD_MS);
  assert_int_equal(t->readings, r);
  assert_true(node_stats(&t->node)->empty >= 3);
}

/* ------------------------------------------------------------------ */
/* Safety                                                             */

static void test_safety_after_silence(void **state)
{
  struct t *t = *state;
  pair(t);
  flush(t);
  relay_set(t, 1, 1, true, NO_LEASE);
  relay_set(t, 2, 3, true, 600);
  flush(t);
  assert_true(t->port.gpio[0] && t->port.gpio[2]);

  /* Deliveries keep it alive. */
  for (int i = 0; i < 5; i++) {
    advance(t, PERIOD_MS);
    flush(t);
  }
  assert_false(node_safe(&t->node));

  /* Silence: every send fails, no frame comes. */
  uint64_t silent_from = t->port.now_ms;
  while (t->port.now_ms < silent_from + 3 * PERIOD_MS - 1) {
    uint64_t left = silent_from + 3 * PERIOD_MS - 1 - t->port.now_ms;
    advance(t, left < 50 ? left : 50);
    if (t->node.in_flight)
      deliver(t, false);
  }
  assert_false(node_safe(&t->node));
  assert_true(t->port.gpio[0]);
  advance(t, 1);
  assert_true(node_safe(&t->node));
  assert_false(t->port.gpio[0]);
  assert_false(t->port.gpio[2]);

  /* A delivery ends it; the relays stay safe until commanded. */
  unsigned before = t->port.n_sent;
  advance(t, t->cfg.retry_max_ms);
  flush(t);
  assert_false(node_safe(&t->node));
  assert_false(t->port.gpio[0]);
  struct fp_radio_msg all[FAKE_MAX_SENT];
  unsigned n = gw_frames(t, 0, all, FAKE_MAX_SENT);
  assert_int_equal(count_events(all, n, "link.lost"), 1);
  assert_int_equal(count_events(all, n, "link.back"), 1);
  n = gw_frames(t, before, all, FAKE_MAX_SENT);
  bool safe_event = false;
  for (unsigned i = 0; i < n; i++) {
    if (all[i].type == FP_RADIO_EVT && strcmp(all[i].u.evt.name, "relay") == 0)
      safe_event |= strcmp(all[i].u.evt.args[2].v.s, "safe") == 0;
    if (all[i].type == FP_RADIO_EVT && strcmp(all[i].u.evt.name, "link.lost") == 0)
      assert_true(all[i].u.evt.args[0].v.i >= 3 * (int64_t)PERIOD_MS);
  }
  assert_true(safe_event);

  /* A frame from the gateway ends a silence too. */
  uint64_t from = t->port.now_ms;
  while (t->port.now_ms < from + 3 * PERIOD_MS + 1) {
    advance(t, 50);
    if (t->node.in_flight)
      deliver(t, false);
  }
  assert_true(node_safe(&t->node));
  struct fp_radio_msg tm;
  memset(&tm, 0, sizeof tm);
  tm.type = FP_RADIO_TIME;
  tm.u.time.ts = 1732646400000u;
  send_cmd(t, &tm);
  assert_false(node_safe(&t->node));
}

/* ------------------------------------------------------------------ */
/* Pairing and who is listened to                                     */

static void test_pairing_flow(void **state)
{
  struct t *t = *state;
  assert_false(node_paired(&t->node, NULL));
  tick(t);
  advance(t, 3 * t->cfg.join_interval_ms);
  /* JOIN broadcasts at the interval, scanning channels; nothing else. */
  assert_int_equal(t->port.n_sent, 4);
  for (unsigned i = 0; i < 4; i++) {
    const struct fake_frame *f = &t->port.sent[i];
    assert_memory_equal(f->mac, bcast, HAL_MAC_LEN);
    assert_int_equal(f->channel, i + 1);
    struct fp_radio_msg m;
    decode(f, &m);
    assert_int_equal(m.type, FP_RADIO_JOIN);
    assert_int_equal(m.boot, 1);
    assert_int_equal(m.seq, 0);
    assert_string_equal(m.u.join.fw, "1.2.3");
    assert_string_equal(m.u.join.asset, "greenhouse-2/north");
  }
  assert_true(t->readings >= 1);

  /* A command before pairing is nobody's. */
  struct fp_radio_msg c;
  cmd_init(&c, 1, "identify");
  send_cmd(t, &c);
  assert_int_equal(t->commands, 0);
  assert_int_equal(node_stats(&t->node)->rx_foreign, 1);

  unsigned before = t->port.n_sent;
  join_ack(t, gw_mac, GW_CH, true);
  uint8_t mac[HAL_MAC_LEN];
  assert_true(node_paired(&t->node, mac));
  assert_memory_equal(mac, gw_mac, HAL_MAC_LEN);
  assert_int_equal(t->port.channel, GW_CH);
  assert_int_equal(t->port.n_peers, 1);
  assert_memory_equal(t->port.peers[0], gw_mac, HAL_MAC_LEN);
  assert_true(t->port.wall_set);
  uint64_t now_unix;
  assert_int_equal(hal_wall_clock_get(&t->port, &now_unix), 0);
  assert_int_equal(now_unix, 1732646400000u);
  uint32_t ch = 0;
  assert_true(fake_nvs_u32(&t->port, NODE_NVS_GW_CH, &ch));
  assert_int_equal(ch, GW_CH);

  /* What waited now goes to the gateway, from seq 1. */
  flush(t);
  struct fp_radio_msg all[16];
  unsigned n = gw_frames(t, before, all, 16);
  assert_true(n >= 2);
  assert_int_equal(all[0].seq, 1);
  assert_int_equal(t->port.sent[before].channel, GW_CH);

  /* Remembered across a restart: no JOIN, straight to the gateway. */
  restart(t);
  assert_true(node_paired(&t->node, NULL));
  assert_int_equal(t->port.channel, GW_CH);
  assert_int_equal(t->port.n_peers, 1);
  tick(t);
  advance(t, 20);
  for (unsigned i = 0; i < t->port.n_sent; i++)
    assert_memory_equal(t->port.sent[i].mac, gw_mac, HAL_MAC_LEN);
  assert_true(t->port.n_sent >= 1);

  /* A fixed channel is used as is. */
  struct t t2;
  memset(&t2, 0, sizeof t2);
  fake_init(&t2.port);
  config(&t2);
  t2.cfg.channel = 11;
  assert_int_equal(node_init(&t2.node, &t2.cfg, &t2.port), 0);
  node_tick(&t2.node);
  assert_int_equal(t2.port.sent[0].channel, 11);
}

/* With encryption the gateway's first JOIN_ACK comes in clear, before the
 * gateway lists the node encrypted: the node adds the gateway encrypted but
 * sends nothing until a frame from the gateway arrives after it, which the
 * radio only passes on encrypted, so the gateway can read it. */
static void test_pairing_encrypted(void **state)
{
  struct t *t = *state;
  t->cfg.encrypt = true;
  restart(t);
  tick(t);
  join_ack(t, gw_mac, GW_CH, false);
  assert_true(node_paired(&t->node, NULL));
  assert_int_equal(t->port.n_peers, 1);
  assert_memory_equal(t->port.peers[0], gw_mac, HAL_MAC_LEN);
  assert_true(t->port.peer_enc[0]);
  unsigned before = t->port.n_sent;
  advance(t, 3 * PERIOD_MS);
  assert_int_equal(t->port.n_sent, before); /* no JOIN, no reading sent */
  assert_true(node_outbox_count(&t->node) >= 3);

  /* The gateway's encrypted JOIN_ACK: now the outbox drains, from seq 1. */
  join_ack(t, gw_mac, GW_CH, false);
  unsigned n = flush(t);
  assert_true(n >= 3);
  struct fp_radio_msg all[16];
  assert_int_equal(gw_frames(t, before, all, 16), n);
  assert_int_equal(all[0].seq, 1);
  assert_int_equal(t->port.n_peers, 1);

  /* Paired from NVS after a restart, the gateway is taken as keyed. */
  restart(t);
  assert_true(t->port.peer_enc[0]);
  before = t->port.n_sent;
  advance(t, PERIOD_MS);
  assert_true(gw_frames(t, before, all, 16) >= 1);

  /* Without encryption the first JOIN_ACK is enough (test_pairing_flow);
   * here a command is a sign as good as a JOIN_ACK. */
  struct t t2;
  memset(&t2, 0, sizeof t2);
  fake_init(&t2.port);
  config(&t2);
  t2.cfg.encrypt = true;
  t2.gw_boot = 3;
  assert_int_equal(node_init(&t2.node, &t2.cfg, &t2.port), 0);
  node_tick(&t2.node);
  join_ack(&t2, gw_mac, GW_CH, false);
  advance(&t2, PERIOD_MS);
  before = t2.port.n_sent;
  assert_int_equal(gw_frames(&t2, 0, all, 16), 0);
  struct fp_radio_msg c;
  cmd_init(&c, 9, "identify");
  c.boot = t2.gw_boot;
  c.seq = ++t2.gw_seq;
  send_to_node(&t2, gw_mac, &c);
  node_tick(&t2.node);
  assert_true(gw_frames(&t2, before, all, 16) >= 1);
}

static void test_frames_from_others_ignored(void **state)
{
  struct t *t = *state;
  pair(t);
  flush(t);
  const struct node_stats *st = node_stats(&t->node);

  /* A command from another MAC. */
  struct fp_radio_msg m;
  cmd_init(&m, 1, "relay.set");
  arg(&m.u.cmd, "ch", FP_ARG_INT)->v.i = 1;
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = true;
  m.boot = t->gw_boot;
  m.seq = ++t->gw_seq;
  send_to_node(t, other_mac, &m);
  assert_false(t->port.gpio[0]);
  assert_int_equal(st->rx_foreign, 1);
  /* Another gateway's JOIN_ACK cannot steal the pairing. */
  join_ack(t, other_mac, 3, false);
  uint8_t mac[HAL_MAC_LEN];
  assert_true(node_paired(&t->node, mac));
  assert_memory_equal(mac, gw_mac, HAL_MAC_LEN);
  assert_int_equal(t->port.channel, GW_CH);
  assert_int_equal(st->rx_foreign, 2);

  /* The gateway's frame runs once; the same (boot, seq) again is a replay,
   * so are lower seqs and older boots (BAD-INPUTS 8). */
  cmd_init(&m, 2, "relay.set");
  arg(&m.u.cmd, "ch", FP_ARG_INT)->v.i = 1;
  arg(&m.u.cmd, "on", FP_ARG_BOOL)->v.b = true;
  send_cmd(t, &m);
  assert_int_equal(t->commands, 1);
  send_to_node(t, gw_mac, &m);
  m.seq -= 1;
  m.u.cmd.id = 3;
  send_to_node(t, gw_mac, &m);
  m.boot -= 1;
  m.seq = 1000;
  send_to_node(t, gw_mac, &m);
  assert_int_equal(st->rx_replay, 3);
  assert_int_equal(t->commands, 1);
  /* A gateway restart (higher boot) starts a new mark. */
  t->gw_boot++;
  t->gw_seq = 0;
  cmd_init(&m, 4, "identify");
  send_cmd(t, &m);
  assert_int_equal(t->commands, 2);
  uint32_t b = 0;
  assert_true(fake_nvs_u32(&t->port, NODE_NVS_GW_BOOT, &b));
  assert_int_equal(b, t->gw_boot);

  /* Node-bound types only; malformed frames are counted. */
  struct fp_radio_msg up;
  memset(&up, 0, sizeof up);
  up.type = FP_RADIO_JOIN;
  up.boot = t->gw_boot;
  up.seq = ++t->gw_seq;
  strcpy(up.u.join.fw, "9");
  send_to_node(t, gw_mac, &up);
  assert_int_equal(st->rx_unexpected, 1);
  static const uint8_t junk[] = {0x01, 0x82, 0, 0, 0, 9, 0, 0, 0, 99, 0xc1};
  node_on_radio_rx(&t->node, gw_mac, junk, sizeof junk, -50);
  node_on_radio_rx(&t->node, gw_mac, junk, 3, -50);
  assert_int_equal(st->rx_bad, 2);
  assert_int_equal(t->commands, 2);
}

static void test_time_sync(void **state)
{
  struct t *t = *state;
  pair(t);
  assert_false(t->port.wall_set);
  struct fp_radio_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_RADIO_TIME;
  m.u.time.ts = 1700000000123u;
  send_cmd(t, &m);
  uint64_t now_unix = 0;
  assert_int_equal(hal_wall_clock_get(&t->port, &now_unix), 0);
  assert_int_equal(now_unix, 1700000000123u);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_boot_counter_increments, setup),
      cmocka_unit_test_setup(test_period_and_seq_continuity, setup),
      cmocka_unit_test_setup(test_sht41_two_phase_real_values, setup),
      cmocka_unit_test_setup(test_synthetic_when_sht41_nacks, setup),
      cmocka_unit_test_setup(test_synthetic_is_deterministic_per_seed, setup),
      cmocka_unit_test_setup(test_lux_adc_failure_is_synthetic, setup),
      cmocka_unit_test_setup(test_mq135_warm_up, setup),
      cmocka_unit_test_setup(test_resend_same_boot_seq, setup),
      cmocka_unit_test_setup(test_head_of_line_blocking, setup),
      cmocka_unit_test_setup(test_outbox_overflow_counted, setup),
      cmocka_unit_test_setup(test_relay_set, setup),
      cmocka_unit_test_setup(test_other_commands, setup),
      cmocka_unit_test_setup(test_reboot_command, setup),
      cmocka_unit_test_setup(test_duplicate_command_ids, setup),
      cmocka_unit_test_setup(test_feature_set_persisted, setup),
      cmocka_unit_test_setup(test_safety_after_silence, setup),
      cmocka_unit_test_setup(test_pairing_flow, setup),
      cmocka_unit_test_setup(test_pairing_encrypted, setup),
      cmocka_unit_test_setup(test_frames_from_others_ignored, setup),
      cmocka_unit_test_setup(test_time_sync, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
