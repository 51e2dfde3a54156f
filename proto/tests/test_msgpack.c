/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the MessagePack codec (fp/msgpack.h): the published
 * msgpack-test-suite vectors decoded in every listed form and re-encoded in
 * the shortest one, every boundary between two forms of every item kind, the
 * cursor's container tracking, and the bad inputs of BAD-INPUTS.md
 * §MessagePack (10-13) that concern the codec, each with its exact error code
 * and error offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/msgpack.h"
#include "testsupport.h"

/* Large enough for a map of 65536 pairs of nil plus its head. */
#define BIG (2 * 65536 + 64)
static uint8_t big_buf[BIG];

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
  long n = ts_hex_decode(hex, out, cap);
  assert_true(n >= 0);
  return (size_t)n;
}

/* Asserts that (p, len) are exactly the bytes spelled by want_hex. */
static void assert_bytes(const uint8_t *p, size_t len, const char *want_hex)
{
  uint8_t want[64];
  size_t n = unhex(want_hex, want, sizeof want);
  if (len != n || memcmp(p, want, n) != 0) {
    fprintf(stderr, "got  %s\n", ts_hex(p, len));
    fprintf(stderr, "want %s\n", ts_hex(want, n));
    fail();
  }
}

/* Reads one complete top-level scalar from (buf, len) into *it. */
static void read_one(const uint8_t *buf, size_t len, struct fp_item *it)
{
  struct fp_mp_reader r;
  fp_mp_reader_init(&r, buf, len);
  assert_int_equal(fp_mp_read(&r, it), 0);
  assert_true(fp_mp_done(&r));
  assert_int_equal(r.pos, len);
  assert_int_equal(fp_mp_validate(buf, len, NULL), 0);
}

/* Validates hex and asserts the error code and offset. */
static void expect_invalid(const char *hex, int err, size_t offset)
{
  uint8_t buf[256];
  size_t n = unhex(hex, buf, sizeof buf);
  size_t off = 12345;
  int rc = fp_mp_validate(buf, n, &off);
  if (rc != err || off != offset) {
    fprintf(stderr, "%s: got %s at %zu, want %s at %zu\n", hex, farm_errname(rc), off,
            farm_errname(err), offset);
    fail();
  }
}

/* ------------------------- msgpack-test-suite ----------------------------- */

/* An expected integer as sign and magnitude, so the whole u64/i64 range fits. */
struct want_int {
  bool neg;
  uint64_t mag;
};

static struct want_int int_from_json(const json_t *v)
{
  json_int_t i = json_integer_value(v);
  struct want_int w = {i < 0, 0};
  w.mag = w.neg ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
  return w;
}

/* "bignum" entries spell the number as a decimal string. */
static struct want_int int_from_decimal(const char *s)
{
  struct want_int w = {false, 0};
  if (*s == '-') {
    w.neg = true;
    s++;
  }
  assert_true(*s != '\0');
  for (; *s != '\0'; s++) {
    assert_true(*s >= '0' && *s <= '9');
    unsigned d = (unsigned)(*s - '0');
    assert_true(w.mag <= (UINT64_MAX - d) / 10);
    w.mag = w.mag * 10 + d;
  }
  return w;
}

/* An integer may also be listed in float forms; those must hold it exactly. */
static void check_int(const struct fp_item *it, struct want_int w)
{
  if (it->kind == FP_FLOAT) {
    assert_true(w.mag <= (UINT64_C(1) << 53)); /* exactly representable */
    double want = w.neg ? -(double)w.mag : (double)w.mag;
    assert_true(it->v.f == want);
  } else if (w.neg) {
    assert_int_equal(it->kind, FP_NEGINT);
    assert_true(it->v.u == w.mag - 1);
  } else {
    assert_int_equal(it->kind, FP_UINT);
    assert_true(it->v.u == w.mag);
  }
}

static void check_json(struct fp_mp_reader *r, const json_t *v);

/* Reads one item and compares it, recursively, with the JSON value. */
static void check_json(struct fp_mp_reader *r, const json_t *v)
{
  struct fp_item it;
  assert_int_equal(fp_mp_read(r, &it), 0);
  switch (json_typeof(v)) {
  case JSON_NULL:
    assert_int_equal(it.kind, FP_NIL);
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    assert_int_equal(it.kind, FP_BOOL);
    assert_int_equal(it.v.b, json_is_true(v));
    break;
  case JSON_INTEGER:
    check_int(&it, int_from_json(v));
    break;
  case JSON_REAL:
    assert_int_equal(it.kind, FP_FLOAT);
    assert_true(it.v.f == json_real_value(v));
    break;
  case JSON_STRING:
    assert_int_equal(it.kind, FP_STR);
    assert_int_equal(it.v.bytes.len, json_string_length(v));
    assert_memory_equal(it.v.bytes.ptr, json_string_value(v), it.v.bytes.len);
    break;
  case JSON_ARRAY:
    assert_int_equal(it.kind, FP_ARRAY);
    assert_int_equal(it.v.count, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++)
      check_json(r, json_array_get(v, i));
    break;
  case JSON_OBJECT: {
    assert_int_equal(it.kind, FP_MAP);
    assert_int_equal(it.v.count, json_object_size(v));
    const uint8_t *seen[16];
    size_t seen_len[16];
    assert_true(it.v.count <= 16);
    for (size_t i = 0; i < it.v.count; i++) {
      struct fp_item key;
      assert_int_equal(fp_mp_read(r, &key), 0);
      assert_int_equal(key.kind, FP_STR);
      for (size_t k = 0; k < i; k++) /* equal counts and distinct keys */
        assert_false(seen_len[k] == key.v.bytes.len &&
                     memcmp(seen[k], key.v.bytes.ptr, key.v.bytes.len) == 0);
      seen[i] = key.v.bytes.ptr;
      seen_len[i] = key.v.bytes.len;
      const json_t *val = json_object_getn(v, (const char *)key.v.bytes.ptr, key.v.bytes.len);
      assert_non_null(val);
      check_json(r, val);
    }
    break;
  }
  }
}

static void encode_json(struct fp_mp_writer *w, const json_t *v);

static void encode_int(struct fp_mp_writer *w, struct want_int n)
{
  if (!n.neg)
    assert_int_equal(fp_mp_write_uint(w, n.mag), 0);
  else
    assert_int_equal(fp_mp_write_int(w, -(int64_t)(n.mag - 1) - 1), 0);
}

