/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the serial message schema (fp/msg.h, docs/protocol.md §4-§5)
 * and the codec-neutral reader/writer names (fp/codec.h): round trips of
 * every type in both codecs, byte vectors worked out by hand from the
 * MessagePack spec and RFC 8949, every rejection class of BAD-INPUTS.md 4
 * and 13 with its code and key, and the encoder's refusal of invalid
 * structs. Run with `--write-corpus DIR` it writes the fuzzer's seed corpus
 * (every sample message in both codecs) instead of testing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "farm/error.h"
#include "fp/codec.h"
#include "fp/msg.h"
#include "testsupport.h"

static const enum fp_codec codecs[] = {FP_CODEC_MSGPACK, FP_CODEC_CBOR};
#define N_CODECS (sizeof codecs / sizeof codecs[0])

static const uint8_t node_mac[FP_MAC_LEN] = {0xa1, 0xb2, 0xc3,
                                             0xd4, 0xe5, 0xf6};
static const uint8_t gw_mac[FP_MAC_LEN] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01};

/* ------------------------------------------------------------------ */
/* Sample messages                                                    */

static void set_metric(struct fp_msg_tel *t, const char *name, double v)
{
  snprintf(t->v[t->n_metrics].name, sizeof t->v[0].name, "%s", name);
  t->v[t->n_metrics].value = v;
  t->n_metrics++;
}

static struct fp_arg *add_arg(struct fp_arg *args, uint8_t *n, const char *key,
                              enum fp_arg_kind kind)
{
  struct fp_arg *a = &args[(*n)++];
  snprintf(a->key, sizeof a->key, "%s", key);
  a->kind = kind;
  return a;
}

/* A message of each type; `full` sets every optional field. */
static void sample(enum fp_msg_type type, bool full, struct fp_msg *m)
{
  memset(m, 0, sizeof *m);
  m->type = type;
  if (fp_msg_is_uplink(type))
    m->gseq = 1 + (uint32_t)type;
  switch (type) {
  case FP_MSG_HELLO:
    memcpy(m->u.hello.mac, gw_mac, FP_MAC_LEN);
    strcpy(m->u.hello.fw, "1.4.2");
    m->u.hello.ch = full ? 14 : 1;
    m->u.hello.peers = full ? 65535 : 0;
    m->u.hello.boot = full ? UINT32_MAX : 7;
    break;
  case FP_MSG_TEL: {
    struct fp_msg_tel *t = &m->u.tel;
    memcpy(t->mac, node_mac, FP_MAC_LEN);
    t->rssi = full ? -127 : 0;
    t->boot = 3;
    t->seq = 42;
    t->up_ms = full ? UINT64_MAX : 123456;
    set_metric(t, "temp_c", 21.5);
    if (full) {
      t->syn = true;
      set_metric(t, "rh_pct", 55.25);
      set_metric(t, "lux", 200000);
      set_metric(t, "air_ppm", 412.7); /* not exact in float32 */
      set_metric(t, "soil_vwc", -0.0);
      set_metric(t, "battery_v", 3.3);
      set_metric(t, "big", 1e300);
      set_metric(t, "tiny", -5e-324);
    }
    break;
  }
  case FP_MSG_EVT: {
    struct fp_msg_evt *e = &m->u.evt;
    memcpy(e->mac, node_mac, FP_MAC_LEN);
    strcpy(e->name, full ? "relay.changed" : "boot");
    if (full) {
      e->has_boot = true;
      e->boot = 3;
      e->has_seq = true;
      e->seq = 0;
      add_arg(e->args, &e->n_args, "relay", FP_ARG_INT)->v.i = 2;
      add_arg(e->args, &e->n_args, "on", FP_ARG_BOOL)->v.b = true;
      add_arg(e->args, &e->n_args, "level", FP_ARG_FLOAT)->v.f = 0.1;
      strcpy(add_arg(e->args, &e->n_args, "src", FP_ARG_STR)->v.s, "button");
      add_arg(e->args, &e->n_args, "neg", FP_ARG_INT)->v.i = -5;
    }
    break;
  }
  case FP_MSG_PEER: {
    struct fp_msg_peer *p = &m->u.peer;
    memcpy(p->mac, node_mac, FP_MAC_LEN);
    p->state = full ? FP_PEER_UPDATED : FP_PEER_REMOVED;
    if (full) {
      strcpy(p->asset, "greenhouse-2/north");
      p->has_rssi = true;
      p->rssi = -71;
      strcpy(p->fw, "1.4.2");
    }
    break;
  }
  case FP_MSG_ACK:
    m->id = full ? UINT32_MAX : 0;
    m->u.ack.ok = !full;
    m->u.ack.stage = full ? FP_STAGE_NODE : FP_STAGE_GW;
    if (full)
      strcpy(m->u.ack.err, "relay fault");
    break;
  case FP_MSG_PONG:
    m->id = 9;
    m->u.pong.up_ms = 5000;
    break;
  case FP_MSG_LOG:
    m->u.log.lvl = full ? 4 : 0;
    strcpy(m->u.log.msg, full ? "peer table full (caf\xc3\xa9)" : "");
    break;
  case FP_MSG_STATS:
    if (full) {
      struct fp_msg_stats *s = &m->u.stats;
      strcpy(s->v[0].name, "frames");
      s->v[0].value = 1000;
      strcpy(s->v[1].name, "crc");
      s->v[1].value = 0;
      strcpy(s->v[2].name, "bytes_total");
      s->v[2].value = UINT64_MAX;
      s->n_counters = 3;
    }
    break;
  case FP_MSG_RX:
    m->gseq = full ? UINT32_MAX : 1;
    break;
  case FP_MSG_CMD: {
    struct fp_msg_cmd *c = &m->u.cmd;
    m->id = 10;
    memcpy(c->mac, node_mac, FP_MAC_LEN);
    strcpy(c->name, full ? "relay.set" : "reboot");
    if (full) {
      add_arg(c->args, &c->n_args, "relay", FP_ARG_INT)->v.i = 3;
      add_arg(c->args, &c->n_args, "on", FP_ARG_BOOL)->v.b = false;
      add_arg(c->args, &c->n_args, "duration_s", FP_ARG_INT)->v.i = 60;
      strcpy(add_arg(c->args, &c->n_args, "label", FP_ARG_STR)->v.s, "pump");
      add_arg(c->args, &c->n_args, "ratio", FP_ARG_FLOAT)->v.f = -1.25;
      add_arg(c->args, &c->n_args, "min", FP_ARG_INT)->v.i = INT64_MIN;
      add_arg(c->args, &c->n_args, "max", FP_ARG_INT)->v.i = INT64_MAX;
      strcpy(add_arg(c->args, &c->n_args, "empty", FP_ARG_STR)->v.s, "");
    }
    break;
  }
  case FP_MSG_SET_MAC: {
    static const uint8_t mac[FP_MAC_LEN] = {0x02, 0, 0, 0, 0, 0x01};
    m->id = 11;
    memcpy(m->u.set_mac.mac, mac, FP_MAC_LEN);
    break;
  }
  case FP_MSG_TIME_SYNC:
    m->id = 12;
    m->u.time_sync.ts = 1732646400000u;
    break;
  case FP_MSG_PAIR_BEGIN:
    m->id = 13;
    m->u.pair_begin.duration_s = full ? 3600 : 1;
    break;
  case FP_MSG_PAIR_END:
    m->id = 14;
    break;
  case FP_MSG_PING:
    m->id = full ? 15 : 0;
    break;
  case FP_MSG_TYPE_COUNT:
    fail();
  }
}

static void assert_same_double(double a, double b)
{
  if (memcmp(&a, &b, sizeof a) != 0)
    fail_msg("double %a != %a", a, b);
}

static void assert_args_equal(const struct fp_arg *a, const struct fp_arg *b,
                              unsigned n)
{
  for (unsigned i = 0; i < n; i++) {
    assert_string_equal(a[i].key, b[i].key);
    assert_int_equal(a[i].kind, b[i].kind);
    switch (a[i].kind) {
    case FP_ARG_INT:
      assert_true(a[i].v.i == b[i].v.i);
      break;
    case FP_ARG_FLOAT:
      assert_same_double(a[i].v.f, b[i].v.f);
      break;
    case FP_ARG_BOOL:
      assert_int_equal(a[i].v.b, b[i].v.b);
      break;
    case FP_ARG_STR:
      assert_string_equal(a[i].v.s, b[i].v.s);
      break;
    }
  }
}

