/* SPDX-License-Identifier: MIT */
/*
 * The node and gateway cores together on the simulated radio, in process,
 * with the tests' edge on the gateway's serial port: every reading the
 * nodes make reaches the edge exactly once at 0, 10 and 30 % loss (also
 * across a cable pull, and with CBOR), a gateway restart loses only what
 * its RAM held, replays and strangers are dropped, a pairing window
 * expires, cfg:set_mac survives restarts, relay leases end, the link-loss
 * safety acts, pause stops readings, anomalies reach the readings, and
 * the same seed replays the same run. With ESP-NOW encryption on, the
 * radio drops what it cannot decrypt (sim/radio.h): pairing still ends
 * with both sides encrypted and every reading delivered once, at 0, 10
 * and 30 % loss and across restarts, and the 18th node is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "farm/error.h"
#include "fp/radio.h"
#include "fsim/ledger.h"
#include "fsim/world.h"
#include "rig.h"
#include "sim/board.h"

#define PERIOD_MS 5000u

static void config(struct fsim_config *c, uint64_t seed, unsigned nodes, double loss)
{
  fsim_config_default(c);
  c->seed = seed;
  c->nodes = nodes;
  c->real_nodes = (nodes + 1) / 2;
  c->period_ms = PERIOD_MS;
  c->loss = loss;
  c->log_level = HAL_LOG_ERROR;
}

static struct gw_stats gwstats(struct rig *r)
{
  struct gw_stats s;
  gw_stats(fsim_gateway_core(r->w), &s);
  return s;
}

/* Stops the readings and lets every queue drain. */
static void drain(struct rig *r, uint64_t ms)
{
  fsim_set_paused(r->w, true);
  rig_run(r, fsim_now(r->w) + ms);
}

static void expect_exactly_once(struct rig *r, size_t min_readings)
{
  struct delivery d = rig_delivery(r);
  if (d.missing || d.duplicates || d.unknown || d.mismatched)
    fprintf(stderr,
            "readings %zu received %zu missing %zu duplicates %zu unknown %zu mismatched %zu\n",
            d.readings, d.received, d.missing, d.duplicates, d.unknown, d.mismatched);
  assert_true(d.readings >= min_readings);
  assert_int_equal(d.missing, 0);
  assert_int_equal(d.duplicates, 0);
  assert_int_equal(d.unknown, 0);
  assert_int_equal(d.mismatched, 0);
  assert_int_equal(d.received, d.readings);
  assert_int_equal(r->dropped, 0);
}

static void run_loss(double loss, enum fp_codec codec)
{
  struct fsim_config c;
  config(&c, 11, 6, loss);
  c.codec = codec;
  struct rig *r = rig_new(&c);
  rig_run(r, 300000);
  drain(r, 60000);
  /* 6 nodes, 60 periods each (the last readings may be cut by the pause). */
  expect_exactly_once(r, 6 * 58);
  for (unsigned i = 0; i < 6; i++)
    assert_true(node_paired(fsim_node_core(r->w, i), NULL));
  assert_int_equal(edge_count(&r->edge, FP_MSG_HELLO), 1);
  assert_true(edge_count(&r->edge, FP_MSG_PEER) >= 6);
  const struct sim_radio_stats *rs = sim_radio_stats(fsim_radio(r->w));
  struct gw_stats gs = gwstats(r);
  if (loss == 0.0) {
    assert_int_equal(rs->lost, 0);
    assert_int_equal(gs.replay, 0);
  } else {
    /* The loss was really applied, and lost acknowledgements made nodes
     * send readings the gateway already had: its (boot, seq) mark is what
     * kept them from the edge. */
    double lost = (double)rs->lost / (double)(rs->rx + rs->lost);
    assert_true(lost > loss * 0.6 && lost < loss * 1.4);
    assert_true(rs->acks_lost > 0);
    assert_true(gs.replay > 0);
  }
  rig_free(r);
}

static void test_no_loss(void **state)
{
  (void)state;
  run_loss(0.0, FP_CODEC_MSGPACK);
}

static void test_loss_10(void **state)
{
  (void)state;
  run_loss(0.10, FP_CODEC_MSGPACK);
}

static void test_loss_30(void **state)
{
  (void)state;
  run_loss(0.30, FP_CODEC_MSGPACK);
}

static void test_loss_10_cbor(void **state)
{
  (void)state;
  run_loss(0.10, FP_CODEC_CBOR);
}

/* The edge's rx stop for 10 s, then the cable is pulled for 30 s: the
 * gateway resends what was not acknowledged (the edge drops those by gseq),
 * keeps what it could not write, and sends it all when the cable is back. */
