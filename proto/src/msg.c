/* SPDX-License-Identifier: MIT */
/*
 * The serial messages of DESIGN §4 (specified in docs/protocol.md §4-§5):
 * validation of a struct, encoding through the codec-neutral writer, and a
 * strict single-pass decoder. The decoder resolves each key with a switch
 * on its length and first byte, tracks the keys seen in a bit mask, and
 * checks every value's type and range as it reads it, so it can name the
 * key and the byte at fault. Checks that both directions make (ranges,
 * name patterns, metric limits) live in small shared functions so encode
 * can never emit what decode rejects; the ones the radio payloads need too
 * are exported to radio.c through msg_internal.h (fp__ names). MessagePack
 * telemetry, nearly all of the traffic, also has fast paths in both
 * directions (tel_encode_fast, tel_fast) that give the same results as the
 * general code; builds for size leave them out (FP__FAST, internal.h).
 */
#include "fp/msg.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"
#include "fp/frame.h"
#include "internal.h"
#include "msg_internal.h"

_Static_assert(FP_MSG_MAX_ENCODED <= FP_FRAME_MAX_PAYLOAD,
               "every message fits one serial frame (DESIGN §4)");
_Static_assert(FP_MSG_KEY_MAX + 1 == sizeof(((struct fp_msg_error *)0)->key),
               "an error key holds any metric, counter or argument name");

/*
 * Every key of the schema. The order is the order of docs/protocol.md in
 * which required keys are reported missing: for every type its required keys
 * appear here in the order they are documented and encoded.
 */
enum key {
  K_T,
  K_GSEQ,
  K_ID,
  K_MAC,
  K_FW,
  K_CH,
  K_PEERS,
  K_NAME,
  K_STATE,
  K_RSSI,
  K_BOOT,
  K_SEQ,
  K_UP_MS,
  K_V,
  K_SYN,
  K_ARGS,
  K_ASSET,
  K_OK,
  K_STAGE,
  K_ERR,
  K_LVL,
  K_MSG,
  K_TS,
  K_DURATION_S,
  K_COUNT,
  K_NONE = -1
};

_Static_assert(K_COUNT <= 32, "the keys seen fit a uint32_t mask");

#define B(k) (UINT32_C(1) << (k))

/* Each key's wire name, by enum key. */
#define KEY_NAMES(X)                                                        \
  X(K_T, "t") X(K_GSEQ, "gseq") X(K_ID, "id") X(K_MAC, "mac") X(K_FW, "fw") \
  X(K_CH, "ch") X(K_PEERS, "peers") X(K_NAME, "name") X(K_STATE, "state")  \
  X(K_RSSI, "rssi") X(K_BOOT, "boot") X(K_SEQ, "seq") X(K_UP_MS, "up_ms")  \
  X(K_V, "v") X(K_SYN, "syn") X(K_ARGS, "args") X(K_ASSET, "asset")        \
  X(K_OK, "ok") X(K_STAGE, "stage") X(K_ERR, "err") X(K_LVL, "lvl")        \
  X(K_MSG, "msg") X(K_TS, "ts") X(K_DURATION_S, "duration_s")

static const char *const key_names[K_COUNT] = {
#define NAME_OF(k, s) [k] = s,
  KEY_NAMES(NAME_OF)
#undef NAME_OF
};

/* Their lengths: the encoder writes keys without measuring them. */
static const uint8_t key_lens[K_COUNT] = {
#define LEN_OF(k, s) [k] = sizeof s - 1,
  KEY_NAMES(LEN_OF)
#undef LEN_OF
};

struct type_spec {
  const char *name;
  uint32_t allowed;  /* keys this type reads; others are skipped */
  uint32_t required; /* keys that must be present */
};

#define UP_REQ (B(K_T) | B(K_GSEQ))
#define DOWN_REQ (B(K_T) | B(K_ID))

static const struct type_spec specs[FP_MSG_TYPE_COUNT] = {
  [FP_MSG_HELLO] = {"hello", 0,
                    UP_REQ | B(K_MAC) | B(K_FW) | B(K_CH) | B(K_PEERS) |
                      B(K_BOOT)},
  [FP_MSG_TEL] = {"tel", B(K_SYN),
                  UP_REQ | B(K_MAC) | B(K_RSSI) | B(K_BOOT) | B(K_SEQ) |
                    B(K_UP_MS) | B(K_V)},
  [FP_MSG_EVT] = {"evt", B(K_BOOT) | B(K_SEQ) | B(K_ARGS),
                  UP_REQ | B(K_MAC) | B(K_NAME)},
  [FP_MSG_PEER] = {"peer", B(K_ASSET) | B(K_RSSI) | B(K_FW),
                   UP_REQ | B(K_MAC) | B(K_STATE)},
  [FP_MSG_ACK] = {"ack", B(K_ERR), UP_REQ | B(K_ID) | B(K_OK) | B(K_STAGE)},
  [FP_MSG_PONG] = {"pong", 0, UP_REQ | B(K_ID) | B(K_UP_MS)},
  [FP_MSG_LOG] = {"log", 0, UP_REQ | B(K_LVL) | B(K_MSG)},
  [FP_MSG_STATS] = {"stats", 0, UP_REQ | B(K_V)},
  [FP_MSG_RX] = {"rx", 0, UP_REQ},
  [FP_MSG_CMD] = {"cmd", B(K_ARGS), DOWN_REQ | B(K_MAC) | B(K_NAME)},
  [FP_MSG_SET_MAC] = {"cfg:set_mac", 0, DOWN_REQ | B(K_MAC)},
  [FP_MSG_TIME_SYNC] = {"time_sync", 0, DOWN_REQ | B(K_TS)},
  [FP_MSG_PAIR_BEGIN] = {"pair_begin", 0, DOWN_REQ | B(K_DURATION_S)},
  [FP_MSG_PAIR_END] = {"pair_end", 0, DOWN_REQ},
  [FP_MSG_PING] = {"ping", 0, DOWN_REQ},
};

/* What a value of each key must be, for FARM_ETYPE messages. */
static const char *const key_types[K_COUNT] = {
  [K_T] = "text",
  [K_GSEQ] = "unsigned integer",
  [K_ID] = "unsigned integer",
  [K_MAC] = "byte string",
  [K_FW] = "text",
  [K_CH] = "unsigned integer",
  [K_PEERS] = "unsigned integer",
  [K_NAME] = "text",
  [K_STATE] = "text",
  [K_RSSI] = "integer",
  [K_BOOT] = "unsigned integer",
  [K_SEQ] = "unsigned integer",
  [K_UP_MS] = "unsigned integer",
  [K_V] = "map",
  [K_SYN] = "boolean",
  [K_ARGS] = "map",
  [K_ASSET] = "text",
  [K_OK] = "boolean",
  [K_STAGE] = "text",
  [K_ERR] = "text",
  [K_LVL] = "unsigned integer",
  [K_MSG] = "text",
  [K_TS] = "unsigned integer",
  [K_DURATION_S] = "unsigned integer",
};


/* ------------------------------------------------------------------ */
/* Shared checks                                                      */

/* A byte of a metric, counter or argument name: [a-z0-9_]. */
static inline bool name_char(uint8_t c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Metric, counter and argument names: 1..15 of [a-z0-9_]; command names
 * also allow '.' (namespaces such as "relay.set") and up to 31. */
static bool name_ok(const uint8_t *p, size_t n, size_t max, bool dot)
{
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!name_char(p[i]) && !(dot && p[i] == '.'))
      return false;
  }
  return true;
}

/* Equal byte strings of one length; the names compared are a few bytes
 * long, which an inline loop handles faster than a call. */
static bool same_bytes(const void *a, const void *b, size_t n)
{
  const uint8_t *x = a;
  const uint8_t *y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i])
      return false;
  }
  return true;
}

/* IEEE 802 addresses: bit 0 of the first octet set means group (multicast
 * or broadcast); a station address must be an individual one, and the
 * all-zero address is the "no address" placeholder. */
static bool mac_unicast(const uint8_t *mac)
{
  static const uint8_t zero[FP_MAC_LEN];
  return (mac[0] & 1) == 0 && memcmp(mac, zero, FP_MAC_LEN) != 0;
}

/*
 * Physical limits of the metrics with a known sensor (DESIGN §1): the SHT41
 * datasheet's operating range for temperature (-40..125 °C) and relative
 * humidity (0..100 %RH), the lux front end's full scale (200 klx, above
 * direct sunlight), and the MQ135 reading clamped to 100000 ppm. Other
 * metrics are only required to be finite.
 */
static int metric_check(const uint8_t *name, size_t n, double v,
                        const char **expected)
{
  if (!isfinite(v)) {
    *expected = X_FINITE;
    return FARM_ERANGE;
  }
  double lo;
  double hi;
  switch (n) {
  case 3:
    if (memcmp(name, "lux", 3) != 0)
      return 0;
    lo = 0, hi = 200000, *expected = "0..200000";
    break;
  case 6:
    if (memcmp(name, "temp_c", 6) == 0) {
      lo = -40, hi = 125, *expected = "-40..125";
    } else if (memcmp(name, "rh_pct", 6) == 0) {
      lo = 0, hi = 100, *expected = "0..100";
    } else {
      return 0;
    }
    break;
  case 7:
    if (memcmp(name, "air_ppm", 7) != 0)
      return 0;
    lo = 0, hi = 100000, *expected = "0..100000";
    break;
  default:
    return 0;
  }
  return v >= lo && v <= hi ? 0 : FARM_ERANGE;
}

void fp__msg_error_set(struct fp_msg_error *e, int code, const char *key,
                       size_t offset, const char *in, const char *expected)
{
  e->code = code;
  size_t n = strlen(key);
  if (n > FP_MSG_KEY_MAX)
    n = 0;
  memcpy(e->key, key, n);
  e->key[n] = '\0';
  e->offset = offset;
  e->in = in;
  e->expected = expected;
}