/* Field by field, so a failure names the field. */
static void assert_msg_equal(const struct fp_msg *a, const struct fp_msg *b)
{
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->gseq, b->gseq);
  assert_int_equal(a->id, b->id);
  switch (a->type) {
  case FP_MSG_HELLO:
    assert_memory_equal(a->u.hello.mac, b->u.hello.mac, FP_MAC_LEN);
    assert_string_equal(a->u.hello.fw, b->u.hello.fw);
    assert_int_equal(a->u.hello.ch, b->u.hello.ch);
    assert_int_equal(a->u.hello.peers, b->u.hello.peers);
    assert_int_equal(a->u.hello.boot, b->u.hello.boot);
    break;
  case FP_MSG_TEL:
    assert_memory_equal(a->u.tel.mac, b->u.tel.mac, FP_MAC_LEN);
    assert_int_equal(a->u.tel.rssi, b->u.tel.rssi);
    assert_int_equal(a->u.tel.syn, b->u.tel.syn);
    assert_int_equal(a->u.tel.boot, b->u.tel.boot);
    assert_int_equal(a->u.tel.seq, b->u.tel.seq);
    assert_true(a->u.tel.up_ms == b->u.tel.up_ms);
    assert_int_equal(a->u.tel.n_metrics, b->u.tel.n_metrics);
    for (unsigned i = 0; i < a->u.tel.n_metrics; i++) {
      assert_string_equal(a->u.tel.v[i].name, b->u.tel.v[i].name);
      assert_same_double(a->u.tel.v[i].value, b->u.tel.v[i].value);
    }
    break;
  case FP_MSG_EVT:
    assert_memory_equal(a->u.evt.mac, b->u.evt.mac, FP_MAC_LEN);
    assert_string_equal(a->u.evt.name, b->u.evt.name);
    assert_int_equal(a->u.evt.has_boot, b->u.evt.has_boot);
    assert_int_equal(a->u.evt.boot, b->u.evt.boot);
    assert_int_equal(a->u.evt.has_seq, b->u.evt.has_seq);
    assert_int_equal(a->u.evt.seq, b->u.evt.seq);
    assert_int_equal(a->u.evt.n_args, b->u.evt.n_args);
    assert_args_equal(a->u.evt.args, b->u.evt.args, a->u.evt.n_args);
    break;
  case FP_MSG_PEER:
    assert_memory_equal(a->u.peer.mac, b->u.peer.mac, FP_MAC_LEN);
    assert_int_equal(a->u.peer.state, b->u.peer.state);
    assert_int_equal(a->u.peer.has_rssi, b->u.peer.has_rssi);
    assert_int_equal(a->u.peer.rssi, b->u.peer.rssi);
    assert_string_equal(a->u.peer.asset, b->u.peer.asset);
    assert_string_equal(a->u.peer.fw, b->u.peer.fw);
    break;
  case FP_MSG_ACK:
    assert_int_equal(a->u.ack.ok, b->u.ack.ok);
    assert_int_equal(a->u.ack.stage, b->u.ack.stage);
    assert_string_equal(a->u.ack.err, b->u.ack.err);
    break;
  case FP_MSG_PONG:
    assert_true(a->u.pong.up_ms == b->u.pong.up_ms);
    break;
  case FP_MSG_LOG:
    assert_int_equal(a->u.log.lvl, b->u.log.lvl);
    assert_string_equal(a->u.log.msg, b->u.log.msg);
    break;
  case FP_MSG_STATS:
    assert_int_equal(a->u.stats.n_counters, b->u.stats.n_counters);
    for (unsigned i = 0; i < a->u.stats.n_counters; i++) {
      assert_string_equal(a->u.stats.v[i].name, b->u.stats.v[i].name);
      assert_true(a->u.stats.v[i].value == b->u.stats.v[i].value);
    }
    break;
  case FP_MSG_CMD:
    assert_memory_equal(a->u.cmd.mac, b->u.cmd.mac, FP_MAC_LEN);
    assert_string_equal(a->u.cmd.name, b->u.cmd.name);
    assert_int_equal(a->u.cmd.n_args, b->u.cmd.n_args);
    assert_args_equal(a->u.cmd.args, b->u.cmd.args, a->u.cmd.n_args);
    break;
  case FP_MSG_SET_MAC:
    assert_memory_equal(a->u.set_mac.mac, b->u.set_mac.mac, FP_MAC_LEN);
    break;
  case FP_MSG_TIME_SYNC:
    assert_true(a->u.time_sync.ts == b->u.time_sync.ts);
    break;
  case FP_MSG_PAIR_BEGIN:
    assert_int_equal(a->u.pair_begin.duration_s, b->u.pair_begin.duration_s);
    break;
  case FP_MSG_RX:
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
    break;
  case FP_MSG_TYPE_COUNT:
    fail();
  }
}

/* ------------------------------------------------------------------ */
/* Names                                                              */

static void test_type_names(void **state)
{
  (void)state;
  static const char *const names[FP_MSG_TYPE_COUNT] = {
    "hello", "tel", "evt", "peer", "ack", "pong", "log", "stats",
    "rx", "cmd", "cfg:set_mac", "time_sync", "pair_begin", "pair_end",
    "ping"};
  for (int t = 0; t < FP_MSG_TYPE_COUNT; t++) {
    enum fp_msg_type parsed = FP_MSG_TYPE_COUNT;
    assert_string_equal(fp_msg_type_name((enum fp_msg_type)t), names[t]);
    assert_int_equal(fp_msg_type_parse(names[t], &parsed), 0);
    assert_int_equal(parsed, t);
    assert_int_equal(fp_msg_is_uplink((enum fp_msg_type)t), t <= FP_MSG_STATS);
  }
  enum fp_msg_type t;
  assert_int_equal(fp_msg_type_parse("Tel", &t), FARM_EUNKNOWN);
  assert_int_equal(fp_msg_type_parse("set_mac", &t), FARM_EUNKNOWN);
  assert_int_equal(fp_msg_type_parse("", &t), FARM_EUNKNOWN);
  assert_int_equal(fp_msg_type_parse(NULL, &t), FARM_EUNKNOWN);
  assert_string_equal(fp_msg_type_name(FP_MSG_TYPE_COUNT), "?");
}

static void test_codec_names(void **state)
{
  (void)state;
  enum fp_codec c = FP_CODEC_CBOR;
  assert_int_equal(fp_codec_parse("msgpack", &c), 0);
  assert_int_equal(c, FP_CODEC_MSGPACK);
  assert_int_equal(fp_codec_parse("cbor", &c), 0);
  assert_int_equal(c, FP_CODEC_CBOR);
  assert_int_equal(fp_codec_parse("CBOR", &c), FARM_EINVAL);
  assert_int_equal(fp_codec_parse("json", &c), FARM_EINVAL);
  assert_int_equal(fp_codec_parse(NULL, &c), FARM_EINVAL);
  assert_string_equal(fp_codec_name(FP_CODEC_MSGPACK), "msgpack");
  assert_string_equal(fp_codec_name(FP_CODEC_CBOR), "cbor");
}

/* ------------------------------------------------------------------ */
/* Round trips                                                        */

static void test_roundtrip_every_type(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    for (int t = 0; t < FP_MSG_TYPE_COUNT; t++) {
      for (int full = 0; full <= 1; full++) {
        struct fp_msg in, out;
        struct fp_msg_error err;
        uint8_t buf[FP_MSG_MAX_ENCODED];
        size_t len = 0;
        sample((enum fp_msg_type)t, full, &in);
        int rc = fp_msg_encode(&in, codecs[c], buf, sizeof buf, &len);
        if (rc != 0)
          fail_msg("%s %s encode: %s", fp_codec_name(codecs[c]),
                   fp_msg_type_name((enum fp_msg_type)t), farm_errname(rc));
        memset(&out, 0x5a, sizeof out);
        rc = fp_msg_decode(buf, len, codecs[c], &out, &err);
        if (rc != 0) {
          char text[128];
          fp_msg_error_format(&err, text, sizeof text);
          fail_msg("%s %s decode: %s", fp_codec_name(codecs[c]),
                   fp_msg_type_name((enum fp_msg_type)t), text);
        }
        assert_int_equal(err.code, 0);
        assert_msg_equal(&in, &out);
        assert_true(fp_msg_equal(&in, &out));
      }
    }
  }
}

/* Both codecs give the same struct: the schema is codec-neutral. */
static void test_codecs_agree(void **state)
{
  (void)state;
  for (int t = 0; t < FP_MSG_TYPE_COUNT; t++) {
    struct fp_msg in, a, b;
    uint8_t mp[FP_MSG_MAX_ENCODED], cb[FP_MSG_MAX_ENCODED];
    size_t mp_len, cb_len;
    sample((enum fp_msg_type)t, true, &in);
    assert_int_equal(fp_msg_encode(&in, FP_CODEC_MSGPACK, mp, sizeof mp, &mp_len), 0);
    assert_int_equal(fp_msg_encode(&in, FP_CODEC_CBOR, cb, sizeof cb, &cb_len), 0);
    assert_int_equal(fp_msg_decode(mp, mp_len, FP_CODEC_MSGPACK, &a, NULL), 0);
    assert_int_equal(fp_msg_decode(cb, cb_len, FP_CODEC_CBOR, &b, NULL), 0);
    assert_msg_equal(&a, &b);
    /* Each one is not the other's encoding. */
    assert_int_not_equal(fp_msg_decode(mp, mp_len, FP_CODEC_CBOR, &b, NULL), 0);
  }
}

static void test_equal_detects_differences(void **state)
{
  (void)state;
  struct fp_msg a, b;
  sample(FP_MSG_TEL, true, &a);
  b = a;
  assert_true(fp_msg_equal(&a, &b));
  b.u.tel.v[4].value = 0.0; /* was -0.0 */
  assert_false(fp_msg_equal(&a, &b));
  b = a;
  b.gseq++;
  assert_false(fp_msg_equal(&a, &b));
  b = a;
  b.id = 77; /* tel carries no id: ignored */
  assert_true(fp_msg_equal(&a, &b));
  sample(FP_MSG_CMD, true, &a);
  b = a;
  b.u.cmd.args[5].v.i++;
  assert_false(fp_msg_equal(&a, &b));
  b = a;
  b.type = FP_MSG_PING;
  assert_false(fp_msg_equal(&a, &b));
}