static void encode_json(struct fp_mp_writer *w, const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_NULL:
    assert_int_equal(fp_mp_write_nil(w), 0);
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    assert_int_equal(fp_mp_write_bool(w, json_is_true(v)), 0);
    break;
  case JSON_INTEGER:
    encode_int(w, int_from_json(v));
    break;
  case JSON_REAL:
    assert_int_equal(fp_mp_write_float(w, json_real_value(v)), 0);
    break;
  case JSON_STRING:
    assert_int_equal(fp_mp_write_str(w, json_string_value(v), json_string_length(v)), 0);
    break;
  case JSON_ARRAY:
    assert_int_equal(fp_mp_write_array(w, json_array_size(v)), 0);
    for (size_t i = 0; i < json_array_size(v); i++)
      encode_json(w, json_array_get(v, i));
    break;
  case JSON_OBJECT: {
    const char *k;
    json_t *val;
    assert_int_equal(fp_mp_write_map(w, json_object_size(v)), 0);
    json_object_foreach((json_t *)v, k, val) {
      assert_int_equal(fp_mp_write_cstr(w, k), 0);
      encode_json(w, val);
    }
    break;
  }
  }
}

/* Decodes one listed encoding of a suite entry and compares with its value. */
static void check_entry_decode(const json_t *entry, const uint8_t *b, size_t n)
{
  struct fp_mp_reader r;
  struct fp_item it;
  fp_mp_reader_init(&r, b, n);
  const json_t *v;
  if ((v = json_object_get(entry, "bignum")) != NULL) {
    assert_int_equal(fp_mp_read(&r, &it), 0);
    check_int(&it, int_from_decimal(json_string_value(v)));
  } else if ((v = json_object_get(entry, "binary")) != NULL) {
    uint8_t want[64];
    size_t wn = unhex(json_string_value(v), want, sizeof want);
    assert_int_equal(fp_mp_read(&r, &it), 0);
    assert_int_equal(it.kind, FP_BIN);
    assert_int_equal(it.v.bytes.len, wn);
    if (wn != 0)
      assert_memory_equal(it.v.bytes.ptr, want, wn);
  } else if ((v = json_object_get(entry, "timestamp")) != NULL) {
    assert_int_equal(fp_mp_read(&r, &it), 0);
    assert_int_equal(it.kind, FP_TIMESTAMP);
    assert_true(it.v.ts.sec == json_integer_value(json_array_get(v, 0)));
    assert_true(it.v.ts.nsec == json_integer_value(json_array_get(v, 1)));
  } else if ((v = json_object_get(entry, "ext")) != NULL) {
    uint8_t want[64];
    size_t wn = unhex(json_string_value(json_array_get(v, 1)), want, sizeof want);
    assert_int_equal(fp_mp_read(&r, &it), 0);
    assert_int_equal(it.kind, FP_EXT);
    assert_int_equal(it.ext_type, json_integer_value(json_array_get(v, 0)));
    assert_int_equal(it.v.bytes.len, wn);
    if (wn != 0)
      assert_memory_equal(it.v.bytes.ptr, want, wn);
  } else {
    static const char *const plain[] = {"nil", "bool", "number", "string", "array", "map"};
    v = NULL;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0] && v == NULL; i++)
      v = json_object_get(entry, plain[i]);
    assert_non_null(v);
    check_json(&r, v);
  }
  assert_true(fp_mp_done(&r));
  assert_int_equal(r.pos, n);
  assert_int_equal(fp_mp_validate(b, n, NULL), 0);
}

/* Encodes the value of a suite entry with our writer. */
static void encode_entry(const json_t *entry, struct fp_mp_writer *w, bool *nonneg_int)
{
  const json_t *v;
  *nonneg_int = false;
  if ((v = json_object_get(entry, "bignum")) != NULL) {
    struct want_int n = int_from_decimal(json_string_value(v));
    *nonneg_int = !n.neg;
    encode_int(w, n);
  } else if ((v = json_object_get(entry, "binary")) != NULL) {
    uint8_t b[64];
    size_t n = unhex(json_string_value(v), b, sizeof b);
    assert_int_equal(fp_mp_write_bin(w, b, n), 0);
  } else if ((v = json_object_get(entry, "timestamp")) != NULL) {
    assert_int_equal(fp_mp_write_timestamp(w, json_integer_value(json_array_get(v, 0)),
                                           (uint32_t)json_integer_value(json_array_get(v, 1))),
                     0);
  } else if ((v = json_object_get(entry, "ext")) != NULL) {
    uint8_t b[64];
    size_t n = unhex(json_string_value(json_array_get(v, 1)), b, sizeof b);
    assert_int_equal(fp_mp_write_ext(w, (int8_t)json_integer_value(json_array_get(v, 0)), b, n),
                     0);
  } else {
    static const char *const plain[] = {"nil", "bool", "number", "string", "array", "map"};
    v = NULL;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0] && v == NULL; i++)
      v = json_object_get(entry, plain[i]);
    assert_non_null(v);
    *nonneg_int = json_is_integer(v) && json_integer_value(v) >= 0;
    encode_json(w, v);
  }
}

static bool is_unsigned_head(uint8_t h)
{
  return h <= 0x7f || (h >= 0xcc && h <= 0xcf);
}

static void test_suite(void **state)
{
  (void)state;
  json_t *root = ts_load_json(ts_shared_path("data/conformance/msgpack-test-suite.json"));
  assert_true(json_is_object(root));
  size_t entries = 0, decoded = 0, unsigned_pick = 0;
  const char *file;
  json_t *group;
  json_object_foreach(root, file, group) {
    for (size_t e = 0; e < json_array_size(group); e++) {
      const json_t *entry = json_array_get(group, e);
      const json_t *forms = json_object_get(entry, "msgpack");
      assert_true(json_array_size(forms) > 0);
      entries++;

      uint8_t b[128];
      for (size_t f = 0; f < json_array_size(forms); f++) {
        size_t n = unhex(json_string_value(json_array_get(forms, f)), b, sizeof b);
        check_entry_decode(entry, b, n);
        decoded++;
      }

      /* The suite lists the shortest form first. Where a non-negative
       * integer has a signed and an unsigned form of the same length (only
       * INT64_MAX: d3 and cf), the suite lists d3 first; our contract is the
       * unsigned form, so the expected bytes are the first unsigned form of
       * that same shortest length. */
      uint8_t out[128];
      struct fp_mp_writer w;
      bool nonneg_int;
      fp_mp_writer_init(&w, out, sizeof out);
      encode_entry(entry, &w, &nonneg_int);
      assert_int_equal(w.err, 0);
      const char *want = json_string_value(json_array_get(forms, 0));
      size_t wn = unhex(want, b, sizeof b);
      if (nonneg_int && !is_unsigned_head(b[0])) {
        size_t shortest = wn;
        want = NULL;
        for (size_t f = 1; f < json_array_size(forms) && want == NULL; f++) {
          const char *cand = json_string_value(json_array_get(forms, f));
          wn = unhex(cand, b, sizeof b);
          if (wn == shortest && is_unsigned_head(b[0]))
            want = cand;
        }
        assert_non_null(want);
        unsigned_pick++;
      }
      if (w.len != wn || memcmp(out, b, wn) != 0) {
        fprintf(stderr, "%s #%zu: encoded %s, want %s\n", file, e, ts_hex(out, w.len), want);
        fail();
      }
    }
  }
  /* The published suite: 85 values in 233 encodings. Guards against a file
   * that silently lost (or gained) content. */
  assert_int_equal(entries, 85);
  assert_int_equal(decoded, 233);
  printf("msgpack-test-suite: %zu entries, %zu encodings decoded, %zu unsigned picks\n",
         entries, decoded, unsigned_pick);
  json_decref(root);
}

