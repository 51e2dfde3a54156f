/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the gateway core against the fake HAL (fake_hal.h). The
 * test plays the edge (it decodes every frame the gateway writes and writes
 * requests back) and the nodes (it builds radio payloads with the protocol
 * library and reports send outcomes), and moves the clock. Every test runs
 * once with each serial codec.
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
#include "fp/frame.h"
#include "fp/msg.h"
#include "fp/radio.h"
#include "gateway/gateway.h"
#include "internal.h"

#define MAX_MSGS 2048

struct ctx {
  enum fp_codec codec;
  struct hal_port port;
  struct gw_config cfg;
  struct gw gw;
  struct fp_frame_decoder host; /* the edge's decoder */
  size_t host_off;              /* bytes of port.to_host fed to it */
  size_t frames;                /* non-empty frames the edge got */
  struct fp_msg msgs[MAX_MSGS];
  size_t n, seen;
  size_t sends_seen;
  /* The edge of docs/protocol.md §4.3 unless raw: it keeps what it has not
   * committed yet (a resend is dropped), answers rx after every read, and
   * fails the test on a hole in the numbering. Raw: every frame is kept and
   * rx is only sent by the test. */
  bool raw;
  uint32_t committed;
  unsigned dups;
};

static const uint8_t MAC_A[6] = {0xa0, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
static const uint8_t MAC_B[6] = {0xa0, 0xb2, 0xc3, 0xd4, 0xe5, 0x07};
static const uint8_t MAC_C[6] = {0x30, 0xae, 0xa4, 0x00, 0x00, 0x09};
static const uint8_t GW_MAC[6] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01};

/* ---- the edge side ------------------------------------------------------ */

static void collect(struct ctx *c)
{
  uint32_t acked = c->committed;
  while (c->host_off < c->port.to_host_len) {
    size_t used;
    const uint8_t *payload;
    size_t plen;
    int rc = fp_frame_feed(&c->host, c->port.to_host + c->host_off,
                           c->port.to_host_len - c->host_off, &used, &payload, &plen);
    c->host_off += used;
    if (rc != 0)
      continue; /* a lone delimiter, or a frame cut by a cable pull: counted in c->host */
    if (payload == NULL)
      continue;
    c->frames++;
    assert_true(c->n < MAX_MSGS);
    struct fp_msg *m = &c->msgs[c->n];
    struct fp_msg_error err;
    rc = fp_msg_decode(payload, plen, c->codec, m, &err);
    if (rc != 0) {
      char text[128];
      fp_msg_error_format(&err, text, sizeof text);
      fail_msg("gateway wrote an undecodable message: %s", text);
    }
    if (!c->raw) {
      if (m->type == FP_MSG_HELLO)
        c->committed = 0; /* a new gateway start: numbering restarts */
      if (m->gseq <= c->committed) {
        c->dups++;
        continue;
      }
      if (m->gseq != c->committed + 1)
        fail_msg("gseq %u after %u: a hole", (unsigned)m->gseq, (unsigned)c->committed);
      c->committed = m->gseq;
    }
    c->n++;
  }
  if (!c->raw && c->committed > acked) {
    struct fp_msg rx;
    memset(&rx, 0, sizeof rx);
    rx.type = FP_MSG_RX;
    rx.gseq = c->committed;
    uint8_t buf[32], wire[64];
    size_t len, n;
    assert_int_equal(fp_msg_encode(&rx, c->codec, buf, sizeof buf, &len), 0);
    assert_int_equal(fp_frame_encode(buf, len, wire, sizeof wire, &n), 0);
    fake_host_write(&c->port, wire, n);
  }
}

static void tick(struct ctx *c)
{
  gw_tick(&c->gw);
  collect(c);
}

static void advance(struct ctx *c, uint64_t ms)
{
  fake_advance(&c->port, ms);
  tick(c);
}

static const struct fp_msg *next_msg(struct ctx *c, enum fp_msg_type type)
{
  collect(c);
  if (c->seen >= c->n)
    fail_msg("expected a %s, got nothing", fp_msg_type_name(type));
  const struct fp_msg *m = &c->msgs[c->seen++];
  if (m->type != type)
    fail_msg("expected a %s, got a %s", fp_msg_type_name(type), fp_msg_type_name(m->type));
  return m;
}

static void no_more_msgs(struct ctx *c)
{
  collect(c);
  if (c->seen != c->n)
    fail_msg("unexpected %s", fp_msg_type_name(c->msgs[c->seen].type));
}

static void skip_msgs(struct ctx *c)
{
  collect(c);
  c->seen = c->n;
}

static void host_send_payload(struct ctx *c, const uint8_t *payload, size_t len)
{
  uint8_t wire[FP_FRAME_MAX_WIRE];
  size_t n;
  assert_int_equal(fp_frame_encode(payload, len, wire, sizeof wire, &n), 0);
  fake_host_write(&c->port, wire, n);
}

static void host_send(struct ctx *c, const struct fp_msg *m)
{
  uint8_t buf[FP_MSG_MAX_ENCODED];
  size_t len;
  assert_int_equal(fp_msg_encode(m, c->codec, buf, sizeof buf, &len), 0);
  host_send_payload(c, buf, len);
}

static void edge(struct ctx *c, const struct fp_msg *m)
{
  host_send(c, m);
  tick(c);
}

static void edge_simple(struct ctx *c, enum fp_msg_type type, uint32_t id)
{
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.id = id;
  edge(c, &m);
}

static void edge_rx(struct ctx *c, uint32_t gseq)
{
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_RX;
  m.gseq = gseq;
  edge(c, &m);
}

/* Acknowledges everything received so far. */
static void edge_rx_all(struct ctx *c)
{
  collect(c);
  uint32_t max = 0;
  for (size_t i = 0; i < c->n; i++)
    max = c->msgs[i].gseq > max ? c->msgs[i].gseq : max;
  edge_rx(c, max);
}

static void edge_pair_begin(struct ctx *c, uint32_t id, uint16_t s)
{
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_PAIR_BEGIN;
  m.id = id;
  m.u.pair_begin.duration_s = s;
  edge(c, &m);
}

static void edge_time_sync(struct ctx *c, uint32_t id, uint64_t ts)
{
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_TIME_SYNC;
  m.id = id;
  m.u.time_sync.ts = ts;
  edge(c, &m);
}

static void edge_cmd(struct ctx *c, uint32_t id, const uint8_t mac[6], const char *name, int relay)
{
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_CMD;
  m.id = id;
  memcpy(m.u.cmd.mac, mac, 6);
  strcpy(m.u.cmd.name, name);
  m.u.cmd.n_args = 2;
  strcpy(m.u.cmd.args[0].key, "relay");
  m.u.cmd.args[0].kind = FP_ARG_INT;
  m.u.cmd.args[0].v.i = relay;
  strcpy(m.u.cmd.args[1].key, "on");
  m.u.cmd.args[1].kind = FP_ARG_BOOL;
  m.u.cmd.args[1].v.b = true;
  edge(c, &m);
}

static void expect_ack(struct ctx *c, uint32_t id, bool ok, enum fp_stage stage, const char *err)
{
  const struct fp_msg *m = next_msg(c, FP_MSG_ACK);
  assert_int_equal(m->id, id);
  assert_int_equal(m->u.ack.ok, ok);
  assert_int_equal(m->u.ack.stage, stage);
  if (err != NULL)
    assert_string_equal(m->u.ack.err, err);
}

static void expect_evt(struct ctx *c, const uint8_t mac[6], const char *name)
{
  const struct fp_msg *m = next_msg(c, FP_MSG_EVT);
  assert_memory_equal(m->u.evt.mac, mac, 6);
  assert_string_equal(m->u.evt.name, name);
}

static uint8_t *find_bytes(uint8_t *hay, size_t n, const void *needle, size_t k)
{
  for (size_t i = 0; i + k <= n; i++) {
    if (memcmp(hay + i, needle, k) == 0)
      return hay + i;
  }
  return NULL;
}

/* ---- the node side ------------------------------------------------------- */

static size_t radio_encode(const struct fp_radio_msg *r, uint8_t *buf)
{
  size_t len;
  assert_int_equal(fp_radio_encode(r, buf, FP_RADIO_MTU, &len), 0);
  return len;
}

static void radio_in(struct ctx *c, const uint8_t mac[6], const struct fp_radio_msg *r, int8_t rssi)
{
  uint8_t buf[FP_RADIO_MTU];
  size_t len = radio_encode(r, buf);
  gw_on_radio_rx(&c->gw, mac, buf, len, rssi);
  collect(c);
}

static void node_join(struct ctx *c, const uint8_t mac[6], uint32_t boot, const char *fw,
                      const char *asset)
{
  struct fp_radio_msg r;
  memset(&r, 0, sizeof r);
  r.type = FP_RADIO_JOIN;
  r.boot = boot;
  r.seq = 0;
  strcpy(r.u.join.fw, fw);
  strcpy(r.u.join.asset, asset);
  radio_in(c, mac, &r, -60);
}

static void make_tel(struct fp_radio_msg *r, uint32_t boot, uint32_t seq, double temp)
{
  memset(r, 0, sizeof *r);
  r->type = FP_RADIO_TEL;
  r->boot = boot;
  r->seq = seq;
  r->u.tel.up_ms = 123456;
  r->u.tel.n_metrics = 2;
  strcpy(r->u.tel.v[0].name, "temp_c");
  r->u.tel.v[0].value = temp;
  strcpy(r->u.tel.v[1].name, "rh_pct");
  r->u.tel.v[1].value = 55;
}

static void node_tel(struct ctx *c, const uint8_t mac[6], uint32_t boot, uint32_t seq)
{
  struct fp_radio_msg r;
  make_tel(&r, boot, seq, 21.5);
  radio_in(c, mac, &r, -61);
}

static void node_cmd_ack(struct ctx *c, const uint8_t mac[6], uint32_t boot, uint32_t seq,
                         uint32_t id, bool ok, const char *err)
{
  struct fp_radio_msg r;
  memset(&r, 0, sizeof r);
  r.type = FP_RADIO_CMD_ACK;
  r.boot = boot;
  r.seq = seq;
  r.u.cmd_ack.id = id;
  r.u.cmd_ack.ok = ok;
  if (err != NULL)
    strcpy(r.u.cmd_ack.err, err);
  radio_in(c, mac, &r, -55);
}

