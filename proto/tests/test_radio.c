/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the radio payload format (fp/radio.h, DESIGN §5): round
 * trips of every message type, a TEL byte vector worked out by hand from
 * the MessagePack spec, every rejection class of BAD-INPUTS.md 9 (version,
 * type, lengths) and 10-13 (the MessagePack body) with its code, key and
 * offset, and the encoder's refusals. Run with `--write-corpus DIR` it
 * writes the fuzzer's seed corpus (every sample message) instead of testing.
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
#include "fp/msgpack.h"
#include "fp/radio.h"
#include "testsupport.h"

static const enum fp_radio_type all_types[] = {
    FP_RADIO_TEL,      FP_RADIO_EVT, FP_RADIO_JOIN, FP_RADIO_CMD_ACK,
    FP_RADIO_JOIN_ACK, FP_RADIO_CMD, FP_RADIO_TIME,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* ------------------------------------------------------------------ */
/* Sample messages                                                    */

static void add_metric(struct fp_radio_tel *t, const char *name, double v)
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

/* A message of each type; `full` sets every optional field and extremes. */
static void sample(enum fp_radio_type type, bool full, struct fp_radio_msg *m)
{
  memset(m, 0, sizeof *m);
  m->type = type;
  m->boot = full ? UINT32_MAX : 3;
  m->seq = full ? UINT32_MAX : 42;
  switch (type) {
  case FP_RADIO_TEL: {
    struct fp_radio_tel *t = &m->u.tel;
    t->up_ms = full ? UINT64_MAX : 123456;
    add_metric(t, "temp_c", 21.5);
    if (full) {
      t->syn = true;
      add_metric(t, "rh_pct", 55.25);
      add_metric(t, "lux", 200000);
      add_metric(t, "air_ppm", 412.7); /* not exact in float32 */
      add_metric(t, "soil_vwc", -0.0);
    }
    break;
  }
  case FP_RADIO_EVT: {
    struct fp_radio_evt *e = &m->u.evt;
    strcpy(e->name, full ? "relay.changed" : "boot");
    if (full) {
      add_arg(e->args, &e->n_args, "ch", FP_ARG_INT)->v.i = 2;
      add_arg(e->args, &e->n_args, "on", FP_ARG_BOOL)->v.b = true;
      add_arg(e->args, &e->n_args, "level", FP_ARG_FLOAT)->v.f = 0.1;
      strcpy(add_arg(e->args, &e->n_args, "src", FP_ARG_STR)->v.s, "caf\xc3\xa9");
      add_arg(e->args, &e->n_args, "neg", FP_ARG_INT)->v.i = INT64_MIN;
    }
    break;
  }
  case FP_RADIO_JOIN:
    strcpy(m->u.join.fw, "1.4.2");
    if (full)
      strcpy(m->u.join.asset, "greenhouse-2/north");
    break;
  case FP_RADIO_CMD_ACK:
    m->u.cmd_ack.id = full ? UINT32_MAX : 0;
    m->u.cmd_ack.ok = !full;
    if (full)
      strcpy(m->u.cmd_ack.err, "ch out of range");
    break;
  case FP_RADIO_JOIN_ACK:
    m->u.join_ack.ch = full ? 14 : 1;
    if (full) {
      m->u.join_ack.has_ts = true;
      m->u.join_ack.ts = 1732646400000u;
    }
    break;
  case FP_RADIO_CMD: {
    struct fp_radio_cmd *c = &m->u.cmd;
    c->id = full ? 77 : 1;
    strcpy(c->name, full ? "relay.set" : "reboot");
    if (full) {
      add_arg(c->args, &c->n_args, "ch", FP_ARG_INT)->v.i = 3;
      add_arg(c->args, &c->n_args, "on", FP_ARG_BOOL)->v.b = true;
      add_arg(c->args, &c->n_args, "for_s", FP_ARG_INT)->v.i = 600;
    }
    break;
  }
  case FP_RADIO_TIME:
    m->u.time.ts = full ? UINT64_MAX : 1732646400000u;
    break;
  }
}

/* ------------------------------------------------------------------ */
/* Round trips and the pinned vector                                  */

static void roundtrip(const struct fp_radio_msg *m)
{
  uint8_t buf[FP_RADIO_MTU];
  size_t len = 0;
  assert_int_equal(fp_radio_encode(m, buf, sizeof buf, &len), 0);
  assert_true(len > FP_RADIO_HEADER_LEN && len <= FP_RADIO_MTU);
  assert_int_equal(buf[0], FP_RADIO_VERSION);
  assert_int_equal(buf[1], (uint8_t)m->type);

  struct fp_radio_header h;
  assert_int_equal(fp_radio_peek_header(buf, len, &h), 0);
  assert_int_equal(h.type, m->type);
  assert_int_equal(h.boot, m->boot);
  assert_int_equal(h.seq, m->seq);

  struct fp_radio_msg back;
  struct fp_msg_error err;
  int rc = fp_radio_decode(buf, len, &back, &err);
  if (rc != 0) {
    char text[160];
    fp_msg_error_format(&err, text, sizeof text);
    fail_msg("%s: %s", fp_radio_type_name(m->type), text);
  }
  assert_true(fp_radio_equal(m, &back));

  /* Encoding is deterministic. */
  uint8_t again[FP_RADIO_MTU];
  size_t len2 = 0;
  assert_int_equal(fp_radio_encode(&back, again, sizeof again, &len2), 0);
  assert_int_equal(len2, len);
  assert_memory_equal(buf, again, len);
}

static void test_roundtrip_every_type(void **state)
{
  (void)state;
  for (size_t i = 0; i < N_TYPES; i++) {
    struct fp_radio_msg m;
    sample(all_types[i], false, &m);
    roundtrip(&m);
    sample(all_types[i], true, &m);
    roundtrip(&m);
  }
}

static void test_direction_and_names(void **state)
{
  (void)state;
  assert_false(fp_radio_is_downlink(FP_RADIO_TEL));
  assert_false(fp_radio_is_downlink(FP_RADIO_EVT));
  assert_false(fp_radio_is_downlink(FP_RADIO_JOIN));
  assert_false(fp_radio_is_downlink(FP_RADIO_CMD_ACK));
  assert_true(fp_radio_is_downlink(FP_RADIO_JOIN_ACK));
  assert_true(fp_radio_is_downlink(FP_RADIO_CMD));
  assert_true(fp_radio_is_downlink(FP_RADIO_TIME));
  assert_string_equal(fp_radio_type_name(FP_RADIO_TEL), "tel");
  assert_string_equal(fp_radio_type_name(FP_RADIO_CMD_ACK), "cmd_ack");
  assert_string_equal(fp_radio_type_name(FP_RADIO_JOIN_ACK), "join_ack");
  assert_string_equal(fp_radio_type_name((enum fp_radio_type)0x05), "?");
  unsigned valid = 0;
  for (unsigned t = 0; t < 256; t++)
    valid += fp_radio_type_valid(t);
  assert_int_equal(valid, N_TYPES);
}

/*
 * TEL boot 3, seq 42, up_ms 123456, v {temp_c: 21.5}, syn true, worked out
 * by hand:
 *   01 01 00000003 0000002a   version 1, type TEL, boot, seq (big-endian)
 *   83                        fixmap, 3 pairs
 *   a5 "up_ms" ce 0001e240    uint32 123456 (shortest form above 65535)
 *   a1 "v" 81                 fixmap, 1 pair
 *   a6 "temp_c" ca 41ac0000   float32 21.5 = 1.34375 * 2^4: exponent
 *                             131 = 0x83, fraction 0x2c0000
 *   a3 "syn" c3               true
 */
static const uint8_t tel_vector[] = {
    0x01, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x2a, /* header */
    0x83, 0xa5, 'u',  'p',  '_',  'm',  's',  0xce, 0x00, 0x01, 0xe2, 0x40, 0xa1, 'v', 0x81, 0xa6,
    't',  'e',  'm',  'p',  '_',  'c',  0xca, 0x41, 0xac, 0x00, 0x00, 0xa3, 's',  'y', 'n',  0xc3,
};

static void test_vector_tel(void **state)
{
  (void)state;
  struct fp_radio_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_RADIO_TEL;
  m.boot = 3;
  m.seq = 42;
  m.u.tel.up_ms = 123456;
  m.u.tel.syn = true;
  add_metric(&m.u.tel, "temp_c", 21.5);
  uint8_t buf[FP_RADIO_MTU];
  size_t len = 0;
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), 0);
  assert_int_equal(len, sizeof tel_vector);
  assert_memory_equal(buf, tel_vector, sizeof tel_vector);

  struct fp_radio_msg back;
  assert_int_equal(fp_radio_decode(tel_vector, sizeof tel_vector, &back, NULL), 0);
  assert_true(fp_radio_equal(&m, &back));
}