/* The largest message of each kind stays within FP_MSG_MAX_ENCODED. */
static void test_max_encoded_size(void **state)
{
  (void)state;
  struct fp_msg big[4];
  memset(big, 0, sizeof big);
  big[0].type = FP_MSG_STATS;
  big[0].gseq = UINT32_MAX;
  for (unsigned i = 0; i < FP_MSG_MAX_COUNTERS; i++) {
    snprintf(big[0].u.stats.v[i].name, 16, "counter_%07u", i);
    big[0].u.stats.v[i].value = UINT64_MAX;
  }
  big[0].u.stats.n_counters = FP_MSG_MAX_COUNTERS;
  big[1].type = FP_MSG_EVT;
  big[1].gseq = UINT32_MAX;
  memset(big[1].u.evt.name, 'x', FP_MSG_NAME_MAX);
  big[1].u.evt.has_boot = big[1].u.evt.has_seq = true;
  big[1].u.evt.boot = big[1].u.evt.seq = UINT32_MAX;
  for (unsigned i = 0; i < FP_MSG_MAX_ARGS; i++) {
    struct fp_arg *a = &big[1].u.evt.args[i];
    snprintf(a->key, sizeof a->key, "argument_%06u", i);
    a->kind = FP_ARG_STR;
    memset(a->v.s, 'y', FP_MSG_ARG_STR_MAX);
  }
  big[1].u.evt.n_args = FP_MSG_MAX_ARGS;
  big[2].type = FP_MSG_TEL;
  big[2].gseq = UINT32_MAX;
  big[2].u.tel.rssi = -127;
  big[2].u.tel.syn = true;
  big[2].u.tel.boot = big[2].u.tel.seq = UINT32_MAX;
  big[2].u.tel.up_ms = UINT64_MAX;
  for (unsigned i = 0; i < FP_MSG_MAX_METRICS; i++) {
    snprintf(big[2].u.tel.v[i].name, 16, "metric_%08u", i);
    big[2].u.tel.v[i].value = 0.1 * i;
  }
  big[2].u.tel.n_metrics = FP_MSG_MAX_METRICS;
  big[3].type = FP_MSG_CMD;
  big[3].id = UINT32_MAX;
  memset(big[3].u.cmd.name, 'z', FP_MSG_NAME_MAX);
  big[3].u.cmd.args[0] = big[1].u.evt.args[0];
  for (unsigned i = 0; i < FP_MSG_MAX_ARGS; i++) {
    big[3].u.cmd.args[i] = big[1].u.evt.args[i];
  }
  big[3].u.cmd.n_args = FP_MSG_MAX_ARGS;
  for (size_t c = 0; c < N_CODECS; c++) {
    for (size_t i = 0; i < 4; i++) {
      uint8_t buf[2 * FP_MSG_MAX_ENCODED];
      size_t len = 0;
      assert_int_equal(fp_msg_encode(&big[i], codecs[c], buf, sizeof buf, &len), 0);
      assert_true(len <= FP_MSG_MAX_ENCODED);
      struct fp_msg out;
      assert_int_equal(fp_msg_decode(buf, len, codecs[c], &out, NULL), 0);
      assert_msg_equal(&big[i], &out);
    }
  }
}

static void test_encode_nospace(void **state)
{
  (void)state;
  struct fp_msg m;
  uint8_t buf[FP_MSG_MAX_ENCODED];
  size_t len = 0;
  sample(FP_MSG_TEL, true, &m);
  for (size_t c = 0; c < N_CODECS; c++) {
    assert_int_equal(fp_msg_encode(&m, codecs[c], buf, sizeof buf, &len), 0);
    size_t full = len;
    for (size_t cap = 0; cap < full; cap += 7)
      assert_int_equal(fp_msg_encode(&m, codecs[c], buf, cap, &len), FARM_ENOSPC);
    assert_int_equal(fp_msg_encode(&m, codecs[c], buf, full, &len), 0);
    assert_int_equal(len, full);
  }
}

/* ------------------------------------------------------------------ */
/* Hand-computed byte vectors                                         */

/*
 * tel {t:"tel", gseq:1, mac:a1b2c3d4e5f6, rssi:-60, boot:3, seq:42,
 *      up_ms:123456, v:{temp_c:21.5, rh_pct:55}}
 * MessagePack: fixmap 8 (0x88); fixstr 0xa0|len; bin8 0xc4 len; -60 is below
 * the negative fixint range (-32) so int8 0xd0 0xc4; 123456 = 0x1e240 needs
 * uint32 0xce; 21.5 = 0x41ac0000 and 55.0 = 0x425c0000 as float32 (0xca),
 * the shortest exact form.
 */
static const char tel_mp_hex[] =
  "88 a174 a374656c a46773657101 a36d6163 c406a1b2c3d4e5f6"
  " a472737369 d0c4 a4626f6f7403 a37365712a a575705f6d73 ce0001e240"
  " a176 82 a674656d705f63 ca41ac0000 a672685f706374 ca425c0000";

/*
 * The same in CBOR (RFC 8949 §3): map(8) 0xa8; text 0x60|len; bytes(6) 0x46;
 * -60 is major 1 with argument 59 = 0x3b, one byte: 0x38 0x3b; 42 needs one
 * byte: 0x18 0x2a; 123456: 0x1a + 4 bytes; 21.5 and 55.0 are exact in half
 * precision (§4.1 preferred serialization): 21.5 = 2^4 * 1.34375 -> exponent
 * 19, mantissa 0x160 -> 0x4d60; 55 = 2^5 * 1.71875 -> exponent 20, mantissa
 * 0x2e0 -> 0x52e0.
 */
static const char tel_cbor_hex[] =
  "a8 6174 6374656c 646773657101 636d6163 46a1b2c3d4e5f6"
  " 6472737369 383b 64626f6f7403 63736571182a 6575705f6d73 1a0001e240"
  " 6176 a2 6674656d705f63 f94d60 6672685f706374 f952e0";

/* cmd {t:"cmd", id:7, mac:a1b2c3d4e5f6, name:"relay.set",
 *      args:{relay:3, on:true}}: fixmap 5, true is 0xc3. */
static const char cmd_mp_hex[] =
  "85 a174 a3636d64 a2696407 a36d6163 c406a1b2c3d4e5f6"
  " a46e616d65 a972656c61792e736574 a461726773 82 a572656c617903 a26f6ec3";

/* In CBOR: map(5) 0xa5, true is simple value 21 = 0xf5. */
static const char cmd_cbor_hex[] =
  "a5 6174 63636d64 62696407 636d6163 46a1b2c3d4e5f6"
  " 646e616d65 6972656c61792e736574 6461726773 a2 6572656c617903 626f6ef5";

static void vector_tel(struct fp_msg *m)
{
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_TEL;
  m->gseq = 1;
  memcpy(m->u.tel.mac, node_mac, FP_MAC_LEN);
  m->u.tel.rssi = -60;
  m->u.tel.boot = 3;
  m->u.tel.seq = 42;
  m->u.tel.up_ms = 123456;
  set_metric(&m->u.tel, "temp_c", 21.5);
  set_metric(&m->u.tel, "rh_pct", 55);
}

static void vector_cmd(struct fp_msg *m)
{
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_CMD;
  m->id = 7;
  memcpy(m->u.cmd.mac, node_mac, FP_MAC_LEN);
  strcpy(m->u.cmd.name, "relay.set");
  add_arg(m->u.cmd.args, &m->u.cmd.n_args, "relay", FP_ARG_INT)->v.i = 3;
  add_arg(m->u.cmd.args, &m->u.cmd.n_args, "on", FP_ARG_BOOL)->v.b = true;
}

static void check_vector(const char *hex, enum fp_codec c,
                         void (*make)(struct fp_msg *))
{
  uint8_t want[256];
  long n = ts_hex_decode(hex, want, sizeof want);
  assert_true(n > 0);
  struct fp_msg expect, got;
  make(&expect);

  struct fp_msg_error err;
  int rc = fp_msg_decode(want, (size_t)n, c, &got, &err);
  if (rc != 0) {
    char text[128];
    fp_msg_error_format(&err, text, sizeof text);
    fail_msg("decode: %s", text);
  }
  assert_msg_equal(&expect, &got);

  uint8_t buf[256];
  size_t len = 0;
  assert_int_equal(fp_msg_encode(&expect, c, buf, sizeof buf, &len), 0);
  assert_int_equal(len, (size_t)n);
  assert_memory_equal(buf, want, len);
}

static void test_vector_tel_msgpack(void **state)
{
  (void)state;
  check_vector(tel_mp_hex, FP_CODEC_MSGPACK, vector_tel);
}

static void test_vector_tel_cbor(void **state)
{
  (void)state;
  check_vector(tel_cbor_hex, FP_CODEC_CBOR, vector_tel);
}

static void test_vector_cmd_msgpack(void **state)
{
  (void)state;
  check_vector(cmd_mp_hex, FP_CODEC_MSGPACK, vector_cmd);
}

static void test_vector_cmd_cbor(void **state)
{
  (void)state;
  check_vector(cmd_cbor_hex, FP_CODEC_CBOR, vector_cmd);
}

/* ------------------------------------------------------------------ */
/* Building raw (possibly invalid) messages                           */

/* Writes one value; the pair's key is written by the builder. */
typedef void (*value_fn)(struct fp_writer *w);

struct pair {
  const char *key;
  value_fn value;
};

static void v_tel(struct fp_writer *w) { fp_write_cstr(w, "tel"); }
static void v_one(struct fp_writer *w) { fp_write_uint(w, 1); }
static void v_zero(struct fp_writer *w) { fp_write_uint(w, 0); }
static void v_mac(struct fp_writer *w) { fp_write_bin(w, node_mac, 6); }
static void v_rssi(struct fp_writer *w) { fp_write_int(w, -60); }
static void v_boot(struct fp_writer *w) { fp_write_uint(w, 3); }
static void v_seq(struct fp_writer *w) { fp_write_uint(w, 42); }
static void v_up_ms(struct fp_writer *w) { fp_write_uint(w, 123456); }
static void v_metrics(struct fp_writer *w)
{
  fp_write_map(w, 2);
  fp_write_cstr(w, "temp_c");
  fp_write_float(w, 21.5);
  fp_write_cstr(w, "rh_pct");
  fp_write_float(w, 55);
}