static void test_cable_pull(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 12, 4, 0.1);
  struct rig *r = rig_new(&c);
  rig_run(r, 60000);
  r->edge.auto_rx = false;
  rig_run(r, 70000);
  assert_true(r->edge.resends > 0);
  assert_true(gw_uplink_pending(fsim_gateway_core(r->w)) > 0);
  size_t before = edge_count(&r->edge, FP_MSG_TEL);
  fsim_set_cable(r->w, false);
  rig_run(r, 100000);
  assert_int_equal(edge_count(&r->edge, FP_MSG_TEL), before);
  r->edge.auto_rx = true;
  fsim_set_cable(r->w, true);
  rig_run(r, 160000);
  drain(r, 60000);
  expect_exactly_once(r, 4 * 30);
  /* Same gateway start: no new hello, the numbering went on. */
  assert_int_equal(r->edge.hellos, 1);
  assert_int_equal(gw_uplink_pending(fsim_gateway_core(r->w)), 0);
  rig_free(r);
}

/* A gateway restart loses what its RAM held and nothing else: the
 * readings it had taken from the nodes but not yet handed to the edge
 * (the cable was out). What a node sends twice across it is deduplicated
 * by (device, boot, seq). */
static void test_gateway_restart(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 13, 5, 0.2);
  struct rig *r = rig_new(&c);
  rig_run(r, 60000);
  fsim_set_cable(r->w, false);
  rig_run(r, 90000);
  fsim_reboot_gateway(r->w);
  rig_run(r, 91000);
  assert_true(fsim_gateway_up(r->w));
  assert_int_equal(gw_boot(fsim_gateway_core(r->w)), 2);
  fsim_set_cable(r->w, true);
  rig_run(r, 200000);
  drain(r, 60000);
  assert_int_equal(r->gw_boots, 2);
  assert_int_equal(r->edge.hellos, 2);
  struct delivery d = rig_delivery(r);
  assert_true(d.readings >= 5 * 35);
  assert_int_equal(d.unknown, 0);
  assert_int_equal(d.mismatched, 0);
  /* About 30 s of readings were in the store; only they can be missing. */
  assert_true(r->lost >= 5 * 5);
  assert_true(d.missing > 0);
  assert_true(d.missing <= r->lost);
  rig_free(r);
}

static void tel_frame(uint32_t boot, uint32_t seq, uint8_t *buf, size_t *len)
{
  struct fp_radio_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_RADIO_TEL;
  m.boot = boot;
  m.seq = seq;
  m.u.tel.up_ms = 1234;
  m.u.tel.n_metrics = 1;
  strcpy(m.u.tel.v[0].name, "temp_c");
  m.u.tel.v[0].value = 99.0;
  assert_int_equal(fp_radio_encode(&m, buf, FP_RADIO_MTU, len), 0);
}

/* Replays of a node's (boot, seq) and frames from a stranger are dropped
 * and counted; neither reaches the edge. */
static void test_replay_and_stranger(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 14, 3, 0.0);
  c.pair_boot_s = 20; /* closed long before the stranger speaks */
  struct rig *r = rig_new(&c);
  rig_run(r, 60000);
  fsim_set_paused(r->w, true);
  rig_run(r, 70000);
  size_t tels = edge_count(&r->edge, FP_MSG_TEL);
  size_t peers = edge_count(&r->edge, FP_MSG_PEER);
  assert_true(tels > 0);
  struct gw_stats s0 = gwstats(r);

  /* A recorded reading of node 0 sent again, as a replaying attacker
   * spoofing its MAC would: the same (boot, seq), and an older one. */
  const struct rec_reading *first = NULL, *last = NULL;
  for (size_t i = 0; i < r->n_rd; i++) {
    if (memcmp(r->rd[i].mac, fsim_node_mac(r->w, 0), HAL_MAC_LEN) == 0) {
      if (first == NULL)
        first = &r->rd[i];
      last = &r->rd[i];
    }
  }
  assert_non_null(first);
  uint8_t frame[FP_RADIO_MTU];
  size_t len;
  tel_frame(last->boot, last->seq, frame, &len);
  gw_on_radio_rx(fsim_gateway_core(r->w), fsim_node_mac(r->w, 0), frame, len, -50);
  tel_frame(first->boot, first->seq, frame, &len);
  gw_on_radio_rx(fsim_gateway_core(r->w), fsim_node_mac(r->w, 0), frame, len, -50);

  /* A stranger on the air: a reading and a JOIN outside the window. */
  struct hal_port stranger;
  struct sim_board_config bc;
  sim_board_config_default(&bc);
  const uint8_t smac[HAL_MAC_LEN] = {0x02, 0x5e, 0x11, 0x22, 0x33, 0x44};
  memcpy(bc.mac, smac, HAL_MAC_LEN);
  bc.clock = fsim_clock(r->w);
  bc.radio = fsim_radio(r->w);
  bc.channel = c.channel;
  bc.log_level = HAL_LOG_ERROR;
  assert_int_equal(sim_board_init(&stranger, &bc), 0);
  assert_int_equal(hal_radio_add_peer(&stranger, fsim_gateway_mac(r->w), false), 0);
  tel_frame(1, 1, frame, &len);
  assert_int_equal(hal_radio_send(&stranger, fsim_gateway_mac(r->w), frame, len), 0);
  struct fp_radio_msg join;
  memset(&join, 0, sizeof join);
  join.type = FP_RADIO_JOIN;
  join.boot = 1;
  strcpy(join.u.join.fw, "evil-1");
  assert_int_equal(fp_radio_encode(&join, frame, sizeof frame, &len), 0);
  static const uint8_t bcast[HAL_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(hal_radio_send(&stranger, bcast, frame, len), 0);
  rig_run(r, 80000);

  struct gw_stats s1 = gwstats(r);
  assert_int_equal(s1.replay - s0.replay, 2);
  assert_int_equal(s1.unknown_mac - s0.unknown_mac, 2);
  assert_int_equal(edge_count(&r->edge, FP_MSG_TEL), tels);
  assert_int_equal(edge_count(&r->edge, FP_MSG_PEER), peers);
  assert_null(gw_peer_find(fsim_gateway_core(r->w), smac));
  sim_board_detach(&stranger);
  rig_free(r);
}

