/* SPDX-License-Identifier: MIT */
/*
 * Codec benchmark: the edge's hot path for telemetry, ours against
 * msgpack-c on the same messages in the same process.
 *   decode: wire frame -> COBS -> CRC -> MessagePack -> struct fp_msg
 *   encode: struct fp_msg -> MessagePack -> frame
 * The msgpack-c side uses the same frame code (msgpack-c has none). Decoding
 * is timed with msgpack-c's streaming unpacker (what a serial bridge on
 * msgpack-c would use) and with its fastest one-shot API (msgpack_unpack
 * into a reused zone); encoding with its packer into a reused sbuffer. The
 * msgpack-c side only checks types where ours also validates UTF-8, ranges
 * and duplicate keys, so the ratios are if anything in msgpack-c's favour.
 * Before timing, both decoders must agree on every message.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "fp/frame.h"
#include "fp/msg.h"

#define N_MSGS 1024

struct corpus {
  struct fp_msg msgs[N_MSGS];
  uint8_t wire[N_MSGS][FP_FRAME_MAX_WIRE];
  size_t wire_len[N_MSGS];
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Values as an SHT41, a lux divider and an MQ135 report them: two decimals,
 * so most are not exact in float32 and go on the wire as float64. */
static double sensor_value(uint64_t *s, double lo, double hi)
{
  double u = (double)(rng_next(s) % 1000000) / 1e6;
  return round((lo + u * (hi - lo)) * 100.0) / 100.0;
}

static void make_corpus(struct corpus *c)
{
  uint64_t s = 0x1f2e3d4c5b6a7988u;
  for (int i = 0; i < N_MSGS; i++) {
    struct fp_msg *m = &c->msgs[i];
    memset(m, 0, sizeof *m);
    m->type = FP_MSG_TEL;
    m->gseq = 1000u + (uint32_t)i;
    struct fp_msg_tel *t = &m->u.tel;
    const uint8_t mac[6] = {0x24, 0x6f, 0x28, 0x10, (uint8_t)(i >> 3), (uint8_t)i};
    memcpy(t->mac, mac, sizeof mac);
    t->rssi = (int8_t)(-40 - (int)(rng_next(&s) % 50));
    t->boot = 7;
    t->seq = 40000u + (uint32_t)i;
    t->up_ms = 86400000u + 30000u * (uint64_t)i;
    t->n_metrics = 4;
    static const char *names[] = {"temp_c", "rh_pct", "lux", "air_ppm"};
    const double lo[] = {-5, 20, 0, 350}, hi[] = {40, 95, 60000, 1200};
    for (int k = 0; k < 4; k++) {
      snprintf(t->v[k].name, sizeof t->v[k].name, "%s", names[k]);
      t->v[k].value = sensor_value(&s, lo[k], hi[k]);
    }
    uint8_t payload[FP_MSG_MAX_ENCODED];
    size_t n;
    int rc = fp_msg_encode(m, FP_CODEC_MSGPACK, payload, sizeof payload, &n);
    assert(rc == 0);
    rc = fp_frame_encode(payload, n, c->wire[i], sizeof c->wire[i], &c->wire_len[i]);
    assert(rc == 0);
    (void)rc;
  }
}

/* --- msgpack-c reference ------------------------------------------------ */

static bool key_is(const msgpack_object *k, const char *s)
{
  size_t n = strlen(s);
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
         memcmp(k->via.str.ptr, s, n) == 0;
}

static bool obj_number(const msgpack_object *o, double *out)
{
  switch (o->type) {
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    *out = (double)o->via.u64;
    return true;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    *out = (double)o->via.i64;
    return true;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    *out = o->via.f64;
    return true;
  default:
    return false;
  }
}