/* ------------------------------------------------------------------ */
/* Validation of a struct                                             */

static int vfail(struct fp_msg_error *v, int code, const char *key, const char *in,
                 const char *expected)
{
  fp__msg_error_set(v, code, key, 0, in, expected);
  return code;
}

/* A string field: NUL within its array, min..max bytes, valid UTF-8. */
static int vtext(struct fp_msg_error *v, const char *key, const char *in,
                 const char *s, size_t cap, size_t min, size_t max,
                 const char *expected)
{
  const char *end = memchr(s, '\0', cap);
  if (end == NULL)
    return vfail(v, FARM_EINVAL, key, in, X_NO_NUL);
  size_t n = (size_t)(end - s);
  if (n < min || n > max)
    return vfail(v, FARM_ERANGE, key, in, expected);
  if (!fp_utf8_valid((const uint8_t *)s, n))
    return vfail(v, FARM_EUTF8, key, in, "");
  return 0;
}

/* A name field (entry names, command names): NUL within cap, pattern. */
static int vname(struct fp_msg_error *v, const char *key, const char *in,
                 const char *s, size_t cap, size_t max, bool dot,
                 const char *expected)
{
  const char *end = memchr(s, '\0', cap);
  if (end == NULL || !name_ok((const uint8_t *)s, (size_t)(end - s), max, dot))
    return vfail(v, FARM_EINVAL, key, in, expected);
  return 0;
}

static int vgseq(struct fp_msg_error *v, const struct fp_msg *m)
{
  return m->gseq >= 1 ? 0 : vfail(v, FARM_ERANGE, "gseq", "", X_GSEQ);
}

static int vrssi(struct fp_msg_error *v, int8_t rssi)
{
  return rssi >= FP_MSG_RSSI_MIN && rssi <= FP_MSG_RSSI_MAX
           ? 0
           : vfail(v, FARM_ERANGE, "rssi", "", X_RSSI);
}

/*
 * The length of an entry name (a metric, counter or argument name) held in
 * an array of FP_MSG_KEY_MAX + 1 bytes, when it is NUL-terminated there and
 * matches 1..15 of [a-z0-9_]; 0 otherwise. One pass does the work of
 * memchr, name_ok and strlen.
 */
static size_t entry_name_len(const char *s)
{
  size_t i = 0;
  while (i < FP_MSG_KEY_MAX && name_char((uint8_t)s[i]))
    i++;
  return i > 0 && s[i] == '\0' ? i : 0;
}

/*
 * Checks the name of entry i of v or args: its pattern, and that no entry
 * before it has the same name. Entry j's name array is at base + j * stride
 * and lens[j] holds its length; lens[i] is set. Returns 0, FARM_EINVAL or
 * FARM_EDUPKEY, which the caller reports.
 */
static int ventry_name(const char *base, size_t stride, unsigned i,
                       uint8_t *lens)
{
  const char *name = base + (size_t)i * stride;
  size_t len = entry_name_len(name);
  if (len == 0)
    return FARM_EINVAL;
  for (unsigned j = 0; j < i; j++) {
    if (lens[j] == len && same_bytes(base + (size_t)j * stride, name, len))
      return FARM_EDUPKEY;
  }
  lens[i] = (uint8_t)len;
  return 0;
}

/* The error of ventry_name for entry `name` of the map `in`. */
static int ventry_fail(struct fp_msg_error *v, int code, const char *in,
                       const char *name)
{
  if (code == FARM_EDUPKEY)
    return vfail(v, code, name, in, "");
  return vfail(v, code, in, "", X_ENTRY_NAME);
}

/* As fp__check_args; lens receives the lengths of the keys. */
static int check_args(struct fp_msg_error *v, const struct fp_arg *args,
                      unsigned n, uint8_t *lens)
{
  if (n > FP_MSG_MAX_ARGS)
    return vfail(v, FARM_ERANGE, "args", "", X_ARGS);
  for (unsigned i = 0; i < n; i++) {
    const struct fp_arg *a = &args[i];
    int rc = ventry_name(args[0].key, sizeof args[0], i, lens);
    if (rc != 0)
      return ventry_fail(v, rc, "args", a->key);
    switch (a->kind) {
    case FP_ARG_INT:
    case FP_ARG_BOOL:
      break;
    case FP_ARG_FLOAT:
      if (!isfinite(a->v.f))
        return vfail(v, FARM_ERANGE, a->key, "args", X_FINITE);
      break;
    case FP_ARG_STR:
      rc = vtext(v, a->key, "args", a->v.s, sizeof a->v.s, 0,
                 FP_MSG_ARG_STR_MAX, X_ARG_STR);
      if (rc != 0)
        return rc;
      break;
    default:
      return vfail(v, FARM_EINVAL, a->key, "args", X_ARG_VALUE);
    }
  }
  return 0;
}

int fp__check_args(struct fp_msg_error *v, const struct fp_arg *args,
                   unsigned n)
{
  uint8_t lens[FP_MSG_MAX_ARGS];
  return check_args(v, args, n, lens);
}

/* As fp__check_metrics; lens receives the lengths of the names. */
static int check_metrics(struct fp_msg_error *v, const struct fp_metric *mv,
                         unsigned n, uint8_t *lens)
{
  if (n < 1 || n > FP_MSG_MAX_METRICS)
    return vfail(v, FARM_ERANGE, "v", "", X_METRICS);
  for (unsigned i = 0; i < n; i++) {
    const struct fp_metric *mt = &mv[i];
    int rc = ventry_name(mv[0].name, sizeof mv[0], i, lens);
    if (rc != 0)
      return ventry_fail(v, rc, "v", mt->name);
    const char *expected = "";
    rc = metric_check((const uint8_t *)mt->name, lens[i], mt->value,
                      &expected);
    if (rc != 0)
      return vfail(v, rc, mt->name, "v", expected);
  }
  return 0;
}

int fp__check_metrics(struct fp_msg_error *v, const struct fp_metric *mv,
                      unsigned n)
{
  uint8_t lens[FP_MSG_MAX_METRICS];
  return check_metrics(v, mv, n, lens);
}

int fp__check_text(struct fp_msg_error *e, const char *key, const char *s,
                   size_t cap, size_t min, size_t max, const char *expected)
{
  return vtext(e, key, "", s, cap, min, max, expected);
}

int fp__check_cmd_name(struct fp_msg_error *e, const char *s, size_t cap)
{
  return vname(e, "name", "", s, cap, FP_MSG_NAME_MAX, true, X_CMD_NAME);
}

static int vtel(struct fp_msg_error *v, const struct fp_msg_tel *t,
                uint8_t *lens)
{
  int rc = vrssi(v, t->rssi);
  return rc != 0 ? rc : check_metrics(v, t->v, t->n_metrics, lens);
}

static int vstats(struct fp_msg_error *v, const struct fp_msg_stats *s,
                  uint8_t *lens)
{
  if (s->n_counters > FP_MSG_MAX_COUNTERS)
    return vfail(v, FARM_ERANGE, "v", "", X_COUNTERS);
  for (unsigned i = 0; i < s->n_counters; i++) {
    int rc = ventry_name(s->v[0].name, sizeof s->v[0], i, lens);
    if (rc != 0)
      return ventry_fail(v, rc, "v", s->v[i].name);
  }
  return 0;
}

/* The entries of tel.v, stats.v and args that a message can have. */
#define MAX_ENTRIES FP_MSG_MAX_COUNTERS
_Static_assert(MAX_ENTRIES >= FP_MSG_MAX_METRICS && MAX_ENTRIES >= FP_MSG_MAX_ARGS,
               "entry name lengths fit one array");

/*
 * Checks m as fp_msg_validate does. lens (MAX_ENTRIES bytes) receives the
 * lengths of the entry names of v or args, which the encoder then writes
 * without measuring them again.
 */