static const struct fp_msg *peer_msg(const struct rig *r, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t k = 0; k < r->edge.n_msgs; k++) {
    const struct fp_msg *m = &r->edge.msgs[k];
    if (m->type == FP_MSG_PEER && memcmp(m->u.peer.mac, mac, HAL_MAC_LEN) == 0)
      return m;
  }
  return NULL;
}

/* A pairing window opened by the edge lets nodes join while it is open;
 * once expired a new node is refused until the next window. */
static void test_pairing_window_expiry(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 15, 3, 0.0);
  c.pair_boot_s = 0;
  struct rig *r = rig_new(&c);
  fsim_power_node(r->w, 2, false); /* switched on later */
  rig_run(r, 1000);
  struct fp_msg m;
  edge_msg_simple(&m, FP_MSG_PAIR_BEGIN, 100);
  m.u.pair_begin.duration_s = 20;
  rig_send(r, &m);
  const struct fp_msg *ack = rig_ack(r, 100, FP_STAGE_GW);
  assert_non_null(ack);
  assert_true(ack->u.ack.ok);
  rig_run(r, 19000);
  assert_true(gw_pairing_open(fsim_gateway_core(r->w)));
  assert_non_null(peer_msg(r, fsim_node_mac(r->w, 0)));
  assert_non_null(peer_msg(r, fsim_node_mac(r->w, 1)));
  rig_run(r, 22000);
  assert_false(gw_pairing_open(fsim_gateway_core(r->w)));
  long k = rig_find_evt(r, 0, fsim_gateway_mac(r->w), "pair.closed");
  assert_true(k >= 0);
  assert_string_equal(rig_evt_str(&r->edge.msgs[k], "cause"), "expired");

  struct gw_stats s0 = gwstats(r);
  fsim_power_node(r->w, 2, true);
  rig_run(r, 60000);
  /* It keeps asking (a JOIN every 5 s) and is refused every time. */
  assert_false(node_paired(fsim_node_core(r->w, 2), NULL));
  assert_true(gwstats(r).unknown_mac - s0.unknown_mac >= 5);
  assert_null(peer_msg(r, fsim_node_mac(r->w, 2)));
  assert_null(gw_peer_find(fsim_gateway_core(r->w), fsim_node_mac(r->w, 2)));

  edge_msg_simple(&m, FP_MSG_PAIR_BEGIN, 101);
  m.u.pair_begin.duration_s = 30;
  rig_send(r, &m);
  rig_run(r, 80000);
  assert_true(node_paired(fsim_node_core(r->w, 2), NULL));
  assert_non_null(peer_msg(r, fsim_node_mac(r->w, 2)));
  drain(r, 30000);
  expect_exactly_once(r, 3 * 10);
  rig_free(r);
}

static char *make_dir(void)
{
  char *dir = strdup("/tmp/fsim-world-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return dir;
}

static void remove_dir(char *dir)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(dir);
}

/* The hello of the latest gateway start. */
static const struct fp_msg *last_hello(const struct rig *r)
{
  const struct fp_msg *h = NULL;
  for (size_t k = 0; k < r->edge.n_msgs; k++) {
    if (r->edge.msgs[k].type == FP_MSG_HELLO)
      h = &r->edge.msgs[k];
  }
  return h;
}

/* cfg:set_mac is persisted, applied at the restart it causes, and kept
 * across later restarts and a new simulator on the same state. */