/* Keys in another order, non-shortest integers and str8 keys decode to the
 * same message (the decoder is strict about meaning, not about form). */
static void test_decode_any_key_order(void **state)
{
  (void)state;
  static const uint8_t p[] = {
      0x01, 0x82, 0,   0,   0,    1,   0,    0,   0,   2, /* CMD boot 1 seq 2 */
      0x82, 0xa4, 'n', 'a', 'm',  'e', 0xa6, 'r', 'e', 'b', 'o', 'o', 't',
      0xd9, 0x02, 'i', 'd', 0xcf, 0,   0,    0,   0,   0,   0,   0,   9,
  };
  struct fp_radio_msg m;
  assert_int_equal(fp_radio_decode(p, sizeof p, &m, NULL), 0);
  assert_int_equal(m.type, FP_RADIO_CMD);
  assert_int_equal(m.boot, 1);
  assert_int_equal(m.seq, 2);
  assert_int_equal(m.u.cmd.id, 9);
  assert_string_equal(m.u.cmd.name, "reboot");
  assert_int_equal(m.u.cmd.n_args, 0);
}

/* ------------------------------------------------------------------ */
/* Building bad payloads                                              */

struct pl {
  uint8_t buf[512];
  struct fp_mp_writer w;
};

/* Starts a payload: header with version v and type byte t, then a body
 * written through p->w. */