static int validate(struct fp_msg_error *v, const struct fp_msg *m,
                    uint8_t *lens)
{
  int rc = 0;
  if ((unsigned)m->type >= FP_MSG_TYPE_COUNT)
    return vfail(v, FARM_EUNKNOWN, "t", "", "a message type");
  if (fp_msg_is_uplink(m->type) || m->type == FP_MSG_RX) {
    rc = vgseq(v, m);
    if (rc != 0)
      return rc;
  }
  switch (m->type) {
  case FP_MSG_HELLO: {
    const struct fp_msg_hello *h = &m->u.hello;
    rc = vtext(v, "fw", "", h->fw, sizeof h->fw, 1, FP_MSG_FW_MAX, X_FW);
    if (rc == 0 && (h->ch < FP_MSG_CH_MIN || h->ch > FP_MSG_CH_MAX))
      rc = vfail(v, FARM_ERANGE, "ch", "", X_CH);
    return rc;
  }
  case FP_MSG_TEL:
    return vtel(v, &m->u.tel, lens);
  case FP_MSG_EVT: {
    const struct fp_msg_evt *e = &m->u.evt;
    rc = vtext(v, "name", "", e->name, sizeof e->name, 1, FP_MSG_NAME_MAX,
               X_EVT_NAME);
    return rc != 0 ? rc : check_args(v, e->args, e->n_args, lens);
  }
  case FP_MSG_PEER: {
    const struct fp_msg_peer *p = &m->u.peer;
    if ((unsigned)p->state > FP_PEER_REMOVED)
      return vfail(v, FARM_ERANGE, "state", "", X_STATE);
    if (p->has_rssi && (rc = vrssi(v, p->rssi)) != 0)
      return rc;
    rc = vtext(v, "asset", "", p->asset, sizeof p->asset, 0,
               FP_MSG_ASSET_MAX, X_ASSET);
    if (rc != 0)
      return rc;
    return vtext(v, "fw", "", p->fw, sizeof p->fw, 0, FP_MSG_FW_MAX, X_FW);
  }
  case FP_MSG_ACK: {
    const struct fp_msg_ack *a = &m->u.ack;
    if ((unsigned)a->stage > FP_STAGE_NODE)
      return vfail(v, FARM_ERANGE, "stage", "", X_STAGE);
    rc = vtext(v, "err", "", a->err, sizeof a->err, 0, FP_MSG_ERR_MAX, X_ERR);
    if (rc == 0 && !a->ok && a->err[0] == '\0')
      rc = vfail(v, FARM_EMISSING, "err", "", "");
    return rc;
  }
  case FP_MSG_LOG: {
    const struct fp_msg_log *l = &m->u.log;
    if (l->lvl > FP_MSG_LVL_MAX)
      return vfail(v, FARM_ERANGE, "lvl", "", X_LVL);
    return vtext(v, "msg", "", l->msg, sizeof l->msg, 0, FP_MSG_LOG_MAX,
                 X_MSG);
  }
  case FP_MSG_STATS:
    return vstats(v, &m->u.stats, lens);
  case FP_MSG_CMD: {
    const struct fp_msg_cmd *c = &m->u.cmd;
    rc = fp__check_cmd_name(v, c->name, sizeof c->name);
    return rc != 0 ? rc : check_args(v, c->args, c->n_args, lens);
  }
  case FP_MSG_SET_MAC:
    return mac_unicast(m->u.set_mac.mac)
             ? 0
             : vfail(v, FARM_ERANGE, "mac", "", X_UNICAST);
  case FP_MSG_PAIR_BEGIN: {
    uint16_t d = m->u.pair_begin.duration_s;
    return d >= FP_MSG_PAIR_MIN_S && d <= FP_MSG_PAIR_MAX_S
             ? 0
             : vfail(v, FARM_ERANGE, "duration_s", "", X_DURATION);
  }
  case FP_MSG_PONG:
  case FP_MSG_RX:
  case FP_MSG_TIME_SYNC:
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
  case FP_MSG_TYPE_COUNT:
    break;
  }
  return 0;
}