static void test_set_mac_survives_reboot(void **state)
{
  (void)state;
  char *dir = make_dir();
  struct fsim_config c;
  config(&c, 16, 2, 0.0);
  c.state_dir = dir;
  struct rig *r = rig_new(&c);
  rig_run(r, 10000);
  uint8_t factory[HAL_MAC_LEN];
  memcpy(factory, fsim_gateway_mac(r->w), HAL_MAC_LEN);
  assert_memory_equal(last_hello(r)->u.hello.mac, factory, HAL_MAC_LEN);

  const uint8_t mac[HAL_MAC_LEN] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  struct fp_msg m;
  edge_msg_simple(&m, FP_MSG_SET_MAC, 7);
  memcpy(m.u.set_mac.mac, mac, HAL_MAC_LEN);
  rig_send(r, &m);
  const struct fp_msg *ack = rig_ack(r, 7, FP_STAGE_GW);
  assert_non_null(ack);
  assert_true(ack->u.ack.ok);
  rig_run(r, 15000);
  assert_int_equal(r->edge.hellos, 2);
  assert_memory_equal(fsim_gateway_mac(r->w), mac, HAL_MAC_LEN);
  assert_memory_equal(last_hello(r)->u.hello.mac, mac, HAL_MAC_LEN);
  assert_int_equal(last_hello(r)->u.hello.boot, 2);

  fsim_reboot_gateway(r->w);
  rig_run(r, 20000);
  assert_int_equal(r->edge.hellos, 3);
  assert_memory_equal(last_hello(r)->u.hello.mac, mac, HAL_MAC_LEN);
  assert_int_equal(last_hello(r)->u.hello.boot, 3);
  rig_free(r);

  /* A new simulator on the same state: the factory MAC in the flash file
   * name, the saved one on the air. */
  r = rig_new(&c);
  rig_run(r, 1000);
  assert_memory_equal(fsim_gateway_mac(r->w), mac, HAL_MAC_LEN);
  assert_memory_equal(last_hello(r)->u.hello.mac, mac, HAL_MAC_LEN);
  assert_int_equal(last_hello(r)->u.hello.boot, 4);
  char path[256];
  char hex[13];
  fsim_mac_hex(factory, hex);
  snprintf(path, sizeof path, "%s/%s.nvs", dir, hex);
  assert_int_equal(access(path, R_OK), 0);
  rig_free(r);
  remove_dir(dir);
}

static const struct rec_cmd *ledger_cmd(const struct rig *r, uint32_t id)
{
  for (size_t i = 0; i < r->n_cmds; i++) {
    if (r->cmds[i].id == id)
      return &r->cmds[i];
  }
  return NULL;
}

/* relay.set with for_s: both acks, the ledger's line, the output on, and
 * off by itself when the lease ends; an interlocked pair is refused. */
static void test_relay_lease(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 17, 2, 0.0);
  struct rig *r = rig_new(&c);
  rig_run(r, 20000);
  const uint8_t *mac = fsim_node_mac(r->w, 1);
  struct hal_port *board = fsim_node_board(r->w, 1);
  struct fp_msg m;
  edge_msg_cmd(&m, 21, mac, "relay.set");
  edge_arg_int(&m, "ch", 2);
  edge_arg_bool(&m, "on", true);
  edge_arg_int(&m, "for_s", 5);
  rig_send(r, &m);
  rig_run(r, 21000);
  const struct fp_msg *gw = rig_ack(r, 21, FP_STAGE_GW);
  const struct fp_msg *node = rig_ack(r, 21, FP_STAGE_NODE);
  assert_non_null(gw);
  assert_non_null(node);
  assert_true(gw->u.ack.ok);
  assert_true(node->u.ack.ok);
  const struct rec_cmd *lc = ledger_cmd(r, 21);
  assert_non_null(lc);
  assert_true(lc->ok);
  assert_string_equal(lc->name, "relay.set");
  assert_memory_equal(lc->mac, mac, HAL_MAC_LEN);
  assert_true(sim_board_gpio(board, 1));
  rig_run(r, 25000);
  assert_true(sim_board_gpio(board, 1));
  rig_run(r, 26500);
  assert_false(sim_board_gpio(board, 1));
  long k = rig_find_evt(r, 0, mac, "relay");
  assert_true(k >= 0);
  assert_string_equal(rig_evt_str(&r->edge.msgs[k], "cause"), "command");
  k = rig_find_evt(r, (size_t)k + 1, mac, "relay");
  assert_true(k >= 0);
  assert_string_equal(rig_evt_str(&r->edge.msgs[k], "cause"), "lease");

  /* Channels 5 and 6 are interlocked. */
  edge_msg_cmd(&m, 22, mac, "relay.set");
  edge_arg_int(&m, "ch", 5);
  edge_arg_bool(&m, "on", true);
  rig_send(r, &m);
  edge_msg_cmd(&m, 23, mac, "relay.set");
  edge_arg_int(&m, "ch", 6);
  edge_arg_bool(&m, "on", true);
  rig_send(r, &m);
  rig_run(r, 30000);
  assert_true(rig_ack(r, 22, FP_STAGE_NODE)->u.ack.ok);
  assert_false(rig_ack(r, 23, FP_STAGE_NODE)->u.ack.ok);
  assert_false(ledger_cmd(r, 23)->ok);
  assert_true(strlen(ledger_cmd(r, 23)->err) > 0);
  assert_true(sim_board_gpio(board, 4));
  assert_false(sim_board_gpio(board, 5));
  rig_free(r);
}

