/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the MessagePack codec against msgpack-c, the
 * reference C implementation. A seeded generator builds thousands of random
 * nested values of every kind, with integers, lengths and counts on and
 * around every form boundary. Each value is encoded by us and unpacked by
 * msgpack-c, packed by msgpack-c and read back by our cursor, and both
 * encodings must be byte for byte the same (both pick the shortest forms).
 * The seed is printed; FARM_SEED=<n> replays a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/msgpack.h"
#include "testsupport.h"

#define N_VALUES 5000
#define MAX_DEPTH 6
#define MAX_NODES 4000
#define MAX_BYTES (256 * 1024)
#define OUT_CAP (512 * 1024)

enum gkind { G_NIL, G_BOOL, G_UINT, G_NEG, G_F32, G_F64, G_STR, G_BIN, G_EXT, G_TS, G_ARRAY, G_MAP };

/* A generated value. Maps keep their 2n keys and values interleaved. */
struct gv {
  enum gkind kind;
  bool b;
  int8_t ext_type;
  uint64_t u;
  int64_t i;
  double f;
  int64_t sec;
  uint32_t nsec;
  const uint8_t *bytes;
  size_t len;
  uint32_t n;
  struct gv *items;
};

struct gen {
  struct ts_rng rng;
  struct gv nodes[MAX_NODES];
  size_t nodes_used;
  uint8_t bytes[MAX_BYTES];
  size_t bytes_used;
};

static uint64_t below(struct gen *g, uint64_t n)
{
  return ts_rng_below(&g->rng, n);
}