static void pl_begin(struct pl *p, uint8_t version, uint8_t type)
{
  memset(p->buf, 0, sizeof p->buf);
  p->buf[0] = version;
  p->buf[1] = type;
  p->buf[5] = 1; /* boot 1 */
  p->buf[9] = 7; /* seq 7 */
  fp_mp_writer_init(&p->w, p->buf + FP_RADIO_HEADER_LEN, sizeof p->buf - FP_RADIO_HEADER_LEN);
}

static size_t pl_len(const struct pl *p)
{
  assert_int_equal(p->w.err, 0);
  return FP_RADIO_HEADER_LEN + p->w.len;
}

static void raw(struct pl *p, const uint8_t *bytes, size_t n)
{
  assert_true(p->w.len + n <= p->w.cap);
  memcpy(p->w.buf + p->w.len, bytes, n);
  p->w.len += n;
}

/* Decodes and checks code, key, `in` and offset (offset SIZE_MAX: any). */
static void expect(const uint8_t *buf, size_t len, int code, const char *key, const char *in,
                   size_t offset)
{
  struct fp_radio_msg m;
  struct fp_msg_error err;
  int rc = fp_radio_decode(buf, len, &m, &err);
  char text[160];
  fp_msg_error_format(&err, text, sizeof text);
  if (rc != code)
    fail_msg("got %s (%s), expected %s", farm_errname(rc), text, farm_errname(code));
  assert_int_equal(err.code, code);
  assert_string_equal(err.key, key);
  assert_string_equal(err.in, in);
  if (offset != SIZE_MAX && err.offset != offset)
    fail_msg("offset %zu, expected %zu (%s)", err.offset, offset, text);
  assert_true(err.offset <= len);
}

static void expect_pl(const struct pl *p, int code, const char *key, const char *in, size_t offset)
{
  expect(p->buf, pl_len(p), code, key, in, offset);
}

/* A valid TEL body {up_ms: 1, v: {temp_c: 20}} after pl_begin. */
static void tel_body(struct pl *p)
{
  fp_mp_write_map(&p->w, 2);
  fp_mp_write_cstr(&p->w, "up_ms");
  fp_mp_write_uint(&p->w, 1);
  fp_mp_write_cstr(&p->w, "v");
  fp_mp_write_map(&p->w, 1);
  fp_mp_write_cstr(&p->w, "temp_c");
  fp_mp_write_float(&p->w, 20);
}

static void test_builder_baseline(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TEL);
  tel_body(&p);
  struct fp_radio_msg m;
  assert_int_equal(fp_radio_decode(p.buf, pl_len(&p), &m, NULL), 0);
  assert_int_equal(m.boot, 1);
  assert_int_equal(m.seq, 7);
  assert_int_equal(m.u.tel.n_metrics, 1);
  assert_true(m.u.tel.v[0].value == 20);
}

/* ------------------------------------------------------------------ */
/* BAD-INPUTS.md 9: version, type, lengths                            */

static void test_wrong_version(void **state)
{
  (void)state;
  static const uint8_t versions[] = {0, 2, 0x81, 0xff};
  for (size_t i = 0; i < sizeof versions; i++) {
    struct pl p;
    pl_begin(&p, versions[i], FP_RADIO_TEL);
    tel_body(&p);
    expect_pl(&p, FARM_EUNSUPPORTED, "", "", 0);
    struct fp_radio_header h;
    assert_int_equal(fp_radio_peek_header(p.buf, pl_len(&p), &h), FARM_EUNSUPPORTED);
  }
}

static void test_unknown_type(void **state)
{
  (void)state;
  for (unsigned t = 0; t < 256; t++) {
    if (fp_radio_type_valid(t))
      continue;
    struct pl p;
    pl_begin(&p, 1, (uint8_t)t);
    tel_body(&p);
    expect_pl(&p, FARM_EUNKNOWN, "", "", 1);
  }
}

static void test_short_payloads(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TEL);
  tel_body(&p);
  size_t full = pl_len(&p);
  /* Under the header: nothing to trust, not even the version. */
  for (size_t n = 0; n < FP_RADIO_HEADER_LEN; n++) {
    expect(p.buf, n, FARM_ETRUNCATED, "", "", 0);
    struct fp_radio_header h;
    assert_int_equal(fp_radio_peek_header(p.buf, n, &h), FARM_ETRUNCATED);
  }
  expect(NULL, 0, FARM_ETRUNCATED, "", "", 0);
  /* A header without a body. */
  expect(p.buf, FP_RADIO_HEADER_LEN, FARM_ETRUNCATED, "", "", FP_RADIO_HEADER_LEN);
  /* Every cut inside the body: the payload length does not match. */
  for (size_t n = FP_RADIO_HEADER_LEN + 1; n < full; n++) {
    struct fp_radio_msg m;
    struct fp_msg_error err;
    int rc = fp_radio_decode(p.buf, n, &m, &err);
    assert_int_equal(rc, FARM_ETRUNCATED);
    assert_true(err.offset >= FP_RADIO_HEADER_LEN && err.offset <= n);
  }
}