/* A node that cannot hear its gateway for 3 periods puts its relays in the
 * safe state and says so once the link is back. */
static void test_link_loss_safety(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 18, 2, 0.0);
  struct rig *r = rig_new(&c);
  rig_run(r, 20000);
  const uint8_t *mac = fsim_node_mac(r->w, 0);
  struct hal_port *board = fsim_node_board(r->w, 0);
  struct fp_msg m;
  edge_msg_cmd(&m, 31, mac, "relay.set");
  edge_arg_int(&m, "ch", 1);
  edge_arg_bool(&m, "on", true);
  rig_send(r, &m);
  rig_run(r, 22000);
  assert_true(sim_board_gpio(board, 0));
  assert_int_equal(fsim_set_link_loss(r->w, 0, 1.0), 0);
  /* 3 periods of silence: 15 s, counted from the last delivered send. */
  rig_run(r, 30000);
  assert_false(node_safe(fsim_node_core(r->w, 0)));
  assert_true(sim_board_gpio(board, 0));
  rig_run(r, 45000);
  assert_true(node_safe(fsim_node_core(r->w, 0)));
  assert_false(sim_board_gpio(board, 0));
  /* The other node was not affected. */
  assert_false(node_safe(fsim_node_core(r->w, 1)));

  assert_int_equal(fsim_set_link_loss(r->w, 0, -1.0), 0);
  rig_run(r, 70000);
  assert_false(node_safe(fsim_node_core(r->w, 0)));
  long lost = rig_find_evt(r, 0, mac, "link.lost");
  long back = rig_find_evt(r, 0, mac, "link.back");
  assert_true(lost >= 0 && back > lost);
  long safe = rig_find_evt(r, 0, mac, "relay");
  safe = rig_find_evt(r, (size_t)safe + 1, mac, "relay");
  assert_true(safe >= 0);
  assert_string_equal(rig_evt_str(&r->edge.msgs[safe], "cause"), "safe");
  /* The relays stay safe until commanded. */
  assert_false(sim_board_gpio(board, 0));
  drain(r, 30000);
  expect_exactly_once(r, 2 * 14);
  rig_free(r);
}

/* Pause: no reading while paused, the queues still drain; resume: readings
 * again at once. */
static void test_pause_resume(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 19, 3, 0.1);
  struct rig *r = rig_new(&c);
  rig_run(r, 30000);
  fsim_set_paused(r->w, true);
  rig_run(r, 31000);
  size_t n = r->n_rd;
  rig_run(r, 90000);
  assert_int_equal(r->n_rd, n);
  for (unsigned i = 0; i < 3; i++)
    assert_int_equal(node_outbox_count(fsim_node_core(r->w, i)), 0);
  expect_exactly_once(r, 3 * 5);
  fsim_set_paused(r->w, false);
  rig_run(r, 90100);
  assert_int_equal(r->n_rd, n + 3);
  /* A node restarted while paused stays paused. */
  fsim_set_paused(r->w, true);
  fsim_reboot_node(r->w, 0);
  rig_run(r, 120000);
  assert_int_equal(r->n_rd, n + 3);
  assert_int_equal(node_boot(fsim_node_core(r->w, 0)), 2);
  rig_free(r);
}

static double metric(const struct rec_reading *x, const char *name)
{
  for (unsigned i = 0; i < x->n; i++) {
    if (strcmp(x->v[i].name, name) == 0)
      return x->v[i].value;
  }
  fail_msg("no %s", name);
  return 0;
}

/* The environment reaches the real nodes' readings through the emulated
 * sensors, and a planted anomaly shifts exactly its window. */