static const uint64_t u_edges[] = {
  0, 1, 31, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
  UINT32_MAX, UINT64_C(0x100000000), UINT64_C(0x3ffffffff), (uint64_t)INT64_MAX,
  UINT64_C(0x8000000000000000), UINT64_MAX,
};
static const int64_t i_edges[] = {
  -1, -2, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769,
  INT32_MIN + 1, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN + 1, INT64_MIN,
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool f32_exact(double f)
{
  if (isnan(f) || isinf(f))
    return true;
  if (!(f >= -FLT_MAX && f <= FLT_MAX))
    return false;
  return (double)(float)f == f;
}

static uint64_t gen_uint(struct gen *g)
{
  if (below(g, 2) == 0) {
    uint64_t e = u_edges[below(g, COUNT(u_edges))];
    uint64_t d = below(g, 3); /* the edge, or one step past it either way */
    return d == 0 ? e : d == 1 ? e + 1 : e - 1;
  }
  return ts_rng_next(&g->rng) >> below(g, 64);
}

static int64_t gen_neg(struct gen *g)
{
  if (below(g, 2) == 0) {
    int64_t e = i_edges[below(g, COUNT(i_edges))];
    if (below(g, 2) == 0 && e > INT64_MIN)
      e--;
    else if (e < -1 && below(g, 2) == 0)
      e++;
    return e;
  }
  return -(int64_t)(ts_rng_next(&g->rng) >> (1 + below(g, 63))) - 1;
}

/* A length near the form boundaries of str/bin (31/32, 255/256, 65535/65536). */
static size_t gen_len(struct gen *g)
{
  static const size_t edges[] = {0, 1, 15, 16, 31, 32, 33, 255, 256, 257, 300};
  if (below(g, 100) == 0)
    return 65535 + below(g, 3);
  if (below(g, 3) == 0)
    return edges[below(g, COUNT(edges))];
  return below(g, 24);
}

static uint8_t *take_bytes(struct gen *g, size_t n)
{
  if (n > MAX_BYTES - g->bytes_used)
    return NULL;
  uint8_t *p = g->bytes + g->bytes_used;
  g->bytes_used += n;
  return p;
}

/* Valid UTF-8 of exactly n bytes, from all four sequence lengths. */
static void gen_utf8(struct gen *g, uint8_t *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    size_t room = n - i;
    size_t k = 1 + below(g, 4);
    if (k > room)
      k = room;
    if (below(g, 2) == 0)
      k = 1; /* mostly ASCII, as real keys and messages are */
    uint32_t cp;
    switch (k) {
    case 1:
      cp = (uint32_t)below(g, 0x80);
      p[i] = (uint8_t)cp;
      break;
    case 2:
      cp = 0x80 + (uint32_t)below(g, 0x800 - 0x80);
      p[i] = (uint8_t)(0xc0 | cp >> 6);
      p[i + 1] = (uint8_t)(0x80 | (cp & 0x3f));
      break;
    case 3:
      do
        cp = 0x800 + (uint32_t)below(g, 0x10000 - 0x800);
      while (cp >= 0xd800 && cp <= 0xdfff);
      p[i] = (uint8_t)(0xe0 | cp >> 12);
      p[i + 1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
      p[i + 2] = (uint8_t)(0x80 | (cp & 0x3f));
      break;
    default:
      cp = 0x10000 + (uint32_t)below(g, 0x110000 - 0x10000);
      p[i] = (uint8_t)(0xf0 | cp >> 18);
      p[i + 1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
      p[i + 2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
      p[i + 3] = (uint8_t)(0x80 | (cp & 0x3f));
      break;
    }
    i += k;
  }
}

static double gen_double(struct gen *g, bool want_f32)
{
  switch (below(g, 12)) {
  case 0:
    return NAN;
  case 1:
    return below(g, 2) ? INFINITY : -INFINITY;
  case 2:
    return below(g, 2) ? 0.0 : -0.0;
  default:
    break;
  }
  uint64_t bits = ts_rng_next(&g->rng);
  if (want_f32) {
    uint32_t fb = (uint32_t)bits;
    float f;
    memcpy(&f, &fb, sizeof f);
    return f;
  }
  double d;
  memcpy(&d, &bits, sizeof d);
  if (below(g, 4) == 0)
    d = (double)(int64_t)(bits >> 11) / 3.0; /* ordinary magnitudes too */
  return d;
}

static void gen_value(struct gen *g, struct gv *v, int depth);

static void gen_scalar(struct gen *g, struct gv *v)
{
  memset(v, 0, sizeof *v);
  v->kind = (enum gkind)below(g, G_ARRAY);
  switch (v->kind) {
  case G_NIL:
    break;
  case G_BOOL:
    v->b = below(g, 2) != 0;
    break;
  case G_UINT:
    v->u = gen_uint(g);
    break;
  case G_NEG:
    v->i = gen_neg(g);
    break;
  case G_F32:
  case G_F64:
    v->f = gen_double(g, v->kind == G_F32);
    v->kind = f32_exact(v->f) ? G_F32 : G_F64;
    break;
  case G_STR:
  case G_BIN: {
    size_t n = gen_len(g);
    uint8_t *p = take_bytes(g, n);
    if (p == NULL) {
      v->kind = G_NIL;
      break;
    }
    if (v->kind == G_STR)
      gen_utf8(g, p, n);
    else
      for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)ts_rng_next(&g->rng);
    v->bytes = p;
    v->len = n;
    break;
  }
  case G_EXT: {
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 8, 15, 16, 17, 255, 256, 300};
    size_t n = lens[below(g, COUNT(lens))];
    uint8_t *p = take_bytes(g, n);
    if (p == NULL) {
      v->kind = G_NIL;
      break;
    }
    for (size_t i = 0; i < n; i++)
      p[i] = (uint8_t)ts_rng_next(&g->rng);
    do
      v->ext_type = (int8_t)((int)below(g, 256) - 128);
    while (v->ext_type == -1); /* -1 is the timestamp, generated as such */
    v->bytes = p;
    v->len = n;
    break;
  }
  case G_TS:
    switch (below(g, 4)) {
    case 0:
      v->sec = (int64_t)below(g, UINT64_C(1) << 32);
      break;
    case 1:
      v->sec = (int64_t)below(g, UINT64_C(1) << 34);
      break;
    case 2:
      v->sec = -(int64_t)below(g, UINT64_C(1) << 40) - 1;
      break;
    default:
      v->sec = (int64_t)(ts_rng_next(&g->rng) >> 1);
      break;
    }
    v->nsec = below(g, 2) ? 0 : (uint32_t)below(g, 1000000000);
    break;
  default:
    break;
  }
}

static void gen_value(struct gen *g, struct gv *v, int depth)
{
  bool can_nest = depth < MAX_DEPTH && g->nodes_used < MAX_NODES - 64;
  if (!can_nest || below(g, 10) < 6) {
    gen_scalar(g, v);
    return;
  }
  memset(v, 0, sizeof *v);
  v->kind = below(g, 2) ? G_ARRAY : G_MAP;
  uint32_t n;
  uint64_t shape = below(g, 20);
  n = shape == 0 ? 15 + (uint32_t)below(g, 3) : (uint32_t)below(g, 6);
  size_t slots = v->kind == G_MAP ? 2u * n : n;
  if (slots > MAX_NODES - g->nodes_used)
    n = 0, slots = 0;
  v->n = n;
  v->items = g->nodes + g->nodes_used;
  g->nodes_used += slots;
  for (size_t i = 0; i < slots; i++) {
    if (v->kind == G_MAP && i % 2 == 0 && below(g, 4) != 0) {
      /* Keys: mostly short strings, sometimes any scalar. */
      struct gv *k = &v->items[i];
      memset(k, 0, sizeof *k);
      size_t len = below(g, 12);
      uint8_t *p = take_bytes(g, len);
      if (p == NULL) {
        k->kind = G_NIL;
        continue;
      }
      gen_utf8(g, p, len);
      k->kind = G_STR;
      k->bytes = p;
      k->len = len;
    } else if (v->kind == G_MAP && i % 2 == 0) {
      gen_scalar(g, &v->items[i]);
    } else {
      gen_value(g, &v->items[i], depth + 1);
    }
  }
}

/* ------------------------------ encoders --------------------------------- */

static void enc_ours(struct fp_mp_writer *w, const struct gv *v)
{
  switch (v->kind) {
  case G_NIL: fp_mp_write_nil(w); break;
  case G_BOOL: fp_mp_write_bool(w, v->b); break;
  case G_UINT: fp_mp_write_uint(w, v->u); break;
  case G_NEG: fp_mp_write_int(w, v->i); break;
  case G_F32:
  case G_F64: fp_mp_write_float(w, v->f); break;
  case G_STR: fp_mp_write_str(w, v->bytes, v->len); break;
  case G_BIN: fp_mp_write_bin(w, v->bytes, v->len); break;
  case G_EXT: fp_mp_write_ext(w, v->ext_type, v->bytes, v->len); break;
  case G_TS: fp_mp_write_timestamp(w, v->sec, v->nsec); break;
  case G_ARRAY:
    fp_mp_write_array(w, v->n);
    for (uint32_t i = 0; i < v->n; i++)
      enc_ours(w, &v->items[i]);
    break;
  case G_MAP:
    fp_mp_write_map(w, v->n);
    for (uint32_t i = 0; i < 2 * v->n; i++)
      enc_ours(w, &v->items[i]);
    break;
  }
}

static void enc_ref(msgpack_packer *pk, const struct gv *v)
{
  switch (v->kind) {
  case G_NIL: msgpack_pack_nil(pk); break;
  case G_BOOL: v->b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
  case G_UINT: msgpack_pack_uint64(pk, v->u); break;
  case G_NEG: msgpack_pack_int64(pk, v->i); break;
  case G_F32: msgpack_pack_float(pk, (float)v->f); break;
  case G_F64: msgpack_pack_double(pk, v->f); break;
  case G_STR:
    msgpack_pack_str(pk, v->len);
    msgpack_pack_str_body(pk, v->bytes, v->len);
    break;
  case G_BIN:
    msgpack_pack_bin(pk, v->len);
    msgpack_pack_bin_body(pk, v->bytes, v->len);
    break;
  case G_EXT:
    msgpack_pack_ext(pk, v->len, v->ext_type);
    msgpack_pack_ext_body(pk, v->bytes, v->len);
    break;
  case G_TS: {
    msgpack_timestamp ts = {v->sec, v->nsec};
    msgpack_pack_timestamp(pk, &ts);
    break;
  }
  case G_ARRAY:
    msgpack_pack_array(pk, v->n);
    for (uint32_t i = 0; i < v->n; i++)
      enc_ref(pk, &v->items[i]);
    break;
  case G_MAP:
    msgpack_pack_map(pk, v->n);
    for (uint32_t i = 0; i < 2 * v->n; i++)
      enc_ref(pk, &v->items[i]);
    break;
  }
}

/* ------------------------------ comparisons ------------------------------- */

static bool same_double(double a, double b)
{
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  return a == b && signbit(a) == signbit(b);
}

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* msgpack-c's decoded object against the generated value. */
static bool cmp_ref(const msgpack_object *o, const struct gv *v)
{
  switch (v->kind) {
  case G_NIL: return o->type == MSGPACK_OBJECT_NIL;
  case G_BOOL: return o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean == v->b;
  case G_UINT: return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == v->u;
  case G_NEG: return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == v->i;
  case G_F32: return o->type == MSGPACK_OBJECT_FLOAT32 && same_double(o->via.f64, v->f);
  case G_F64: return o->type == MSGPACK_OBJECT_FLOAT64 && same_double(o->via.f64, v->f);
  case G_STR:
    return o->type == MSGPACK_OBJECT_STR &&
           same_bytes(o->via.str.ptr, o->via.str.size, v->bytes, v->len);
  case G_BIN:
    return o->type == MSGPACK_OBJECT_BIN &&
           same_bytes(o->via.bin.ptr, o->via.bin.size, v->bytes, v->len);
  case G_EXT:
    return o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == v->ext_type &&
           same_bytes(o->via.ext.ptr, o->via.ext.size, v->bytes, v->len);
  case G_TS: {
    msgpack_timestamp ts;
    return msgpack_object_to_timestamp(o, &ts) && ts.tv_sec == v->sec && ts.tv_nsec == v->nsec;
  }
  case G_ARRAY:
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != v->n)
      return false;
    for (uint32_t i = 0; i < v->n; i++)
      if (!cmp_ref(&o->via.array.ptr[i], &v->items[i]))
        return false;
    return true;
  case G_MAP:
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != v->n)
      return false;
    for (uint32_t i = 0; i < v->n; i++)
      if (!cmp_ref(&o->via.map.ptr[i].key, &v->items[2 * i]) ||
          !cmp_ref(&o->via.map.ptr[i].val, &v->items[2 * i + 1]))
        return false;
    return true;
  }
  return false;
}