/* ------------------------------ edge values ------------------------------- */

static void test_int_boundaries(void **state)
{
  (void)state;
  static const struct {
    uint64_t u;
    const char *hex;
  } uints[] = {
    {0, "00"},
    {127, "7f"},
    {128, "cc80"},
    {255, "ccff"},
    {256, "cd0100"},
    {65535, "cdffff"},
    {65536, "ce00010000"},
    {UINT32_MAX, "ceffffffff"},
    {UINT64_C(0x100000000), "cf0000000100000000"},
    {(uint64_t)INT64_MAX, "cf7fffffffffffffff"},
    {UINT64_C(0x8000000000000000), "cf8000000000000000"},
    {UINT64_MAX, "cfffffffffffffffff"},
  };
  static const struct {
    int64_t i;
    const char *hex;
  } ints[] = {
    {0, "00"},
    {127, "7f"},
    {128, "cc80"},
    {255, "ccff"},
    {256, "cd0100"},
    {32767, "cd7fff"},
    {32768, "cd8000"},
    {65536, "ce00010000"},
    {INT32_MAX, "ce7fffffff"},
    {(int64_t)UINT32_MAX + 1, "cf0000000100000000"},
    {INT64_MAX, "cf7fffffffffffffff"},
    {-1, "ff"},
    {-32, "e0"},
    {-33, "d0df"},
    {-128, "d080"},
    {-129, "d1ff7f"},
    {-32768, "d18000"},
    {-32769, "d2ffff7fff"},
    {INT32_MIN, "d280000000"},
    {(int64_t)INT32_MIN - 1, "d3ffffffff7fffffff"},
    {INT64_MIN + 1, "d38000000000000001"},
    {INT64_MIN, "d38000000000000000"},
  };
  uint8_t buf[16];
  struct fp_mp_writer w;
  struct fp_item it;
  for (size_t i = 0; i < sizeof uints / sizeof uints[0]; i++) {
    fp_mp_writer_init(&w, buf, sizeof buf);
    assert_int_equal(fp_mp_write_uint(&w, uints[i].u), 0);
    assert_bytes(buf, w.len, uints[i].hex);
    read_one(buf, w.len, &it);
    assert_int_equal(it.kind, FP_UINT);
    assert_true(it.v.u == uints[i].u);
    uint64_t back;
    assert_int_equal(fp_item_to_u64(&it, &back), 0);
    assert_true(back == uints[i].u);
  }
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    fp_mp_writer_init(&w, buf, sizeof buf);
    assert_int_equal(fp_mp_write_int(&w, ints[i].i), 0);
    assert_bytes(buf, w.len, ints[i].hex);
    read_one(buf, w.len, &it);
    assert_int_equal(it.kind, ints[i].i < 0 ? FP_NEGINT : FP_UINT);
    int64_t back;
    assert_int_equal(fp_item_to_i64(&it, &back), 0);
    assert_true(back == ints[i].i);
  }
  /* Non-shortest and signed forms of non-negative values decode too. */
  read_one(buf, unhex("d07f", buf, sizeof buf), &it);
  assert_int_equal(it.kind, FP_UINT);
  assert_true(it.v.u == 127);
  read_one(buf, unhex("d37fffffffffffffff", buf, sizeof buf), &it);
  assert_int_equal(it.kind, FP_UINT);
  assert_true(it.v.u == (uint64_t)INT64_MAX);
  read_one(buf, unhex("d1ff7f", buf, sizeof buf), &it);
  assert_int_equal(it.kind, FP_NEGINT);
  assert_true(it.v.u == 128); /* -129 */
  read_one(buf, unhex("cf0000000000000001", buf, sizeof buf), &it);
  assert_int_equal(it.kind, FP_UINT);
  assert_true(it.v.u == 1);
}

static void test_float_forms(void **state)
{
  (void)state;
  static const struct {
    double f;
    const char *hex;
  } floats[] = {
    {0.5, "ca3f000000"},
    {1.0, "ca3f800000"},
    {-1.5, "cabfc00000"},
    {0.1, "cb3fb999999999999a"},
    {16777216.0, "ca4b800000"},        /* 2^24 */
    {16777217.0, "cb4170000010000000"}, /* 2^24 + 1 needs 25 bits */
    {FLT_MAX, "ca7f7fffff"},
    {3.4028235677973366e38, "cb47effffff0000000"}, /* just past FLT_MAX */
    {1.1754943508222875e-38, "ca00800000"},        /* FLT_MIN */
    {0x1p-149, "ca00000001"},                      /* smallest float subnormal */
    {0x1p-150, "cb3690000000000000"},
    {1e300, "cb7e37e43c8800759c"},
    {DBL_MAX, "cb7fefffffffffffff"},
    {INFINITY, "ca7f800000"},
    {-INFINITY, "caff800000"},
  };
  uint8_t buf[16];
  struct fp_mp_writer w;
  struct fp_item it;
  for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
    fp_mp_writer_init(&w, buf, sizeof buf);
    assert_int_equal(fp_mp_write_float(&w, floats[i].f), 0);
    assert_bytes(buf, w.len, floats[i].hex);
    read_one(buf, w.len, &it);
    assert_int_equal(it.kind, FP_FLOAT);
    assert_int_equal(it.float_bits, buf[0] == 0xca ? 32 : 64);
    assert_true(it.v.f == floats[i].f);
  }

  /* -0.0 keeps its sign and fits float32. */
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_float(&w, -0.0), 0);
  assert_bytes(buf, w.len, "ca80000000");
  read_one(buf, w.len, &it);
  assert_true(it.v.f == 0.0 && signbit(it.v.f));

  /* NaN is float32 (the quiet NaN of binary32). */
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_float(&w, NAN), 0);
  assert_int_equal(w.len, 5);
  assert_int_equal(buf[0], 0xca);
  read_one(buf, w.len, &it);
  assert_true(isnan(it.v.f));
  read_one(buf, unhex("cb7ff8000000000000", buf, sizeof buf), &it);
  assert_true(isnan(it.v.f));
  assert_int_equal(it.float_bits, 64);

  /* The explicit widths are kept even when a shorter one would do. */
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_f64(&w, 0.5), 0);
  assert_bytes(buf, w.len, "cb3fe0000000000000");
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_f32(&w, 0.1f), 0);
  assert_bytes(buf, w.len, "ca3dcccccd");
  read_one(buf, w.len, &it);
  assert_true(it.v.f == (double)0.1f);
}