int fp_msg_validate(const struct fp_msg *m, struct fp_msg_error *err)
{
  struct fp_msg_error scratch;
  struct fp_msg_error *v = err != NULL ? err : &scratch;
  uint8_t lens[MAX_ENTRIES];
  fp__msg_error_set(v, 0, "", 0, "", "");
  return validate(v, m, lens);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                           */

static void put_key(struct fp_writer *w, enum key k)
{
  fp_write_str(w, key_names[k], key_lens[k]);
}

static void put_uint(struct fp_writer *w, enum key k, uint64_t u)
{
  put_key(w, k);
  fp_write_uint(w, u);
}

static void put_mac(struct fp_writer *w, const uint8_t *mac)
{
  put_key(w, K_MAC);
  fp_write_bin(w, mac, FP_MAC_LEN);
}

void fp__put_args(struct fp_writer *w, const struct fp_arg *args, unsigned n)
{
  put_key(w, K_ARGS);
  fp_write_map(w, n);
  for (unsigned i = 0; i < n; i++) {
    fp_write_cstr(w, args[i].key);
    switch (args[i].kind) {
    case FP_ARG_INT:
      fp_write_int(w, args[i].v.i);
      break;
    case FP_ARG_FLOAT:
      fp_write_float(w, args[i].v.f);
      break;
    case FP_ARG_BOOL:
      fp_write_bool(w, args[i].v.b);
      break;
    case FP_ARG_STR:
      fp_write_cstr(w, args[i].v.s);
      break;
    }
  }
}

void fp__put_metrics(struct fp_writer *w, const struct fp_metric *v,
                     unsigned n)
{
  put_key(w, K_V);
  fp_write_map(w, n);
  for (unsigned i = 0; i < n; i++) {
    fp_write_cstr(w, v[i].name);
    fp_write_float(w, v[i].value);
  }
}

static const char *const stage_names[] = {"gw", "node"};
static const char *const state_names[] = {"joined", "updated", "removed"};

/* Writes the pairs after `t`: exactly pair_count(m) - 1 of them, which
 * the map head has announced. */
static void put_body(struct fp_writer *w, const struct fp_msg *m)
{
  bool up = fp_msg_is_uplink(m->type) || m->type == FP_MSG_RX;
  if (up)
    put_uint(w, K_GSEQ, m->gseq);
  switch (m->type) {
  case FP_MSG_HELLO: {
    const struct fp_msg_hello *h = &m->u.hello;
    put_mac(w, h->mac);
    put_key(w, K_FW);
    fp_write_cstr(w, h->fw);
    put_uint(w, K_CH, h->ch);
    put_uint(w, K_PEERS, h->peers);
    put_uint(w, K_BOOT, h->boot);
    break;
  }
  case FP_MSG_TEL: {
    const struct fp_msg_tel *t = &m->u.tel;
    put_mac(w, t->mac);
    put_key(w, K_RSSI);
    fp_write_int(w, t->rssi);
    put_uint(w, K_BOOT, t->boot);
    put_uint(w, K_SEQ, t->seq);
    put_uint(w, K_UP_MS, t->up_ms);
    fp__put_metrics(w, t->v, t->n_metrics);
    if (t->syn) {
      put_key(w, K_SYN);
      fp_write_bool(w, true);
    }
    break;
  }
  case FP_MSG_EVT: {
    const struct fp_msg_evt *e = &m->u.evt;
    put_mac(w, e->mac);
    put_key(w, K_NAME);
    fp_write_cstr(w, e->name);
    if (e->has_boot)
      put_uint(w, K_BOOT, e->boot);
    if (e->has_seq)
      put_uint(w, K_SEQ, e->seq);
    if (e->n_args > 0)
      fp__put_args(w, e->args, e->n_args);
    break;
  }
  case FP_MSG_PEER: {
    const struct fp_msg_peer *p = &m->u.peer;
    put_mac(w, p->mac);
    put_key(w, K_STATE);
    fp_write_cstr(w, state_names[p->state]);
    if (p->asset[0] != '\0') {
      put_key(w, K_ASSET);
      fp_write_cstr(w, p->asset);
    }
    if (p->has_rssi) {
      put_key(w, K_RSSI);
      fp_write_int(w, p->rssi);
    }
    if (p->fw[0] != '\0') {
      put_key(w, K_FW);
      fp_write_cstr(w, p->fw);
    }
    break;
  }
  case FP_MSG_ACK: {
    const struct fp_msg_ack *a = &m->u.ack;
    put_uint(w, K_ID, m->id);
    put_key(w, K_OK);
    fp_write_bool(w, a->ok);
    put_key(w, K_STAGE);
    fp_write_cstr(w, stage_names[a->stage]);
    if (a->err[0] != '\0') {
      put_key(w, K_ERR);
      fp_write_cstr(w, a->err);
    }
    break;
  }
  case FP_MSG_PONG:
    put_uint(w, K_ID, m->id);
    put_uint(w, K_UP_MS, m->u.pong.up_ms);
    break;
  case FP_MSG_LOG:
    put_uint(w, K_LVL, m->u.log.lvl);
    put_key(w, K_MSG);
    fp_write_cstr(w, m->u.log.msg);
    break;
  case FP_MSG_STATS: {
    const struct fp_msg_stats *s = &m->u.stats;
    put_key(w, K_V);
    fp_write_map(w, s->n_counters);
    for (unsigned i = 0; i < s->n_counters; i++) {
      fp_write_cstr(w, s->v[i].name);
      fp_write_uint(w, s->v[i].value);
    }
    break;
  }
  case FP_MSG_RX:
    break;
  case FP_MSG_CMD: {
    const struct fp_msg_cmd *c = &m->u.cmd;
    put_uint(w, K_ID, m->id);
    put_mac(w, c->mac);
    put_key(w, K_NAME);
    fp_write_cstr(w, c->name);
    if (c->n_args > 0)
      fp__put_args(w, c->args, c->n_args);
    break;
  }
  case FP_MSG_SET_MAC:
    put_uint(w, K_ID, m->id);
    put_mac(w, m->u.set_mac.mac);
    break;
  case FP_MSG_TIME_SYNC:
    put_uint(w, K_ID, m->id);
    put_uint(w, K_TS, m->u.time_sync.ts);
    break;
  case FP_MSG_PAIR_BEGIN:
    put_uint(w, K_ID, m->id);
    put_uint(w, K_DURATION_S, m->u.pair_begin.duration_s);
    break;
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
    put_uint(w, K_ID, m->id);
    break;
  case FP_MSG_TYPE_COUNT:
    assert(!"validated type");
    break;
  }
}

/* Number of pairs put_body() writes, `t` included. */
static unsigned pair_count(const struct fp_msg *m)
{
  switch (m->type) {
  case FP_MSG_HELLO:
    return 7;
  case FP_MSG_TEL:
    return 8u + m->u.tel.syn;
  case FP_MSG_EVT:
    return 4u + m->u.evt.has_boot + m->u.evt.has_seq + (m->u.evt.n_args > 0);
  case FP_MSG_PEER:
    return 4u + (m->u.peer.asset[0] != '\0') + m->u.peer.has_rssi +
           (m->u.peer.fw[0] != '\0');
  case FP_MSG_ACK:
    return 5u + (m->u.ack.err[0] != '\0');
  case FP_MSG_CMD:
    return 4u + (m->u.cmd.n_args > 0);
  case FP_MSG_PONG:
  case FP_MSG_LOG:
    return 4;
  case FP_MSG_STATS:
  case FP_MSG_SET_MAC:
  case FP_MSG_TIME_SYNC:
  case FP_MSG_PAIR_BEGIN:
    return 3;
  case FP_MSG_RX:
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
    return 2;
  case FP_MSG_TYPE_COUNT:
    break;
  }
  assert(!"validated type");
  return 0;
}

#if FP__FAST
/*
 * Fast path: MessagePack telemetry, the encoder's side of tel_fast. When
 * the buffer can hold the largest tel, the message is written with a cursor
 * held in a local and no capacity check per item; the bytes are those
 * put_body writes (the same number encoders, internal.h). TEL_MAX: the map
 * head, every key with its widest value, and 16 metrics of 15-byte names
 * with float 64 values.
 */
#define TEL_MAX                                                            \
  (1 + (2 + 4) + (5 + 5) + (4 + 2 + FP_MAC_LEN) + (5 + 2) + (5 + 5) +      \
   (4 + 5) + (6 + 9) + (2 + 3) + (4 + 1) +                                 \
   FP_MSG_MAX_METRICS * (1 + FP_MSG_KEY_MAX + 9))
_Static_assert(TEL_MAX <= FP_MSG_MAX_ENCODED, "a tel fits FP_MSG_MAX_ENCODED");

/* fixstr (msgpack spec: 0xa0 | n) of n <= 31 bytes; returns its end. */
static inline uint8_t *mp_str(uint8_t *p, const char *s, size_t n)
{
  p[0] = (uint8_t)(0xa0 | n);
  memcpy(p + 1, s, n);
  return p + 1 + n;
}

static inline uint8_t *mp_key(uint8_t *p, enum key k)
{
  return mp_str(p, key_names[k], key_lens[k]);
}

/* A map head of n <= 65535 pairs: fixmap (0x80 | n) up to 15, else map 16
 * (0xde and a big-endian count), as fp_mp_write_map writes it. */
static inline uint8_t *mp_map(uint8_t *p, unsigned n)
{
  if (n <= 15) {
    *p++ = (uint8_t)(0x80 | n);
  } else {
    *p++ = 0xde;
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
  }
  return p;
}

static void tel_encode_fast(const struct fp_msg *m, const uint8_t *lens,
                            uint8_t *buf, size_t *out_len)
{
  const struct fp_msg_tel *t = &m->u.tel;
  uint8_t *p = buf;
  p = mp_map(p, pair_count(m));
  p = mp_key(p, K_T);
  p = mp_str(p, "tel", 3);
  p = mp_key(p, K_GSEQ);
  p += fp__mp_put_uint(p, m->gseq);
  p = mp_key(p, K_MAC);
  *p++ = 0xc4; /* bin 8 */
  *p++ = FP_MAC_LEN;
  memcpy(p, t->mac, FP_MAC_LEN);
  p += FP_MAC_LEN;
  p = mp_key(p, K_RSSI);
  p += fp__mp_put_int(p, t->rssi);
  p = mp_key(p, K_BOOT);
  p += fp__mp_put_uint(p, t->boot);
  p = mp_key(p, K_SEQ);
  p += fp__mp_put_uint(p, t->seq);
  p = mp_key(p, K_UP_MS);
  p += fp__mp_put_uint(p, t->up_ms);
  p = mp_key(p, K_V);
  p = mp_map(p, t->n_metrics);
  for (unsigned i = 0; i < t->n_metrics; i++) {
    p = mp_str(p, t->v[i].name, lens[i]);
    p += fp__mp_put_float(p, t->v[i].value);
  }
  if (t->syn) {
    p = mp_key(p, K_SYN);
    *p++ = 0xc3; /* true */
  }
  *out_len = (size_t)(p - buf);
}
#endif

int fp_msg_encode(const struct fp_msg *m, enum fp_codec c, uint8_t *buf,
                  size_t cap, size_t *out_len)
{
  struct fp_msg_error scratch;
  uint8_t lens[MAX_ENTRIES];
  int rc = validate(&scratch, m, lens);
  if (rc != 0)
    return rc;
#if FP__FAST
  if (c == FP_CODEC_MSGPACK && m->type == FP_MSG_TEL && cap >= TEL_MAX) {
    tel_encode_fast(m, lens, buf, out_len);
    return 0;
  }
#endif
  struct fp_writer w;
  fp_writer_init(&w, c, buf, cap);
  fp_write_map(&w, pair_count(m));
  put_key(&w, K_T);
  fp_write_cstr(&w, specs[m->type].name);
  put_body(&w, m);
  rc = fp_writer_error(&w);
  if (rc != 0)
    return rc;
  *out_len = fp_writer_len(&w);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                           */

static int fail(struct fp__dec *d, int code, const char *key, size_t offset,
                const char *in, const char *expected)
{
  fp__msg_error_set(d->err, code, key, offset, in, expected);
  return code;
}

/* A reader error: the reader knows the offending byte. */
static int rfail(struct fp__dec *d, int code, const char *key, const char *in)
{
  return fail(d, code, key, fp_reader_err_offset(&d->r), in, "");
}

/* Copies a key of the input into the error only when it prints safely on
 * one line inside quotes; otherwise the error names no key. */
int fp__dec_fail_bytes(struct fp__dec *d, int code, struct fp_bytes key,
                       size_t offset)
{
  char k[FP_MSG_KEY_MAX + 1] = "";
  if (key.len <= FP_MSG_KEY_MAX) {
    size_t i = 0;
    for (; i < key.len; i++) {
      uint8_t c = key.ptr[i];
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
        break;
      k[i] = (char)c;
    }
    k[i == key.len ? i : 0] = '\0';
  }
  return fail(d, code, k, offset, "", "");
}

int fp__dec_skip(struct fp__dec *d, struct fp_bytes key)
{
  int rc = fp_skip(&d->r);
  return rc != 0 ? fp__dec_fail_bytes(d, rc, key, fp_reader_err_offset(&d->r))
                 : 0;
}

static enum key key_lookup(const uint8_t *p, size_t n)
{
#define IS(s) (memcmp(p, s, sizeof s - 1) == 0)
  switch (n) {
  case 1:
    return p[0] == 't' ? K_T : p[0] == 'v' ? K_V : K_NONE;
  case 2:
    switch (p[0]) {
    case 'i':
      return p[1] == 'd' ? K_ID : K_NONE;
    case 'o':
      return p[1] == 'k' ? K_OK : K_NONE;
    case 'c':
      return p[1] == 'h' ? K_CH : K_NONE;
    case 't':
      return p[1] == 's' ? K_TS : K_NONE;
    case 'f':
      return p[1] == 'w' ? K_FW : K_NONE;
    }
    return K_NONE;
  case 3:
    switch (p[0]) {
    case 'm':
      return IS("mac") ? K_MAC : IS("msg") ? K_MSG : K_NONE;
    case 'e':
      return IS("err") ? K_ERR : K_NONE;
    case 's':
      return IS("seq") ? K_SEQ : IS("syn") ? K_SYN : K_NONE;
    case 'l':
      return IS("lvl") ? K_LVL : K_NONE;
    }
    return K_NONE;
  case 4:
    switch (p[0]) {
    case 'b':
      return IS("boot") ? K_BOOT : K_NONE;
    case 'r':
      return IS("rssi") ? K_RSSI : K_NONE;
    case 'g':
      return IS("gseq") ? K_GSEQ : K_NONE;
    case 'n':
      return IS("name") ? K_NAME : K_NONE;
    case 'a':
      return IS("args") ? K_ARGS : K_NONE;
    }
    return K_NONE;
  case 5:
    switch (p[0]) {
    case 'u':
      return IS("up_ms") ? K_UP_MS : K_NONE;
    case 's':
      return IS("stage") ? K_STAGE : IS("state") ? K_STATE : K_NONE;
    case 'p':
      return IS("peers") ? K_PEERS : K_NONE;
    case 'a':
      return IS("asset") ? K_ASSET : K_NONE;
    }
    return K_NONE;
  case 10:
    return IS("duration_s") ? K_DURATION_S : K_NONE;
  }
  return K_NONE;
#undef IS
}

static int type_lookup(const uint8_t *p, size_t n, enum fp_msg_type *out)
{
#define IS(s) (memcmp(p, s, sizeof s - 1) == 0)
  enum fp_msg_type t = FP_MSG_TYPE_COUNT;
  switch (n) {
  case 2:
    if (IS("rx"))
      t = FP_MSG_RX;
    break;
  case 3:
    switch (p[0]) {
    case 't':
      t = IS("tel") ? FP_MSG_TEL : t;
      break;
    case 'e':
      t = IS("evt") ? FP_MSG_EVT : t;
      break;
    case 'a':
      t = IS("ack") ? FP_MSG_ACK : t;
      break;
    case 'l':
      t = IS("log") ? FP_MSG_LOG : t;
      break;
    case 'c':
      t = IS("cmd") ? FP_MSG_CMD : t;
      break;
    }
    break;
  case 4:
    t = IS("peer")   ? FP_MSG_PEER
        : IS("pong") ? FP_MSG_PONG
        : IS("ping") ? FP_MSG_PING
                     : t;
    break;
  case 5:
    t = IS("hello") ? FP_MSG_HELLO : IS("stats") ? FP_MSG_STATS : t;
    break;
  case 8:
    t = IS("pair_end") ? FP_MSG_PAIR_END : t;
    break;
  case 9:
    t = IS("time_sync") ? FP_MSG_TIME_SYNC : t;
    break;
  case 10:
    t = IS("pair_begin") ? FP_MSG_PAIR_BEGIN : t;
    break;
  case 11:
    t = IS("cfg:set_mac") ? FP_MSG_SET_MAC : t;
    break;
  }
  if (t == FP_MSG_TYPE_COUNT)
    return FARM_EUNKNOWN;
  *out = t;
  return 0;
#undef IS
}

/* Bytes of the union member cleared before decoding into it. */
static const uint16_t clear_size[FP_MSG_TYPE_COUNT] = {
  [FP_MSG_HELLO] = sizeof(struct fp_msg_hello),
  [FP_MSG_TEL] = offsetof(struct fp_msg_tel, v),
  [FP_MSG_EVT] = offsetof(struct fp_msg_evt, args),
  [FP_MSG_PEER] = sizeof(struct fp_msg_peer),
  [FP_MSG_ACK] = sizeof(struct fp_msg_ack),
  [FP_MSG_PONG] = sizeof(struct fp_msg_pong),
  [FP_MSG_LOG] = sizeof(struct fp_msg_log),
  [FP_MSG_STATS] = offsetof(struct fp_msg_stats, v),
  [FP_MSG_RX] = 0,
  [FP_MSG_CMD] = offsetof(struct fp_msg_cmd, args),
  [FP_MSG_SET_MAC] = sizeof(struct fp_msg_set_mac),
  [FP_MSG_TIME_SYNC] = sizeof(struct fp_msg_time_sync),
  [FP_MSG_PAIR_BEGIN] = sizeof(struct fp_msg_pair_begin),
  [FP_MSG_PAIR_END] = 0,
  [FP_MSG_PING] = 0,
};

/* Reads the value of a known key: reader errors are charged to the key. */
static int read_value(struct fp__dec *d, const char *key, struct fp_item *it,
                      size_t *off)
{
  *off = fp_reader_pos(&d->r);
  int rc = fp_read(&d->r, it);
  return rc != 0 ? rfail(d, rc, key, "") : 0;
}

/* An unsigned integer field in [min, max]. A float is not an integer, even
 * one with an integral value: the schema's integers are exact counters. */
int fp__dec_uint(struct fp__dec *d, const char *key, uint64_t min,
                 uint64_t max, const char *range, uint64_t *out)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, key, &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind == FP_UINT) {
    if (it.v.u < min || it.v.u > max)
      return fail(d, FARM_ERANGE, key, off, "", range);
    *out = it.v.u;
    return 0;
  }
  if (it.kind == FP_NEGINT)
    return fail(d, FARM_ERANGE, key, off, "", range);
  return fail(d, FARM_ETYPE, key, off, "", "unsigned integer");
}

