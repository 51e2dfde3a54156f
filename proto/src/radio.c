/* SPDX-License-Identifier: MIT */
/*
 * The radio payloads of DESIGN §5: a 10-byte big-endian header and a
 * MessagePack map body with the serial schema's keys. The header is checked
 * first and cheaply (length, version, type) because radio input is
 * untrusted and plentiful; the body is then walked once, each key resolved
 * against the keys the radio uses and its value read and checked by the
 * functions the serial decoder uses for the same key (msg_internal.h), so a
 * `v` or `args` means the same on both links.
 */
#include "fp/radio.h"

#include <assert.h>
#include <string.h>

#include "farm/error.h"
#include "msg_internal.h"

/* The body keys of the radio schema, in the order in which required keys
 * are reported missing (each type's required keys in its documented order). */
enum rkey {
  R_UP_MS,
  R_V,
  R_SYN,
  R_ID,
  R_OK,
  R_NAME,
  R_ARGS,
  R_ERR,
  R_FW,
  R_ASSET,
  R_CH,
  R_TS,
  R_COUNT,
  R_NONE = -1
};

#define RB(k) (UINT32_C(1) << (k))

static const char *const rkey_names[R_COUNT] = {
    [R_UP_MS] = "up_ms", [R_V] = "v",         [R_SYN] = "syn",   [R_ID] = "id",
    [R_OK] = "ok",       [R_NAME] = "name",   [R_ARGS] = "args", [R_ERR] = "err",
    [R_FW] = "fw",       [R_ASSET] = "asset", [R_CH] = "ch",     [R_TS] = "ts",
};

struct rspec {
  uint8_t type;
  const char *name;
  uint32_t required;
  uint32_t allowed; /* optional keys; every other key is skipped */
};

static const struct rspec rspecs[] = {
    {FP_RADIO_TEL, "tel", RB(R_UP_MS) | RB(R_V), RB(R_SYN)},
    {FP_RADIO_EVT, "evt", RB(R_NAME), RB(R_ARGS)},
    {FP_RADIO_JOIN, "join", RB(R_FW), RB(R_ASSET)},
    {FP_RADIO_CMD_ACK, "cmd_ack", RB(R_ID) | RB(R_OK), RB(R_ERR)},
    {FP_RADIO_JOIN_ACK, "join_ack", RB(R_CH), RB(R_TS)},
    {FP_RADIO_CMD, "cmd", RB(R_ID) | RB(R_NAME), RB(R_ARGS)},
    {FP_RADIO_TIME, "time", RB(R_TS), 0},
};

#define N_RSPECS (sizeof rspecs / sizeof rspecs[0])

static const struct rspec *spec_of(unsigned type)
{
  for (size_t i = 0; i < N_RSPECS; i++) {
    if (rspecs[i].type == type)
      return &rspecs[i];
  }
  return NULL;
}

static enum rkey rkey_lookup(const uint8_t *p, size_t n)
{
  for (int k = 0; k < R_COUNT; k++) {
    if (strlen(rkey_names[k]) == n && memcmp(rkey_names[k], p, n) == 0)
      return (enum rkey)k;
  }
  return R_NONE;
}

bool fp_radio_type_valid(unsigned type)
{
  return spec_of(type) != NULL;
}

const char *fp_radio_type_name(enum fp_radio_type t)
{
  const struct rspec *s = spec_of((unsigned)t);
  return s != NULL ? s->name : "?";
}

/* ------------------------------------------------------------------ */
/* Validation                                                         */

static int vfail(struct fp_msg_error *e, int code, const char *key, const char *expected)
{
  fp__msg_error_set(e, code, key, 0, "", expected);
  return code;
}