/* The tel of the byte vectors, as pairs a test can alter. */
static const struct pair tel_pairs[] = {
  {"t", v_tel},      {"gseq", v_one}, {"mac", v_mac},     {"rssi", v_rssi},
  {"boot", v_boot},  {"seq", v_seq},  {"up_ms", v_up_ms}, {"v", v_metrics},
};
#define N_TEL (sizeof tel_pairs / sizeof tel_pairs[0])

static size_t build(enum fp_codec c, const struct pair *pairs, size_t n,
                    uint8_t *buf, size_t cap)
{
  struct fp_writer w;
  fp_writer_init(&w, c, buf, cap);
  fp_write_map(&w, n);
  for (size_t i = 0; i < n; i++) {
    fp_write_cstr(&w, pairs[i].key);
    pairs[i].value(&w);
  }
  assert_int_equal(fp_writer_error(&w), 0);
  return fp_writer_len(&w);
}

/* The tel pairs with key `key` given value fn (appended if absent). */
static size_t build_tel_with(enum fp_codec c, const char *key, value_fn fn,
                             uint8_t *buf, size_t cap)
{
  struct pair p[N_TEL + 1];
  size_t n = 0;
  bool replaced = false;
  for (size_t i = 0; i < N_TEL; i++) {
    p[n] = tel_pairs[i];
    if (strcmp(p[n].key, key) == 0) {
      p[n].value = fn;
      replaced = true;
    }
    n++;
  }
  if (!replaced)
    p[n++] = (struct pair){key, fn};
  return build(c, p, n, buf, cap);
}

/* Decodes and asserts the code and key of the rejection. */
static void expect_reject(const uint8_t *buf, size_t len, enum fp_codec c,
                          int code, const char *key)
{
  struct fp_msg m;
  struct fp_msg_error err;
  int rc = fp_msg_decode(buf, len, c, &m, &err);
  if (rc != code || strcmp(err.key, key) != 0) {
    char text[160];
    fp_msg_error_format(&err, text, sizeof text);
    fail_msg("%s: want %s key \"%s\", got %s: %s", fp_codec_name(c),
             farm_errname(code), key, farm_errname(rc), text);
  }
  assert_int_equal(err.code, code);
  assert_true(err.offset <= len);
  assert_non_null(err.in);
  assert_non_null(err.expected);
}

static void expect_tel_reject(const char *key, value_fn fn, int code,
                              const char *err_key)
{
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[512];
    size_t len = build_tel_with(codecs[c], key, fn, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], code, err_key);
  }
}

/* ------------------------------------------------------------------ */
/* Rejections (BAD-INPUTS.md 4 and 13)                                */

static void test_builder_baseline(void **state)
{
  (void)state;
  /* The builder's tel is the byte vector: the rejection tests below alter
   * exactly one thing of a message that is otherwise accepted. */
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[512], want[256];
    size_t len = build(codecs[c], tel_pairs, N_TEL, buf, sizeof buf);
    long n = ts_hex_decode(c == 0 ? tel_mp_hex : tel_cbor_hex, want, sizeof want);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(buf, want, len);
  }
}

static void v_bogus(struct fp_writer *w) { fp_write_cstr(w, "bogus"); }
static void v_empty(struct fp_writer *w) { fp_write_cstr(w, ""); }
static void v_tel_upper(struct fp_writer *w) { fp_write_cstr(w, "Tel"); }
static void v_tel_long(struct fp_writer *w) { fp_write_cstr(w, "tele"); }

static void test_unknown_type(void **state)
{
  (void)state;
  expect_tel_reject("t", v_bogus, FARM_EUNKNOWN, "t");
  expect_tel_reject("t", v_empty, FARM_EUNKNOWN, "t");
  /* Type names are exact: no case folding, no prefix match. */
  expect_tel_reject("t", v_tel_upper, FARM_EUNKNOWN, "t");
  expect_tel_reject("t", v_tel_long, FARM_EUNKNOWN, "t");
  expect_tel_reject("t", v_tel, 0, "");
}

static void test_missing_each_required_key(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    for (size_t skip = 0; skip < N_TEL; skip++) {
      struct pair p[N_TEL];
      size_t n = 0;
      for (size_t i = 0; i < N_TEL; i++) {
        if (i != skip)
          p[n++] = tel_pairs[i];
      }
      uint8_t buf[512];
      size_t len = build(codecs[c], p, n, buf, sizeof buf);
      expect_reject(buf, len, codecs[c], FARM_EMISSING, tel_pairs[skip].key);
    }
  }
}

static void v_str_x(struct fp_writer *w) { fp_write_cstr(w, "x"); }
static void v_float_1(struct fp_writer *w) { fp_write_float(w, 1.0); }
static void v_float_42(struct fp_writer *w) { fp_write_float(w, 42.0); }
static void v_mac_str(struct fp_writer *w) { fp_write_cstr(w, "a1b2c3d4e5f6"); }
static void v_rssi_float(struct fp_writer *w) { fp_write_float(w, -60.5); }
static void v_array(struct fp_writer *w)
{
  fp_write_array(w, 1);
  fp_write_uint(w, 1);
}
static void v_nil(struct fp_writer *w) { fp_write_nil(w); }
static void v_true(struct fp_writer *w) { fp_write_bool(w, true); }
static void v_neg(struct fp_writer *w) { fp_write_int(w, -1); }

static void test_wrong_type_per_key(void **state)
{
  (void)state;
  expect_tel_reject("t", v_one, FARM_ETYPE, "t");
  expect_tel_reject("gseq", v_str_x, FARM_ETYPE, "gseq");
  expect_tel_reject("gseq", v_float_1, FARM_ETYPE, "gseq");
  expect_tel_reject("mac", v_mac_str, FARM_ETYPE, "mac");
  expect_tel_reject("rssi", v_rssi_float, FARM_ETYPE, "rssi");
  expect_tel_reject("rssi", v_nil, FARM_ETYPE, "rssi");
  expect_tel_reject("boot", v_true, FARM_ETYPE, "boot");
  /* An integral float is still not an integer. */
  expect_tel_reject("seq", v_float_42, FARM_ETYPE, "seq");
  expect_tel_reject("up_ms", v_str_x, FARM_ETYPE, "up_ms");
  expect_tel_reject("v", v_array, FARM_ETYPE, "v");
  expect_tel_reject("syn", v_one, FARM_ETYPE, "syn");
  /* Negative values for unsigned fields are out of range, not mistyped. */
  expect_tel_reject("seq", v_neg, FARM_ERANGE, "seq");
  expect_tel_reject("gseq", v_zero, FARM_ERANGE, "gseq");
}

/* One metric name/value in v. */
static const char *metric_name;
static double metric_value;
static void v_one_metric(struct fp_writer *w)
{
  fp_write_map(w, 1);
  fp_write_cstr(w, metric_name);
  fp_write_float(w, metric_value);
}

static void expect_metric(const char *name, double value, int code,
                          const char *key)
{
  metric_name = name;
  metric_value = value;
  expect_tel_reject("v", v_one_metric, code, key);
}

static void v_rssi_plus1(struct fp_writer *w) { fp_write_int(w, 1); }
static void v_rssi_m128(struct fp_writer *w) { fp_write_int(w, -128); }
static void v_rssi_m127(struct fp_writer *w) { fp_write_int(w, -127); }

static void test_out_of_range(void **state)
{
  (void)state;
  expect_tel_reject("rssi", v_rssi_plus1, FARM_ERANGE, "rssi");
  expect_tel_reject("rssi", v_rssi_m128, FARM_ERANGE, "rssi");
  expect_tel_reject("rssi", v_rssi_m127, 0, "");
  expect_metric("rh_pct", 101, FARM_ERANGE, "rh_pct");
  expect_metric("rh_pct", -0.5, FARM_ERANGE, "rh_pct");
  expect_metric("rh_pct", 100, 0, "");
  expect_metric("temp_c", 126, FARM_ERANGE, "temp_c");
  expect_metric("temp_c", 125.5, FARM_ERANGE, "temp_c");
  expect_metric("temp_c", -40.5, FARM_ERANGE, "temp_c");
  expect_metric("temp_c", -40, 0, "");
  expect_metric("lux", 200001, FARM_ERANGE, "lux");
  expect_metric("lux", -1, FARM_ERANGE, "lux");
  expect_metric("air_ppm", 100001, FARM_ERANGE, "air_ppm");
  expect_metric("air_ppm", 100000, 0, "");
  expect_metric("temp_c", NAN, FARM_ERANGE, "temp_c");
  expect_metric("other", NAN, FARM_ERANGE, "other");
  expect_metric("other", INFINITY, FARM_ERANGE, "other");
  expect_metric("other", -INFINITY, FARM_ERANGE, "other");
  expect_metric("other", -1e308, 0, "");

  /* The error names the entry and the map it is in. */
  metric_name = "temp_c";
  metric_value = 126;
  uint8_t buf[256];
  size_t len = build_tel_with(FP_CODEC_MSGPACK, "v", v_one_metric, buf, sizeof buf);
  struct fp_msg m;
  struct fp_msg_error err;
  assert_int_equal(fp_msg_decode(buf, len, FP_CODEC_MSGPACK, &m, &err), FARM_ERANGE);
  assert_string_equal(err.in, "v");
  assert_string_equal(err.expected, "-40..125");
}