static void test_oversized_payloads(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TEL);
  tel_body(&p);
  size_t n = pl_len(&p);
  /* A valid message padded past 250 bytes is refused before its body is
   * looked at: ESP-NOW v1 never delivers such a frame honestly. */
  expect(p.buf, FP_RADIO_MTU + 1, FARM_ETOOBIG, "", "", 0);
  expect(p.buf, sizeof p.buf, FARM_ETOOBIG, "", "", 0);
  struct fp_radio_header h;
  assert_int_equal(fp_radio_peek_header(p.buf, FP_RADIO_MTU + 1, &h), FARM_ETOOBIG);
  /* Exactly 250 with trailing zeros is a length mismatch, not too big. */
  expect(p.buf, FP_RADIO_MTU, FARM_ETRAILING, "", "", n);
}

static void test_trailing_bytes(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TEL);
  tel_body(&p);
  size_t n = pl_len(&p);
  fp_mp_write_nil(&p.w);
  expect_pl(&p, FARM_ETRAILING, "", "", n);
}

/* A body of another type: required keys missing, in documented order. */
static void test_body_not_matching_type(void **state)
{
  (void)state;
  static const struct {
    uint8_t type;
    const char *missing;
  } cases[] = {
      {FP_RADIO_EVT, "name"},    {FP_RADIO_JOIN, "fw"}, {FP_RADIO_CMD_ACK, "id"},
      {FP_RADIO_JOIN_ACK, "ch"}, {FP_RADIO_CMD, "id"},  {FP_RADIO_TIME, "ts"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct pl p;
    pl_begin(&p, 1, cases[i].type);
    tel_body(&p); /* up_ms and v are skipped as keys of another type */
    expect_pl(&p, FARM_EMISSING, cases[i].missing, "", 0);
  }
  /* TEL missing each of its keys. */
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 0);
  expect_pl(&p, FARM_EMISSING, "up_ms", "", 0);
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 5);
  expect_pl(&p, FARM_EMISSING, "v", "", 0);
  /* CMD with id but no name; CMD_ACK with id but no ok. */
  pl_begin(&p, 1, FP_RADIO_CMD);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 5);
  expect_pl(&p, FARM_EMISSING, "name", "", 0);
  pl_begin(&p, 1, FP_RADIO_CMD_ACK);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 5);
  expect_pl(&p, FARM_EMISSING, "ok", "", 0);
}

/* ------------------------------------------------------------------ */
/* BAD-INPUTS.md 10-13: the MessagePack body                           */

static void test_body_not_a_map(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_array(&p.w, 0);
  expect_pl(&p, FARM_ETYPE, "", "", FP_RADIO_HEADER_LEN);
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_uint(&p.w, 5);
  expect_pl(&p, FARM_ETYPE, "", "", FP_RADIO_HEADER_LEN);
  /* The reserved byte 0xc1 (msgpack spec: "never used"). */
  pl_begin(&p, 1, FP_RADIO_TIME);
  raw(&p, (const uint8_t[]){0xc1}, 1);
  expect_pl(&p, FARM_EMALFORMED, "", "", FP_RADIO_HEADER_LEN);
  /* A non-text key. */
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_uint(&p.w, 1);
  expect_pl(&p, FARM_ETYPE, "", "", FP_RADIO_HEADER_LEN + 1);
}

static void test_declared_lengths_beyond_input(void **state)
{
  (void)state;
  struct pl p;
  /* str8 claiming 200 bytes with 3 left: the length is checked against
   * what remains before anything is read. */
  pl_begin(&p, 1, FP_RADIO_EVT);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "name");
  raw(&p, (const uint8_t[]){0xd9, 200, 'a', 'b', 'c'}, 5);
  expect_pl(&p, FARM_ETRUNCATED, "name", "", SIZE_MAX);
  /* map32 claiming 2^32-1 pairs: refused from its count alone. */
  pl_begin(&p, 1, FP_RADIO_TIME);
  raw(&p, (const uint8_t[]){0xdf, 0xff, 0xff, 0xff, 0xff}, 5);
  expect_pl(&p, FARM_ETOOBIG, "", "", FP_RADIO_HEADER_LEN);
  /* 33 pairs is one over FP_MSG_MAX_PAIRS. */
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, FP_MSG_MAX_PAIRS + 1);
  expect_pl(&p, FARM_ETOOBIG, "", "", FP_RADIO_HEADER_LEN);
  /* v declaring 2^32-1 metrics. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "v");
  raw(&p, (const uint8_t[]){0xdf, 0xff, 0xff, 0xff, 0xff}, 5);
  expect_pl(&p, FARM_ERANGE, "v", "", FP_RADIO_HEADER_LEN + 10);
  /* An unknown key whose array claims 2^32-1 items. */
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "ts");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "zz");
  raw(&p, (const uint8_t[]){0xdd, 0xff, 0xff, 0xff, 0xff}, 5);
  expect_pl(&p, FARM_ETRUNCATED, "zz", "", SIZE_MAX);
}