static void test_environment_and_anomaly(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 20, 2, 0.0);
  c.real_nodes = 1;
  struct rig *plain = rig_new(&c);
  c.n_anomalies = 1;
  c.anomalies[0] = (struct fsim_anomaly){
      .node = 0, .metric = FSIM_TEMP_C, .at_ms = 100000, .for_ms = 60000, .delta = 12.5};
  struct rig *odd = rig_new(&c);
  rig_run(plain, 240000);
  rig_run(odd, 240000);
  assert_int_equal(plain->n_rd, odd->n_rd);
  unsigned inside = 0, outside = 0;
  for (size_t i = 0; i < odd->n_rd; i++) {
    const struct rec_reading *a = &plain->rd[i], *b = &odd->rd[i];
    assert_memory_equal(a->mac, b->mac, HAL_MAC_LEN);
    assert_int_equal(a->seq, b->seq);
    if (memcmp(b->mac, fsim_node_mac(odd->w, 0), HAL_MAC_LEN) != 0) {
      assert_true(b->syn); /* the node without sensors */
      continue;
    }
    assert_false(b->syn);
    /* The sensor reports the environment (SHT41 resolution, noise of the
     * second in which it was read). */
    double env = fsim_env_value(odd->w, 0, FSIM_TEMP_C, b->sim_ms);
    assert_true(metric(b, "temp_c") > env - 0.3 && metric(b, "temp_c") < env + 0.3);
    double shift = metric(b, "temp_c") - metric(a, "temp_c");
    if (b->sim_ms >= 100010 && b->sim_ms < 160000) {
      assert_true(shift > 12.4 && shift < 12.6);
      inside++;
    } else if (b->sim_ms < 99990 || b->sim_ms >= 160010) {
      assert_true(shift == 0.0);
      assert_true(metric(b, "rh_pct") == metric(a, "rh_pct"));
      outside++;
    }
  }
  assert_true(inside >= 11);
  assert_true(outside >= 30);
  /* Unplanted anomalies on a synthetic node are refused. */
  struct fsim_anomaly bad = {.node = 1, .metric = FSIM_LUX, .delta = 1};
  assert_int_equal(fsim_add_anomaly(odd->w, &bad), FARM_EINVAL);
  rig_free(plain);
  rig_free(odd);
}

/* ---- encryption ------------------------------------------------------------ */

/* Both ends list each other encrypted, and the gateway's pairing is
 * confirmed. */
static void expect_encrypted_pair(struct rig *r, unsigned i)
{
  bool enc = false;
  assert_true(sim_board_has_peer(fsim_node_board(r->w, i), fsim_gateway_mac(r->w), &enc));
  assert_true(enc);
  enc = false;
  assert_true(sim_board_has_peer(fsim_gateway_board(r->w), fsim_node_mac(r->w, i), &enc));
  assert_true(enc);
  const struct gw_peer *p = gw_peer_find(fsim_gateway_core(r->w), fsim_node_mac(r->w, i));
  assert_non_null(p);
  assert_false(p->unkeyed);
}

/* The pairing handshake runs in clear and switches both ends to encrypted
 * without losing a reading: the node sends nothing the gateway could not
 * decrypt, however frames and acknowledgements are lost. */
static void run_encrypted(double loss, uint64_t seed)
{
  struct fsim_config c;
  config(&c, seed, 6, loss);
  c.encrypt = true;
  struct rig *r = rig_new(&c);
  rig_run(r, 300000);
  drain(r, 60000);
  expect_exactly_once(r, 6 * 58);
  for (unsigned i = 0; i < 6; i++) {
    assert_true(node_paired(fsim_node_core(r->w, i), NULL));
    expect_encrypted_pair(r, i);
  }
  assert_int_equal(sim_board_peer_count(fsim_gateway_board(r->w)), 6);
  const struct sim_radio_stats *rs = sim_radio_stats(fsim_radio(r->w));
  if (loss == 0.0) {
    /* Nothing was ever sent that the other end could not decrypt. */
    assert_int_equal(rs->undecryptable, 0);
  } else {
    double lost = (double)rs->lost / (double)(rs->rx + rs->lost);
    assert_true(lost > loss * 0.6 && lost < loss * 1.4);
    assert_true(rs->acks_lost > 0);
  }
  rig_free(r);
}

static void test_encrypted_no_loss(void **state)
{
  (void)state;
  run_encrypted(0.0, 31);
}

/* Several farms: the case that matters, a JOIN_ACK read by the node but
 * its acknowledgement lost, happens in some of them only. */
static void test_encrypted_loss_10(void **state)
{
  (void)state;
  for (uint64_t seed = 40; seed < 48; seed++)
    run_encrypted(0.10, seed);
}

static void test_encrypted_loss_30(void **state)
{
  (void)state;
  run_encrypted(0.30, 33);
}

/* 17 nodes pair encrypted, the 18th is refused with an event and keeps
 * asking; nothing is evicted from the gateway's radio list, and the
 * readings of the 17 arrive once. */