/* Head of a str/bin of length n, then n payload bytes, decoded back. */
static void check_sized(bool str, size_t n, const char *head_hex)
{
  static uint8_t payload[65536 + 1];
  memset(payload, 'x', sizeof payload);
  struct fp_mp_writer w;
  fp_mp_writer_init(&w, big_buf, sizeof big_buf);
  int rc = str ? fp_mp_write_str(&w, payload, n) : fp_mp_write_bin(&w, payload, n);
  assert_int_equal(rc, 0);
  uint8_t head[8];
  size_t hl = unhex(head_hex, head, sizeof head);
  assert_int_equal(w.len, hl + n);
  assert_memory_equal(big_buf, head, hl);
  struct fp_item it;
  read_one(big_buf, w.len, &it);
  assert_int_equal(it.kind, str ? FP_STR : FP_BIN);
  assert_int_equal(it.v.bytes.len, n);
  assert_ptr_equal(it.v.bytes.ptr, big_buf + hl);
}

static void test_str_bin_boundaries(void **state)
{
  (void)state;
  check_sized(true, 0, "a0");
  check_sized(true, 1, "a1");
  check_sized(true, 31, "bf");
  check_sized(true, 32, "d920");
  check_sized(true, 255, "d9ff");
  check_sized(true, 256, "da0100");
  check_sized(true, 65535, "daffff");
  check_sized(true, 65536, "db00010000");
  check_sized(false, 0, "c400");
  check_sized(false, 1, "c401");
  check_sized(false, 31, "c41f");
  check_sized(false, 32, "c420");
  check_sized(false, 255, "c4ff");
  check_sized(false, 256, "c50100");
  check_sized(false, 65535, "c5ffff");
  check_sized(false, 65536, "c600010000");

  /* fp_mp_write_cstr is fp_mp_write_str of strlen bytes. */
  uint8_t buf[16];
  struct fp_mp_writer w;
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_cstr(&w, "tel"), 0);
  assert_int_equal(fp_mp_write_cstr(&w, ""), 0);
  assert_bytes(buf, w.len, "a3 74 65 6c a0");
}

/* Container head of n, then n items (pairs) of nil: validates exactly. */
static void check_container(bool map, uint64_t n, const char *head_hex)
{
  struct fp_mp_writer w;
  fp_mp_writer_init(&w, big_buf, sizeof big_buf);
  assert_int_equal(map ? fp_mp_write_map(&w, n) : fp_mp_write_array(&w, n), 0);
  assert_bytes(big_buf, w.len, head_hex);
  size_t hl = w.len;

  struct fp_mp_reader r;
  struct fp_item it;
  fp_mp_reader_init(&r, big_buf, sizeof big_buf);
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_int_equal(it.kind, map ? FP_MAP : FP_ARRAY);
  assert_true(it.v.count == n);
  assert_int_equal(fp_mp_done(&r), n == 0);
  if (n > 65536)
    return;

  size_t items = (size_t)(map ? 2 * n : n);
  for (size_t i = 0; i < items; i++)
    assert_int_equal(fp_mp_write_nil(&w), 0);
  assert_int_equal(fp_mp_validate(big_buf, w.len, NULL), 0);
  if (items > 0) {
    size_t off;
    assert_int_equal(fp_mp_validate(big_buf, w.len - 1, &off), FARM_ETRUNCATED);
    assert_int_equal(off, w.len - 1);
  }
  assert_int_equal(fp_mp_write_nil(&w), 0);
  size_t off;
  assert_int_equal(fp_mp_validate(big_buf, w.len, &off), FARM_ETRAILING);
  assert_int_equal(off, hl + items);
}

static void test_container_boundaries(void **state)
{
  (void)state;
  check_container(false, 0, "90");
  check_container(false, 15, "9f");
  check_container(false, 16, "dc0010");
  check_container(false, 65535, "dcffff");
  check_container(false, 65536, "dd00010000");
  check_container(false, UINT32_MAX, "ddffffffff");
  check_container(true, 0, "80");
  check_container(true, 15, "8f");
  check_container(true, 16, "de0010");
  check_container(true, 65535, "deffff");
  check_container(true, 65536, "df00010000");
  check_container(true, UINT32_MAX, "dfffffffff");

  /* 2^32 items cannot be declared: sticky ETOOBIG, nothing written. */
  uint8_t buf[8];
  struct fp_mp_writer w;
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_array(&w, UINT64_C(1) << 32), FARM_ETOOBIG);
  assert_int_equal(w.len, 0);
  assert_int_equal(fp_mp_write_nil(&w), FARM_ETOOBIG);
  assert_int_equal(w.len, 0);
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_map(&w, UINT64_MAX), FARM_ETOOBIG);
  assert_int_equal(w.err, FARM_ETOOBIG);
}

static void test_ext_boundaries(void **state)
{
  (void)state;
  static const struct {
    size_t len;
    const char *head;
  } forms[] = {
    {1, "d405"},       {2, "d505"},       {4, "d605"},        {8, "d705"},
    {16, "d805"},      {0, "c70005"},     {3, "c70305"},      {5, "c70505"},
    {15, "c70f05"},    {17, "c71105"},    {255, "c7ff05"},    {256, "c8010005"},
    {65535, "c8ffff05"}, {65536, "c90001000005"},
  };
  static uint8_t payload[65536];
  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    struct fp_mp_writer w;
    fp_mp_writer_init(&w, big_buf, sizeof big_buf);
    assert_int_equal(fp_mp_write_ext(&w, 5, payload, forms[i].len), 0);
    uint8_t head[8];
    size_t hl = unhex(forms[i].head, head, sizeof head);
    assert_int_equal(w.len, hl + forms[i].len);
    assert_memory_equal(big_buf, head, hl);
    struct fp_item it;
    read_one(big_buf, w.len, &it);
    assert_int_equal(it.kind, FP_EXT);
    assert_int_equal(it.ext_type, 5);
    assert_int_equal(it.v.bytes.len, forms[i].len);
    assert_ptr_equal(it.v.bytes.ptr, big_buf + hl);
  }
  /* Negative application types other than -1 stay plain ext. */
  uint8_t buf[8];
  struct fp_mp_writer w;
  struct fp_item it;
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_ext(&w, -128, "\x2a", 1), 0);
  assert_bytes(buf, w.len, "d4802a");
  read_one(buf, w.len, &it);
  assert_int_equal(it.kind, FP_EXT);
  assert_int_equal(it.ext_type, -128);
  assert_int_equal(it.v.bytes.ptr[0], 0x2a);
}