static void test_nesting_too_deep(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "ts");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "x");
  for (int i = 0; i < FP_MAX_DEPTH + 1; i++)
    fp_mp_write_array(&p.w, 1);
  fp_mp_write_nil(&p.w);
  expect_pl(&p, FARM_EDEPTH, "x", "", SIZE_MAX);
}

static void test_wrong_types(void **state)
{
  (void)state;
  struct pl p;
  /* up_ms as text: the value's byte is at 10 + 1 (map) + 6 ("up_ms"). */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_cstr(&p.w, "1");
  expect_pl(&p, FARM_ETYPE, "up_ms", "", 17);
  /* up_ms as an integral float: the schema's integers are exact. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_f64(&p.w, 5.0);
  expect_pl(&p, FARM_ETYPE, "up_ms", "", 17);
  /* v as an array. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "v");
  fp_mp_write_array(&p.w, 0);
  expect_pl(&p, FARM_ETYPE, "v", "", 20);
  /* A metric given text. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "v");
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "temp_c");
  fp_mp_write_cstr(&p.w, "hot");
  expect_pl(&p, FARM_ETYPE, "temp_c", "v", 28);
  /* syn as 1. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  tel_body(&p);
  p.w.buf[0] = 0x83;
  fp_mp_write_cstr(&p.w, "syn");
  fp_mp_write_uint(&p.w, 1);
  expect_pl(&p, FARM_ETYPE, "syn", "", SIZE_MAX);
  /* ok as 0, id negative (out of range), id as text. */
  pl_begin(&p, 1, FP_RADIO_CMD_ACK);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "ok");
  fp_mp_write_uint(&p.w, 0);
  expect_pl(&p, FARM_ETYPE, "ok", "", 18);
  pl_begin(&p, 1, FP_RADIO_CMD_ACK);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_int(&p.w, -1);
  expect_pl(&p, FARM_ERANGE, "id", "", 14);
  pl_begin(&p, 1, FP_RADIO_CMD);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_cstr(&p.w, "7");
  expect_pl(&p, FARM_ETYPE, "id", "", 14);
  /* An argument given an array. */
  pl_begin(&p, 1, FP_RADIO_CMD);
  fp_mp_write_map(&p.w, 3);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "name");
  fp_mp_write_cstr(&p.w, "identify");
  fp_mp_write_cstr(&p.w, "args");
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "ch");
  fp_mp_write_array(&p.w, 0);
  expect_pl(&p, FARM_ETYPE, "ch", "args", SIZE_MAX);
  /* name as bytes, fw as an integer, ts as text. */
  pl_begin(&p, 1, FP_RADIO_EVT);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "name");
  fp_mp_write_bin(&p.w, "boot", 4);
  expect_pl(&p, FARM_ETYPE, "name", "", 16);
  pl_begin(&p, 1, FP_RADIO_JOIN);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "fw");
  fp_mp_write_uint(&p.w, 1);
  expect_pl(&p, FARM_ETYPE, "fw", "", 14);
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "ts");
  fp_mp_write_cstr(&p.w, "now");
  expect_pl(&p, FARM_ETYPE, "ts", "", 14);
}