/* The next radio frame the gateway sent, decoded. */
static const struct send_view {
  uint8_t mac[6];
  struct fp_radio_msg m;
} *next_send(struct ctx *c)
{
  static struct send_view v;
  if (c->sends_seen >= c->port.nsent)
    fail_msg("expected a radio send, got none");
  const struct fake_send *s = &c->port.sent[c->sends_seen++];
  memcpy(v.mac, s->mac, 6);
  struct fp_msg_error err;
  assert_int_equal(fp_radio_decode(s->data, s->len, &v.m, &err), 0);
  assert_int_equal(v.m.boot, gw_boot(&c->gw));
  return &v;
}

static void no_more_sends(struct ctx *c)
{
  assert_int_equal(c->sends_seen, c->port.nsent);
}

static void sent(struct ctx *c, const uint8_t mac[6], bool delivered)
{
  gw_on_radio_sent(&c->gw, mac, delivered);
  collect(c);
}

static struct gw_stats stats(struct ctx *c)
{
  struct gw_stats s;
  gw_stats(&c->gw, &s);
  return s;
}

/* Pairs mac (boot) through a pairing window and consumes what it produced. */
static void pair_node(struct ctx *c, const uint8_t mac[6], uint32_t boot)
{
  static uint32_t id = 1000;
  edge_pair_begin(c, ++id, 60);
  node_join(c, mac, boot, "1.0.0", "greenhouse-2/north");
  const struct send_view *s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  sent(c, mac, true);
  edge_simple(c, FP_MSG_PAIR_END, ++id);
  skip_msgs(c);
  edge_rx_all(c);
}

/* ---- fixtures ------------------------------------------------------------ */

static void boot_gateway(struct ctx *c)
{
  assert_int_equal(gw_init(&c->gw, &c->cfg, &c->port), 0);
  collect(c);
}

static int setup(void **state, enum fp_codec codec)
{
  struct ctx *c = calloc(1, sizeof *c);
  if (c == NULL)
    return -1;
  c->codec = codec;
  fake_init(&c->port);
  c->port.quiet = true;
  gw_config_default(&c->cfg);
  c->cfg.codec = codec;
  c->cfg.fw = "1.4.2";
  c->cfg.channel = 6;
  c->cfg.stats_ms = 0;
  fp_frame_decoder_init(&c->host);
  *state = c;
  return 0;
}

static int setup_mp(void **state)
{
  return setup(state, FP_CODEC_MSGPACK);
}

static int setup_cbor(void **state)
{
  return setup(state, FP_CODEC_CBOR);
}

static int teardown(void **state)
{
  free(*state);
  return 0;
}

/* Boots, checks hello, and acknowledges it. */
static struct ctx *started(void **state)
{
  struct ctx *c = *state;
  boot_gateway(c);
  next_msg(c, FP_MSG_HELLO);
  edge_rx(c, 1);
  return c;
}

/* ---- tests -------------------------------------------------------------- */

static void test_hello_at_boot(void **state)
{
  struct ctx *c = *state;
  assert_int_equal(hal_nvs_set_u32(&c->port, GW_NVS_BOOT, 6), 0);
  assert_int_equal(hal_nvs_commit(&c->port), 0);
  boot_gateway(c);
  /* A lone delimiter first, so a half frame left by a reset ends there. */
  assert_int_equal(c->port.to_host[0], 0x00);
  const struct fp_msg *m = next_msg(c, FP_MSG_HELLO);
  assert_int_equal(m->gseq, 1);
  assert_memory_equal(m->u.hello.mac, GW_MAC, 6);
  assert_string_equal(m->u.hello.fw, "1.4.2");
  assert_int_equal(m->u.hello.ch, 6);
  assert_int_equal(m->u.hello.peers, 0);
  assert_int_equal(m->u.hello.boot, 7);
  no_more_msgs(c);
  /* The boot counter is committed, the radio on the configured channel. */
  uint32_t boot = 0;
  fake_restart(&c->port);
  assert_int_equal(hal_nvs_get_u32(&c->port, GW_NVS_BOOT, &boot), 0);
  assert_int_equal(boot, 7);
  assert_int_equal(c->port.channel, 6);
}

static void test_init_errors(void **state)
{
  struct ctx *c = *state;
  c->cfg.channel = 15;
  assert_int_equal(gw_init(&c->gw, &c->cfg, &c->port), FARM_EINVAL);
  c->cfg.channel = 6;
  c->cfg.fw = "";
  assert_int_equal(gw_init(&c->gw, &c->cfg, &c->port), FARM_EINVAL);
  c->cfg.fw = "1.4.2";
  c->cfg.cmd_tries = 0;
  assert_int_equal(gw_init(&c->gw, &c->cfg, &c->port), FARM_EINVAL);
  c->cfg.cmd_tries = 4;
  /* A boot counter that cannot be persisted would repeat the downlink
   * (boot, seq) that nodes check: refuse to start. */
  c->port.nvs_fail = FARM_EIO;
  assert_int_equal(gw_init(&c->gw, &c->cfg, &c->port), FARM_EIO);
  c->port.nvs_fail = 0;
  assert_int_equal(gw_init(&c->gw, &c->cfg, &c->port), 0);
}

static void test_ping_pong(void **state)
{
  struct ctx *c = started(state);
  fake_advance(&c->port, 4000);
  edge_simple(c, FP_MSG_PING, 9);
  const struct fp_msg *a = next_msg(c, FP_MSG_ACK);
  assert_int_equal(a->gseq, 2);
  assert_int_equal(a->id, 9);
  assert_true(a->u.ack.ok);
  assert_int_equal(a->u.ack.stage, FP_STAGE_GW);
  const struct fp_msg *p = next_msg(c, FP_MSG_PONG);
  assert_int_equal(p->gseq, 3);
  assert_int_equal(p->id, 9);
  assert_int_equal(p->u.pong.up_ms, 5000); /* 1000 at boot + 4000 */
  no_more_msgs(c);
}

static void test_pairing_window(void **state)
{
  struct ctx *c = started(state);
  /* Outside a window a JOIN from a stranger is dropped and counted. */
  node_join(c, MAC_A, 3, "1.0.0", "greenhouse-2/north");
  assert_int_equal(stats(c).unknown_mac, 1);
  assert_int_equal(gw_peer_count(&c->gw), 0);
  no_more_sends(c);
  no_more_msgs(c);

  edge_pair_begin(c, 1, 60);
  expect_ack(c, 1, true, FP_STAGE_GW, NULL);
  const struct fp_msg *e = next_msg(c, FP_MSG_EVT);
  assert_string_equal(e->u.evt.name, "pair.open");
  assert_memory_equal(e->u.evt.mac, GW_MAC, 6);
  assert_int_equal(e->u.evt.n_args, 1);
  assert_string_equal(e->u.evt.args[0].key, "duration_s");
  assert_int_equal(e->u.evt.args[0].v.i, 60);
  assert_true(gw_pairing_open(&c->gw));

  node_join(c, MAC_A, 3, "1.0.0", "greenhouse-2/north");
  const struct fp_msg *p = next_msg(c, FP_MSG_PEER);
  assert_memory_equal(p->u.peer.mac, MAC_A, 6);
  assert_int_equal(p->u.peer.state, FP_PEER_JOINED);
  assert_string_equal(p->u.peer.asset, "greenhouse-2/north");
  assert_string_equal(p->u.peer.fw, "1.0.0");
  assert_true(p->u.peer.has_rssi);
  assert_int_equal(p->u.peer.rssi, -60);
  e = next_msg(c, FP_MSG_EVT);
  assert_memory_equal(e->u.evt.mac, MAC_A, 6);
  assert_string_equal(e->u.evt.name, "join");
  assert_true(e->u.evt.has_boot && e->u.evt.has_seq);
  assert_int_equal(e->u.evt.boot, 3);
  assert_int_equal(e->u.evt.seq, 0);
  const struct send_view *s = next_send(c);
  assert_memory_equal(s->mac, MAC_A, 6);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  assert_int_equal(s->m.seq, 1);
  assert_int_equal(s->m.u.join_ack.ch, 6);
  assert_false(s->m.u.join_ack.has_ts); /* no time_sync yet */
  assert_true(fake_hw_has(&c->port, MAC_A));
  sent(c, MAC_A, true);
  assert_int_equal(gw_peer_count(&c->gw), 1);
  const struct gw_peer *peer = gw_peer_find(&c->gw, MAC_A);
  assert_non_null(peer);
  assert_int_equal(peer->boot, 3);
  assert_int_equal(peer->seq, 0);

  /* Once the time is known, JOIN_ACK carries it. */
  edge_time_sync(c, 2, 1732646400000u);
  expect_ack(c, 2, true, FP_STAGE_GW, NULL);
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_TIME);
  sent(c, MAC_A, true);
  node_join(c, MAC_B, 1, "1.0.1", "");
  p = next_msg(c, FP_MSG_PEER);
  assert_string_equal(p->u.peer.asset, "");
  assert_string_equal(p->u.peer.fw, "1.0.1");
  expect_evt(c, MAC_B, "join");
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  assert_true(s->m.seq > 1);
  assert_true(s->m.u.join_ack.has_ts);
  assert_int_equal(s->m.u.join_ack.ts, 1732646400000u);
  sent(c, MAC_B, true);

  /* The window expires. */
  advance(c, 59999);
  assert_true(gw_pairing_open(&c->gw));
  no_more_msgs(c);
  advance(c, 1);
  assert_false(gw_pairing_open(&c->gw));
  e = next_msg(c, FP_MSG_EVT);
  assert_string_equal(e->u.evt.name, "pair.closed");
  assert_string_equal(e->u.evt.args[0].v.s, "expired");
  node_join(c, MAC_C, 1, "1.0.0", "");
  assert_int_equal(stats(c).unknown_mac, 2);
  assert_int_equal(gw_peer_count(&c->gw), 2);
  no_more_msgs(c);
  no_more_sends(c);

  /* A known node repeating its JOIN (its JOIN_ACK was lost) is answered
   * outside the window too, with no peer change to report. */
  node_join(c, MAC_A, 3, "1.0.0", "greenhouse-2/north");
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true);
  no_more_msgs(c);
  /* ... and a changed firmware is reported as an update. */
  node_join(c, MAC_A, 4, "1.1.0", "greenhouse-2/north");
  p = next_msg(c, FP_MSG_PEER);
  assert_int_equal(p->u.peer.state, FP_PEER_UPDATED);
  assert_string_equal(p->u.peer.fw, "1.1.0");
  next_send(c);
  sent(c, MAC_A, true);

  /* pair_end on a closed window: acked, nothing else. */
  edge_simple(c, FP_MSG_PAIR_END, 3);
  expect_ack(c, 3, true, FP_STAGE_GW, NULL);
  no_more_msgs(c);
  edge_pair_begin(c, 4, 10);
  expect_ack(c, 4, true, FP_STAGE_GW, NULL);
  next_msg(c, FP_MSG_EVT);
  edge_simple(c, FP_MSG_PAIR_END, 5);
  expect_ack(c, 5, true, FP_STAGE_GW, NULL);
  e = next_msg(c, FP_MSG_EVT);
  assert_string_equal(e->u.evt.name, "pair.closed");
  assert_string_equal(e->u.evt.args[0].v.s, "ended");
  assert_false(gw_pairing_open(&c->gw));
}