static void test_timestamp_forms(void **state)
{
  (void)state;
  static const struct {
    int64_t sec;
    uint32_t nsec;
    const char *hex;
  } ts[] = {
    {0, 0, "d6ff00000000"},
    {4294967295, 0, "d6ffffffffff"},          /* last timestamp 32 */
    {4294967296, 0, "d7ff0000000100000000"},  /* first timestamp 64 by sec */
    {0, 1, "d7ff0000000400000000"},           /* timestamp 64 by nsec */
    {4294967295, 1, "d7ff00000004ffffffff"},
    {1, 999999999, "d7ffee6b27fc00000001"},
    {17179869183, 999999999, "d7ffee6b27ffffffffff"}, /* last 34-bit sec */
    {17179869184, 0, "c70cff000000000000000400000000"},
    {-1, 0, "c70cff00000000ffffffffffffffff"}, /* negative sec: 96 */
    {INT64_MIN, 0, "c70cff000000008000000000000000"},
    {INT64_MAX, 999999999, "c70cff3b9ac9ff7fffffffffffffff"},
  };
  uint8_t buf[32];
  struct fp_mp_writer w;
  struct fp_item it;
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
    fp_mp_writer_init(&w, buf, sizeof buf);
    assert_int_equal(fp_mp_write_timestamp(&w, ts[i].sec, ts[i].nsec), 0);
    assert_bytes(buf, w.len, ts[i].hex);
    read_one(buf, w.len, &it);
    assert_int_equal(it.kind, FP_TIMESTAMP);
    assert_true(it.v.ts.sec == ts[i].sec);
    assert_true(it.v.ts.nsec == ts[i].nsec);
  }
  /* A timestamp in a non-shortest ext form is still a timestamp. */
  read_one(buf, unhex("c704ff00000001", buf, sizeof buf), &it);
  assert_int_equal(it.kind, FP_TIMESTAMP);
  assert_true(it.v.ts.sec == 1 && it.v.ts.nsec == 0);
  read_one(buf, unhex("c90000000cff0000000000000000ffffffff", buf, sizeof buf), &it);
  assert_int_equal(it.kind, FP_TIMESTAMP);
  assert_true(it.v.ts.sec == UINT32_MAX && it.v.ts.nsec == 0);

  /* nsec of a second or more is a caller mistake the writer refuses,
   * stickily and without writing anything. */
  fp_mp_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_mp_write_timestamp(&w, 0, 1000000000), FARM_EINVAL);
  assert_int_equal(w.len, 0);
  assert_int_equal(fp_mp_write_nil(&w), FARM_EINVAL);
  assert_int_equal(w.len, 0);
}

/* ----------------------------- cursor behaviour --------------------------- */

static void test_cursor_walk(void **state)
{
  (void)state;
  /* {"a": [1, [2, 3]], "b": "x", "c": {}} */
  uint8_t buf[64];
  size_t n = unhex("83 a161 92 01 92 02 03 a162 a178 a163 80", buf, sizeof buf);
  struct fp_mp_reader r;
  struct fp_item it;
  fp_mp_reader_init(&r, buf, n);
  assert_false(fp_mp_done(&r));
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_MAP);
  assert_int_equal(it.v.count, 3);
  assert_int_equal(r.depth, 1);
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "a"));
  assert_int_equal(fp_mp_skip(&r), 0); /* the whole [1, [2, 3]] */
  assert_int_equal(r.depth, 1);
  assert_int_equal(r.pos, 8);
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "b"));
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "x"));
  assert_false(fp_mp_done(&r));
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "c"));
  assert_int_equal(fp_mp_read(&r, &it), 0); /* {} completes the top level */
  assert_int_equal(it.kind, FP_MAP);
  assert_int_equal(it.v.count, 0);
  assert_true(fp_mp_done(&r));
  assert_int_equal(r.depth, 0);
  assert_int_equal(r.pos, n);

  /* Reading past the end of a complete value. */
  assert_int_equal(fp_mp_read(&r, &it), FARM_EEMPTY);
  assert_int_equal(r.err_offset, n);
  assert_int_equal(fp_mp_skip(&r), FARM_EEMPTY);
  assert_int_equal(r.err_offset, n);

  /* Skip from the start: one whole value, even with bytes after it. */
  buf[n] = 0xc0;
  fp_mp_reader_init(&r, buf, n + 1);
  assert_int_equal(fp_mp_skip(&r), 0);
  assert_true(fp_mp_done(&r));
  assert_int_equal(r.pos, n);
  assert_int_equal(fp_mp_read(&r, &it), FARM_EEMPTY);
  assert_int_equal(r.err_offset, n);

  /* A scalar is a complete value; a skip of a scalar reads just it. */
  n = unhex("91 c0", buf, sizeof buf);
  fp_mp_reader_init(&r, buf, n);
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_false(fp_mp_done(&r));
  assert_int_equal(fp_mp_skip(&r), 0);
  assert_true(fp_mp_done(&r));
  assert_int_equal(fp_mp_skip(&r), FARM_EEMPTY);
  assert_int_equal(r.err_offset, 2);

  /* Nested empty containers close their parents at once. */
  n = unhex("92 90 91 80", buf, sizeof buf);
  fp_mp_reader_init(&r, buf, n);
  for (int i = 0; i < 4; i++)
    assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_true(fp_mp_done(&r));
  assert_int_equal(fp_mp_read(&r, &it), FARM_EEMPTY);
  assert_int_equal(r.err_offset, 4);

  /* Strings point into the input. */
  n = unhex("a3 616263", buf, sizeof buf);
  fp_mp_reader_init(&r, buf, n);
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_ptr_equal(it.v.bytes.ptr, buf + 1);
  assert_false(it.indefinite);
}

/* ------------------------------- bad inputs ------------------------------- */