/* msgpack_object -> struct fp_msg_tel, with type checks only. */
static bool ref_to_tel(const msgpack_object *root, struct fp_msg *m)
{
  if (root->type != MSGPACK_OBJECT_MAP)
    return false;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_TEL;
  struct fp_msg_tel *t = &m->u.tel;
  for (uint32_t i = 0; i < root->via.map.size; i++) {
    const msgpack_object *k = &root->via.map.ptr[i].key;
    const msgpack_object *v = &root->via.map.ptr[i].val;
    if (key_is(k, "t")) {
      if (!key_is(v, "tel"))
        return false;
    } else if (key_is(k, "gseq") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      m->gseq = (uint32_t)v->via.u64;
    } else if (key_is(k, "mac") && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 6) {
      memcpy(t->mac, v->via.bin.ptr, 6);
    } else if (key_is(k, "rssi") && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
      t->rssi = (int8_t)v->via.i64;
    } else if (key_is(k, "boot") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      t->boot = (uint32_t)v->via.u64;
    } else if (key_is(k, "seq") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      t->seq = (uint32_t)v->via.u64;
    } else if (key_is(k, "up_ms") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      t->up_ms = v->via.u64;
    } else if (key_is(k, "v") && v->type == MSGPACK_OBJECT_MAP &&
               v->via.map.size <= FP_MSG_MAX_METRICS) {
      for (uint32_t j = 0; j < v->via.map.size; j++) {
        const msgpack_object *mk = &v->via.map.ptr[j].key;
        if (mk->type != MSGPACK_OBJECT_STR || mk->via.str.size > FP_MSG_KEY_MAX)
          return false;
        memcpy(t->v[j].name, mk->via.str.ptr, mk->via.str.size);
        t->v[j].name[mk->via.str.size] = '\0';
        if (!obj_number(&v->via.map.ptr[j].val, &t->v[j].value))
          return false;
      }
      t->n_metrics = (uint8_t)v->via.map.size;
    } else if (key_is(k, "syn") && v->type == MSGPACK_OBJECT_BOOLEAN) {
      t->syn = v->via.boolean;
    }
  }
  return true;
}

static void ref_pack_tel(msgpack_packer *pk, const struct fp_msg *m)
{
  const struct fp_msg_tel *t = &m->u.tel;
  msgpack_pack_map(pk, 8);
  msgpack_pack_str(pk, 1);
  msgpack_pack_str_body(pk, "t", 1);
  msgpack_pack_str(pk, 3);
  msgpack_pack_str_body(pk, "tel", 3);
#define REF_KEY(s) (msgpack_pack_str(pk, sizeof s - 1), msgpack_pack_str_body(pk, s, sizeof s - 1))
  REF_KEY("gseq");
  msgpack_pack_uint32(pk, m->gseq);
  REF_KEY("mac");
  msgpack_pack_bin(pk, 6);
  msgpack_pack_bin_body(pk, t->mac, 6);
  REF_KEY("rssi");
  msgpack_pack_int8(pk, t->rssi);
  REF_KEY("boot");
  msgpack_pack_uint32(pk, t->boot);
  REF_KEY("seq");
  msgpack_pack_uint32(pk, t->seq);
  REF_KEY("up_ms");
  msgpack_pack_uint64(pk, t->up_ms);
  REF_KEY("v");
#undef REF_KEY
  msgpack_pack_map(pk, t->n_metrics);
  for (int k = 0; k < t->n_metrics; k++) {
    size_t n = strlen(t->v[k].name);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, t->v[k].name, n);
    double v = t->v[k].value;
    if ((double)(float)v == v)
      msgpack_pack_float(pk, (float)v);
    else
      msgpack_pack_double(pk, v);
  }
}

/* --- the two pipelines ---------------------------------------------------- */

static const uint8_t *unframe(struct fp_frame_decoder *d, const uint8_t *wire, size_t len,
                              size_t *plen)
{
  size_t used;
  const uint8_t *p;
  int rc = fp_frame_feed(d, wire, len, &used, &p, plen);
  return rc == 0 ? p : NULL;
}

static size_t ours_decode(const struct corpus *c, struct fp_msg *out)
{
  static struct fp_frame_decoder d;
  fp_frame_decoder_init(&d);
  size_t ok = 0;
  for (int i = 0; i < N_MSGS; i++) {
    size_t plen;
    const uint8_t *p = unframe(&d, c->wire[i], c->wire_len[i], &plen);
    if (p != NULL && fp_msg_decode(p, plen, FP_CODEC_MSGPACK, &out[i], NULL) == 0)
      ok++;
  }
  return ok;
}