static void test_out_of_range(void **state)
{
  (void)state;
  struct pl p;
  static const uint64_t bad_ch[] = {0, 15, 255, UINT64_MAX};
  for (size_t i = 0; i < sizeof bad_ch / sizeof bad_ch[0]; i++) {
    pl_begin(&p, 1, FP_RADIO_JOIN_ACK);
    fp_mp_write_map(&p.w, 1);
    fp_mp_write_cstr(&p.w, "ch");
    fp_mp_write_uint(&p.w, bad_ch[i]);
    expect_pl(&p, FARM_ERANGE, "ch", "", 14);
  }
  /* id above 32 bits. */
  pl_begin(&p, 1, FP_RADIO_CMD);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, UINT64_C(1) << 32);
  expect_pl(&p, FARM_ERANGE, "id", "", 14);
  /* Empty and overlong strings. */
  pl_begin(&p, 1, FP_RADIO_JOIN);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "fw");
  fp_mp_write_cstr(&p.w, "");
  expect_pl(&p, FARM_ERANGE, "fw", "", 14);
  pl_begin(&p, 1, FP_RADIO_JOIN);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "fw");
  fp_mp_write_cstr(&p.w, "0123456789abcdef0123456789abcdef"); /* 32 */
  expect_pl(&p, FARM_ERANGE, "fw", "", 14);
  /* A command name outside [a-z0-9_.]. */
  pl_begin(&p, 1, FP_RADIO_CMD);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "name");
  fp_mp_write_cstr(&p.w, "Relay.Set");
  expect_pl(&p, FARM_EINVAL, "name", "", 20);
  /* A NUL inside a text (a C string would cut it silently). */
  pl_begin(&p, 1, FP_RADIO_EVT);
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "name");
  fp_mp_write_str(&p.w, "bo\0t", 4);
  expect_pl(&p, FARM_EINVAL, "name", "", 16);
  /* 17 metrics; 0 metrics. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "v");
  fp_mp_write_map(&p.w, 17);
  for (int i = 0; i < 17; i++) {
    char name[8];
    snprintf(name, sizeof name, "m%d", i);
    fp_mp_write_cstr(&p.w, name);
    fp_mp_write_uint(&p.w, 1);
  }
  expect(p.buf, p.w.len + FP_RADIO_HEADER_LEN, FARM_ERANGE, "v", "", 20);
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "v");
  fp_mp_write_map(&p.w, 0);
  expect_pl(&p, FARM_ERANGE, "v", "", 20);
}

/* NaN, infinities and physically impossible sensor values. */
static void test_impossible_metrics(void **state)
{
  (void)state;
  static const struct {
    const char *name;
    double v;
  } cases[] = {
      {"temp_c", NAN},     {"temp_c", INFINITY}, {"temp_c", -INFINITY}, {"temp_c", 125.5},
      {"temp_c", -40.5},   {"rh_pct", -0.5},     {"rh_pct", 100.5},     {"lux", -1},
      {"air_ppm", 100001}, {"other", NAN},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct pl p;
    pl_begin(&p, 1, FP_RADIO_TEL);
    fp_mp_write_map(&p.w, 2);
    fp_mp_write_cstr(&p.w, "up_ms");
    fp_mp_write_uint(&p.w, 1);
    fp_mp_write_cstr(&p.w, "v");
    fp_mp_write_map(&p.w, 1);
    fp_mp_write_cstr(&p.w, cases[i].name);
    size_t off = FP_RADIO_HEADER_LEN + p.w.len;
    fp_mp_write_f64(&p.w, cases[i].v);
    expect_pl(&p, FARM_ERANGE, cases[i].name, "v", off);

    /* The encoder refuses the same struct. */
    struct fp_radio_msg m;
    memset(&m, 0, sizeof m);
    m.type = FP_RADIO_TEL;
    add_metric(&m.u.tel, cases[i].name, cases[i].v);
    uint8_t buf[FP_RADIO_MTU];
    size_t len = 0;
    struct fp_msg_error err;
    assert_int_equal(fp_radio_validate(&m, &err), FARM_ERANGE);
    assert_string_equal(err.key, cases[i].name);
    assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_ERANGE);
  }
  /* A non-finite argument. */
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_EVT);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "name");
  fp_mp_write_cstr(&p.w, "x");
  fp_mp_write_cstr(&p.w, "args");
  fp_mp_write_map(&p.w, 1);
  fp_mp_write_cstr(&p.w, "level");
  fp_mp_write_f64(&p.w, NAN);
  expect_pl(&p, FARM_ERANGE, "level", "args", SIZE_MAX);
}

static void test_duplicate_keys(void **state)
{
  (void)state;
  struct pl p;
  /* up_ms twice: the second key is at fault. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  tel_body(&p);
  p.w.buf[0] = 0x83;
  size_t off = FP_RADIO_HEADER_LEN + p.w.len;
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 2);
  expect_pl(&p, FARM_EDUPKEY, "up_ms", "", off);
  /* A key the type does not read, twice. */
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 3);
  fp_mp_write_cstr(&p.w, "ts");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "ch");
  fp_mp_write_uint(&p.w, 1);
  off = FP_RADIO_HEADER_LEN + p.w.len;
  fp_mp_write_cstr(&p.w, "ch");
  fp_mp_write_uint(&p.w, 1);
  expect_pl(&p, FARM_EDUPKEY, "ch", "", off);
  /* A key of no schema, twice. */
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 3);
  fp_mp_write_cstr(&p.w, "future");
  fp_mp_write_uint(&p.w, 1);
  off = FP_RADIO_HEADER_LEN + p.w.len;
  fp_mp_write_cstr(&p.w, "future");
  fp_mp_write_uint(&p.w, 1);
  expect_pl(&p, FARM_EDUPKEY, "future", "", off);
  /* The same metric twice in v. */
  pl_begin(&p, 1, FP_RADIO_TEL);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "up_ms");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "v");
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "lux");
  fp_mp_write_uint(&p.w, 1);
  off = FP_RADIO_HEADER_LEN + p.w.len;
  fp_mp_write_cstr(&p.w, "lux");
  fp_mp_write_uint(&p.w, 2);
  expect_pl(&p, FARM_EDUPKEY, "lux", "v", off);
  /* The same argument twice. */
  pl_begin(&p, 1, FP_RADIO_CMD);
  fp_mp_write_map(&p.w, 3);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "name");
  fp_mp_write_cstr(&p.w, "relay.set");
  fp_mp_write_cstr(&p.w, "args");
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "ch");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "ch");
  fp_mp_write_uint(&p.w, 2);
  expect_pl(&p, FARM_EDUPKEY, "ch", "args", SIZE_MAX);
}