/* A value with every kind of item on three levels, and where each item starts. */
static size_t build_multilevel(uint8_t *buf, size_t cap, size_t *starts, size_t *nstarts)
{
  static const uint8_t blob[300] = {1, 2, 3};
  struct fp_mp_writer w;
  fp_mp_writer_init(&w, buf, cap);
  fp_mp_write_map(&w, 4);
  fp_mp_write_cstr(&w, "values");
  fp_mp_write_array(&w, 17);
  fp_mp_write_uint(&w, 1);
  fp_mp_write_uint(&w, 300);
  fp_mp_write_int(&w, -70000);
  fp_mp_write_int(&w, INT64_MIN);
  fp_mp_write_float(&w, 1.5);
  fp_mp_write_float(&w, 0.1);
  fp_mp_write_cstr(&w, "h\xc3\xa9llo w\xe2\x82\xacrld");
  fp_mp_write_str(&w, "0123456789012345678901234567890123456789", 40);
  fp_mp_write_bin(&w, blob, 3);
  fp_mp_write_bin(&w, blob, 300);
  fp_mp_write_ext(&w, 7, blob, 4);
  fp_mp_write_ext(&w, 7, blob, 3);
  fp_mp_write_timestamp(&w, 1700000000, 0);
  fp_mp_write_timestamp(&w, 1700000000, 5);
  fp_mp_write_timestamp(&w, -5, 5);
  fp_mp_write_map(&w, 2);
  fp_mp_write_cstr(&w, "n");
  fp_mp_write_nil(&w);
  fp_mp_write_cstr(&w, "t");
  fp_mp_write_bool(&w, true);
  fp_mp_write_array(&w, 0);
  fp_mp_write_cstr(&w, "deep");
  fp_mp_write_array(&w, 1);
  fp_mp_write_array(&w, 2);
  fp_mp_write_map(&w, 1);
  fp_mp_write_uint(&w, 70000);
  fp_mp_write_bool(&w, false);
  fp_mp_write_array(&w, 20);
  for (int i = 0; i < 20; i++)
    fp_mp_write_int(&w, -i);
  fp_mp_write_cstr(&w, "f");
  fp_mp_write_f64(&w, 2.0);
  fp_mp_write_uint(&w, UINT64_MAX);
  fp_mp_write_str(&w, "", 0);
  assert_int_equal(w.err, 0);

  struct fp_mp_reader r;
  struct fp_item it;
  fp_mp_reader_init(&r, buf, w.len);
  *nstarts = 0;
  while (!fp_mp_done(&r)) {
    starts[(*nstarts)++] = r.pos;
    assert_int_equal(fp_mp_read(&r, &it), 0);
  }
  assert_int_equal(r.pos, w.len);
  return w.len;
}

static void test_every_truncation(void **state)
{
  (void)state;
  static uint8_t buf[1024];
  size_t starts[128], nstarts;
  size_t n = build_multilevel(buf, sizeof buf, starts, &nstarts);
  assert_int_equal(fp_mp_validate(buf, n, NULL), 0);
  for (size_t cut = 0; cut < n; cut++) {
    /* The error names the head of the item the cut falls in (or the head
     * that is missing altogether when the cut falls between items). */
    size_t want = 0;
    for (size_t i = 0; i < nstarts && starts[i] <= cut; i++)
      want = starts[i];
    size_t off = SIZE_MAX;
    /* A copy of exactly cut bytes, so a sanitizer sees any overread. */
    uint8_t *copy = malloc(cut + 1);
    assert_non_null(copy);
    memcpy(copy, buf, cut);
    int rc = fp_mp_validate(cut ? copy : NULL, cut, &off);
    if (rc != FARM_ETRUNCATED || off != want) {
      fprintf(stderr, "cut %zu: %s at %zu, want ETRUNCATED at %zu\n", cut, farm_errname(rc),
              off, want);
      fail();
    }
    /* The cursor, reading item by item, stops at the same place. */
    struct fp_mp_reader r;
    struct fp_item it;
    fp_mp_reader_init(&r, cut ? copy : NULL, cut);
    do {
      rc = fp_mp_read(&r, &it);
    } while (rc == 0);
    assert_int_equal(rc, FARM_ETRUNCATED);
    assert_int_equal(r.err_offset, want);
    free(copy);
  }
}

static void test_declared_lengths(void **state)
{
  (void)state;
  /* Truncated heads: the fixed part of each head is missing. */
  static const char *const heads[] = {
    "c4", "c5", "c500", "c6", "c6000000", "c7", "c701", "c8", "c80001", "c9",
    "c90000000105", "ca", "ca000000", "cb", "cb00000000000000", "cc", "cd", "cd00",
    "ce", "ce000000", "cf", "cf00000000000000", "d0", "d1", "d100", "d2", "d3000000",
    "d4", "d405", "d5", "d50500", "d6050000", "d70500000000000000", "d8", "d805",
    "d9", "da", "da00", "db", "db000000", "dc", "dc00", "dd", "dd000000", "de",
    "de00", "df", "df000000",
  };
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
    expect_invalid(heads[i], FARM_ETRUNCATED, 0);

  /* Payloads longer than what remains. */
  expect_invalid("a5 6162", FARM_ETRUNCATED, 0);
  expect_invalid("bf", FARM_ETRUNCATED, 0);
  expect_invalid("d9 05 61", FARM_ETRUNCATED, 0);
  expect_invalid("da 0100 61", FARM_ETRUNCATED, 0);
  expect_invalid("db ffffffff 61", FARM_ETRUNCATED, 0);
  expect_invalid("c4 03 0000", FARM_ETRUNCATED, 0);
  expect_invalid("c5 ffff 00", FARM_ETRUNCATED, 0);
  expect_invalid("c6 ffffffff", FARM_ETRUNCATED, 0);
  expect_invalid("c6 fffffffe 00", FARM_ETRUNCATED, 0);
  expect_invalid("c7 05 01 00", FARM_ETRUNCATED, 0);
  expect_invalid("c8 0100 01", FARM_ETRUNCATED, 0);
  expect_invalid("c9 ffffffff 01 00", FARM_ETRUNCATED, 0);
  expect_invalid("d8 01 000102030405060708090a0b0c0d0e", FARM_ETRUNCATED, 0);
  /* Inside containers the offset is the head of the short item. */
  expect_invalid("92 a5 61", FARM_ETRUNCATED, 1);
  expect_invalid("81 a1 61 db 00000002 61", FARM_ETRUNCATED, 3);
  expect_invalid("93 01 c7 0c ff 00", FARM_ETRUNCATED, 2);
  /* Containers declaring more items than follow. */
  expect_invalid("dc 0003 01 02", FARM_ETRUNCATED, 5);
  expect_invalid("de 0002 a161 01", FARM_ETRUNCATED, 6);
  expect_invalid("81 a161", FARM_ETRUNCATED, 3);
  expect_invalid("95 91 92 01", FARM_ETRUNCATED, 4);
}

static void test_huge_counts(void **state)
{
  (void)state;
  /* 2^32-1 declared items and nothing after them: no work per declared item,
   * just the first missing item reported. */
  expect_invalid("dd ffffffff", FARM_ETRUNCATED, 5);
  expect_invalid("df ffffffff", FARM_ETRUNCATED, 5);
  expect_invalid("dd ffffffff c0 c0 c0", FARM_ETRUNCATED, 8);
  expect_invalid("91 df ffffffff a1 61", FARM_ETRUNCATED, 8);
  expect_invalid("dc ffff de ffff dd ffffffff", FARM_ETRUNCATED, 11);

  uint8_t buf[8];
  size_t n = unhex("dd ffffffff", buf, sizeof buf);
  struct fp_mp_reader r;
  struct fp_item it;
  fp_mp_reader_init(&r, buf, n);
  assert_int_equal(fp_mp_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_ARRAY);
  assert_true(it.v.count == UINT32_MAX);
  assert_int_equal(fp_mp_read(&r, &it), FARM_ETRUNCATED);
  assert_int_equal(r.err_offset, 5);
}