static int get_u32(struct fp__dec *d, enum key k, uint32_t *out)
{
  uint64_t u;
  int rc = fp__dec_uint(d, key_names[k], 0, UINT32_MAX, X_U32, &u);
  if (rc == 0)
    *out = (uint32_t)u;
  return rc;
}

static int get_rssi(struct fp__dec *d, int8_t *out)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, "rssi", &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind == FP_UINT) {
    if (it.v.u != 0)
      return fail(d, FARM_ERANGE, "rssi", off, "", X_RSSI);
    *out = 0;
    return 0;
  }
  if (it.kind == FP_NEGINT) {
    /* The value is -1 - u. */
    if (it.v.u > (uint64_t)(-1 - FP_MSG_RSSI_MIN))
      return fail(d, FARM_ERANGE, "rssi", off, "", X_RSSI);
    *out = (int8_t)(-1 - (int)it.v.u);
    return 0;
  }
  return fail(d, FARM_ETYPE, "rssi", off, "", key_types[K_RSSI]);
}

int fp__dec_bool(struct fp__dec *d, const char *key, bool *out)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, key, &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind != FP_BOOL)
    return fail(d, FARM_ETYPE, key, off, "", "boolean");
  *out = it.v.b;
  return 0;
}

/*
 * A text item already read: definite length, min..max bytes, no NUL (a C
 * string would silently cut it). UTF-8 validity is the reader's job.
 */
static int check_str(struct fp__dec *d, const char *key, const char *in,
                     const struct fp_item *it, size_t off, size_t min,
                     size_t max, const char *range)
{
  if (it->kind != FP_STR)
    return fail(d, FARM_ETYPE, key, off, in, "text");
  if (it->indefinite)
    return fail(d, FARM_EUNSUPPORTED, key, off, in, "definite-length text");
  if (it->v.bytes.len < min || it->v.bytes.len > max)
    return fail(d, FARM_ERANGE, key, off, in, range);
  if (it->v.bytes.len > 0 && memchr(it->v.bytes.ptr, '\0', it->v.bytes.len))
    return fail(d, FARM_EINVAL, key, off, in, X_NO_NUL);
  return 0;
}

static void copy_str(char *dst, const struct fp_item *it)
{
  if (it->v.bytes.len > 0)
    memcpy(dst, it->v.bytes.ptr, it->v.bytes.len);
  dst[it->v.bytes.len] = '\0';
}

int fp__dec_str(struct fp__dec *d, const char *key, size_t min, size_t max,
                const char *range, char *dst)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, key, &it, &off);
  if (rc == 0)
    rc = check_str(d, key, "", &it, off, min, max, range);
  if (rc == 0)
    copy_str(dst, &it);
  return rc;
}

static int get_mac(struct fp__dec *d, uint8_t *mac)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, "mac", &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind != FP_BIN)
    return fail(d, FARM_ETYPE, "mac", off, "", key_types[K_MAC]);
  if (it.indefinite)
    return fail(d, FARM_EUNSUPPORTED, "mac", off, "", "definite-length bytes");
  if (it.v.bytes.len != FP_MAC_LEN)
    return fail(d, FARM_ERANGE, "mac", off, "", X_MAC);
  memcpy(mac, it.v.bytes.ptr, FP_MAC_LEN);
  if (d->m->type == FP_MSG_SET_MAC && !mac_unicast(mac))
    return fail(d, FARM_ERANGE, "mac", off, "", X_UNICAST);
  return 0;
}

int fp__dec_cmd_name(struct fp__dec *d, char *dst)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, "name", &it, &off);
  if (rc == 0)
    rc = check_str(d, "name", "", &it, off, 0, SIZE_MAX, "");
  if (rc == 0 &&
      !name_ok(it.v.bytes.ptr, it.v.bytes.len, FP_MSG_NAME_MAX, true))
    rc = fail(d, FARM_EINVAL, "name", off, "", X_CMD_NAME);
  if (rc == 0)
    copy_str(dst, &it);
  return rc;
}

/* Reads the head of a nested map (v, args) and checks its entry count. */
static int get_map_head(struct fp__dec *d, enum key k, uint64_t min, uint64_t max,
                        const char *range, unsigned *count)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, key_names[k], &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind != FP_MAP)
    return fail(d, FARM_ETYPE, key_names[k], off, "", key_types[k]);
  if (it.indefinite)
    return fail(d, FARM_EUNSUPPORTED, key_names[k], off, "",
                "definite-length map");
  if (it.v.count < min || it.v.count > max)
    return fail(d, FARM_ERANGE, key_names[k], off, "", range);
  *count = (unsigned)it.v.count;
  return 0;
}

/*
 * Reads the name of entry n of v or args: text of 1..15 of [a-z0-9_], not
 * equal to any name before it (prev[0..n), which points into the input;
 * prev[n] is set). The name is checked and copied NUL-terminated to dst in
 * one pass, and later compared from the input: reading back the bytes just
 * stored would wait for the stores to land.
 */
static int get_entry_name(struct fp__dec *d, enum key k, char *dst,
                          struct fp_bytes *prev, unsigned n)
{
  const char *container = key_names[k];
  size_t off = fp_reader_pos(&d->r);
  struct fp_item it;
  int rc = fp_read(&d->r, &it);
  if (rc != 0)
    return rfail(d, rc, container, "");
  if (it.kind != FP_STR)
    return fail(d, FARM_ETYPE, container, off, "", "text keys");
  if (it.indefinite)
    return fail(d, FARM_EUNSUPPORTED, container, off, "",
                "definite-length text");
  struct fp_bytes t = it.v.bytes;
  if (t.len == 0 || t.len > FP_MSG_KEY_MAX)
    return fail(d, FARM_EINVAL, container, off, "", X_ENTRY_NAME);
  for (size_t i = 0; i < t.len; i++) {
    if (!name_char(t.ptr[i]))
      return fail(d, FARM_EINVAL, container, off, "", X_ENTRY_NAME);
    dst[i] = (char)t.ptr[i];
  }
  dst[t.len] = '\0';
  for (unsigned i = 0; i < n; i++) {
    if (prev[i].len == t.len && same_bytes(prev[i].ptr, t.ptr, t.len))
      return fail(d, FARM_EDUPKEY, dst, off, container, "");
  }
  prev[n] = t;
  return 0;
}

int fp__dec_metrics(struct fp__dec *d, struct fp_metric *v, uint8_t *n_metrics)
{
  unsigned n;
  int rc = get_map_head(d, K_V, 1, FP_MSG_MAX_METRICS, X_METRICS, &n);
  if (rc != 0)
    return rc;
  struct fp_bytes names[FP_MSG_MAX_METRICS];
  for (unsigned i = 0; i < n; i++) {
    struct fp_metric *mt = &v[i];
    rc = get_entry_name(d, K_V, mt->name, names, i);
    if (rc != 0)
      return rc;
    size_t off = fp_reader_pos(&d->r);
    struct fp_item it;
    rc = fp_read(&d->r, &it);
    if (rc != 0)
      return rfail(d, rc, mt->name, "v");
    if (fp_item_to_double(&it, &mt->value) != 0)
      return fail(d, FARM_ETYPE, mt->name, off, "v", X_NUMBER);
    const char *expected = "";
    rc = metric_check(names[i].ptr, names[i].len, mt->value, &expected);
    if (rc != 0)
      return fail(d, rc, mt->name, off, "v", expected);
  }
  *n_metrics = (uint8_t)n;
  return 0;
}