static void test_invalid_utf8(void **state)
{
  (void)state;
  static const uint8_t bad[][3] = {
      {0xc0, 0xaf, 0},    /* overlong '/' */
      {0xed, 0xa0, 0x80}, /* a surrogate, U+D800 */
      {0xff, 'a', 'b'},   /* never valid */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t n = bad[i][2] == 0 ? 2 : 3;
    struct pl p;
    pl_begin(&p, 1, FP_RADIO_EVT);
    fp_mp_write_map(&p.w, 1);
    fp_mp_write_cstr(&p.w, "name");
    fp_mp_write_str(&p.w, bad[i], n);
    expect_pl(&p, FARM_EUTF8, "name", "", 16);
    /* In a key too. */
    pl_begin(&p, 1, FP_RADIO_TIME);
    fp_mp_write_map(&p.w, 1);
    fp_mp_write_str(&p.w, bad[i], n);
    expect_pl(&p, FARM_EUTF8, "", "", 11);
  }
  /* The encoder refuses invalid UTF-8 in a struct. */
  struct fp_radio_msg m;
  sample(FP_RADIO_JOIN, true, &m);
  m.u.join.asset[3] = (char)0xff;
  uint8_t buf[FP_RADIO_MTU];
  size_t len = 0;
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_EUTF8);
}

static void test_cmd_ack_err_rules(void **state)
{
  (void)state;
  /* ok false without err: missing. */
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_CMD_ACK);
  fp_mp_write_map(&p.w, 2);
  fp_mp_write_cstr(&p.w, "id");
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "ok");
  fp_mp_write_bool(&p.w, false);
  expect_pl(&p, FARM_EMISSING, "err", "", 0);
  struct fp_radio_msg m;
  sample(FP_RADIO_CMD_ACK, true, &m);
  m.u.cmd_ack.err[0] = '\0';
  assert_int_equal(fp_radio_validate(&m, NULL), FARM_EMISSING);
  /* ok true with an err is fine (a warning). */
  sample(FP_RADIO_CMD_ACK, false, &m);
  strcpy(m.u.cmd_ack.err, "clamped");
  roundtrip(&m);
}

/* Keys of no schema are skipped when well-formed. */
static void test_unknown_keys_skipped(void **state)
{
  (void)state;
  struct pl p;
  pl_begin(&p, 1, FP_RADIO_TIME);
  fp_mp_write_map(&p.w, 3);
  fp_mp_write_cstr(&p.w, "later");
  fp_mp_write_array(&p.w, 2);
  fp_mp_write_uint(&p.w, 1);
  fp_mp_write_cstr(&p.w, "x");
  fp_mp_write_cstr(&p.w, "ts");
  fp_mp_write_uint(&p.w, 99);
  fp_mp_write_cstr(&p.w, "up_ms"); /* a key of another type */
  fp_mp_write_cstr(&p.w, "ignored");
  struct fp_radio_msg m;
  assert_int_equal(fp_radio_decode(p.buf, pl_len(&p), &m, NULL), 0);
  assert_int_equal(m.u.time.ts, 99);
}

/* ------------------------------------------------------------------ */
/* Encoder refusals                                                   */

static void test_encode_refusals(void **state)
{
  (void)state;
  struct fp_radio_msg m;
  uint8_t buf[FP_RADIO_MTU];
  size_t len = 12345;
  struct fp_msg_error err;

  sample(FP_RADIO_TIME, false, &m);
  m.type = (enum fp_radio_type)0x05;
  assert_int_equal(fp_radio_validate(&m, &err), FARM_EUNKNOWN);
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_EUNKNOWN);

  sample(FP_RADIO_JOIN_ACK, false, &m);
  m.u.join_ack.ch = 0;
  assert_int_equal(fp_radio_validate(&m, &err), FARM_ERANGE);
  assert_string_equal(err.key, "ch");
  m.u.join_ack.ch = 15;
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_ERANGE);

  sample(FP_RADIO_TEL, false, &m);
  m.u.tel.n_metrics = 0;
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_ERANGE);
  m.u.tel.n_metrics = FP_MSG_MAX_METRICS + 1;
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_ERANGE);

  sample(FP_RADIO_TEL, true, &m);
  strcpy(m.u.tel.v[1].name, "temp_c");
  assert_int_equal(fp_radio_validate(&m, &err), FARM_EDUPKEY);
  strcpy(m.u.tel.v[1].name, "Bad");
  assert_int_equal(fp_radio_validate(&m, &err), FARM_EINVAL);

  sample(FP_RADIO_CMD, true, &m);
  strcpy(m.u.cmd.name, "relay set");
  assert_int_equal(fp_radio_validate(&m, &err), FARM_EINVAL);
  assert_string_equal(err.key, "name");
  sample(FP_RADIO_CMD, true, &m);
  m.u.cmd.n_args = FP_MSG_MAX_ARGS + 1;
  assert_int_equal(fp_radio_validate(&m, &err), FARM_ERANGE);

  sample(FP_RADIO_EVT, false, &m);
  memset(m.u.evt.name, 'a', sizeof m.u.evt.name); /* no NUL */
  assert_int_equal(fp_radio_validate(&m, &err), FARM_EINVAL);
  sample(FP_RADIO_EVT, false, &m);
  m.u.evt.name[0] = '\0';
  assert_int_equal(fp_radio_validate(&m, &err), FARM_ERANGE);
  assert_int_equal(len, 12345); /* nothing reported on refusals */
}