/* Other types' ranges: duration_s 0, channel 15, lvl 5, stage, state. */
static void v_pair_begin(struct fp_writer *w) { fp_write_cstr(w, "pair_begin"); }
static void v_hello(struct fp_writer *w) { fp_write_cstr(w, "hello"); }
static void v_u15(struct fp_writer *w) { fp_write_uint(w, 15); }
static void v_u14(struct fp_writer *w) { fp_write_uint(w, 14); }
static void v_u3601(struct fp_writer *w) { fp_write_uint(w, 3601); }
static void v_u65536(struct fp_writer *w) { fp_write_uint(w, 65536); }
static void v_u2_32(struct fp_writer *w) { fp_write_uint(w, UINT64_C(1) << 32); }
static void v_fw(struct fp_writer *w) { fp_write_cstr(w, "1.4.2"); }
static void v_fw32(struct fp_writer *w)
{
  fp_write_cstr(w, "0123456789abcdef0123456789abcdef"); /* 32 bytes */
}
static void v_fw31(struct fp_writer *w)
{
  fp_write_cstr(w, "0123456789abcdef0123456789abcde");
}

static void expect_pairs(const struct pair *p, size_t n, int code,
                         const char *key)
{
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[1024];
    size_t len = build(codecs[c], p, n, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], code, key);
  }
}

static void test_out_of_range_other_types(void **state)
{
  (void)state;
  struct pair pb[] = {{"t", v_pair_begin}, {"id", v_one}, {"duration_s", v_zero}};
  expect_pairs(pb, 3, FARM_ERANGE, "duration_s");
  pb[2].value = v_u3601;
  expect_pairs(pb, 3, FARM_ERANGE, "duration_s");
  pb[2].value = v_one;
  expect_pairs(pb, 3, 0, "");
  pb[1].value = v_u2_32; /* id is a u32 */
  expect_pairs(pb, 3, FARM_ERANGE, "id");

  struct pair hello[] = {{"t", v_hello}, {"gseq", v_one}, {"mac", v_mac},
                         {"fw", v_fw},   {"ch", v_u15},   {"peers", v_zero},
                         {"boot", v_boot}};
  expect_pairs(hello, 7, FARM_ERANGE, "ch");
  hello[4].value = v_zero;
  expect_pairs(hello, 7, FARM_ERANGE, "ch");
  hello[4].value = v_u14;
  expect_pairs(hello, 7, 0, "");
  hello[5].value = v_u65536;
  expect_pairs(hello, 7, FARM_ERANGE, "peers");
  hello[5].value = v_zero;
  /* String too long: fw is at most 31 bytes. */
  hello[3].value = v_fw32;
  expect_pairs(hello, 7, FARM_ERANGE, "fw");
  hello[3].value = v_fw31;
  expect_pairs(hello, 7, 0, "");
  hello[3].value = v_empty;
  expect_pairs(hello, 7, FARM_ERANGE, "fw");
  hello[3].value = v_fw;
  hello[6].value = v_u2_32;
  expect_pairs(hello, 7, FARM_ERANGE, "boot");
}

static void v_ack(struct fp_writer *w) { fp_write_cstr(w, "ack"); }
static void v_false(struct fp_writer *w) { fp_write_bool(w, false); }
static void v_gw(struct fp_writer *w) { fp_write_cstr(w, "gw"); }
static void v_stage_bad(struct fp_writer *w) { fp_write_cstr(w, "edge"); }
static void v_err_text(struct fp_writer *w) { fp_write_cstr(w, "busy"); }
static void v_err_bad_utf8(struct fp_writer *w)
{
  /* 0xc3 0x28: a two-byte lead followed by a non-continuation byte. */
  fp_write_str(w, "no \xc3\x28 way", 9);
}
static void v_err_overlong(struct fp_writer *w)
{
  fp_write_str(w, "\xc0\xaf", 2); /* overlong '/' (RFC 3629 §10) */
}

static void test_ack_rules(void **state)
{
  (void)state;
  struct pair ack[] = {{"t", v_ack},   {"gseq", v_one}, {"id", v_one},
                       {"ok", v_true}, {"stage", v_gw}, {"err", v_err_text}};
  expect_pairs(ack, 5, 0, "");
  expect_pairs(ack, 6, 0, "");
  ack[3].value = v_false;
  expect_pairs(ack, 6, 0, "");
  /* ok false needs err. */
  expect_pairs(ack, 5, FARM_EMISSING, "err");
  ack[5].value = v_empty;
  expect_pairs(ack, 6, FARM_ERANGE, "err");
  ack[5].value = v_err_bad_utf8;
  expect_pairs(ack, 6, FARM_EUTF8, "err");
  ack[5].value = v_err_overlong;
  expect_pairs(ack, 6, FARM_EUTF8, "err");
  ack[5].value = v_err_text;
  ack[4].value = v_stage_bad;
  expect_pairs(ack, 6, FARM_ERANGE, "stage");
  ack[4].value = v_one;
  expect_pairs(ack, 6, FARM_ETYPE, "stage");

  /* The UTF-8 error points at the bad string. */
  ack[4].value = v_gw;
  ack[5].value = v_err_bad_utf8;
  uint8_t buf[256];
  size_t len = build(FP_CODEC_MSGPACK, ack, 6, buf, sizeof buf);
  struct fp_msg m;
  struct fp_msg_error err;
  assert_int_equal(fp_msg_decode(buf, len, FP_CODEC_MSGPACK, &m, &err), FARM_EUTF8);
  /* The string is the last value: a fixstr head and 9 bytes. */
  assert_true(err.offset >= len - 10 && err.offset < len);
}

static void v_seq_dup_map(struct fp_writer *w) { fp_write_uint(w, 43); }

static void v_metrics_dup(struct fp_writer *w)
{
  fp_write_map(w, 3);
  fp_write_cstr(w, "temp_c");
  fp_write_float(w, 21.5);
  fp_write_cstr(w, "rh_pct");
  fp_write_float(w, 55);
  fp_write_cstr(w, "temp_c");
  fp_write_float(w, 22);
}

static void test_duplicate_keys(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    struct pair p[N_TEL + 2];
    memcpy(p, tel_pairs, sizeof tel_pairs);
    /* Top level: seq twice (even with a different value). */
    p[N_TEL] = (struct pair){"seq", v_seq_dup_map};
    uint8_t buf[512];
    size_t len = build(codecs[c], p, N_TEL + 1, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EDUPKEY, "seq");
    /* t twice (fast path: t first). */
    p[N_TEL] = (struct pair){"t", v_tel};
    len = build(codecs[c], p, N_TEL + 1, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EDUPKEY, "t");
    /* t twice with t not first (the scan finds both). */
    p[0] = (struct pair){"gseq", v_one};
    p[1] = (struct pair){"t", v_tel};
    len = build(codecs[c], p, N_TEL + 1, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EDUPKEY, "t");
    /* An unknown key twice. */
    memcpy(p, tel_pairs, sizeof tel_pairs);
    p[N_TEL] = (struct pair){"future", v_one};
    p[N_TEL + 1] = (struct pair){"future", v_one};
    len = build(codecs[c], p, N_TEL + 2, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EDUPKEY, "future");
    /* A key of another type twice (skipped, but still unique). */
    p[N_TEL] = (struct pair){"id", v_one};
    p[N_TEL + 1] = (struct pair){"id", v_one};
    len = build(codecs[c], p, N_TEL + 2, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EDUPKEY, "id");
  }
  /* In v: reported with the metric's name, in "v". */
  expect_tel_reject("v", v_metrics_dup, FARM_EDUPKEY, "temp_c");
}

static void test_not_a_map(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[64];
    struct fp_writer w;
    fp_writer_init(&w, codecs[c], buf, sizeof buf);
    fp_write_array(&w, 2);
    fp_write_cstr(&w, "t");
    fp_write_cstr(&w, "tel");
    expect_reject(buf, fp_writer_len(&w), codecs[c], FARM_ETYPE, "");
    fp_writer_init(&w, codecs[c], buf, sizeof buf);
    fp_write_cstr(&w, "tel");
    expect_reject(buf, fp_writer_len(&w), codecs[c], FARM_ETYPE, "");
    fp_writer_init(&w, codecs[c], buf, sizeof buf);
    fp_write_map(&w, 0);
    expect_reject(buf, fp_writer_len(&w), codecs[c], FARM_EMISSING, "t");
    expect_reject(buf, 0, codecs[c], FARM_EEMPTY, "");
    /* A map whose key is not text. */
    fp_writer_init(&w, codecs[c], buf, sizeof buf);
    fp_write_map(&w, 1);
    fp_write_uint(&w, 1);
    fp_write_cstr(&w, "tel");
    expect_reject(buf, fp_writer_len(&w), codecs[c], FARM_ETYPE, "");
  }
}

static void test_trailing_and_truncated(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[512];
    size_t len = build(codecs[c], tel_pairs, N_TEL, buf, sizeof buf);
    buf[len] = 0x00;
    struct fp_msg m;
    struct fp_msg_error err;
    assert_int_equal(fp_msg_decode(buf, len + 1, codecs[c], &m, &err), FARM_ETRAILING);
    assert_string_equal(err.key, "");
    assert_int_equal(err.offset, len);
    /* Every proper prefix is truncated (never accepted, never a crash). */
    for (size_t cut = 1; cut < len; cut++) {
      int rc = fp_msg_decode(buf, cut, codecs[c], &m, &err);
      assert_int_equal(rc, FARM_ETRUNCATED);
      assert_int_equal(err.code, rc);
    }
  }
}

static void v_17_metrics(struct fp_writer *w)
{
  fp_write_map(w, 17);
  for (int i = 0; i < 17; i++) {
    char name[16];
    snprintf(name, sizeof name, "m%d", i);
    fp_write_cstr(w, name);
    fp_write_uint(w, (uint64_t)i);
  }
}