static void test_pairing_at_boot(void **state)
{
  struct ctx *c = *state;
  c->cfg.pair_boot_s = 30;
  boot_gateway(c);
  assert_true(gw_pairing_open(&c->gw));
  node_join(c, MAC_A, 1, "1.0.0", "");
  assert_int_equal(gw_peer_count(&c->gw), 1);
  advance(c, 30000);
  assert_false(gw_pairing_open(&c->gw));
  /* With peers in the table, a restart opens no window. */
  fake_restart(&c->port);
  boot_gateway(c);
  assert_false(gw_pairing_open(&c->gw));
}

static void test_tel_relayed(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  struct fp_radio_msg r;
  make_tel(&r, 3, 1, 21.5);
  r.u.tel.syn = true;
  fake_advance(&c->port, 500);
  radio_in(c, MAC_A, &r, -61);
  const struct fp_msg *m = next_msg(c, FP_MSG_TEL);
  uint32_t g1 = m->gseq;
  assert_memory_equal(m->u.tel.mac, MAC_A, 6);
  assert_int_equal(m->u.tel.rssi, -61);
  assert_int_equal(m->u.tel.boot, 3);
  assert_int_equal(m->u.tel.seq, 1);
  assert_int_equal(m->u.tel.up_ms, 123456);
  assert_true(m->u.tel.syn);
  assert_int_equal(m->u.tel.n_metrics, 2);
  assert_string_equal(m->u.tel.v[0].name, "temp_c");
  assert_true(m->u.tel.v[0].value == 21.5);
  assert_string_equal(m->u.tel.v[1].name, "rh_pct");
  assert_true(m->u.tel.v[1].value == 55);
  node_tel(c, MAC_A, 3, 2);
  m = next_msg(c, FP_MSG_TEL);
  assert_int_equal(m->gseq, g1 + 1);
  assert_false(m->u.tel.syn);
  /* An RSSI beyond the wire's range is clamped, not refused. */
  make_tel(&r, 3, 3, 20);
  radio_in(c, MAC_A, &r, 5);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.rssi, 0);
  const struct gw_peer *p = gw_peer_find(&c->gw, MAC_A);
  assert_int_equal(p->last_seen_ms, hal_clock_ms(&c->port));
  assert_int_equal(p->seq, 3);
  assert_int_equal(stats(c).radio_rx, 4); /* JOIN + 3 tel */

  /* A node event goes up with its (boot, seq) and arguments. */
  memset(&r, 0, sizeof r);
  r.type = FP_RADIO_EVT;
  r.boot = 3;
  r.seq = 4;
  strcpy(r.u.evt.name, "relay.changed");
  r.u.evt.n_args = 1;
  strcpy(r.u.evt.args[0].key, "relay");
  r.u.evt.args[0].kind = FP_ARG_INT;
  r.u.evt.args[0].v.i = 2;
  radio_in(c, MAC_A, &r, -60);
  m = next_msg(c, FP_MSG_EVT);
  assert_string_equal(m->u.evt.name, "relay.changed");
  assert_int_equal(m->u.evt.seq, 4);
  assert_int_equal(m->u.evt.args[0].v.i, 2);
  no_more_msgs(c);
}

static void test_replay_dropped(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  node_tel(c, MAC_A, 3, 5);
  next_msg(c, FP_MSG_TEL);
  node_tel(c, MAC_A, 3, 5); /* the same frame again */
  node_tel(c, MAC_A, 3, 4); /* older */
  assert_int_equal(stats(c).replay, 2);
  no_more_msgs(c);
  node_tel(c, MAC_A, 4, 1); /* the node restarted: a new sequence */
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.boot, 4);
  node_tel(c, MAC_A, 3, 9); /* from the previous boot */
  /* A JOIN of an older boot outside a window is a replay too. */
  node_join(c, MAC_A, 2, "1.0.0", "greenhouse-2/north");
  assert_int_equal(stats(c).replay, 4);
  no_more_msgs(c);
  no_more_sends(c);
  const struct gw_peer *p = gw_peer_find(&c->gw, MAC_A);
  assert_int_equal(p->boot, 4);
  assert_int_equal(p->seq, 1);

  /* Inside a window, a node whose counter restarted (NVS wiped) re-pairs. */
  edge_pair_begin(c, 50, 60);
  skip_msgs(c);
  node_join(c, MAC_A, 1, "1.0.0", "greenhouse-2/north");
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true);
  assert_int_equal(p->boot, 1);
  node_tel(c, MAC_A, 1, 1);
  next_msg(c, FP_MSG_TEL);
}

static void test_bad_radio_frames(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  uint8_t buf[300];
  struct fp_radio_msg r;
  make_tel(&r, 3, 1, 20);
  size_t len = radio_encode(&r, buf);

  /* A stranger's data. */
  gw_on_radio_rx(&c->gw, MAC_C, buf, len, -50);
  assert_int_equal(stats(c).unknown_mac, 1);
  /* Over 250 bytes. */
  memset(buf + len, 0, sizeof buf - len);
  gw_on_radio_rx(&c->gw, MAC_A, buf, 251, -50);
  assert_int_equal(stats(c).radio_big, 1);
  /* Shorter than the header; wrong version; unknown type. */
  gw_on_radio_rx(&c->gw, MAC_A, buf, 5, -50);
  buf[0] = 2;
  gw_on_radio_rx(&c->gw, MAC_A, buf, len, -50);
  buf[0] = FP_RADIO_VERSION;
  buf[1] = 0x09;
  gw_on_radio_rx(&c->gw, MAC_A, buf, len, -50);
  assert_int_equal(stats(c).radio_bad, 3);
  buf[1] = FP_RADIO_TEL;
  /* Length not matching the body: one byte short, one byte extra. */
  gw_on_radio_rx(&c->gw, MAC_A, buf, len - 1, -50);
  buf[len] = 0xc0;
  gw_on_radio_rx(&c->gw, MAC_A, buf, len + 1, -50);
  assert_int_equal(stats(c).radio_bad, 5);
  /* A group address as the source. */
  const uint8_t group[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  gw_on_radio_rx(&c->gw, group, buf, len, -50);
  /* A command (gateway-to-node type) heard on the air. */
  struct fp_radio_msg cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.type = FP_RADIO_CMD;
  cmd.boot = 9;
  cmd.seq = 9;
  cmd.u.cmd.id = 1;
  strcpy(cmd.u.cmd.name, "reboot");
  radio_in(c, MAC_A, &cmd, -50);
  assert_int_equal(stats(c).radio_dir, 2);
  no_more_msgs(c);
  no_more_sends(c);
  /* None of it moved the mark: the frame itself is still accepted. */
  gw_on_radio_rx(&c->gw, MAC_A, buf, len, -50);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.seq, 1);
  assert_int_equal(stats(c).radio_rx, 2);
}

static void test_resend_after_timeout(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  size_t before = c->port.to_host_len;
  node_tel(c, MAC_A, 3, 1);
  const struct fp_msg *m = next_msg(c, FP_MSG_TEL);
  uint32_t gseq = m->gseq;
  size_t after = c->port.to_host_len;
  assert_true(after > before);
  advance(c, c->cfg.resend_ms - 1);
  assert_int_equal(c->port.to_host_len, after);
  advance(c, 1);
  /* The same frame, byte for byte. */
  assert_int_equal(c->port.to_host_len, after + (after - before));
  assert_memory_equal(c->port.to_host + after, c->port.to_host + before, after - before);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->gseq, gseq);
  assert_int_equal(stats(c).resent, 1);
  /* Acknowledged: forgotten, never sent again. */
  edge_rx(c, gseq);
  assert_int_equal(gw_uplink_pending(&c->gw), 0);
  advance(c, 10 * c->cfg.resend_ms);
  no_more_msgs(c);

  /* rx is cumulative: one rx for three messages. */
  node_tel(c, MAC_A, 3, 2);
  node_tel(c, MAC_A, 3, 3);
  node_tel(c, MAC_A, 3, 4);
  assert_int_equal(gw_uplink_pending(&c->gw), 3);
  edge_rx(c, next_msg(c, FP_MSG_TEL)->gseq + 1);
  assert_int_equal(gw_uplink_pending(&c->gw), 1);
  skip_msgs(c);
  edge_rx_all(c);
  assert_int_equal(gw_uplink_pending(&c->gw), 0);
  /* An old rx changes nothing; one beyond what was sent is bogus. */
  edge_rx(c, 1);
  edge_rx(c, 1000);
  assert_int_equal(stats(c).rx_bogus, 1);
  no_more_msgs(c);
}

static void test_resend_after_reconnect(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  node_tel(c, MAC_A, 3, 1);
  uint32_t g1 = next_msg(c, FP_MSG_TEL)->gseq;
  /* The cable is pulled before the edge acknowledged it. */
  c->port.connected = false;
  tick(c);
  node_tel(c, MAC_A, 3, 2);
  node_tel(c, MAC_A, 3, 3);
  tick(c);
  no_more_msgs(c);
  size_t len = c->port.to_host_len;
  c->port.connected = true;
  tick(c);
  /* A delimiter, then the unacknowledged message again, then the rest. */
  assert_int_equal(c->port.to_host[len], 0x00);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->gseq, g1);
  const struct fp_msg *m = next_msg(c, FP_MSG_TEL);
  assert_int_equal(m->gseq, g1 + 1);
  assert_int_equal(m->u.tel.seq, 2);
  m = next_msg(c, FP_MSG_TEL);
  assert_int_equal(m->gseq, g1 + 2);
  assert_int_equal(m->u.tel.seq, 3);
  no_more_msgs(c);
  assert_int_equal(stats(c).resent, 1);

  /* A half-written frame lost with the cable is written again whole. */
  edge_rx_all(c);
  c->port.budget_on = true;
  c->port.write_budget = 5;
  node_tel(c, MAC_A, 3, 4);
  c->port.connected = false;
  tick(c);
  c->port.budget_on = false;
  c->port.connected = true;
  tick(c);
  m = next_msg(c, FP_MSG_TEL);
  assert_int_equal(m->u.tel.seq, 4);
  no_more_msgs(c);
  /* The edge's decoder threw away the half frame (it got a delimiter). */
  assert_int_equal(c->host.count.crc + c->host.count.cobs + c->host.count.shortf, 1);
}