/* A valid TEL too big for one ESP-NOW frame is FARM_ETOOBIG; one that fits
 * the MTU but not the caller's buffer is FARM_ENOSPC. */
static void test_encode_sizes(void **state)
{
  (void)state;
  struct fp_radio_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_RADIO_TEL;
  m.u.tel.up_ms = UINT64_MAX;
  m.u.tel.syn = true;
  for (int i = 0; i < FP_MSG_MAX_METRICS; i++) {
    char name[FP_MSG_KEY_MAX + 1];
    snprintf(name, sizeof name, "metric_%08d", i); /* 15 characters */
    add_metric(&m.u.tel, name, 0.1);               /* float64 */
  }
  uint8_t buf[FP_RADIO_MTU + 64];
  size_t len = 0;
  assert_int_equal(fp_radio_encode(&m, buf, sizeof buf, &len), FARM_ETOOBIG);

  /* Shrink until it fits: the largest payload is exactly the MTU at most. */
  while (fp_radio_encode(&m, buf, sizeof buf, &len) == FARM_ETOOBIG)
    m.u.tel.n_metrics--;
  assert_true(m.u.tel.n_metrics >= 1 && len <= FP_RADIO_MTU);
  /* Each float64 metric of a 15-byte name costs 1 + 15 + 9 = 25 bytes. */
  assert_true(len + 25 > FP_RADIO_MTU);

  uint8_t small[FP_RADIO_MTU];
  size_t got = 0;
  assert_int_equal(fp_radio_encode(&m, small, len - 1, &got), FARM_ENOSPC);
  assert_int_equal(fp_radio_encode(&m, small, len, &got), 0);
  assert_int_equal(got, len);
  assert_int_equal(fp_radio_encode(&m, NULL, 0, &got), FARM_ENOSPC);
}

static void test_equal_detects_differences(void **state)
{
  (void)state;
  for (size_t i = 0; i < N_TYPES; i++) {
    struct fp_radio_msg a, b;
    sample(all_types[i], true, &a);
    sample(all_types[i], true, &b);
    assert_true(fp_radio_equal(&a, &b));
    b.seq ^= 1;
    assert_false(fp_radio_equal(&a, &b));
    b = a;
    b.boot ^= 1;
    assert_false(fp_radio_equal(&a, &b));
  }
  struct fp_radio_msg a, b;
  sample(FP_RADIO_TEL, true, &a);
  b = a;
  b.u.tel.v[4].value = 0.0; /* -0.0 differs from 0.0 by its bits */
  assert_false(fp_radio_equal(&a, &b));
  sample(FP_RADIO_CMD, true, &a);
  b = a;
  b.u.cmd.args[2].v.i = 601;
  assert_false(fp_radio_equal(&a, &b));
  sample(FP_RADIO_JOIN_ACK, true, &a);
  b = a;
  b.u.join_ack.has_ts = false;
  assert_false(fp_radio_equal(&a, &b));
}

/* ------------------------------------------------------------------ */

static int write_corpus(const char *dir)
{
  int n = 0;
  for (size_t i = 0; i < N_TYPES; i++) {
    for (int full = 0; full < 2; full++) {
      struct fp_radio_msg m;
      sample(all_types[i], full, &m);
      uint8_t buf[FP_RADIO_MTU];
      size_t len = 0;
      if (fp_radio_encode(&m, buf, sizeof buf, &len) != 0)
        return 1;
      char path[512];
      snprintf(path, sizeof path, "%s/%s-%s", dir, fp_radio_type_name(all_types[i]),
               full ? "full" : "min");
      FILE *f = fopen(path, "wb");
      if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        return 1;
      n++;
    }
  }
  printf("wrote %d files\n", n);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
    return write_corpus(argv[2]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_every_type),
      cmocka_unit_test(test_direction_and_names),
      cmocka_unit_test(test_vector_tel),
      cmocka_unit_test(test_decode_any_key_order),
      cmocka_unit_test(test_builder_baseline),
      cmocka_unit_test(test_wrong_version),
      cmocka_unit_test(test_unknown_type),
      cmocka_unit_test(test_short_payloads),
      cmocka_unit_test(test_oversized_payloads),
      cmocka_unit_test(test_trailing_bytes),
      cmocka_unit_test(test_body_not_matching_type),
      cmocka_unit_test(test_body_not_a_map),
      cmocka_unit_test(test_declared_lengths_beyond_input),
      cmocka_unit_test(test_nesting_too_deep),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_impossible_metrics),
      cmocka_unit_test(test_duplicate_keys),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_cmd_ack_err_rules),
      cmocka_unit_test(test_unknown_keys_skipped),
      cmocka_unit_test(test_encode_refusals),
      cmocka_unit_test(test_encode_sizes),
      cmocka_unit_test(test_equal_detects_differences),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