static void v_16_metrics(struct fp_writer *w)
{
  fp_write_map(w, 16);
  for (int i = 0; i < 16; i++) {
    char name[16];
    snprintf(name, sizeof name, "m%d", i);
    fp_write_cstr(w, name);
    fp_write_uint(w, (uint64_t)i);
  }
}

static void v_no_metrics(struct fp_writer *w) { fp_write_map(w, 0); }

static void v_metric_int_value(struct fp_writer *w)
{
  fp_write_map(w, 1);
  fp_write_cstr(w, "lux");
  fp_write_uint(w, 1234);
}

static void v_metric_str_value(struct fp_writer *w)
{
  fp_write_map(w, 1);
  fp_write_cstr(w, "lux");
  fp_write_cstr(w, "1234");
}

static void v_metric_int_key(struct fp_writer *w)
{
  fp_write_map(w, 1);
  fp_write_uint(w, 1);
  fp_write_float(w, 1.5);
}

static void test_metric_limits(void **state)
{
  (void)state;
  expect_tel_reject("v", v_17_metrics, FARM_ERANGE, "v");
  expect_tel_reject("v", v_16_metrics, 0, "");
  expect_tel_reject("v", v_no_metrics, FARM_ERANGE, "v");
  expect_tel_reject("v", v_metric_int_value, 0, "");
  expect_tel_reject("v", v_metric_str_value, FARM_ETYPE, "lux");
  expect_tel_reject("v", v_metric_int_key, FARM_ETYPE, "v");
  /* Bad names: uppercase, '-', empty, 16 characters, non-ASCII. */
  expect_metric("Temp", 1, FARM_EINVAL, "v");
  expect_metric("temp-c", 1, FARM_EINVAL, "v");
  expect_metric("", 1, FARM_EINVAL, "v");
  expect_metric("abcdefghijklmnop", 1, FARM_EINVAL, "v");
  expect_metric("abcdefghijklmno", 1, 0, "");
  expect_metric("t\xc3\xa9", 1, FARM_EINVAL, "v");

  /* The decoded integer metric is a number like any other. */
  uint8_t buf[256];
  size_t len = build_tel_with(FP_CODEC_CBOR, "v", v_metric_int_value, buf, sizeof buf);
  struct fp_msg m;
  assert_int_equal(fp_msg_decode(buf, len, FP_CODEC_CBOR, &m, NULL), 0);
  assert_int_equal(m.u.tel.n_metrics, 1);
  assert_string_equal(m.u.tel.v[0].name, "lux");
  assert_true(m.u.tel.v[0].value == 1234.0);
}

static void v_set_mac(struct fp_writer *w) { fp_write_cstr(w, "cfg:set_mac"); }
static void v_mac_multicast(struct fp_writer *w)
{
  static const uint8_t mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
  fp_write_bin(w, mac, 6);
}
static void v_mac_broadcast(struct fp_writer *w)
{
  static const uint8_t mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  fp_write_bin(w, mac, 6);
}
static void v_mac_zero(struct fp_writer *w)
{
  static const uint8_t mac[6] = {0};
  fp_write_bin(w, mac, 6);
}
static void v_mac_unicast(struct fp_writer *w) { fp_write_bin(w, gw_mac, 6); }
static void v_mac5(struct fp_writer *w) { fp_write_bin(w, node_mac, 5); }
static void v_mac7(struct fp_writer *w)
{
  static const uint8_t mac[7] = {2, 0, 0, 0, 0, 1, 0};
  fp_write_bin(w, mac, 7);
}

static void test_mac_rules(void **state)
{
  (void)state;
  struct pair sm[] = {{"t", v_set_mac}, {"id", v_one}, {"mac", v_mac_unicast}};
  expect_pairs(sm, 3, 0, "");
  /* The example node MAC a1:b2:.. has the group bit set (0xa1 is odd). */
  sm[2].value = v_mac;
  expect_pairs(sm, 3, FARM_ERANGE, "mac");
  sm[2].value = v_mac_multicast;
  expect_pairs(sm, 3, FARM_ERANGE, "mac");
  sm[2].value = v_mac_broadcast;
  expect_pairs(sm, 3, FARM_ERANGE, "mac");
  sm[2].value = v_mac_zero;
  expect_pairs(sm, 3, FARM_ERANGE, "mac");
  sm[2].value = v_mac5;
  expect_pairs(sm, 3, FARM_ERANGE, "mac");
  sm[2].value = v_mac7;
  expect_pairs(sm, 3, FARM_ERANGE, "mac");
  expect_tel_reject("mac", v_mac5, FARM_ERANGE, "mac");
  /* A node's MAC in tel is not restricted beyond its length. */
  expect_tel_reject("mac", v_mac_multicast, 0, "");
}

static void v_cmd(struct fp_writer *w) { fp_write_cstr(w, "cmd"); }
static void v_cmd_name(struct fp_writer *w) { fp_write_cstr(w, "relay.set"); }
static void v_cmd_name_bad(struct fp_writer *w) { fp_write_cstr(w, "Relay.Set"); }
static void v_cmd_name_32(struct fp_writer *w)
{
  fp_write_cstr(w, "abcdefghijklmnopqrstuvwxyz.12345");
}
static const char *arg_key = "relay";
static void (*arg_value)(struct fp_writer *w);
static void v_args_one(struct fp_writer *w)
{
  fp_write_map(w, 1);
  fp_write_cstr(w, arg_key);
  arg_value(w);
}
static void v_args_9(struct fp_writer *w)
{
  fp_write_map(w, 9);
  for (int i = 0; i < 9; i++) {
    char key[16];
    snprintf(key, sizeof key, "a%d", i);
    fp_write_cstr(w, key);
    fp_write_bool(w, true);
  }
}
static void v_args_dup(struct fp_writer *w)
{
  fp_write_map(w, 2);
  fp_write_cstr(w, "relay");
  fp_write_uint(w, 1);
  fp_write_cstr(w, "relay");
  fp_write_uint(w, 2);
}
static void v_str32(struct fp_writer *w)
{
  fp_write_cstr(w, "0123456789abcdef0123456789abcdef");
}
static void v_nan(struct fp_writer *w) { fp_write_float(w, NAN); }
static void v_u64max(struct fp_writer *w) { fp_write_uint(w, UINT64_MAX); }
static void v_nested(struct fp_writer *w) { fp_write_map(w, 0); }

static void test_cmd_rules(void **state)
{
  (void)state;
  struct pair cmd[] = {{"t", v_cmd},
                       {"id", v_one},
                       {"mac", v_mac},
                       {"name", v_cmd_name},
                       {"args", v_args_one}};
  arg_value = v_one;
  expect_pairs(cmd, 5, 0, "");
  expect_pairs(cmd, 4, 0, "");
  cmd[3].value = v_cmd_name_bad;
  expect_pairs(cmd, 5, FARM_EINVAL, "name");
  cmd[3].value = v_cmd_name_32;
  expect_pairs(cmd, 5, FARM_EINVAL, "name");
  cmd[3].value = v_empty;
  expect_pairs(cmd, 5, FARM_EINVAL, "name");
  cmd[3].value = v_cmd_name;
  cmd[4].value = v_args_9;
  expect_pairs(cmd, 5, FARM_ERANGE, "args");
  cmd[4].value = v_args_dup;
  expect_pairs(cmd, 5, FARM_EDUPKEY, "relay");
  cmd[4].value = v_array;
  expect_pairs(cmd, 5, FARM_ETYPE, "args");
  cmd[4].value = v_args_one;
  arg_value = v_str32;
  expect_pairs(cmd, 5, FARM_ERANGE, "relay");
  arg_value = v_nan;
  expect_pairs(cmd, 5, FARM_ERANGE, "relay");
  arg_value = v_u64max;
  expect_pairs(cmd, 5, FARM_ERANGE, "relay");
  arg_value = v_nested;
  expect_pairs(cmd, 5, FARM_ETYPE, "relay");
  arg_value = v_nil;
  expect_pairs(cmd, 5, FARM_ETYPE, "relay");
  arg_value = v_one;
  arg_key = "Relay";
  expect_pairs(cmd, 5, FARM_EINVAL, "args");
  arg_key = "relay";
}

static void v_str_with_nul(struct fp_writer *w) { fp_write_str(w, "a\0b", 3); }

static void test_embedded_nul(void **state)
{
  (void)state;
  struct pair ack[] = {{"t", v_ack},    {"gseq", v_one}, {"id", v_one},
                       {"ok", v_false}, {"stage", v_gw}, {"err", v_str_with_nul}};
  expect_pairs(ack, 6, FARM_EINVAL, "err");
}

static void v_unknown_nested(struct fp_writer *w)
{
  fp_write_map(w, 2);
  fp_write_cstr(w, "a");
  fp_write_array(w, 3);
  fp_write_nil(w);
  fp_write_float(w, NAN); /* not checked: nobody reads it */
  fp_write_str(w, "\xc3\xa9", 2);
  fp_write_cstr(w, "b");
  fp_write_bin(w, "xyz", 3);
}