static int validate(const struct fp_radio_msg *m, struct fp_msg_error *e)
{
  int rc;
  switch (m->type) {
  case FP_RADIO_TEL:
    return fp__check_metrics(e, m->u.tel.v, m->u.tel.n_metrics);
  case FP_RADIO_EVT:
    rc = fp__check_text(e, "name", m->u.evt.name, sizeof m->u.evt.name, 1, FP_MSG_NAME_MAX,
                        X_EVT_NAME);
    return rc != 0 ? rc : fp__check_args(e, m->u.evt.args, m->u.evt.n_args);
  case FP_RADIO_JOIN:
    rc = fp__check_text(e, "fw", m->u.join.fw, sizeof m->u.join.fw, 1, FP_MSG_FW_MAX, X_FW);
    if (rc != 0)
      return rc;
    return fp__check_text(e, "asset", m->u.join.asset, sizeof m->u.join.asset, 0, FP_MSG_ASSET_MAX,
                          X_ASSET);
  case FP_RADIO_CMD_ACK:
    rc = fp__check_text(e, "err", m->u.cmd_ack.err, sizeof m->u.cmd_ack.err, 0, FP_MSG_ERR_MAX,
                        X_ERR);
    if (rc == 0 && !m->u.cmd_ack.ok && m->u.cmd_ack.err[0] == '\0')
      rc = vfail(e, FARM_EMISSING, "err", "");
    return rc;
  case FP_RADIO_JOIN_ACK:
    if (m->u.join_ack.ch < FP_MSG_CH_MIN || m->u.join_ack.ch > FP_MSG_CH_MAX)
      return vfail(e, FARM_ERANGE, "ch", X_CH);
    return 0;
  case FP_RADIO_CMD:
    rc = fp__check_cmd_name(e, m->u.cmd.name, sizeof m->u.cmd.name);
    return rc != 0 ? rc : fp__check_args(e, m->u.cmd.args, m->u.cmd.n_args);
  case FP_RADIO_TIME:
    return 0;
  }
  return vfail(e, FARM_EUNKNOWN, "t", "a radio message type");
}