/* Our cursor's items against the generated value. */
static bool cmp_ours(struct fp_mp_reader *r, const struct gv *v)
{
  struct fp_item it;
  if (fp_mp_read(r, &it) != 0)
    return false;
  switch (v->kind) {
  case G_NIL: return it.kind == FP_NIL;
  case G_BOOL: return it.kind == FP_BOOL && it.v.b == v->b;
  case G_UINT: return it.kind == FP_UINT && it.v.u == v->u;
  case G_NEG: {
    int64_t i;
    return it.kind == FP_NEGINT && fp_item_to_i64(&it, &i) == 0 && i == v->i;
  }
  case G_F32:
  case G_F64:
    return it.kind == FP_FLOAT && it.float_bits == (v->kind == G_F32 ? 32 : 64) &&
           same_double(it.v.f, v->f);
  case G_STR:
  case G_BIN:
    return it.kind == (v->kind == G_STR ? FP_STR : FP_BIN) &&
           same_bytes(it.v.bytes.ptr, it.v.bytes.len, v->bytes, v->len);
  case G_EXT:
    return it.kind == FP_EXT && it.ext_type == v->ext_type &&
           same_bytes(it.v.bytes.ptr, it.v.bytes.len, v->bytes, v->len);
  case G_TS:
    return it.kind == FP_TIMESTAMP && it.v.ts.sec == v->sec && it.v.ts.nsec == v->nsec;
  case G_ARRAY:
  case G_MAP: {
    if (it.kind != (v->kind == G_ARRAY ? FP_ARRAY : FP_MAP) || it.v.count != v->n)
      return false;
    uint32_t slots = v->kind == G_MAP ? 2 * v->n : v->n;
    for (uint32_t i = 0; i < slots; i++)
      if (!cmp_ours(r, &v->items[i]))
        return false;
    return true;
  }
  }
  return false;
}