static void test_unknown_keys_skipped(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    struct pair p[N_TEL + 3];
    memcpy(p, tel_pairs, sizeof tel_pairs);
    p[N_TEL] = (struct pair){"future", v_unknown_nested};
    p[N_TEL + 1] = (struct pair){"id", v_str_x};  /* another type's key */
    p[N_TEL + 2] = (struct pair){"a_very_long_key_name_indeed", v_nil};
    uint8_t buf[512];
    size_t len = build(codecs[c], p, N_TEL + 3, buf, sizeof buf);
    struct fp_msg m, want;
    struct fp_msg_error err;
    assert_int_equal(fp_msg_decode(buf, len, codecs[c], &m, &err), 0);
    vector_tel(&want);
    assert_msg_equal(&want, &m);
    assert_int_equal(m.id, 0);
  }
  /* An unknown key's value must still be well-formed. */
  uint8_t buf[512];
  size_t len = build(FP_CODEC_MSGPACK, tel_pairs, N_TEL, buf, sizeof buf);
  buf[0]++; /* one more pair ... */
  memcpy(buf + len, "\xa1z\xc1", 3); /* ... "z": 0xc1, never used */
  expect_reject(buf, len + 3, FP_CODEC_MSGPACK, FARM_EMALFORMED, "z");
  /* Invalid UTF-8 in an unknown value. */
  memcpy(buf + len, "\xa1z\xa1\xff", 4);
  expect_reject(buf, len + 4, FP_CODEC_MSGPACK, FARM_EUTF8, "z");
}

static void test_keys_in_any_order(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    struct pair p[N_TEL];
    for (size_t i = 0; i < N_TEL; i++)
      p[i] = tel_pairs[N_TEL - 1 - i]; /* reversed: t last */
    uint8_t buf[512];
    size_t len = build(codecs[c], p, N_TEL, buf, sizeof buf);
    struct fp_msg m, want;
    assert_int_equal(fp_msg_decode(buf, len, codecs[c], &m, NULL), 0);
    vector_tel(&want);
    assert_msg_equal(&want, &m);
    /* Without t at all, and a bad t behind other keys. */
    len = build(codecs[c], p, N_TEL - 1, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EMISSING, "t");
    p[N_TEL - 1].value = v_bogus;
    len = build(codecs[c], p, N_TEL, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EUNKNOWN, "t");
  }
}

static void test_too_many_pairs(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    struct pair p[FP_MSG_MAX_PAIRS + 1];
    static char names[FP_MSG_MAX_PAIRS + 1][24];
    memcpy(p, tel_pairs, sizeof tel_pairs);
    for (size_t i = N_TEL; i <= FP_MSG_MAX_PAIRS; i++) {
      snprintf(names[i], sizeof names[i], "x%zu", i);
      p[i] = (struct pair){names[i], v_one};
    }
    uint8_t buf[1024];
    size_t len = build(codecs[c], p, FP_MSG_MAX_PAIRS, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], 0, "");
    len = build(codecs[c], p, FP_MSG_MAX_PAIRS + 1, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_ETOOBIG, "");
  }
}

/* CBOR items the schema does not take: indefinite lengths and tags. */
static void test_cbor_specifics(void **state)
{
  (void)state;
  uint8_t buf[64];
  long n = ts_hex_decode("bf 6174 6470696e67 626964 01 ff", buf, sizeof buf);
  expect_reject(buf, (size_t)n, FP_CODEC_CBOR, FARM_EUNSUPPORTED, "");
  n = ts_hex_decode("a2 6174 6470696e67 626964 01", buf, sizeof buf);
  expect_reject(buf, (size_t)n, FP_CODEC_CBOR, 0, "");
  /* "t": (_ "pi" "ng") */
  n = ts_hex_decode("a2 6174 7f 627069 626e67 ff 626964 01", buf, sizeof buf);
  expect_reject(buf, (size_t)n, FP_CODEC_CBOR, FARM_EUNSUPPORTED, "t");
  /* id: tag 1 (epoch time) around an integer is not an integer. */
  n = ts_hex_decode("a2 6174 6470696e67 626964 c1 01", buf, sizeof buf);
  expect_reject(buf, (size_t)n, FP_CODEC_CBOR, FARM_ETYPE, "id");
  /* id: 1 as a half float. */
  n = ts_hex_decode("a2 6174 6470696e67 626964 f93c00", buf, sizeof buf);
  expect_reject(buf, (size_t)n, FP_CODEC_CBOR, FARM_ETYPE, "id");
  /* id with a 64-bit head holding a small value is still the integer 1. */
  n = ts_hex_decode("a2 6174 6470696e67 626964 1b0000000000000001", buf, sizeof buf);
  expect_reject(buf, (size_t)n, FP_CODEC_CBOR, 0, "");
}

static void test_peek_gseq(void **state)
{
  (void)state;
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[512];
    uint32_t g = 0;
    size_t len = build(codecs[c], tel_pairs, N_TEL, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), 0);
    assert_int_equal(g, 1);
    /* A message the decoder rejects still yields its gseq ... */
    len = build_tel_with(codecs[c], "rssi", v_rssi_plus1, buf, sizeof buf);
    g = 0;
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), 0);
    assert_int_equal(g, 1);
    len = build_tel_with(codecs[c], "t", v_bogus, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), 0);
    /* ... but only a valid one, once, in a well-formed map. */
    len = build_tel_with(codecs[c], "gseq", v_zero, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), FARM_ERANGE);
    len = build_tel_with(codecs[c], "gseq", v_u2_32, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), FARM_ERANGE);
    len = build_tel_with(codecs[c], "gseq", v_float_1, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), FARM_ETYPE);
    struct pair p[N_TEL + 1];
    memcpy(p, tel_pairs, sizeof tel_pairs);
    p[N_TEL] = (struct pair){"gseq", v_one};
    len = build(codecs[c], p, N_TEL + 1, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), FARM_EDUPKEY);
    len = build(codecs[c], tel_pairs, N_TEL, buf, sizeof buf);
    buf[len] = 0;
    assert_int_equal(fp_msg_peek_gseq(buf, len + 1, codecs[c], &g), FARM_ETRAILING);
    assert_int_equal(fp_msg_peek_gseq(buf, len - 1, codecs[c], &g), FARM_ETRUNCATED);
    assert_int_equal(fp_msg_peek_gseq(buf, 0, codecs[c], &g), FARM_EEMPTY);
    struct fp_msg m;
    sample(FP_MSG_CMD, true, &m);
    assert_int_equal(fp_msg_encode(&m, codecs[c], buf, sizeof buf, &len), 0);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), FARM_EMISSING);
    struct fp_writer w;
    fp_writer_init(&w, codecs[c], buf, sizeof buf);
    fp_write_array(&w, 0);
    assert_int_equal(fp_msg_peek_gseq(buf, fp_writer_len(&w), codecs[c], &g), FARM_ETYPE);
    /* The id of a rejected request. */
    struct pair bad_cmd[] = {{"t", v_cmd},
                             {"id", v_u14},
                             {"mac", v_mac},
                             {"name", v_cmd_name_bad}};
    len = build(codecs[c], bad_cmd, 4, buf, sizeof buf);
    expect_reject(buf, len, codecs[c], FARM_EINVAL, "name");
    assert_int_equal(fp_msg_peek_id(buf, len, codecs[c], &g), 0);
    assert_int_equal(g, 14);
    assert_int_equal(fp_msg_peek_gseq(buf, len, codecs[c], &g), FARM_EMISSING);
    bad_cmd[1].value = v_u2_32;
    len = build(codecs[c], bad_cmd, 4, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_id(buf, len, codecs[c], &g), FARM_ERANGE);
    bad_cmd[1].value = v_zero; /* 0 is a valid id */
    len = build(codecs[c], bad_cmd, 4, buf, sizeof buf);
    assert_int_equal(fp_msg_peek_id(buf, len, codecs[c], &g), 0);
    assert_int_equal(g, 0);
    /* Every sample that carries gseq peeks to it. */
    for (int t = 0; t < FP_MSG_TYPE_COUNT; t++) {
      sample((enum fp_msg_type)t, true, &m);
      assert_int_equal(fp_msg_encode(&m, codecs[c], buf, sizeof buf, &len), 0);
      int rc = fp_msg_peek_gseq(buf, len, codecs[c], &g);
      if (fp_msg_is_uplink(m.type) || m.type == FP_MSG_RX) {
        assert_int_equal(rc, 0);
        assert_int_equal(g, m.gseq);
      } else {
        assert_int_equal(rc, FARM_EMISSING);
      }
    }
  }
}

/* ------------------------------------------------------------------ */
/* Encoder refusals                                                   */

static void expect_refused(const struct fp_msg *m, int code, const char *key)
{
  for (size_t c = 0; c < N_CODECS; c++) {
    uint8_t buf[FP_MSG_MAX_ENCODED];
    memset(buf, 0xaa, sizeof buf);
    size_t len = 12345;
    assert_int_equal(fp_msg_encode(m, codecs[c], buf, sizeof buf, &len), code);
    assert_int_equal(len, 12345);
    for (size_t i = 0; i < sizeof buf; i++)
      assert_int_equal(buf[i], 0xaa);
  }
  struct fp_msg_error err;
  assert_int_equal(fp_msg_validate(m, &err), code);
  assert_int_equal(err.code, code);
  assert_string_equal(err.key, key);
}