static void test_depth_limit(void **state)
{
  (void)state;
  uint8_t buf[FP_MAX_DEPTH + 8];
  size_t off;
  /* FP_MAX_DEPTH nested arrays around nil: accepted, skipped, validated. */
  memset(buf, 0x91, FP_MAX_DEPTH);
  buf[FP_MAX_DEPTH] = 0xc0;
  assert_int_equal(fp_mp_validate(buf, FP_MAX_DEPTH + 1, &off), 0);
  assert_int_equal(off, FP_MAX_DEPTH + 1);
  /* The innermost may be an empty container: still FP_MAX_DEPTH levels. */
  buf[FP_MAX_DEPTH - 1] = 0x80;
  assert_int_equal(fp_mp_validate(buf, FP_MAX_DEPTH, &off), 0);

  /* One more level is refused at its head, whatever its count and form. */
  static const uint8_t extra[][5] = {
    {0x91}, {0x90}, {0x80}, {0x81}, {0xdc, 0x00, 0x01}, {0xdd, 0, 0, 0, 1}, {0xde, 0, 0},
    {0xdf, 0xff, 0xff, 0xff, 0xff},
  };
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
    memset(buf, 0x91, FP_MAX_DEPTH);
    memcpy(buf + FP_MAX_DEPTH, extra[i], sizeof extra[i]);
    buf[FP_MAX_DEPTH + sizeof extra[i]] = 0xc0;
    off = 0;
    assert_int_equal(fp_mp_validate(buf, FP_MAX_DEPTH + sizeof extra[i] + 1, &off),
                     FARM_EDEPTH);
    assert_int_equal(off, FP_MAX_DEPTH);
  }

  /* Maps nest the same way: {"a": {"a": ...}}. */
  static uint8_t mbuf[3 * (FP_MAX_DEPTH + 1) + 1];
  size_t n = 0;
  for (int i = 0; i <= FP_MAX_DEPTH; i++) {
    mbuf[n++] = 0x81;
    mbuf[n++] = 0xa1;
    mbuf[n++] = 'a';
  }
  mbuf[n++] = 0xc0;
  assert_int_equal(fp_mp_validate(mbuf, n, &off), FARM_EDEPTH);
  assert_int_equal(off, 3 * FP_MAX_DEPTH);
  assert_int_equal(fp_mp_validate(mbuf + 3, n - 3, &off), 0);

  /* Skipping a value that is too deep fails the same way. */
  struct fp_mp_reader r;
  fp_mp_reader_init(&r, mbuf, n);
  assert_int_equal(fp_mp_skip(&r), FARM_EDEPTH);
  assert_int_equal(r.err_offset, 3 * FP_MAX_DEPTH);
}

static void test_trailing(void **state)
{
  (void)state;
  expect_invalid("c0 c0", FARM_ETRAILING, 1);
  expect_invalid("91 01 02", FARM_ETRAILING, 2);
  expect_invalid("a1 61 00", FARM_ETRAILING, 2);
  expect_invalid("81 a1 61 90 ff", FARM_ETRAILING, 4);
  expect_invalid("90 c1", FARM_ETRAILING, 1); /* never looked at */
  expect_invalid("", FARM_ETRUNCATED, 0);      /* no value at all */
  size_t off = 99;
  assert_int_equal(fp_mp_validate(NULL, 0, &off), FARM_ETRUNCATED);
  assert_int_equal(off, 0);
  assert_int_equal(fp_mp_validate("\xc0", 1, &off), 0);
  assert_int_equal(off, 1);
}

static void test_invalid_utf8(void **state)
{
  (void)state;
  expect_invalid("a2 c080", FARM_EUTF8, 0);         /* overlong NUL */
  expect_invalid("a3 e08080", FARM_EUTF8, 0);       /* overlong, 3 bytes */
  expect_invalid("a4 f0808080", FARM_EUTF8, 0);     /* overlong, 4 bytes */
  expect_invalid("a3 eda080", FARM_EUTF8, 0);       /* U+D800 surrogate */
  expect_invalid("a3 edbfbf", FARM_EUTF8, 0);       /* U+DFFF surrogate */
  expect_invalid("a4 f4908080", FARM_EUTF8, 0);     /* U+110000 */
  expect_invalid("a1 80", FARM_EUTF8, 0);           /* lone continuation */
  expect_invalid("a2 e282", FARM_EUTF8, 0);         /* truncated sequence */
  expect_invalid("a3 61 e282", FARM_EUTF8, 0);
  expect_invalid("a1 ff", FARM_EUTF8, 0);
  expect_invalid("d9 02 c3 28", FARM_EUTF8, 0);
  expect_invalid("92 01 a1 fe", FARM_EUTF8, 2);
  expect_invalid("81 a1 80 01", FARM_EUTF8, 1);     /* in a map key */
  /* A bad byte (or a good multi-byte character) at every position of str
   * lengths around the word-at-a-time ASCII check. */
  for (size_t len = 1; len <= 40; len++) {
    for (size_t at = 0; at < len; at++) {
      for (int fix = 0; fix <= (len <= 31); fix++) {
        uint8_t buf[64];
        size_t hl = fix ? 1 : 2;
        buf[0] = fix ? (uint8_t)(0xa0 | len) : 0xd9;
        buf[1] = (uint8_t)len;
        memset(buf + hl, 'k', len);
        buf[hl + at] = 0xff;
        size_t off = 99;
        assert_int_equal(fp_mp_validate(buf, hl + len, &off), FARM_EUTF8);
        assert_int_equal(off, 0);
        buf[hl + at] = 0x80; /* lone continuation */
        assert_int_equal(fp_mp_validate(buf, hl + len, &off), FARM_EUTF8);
        assert_int_equal(off, 0);
        if (at + 2 <= len) {
          memcpy(buf + hl + at, "\xc3\xa9", 2); /* U+00E9 */
          assert_int_equal(fp_mp_validate(buf, hl + len, NULL), 0);
        }
      }
    }
  }
  /* The same bytes are fine as bin, and valid UTF-8 is fine as str. */
  assert_int_equal(fp_mp_validate("\xc4\x02\xc0\x80", 4, NULL), 0);
  assert_int_equal(fp_mp_validate("\xa4\xf4\x8f\xbf\xbf", 5, NULL), 0); /* U+10FFFF */
  assert_int_equal(fp_mp_validate("\xa3\xef\xbf\xbf", 4, NULL), 0);     /* U+FFFF */
}