static void test_edge_back_after_silence(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  c->port.write_blocked = true; /* port open, nobody reading */
  node_tel(c, MAC_A, 3, 1);
  advance(c, c->cfg.resend_ms / 2);
  c->port.write_blocked = false;
  tick(c);
  uint32_t g1 = next_msg(c, FP_MSG_TEL)->gseq;
  /* The edge speaks again after a silence longer than resend_ms, before
   * the reading's own timer: it is resent at once. */
  fake_advance(&c->port, c->cfg.resend_ms * 3 / 4);
  edge_simple(c, FP_MSG_PING, 77);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->gseq, g1);
  expect_ack(c, 77, true, FP_STAGE_GW, NULL);
  next_msg(c, FP_MSG_PONG);
  assert_int_equal(stats(c).resent, 1);
  /* Not after a short pause. */
  edge_rx_all(c);
  node_tel(c, MAC_A, 3, 2);
  next_msg(c, FP_MSG_TEL);
  fake_advance(&c->port, c->cfg.resend_ms / 4);
  edge_simple(c, FP_MSG_PING, 78);
  expect_ack(c, 78, true, FP_STAGE_GW, NULL);
  next_msg(c, FP_MSG_PONG);
  assert_int_equal(stats(c).resent, 1);
}

static void test_partial_writes(void **state)
{
  struct ctx *c = *state;
  c->port.write_limit = 3;
  boot_gateway(c);
  tick(c);
  tick(c);
  next_msg(c, FP_MSG_HELLO);
  edge_rx(c, 1);
  pair_node(c, MAC_A, 3);
  for (uint32_t s = 1; s <= 10; s++)
    node_tel(c, MAC_A, 3, s);
  for (int i = 0; i < 400; i++)
    tick(c);
  for (uint32_t s = 1; s <= 10; s++)
    assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.seq, s);
  no_more_msgs(c);
  assert_int_equal(c->host.count.crc + c->host.count.cobs, 0);
  /* The host's buffer full for a while: nothing lost. */
  c->port.write_limit = 0;
  c->port.write_blocked = true;
  node_tel(c, MAC_A, 3, 11);
  tick(c);
  no_more_msgs(c);
  c->port.write_blocked = false;
  tick(c);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.seq, 11);
}

static void test_ring_overflow(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  c->port.connected = false;
  tick(c);
  const uint32_t total = 300;
  for (uint32_t s = 1; s <= total; s++)
    node_tel(c, MAC_A, 3, s);
  struct gw_stats st = stats(c);
  assert_true(st.ring_drop > 0);
  assert_int_equal(st.ring_drop_oth, 0);
  c->port.connected = true;
  uint32_t last_seq = 0, last_gseq = 0, got = 0;
  for (int i = 0; i < 100 && gw_uplink_pending(&c->gw) > 0; i++) {
    tick(c);
    collect(c);
    while (c->seen < c->n) {
      const struct fp_msg *m = next_msg(c, FP_MSG_TEL);
      /* No hole in the numbering, readings in order, none twice. */
      if (last_gseq != 0)
        assert_int_equal(m->gseq, last_gseq + 1);
      assert_true(m->u.tel.seq > last_seq);
      last_gseq = m->gseq;
      last_seq = m->u.tel.seq;
      got++;
    }
    edge_rx(c, last_gseq);
  }
  /* The newest survive, the oldest were dropped, each counted. */
  assert_int_equal(last_seq, total);
  assert_int_equal(got + st.ring_drop, total);
  assert_int_equal(stats(c).ring_drop, st.ring_drop);

  /* The counter reaches the edge in stats. */
  c->cfg.stats_ms = 1000;
  advance(c, 1000);
  const struct fp_msg *m = next_msg(c, FP_MSG_STATS);
  bool found = false;
  for (size_t i = 0; i < m->u.stats.n_counters; i++) {
    if (strcmp(m->u.stats.v[i].name, "ring_drop") == 0) {
      assert_int_equal(m->u.stats.v[i].value, st.ring_drop);
      found = true;
    }
  }
  assert_true(found);
}

static void test_overflow_keeps_hello_and_acks(void **state)
{
  struct ctx *c = *state;
  c->port.connected = false;
  c->cfg.pair_boot_s = 60;
  boot_gateway(c);
  node_join(c, MAC_A, 3, "1.0.0", "");
  for (uint32_t s = 1; s <= 300; s++)
    node_tel(c, MAC_A, 3, s);
  c->port.connected = true;
  tick(c);
  /* hello is still the first message and has gseq 1; peer and join events
   * were kept while readings made room. */
  const struct fp_msg *m = next_msg(c, FP_MSG_HELLO);
  assert_int_equal(m->gseq, 1);
  next_msg(c, FP_MSG_PEER);
  expect_evt(c, MAC_A, "join");
  assert_int_equal(stats(c).ring_drop_oth, 0);
}

static void test_window_limits_numbering(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  for (uint32_t s = 1; s <= 60; s++)
    node_tel(c, MAC_A, 3, s);
  tick(c);
  collect(c);
  size_t written = c->n - c->seen;
  assert_true(written <= GW_TX_WINDOW);
  assert_true(written >= 20); /* the window is in messages and bytes */
  const struct fp_msg *first = next_msg(c, FP_MSG_TEL);
  edge_rx(c, first->gseq + 9);
  collect(c);
  assert_int_equal(c->n - c->seen, written - 1 + 10);
}

static void test_cmd_two_stage(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  edge_cmd(c, 7, MAC_A, "relay.set", 3);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  const struct send_view *s = next_send(c);
  assert_memory_equal(s->mac, MAC_A, 6);
  assert_int_equal(s->m.type, FP_RADIO_CMD);
  assert_int_equal(s->m.u.cmd.id, 7);
  assert_string_equal(s->m.u.cmd.name, "relay.set");
  assert_int_equal(s->m.u.cmd.n_args, 2);
  assert_string_equal(s->m.u.cmd.args[0].key, "relay");
  assert_int_equal(s->m.u.cmd.args[0].v.i, 3);
  assert_true(s->m.u.cmd.args[1].v.b);
  sent(c, MAC_A, true);
  no_more_msgs(c);
  node_cmd_ack(c, MAC_A, 3, 1, 7, true, NULL);
  expect_ack(c, 7, true, FP_STAGE_NODE, NULL);
  no_more_msgs(c);

  /* The node refuses the next one: the reason goes up. */
  edge_cmd(c, 8, MAC_A, "relay.set", 7);
  expect_ack(c, 8, true, FP_STAGE_GW, NULL);
  next_send(c);
  sent(c, MAC_A, true);
  node_cmd_ack(c, MAC_A, 3, 2, 8, false, "relay 7 of 6");
  expect_ack(c, 8, false, FP_STAGE_NODE, "relay 7 of 6");

  /* Two commands to one node run one after the other, in order. */
  edge_cmd(c, 9, MAC_A, "relay.set", 1);
  edge_cmd(c, 10, MAC_A, "relay.set", 2);
  expect_ack(c, 9, true, FP_STAGE_GW, NULL);
  expect_ack(c, 10, true, FP_STAGE_GW, NULL);
  assert_int_equal(next_send(c)->m.u.cmd.id, 9);
  no_more_sends(c);
  sent(c, MAC_A, true);
  no_more_sends(c);
  node_cmd_ack(c, MAC_A, 3, 3, 9, true, NULL);
  expect_ack(c, 9, true, FP_STAGE_NODE, NULL);
  assert_int_equal(next_send(c)->m.u.cmd.id, 10);
  sent(c, MAC_A, true);
  node_cmd_ack(c, MAC_A, 3, 4, 10, true, NULL);
  expect_ack(c, 10, true, FP_STAGE_NODE, NULL);
  assert_int_equal(stats(c).cmd_retry, 0);
}

static void test_cmd_retries_exhausted(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  edge_cmd(c, 7, MAC_A, "relay.set", 3);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  uint32_t last_seq = 0;
  for (unsigned i = 0; i < c->cfg.cmd_tries; i++) {
    const struct send_view *s = next_send(c);
    assert_int_equal(s->m.u.cmd.id, 7);
    /* Every try is a new frame: the node drops a repeated (boot, seq). */
    assert_true(s->m.seq > last_seq);
    last_seq = s->m.seq;
    sent(c, MAC_A, false);
    no_more_sends(c);
    advance(c, c->cfg.retry_ms);
  }
  no_more_sends(c);
  expect_ack(c, 7, false, FP_STAGE_NODE, "timeout");
  struct gw_stats st = stats(c);
  assert_int_equal(st.cmd_retry, c->cfg.cmd_tries - 1);
  assert_int_equal(st.cmd_fail, 1);
  assert_int_equal(st.radio_fail, c->cfg.cmd_tries);

  /* The node's answer after the final ack: counted, reported as an event,
   * the ack stays final. */
  node_cmd_ack(c, MAC_A, 3, 1, 7, true, NULL);
  const struct fp_msg *e = next_msg(c, FP_MSG_EVT);
  assert_string_equal(e->u.evt.name, "cmd.late_ack");
  assert_int_equal(e->u.evt.args[0].v.i, 7);
  assert_true(e->u.evt.args[1].v.b);
  assert_int_equal(stats(c).cmd_stray, 1);
  /* An answer to a command nobody sent: counted only. */
  node_cmd_ack(c, MAC_A, 3, 2, 4242, true, NULL);
  assert_int_equal(stats(c).cmd_stray, 2);
  no_more_msgs(c);
}