static void test_encode_refuses_invalid(void **state)
{
  (void)state;
  struct fp_msg m;

  sample(FP_MSG_TEL, true, &m);
  assert_int_equal(fp_msg_validate(&m, NULL), 0);
  m.u.tel.rssi = 1;
  expect_refused(&m, FARM_ERANGE, "rssi");
  sample(FP_MSG_TEL, true, &m);
  m.u.tel.n_metrics = 0;
  expect_refused(&m, FARM_ERANGE, "v");
  m.u.tel.n_metrics = 17;
  expect_refused(&m, FARM_ERANGE, "v");
  sample(FP_MSG_TEL, true, &m);
  m.u.tel.v[1].value = NAN;
  expect_refused(&m, FARM_ERANGE, "rh_pct");
  m.u.tel.v[1].value = 101;
  expect_refused(&m, FARM_ERANGE, "rh_pct");
  sample(FP_MSG_TEL, true, &m);
  m.u.tel.v[0].value = INFINITY;
  expect_refused(&m, FARM_ERANGE, "temp_c");
  sample(FP_MSG_TEL, true, &m);
  strcpy(m.u.tel.v[2].name, "Lux");
  expect_refused(&m, FARM_EINVAL, "v");
  strcpy(m.u.tel.v[2].name, "temp_c");
  expect_refused(&m, FARM_EDUPKEY, "temp_c");
  memset(m.u.tel.v[2].name, 'a', sizeof m.u.tel.v[2].name); /* no NUL */
  expect_refused(&m, FARM_EINVAL, "v");
  sample(FP_MSG_TEL, true, &m);
  m.gseq = 0;
  expect_refused(&m, FARM_ERANGE, "gseq");

  sample(FP_MSG_HELLO, true, &m);
  m.u.hello.ch = 15;
  expect_refused(&m, FARM_ERANGE, "ch");
  sample(FP_MSG_HELLO, true, &m);
  memset(m.u.hello.fw, 'x', sizeof m.u.hello.fw); /* no NUL */
  expect_refused(&m, FARM_EINVAL, "fw");
  m.u.hello.fw[0] = '\0';
  expect_refused(&m, FARM_ERANGE, "fw");

  sample(FP_MSG_PEER, true, &m);
  m.u.peer.state = (enum fp_peer_state)3;
  expect_refused(&m, FARM_ERANGE, "state");
  sample(FP_MSG_PEER, true, &m);
  m.u.peer.rssi = -128;
  expect_refused(&m, FARM_ERANGE, "rssi");
  m.u.peer.has_rssi = false; /* absent: not checked, not sent */
  assert_int_equal(fp_msg_validate(&m, NULL), 0);

  sample(FP_MSG_ACK, false, &m);
  m.u.ack.ok = false;
  expect_refused(&m, FARM_EMISSING, "err");
  m.u.ack.stage = (enum fp_stage)2;
  expect_refused(&m, FARM_ERANGE, "stage");
  sample(FP_MSG_ACK, true, &m);
  strcpy(m.u.ack.err, "bad \xc3\x28");
  expect_refused(&m, FARM_EUTF8, "err");

  sample(FP_MSG_LOG, true, &m);
  m.u.log.lvl = 5;
  expect_refused(&m, FARM_ERANGE, "lvl");

  sample(FP_MSG_SET_MAC, true, &m);
  m.u.set_mac.mac[0] = 0x01;
  expect_refused(&m, FARM_ERANGE, "mac");
  memset(m.u.set_mac.mac, 0, FP_MAC_LEN);
  expect_refused(&m, FARM_ERANGE, "mac");

  sample(FP_MSG_PAIR_BEGIN, true, &m);
  m.u.pair_begin.duration_s = 0;
  expect_refused(&m, FARM_ERANGE, "duration_s");
  m.u.pair_begin.duration_s = 3601;
  expect_refused(&m, FARM_ERANGE, "duration_s");

  sample(FP_MSG_CMD, true, &m);
  strcpy(m.u.cmd.name, "Relay.set");
  expect_refused(&m, FARM_EINVAL, "name");
  sample(FP_MSG_CMD, true, &m);
  m.u.cmd.n_args = 9;
  expect_refused(&m, FARM_ERANGE, "args");
  sample(FP_MSG_CMD, true, &m);
  m.u.cmd.args[4].v.f = NAN;
  expect_refused(&m, FARM_ERANGE, "ratio");
  sample(FP_MSG_CMD, true, &m);
  strcpy(m.u.cmd.args[1].key, "relay");
  expect_refused(&m, FARM_EDUPKEY, "relay");
  sample(FP_MSG_CMD, true, &m);
  m.u.cmd.args[0].kind = (enum fp_arg_kind)7;
  expect_refused(&m, FARM_EINVAL, "relay");

  sample(FP_MSG_STATS, true, &m);
  m.u.stats.n_counters = 25;
  expect_refused(&m, FARM_ERANGE, "v");
  sample(FP_MSG_STATS, true, &m);
  strcpy(m.u.stats.v[1].name, "frames");
  expect_refused(&m, FARM_EDUPKEY, "frames");

  sample(FP_MSG_RX, true, &m);
  m.gseq = 0;
  expect_refused(&m, FARM_ERANGE, "gseq");

  sample(FP_MSG_PING, true, &m);
  m.type = FP_MSG_TYPE_COUNT;
  expect_refused(&m, FARM_EUNKNOWN, "t");
}

/* ------------------------------------------------------------------ */
/* Error text                                                         */

static void test_error_format(void **state)
{
  (void)state;
  struct fp_msg m;
  struct fp_msg_error err;
  char text[128];
  uint8_t buf[256];

  /* seq as 42.0: 0x88, "t" (2), "tel" (4), "gseq" (5) 01, "mac" (4) + bin
   * (8), "rssi" (5) + int8 (2), "boot" (5) 03, "seq" (4): the value starts
   * at byte 1+2+4+5+1+4+8+5+2+5+1+4 = 42. */
  size_t len = build_tel_with(FP_CODEC_MSGPACK, "seq", v_float_42, buf, sizeof buf);
  assert_int_equal(fp_msg_decode(buf, len, FP_CODEC_MSGPACK, &m, &err), FARM_ETYPE);
  int n = fp_msg_error_format(&err, text, sizeof text);
  assert_string_equal(text,
                      "key \"seq\": wrong type (expected unsigned integer) at byte 42");
  assert_int_equal(n, (int)strlen(text));

  /* temp_c 126: after seq (42: 0x2a), "up_ms" (6) + uint32 (5), "v" (2),
   * fixmap (1), "temp_c" (7): byte 42+1+6+5+2+1+7 = 64. */
  metric_name = "temp_c";
  metric_value = 126;
  len = build_tel_with(FP_CODEC_MSGPACK, "v", v_one_metric, buf, sizeof buf);
  assert_int_equal(fp_msg_decode(buf, len, FP_CODEC_MSGPACK, &m, &err), FARM_ERANGE);
  fp_msg_error_format(&err, text, sizeof text);
  assert_string_equal(text,
                      "key \"temp_c\" in \"v\": value out of range (expected -40..125) at byte 64");

  /* No key; and truncation to a small buffer keeps the full length. */
  buf[len] = 0xc0;
  assert_int_equal(fp_msg_decode(buf, 0, FP_CODEC_MSGPACK, &m, &err), FARM_EEMPTY);
  fp_msg_error_format(&err, text, sizeof text);
  assert_string_equal(text, "empty input at byte 0");
  char small[8];
  n = fp_msg_error_format(&err, small, sizeof small);
  assert_int_equal(n, (int)strlen("empty input at byte 0"));
  assert_string_equal(small, "empty i");
}

/* ------------------------------------------------------------------ */
/* Seed corpus for fuzz_msg                                           */

static int write_corpus(const char *dir)
{
  for (size_t c = 0; c < N_CODECS; c++) {
    for (int t = 0; t < FP_MSG_TYPE_COUNT; t++) {
      for (int full = 0; full <= 1; full++) {
        struct fp_msg m;
        uint8_t buf[FP_MSG_MAX_ENCODED];
        size_t len;
        sample((enum fp_msg_type)t, full, &m);
        if (fp_msg_encode(&m, codecs[c], buf, sizeof buf, &len) != 0)
          return 1;
        char path[1024];
        const char *name = fp_msg_type_name((enum fp_msg_type)t);
        snprintf(path, sizeof path, "%s/%s-%s.%s", dir,
                 strcmp(name, "cfg:set_mac") == 0 ? "cfg_set_mac" : name,
                 full ? "full" : "min", c == 0 ? "msgpack" : "cbor");
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
          perror(path);
          return 1;
        }
      }
    }
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
    return write_corpus(argv[2]);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_type_names),
    cmocka_unit_test(test_codec_names),
    cmocka_unit_test(test_roundtrip_every_type),
    cmocka_unit_test(test_codecs_agree),
    cmocka_unit_test(test_equal_detects_differences),
    cmocka_unit_test(test_max_encoded_size),
    cmocka_unit_test(test_encode_nospace),
    cmocka_unit_test(test_vector_tel_msgpack),
    cmocka_unit_test(test_vector_tel_cbor),
    cmocka_unit_test(test_vector_cmd_msgpack),
    cmocka_unit_test(test_vector_cmd_cbor),
    cmocka_unit_test(test_builder_baseline),
    cmocka_unit_test(test_unknown_type),
    cmocka_unit_test(test_missing_each_required_key),
    cmocka_unit_test(test_wrong_type_per_key),
    cmocka_unit_test(test_out_of_range),
    cmocka_unit_test(test_out_of_range_other_types),
    cmocka_unit_test(test_ack_rules),
    cmocka_unit_test(test_duplicate_keys),
    cmocka_unit_test(test_not_a_map),
    cmocka_unit_test(test_trailing_and_truncated),
    cmocka_unit_test(test_metric_limits),
    cmocka_unit_test(test_mac_rules),
    cmocka_unit_test(test_cmd_rules),
    cmocka_unit_test(test_embedded_nul),
    cmocka_unit_test(test_unknown_keys_skipped),
    cmocka_unit_test(test_keys_in_any_order),
    cmocka_unit_test(test_too_many_pairs),
    cmocka_unit_test(test_cbor_specifics),
    cmocka_unit_test(test_peek_gseq),
    cmocka_unit_test(test_encode_refuses_invalid),
    cmocka_unit_test(test_error_format),
  };
  return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