static int get_counters(struct fp__dec *d, struct fp_msg_stats *s)
{
  unsigned n;
  int rc = get_map_head(d, K_V, 0, FP_MSG_MAX_COUNTERS, X_COUNTERS, &n);
  if (rc != 0)
    return rc;
  struct fp_bytes names[FP_MSG_MAX_COUNTERS];
  for (unsigned i = 0; i < n; i++) {
    struct fp_counter *ct = &s->v[i];
    rc = get_entry_name(d, K_V, ct->name, names, i);
    if (rc != 0)
      return rc;
    size_t off = fp_reader_pos(&d->r);
    struct fp_item it;
    rc = fp_read(&d->r, &it);
    if (rc != 0)
      return rfail(d, rc, ct->name, "v");
    if (it.kind == FP_NEGINT)
      return fail(d, FARM_ERANGE, ct->name, off, "v", X_U64);
    if (it.kind != FP_UINT)
      return fail(d, FARM_ETYPE, ct->name, off, "v", "unsigned integer");
    ct->value = it.v.u;
  }
  s->n_counters = (uint8_t)n;
  return 0;
}

int fp__dec_args(struct fp__dec *d, struct fp_arg *args, uint8_t *n_args)
{
  unsigned n;
  int rc = get_map_head(d, K_ARGS, 0, FP_MSG_MAX_ARGS, X_ARGS, &n);
  if (rc != 0)
    return rc;
  struct fp_bytes names[FP_MSG_MAX_ARGS];
  for (unsigned i = 0; i < n; i++) {
    struct fp_arg *a = &args[i];
    rc = get_entry_name(d, K_ARGS, a->key, names, i);
    if (rc != 0)
      return rc;
    size_t off = fp_reader_pos(&d->r);
    struct fp_item it;
    rc = fp_read(&d->r, &it);
    if (rc != 0)
      return rfail(d, rc, a->key, "args");
    switch (it.kind) {
    case FP_UINT:
    case FP_NEGINT:
      a->kind = FP_ARG_INT;
      if (fp_item_to_i64(&it, &a->v.i) != 0)
        return fail(d, FARM_ERANGE, a->key, off, "args", X_I64);
      break;
    case FP_FLOAT:
      a->kind = FP_ARG_FLOAT;
      a->v.f = it.v.f;
      if (!isfinite(a->v.f))
        return fail(d, FARM_ERANGE, a->key, off, "args", X_FINITE);
      break;
    case FP_BOOL:
      a->kind = FP_ARG_BOOL;
      a->v.b = it.v.b;
      break;
    case FP_STR:
      a->kind = FP_ARG_STR;
      rc = check_str(d, a->key, "args", &it, off, 0, FP_MSG_ARG_STR_MAX,
                     X_ARG_STR);
      if (rc != 0)
        return rc;
      copy_str(a->v.s, &it);
      break;
    default:
      return fail(d, FARM_ETYPE, a->key, off, "args", X_ARG_VALUE);
    }
  }
  *n_args = (uint8_t)n;
  return 0;
}

static int get_enum(struct fp__dec *d, enum key k, const char *const *words,
                    unsigned n_words, const char *range, unsigned *out)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, key_names[k], &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind != FP_STR)
    return fail(d, FARM_ETYPE, key_names[k], off, "", "text");
  if (it.indefinite)
    return fail(d, FARM_EUNSUPPORTED, key_names[k], off, "",
                "definite-length text");
  for (unsigned i = 0; i < n_words; i++) {
    if (fp_item_is_str(&it, words[i])) {
      *out = i;
      return 0;
    }
  }
  return fail(d, FARM_ERANGE, key_names[k], off, "", range);
}

/* Decodes the value of key k, which the message's type reads. */
static int get_field(struct fp__dec *d, enum key k)
{
  struct fp_msg *m = d->m;
  uint64_t u;
  unsigned e;
  int rc;
  switch (k) {
  case K_GSEQ:
    rc = fp__dec_uint(d, key_names[k], 1, UINT32_MAX, X_GSEQ, &u);
    m->gseq = (uint32_t)u;
    return rc;
  case K_ID:
    return get_u32(d, k, &m->id);
  case K_MAC:
    switch (m->type) {
    case FP_MSG_HELLO:
      return get_mac(d, m->u.hello.mac);
    case FP_MSG_TEL:
      return get_mac(d, m->u.tel.mac);
    case FP_MSG_EVT:
      return get_mac(d, m->u.evt.mac);
    case FP_MSG_PEER:
      return get_mac(d, m->u.peer.mac);
    case FP_MSG_CMD:
      return get_mac(d, m->u.cmd.mac);
    default:
      return get_mac(d, m->u.set_mac.mac);
    }
  case K_FW:
    return fp__dec_str(d, key_names[k], 1, FP_MSG_FW_MAX, X_FW,
                   m->type == FP_MSG_HELLO ? m->u.hello.fw : m->u.peer.fw);
  case K_CH:
    rc = fp__dec_uint(d, key_names[k], FP_MSG_CH_MIN, FP_MSG_CH_MAX, X_CH, &u);
    m->u.hello.ch = (uint8_t)u;
    return rc;
  case K_PEERS:
    rc = fp__dec_uint(d, key_names[k], 0, UINT16_MAX, X_PEERS, &u);
    m->u.hello.peers = (uint16_t)u;
    return rc;
  case K_NAME:
    if (m->type == FP_MSG_EVT)
      return fp__dec_str(d, "name", 1, FP_MSG_NAME_MAX, X_EVT_NAME,
                         m->u.evt.name);
    return fp__dec_cmd_name(d, m->u.cmd.name);
  case K_STATE:
    rc = get_enum(d, k, state_names, 3, X_STATE, &e);
    m->u.peer.state = (enum fp_peer_state)e;
    return rc;
  case K_RSSI:
    if (m->type == FP_MSG_PEER) {
      m->u.peer.has_rssi = true;
      return get_rssi(d, &m->u.peer.rssi);
    }
    return get_rssi(d, &m->u.tel.rssi);
  case K_BOOT:
    switch (m->type) {
    case FP_MSG_HELLO:
      return get_u32(d, k, &m->u.hello.boot);
    case FP_MSG_TEL:
      return get_u32(d, k, &m->u.tel.boot);
    default:
      m->u.evt.has_boot = true;
      return get_u32(d, k, &m->u.evt.boot);
    }
  case K_SEQ:
    if (m->type == FP_MSG_TEL)
      return get_u32(d, k, &m->u.tel.seq);
    m->u.evt.has_seq = true;
    return get_u32(d, k, &m->u.evt.seq);
  case K_UP_MS:
    return fp__dec_uint(d, key_names[k], 0, UINT64_MAX, X_U64,
                    m->type == FP_MSG_TEL ? &m->u.tel.up_ms
                                          : &m->u.pong.up_ms);
  case K_V:
    return m->type == FP_MSG_TEL ? fp__dec_metrics(d, m->u.tel.v, &m->u.tel.n_metrics)
                                 : get_counters(d, &m->u.stats);
  case K_SYN:
    return fp__dec_bool(d, key_names[k], &m->u.tel.syn);
  case K_ARGS:
    return m->type == FP_MSG_EVT
             ? fp__dec_args(d, m->u.evt.args, &m->u.evt.n_args)
             : fp__dec_args(d, m->u.cmd.args, &m->u.cmd.n_args);
  case K_ASSET:
    return fp__dec_str(d, key_names[k], 1, FP_MSG_ASSET_MAX, X_ASSET, m->u.peer.asset);
  case K_OK:
    return fp__dec_bool(d, key_names[k], &m->u.ack.ok);
  case K_STAGE:
    rc = get_enum(d, k, stage_names, 2, X_STAGE, &e);
    m->u.ack.stage = (enum fp_stage)e;
    return rc;
  case K_ERR:
    return fp__dec_str(d, key_names[k], 1, FP_MSG_ERR_MAX, X_ERR, m->u.ack.err);
  case K_LVL:
    rc = fp__dec_uint(d, key_names[k], 0, FP_MSG_LVL_MAX, X_LVL, &u);
    m->u.log.lvl = (uint8_t)u;
    return rc;
  case K_MSG:
    return fp__dec_str(d, key_names[k], 0, FP_MSG_LOG_MAX, X_MSG, m->u.log.msg);
  case K_TS:
    return fp__dec_uint(d, key_names[k], 0, UINT64_MAX, X_U64, &m->u.time_sync.ts);
  case K_DURATION_S:
    rc = fp__dec_uint(d, key_names[k], FP_MSG_PAIR_MIN_S, FP_MSG_PAIR_MAX_S, X_DURATION, &u);
    m->u.pair_begin.duration_s = (uint16_t)u;
    return rc;
  case K_T:
  case K_COUNT:
  case K_NONE:
    break;
  }
  assert(!"get_field called for a key without a value decoder");
  return FARM_EINVAL;
}

/* Reads a key of the message map: definite-length text. */
int fp__dec_key(struct fp__dec *d, struct fp_bytes *key, size_t *off)
{
  struct fp_item it;
  *off = fp_reader_pos(&d->r);
  int rc = fp_read(&d->r, &it);
  if (rc != 0)
    return rfail(d, rc, "", "");
  if (it.kind != FP_STR)
    return fail(d, FARM_ETYPE, "", *off, "", "text keys");
  if (it.indefinite)
    return fail(d, FARM_EUNSUPPORTED, "", *off, "", "definite-length text");
  *key = it.v.bytes;
  return 0;
}

/* Reads the value of `t` and resolves the type. */
static int get_type(struct fp__dec *d)
{
  struct fp_item it;
  size_t off;
  int rc = read_value(d, "t", &it, &off);
  if (rc != 0)
    return rc;
  if (it.kind != FP_STR)
    return fail(d, FARM_ETYPE, "t", off, "", "text");
  if (it.indefinite)
    return fail(d, FARM_EUNSUPPORTED, "t", off, "", "definite-length text");
  if (type_lookup(it.v.bytes.ptr, it.v.bytes.len, &d->m->type) != 0)
    return fail(d, FARM_EUNKNOWN, "t", off, "", "a message type");
  return 0;
}