static void test_encrypted_18th_refused(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 34, HAL_RADIO_HW_PEERS_ENCRYPTED + 1, 0.0);
  c.encrypt = true;
  struct rig *r = rig_new(&c);
  rig_run(r, 100000);
  drain(r, 30000);
  unsigned paired = 0;
  int refused = -1;
  for (unsigned i = 0; i < fsim_node_count(r->w); i++) {
    if (node_paired(fsim_node_core(r->w, i), NULL)) {
      expect_encrypted_pair(r, i);
      paired++;
    } else {
      refused = (int)i;
    }
  }
  assert_int_equal(paired, HAL_RADIO_HW_PEERS_ENCRYPTED);
  assert_true(refused >= 0);
  const uint8_t *mac = fsim_node_mac(r->w, (unsigned)refused);
  assert_null(gw_peer_find(fsim_gateway_core(r->w), mac));
  assert_false(sim_board_has_peer(fsim_gateway_board(r->w), mac, NULL));
  assert_int_equal(sim_board_peer_count(fsim_gateway_board(r->w)), HAL_RADIO_HW_PEERS_ENCRYPTED);
  long k = rig_find_evt(r, 0, mac, "join.refused");
  assert_true(k >= 0);
  assert_string_equal(rig_evt_str(&r->edge.msgs[k], "reason"), "encrypted peer limit");
  /* It JOINs every 5 s while the boot window is open, refused every time,
   * each refusal counted and reported. */
  size_t refusals = 0;
  for (long e = k; e >= 0; e = rig_find_evt(r, (size_t)e + 1, mac, "join.refused"))
    refusals++;
  assert_true(refusals >= 20);
  assert_int_equal(gwstats(r).join_full, refusals);

  /* The paired nodes' readings arrived once; the refused node's wait in
   * its outbox and are the only ones missing. */
  struct delivery d = rig_delivery(r);
  assert_int_equal(d.duplicates, 0);
  assert_int_equal(d.unknown, 0);
  assert_int_equal(d.mismatched, 0);
  size_t theirs = 0;
  for (size_t i = 0; i < r->n_rd; i++) {
    if (memcmp(r->rd[i].mac, mac, HAL_MAC_LEN) == 0)
      theirs++;
  }
  assert_true(theirs >= 15);
  assert_int_equal(d.missing, theirs);
  assert_int_equal(d.received, d.readings - theirs);
  assert_true(d.received >= HAL_RADIO_HW_PEERS_ENCRYPTED * 18);
  assert_int_equal(sim_radio_stats(fsim_radio(r->w))->undecryptable, 0);
  rig_free(r);
}

/* Restarts keep the encryption: the gateway lists its confirmed peers
 * encrypted before they speak, a node takes its gateway as keyed from
 * NVS; nothing is undecryptable and only what RAM held can be missing. */
static void test_encrypted_restarts(void **state)
{
  (void)state;
  char *dir = make_dir();
  struct fsim_config c;
  config(&c, 35, 4, 0.0);
  c.encrypt = true;
  c.state_dir = dir;
  struct rig *r = rig_new(&c);
  rig_run(r, 60000);
  fsim_reboot_gateway(r->w);
  rig_run(r, 90000);
  fsim_reboot_node(r->w, 1);
  rig_run(r, 120000);
  assert_int_equal(r->gw_boots, 2);
  assert_int_equal(node_boot(fsim_node_core(r->w, 1)), 2);
  drain(r, 30000);
  for (unsigned i = 0; i < 4; i++)
    expect_encrypted_pair(r, i);
  struct delivery d = rig_delivery(r);
  assert_true(d.readings >= 4 * 22);
  assert_int_equal(d.duplicates, 0);
  assert_int_equal(d.unknown, 0);
  assert_true(d.missing <= r->lost);
  assert_int_equal(sim_radio_stats(fsim_radio(r->w))->undecryptable, 0);
  rig_free(r);

  /* A new simulator on the same state: everyone is paired from NVS. */
  r = rig_new(&c);
  rig_run(r, 30000);
  drain(r, 20000);
  for (unsigned i = 0; i < 4; i++)
    expect_encrypted_pair(r, i);
  expect_exactly_once(r, 4 * 5);
  assert_int_equal(sim_radio_stats(fsim_radio(r->w))->undecryptable, 0);
  rig_free(r);
  remove_dir(dir);
}

/* Without encryption the hardware list is a cache and the limit does not
 * apply: 20 nodes pair and their readings arrive once. */
static void test_unencrypted_beyond_17(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 36, HAL_RADIO_HW_PEERS, 0.1);
  struct rig *r = rig_new(&c);
  rig_run(r, 100000);
  drain(r, 30000);
  for (unsigned i = 0; i < HAL_RADIO_HW_PEERS; i++)
    assert_true(node_paired(fsim_node_core(r->w, i), NULL));
  assert_int_equal(gw_peer_count(fsim_gateway_core(r->w)), HAL_RADIO_HW_PEERS);
  assert_int_equal(gwstats(r).join_full, 0);
  expect_exactly_once(r, HAL_RADIO_HW_PEERS * 18);
  rig_free(r);
}