static void test_cmd_no_answer_then_retry(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  edge_cmd(c, 7, MAC_A, "relay.set", 3);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  next_send(c);
  sent(c, MAC_A, true); /* delivered, but no CMD_ACK comes */
  advance(c, c->cfg.cmd_ack_ms - 1);
  no_more_sends(c);
  advance(c, 1);
  advance(c, c->cfg.retry_ms);
  const struct send_view *s = next_send(c);
  assert_int_equal(s->m.u.cmd.id, 7);
  sent(c, MAC_A, true);
  node_cmd_ack(c, MAC_A, 3, 1, 7, true, NULL);
  expect_ack(c, 7, true, FP_STAGE_NODE, NULL);
  assert_int_equal(stats(c).cmd_retry, 1);
  /* A send that never reports its outcome times out and is retried. */
  edge_cmd(c, 8, MAC_A, "relay.set", 3);
  expect_ack(c, 8, true, FP_STAGE_GW, NULL);
  next_send(c);
  advance(c, c->cfg.send_timeout_ms);
  advance(c, c->cfg.retry_ms);
  assert_int_equal(next_send(c)->m.u.cmd.id, 8);
  assert_int_equal(stats(c).cmd_retry, 2);
}

static void test_cmd_duplicate_ids(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  edge_cmd(c, 7, MAC_A, "relay.set", 3);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  next_send(c);
  /* Resent by the edge while on the air: the same answer, no second run. */
  edge_cmd(c, 7, MAC_A, "relay.set", 3);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  no_more_sends(c);
  /* The same id with another content is not that request. */
  edge_cmd(c, 7, MAC_A, "relay.set", 4);
  expect_ack(c, 7, false, FP_STAGE_GW, "id in use");
  sent(c, MAC_A, true);
  node_cmd_ack(c, MAC_A, 3, 1, 7, false, "interlock");
  expect_ack(c, 7, false, FP_STAGE_NODE, "interlock");
  /* After the end: both answers again, from memory. */
  edge_cmd(c, 7, MAC_A, "relay.set", 3);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  expect_ack(c, 7, false, FP_STAGE_NODE, "interlock");
  no_more_sends(c);
  no_more_msgs(c);
}

static void test_cmd_refused(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  edge_cmd(c, 1, MAC_C, "relay.set", 3);
  expect_ack(c, 1, false, FP_STAGE_GW, "unknown peer");
  no_more_sends(c);
  /* Queue full. */
  for (uint32_t id = 10; id < 10 + GW_MAX_CMDS; id++) {
    edge_cmd(c, id, MAC_A, "relay.set", 1);
    expect_ack(c, id, true, FP_STAGE_GW, NULL);
  }
  edge_cmd(c, 99, MAC_A, "relay.set", 1);
  expect_ack(c, 99, false, FP_STAGE_GW, "busy");
  /* Too big for one radio frame. */
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_CMD;
  m.id = 100;
  memcpy(m.u.cmd.mac, MAC_A, 6);
  strcpy(m.u.cmd.name, "display.text.with.a.long.name");
  m.u.cmd.n_args = FP_MSG_MAX_ARGS;
  for (int i = 0; i < FP_MSG_MAX_ARGS; i++) {
    snprintf(m.u.cmd.args[i].key, sizeof m.u.cmd.args[i].key, "line_number_%d", i);
    m.u.cmd.args[i].kind = FP_ARG_STR;
    memset(m.u.cmd.args[i].v.s, 'x', FP_MSG_ARG_STR_MAX);
  }
  edge(c, &m);
  expect_ack(c, 100, false, FP_STAGE_GW, "too big for the radio");
}

static void test_set_mac(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_SET_MAC;
  m.id = 11;
  memcpy(m.u.set_mac.mac, mac, 6);
  edge(c, &m);
  const struct fp_msg *a = next_msg(c, FP_MSG_ACK);
  assert_int_equal(a->id, 11);
  assert_true(a->u.ack.ok);
  /* Persisted (committed) before the ack. */
  uint8_t saved[6];
  assert_int_equal(gw_saved_mac(&c->port, saved), 0);
  assert_memory_equal(saved, mac, 6);
  /* The reboot waits for the edge to have the ack. */
  tick(c);
  assert_int_equal(c->port.reboots, 0);
  edge_rx(c, a->gseq);
  assert_int_equal(c->port.reboots, 1);
  assert_true(gw_halted(&c->gw));
  /* Halted: nothing more until it is started again. */
  size_t len = c->port.to_host_len;
  size_t nsent = c->port.nsent;
  node_tel(c, MAC_A, 1, 1);
  gw_on_radio_sent(&c->gw, MAC_A, true);
  advance(c, 100000);
  assert_int_equal(c->port.to_host_len, len);
  assert_int_equal(c->port.nsent, nsent);

  /* The port applies the saved MAC at boot; hello shows it. */
  fake_restart(&c->port);
  assert_int_equal(gw_saved_mac(&c->port, c->port.mac), 0);
  boot_gateway(c);
  const struct fp_msg *h = next_msg(c, FP_MSG_HELLO);
  assert_memory_equal(h->u.hello.mac, mac, 6);
  assert_int_equal(h->u.hello.boot, 2);
  edge_rx(c, 1);
  /* The edge resends the request (its ack was lost): no second restart. */
  edge(c, &m);
  expect_ack(c, 11, true, FP_STAGE_GW, NULL);
  edge_rx_all(c);
  advance(c, 10000);
  assert_int_equal(c->port.reboots, 1);

  /* A group address is refused by the schema, with the reason. */
  m.id = 12;
  m.u.set_mac.mac[0] = 0x03;
  uint8_t buf[64];
  size_t n;
  /* fp_msg_encode refuses it too, so build it with the other MAC and
   * patch the one byte. */
  m.u.set_mac.mac[0] = 0x02;
  assert_int_equal(fp_msg_encode(&m, c->codec, buf, sizeof buf, &n), 0);
  uint8_t *at = find_bytes(buf, n, mac, 6);
  assert_non_null(at);
  at[0] = 0x03;
  host_send_payload(c, buf, n);
  tick(c);
  a = next_msg(c, FP_MSG_ACK);
  assert_int_equal(a->id, 12);
  assert_false(a->u.ack.ok);
  assert_non_null(strstr(a->u.ack.err, "mac"));
  assert_int_equal(gw_saved_mac(&c->port, saved), 0);
  assert_memory_equal(saved, mac, 6);
  assert_int_equal(stats(c).bad_msg, 1);
}

static void test_set_mac_grace_and_nvs_failure(void **state)
{
  ((struct ctx *)*state)->raw = true;
  struct ctx *c = started(state);
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_SET_MAC;
  m.id = 11;
  const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x42};
  memcpy(m.u.set_mac.mac, mac, 6);
  c->port.nvs_fail = FARM_EIO;
  edge(c, &m);
  expect_ack(c, 11, false, FP_STAGE_GW, "nvs write failed");
  assert_int_equal(stats(c).nvs_err, 1);
  c->port.nvs_fail = 0;
  edge(c, &m);
  expect_ack(c, 11, true, FP_STAGE_GW, NULL);
  /* No rx ever comes: the reboot happens after the grace time. */
  advance(c, c->cfg.reboot_grace_ms - 1);
  assert_int_equal(c->port.reboots, 0);
  advance(c, 1);
  assert_int_equal(c->port.reboots, 1);
}

static void test_time_sync(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  pair_node(c, MAC_B, 1);
  pair_node(c, MAC_C, 5);
  edge_time_sync(c, 12, 1732646400000u);
  expect_ack(c, 12, true, FP_STAGE_GW, NULL);
  uint64_t wall;
  assert_int_equal(hal_wall_clock_get(&c->port, &wall), 0);
  assert_int_equal(wall, 1732646400000u);
  /* Each peer gets its own TIME (unicast: acknowledged and retried). */
  bool got[3] = {false, false, false};
  for (int i = 0; i < 3; i++) {
    const struct send_view *s = next_send(c);
    assert_int_equal(s->m.type, FP_RADIO_TIME);
    assert_int_equal(s->m.u.time.ts, 1732646400000u);
    int k = memcmp(s->mac, MAC_A, 6) == 0 ? 0 : memcmp(s->mac, MAC_B, 6) == 0 ? 1 : 2;
    got[k] = true;
    sent(c, s->mac, k != 1); /* B's is not delivered */
  }
  assert_true(got[0] && got[1] && got[2]);
  no_more_sends(c);
  advance(c, 1000);
  const struct send_view *s = next_send(c);
  assert_memory_equal(s->mac, MAC_B, 6);
  assert_int_equal(s->m.type, FP_RADIO_TIME);
  assert_int_equal(s->m.u.time.ts, 1732646401000u); /* the time now */
  sent(c, MAC_B, true);
  advance(c, 10000);
  no_more_sends(c);

  /* A clock that refuses the time: refused upward, nothing sent. */
  c->port.wall_set_rc = FARM_EINVAL;
  edge_time_sync(c, 13, 5);
  expect_ack(c, 13, false, FP_STAGE_GW, "time not accepted");
  no_more_sends(c);
}

static void test_stats_periodic(void **state)
{
  struct ctx *c = *state;
  c->cfg.stats_ms = 5000;
  boot_gateway(c);
  next_msg(c, FP_MSG_HELLO);
  edge_rx(c, 1);
  pair_node(c, MAC_A, 3);
  node_tel(c, MAC_C, 1, 1);                     /* unknown */
  node_tel(c, MAC_A, 3, 1);                     /* relayed */
  node_tel(c, MAC_A, 3, 1);                     /* replay */
  uint8_t junk[] = {0x04, 0x11, 0x22, 0x33, 0x00}; /* COBS fine, CRC not */
  fake_host_write(&c->port, junk, sizeof junk);
  skip_msgs(c);
  tick(c);
  while (hal_clock_ms(&c->port) < 1000 + 5000) /* booted at 1000 */
    advance(c, 100);
  const struct fp_msg *m = next_msg(c, FP_MSG_STATS);
  struct gw_stats st = stats(c);
  uint64_t want[64];
  const char *names[64];
  size_t n = 0;
#define WANT(field, wire, doc) names[n] = wire, want[n++] = st.field;
  GW_STATS_MAP(WANT)
#undef WANT
  names[n] = "peers", want[n++] = 1;
  assert_int_equal(m->u.stats.n_counters, n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(m->u.stats.v[i].name, names[i]);
    if (strncmp(names[i], "frames_", 7) == 0) {
      /* The traffic since the message was built (its own rx) counts too. */
      assert_true(m->u.stats.v[i].value > 0 && m->u.stats.v[i].value <= want[i]);
      continue;
    }
    assert_int_equal(m->u.stats.v[i].value, want[i]);
  }
  assert_int_equal(st.unknown_mac, 1);
  assert_int_equal(st.replay, 1);
  assert_int_equal(st.crc, 1);
  assert_true(st.frames_rx >= 3);
  assert_true(st.frames_tx >= 5);
  /* The next one a period later. */
  advance(c, 4999);
  skip_msgs(c);
  edge_rx_all(c);
  advance(c, 1);
  next_msg(c, FP_MSG_STATS);
}