/*
 * The slow path for maps whose first key is not `t`: a second reader walks
 * the map to find `t` (exactly once) before the main pass interprets keys.
 * Errors are reported as the main pass would report them.
 */
static int find_type(struct fp__dec *d, const uint8_t *buf, size_t len,
                     enum fp_codec c, unsigned n)
{
  struct fp__dec scan = *d;
  fp_reader_init(&scan.r, c, buf, len);
  struct fp_item it;
  int rc = fp_read(&scan.r, &it); /* the map head, already checked */
  assert(rc == 0 && it.kind == FP_MAP);
  bool found = false;
  for (unsigned i = 0; i < n; i++) {
    struct fp_bytes key;
    size_t off;
    rc = fp__dec_key(&scan, &key, &off);
    if (rc != 0)
      return rc;
    if (key.len == 1 && key.ptr[0] == 't') {
      if (found)
        return fail(d, FARM_EDUPKEY, "t", off, "", "");
      rc = get_type(&scan);
      if (rc != 0)
        return rc;
      found = true;
      continue;
    }
    rc = fp_skip(&scan.r);
    if (rc != 0)
      return fp__dec_fail_bytes(d, rc, key, fp_reader_err_offset(&scan.r));
  }
  if (!found)
    return fail(d, FARM_EMISSING, "t", 0, "", "");
  return 0;
}

#if FP__FAST
/*
 * Fast path: MessagePack telemetry. tel is the message every node sends
 * every few seconds, so nearly all of what the edge decodes. This decoder
 * reads it as fp_msg_encode writes it: `t` first, then only keys tel reads,
 * each once, every item in a form the encoder emits (internal.h,
 * fp__mp_get_*). It keeps its cursor in a local the compiler holds in
 * registers, with no reader bookkeeping and no fp_item, and applies every
 * rule the general decoder applies to tel through the same checks
 * (key_lookup, the type's key sets, name_char, metric_check). On anything
 * else it gives up without a verdict and fp_msg_decode decodes from the
 * start with the general decoder, which accepts more (any key order, other
 * forms, unknown keys) and names the fault of what it rejects. So it only
 * ever decides inputs the general decoder accepts, with the same result.
 */
static bool tel_metrics_fast(struct fp__mp_cur *c, struct fp_msg_tel *t)
{
  unsigned n;
  if (!fp__mp_get_map(c, &n) || n < 1 || n > FP_MSG_MAX_METRICS)
    return false;
  struct fp_bytes names[FP_MSG_MAX_METRICS];
  for (unsigned i = 0; i < n; i++) {
    struct fp_metric *mt = &t->v[i];
    struct fp_bytes name;
    if (!fp__mp_get_str(c, &name) || name.len == 0 ||
        name.len > FP_MSG_KEY_MAX)
      return false;
    for (size_t j = 0; j < name.len; j++) {
      if (!name_char(name.ptr[j]))
        return false;
      mt->name[j] = (char)name.ptr[j];
    }
    mt->name[name.len] = '\0';
    for (unsigned j = 0; j < i; j++) {
      if (names[j].len == name.len && same_bytes(names[j].ptr, name.ptr, name.len))
        return false;
    }
    names[i] = name;
    const char *expected;
    if (!fp__mp_get_float(c, &mt->value) ||
        metric_check(name.ptr, name.len, mt->value, &expected) != 0)
      return false;
  }
  t->n_metrics = (uint8_t)n;
  return true;
}

static bool tel_fast(const uint8_t *buf, size_t len, struct fp_msg *m)
{
  struct fp__mp_cur c = {buf, buf + len};
  struct fp_bytes s;
  unsigned n;
  if (!fp__mp_get_map(&c, &n) || n == 0 || !fp__mp_get_str(&c, &s) ||
      key_lookup(s.ptr, s.len) != K_T || !fp__mp_get_str(&c, &s) ||
      s.len != 3 || memcmp(s.ptr, "tel", 3) != 0)
    return false;
  /* What the general decoder clears before it reads the fields. */
  struct fp_msg_tel *t = &m->u.tel;
  m->type = FP_MSG_TEL;
  m->gseq = 0;
  m->id = 0;
  memset(t, 0, clear_size[FP_MSG_TEL]);
  const uint32_t allowed = specs[FP_MSG_TEL].allowed | specs[FP_MSG_TEL].required;
  uint32_t seen = B(K_T);
  for (unsigned i = 1; i < n; i++) {
    if (!fp__mp_get_str(&c, &s))
      return false;
    enum key k = key_lookup(s.ptr, s.len);
    if (k == K_NONE || !(allowed & B(k)) || (seen & B(k)))
      return false;
    seen |= B(k);
    uint64_t u = 0;
    int v;
    switch (k) {
    case K_GSEQ:
      if (!fp__mp_get_uint(&c, &u) || u < 1 || u > UINT32_MAX)
        return false;
      m->gseq = (uint32_t)u;
      break;
    case K_MAC:
      if (!fp__mp_get_bin(&c, &s) || s.len != FP_MAC_LEN)
        return false;
      memcpy(t->mac, s.ptr, FP_MAC_LEN);
      break;
    case K_RSSI:
      if (!fp__mp_get_small_int(&c, &v) || v < FP_MSG_RSSI_MIN || v > FP_MSG_RSSI_MAX)
        return false;
      t->rssi = (int8_t)v;
      break;
    case K_BOOT:
      if (!fp__mp_get_uint(&c, &u) || u > UINT32_MAX)
        return false;
      t->boot = (uint32_t)u;
      break;
    case K_SEQ:
      if (!fp__mp_get_uint(&c, &u) || u > UINT32_MAX)
        return false;
      t->seq = (uint32_t)u;
      break;
    case K_UP_MS:
      if (!fp__mp_get_uint(&c, &t->up_ms))
        return false;
      break;
    case K_SYN:
      if (!fp__mp_get_bool(&c, &t->syn))
        return false;
      break;
    case K_V:
      if (!tel_metrics_fast(&c, t))
        return false;
      break;
    default:
      return false;
    }
  }
  return c.p == c.end && (specs[FP_MSG_TEL].required & ~seen) == 0;
}
#endif

int fp_msg_decode(const uint8_t *buf, size_t len, enum fp_codec c,
                  struct fp_msg *out, struct fp_msg_error *err)
{
  struct fp_msg_error scratch;
  /* Not zero-initialised: the reader state is a few hundred bytes that
   * fp_reader_init does not need cleared, and this is the hot path. */
  struct fp__dec d;
  d.m = out;
  d.err = err != NULL ? err : &scratch;
  d.err->code = 0;
  d.err->key[0] = '\0';
  d.err->offset = 0;
  d.err->in = "";
  d.err->expected = "";
  if (len == 0)
    return fail(&d, FARM_EEMPTY, "", 0, "", "");
#if FP__FAST
  if (c == FP_CODEC_MSGPACK && tel_fast(buf, len, out))
    return 0;
#endif
  out->gseq = 0;
  out->id = 0;
  fp_reader_init(&d.r, c, buf, len);

  struct fp_item it;
  int rc = fp_read(&d.r, &it);
  if (rc != 0)
    return rfail(&d, rc, "", "");
  if (it.kind != FP_MAP)
    return fail(&d, FARM_ETYPE, "", 0, "", "map");
  if (it.indefinite)
    return fail(&d, FARM_EUNSUPPORTED, "", 0, "", "definite-length map");
  if (it.v.count > FP_MSG_MAX_PAIRS)
    return fail(&d, FARM_ETOOBIG, "", 0, "", "at most 32 entries");
  unsigned n = (unsigned)it.v.count;
  if (n == 0)
    return fail(&d, FARM_EMISSING, "t", 0, "", "");

  /* Unknown keys seen so far, for the duplicate check (known keys use the
   * bit mask). */
  struct fp_bytes unknown[FP_MSG_MAX_PAIRS];
  unsigned n_unknown = 0;
  uint32_t seen = 0;
  uint32_t allowed = 0;
  bool t_from_scan = false;

  for (unsigned i = 0; i < n; i++) {
    struct fp_bytes key;
    size_t off;
    rc = fp__dec_key(&d, &key, &off);
    if (rc != 0)
      return rc;
    enum key k = key_lookup(key.ptr, key.len);
    if (i == 0) {
      if (k == K_T) {
        rc = get_type(&d);
      } else {
        rc = find_type(&d, buf, len, c, n);
        t_from_scan = true;
      }
      if (rc != 0)
        return rc;
      /* Absent optional fields read as zero; the bounded arrays of v and
       * args are filled up to their count, so only what precedes them is
       * cleared. */
      memset(&out->u, 0, clear_size[out->type]);
      const struct type_spec *s = &specs[out->type];
      allowed = s->allowed | s->required;
      if (k == K_T) {
        seen = B(K_T);
        continue;
      }
    }
    if (k != K_NONE) {
      if (seen & B(k))
        return fail(&d, FARM_EDUPKEY, key_names[k], off, "", "");
      seen |= B(k);
      if (k == K_T) {
        /* The scan has read and checked it. */
        assert(t_from_scan);
        rc = fp_skip(&d.r);
        if (rc != 0)
          return rfail(&d, rc, "t", "");
        continue;
      }
      if (allowed & B(k)) {
        rc = get_field(&d, k);
        if (rc != 0)
          return rc;
        continue;
      }
    } else {
      for (unsigned j = 0; j < n_unknown; j++) {
        if (unknown[j].len == key.len &&
            memcmp(unknown[j].ptr, key.ptr, key.len) == 0)
          return fp__dec_fail_bytes(&d, FARM_EDUPKEY, key, off);
      }
      unknown[n_unknown++] = key;
    }
    /* Forward compatibility: a key this type does not read is skipped, but
     * its value must still be well-formed. */
    rc = fp__dec_skip(&d, key);
    if (rc != 0)
      return rc;
  }