/* ---------------------------------- test ---------------------------------- */

static uint64_t seed_from_env(void)
{
  const char *s = getenv("FARM_SEED");
  return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : UINT64_C(0x6d7370646966660a);
}

static void test_against_msgpack_c(void **state)
{
  (void)state;
  static struct gen g;
  static uint8_t out[OUT_CAP];
  const uint64_t seed = seed_from_env();
  printf("seed %" PRIu64 " (FARM_SEED=%" PRIu64 " replays this run)\n", seed, seed);
  ts_rng_seed(&g.rng, seed);

  msgpack_sbuffer sbuf;
  msgpack_sbuffer_init(&sbuf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
  size_t total = 0, nodes = 0;
  unsigned kinds[G_MAP + 1] = {0};

  for (int n = 0; n < N_VALUES; n++) {
    g.nodes_used = 1;
    g.bytes_used = 0;
    struct gv *v = &g.nodes[0];
    gen_value(&g, v, 0);
    for (size_t i = 0; i < g.nodes_used; i++)
      kinds[g.nodes[i].kind]++;
    nodes += g.nodes_used;

    /* (a) ours -> msgpack-c */
    struct fp_mp_writer w;
    fp_mp_writer_init(&w, out, sizeof out);
    enc_ours(&w, v);
    assert_int_equal(w.err, 0);
    total += w.len;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)out, w.len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != w.len || !cmp_ref(&up.data, v)) {
      fprintf(stderr, "value %d (seed %" PRIu64 "): msgpack-c disagrees (rc %d, off %zu of %zu)\n",
              n, seed, (int)ur, off, w.len);
      fprintf(stderr, "ours: %s\n", ts_hex(out, w.len));
      fail();
    }
    msgpack_unpacked_destroy(&up);

    /* (b) msgpack-c -> ours, and the same bytes. */
    msgpack_sbuffer_clear(&sbuf);
    enc_ref(&pk, v);
    if (sbuf.size != w.len || memcmp(sbuf.data, out, w.len) != 0) {
      fprintf(stderr, "value %d (seed %" PRIu64 "): encodings differ\n", n, seed);
      fprintf(stderr, "ours:      %s\n", ts_hex(out, w.len));
      fprintf(stderr, "msgpack-c: %s\n", ts_hex(sbuf.data, sbuf.size));
      fail();
    }
    struct fp_mp_reader r;
    fp_mp_reader_init(&r, sbuf.data, sbuf.size);
    if (!cmp_ours(&r, v) || !fp_mp_done(&r) || r.pos != sbuf.size) {
      fprintf(stderr, "value %d (seed %" PRIu64 "): our reader disagrees at %zu\n", n, seed,
              r.pos);
      fail();
    }
    assert_int_equal(fp_mp_validate(sbuf.data, sbuf.size, NULL), 0);
  }
  msgpack_sbuffer_destroy(&sbuf);

  /* The generator must really have covered every kind. */
  for (int k = 0; k <= G_MAP; k++)
    assert_true(kinds[k] > 50);
  printf("%d values, %zu items, %zu bytes\n", N_VALUES, nodes, total);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_against_msgpack_c),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