static void test_serial_garbage(void **state)
{
  struct ctx *c = started(state);
  /* Random bytes between delimiters, a frame with a bad CRC, a COBS code
   * pointing past the frame, a run longer than any frame. */
  uint8_t garbage[] = {0x13, 0x37, 0x00, 0x02, 0x41, 0x00, 0x09, 0x01, 0x02, 0x00};
  fake_host_write(&c->port, garbage, sizeof garbage);
  struct fp_msg ping;
  memset(&ping, 0, sizeof ping);
  ping.type = FP_MSG_PING;
  ping.id = 5;
  uint8_t payload[64], wire[128];
  size_t len, n;
  assert_int_equal(fp_msg_encode(&ping, c->codec, payload, sizeof payload, &len), 0);
  assert_int_equal(fp_frame_encode(payload, len, wire, sizeof wire, &n), 0);
  wire[1] ^= 0x40;
  fake_host_write(&c->port, wire, n);
  static uint8_t run[3000];
  memset(run, 0x55, sizeof run);
  fake_host_write(&c->port, run, sizeof run);
  fake_host_write(&c->port, "", 1);
  tick(c);
  tick(c);
  no_more_msgs(c);
  struct gw_stats st = stats(c);
  /* 13 37: a code past the end; 02 41: one byte, no room for a CRC;
   * 09 01 02: a code past the end; the ping: CRC; the run: oversize. */
  assert_int_equal(st.crc, 1);
  assert_int_equal(st.cobs, 3);
  assert_int_equal(st.oversize, 1);

  /* A frame with a good CRC that is not a message: counted, and answered
   * when its id can be read. */
  struct fp_msg cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.type = FP_MSG_CMD;
  cmd.id = 6;
  memcpy(cmd.u.cmd.mac, MAC_A, 6);
  strcpy(cmd.u.cmd.name, "relay.set");
  assert_int_equal(fp_msg_encode(&cmd, c->codec, payload, sizeof payload, &len), 0);
  uint8_t *at = find_bytes(payload, len, "relay.set", 9);
  assert_non_null(at);
  at[0] = 'R'; /* outside [a-z0-9_.] */
  host_send_payload(c, payload, len);
  tick(c);
  const struct fp_msg *a = next_msg(c, FP_MSG_ACK);
  assert_int_equal(a->id, 6);
  assert_false(a->u.ack.ok);
  assert_int_equal(a->u.ack.stage, FP_STAGE_GW);
  assert_non_null(strstr(a->u.ack.err, "name"));
  /* Not even a map: counted, nothing to answer. */
  const uint8_t not_map[] = {0x01};
  host_send_payload(c, not_map, sizeof not_map);
  /* A gateway-to-edge message sent to the gateway. */
  struct fp_msg pong;
  memset(&pong, 0, sizeof pong);
  pong.type = FP_MSG_PONG;
  pong.gseq = 1;
  pong.id = 3;
  host_send(c, &pong);
  tick(c);
  no_more_msgs(c);
  assert_int_equal(stats(c).bad_msg, 3);
  /* The decoder is back in step: a ping works. */
  edge_simple(c, FP_MSG_PING, 8);
  expect_ack(c, 8, true, FP_STAGE_GW, NULL);
  next_msg(c, FP_MSG_PONG);
}

static void test_peers_survive_reboot(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  pair_node(c, MAC_B, 1);
  node_tel(c, MAC_A, 3, 10);
  skip_msgs(c);
  /* The marks are flushed on their period. */
  advance(c, c->cfg.persist_ms);
  fake_restart(&c->port);
  boot_gateway(c);
  assert_int_equal(next_msg(c, FP_MSG_HELLO)->u.hello.peers, 2);
  edge_rx(c, 1);
  const struct gw_peer *p = gw_peer_find(&c->gw, MAC_A);
  assert_non_null(p);
  assert_string_equal(p->asset, "greenhouse-2/north");
  assert_string_equal(p->fw, "1.0.0");
  assert_int_equal(p->boot, 3);
  assert_int_equal(p->seq, 10);
  node_tel(c, MAC_A, 3, 10);
  assert_int_equal(stats(c).replay, 1);
  node_tel(c, MAC_A, 3, 11);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.seq, 11);
  /* Commands reach a peer known from NVS (it gets a hardware slot). */
  edge_cmd(c, 5, MAC_B, "relay.set", 1);
  expect_ack(c, 5, true, FP_STAGE_GW, NULL);
  assert_int_equal(next_send(c)->m.u.cmd.id, 5);

  /* The marks are also written before a cfg:set_mac restart. */
  node_tel(c, MAC_A, 3, 12);
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_SET_MAC;
  m.id = 1;
  const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x42};
  memcpy(m.u.set_mac.mac, mac, 6);
  edge(c, &m);
  edge_rx_all(c);
  assert_int_equal(c->port.reboots, 1);
  fake_restart(&c->port);
  boot_gateway(c);
  assert_int_equal(gw_peer_find(&c->gw, MAC_A)->seq, 12);
}

static void test_corrupt_peer_record(void **state)
{
  struct ctx *c = *state;
  const uint8_t junk[] = {1, 2, 3};
  assert_int_equal(hal_nvs_set_blob(&c->port, "gw_p03", junk, sizeof junk), 0);
  struct gw_peer p;
  memset(&p, 0, sizeof p);
  p.used = true;
  memcpy(p.mac, MAC_A, 6);
  strcpy(p.fw, "1.0.0");
  p.boot = 7;
  p.seq = 70;
  uint8_t rec[GW__PEER_RECORD_MAX];
  size_t n = gw__peer_record(&p, rec, sizeof rec);
  assert_int_equal(n, 1 + 6 + 8 + 1 + 5 + 1);
  assert_int_equal(hal_nvs_set_blob(&c->port, "gw_p05", rec, n), 0);
  /* The same MAC twice: only the first is believed. */
  assert_int_equal(hal_nvs_set_blob(&c->port, "gw_p06", rec, n), 0);
  assert_int_equal(hal_nvs_commit(&c->port), 0);
  boot_gateway(c);
  assert_int_equal(gw_peer_count(&c->gw), 1);
  const struct gw_peer *q = gw_peer_find(&c->gw, MAC_A);
  assert_int_equal(q->boot, 7);
  assert_int_equal(q->seq, 70);
  assert_string_equal(q->asset, "");
  size_t len;
  uint8_t buf[128];
  assert_int_equal(hal_nvs_get_blob(&c->port, "gw_p03", buf, sizeof buf, &len), FARM_ENOENT);
  assert_int_equal(hal_nvs_get_blob(&c->port, "gw_p06", buf, sizeof buf, &len), FARM_ENOENT);

  /* The record parser refuses what it did not write. */
  struct gw_peer out;
  assert_true(gw__peer_parse(rec, n, &out));
  assert_false(gw__peer_parse(rec, n - 1, &out));
  assert_false(out.unkeyed);
  rec[0] = 2; /* a peer whose encrypted pairing was not confirmed */
  assert_true(gw__peer_parse(rec, n, &out));
  assert_true(out.unkeyed);
  p.unkeyed = true;
  uint8_t rec2[GW__PEER_RECORD_MAX];
  assert_int_equal(gw__peer_record(&p, rec2, sizeof rec2), n);
  assert_memory_equal(rec2, rec, n);
  rec[0] = 3;
  assert_false(gw__peer_parse(rec, n, &out));
  rec[0] = 0;
  assert_false(gw__peer_parse(rec, n, &out));
  rec[0] = 1;
  rec[1] |= 1; /* group MAC */
  assert_false(gw__peer_parse(rec, n, &out));
  rec[1] &= 0xfe;
  rec[15] = 0; /* empty fw */
  assert_false(gw__peer_parse(rec, n, &out));
  rec[15] = 5;
  rec[16] = 0xff; /* not UTF-8 */
  assert_false(gw__peer_parse(rec, n, &out));
}

static void test_hw_slots_lru(void **state)
{
  struct ctx *c = started(state);
  edge_pair_begin(c, 1, 600);
  uint8_t macs[30][6];
  for (int i = 0; i < 30; i++) {
    const uint8_t m[6] = {0x30, 0xae, 0xa4, 0x01, 0x00, (uint8_t)i};
    memcpy(macs[i], m, 6);
    node_join(c, macs[i], 1, "1.0.0", "");
    for (;;) {
      const struct send_view *s = next_send(c);
      sent(c, s->mac, true);
      if (c->sends_seen == c->port.nsent)
        break;
    }
  }
  assert_int_equal(gw_peer_count(&c->gw), 30);
  assert_true(c->port.nhw_max <= HAL_RADIO_HW_PEERS);
  /* TIME for all 30, with at most radio_inflight on the air. */
  edge_time_sync(c, 2, 1732646400000u);
  bool got[30] = {false};
  size_t total = 0;
  while (c->sends_seen < c->port.nsent) {
    assert_true(c->port.nsent - c->sends_seen <= c->cfg.radio_inflight);
    const struct send_view *s = next_send(c);
    assert_int_equal(s->m.type, FP_RADIO_TIME);
    got[s->mac[5]] = true;
    total++;
    sent(c, s->mac, true);
  }
  assert_int_equal(total, 30);
  for (int i = 0; i < 30; i++)
    assert_true(got[i]);
  assert_true(c->port.nhw_max <= HAL_RADIO_HW_PEERS);
  assert_true(c->port.dels >= 10);
}

static void test_join_table_full(void **state)
{
  struct ctx *c = started(state);
  edge_pair_begin(c, 1, 600);
  for (int i = 0; i < GW_MAX_PEERS; i++) {
    const uint8_t m[6] = {0x30, 0xae, 0xa4, 0x02, 0x00, (uint8_t)i};
    node_join(c, m, 1, "1.0.0", "");
    while (c->sends_seen < c->port.nsent)
      sent(c, next_send(c)->mac, true);
    tick(c);
  }
  assert_int_equal(gw_peer_count(&c->gw), GW_MAX_PEERS);
  skip_msgs(c);
  node_join(c, MAC_A, 1, "1.0.0", "");
  tick(c);
  assert_int_equal(stats(c).join_full, 1);
  assert_int_equal(stats(c).ring_drop_oth, 0);
  const struct fp_msg *e = next_msg(c, FP_MSG_EVT);
  assert_string_equal(e->u.evt.name, "join.refused");
  assert_memory_equal(e->u.evt.mac, MAC_A, 6);
  no_more_sends(c);
}