  if (!fp_reader_done(&d.r) || fp_reader_pos(&d.r) != len)
    return fail(&d, FARM_ETRAILING, "", fp_reader_pos(&d.r), "", "");

  uint32_t missing = specs[out->type].required & ~seen;
  if (missing != 0) {
    unsigned k = 0;
    while (!(missing & B(k)))
      k++;
    return fail(&d, FARM_EMISSING, key_names[k], 0, "", "");
  }
  if (out->type == FP_MSG_ACK && !out->u.ack.ok && out->u.ack.err[0] == '\0')
    return fail(&d, FARM_EMISSING, "err", 0, "", "");
  return 0;
}

/* Reads the top-level value of key k (a u32 in [min, UINT32_MAX]) of a
 * well-formed map, ignoring everything else. */
static int peek_u32(const uint8_t *buf, size_t len, enum fp_codec c,
                    enum key want, uint64_t min, const char *range,
                    uint32_t *out)
{
  struct fp_msg_error scratch;
  struct fp__dec d;
  d.m = NULL;
  d.err = &scratch;
  if (len == 0)
    return FARM_EEMPTY;
  fp_reader_init(&d.r, c, buf, len);
  struct fp_item it;
  int rc = fp_read(&d.r, &it);
  if (rc != 0)
    return rc;
  if (it.kind != FP_MAP)
    return FARM_ETYPE;
  if (it.indefinite)
    return FARM_EUNSUPPORTED;
  if (it.v.count > FP_MSG_MAX_PAIRS)
    return FARM_ETOOBIG;
  bool found = false;
  uint64_t u = 0;
  for (unsigned i = 0; i < (unsigned)it.v.count; i++) {
    struct fp_bytes key;
    size_t off;
    rc = fp__dec_key(&d, &key, &off);
    if (rc != 0)
      return rc;
    if (key_lookup(key.ptr, key.len) == want) {
      if (found)
        return FARM_EDUPKEY;
      found = true;
      rc = fp__dec_uint(&d, key_names[want], min, UINT32_MAX, range, &u);
    } else {
      rc = fp_skip(&d.r);
    }
    if (rc != 0)
      return rc;
  }
  if (fp_reader_pos(&d.r) != len)
    return FARM_ETRAILING;
  if (!found)
    return FARM_EMISSING;
  *out = (uint32_t)u;
  return 0;
}

int fp_msg_peek_gseq(const uint8_t *buf, size_t len, enum fp_codec c,
                     uint32_t *gseq)
{
  return peek_u32(buf, len, c, K_GSEQ, 1, X_GSEQ, gseq);
}

int fp_msg_peek_id(const uint8_t *buf, size_t len, enum fp_codec c,
                   uint32_t *id)
{
  return peek_u32(buf, len, c, K_ID, 0, X_U32, id);
}

/* ------------------------------------------------------------------ */
/* Names, formatting, comparison                                      */

int fp_msg_error_format(const struct fp_msg_error *e, char *buf, size_t cap)
{
  const char *in = e->in != NULL ? e->in : "";
  const char *expected = e->expected != NULL ? e->expected : "";
  char where[48] = "";
  if (e->key[0] != '\0') {
    if (in[0] != '\0')
      snprintf(where, sizeof where, "key \"%s\" in \"%s\": ", e->key, in);
    else
      snprintf(where, sizeof where, "key \"%s\": ", e->key);
  }
  int n;
  if (expected[0] != '\0')
    n = snprintf(buf, cap, "%s%s (expected %s) at byte %zu", where,
                 farm_strerror(e->code), expected, e->offset);
  else
    n = snprintf(buf, cap, "%s%s at byte %zu", where, farm_strerror(e->code),
                 e->offset);
  return n < 0 ? 0 : n;
}

const char *fp_msg_type_name(enum fp_msg_type t)
{
  return (unsigned)t < FP_MSG_TYPE_COUNT ? specs[t].name : "?";
}

int fp_msg_type_parse(const char *s, enum fp_msg_type *out)
{
  if (s == NULL)
    return FARM_EUNKNOWN;
  return type_lookup((const uint8_t *)s, strlen(s), out);
}

bool fp_msg_is_uplink(enum fp_msg_type t)
{
  return (unsigned)t <= FP_MSG_STATS;
}

static bool same_double(double a, double b)
{
  return memcmp(&a, &b, sizeof a) == 0;
}

bool fp__metrics_equal(const struct fp_metric *a, const struct fp_metric *b,
                       unsigned n)
{
  for (unsigned i = 0; i < n; i++) {
    if (strcmp(a[i].name, b[i].name) != 0 ||
        !same_double(a[i].value, b[i].value))
      return false;
  }
  return true;
}

bool fp__args_equal(const struct fp_arg *a, const struct fp_arg *b,
                    unsigned n)
{
  for (unsigned i = 0; i < n; i++) {
    if (strcmp(a[i].key, b[i].key) != 0 || a[i].kind != b[i].kind)
      return false;
    switch (a[i].kind) {
    case FP_ARG_INT:
      if (a[i].v.i != b[i].v.i)
        return false;
      break;
    case FP_ARG_FLOAT:
      if (!same_double(a[i].v.f, b[i].v.f))
        return false;
      break;
    case FP_ARG_BOOL:
      if (a[i].v.b != b[i].v.b)
        return false;
      break;
    case FP_ARG_STR:
      if (strcmp(a[i].v.s, b[i].v.s) != 0)
        return false;
      break;
    }
  }
  return true;
}

bool fp_msg_equal(const struct fp_msg *a, const struct fp_msg *b)
{
  if (a->type != b->type)
    return false;
  bool has_gseq = fp_msg_is_uplink(a->type) || a->type == FP_MSG_RX;
  bool has_id = (!fp_msg_is_uplink(a->type) && a->type != FP_MSG_RX) ||
                a->type == FP_MSG_ACK || a->type == FP_MSG_PONG;
  if ((has_gseq && a->gseq != b->gseq) || (has_id && a->id != b->id))
    return false;
  switch (a->type) {
  case FP_MSG_HELLO: {
    const struct fp_msg_hello *x = &a->u.hello, *y = &b->u.hello;
    return memcmp(x->mac, y->mac, FP_MAC_LEN) == 0 &&
           strcmp(x->fw, y->fw) == 0 && x->ch == y->ch &&
           x->peers == y->peers && x->boot == y->boot;
  }
  case FP_MSG_TEL: {
    const struct fp_msg_tel *x = &a->u.tel, *y = &b->u.tel;
    if (memcmp(x->mac, y->mac, FP_MAC_LEN) != 0 || x->rssi != y->rssi ||
        x->syn != y->syn || x->boot != y->boot || x->seq != y->seq ||
        x->up_ms != y->up_ms || x->n_metrics != y->n_metrics)
      return false;
    return x->n_metrics <= FP_MSG_MAX_METRICS &&
           fp__metrics_equal(x->v, y->v, x->n_metrics);
  }
  case FP_MSG_EVT: {
    const struct fp_msg_evt *x = &a->u.evt, *y = &b->u.evt;
    return memcmp(x->mac, y->mac, FP_MAC_LEN) == 0 &&
           strcmp(x->name, y->name) == 0 && x->has_boot == y->has_boot &&
           (!x->has_boot || x->boot == y->boot) && x->has_seq == y->has_seq &&
           (!x->has_seq || x->seq == y->seq) && x->n_args == y->n_args &&
           x->n_args <= FP_MSG_MAX_ARGS &&
           fp__args_equal(x->args, y->args, x->n_args);
  }
  case FP_MSG_PEER: {
    const struct fp_msg_peer *x = &a->u.peer, *y = &b->u.peer;
    return memcmp(x->mac, y->mac, FP_MAC_LEN) == 0 && x->state == y->state &&
           x->has_rssi == y->has_rssi && (!x->has_rssi || x->rssi == y->rssi) &&
           strcmp(x->asset, y->asset) == 0 && strcmp(x->fw, y->fw) == 0;
  }
  case FP_MSG_ACK: {
    const struct fp_msg_ack *x = &a->u.ack, *y = &b->u.ack;
    return x->ok == y->ok && x->stage == y->stage &&
           strcmp(x->err, y->err) == 0;
  }
  case FP_MSG_PONG:
    return a->u.pong.up_ms == b->u.pong.up_ms;
  case FP_MSG_LOG:
    return a->u.log.lvl == b->u.log.lvl &&
           strcmp(a->u.log.msg, b->u.log.msg) == 0;
  case FP_MSG_STATS: {
    const struct fp_msg_stats *x = &a->u.stats, *y = &b->u.stats;
    if (x->n_counters != y->n_counters)
      return false;
    for (unsigned i = 0; i < x->n_counters && i < FP_MSG_MAX_COUNTERS; i++) {
      if (strcmp(x->v[i].name, y->v[i].name) != 0 ||
          x->v[i].value != y->v[i].value)
        return false;
    }
    return true;
  }
  case FP_MSG_CMD: {
    const struct fp_msg_cmd *x = &a->u.cmd, *y = &b->u.cmd;
    return memcmp(x->mac, y->mac, FP_MAC_LEN) == 0 &&
           strcmp(x->name, y->name) == 0 && x->n_args == y->n_args &&
           x->n_args <= FP_MSG_MAX_ARGS &&
           fp__args_equal(x->args, y->args, x->n_args);
  }
  case FP_MSG_SET_MAC:
    return memcmp(a->u.set_mac.mac, b->u.set_mac.mac, FP_MAC_LEN) == 0;
  case FP_MSG_TIME_SYNC:
    return a->u.time_sync.ts == b->u.time_sync.ts;
  case FP_MSG_PAIR_BEGIN:
    return a->u.pair_begin.duration_s == b->u.pair_begin.duration_s;
  case FP_MSG_RX:
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
    return true;
  case FP_MSG_TYPE_COUNT:
    break;
  }
  return false;
}