int fp_radio_validate(const struct fp_radio_msg *m, struct fp_msg_error *err)
{
  assert(m != NULL);
  struct fp_msg_error scratch;
  struct fp_msg_error *e = err != NULL ? err : &scratch;
  fp__msg_error_set(e, 0, "", 0, "", "");
  return validate(m, e);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                           */

static void put_u32_be(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_u32_be(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_key(struct fp_writer *w, enum rkey k)
{
  fp_write_cstr(w, rkey_names[k]);
}

static void put_uint(struct fp_writer *w, enum rkey k, uint64_t u)
{
  put_key(w, k);
  fp_write_uint(w, u);
}

static void put_str(struct fp_writer *w, enum rkey k, const char *s)
{
  put_key(w, k);
  fp_write_cstr(w, s);
}

/* Number of pairs put_body() writes. */
static unsigned pair_count(const struct fp_radio_msg *m)
{
  switch (m->type) {
  case FP_RADIO_TEL:
    return 2u + m->u.tel.syn;
  case FP_RADIO_EVT:
    return 1u + (m->u.evt.n_args > 0);
  case FP_RADIO_JOIN:
    return 1u + (m->u.join.asset[0] != '\0');
  case FP_RADIO_CMD_ACK:
    return 2u + (m->u.cmd_ack.err[0] != '\0');
  case FP_RADIO_JOIN_ACK:
    return 1u + m->u.join_ack.has_ts;
  case FP_RADIO_CMD:
    return 2u + (m->u.cmd.n_args > 0);
  case FP_RADIO_TIME:
    return 1;
  }
  assert(!"validated type");
  return 0;
}

/* Keys in the order of the rkey enum, the order the structs document. */
static void put_body(struct fp_writer *w, const struct fp_radio_msg *m)
{
  fp_write_map(w, pair_count(m));
  switch (m->type) {
  case FP_RADIO_TEL:
    put_uint(w, R_UP_MS, m->u.tel.up_ms);
    fp__put_metrics(w, m->u.tel.v, m->u.tel.n_metrics);
    if (m->u.tel.syn) {
      put_key(w, R_SYN);
      fp_write_bool(w, true);
    }
    break;
  case FP_RADIO_EVT:
    put_str(w, R_NAME, m->u.evt.name);
    if (m->u.evt.n_args > 0)
      fp__put_args(w, m->u.evt.args, m->u.evt.n_args);
    break;
  case FP_RADIO_JOIN:
    put_str(w, R_FW, m->u.join.fw);
    if (m->u.join.asset[0] != '\0')
      put_str(w, R_ASSET, m->u.join.asset);
    break;
  case FP_RADIO_CMD_ACK:
    put_uint(w, R_ID, m->u.cmd_ack.id);
    put_key(w, R_OK);
    fp_write_bool(w, m->u.cmd_ack.ok);
    if (m->u.cmd_ack.err[0] != '\0')
      put_str(w, R_ERR, m->u.cmd_ack.err);
    break;
  case FP_RADIO_JOIN_ACK:
    put_uint(w, R_CH, m->u.join_ack.ch);
    if (m->u.join_ack.has_ts)
      put_uint(w, R_TS, m->u.join_ack.ts);
    break;
  case FP_RADIO_CMD:
    put_uint(w, R_ID, m->u.cmd.id);
    put_str(w, R_NAME, m->u.cmd.name);
    if (m->u.cmd.n_args > 0)
      fp__put_args(w, m->u.cmd.args, m->u.cmd.n_args);
    break;
  case FP_RADIO_TIME:
    put_uint(w, R_TS, m->u.time.ts);
    break;
  }
}

int fp_radio_encode(const struct fp_radio_msg *m, uint8_t *buf, size_t cap, size_t *out_len)
{
  assert(m != NULL && out_len != NULL && (buf != NULL || cap == 0));
  int rc = fp_radio_validate(m, NULL);
  if (rc != 0)
    return rc;
  /* Encode into a frame-sized scratch buffer first: whether the payload
   * exceeds the MTU (the message's fault) and whether it exceeds cap (the
   * caller's) are different errors. */
  uint8_t frame[FP_RADIO_MTU];
  frame[0] = FP_RADIO_VERSION;
  frame[1] = (uint8_t)m->type;
  put_u32_be(frame + 2, m->boot);
  put_u32_be(frame + 6, m->seq);
  struct fp_writer w;
  fp_writer_init(&w, FP_CODEC_MSGPACK, frame + FP_RADIO_HEADER_LEN,
                 sizeof frame - FP_RADIO_HEADER_LEN);
  put_body(&w, m);
  rc = fp_writer_error(&w);
  if (rc == FARM_ENOSPC)
    return FARM_ETOOBIG;
  if (rc != 0)
    return rc;
  size_t n = FP_RADIO_HEADER_LEN + fp_writer_len(&w);
  if (n > cap)
    return FARM_ENOSPC;
  memcpy(buf, frame, n);
  *out_len = n;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                           */

int fp_radio_peek_header(const uint8_t *buf, size_t len, struct fp_radio_header *out)
{
  assert(out != NULL && (buf != NULL || len == 0));
  if (len > FP_RADIO_MTU)
    return FARM_ETOOBIG;
  if (len < FP_RADIO_HEADER_LEN)
    return FARM_ETRUNCATED;
  if (buf[0] != FP_RADIO_VERSION)
    return FARM_EUNSUPPORTED;
  if (!fp_radio_type_valid(buf[1]))
    return FARM_EUNKNOWN;
  out->type = (enum fp_radio_type)buf[1];
  out->boot = get_u32_be(buf + 2);
  out->seq = get_u32_be(buf + 6);
  return 0;
}

/* Decodes the value of key k for message m. */
static int get_field(struct fp__dec *d, struct fp_radio_msg *m, enum rkey k)
{
  const char *key = rkey_names[k];
  uint64_t u;
  int rc;
  switch (k) {
  case R_UP_MS:
    return fp__dec_uint(d, key, 0, UINT64_MAX, X_U64, &m->u.tel.up_ms);
  case R_V:
    return fp__dec_metrics(d, m->u.tel.v, &m->u.tel.n_metrics);
  case R_SYN:
    return fp__dec_bool(d, key, &m->u.tel.syn);
  case R_ID:
    rc = fp__dec_uint(d, key, 0, UINT32_MAX, X_U32, &u);
    if (m->type == FP_RADIO_CMD)
      m->u.cmd.id = (uint32_t)u;
    else
      m->u.cmd_ack.id = (uint32_t)u;
    return rc;
  case R_OK:
    return fp__dec_bool(d, key, &m->u.cmd_ack.ok);
  case R_NAME:
    if (m->type == FP_RADIO_CMD)
      return fp__dec_cmd_name(d, m->u.cmd.name);
    return fp__dec_str(d, key, 1, FP_MSG_NAME_MAX, X_EVT_NAME, m->u.evt.name);
  case R_ARGS:
    if (m->type == FP_RADIO_CMD)
      return fp__dec_args(d, m->u.cmd.args, &m->u.cmd.n_args);
    return fp__dec_args(d, m->u.evt.args, &m->u.evt.n_args);
  case R_ERR:
    return fp__dec_str(d, key, 1, FP_MSG_ERR_MAX, X_ERR, m->u.cmd_ack.err);
  case R_FW:
    return fp__dec_str(d, key, 1, FP_MSG_FW_MAX, X_FW, m->u.join.fw);
  case R_ASSET:
    return fp__dec_str(d, key, 1, FP_MSG_ASSET_MAX, X_ASSET, m->u.join.asset);
  case R_CH:
    rc = fp__dec_uint(d, key, FP_MSG_CH_MIN, FP_MSG_CH_MAX, X_CH, &u);
    m->u.join_ack.ch = (uint8_t)u;
    return rc;
  case R_TS:
    if (m->type == FP_RADIO_TIME)
      return fp__dec_uint(d, key, 0, UINT64_MAX, X_U64, &m->u.time.ts);
    m->u.join_ack.has_ts = true;
    return fp__dec_uint(d, key, 0, UINT64_MAX, X_U64, &m->u.join_ack.ts);
  case R_COUNT:
  case R_NONE:
    break;
  }
  assert(!"get_field called for a key without a value decoder");
  return FARM_EINVAL;
}

static int fail(struct fp__dec *d, int code, const char *key, size_t offset, const char *expected)
{
  fp__msg_error_set(d->err, code, key, offset, "", expected);
  return code;
}

/* The body map, with a reader over the body alone: offsets in errors are
 * relative to the body here and moved to the payload by the caller. */
static int decode_body(struct fp__dec *d, struct fp_radio_msg *m, const struct rspec *s, size_t len,
                       uint32_t *seen_out)
{
  struct fp_item it;
  int rc = fp_read(&d->r, &it);
  if (rc != 0)
    return fail(d, rc, "", fp_reader_err_offset(&d->r), "");
  if (it.kind != FP_MAP)
    return fail(d, FARM_ETYPE, "", 0, "map");
  if (it.v.count > FP_MSG_MAX_PAIRS)
    return fail(d, FARM_ETOOBIG, "", 0, "at most 32 entries");
  unsigned n = (unsigned)it.v.count;

  /* Unknown keys seen so far, for the duplicate check (known keys use the
   * bit mask). */
  struct fp_bytes unknown[FP_MSG_MAX_PAIRS];
  unsigned n_unknown = 0;
  uint32_t seen = 0;
  for (unsigned i = 0; i < n; i++) {
    struct fp_bytes key;
    size_t off;
    rc = fp__dec_key(d, &key, &off);
    if (rc != 0)
      return rc;
    enum rkey k = rkey_lookup(key.ptr, key.len);
    if (k != R_NONE) {
      if (seen & RB(k))
        return fail(d, FARM_EDUPKEY, rkey_names[k], off, "");
      seen |= RB(k);
      if ((s->required | s->allowed) & RB(k)) {
        rc = get_field(d, m, k);
        if (rc != 0)
          return rc;
        continue;
      }
    } else {
      for (unsigned j = 0; j < n_unknown; j++) {
        if (unknown[j].len == key.len && memcmp(unknown[j].ptr, key.ptr, key.len) == 0)
          return fp__dec_fail_bytes(d, FARM_EDUPKEY, key, off);
      }
      unknown[n_unknown++] = key;
    }
    /* Forward compatibility: a key this type does not read is skipped, but
     * its value must still be well-formed. */
    rc = fp__dec_skip(d, key);
    if (rc != 0)
      return rc;
  }
  if (!fp_reader_done(&d->r) || fp_reader_pos(&d->r) != len)
    return fail(d, FARM_ETRAILING, "", fp_reader_pos(&d->r), "");
  *seen_out = seen;
  return 0;
}

/* The checks that need the whole body: required keys, err when !ok. */
static int check_complete(struct fp__dec *d, const struct fp_radio_msg *m, const struct rspec *s,
                          uint32_t seen)
{
  uint32_t missing = s->required & ~seen;
  if (missing != 0) {
    unsigned k = 0;
    while (!(missing & RB(k)))
      k++;
    return fail(d, FARM_EMISSING, rkey_names[k], 0, "");
  }
  if (m->type == FP_RADIO_CMD_ACK && !m->u.cmd_ack.ok && m->u.cmd_ack.err[0] == '\0')
    return fail(d, FARM_EMISSING, "err", 0, "");
  return 0;
}

int fp_radio_decode(const uint8_t *buf, size_t len, struct fp_radio_msg *out,
                    struct fp_msg_error *err)
{
  assert(out != NULL && (buf != NULL || len == 0));
  struct fp_msg_error scratch;
  struct fp__dec d = {.m = NULL, .err = err != NULL ? err : &scratch};
  fp__msg_error_set(d.err, 0, "", 0, "", "");

  struct fp_radio_header h;
  int rc = fp_radio_peek_header(buf, len, &h);
  if (rc != 0) {
    /* The offset of the field at fault: the type byte for an unknown type,
     * else the start (length and version are properties of the whole). */
    size_t off = rc == FARM_EUNKNOWN ? 1 : 0;
    return fail(&d, rc, "", off,
                rc == FARM_EUNSUPPORTED ? "version 1"
                : rc == FARM_EUNKNOWN   ? "a radio message type"
                : rc == FARM_ETOOBIG    ? "at most 250 bytes"
                                        : "at least 10 bytes");
  }
  memset(out, 0, sizeof *out);
  out->type = h.type;
  out->boot = h.boot;
  out->seq = h.seq;
  const struct rspec *s = spec_of(h.type);
  assert(s != NULL);

  const size_t body_len = len - FP_RADIO_HEADER_LEN;
  if (body_len == 0)
    return fail(&d, FARM_ETRUNCATED, "", FP_RADIO_HEADER_LEN, "a map body");
  fp_reader_init(&d.r, FP_CODEC_MSGPACK, buf + FP_RADIO_HEADER_LEN, body_len);
  uint32_t seen = 0;
  rc = decode_body(&d, out, s, body_len, &seen);
  if (rc != 0) {
    /* Every body error has a place; report it in payload offsets. */
    d.err->offset += FP_RADIO_HEADER_LEN;
    return rc;
  }
  /* A missing key has no place: offset 0 as in fp_msg_decode. */
  return check_complete(&d, out, s, seen);
}

/* ------------------------------------------------------------------ */
/* Comparison                                                         */

bool fp_radio_equal(const struct fp_radio_msg *a, const struct fp_radio_msg *b)
{
  assert(a != NULL && b != NULL);
  if (a->type != b->type || a->boot != b->boot || a->seq != b->seq)
    return false;
  switch (a->type) {
  case FP_RADIO_TEL: {
    const struct fp_radio_tel *x = &a->u.tel, *y = &b->u.tel;
    return x->up_ms == y->up_ms && x->syn == y->syn && x->n_metrics == y->n_metrics &&
           x->n_metrics <= FP_MSG_MAX_METRICS && fp__metrics_equal(x->v, y->v, x->n_metrics);
  }
  case FP_RADIO_EVT: {
    const struct fp_radio_evt *x = &a->u.evt, *y = &b->u.evt;
    return strcmp(x->name, y->name) == 0 && x->n_args == y->n_args &&
           x->n_args <= FP_MSG_MAX_ARGS && fp__args_equal(x->args, y->args, x->n_args);
  }
  case FP_RADIO_JOIN:
    return strcmp(a->u.join.fw, b->u.join.fw) == 0 && strcmp(a->u.join.asset, b->u.join.asset) == 0;
  case FP_RADIO_CMD_ACK: {
    const struct fp_radio_cmd_ack *x = &a->u.cmd_ack, *y = &b->u.cmd_ack;
    return x->id == y->id && x->ok == y->ok && strcmp(x->err, y->err) == 0;
  }
  case FP_RADIO_JOIN_ACK: {
    const struct fp_radio_join_ack *x = &a->u.join_ack, *y = &b->u.join_ack;
    return x->ch == y->ch && x->has_ts == y->has_ts && (!x->has_ts || x->ts == y->ts);
  }
  case FP_RADIO_CMD: {
    const struct fp_radio_cmd *x = &a->u.cmd, *y = &b->u.cmd;
    return x->id == y->id && strcmp(x->name, y->name) == 0 && x->n_args == y->n_args &&
           x->n_args <= FP_MSG_MAX_ARGS && fp__args_equal(x->args, y->args, x->n_args);
  }
  case FP_RADIO_TIME:
    return a->u.time.ts == b->u.time.ts;
  }
  return false;
}