/* ---- encryption (docs/firmware-gateway.md §5.1) --------------------------- */

static struct ctx *started_encrypted(void **state)
{
  struct ctx *c = *state;
  c->cfg.encrypt = true;
  return started(state);
}

/* The kind byte of mac's peer record in committed NVS (1 a peer, 2 one
 * whose encrypted pairing is unconfirmed), or -1. */
static int record_kind(struct ctx *c, const uint8_t mac[6])
{
  for (int i = 0; i < GW_MAX_PEERS; i++) {
    char key[8];
    snprintf(key, sizeof key, "gw_p%02d", i);
    uint8_t buf[GW__PEER_RECORD_MAX];
    size_t len;
    if (hal_nvs_get_blob(&c->port, key, buf, sizeof buf, &len) == 0 && len > 7 &&
        memcmp(buf + 1, mac, 6) == 0)
      return buf[0];
  }
  return -1;
}

/* Pairs mac under encryption: the clear JOIN_ACK, then the encrypted one,
 * both delivered. */
static void pair_node_encrypted(struct ctx *c, const uint8_t mac[6], uint32_t boot)
{
  node_join(c, mac, boot, "1.0.0", "greenhouse-2/north");
  const struct send_view *s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  assert_false(fake_hw_encrypted(&c->port, mac));
  sent(c, mac, true);
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  assert_true(fake_hw_encrypted(&c->port, mac));
  sent(c, mac, true);
  skip_msgs(c);
}

/* The node can only read a JOIN_ACK in clear, and the gateway can only
 * read the node's encrypted frames once it lists it encrypted: the slot is
 * clear for the first JOIN_ACK, encrypted from its delivery on, and a
 * second, encrypted JOIN_ACK tells the node the gateway can read it. */
static void test_encrypted_pairing(void **state)
{
  struct ctx *c = started_encrypted(state);
  edge_pair_begin(c, 1, 60);
  skip_msgs(c);
  node_join(c, MAC_A, 3, "1.0.0", "greenhouse-2/north");
  assert_int_equal(next_msg(c, FP_MSG_PEER)->u.peer.state, FP_PEER_JOINED);
  expect_evt(c, MAC_A, "join");
  const struct send_view *s = next_send(c);
  assert_memory_equal(s->mac, MAC_A, 6);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  uint32_t seq1 = s->m.seq;
  assert_true(fake_hw_has(&c->port, MAC_A));
  assert_false(fake_hw_encrypted(&c->port, MAC_A));
  no_more_sends(c);
  const struct gw_peer *p = gw_peer_find(&c->gw, MAC_A);
  assert_true(p->unkeyed);
  assert_int_equal(record_kind(c, MAC_A), 2);

  /* Step 1 delivered: the slot becomes encrypted, the second JOIN_ACK
   * follows at once, encrypted. */
  sent(c, MAC_A, true);
  assert_true(fake_hw_encrypted(&c->port, MAC_A));
  assert_int_equal(c->port.mods, 1);
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  assert_true(s->m.seq > seq1);
  assert_int_equal(s->m.u.join_ack.ch, 6);
  no_more_sends(c);
  assert_true(p->unkeyed);
  assert_int_equal(record_kind(c, MAC_A), 2);

  /* Step 2 delivered: confirmed and persisted; nothing more is sent. */
  sent(c, MAC_A, true);
  assert_false(p->unkeyed);
  assert_int_equal(record_kind(c, MAC_A), 1);
  advance(c, 60000);
  no_more_sends(c);
  assert_true(fake_hw_encrypted(&c->port, MAC_A));
  assert_int_equal(c->port.mods, 1);
  skip_msgs(c);
  node_tel(c, MAC_A, 3, 1);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.seq, 1);

  /* A restart lists the confirmed peer encrypted before anything else,
   * sends it nothing, and hears it. */
  fake_restart(&c->port);
  assert_false(fake_hw_has(&c->port, MAC_A));
  boot_gateway(c);
  assert_true(fake_hw_encrypted(&c->port, MAC_A));
  tick(c);
  no_more_sends(c);
  skip_msgs(c);
  node_tel(c, MAC_A, 3, 2);
  assert_int_equal(next_msg(c, FP_MSG_TEL)->u.tel.seq, 2);
}

/* A JOIN_ACK that was not delivered may still have been read (only its
 * acknowledgement lost): the node is then paired and never JOINs again, so
 * with encryption the gateway retries, backing off, until one is
 * delivered. Until then nothing else goes to the node. */
static void test_encrypted_join_ack_retried(void **state)
{
  struct ctx *c = started_encrypted(state);
  edge_pair_begin(c, 1, 60);
  node_join(c, MAC_A, 3, "1.0.0", "");
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, false);
  edge_cmd(c, 7, MAC_A, "relay.set", 1);
  edge_time_sync(c, 8, 1732646400000u);
  skip_msgs(c);
  /* The command and the TIME wait for the JOIN_ACK, and so does the
   * gateway's next wake-up. */
  assert_int_equal(gw_next_deadline(&c->gw), hal_clock_ms(&c->port) + c->cfg.retry_ms);
  uint64_t wait = c->cfg.retry_ms;
  for (int attempt = 0; attempt < 8; attempt++) {
    advance(c, wait - 1);
    no_more_sends(c);
    advance(c, 1);
    const struct send_view *s = next_send(c);
    assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
    assert_false(fake_hw_encrypted(&c->port, MAC_A));
    no_more_sends(c);
    sent(c, MAC_A, false);
    /* retry_ms, doubling up to 64 times it */
    wait = wait * 2 > 64u * c->cfg.retry_ms ? 64u * c->cfg.retry_ms : wait * 2;
  }
  assert_int_equal(wait, 64u * c->cfg.retry_ms);
  assert_int_equal(stats(c).radio_fail, 9);
  /* A send timeout is a failure too. */
  advance(c, wait);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  advance(c, c->cfg.send_timeout_ms);
  assert_int_equal(stats(c).radio_fail, 10);
  advance(c, wait);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  assert_int_equal(gw_next_deadline(&c->gw), hal_clock_ms(&c->port) + c->cfg.send_timeout_ms);
  /* Delivered at last: the encrypted JOIN_ACK, then the waiting TIME and
   * command. */
  sent(c, MAC_A, true);
  const struct send_view *s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  assert_true(fake_hw_encrypted(&c->port, MAC_A));
  sent(c, MAC_A, true);
  assert_false(gw_peer_find(&c->gw, MAC_A)->unkeyed);
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_TIME);
  sent(c, MAC_A, true);
  s = next_send(c);
  assert_int_equal(s->m.type, FP_RADIO_CMD);
  assert_int_equal(s->m.u.cmd.id, 7);
}

/* With encryption every node keeps an encrypted slot: 17 nodes pair, the
 * 18th is refused with an event, and no slot is ever taken back. */
static void test_encrypted_limit(void **state)
{
  struct ctx *c = started_encrypted(state);
  edge_pair_begin(c, 1, 600);
  uint8_t macs[HAL_RADIO_HW_PEERS_ENCRYPTED + 1][6];
  for (int i = 0; i < HAL_RADIO_HW_PEERS_ENCRYPTED; i++) {
    const uint8_t m[6] = {0x30, 0xae, 0xa4, 0x03, 0x00, (uint8_t)i};
    memcpy(macs[i], m, 6);
    pair_node_encrypted(c, macs[i], 1);
  }
  assert_int_equal(gw_peer_count(&c->gw), HAL_RADIO_HW_PEERS_ENCRYPTED);
  assert_int_equal(fake_hw_encrypted_count(&c->port), HAL_RADIO_HW_PEERS_ENCRYPTED);
  for (int i = 0; i < 4; i++) {
    tick(c); /* the uplink window: what is left of the joins' messages */
    skip_msgs(c);
  }
  const uint8_t extra[6] = {0x30, 0xae, 0xa4, 0x03, 0x00, 0x99};
  node_join(c, extra, 1, "1.0.0", "");
  tick(c);
  assert_int_equal(stats(c).join_full, 1);
  const struct fp_msg *e = next_msg(c, FP_MSG_EVT);
  assert_string_equal(e->u.evt.name, "join.refused");
  assert_memory_equal(e->u.evt.mac, extra, 6);
  assert_string_equal(e->u.evt.args[0].key, "reason");
  assert_string_equal(e->u.evt.args[0].v.s, "encrypted peer limit");
  no_more_msgs(c);
  no_more_sends(c);
  assert_null(gw_peer_find(&c->gw, extra));
  assert_false(fake_hw_has(&c->port, extra));

  /* TIME to all 17, then each one's reading: nothing was evicted. */
  edge_time_sync(c, 2, 1732646400000u);
  size_t total = 0;
  while (c->sends_seen < c->port.nsent) {
    const struct send_view *s = next_send(c);
    assert_int_equal(s->m.type, FP_RADIO_TIME);
    sent(c, s->mac, true);
    total++;
  }
  assert_int_equal(total, HAL_RADIO_HW_PEERS_ENCRYPTED);
  assert_int_equal(c->port.dels, 0);
  assert_int_equal(fake_hw_encrypted_count(&c->port), HAL_RADIO_HW_PEERS_ENCRYPTED);
  skip_msgs(c);
  for (int i = 0; i < HAL_RADIO_HW_PEERS_ENCRYPTED; i++) {
    node_tel(c, macs[i], 1, 1);
    assert_memory_equal(next_msg(c, FP_MSG_TEL)->u.tel.mac, macs[i], 6);
  }
}

/* A restart in the middle of a pairing starts it again from the clear
 * JOIN_ACK; a confirmed peer is listed encrypted at boot. */