static size_t ref_decode(const struct corpus *c, msgpack_zone *zone, struct fp_msg *out)
{
  static struct fp_frame_decoder d;
  fp_frame_decoder_init(&d);
  size_t ok = 0;
  for (int i = 0; i < N_MSGS; i++) {
    size_t plen;
    const uint8_t *p = unframe(&d, c->wire[i], c->wire_len[i], &plen);
    msgpack_object obj;
    size_t off = 0;
    if (p != NULL &&
        msgpack_unpack((const char *)p, plen, &off, zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
        ref_to_tel(&obj, &out[i]))
      ok++;
    msgpack_zone_clear(zone);
  }
  return ok;
}

/* msgpack-c's streaming unpacker, as a serial bridge built on msgpack-c
 * would use it: each payload fed into the unpacker's buffer, then one
 * msgpack_unpacker_next per message. */
static size_t ref_decode_unpacker(const struct corpus *c, msgpack_unpacker *unp,
                                  struct fp_msg *out)
{
  static struct fp_frame_decoder d;
  fp_frame_decoder_init(&d);
  msgpack_unpacked res;
  msgpack_unpacked_init(&res);
  size_t ok = 0;
  for (int i = 0; i < N_MSGS; i++) {
    size_t plen;
    const uint8_t *p = unframe(&d, c->wire[i], c->wire_len[i], &plen);
    if (p == NULL || !msgpack_unpacker_reserve_buffer(unp, plen))
      continue;
    memcpy(msgpack_unpacker_buffer(unp), p, plen);
    msgpack_unpacker_buffer_consumed(unp, plen);
    if (msgpack_unpacker_next(unp, &res) == MSGPACK_UNPACK_SUCCESS && ref_to_tel(&res.data, &out[i]))
      ok++;
  }
  msgpack_unpacked_destroy(&res);
  return ok;
}

static size_t ours_encode(const struct corpus *c, uint8_t *sink)
{
  size_t total = 0;
  for (int i = 0; i < N_MSGS; i++) {
    uint8_t payload[FP_MSG_MAX_ENCODED];
    size_t n, w;
    if (fp_msg_encode(&c->msgs[i], FP_CODEC_MSGPACK, payload, sizeof payload, &n) == 0 &&
        fp_frame_encode(payload, n, sink, FP_FRAME_MAX_WIRE, &w) == 0)
      total += w;
  }
  return total;
}

static size_t ref_encode(const struct corpus *c, msgpack_sbuffer *sb, uint8_t *sink)
{
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  size_t total = 0;
  for (int i = 0; i < N_MSGS; i++) {
    msgpack_sbuffer_clear(sb);
    ref_pack_tel(&pk, &c->msgs[i]);
    size_t w;
    if (fp_frame_encode(sb->data, sb->size, sink, FP_FRAME_MAX_WIRE, &w) == 0)
      total += w;
  }
  return total;
}

static bool same_tel(const struct fp_msg *a, const struct fp_msg *b)
{
  const struct fp_msg_tel *x = &a->u.tel, *y = &b->u.tel;
  if (a->gseq != b->gseq || memcmp(x->mac, y->mac, 6) != 0 || x->rssi != y->rssi ||
      x->boot != y->boot || x->seq != y->seq || x->up_ms != y->up_ms ||
      x->n_metrics != y->n_metrics || x->syn != y->syn)
    return false;
  for (int k = 0; k < x->n_metrics; k++)
    if (strcmp(x->v[k].name, y->v[k].name) != 0 || x->v[k].value != y->v[k].value)
      return false;
  return true;
}

/* Best-of-rounds messages per second for one pipeline. */
enum which { OURS_DECODE, REF_DECODE, REF_DECODE_UNPACKER, OURS_ENCODE, REF_ENCODE };

static double measure(enum which w, const struct corpus *c, int rounds, int passes,
                      struct fp_msg *scratch, msgpack_zone *zone, msgpack_unpacker *unp,
                      msgpack_sbuffer *sb)
{
  static uint8_t sink[FP_FRAME_MAX_WIRE];
  double best = 0;
  volatile size_t keep = 0;
  for (int r = 0; r < rounds; r++) {
    double t0 = now_s();
    for (int p = 0; p < passes; p++) {
      switch (w) {
      case OURS_DECODE:
        keep += ours_decode(c, scratch);
        break;
      case REF_DECODE:
        keep += ref_decode(c, zone, scratch);
        break;
      case REF_DECODE_UNPACKER:
        keep += ref_decode_unpacker(c, unp, scratch);
        break;
      case OURS_ENCODE:
        keep += ours_encode(c, sink);
        break;
      case REF_ENCODE:
        keep += ref_encode(c, sb, sink);
        break;
      }
    }
    double rate = (double)N_MSGS * passes / (now_s() - t0);
    if (rate > best)
      best = rate;
  }
  (void)keep;
  return best;
}

int main(int argc, char **argv)
{
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  if (argc > 1 && !quick) {
    fprintf(stderr, "usage: bench-codec [--quick]\n");
    return 2;
  }
  static struct corpus c;
  static struct fp_msg ours[N_MSGS], ref[N_MSGS];
  make_corpus(&c);
  msgpack_zone zone;
  msgpack_zone_init(&zone, 4096);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_unpacker unp;
  if (!msgpack_unpacker_init(&unp, MSGPACK_UNPACKER_INIT_BUFFER_SIZE)) {
    fprintf(stderr, "bench-codec: msgpack_unpacker_init failed\n");
    return 1;
  }

  /* Both sides must agree before anything is timed. */
  static uint8_t a[FP_FRAME_MAX_WIRE], b[FP_FRAME_MAX_WIRE];
  static struct fp_msg ref2[N_MSGS];
  if (ours_decode(&c, ours) != N_MSGS || ref_decode(&c, &zone, ref) != N_MSGS ||
      ref_decode_unpacker(&c, &unp, ref2) != N_MSGS) {
    fprintf(stderr, "bench-codec: a decoder rejected a corpus message\n");
    return 1;
  }
  for (int i = 0; i < N_MSGS; i++) {
    if (!same_tel(&ours[i], &c.msgs[i]) || !same_tel(&ref[i], &c.msgs[i]) ||
        !same_tel(&ref2[i], &c.msgs[i])) {
      fprintf(stderr, "bench-codec: decoders disagree on message %d\n", i);
      return 1;
    }
  }
  if (ours_encode(&c, a) != ref_encode(&c, &sb, b)) {
    fprintf(stderr, "bench-codec: encoders produce different sizes\n");
    return 1;
  }

  size_t wire_total = 0;
  for (int i = 0; i < N_MSGS; i++)
    wire_total += c.wire_len[i];

  int rounds = quick ? 2 : 7, passes = quick ? 5 : 300;
  double od = measure(OURS_DECODE, &c, rounds, passes, ours, &zone, &unp, &sb);
  double ru = measure(REF_DECODE_UNPACKER, &c, rounds, passes, ref, &zone, &unp, &sb);
  double rd = measure(REF_DECODE, &c, rounds, passes, ref, &zone, &unp, &sb);
  double oe = measure(OURS_ENCODE, &c, rounds, passes, ours, &zone, &unp, &sb);
  double re = measure(REF_ENCODE, &c, rounds, passes, ref, &zone, &unp, &sb);
  printf("bench-codec: %d telemetry frames (tel, 4 metrics, %zu bytes on the wire on average), "
         "best of %d rounds x %d passes%s\n",
         N_MSGS, wire_total / N_MSGS, rounds, passes, quick ? " (quick: figures not meaningful)" : "");
  printf("%-44s %12s %12s %7s\n", "pipeline (msgpack-c API on the right)", "fp msg/s",
         "msgpack-c", "ratio");
  printf("%-44s %12.0f %12.0f %6.2fx\n", "decode frame->struct (msgpack_unpacker_next)", od, ru,
         od / ru);
  printf("%-44s %12.0f %12.0f %6.2fx\n", "decode frame->struct (msgpack_unpack, zone)", od, rd,
         od / rd);
  printf("%-44s %12.0f %12.0f %6.2fx\n", "encode struct->frame (msgpack_packer)", oe, re, oe / re);
  msgpack_unpacker_destroy(&unp);
  msgpack_zone_destroy(&zone);
  msgpack_sbuffer_destroy(&sb);
  return 0;
}