static void test_malformed(void **state)
{
  (void)state;
  expect_invalid("c1", FARM_EMALFORMED, 0);
  expect_invalid("92 01 c1", FARM_EMALFORMED, 2);
  expect_invalid("81 c1 01", FARM_EMALFORMED, 1);
  /* The timestamp extension only exists with 4, 8 or 12 bytes... */
  expect_invalid("d4 ff 00", FARM_EMALFORMED, 0);
  expect_invalid("d5 ff 0000", FARM_EMALFORMED, 0);
  expect_invalid("d8 ff 00000000000000000000000000000000", FARM_EMALFORMED, 0);
  expect_invalid("c7 00 ff", FARM_EMALFORMED, 0);
  expect_invalid("c7 05 ff 0000000000", FARM_EMALFORMED, 0);
  expect_invalid("91 c7 0d ff 00000000000000000000000000", FARM_EMALFORMED, 1);
  /* ...and nanoseconds below one second (offset: the nanosecond field). */
  expect_invalid("d7 ff ee6b2800 00000005", FARM_EMALFORMED, 2); /* 10^9 */
  expect_invalid("d7 ff ffffffff ffffffff", FARM_EMALFORMED, 2);
  expect_invalid("c7 0c ff 3b9aca00 0000000000000000", FARM_EMALFORMED, 3);
  expect_invalid("91 c8 000c ff ffffffff 0000000000000000", FARM_EMALFORMED, 5);
  /* 999999999 is the largest allowed. */
  assert_int_equal(fp_mp_validate("\xd7\xff\xee\x6b\x27\xfc\x00\x00\x00\x00", 10, NULL), 0);
}

/* One writer call per case: a sample of every item kind and form. */
static int write_case(struct fp_mp_writer *w, int c)
{
  static const uint8_t blob[300];
  switch (c) {
  case 0: return fp_mp_write_nil(w);
  case 1: return fp_mp_write_bool(w, true);
  case 2: return fp_mp_write_uint(w, 0x80);
  case 3: return fp_mp_write_uint(w, 0x1000);
  case 4: return fp_mp_write_uint(w, 0x10000);
  case 5: return fp_mp_write_uint(w, UINT64_MAX);
  case 6: return fp_mp_write_int(w, -33);
  case 7: return fp_mp_write_int(w, -1000);
  case 8: return fp_mp_write_int(w, -100000);
  case 9: return fp_mp_write_int(w, INT64_MIN);
  case 10: return fp_mp_write_float(w, 0.1);
  case 11: return fp_mp_write_float(w, 0.5);
  case 12: return fp_mp_write_f32(w, 2.0f);
  case 13: return fp_mp_write_f64(w, 2.0);
  case 14: return fp_mp_write_str(w, "0123456789abcdef0123456789abcdef01234567", 40);
  case 15: return fp_mp_write_cstr(w, "hello");
  case 16: return fp_mp_write_str(w, blob, 256);
  case 17: return fp_mp_write_bin(w, blob, 0);
  case 18: return fp_mp_write_bin(w, blob, 10);
  case 19: return fp_mp_write_bin(w, blob, 300);
  case 20: return fp_mp_write_array(w, 16);
  case 21: return fp_mp_write_array(w, 70000);
  case 22: return fp_mp_write_map(w, 3);
  case 23: return fp_mp_write_map(w, 300);
  case 24: return fp_mp_write_ext(w, 1, blob, 16);
  case 25: return fp_mp_write_ext(w, 1, blob, 3);
  case 26: return fp_mp_write_ext(w, 1, blob, 256);
  case 27: return fp_mp_write_timestamp(w, 1, 0);
  case 28: return fp_mp_write_timestamp(w, 1, 1);
  case 29: return fp_mp_write_timestamp(w, -1, 1);
  default: return fp_mp_write_int(w, -5);
  }
}

static void test_writer_nospace(void **state)
{
  (void)state;
  static uint8_t ref[512], out[512 + 16];
  for (int c = 0; c <= 30; c++) {
    struct fp_mp_writer w;
    fp_mp_writer_init(&w, ref, sizeof ref);
    assert_int_equal(write_case(&w, c), 0);
    const size_t need = w.len;
    assert_true(need >= 1);
    /* Two bytes already written, then every room short of the item. */
    for (size_t room = 0; room < need; room++) {
      memset(out, 0xaa, sizeof out);
      fp_mp_writer_init(&w, out, 2 + room);
      assert_int_equal(fp_mp_write_int(&w, -2), 0);
      assert_int_equal(fp_mp_write_nil(&w), 0);
      assert_int_equal(write_case(&w, c), FARM_ENOSPC);
      assert_int_equal(w.len, 2);
      assert_int_equal(w.err, FARM_ENOSPC);
      for (size_t i = 2; i < sizeof out; i++)
        assert_int_equal(out[i], 0xaa); /* nothing of the item */
      /* Sticky: even an item that would fit now fails, writing nothing. */
      assert_int_equal(write_case(&w, 0), FARM_ENOSPC);
      assert_int_equal(write_case(&w, 27), FARM_ENOSPC);
      assert_int_equal(w.len, 2);
      assert_int_equal(out[2], 0xaa);
    }
    /* Exactly enough room. */
    fp_mp_writer_init(&w, out, 2 + need);
    assert_int_equal(fp_mp_write_int(&w, -2), 0);
    assert_int_equal(fp_mp_write_nil(&w), 0);
    assert_int_equal(write_case(&w, c), 0);
    assert_int_equal(w.len, 2 + need);
    assert_memory_equal(out + 2, ref, need);
    assert_int_equal(fp_mp_write_nil(&w), FARM_ENOSPC);
  }
  /* A zero-capacity writer. */
  struct fp_mp_writer w;
  fp_mp_writer_init(&w, NULL, 0);
  assert_int_equal(fp_mp_write_str(&w, "", 0), FARM_ENOSPC);
  assert_int_equal(w.len, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_suite),
    cmocka_unit_test(test_int_boundaries),
    cmocka_unit_test(test_float_forms),
    cmocka_unit_test(test_str_bin_boundaries),
    cmocka_unit_test(test_container_boundaries),
    cmocka_unit_test(test_ext_boundaries),
    cmocka_unit_test(test_timestamp_forms),
    cmocka_unit_test(test_cursor_walk),
    cmocka_unit_test(test_every_truncation),
    cmocka_unit_test(test_declared_lengths),
    cmocka_unit_test(test_huge_counts),
    cmocka_unit_test(test_depth_limit),
    cmocka_unit_test(test_trailing),
    cmocka_unit_test(test_invalid_utf8),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_writer_nospace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