static void test_encrypted_restart_mid_pairing(void **state)
{
  struct ctx *c = started_encrypted(state);
  edge_pair_begin(c, 1, 60);
  pair_node_encrypted(c, MAC_B, 2);
  node_join(c, MAC_A, 3, "1.0.0", "");
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true); /* step 1 done, step 2 on the air */
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  fake_restart(&c->port);
  boot_gateway(c);
  assert_true(fake_hw_encrypted(&c->port, MAC_B));
  assert_true(fake_hw_has(&c->port, MAC_A));
  assert_false(fake_hw_encrypted(&c->port, MAC_A));
  assert_true(gw_peer_find(&c->gw, MAC_A)->unkeyed);
  assert_false(gw_peer_find(&c->gw, MAC_B)->unkeyed);
  tick(c);
  const struct send_view *s = next_send(c);
  assert_memory_equal(s->mac, MAC_A, 6);
  assert_int_equal(s->m.type, FP_RADIO_JOIN_ACK);
  no_more_sends(c);
  /* The node has the key already and drops the clear frame, but its radio
   * acknowledges it: the pairing goes on. */
  sent(c, MAC_A, true);
  assert_true(fake_hw_encrypted(&c->port, MAC_A));
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true);
  assert_false(gw_peer_find(&c->gw, MAC_A)->unkeyed);
  assert_int_equal(record_kind(c, MAC_A), 1);
}

/* A confirmed node does not JOIN again in the same boot: outside a pairing
 * window such a JOIN is a replay and must not put its slot back in clear. A
 * JOIN of a new boot (a node that lost its pairing), or of the same boot
 * inside a window (NVS erased, counter back to that boot), starts the
 * pairing again. */
static void test_encrypted_join_replay(void **state)
{
  struct ctx *c = started_encrypted(state);
  edge_pair_begin(c, 1, 60);
  pair_node_encrypted(c, MAC_A, 3);
  edge_simple(c, FP_MSG_PAIR_END, 2);
  node_join(c, MAC_A, 3, "1.0.0", "greenhouse-2/north");
  assert_int_equal(stats(c).replay, 1);
  no_more_sends(c);
  assert_true(fake_hw_encrypted(&c->port, MAC_A));
  edge_pair_begin(c, 3, 60);
  node_join(c, MAC_A, 3, "1.0.0", "greenhouse-2/north");
  assert_int_equal(stats(c).replay, 1);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  assert_false(fake_hw_encrypted(&c->port, MAC_A));
  sent(c, MAC_A, true);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true);
  assert_false(gw_peer_find(&c->gw, MAC_A)->unkeyed);
  edge_simple(c, FP_MSG_PAIR_END, 4);
  node_join(c, MAC_A, 4, "1.0.0", "greenhouse-2/north");
  assert_int_equal(stats(c).replay, 1);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  assert_false(fake_hw_encrypted(&c->port, MAC_A));
  assert_true(gw_peer_find(&c->gw, MAC_A)->unkeyed);
  assert_int_equal(record_kind(c, MAC_A), 2);
  /* While unconfirmed, a repeated JOIN of that boot is answered. */
  sent(c, MAC_A, false);
  node_join(c, MAC_A, 4, "1.0.0", "greenhouse-2/north");
  assert_int_equal(stats(c).replay, 1);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true);
  assert_int_equal(next_send(c)->m.type, FP_RADIO_JOIN_ACK);
  sent(c, MAC_A, true);
  assert_false(gw_peer_find(&c->gw, MAC_A)->unkeyed);
}

static void test_radio_busy_and_errors(void **state)
{
  struct ctx *c = started(state);
  pair_node(c, MAC_A, 3);
  /* The radio queue is full: the command waits and goes later. */
  c->port.send_rc = FARM_EBUSY;
  edge_cmd(c, 7, MAC_A, "relay.set", 1);
  expect_ack(c, 7, true, FP_STAGE_GW, NULL);
  no_more_sends(c);
  c->port.send_rc = 0;
  tick(c);
  assert_int_equal(next_send(c)->m.u.cmd.id, 7);
  sent(c, MAC_A, true);
  node_cmd_ack(c, MAC_A, 3, 1, 7, true, NULL);
  expect_ack(c, 7, true, FP_STAGE_NODE, NULL);
  /* A hard radio error counts as a failed try. */
  c->port.send_rc = FARM_EIO;
  edge_cmd(c, 8, MAC_A, "relay.set", 1);
  expect_ack(c, 8, true, FP_STAGE_GW, NULL);
  for (unsigned i = 0; i < c->cfg.cmd_tries; i++)
    advance(c, c->cfg.retry_ms);
  expect_ack(c, 8, false, FP_STAGE_NODE, "timeout");
  no_more_sends(c);
}

static void test_next_deadline(void **state)
{
  struct ctx *c = started(state);
  uint64_t now = hal_clock_ms(&c->port);
  assert_true(gw_next_deadline(&c->gw) <= now + 1000);
  assert_true(gw_next_deadline(&c->gw) >= now);
  pair_node(c, MAC_A, 3);
  node_tel(c, MAC_A, 3, 1);
  /* The resend timer of the unacknowledged reading. */
  now = hal_clock_ms(&c->port);
  c->cfg.resend_ms = 300;
  assert_int_equal(gw_next_deadline(&c->gw), now + 300);
  /* With the cable out nothing can be resent, so the resend timer must not
   * ask to be woken (it used to return "now" forever: a busy loop). */
  c->port.connected = false;
  tick(c);
  advance(c, 1000);
  now = hal_clock_ms(&c->port);
  assert_true(gw_next_deadline(&c->gw) > now);
}

/* ---- pieces ------------------------------------------------------------- */

static void test_gseq_splice(void **state)
{
  struct ctx *c = *state;
  static const uint32_t values[] = {1,     2,     23,    24,         127,       128,
                                    255,   256,   65535, 65536,      0x7fffffff, 0xfffffffe,
                                    0xffffffff};
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_TEL;
  memcpy(m.u.tel.mac, MAC_A, 6);
  m.u.tel.rssi = -60;
  m.u.tel.boot = 3;
  m.u.tel.seq = 42;
  m.u.tel.up_ms = 123456;
  m.u.tel.n_metrics = 1;
  strcpy(m.u.tel.v[0].name, "temp_c");
  m.u.tel.v[0].value = 21.5;
  uint8_t tmpl[256], want[256], got[256];
  size_t tlen, wlen, glen, at;
  m.gseq = 1;
  assert_int_equal(fp_msg_encode(&m, c->codec, tmpl, sizeof tmpl, &tlen), 0);
  assert_int_equal(gw__gseq_offset(tmpl, tlen, c->codec, &at), 0);
  assert_int_equal(tmpl[at], 0x01);
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    m.gseq = values[i];
    assert_int_equal(fp_msg_encode(&m, c->codec, want, sizeof want, &wlen), 0);
    assert_int_equal(gw__splice_gseq(tmpl, tlen, at, c->codec, values[i], got, sizeof got, &glen),
                     0);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
  }
  assert_int_equal(gw__splice_gseq(tmpl, tlen, at, c->codec, 0xffffffff, got, tlen, &glen),
                   FARM_ENOSPC);
  /* A map without gseq. */
  m.type = FP_MSG_PING;
  m.id = 3;
  assert_int_equal(fp_msg_encode(&m, c->codec, tmpl, sizeof tmpl, &tlen), 0);
  assert_int_equal(gw__gseq_offset(tmpl, tlen, c->codec, &at), FARM_EMISSING);
}

static void test_rssi_smoothing(void **state)
{
  (void)state;
  struct gw_peer p;
  memset(&p, 0, sizeof p);
  assert_int_equal(gw_peer_rssi(&p), 0);
  gw__rssi_update(&p, -60);
  assert_int_equal(gw_peer_rssi(&p), -60);
  /* One sample of -80 moves it by 1/8 of the difference: -62.5. */
  gw__rssi_update(&p, -80);
  assert_int_equal(p.rssi_x16, -1000);
  assert_int_equal(gw_peer_rssi(&p), -63);
  /* A steady -80 is reached, to within the 1/16 dBm resolution. */
  for (int i = 0; i < 100; i++)
    gw__rssi_update(&p, -80);
  assert_int_equal(gw_peer_rssi(&p), -80);
  for (int i = 0; i < 100; i++)
    gw__rssi_update(&p, -40);
  assert_int_equal(gw_peer_rssi(&p), -40);
}

static void test_strlcpy_utf8(void **state)
{
  (void)state;
  char out[5];
  gw__strlcpy(out, "abcdef", sizeof out);
  assert_string_equal(out, "abcd");
  gw__strlcpy(out, "ab\xc3\xa9z", sizeof out); /* "abéz" */
  assert_string_equal(out, "ab\xc3\xa9");
  gw__strlcpy(out, "abc\xc3\xa9", sizeof out); /* é would be split */
  assert_string_equal(out, "abc");
}

#define BOTH(t)                                                                                   \
  cmocka_unit_test_setup_teardown(t, setup_mp, teardown),                                        \
      cmocka_unit_test_setup_teardown(t, setup_cbor, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      BOTH(test_hello_at_boot),
      BOTH(test_init_errors),
      BOTH(test_ping_pong),
      BOTH(test_pairing_window),
      BOTH(test_pairing_at_boot),
      BOTH(test_tel_relayed),
      BOTH(test_replay_dropped),
      BOTH(test_bad_radio_frames),
      BOTH(test_resend_after_timeout),
      BOTH(test_resend_after_reconnect),
      BOTH(test_edge_back_after_silence),
      BOTH(test_partial_writes),
      BOTH(test_ring_overflow),
      BOTH(test_overflow_keeps_hello_and_acks),
      BOTH(test_window_limits_numbering),
      BOTH(test_cmd_two_stage),
      BOTH(test_cmd_retries_exhausted),
      BOTH(test_cmd_no_answer_then_retry),
      BOTH(test_cmd_duplicate_ids),
      BOTH(test_cmd_refused),
      BOTH(test_set_mac),
      BOTH(test_set_mac_grace_and_nvs_failure),
      BOTH(test_time_sync),
      BOTH(test_stats_periodic),
      BOTH(test_serial_garbage),
      BOTH(test_peers_survive_reboot),
      BOTH(test_corrupt_peer_record),
      BOTH(test_hw_slots_lru),
      BOTH(test_join_table_full),
      BOTH(test_encrypted_pairing),
      BOTH(test_encrypted_join_ack_retried),
      BOTH(test_encrypted_limit),
      BOTH(test_encrypted_restart_mid_pairing),
      BOTH(test_encrypted_join_replay),
      BOTH(test_radio_busy_and_errors),
      BOTH(test_next_deadline),
      BOTH(test_gseq_splice),
      cmocka_unit_test_setup_teardown(test_rssi_smoothing, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_strlcpy_utf8, setup_mp, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