static char *ledger_of_run(uint64_t seed, size_t *len)
{
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  assert_non_null(f);
  struct fsim_ledger l;
  fsim_ledger_init_stream(&l, f);
  struct fsim_config c;
  config(&c, seed, 5, 0.25);
  fsim_ledger_observer(&l, &c.observer);
  struct fsim_world *w;
  assert_int_equal(fsim_world_new(&c, &w, NULL, 0), 0);
  fsim_advance(w, 200000);
  fsim_world_free(w);
  assert_int_equal(fsim_ledger_close(&l), 0);
  fclose(f);
  return buf;
}

/* The same seed replays the same run; another seed does not. */
static void test_determinism(void **state)
{
  (void)state;
  size_t la, lb, lc;
  char *a = ledger_of_run(77, &la);
  char *b = ledger_of_run(77, &lb);
  char *c = ledger_of_run(78, &lc);
  assert_true(la > 10000);
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  assert_true(la != lc || memcmp(a, c, la) != 0);
  free(a);
  free(b);
  free(c);
}

/* MACs: unicast, locally administered, distinct, from the seed alone. */
static void test_macs(void **state)
{
  (void)state;
  struct fsim_config c;
  config(&c, 21, FSIM_MAX_NODES, 0.0);
  struct fsim_world *w, *w2;
  assert_int_equal(fsim_world_new(&c, &w, NULL, 0), 0);
  assert_int_equal(fsim_world_new(&c, &w2, NULL, 0), 0);
  assert_memory_equal(fsim_gateway_mac(w), fsim_gateway_mac(w2), HAL_MAC_LEN);
  for (unsigned i = 0; i < FSIM_MAX_NODES; i++)
    assert_memory_equal(fsim_node_mac(w, i), fsim_node_mac(w2, i), HAL_MAC_LEN);
  fsim_world_free(w);
  const uint8_t *g = fsim_gateway_mac(w2);
  assert_int_equal(g[0] & 3, 2);
  for (unsigned i = 0; i < FSIM_MAX_NODES; i++) {
    const uint8_t *m = fsim_node_mac(w2, i);
    assert_int_equal(m[0] & 3, 2);
    assert_true(memcmp(m, g, HAL_MAC_LEN) != 0);
    for (unsigned k = 0; k < i; k++)
      assert_true(memcmp(m, fsim_node_mac(w2, k), HAL_MAC_LEN) != 0);
    assert_int_equal(fsim_node_find(w2, m), (int)i);
  }
  /* The port's MAC change (what cfg:set_mac needs) keeps MACs unique. */
  struct hal_port *b = fsim_node_board(w2, 0);
  const uint8_t multicast[HAL_MAC_LEN] = {0x03, 1, 2, 3, 4, 5};
  const uint8_t zero[HAL_MAC_LEN] = {0};
  const uint8_t fresh[HAL_MAC_LEN] = {0x02, 0xfe, 0xed, 0, 0, 1};
  assert_int_equal(sim_board_set_mac(b, multicast), FARM_EINVAL);
  assert_int_equal(sim_board_set_mac(b, zero), FARM_EINVAL);
  assert_int_equal(sim_board_set_mac(b, g), FARM_EEXIST);
  assert_int_equal(sim_board_set_mac(b, fsim_node_mac(w2, 1)), FARM_EEXIST);
  assert_int_equal(sim_board_set_mac(b, fsim_node_mac(w2, 0)), 0);
  assert_int_equal(sim_board_set_mac(b, fresh), 0);
  assert_memory_equal(fsim_node_mac(w2, 0), fresh, HAL_MAC_LEN);
  uint8_t radio_mac[HAL_MAC_LEN];
  hal_radio_mac(b, radio_mac);
  assert_memory_equal(radio_mac, fresh, HAL_MAC_LEN);
  fsim_world_free(w2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_loss),
      cmocka_unit_test(test_loss_10),
      cmocka_unit_test(test_loss_30),
      cmocka_unit_test(test_loss_10_cbor),
      cmocka_unit_test(test_cable_pull),
      cmocka_unit_test(test_gateway_restart),
      cmocka_unit_test(test_replay_and_stranger),
      cmocka_unit_test(test_pairing_window_expiry),
      cmocka_unit_test(test_set_mac_survives_reboot),
      cmocka_unit_test(test_relay_lease),
      cmocka_unit_test(test_link_loss_safety),
      cmocka_unit_test(test_pause_resume),
      cmocka_unit_test(test_environment_and_anomaly),
      cmocka_unit_test(test_encrypted_no_loss),
      cmocka_unit_test(test_encrypted_loss_10),
      cmocka_unit_test(test_encrypted_loss_30),
      cmocka_unit_test(test_encrypted_18th_refused),
      cmocka_unit_test(test_encrypted_restarts),
      cmocka_unit_test(test_unencrypted_beyond_17),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_macs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
