/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the CBOR codec: every example of RFC 8949 Appendix A decoded
 * and compared with its JSON value or diagnostic notation and, where the RFC
 * marks it as such, re-encoded byte for byte; head-size and float-width
 * boundaries of the writer; and the bad inputs the reader must reject, each
 * with its exact error code and offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/cbor.h"
#include "testsupport.h"

/* ------------------------------------------------------------- helpers */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
  long n = ts_hex_decode(h, out, cap);
  assert_true(n >= 0);
  return (size_t)n;
}

static uint64_t bits_of(double f)
{
  uint64_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* Validates a copy of the input in a heap block of exactly its size, so the
 * sanitizer build catches any read past the end. */
static int validate_exact(const uint8_t *p, size_t n, size_t *err_offset)
{
  uint8_t *copy = malloc(n > 0 ? n : 1);
  assert_non_null(copy);
  if (n > 0)
    memcpy(copy, p, n);
  int rc = fp_cbor_validate(copy, n, err_offset);
  free(copy);
  return rc;
}

static void expect_result(const char *hex, int err, size_t offset)
{
  uint8_t buf[512];
  size_t n = unhex(hex, buf, sizeof buf);
  size_t off = 99999;
  int rc = validate_exact(buf, n, &off);
  if (rc != err || (err != 0 && off != offset))
    print_message("%s: got %s at %zu, want %s at %zu\n", hex, farm_errname(rc),
                  off, farm_errname(err), offset);
  assert_int_equal(rc, err);
  if (err != 0)
    assert_int_equal(off, offset);
}

static void expect_ok(const char *hex)
{
  expect_result(hex, 0, 0);
}

static void assert_bytes(const uint8_t *got, size_t n, const char *hex)
{
  uint8_t want[128];
  size_t m = unhex(hex, want, sizeof want);
  if (n != m || memcmp(got, want, n) != 0)
    print_message("wrote %s, want %s\n", ts_hex(got, n), hex);
  assert_int_equal(n, m);
  assert_memory_equal(got, want, n);
}

/* Reads exactly one item from bytes and checks that it is the whole input. */
static void read_single(const uint8_t *p, size_t n, struct fp_item *it)
{
  struct fp_cbor_reader r;
  fp_cbor_reader_init(&r, p, n);
  assert_int_equal(fp_cbor_read(&r, it), 0);
  assert_true(fp_cbor_done(&r));
  assert_int_equal(r.pos, n);
  assert_int_equal(fp_cbor_validate(p, n, NULL), 0);
}

/* A growable text buffer for diagnostic notation. */
struct sb {
  char s[8192];
  size_t n;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
  va_end(ap);
  assert_true(k >= 0 && (size_t)k < sizeof b->s - b->n);
  b->n += (size_t)k;
}

/*
 * Decimal digits of the big-endian unsigned integer be[0..n) plus add (0 or
 * 1), into out. Used to compare integers beyond 64 bits (tag 2/3 bignums,
 * RFC 8949 §3.4.3, and -2^64) with the JSON vectors.
 */
static void big_decimal(const uint8_t *be, size_t n, unsigned add, char *out,
                        size_t cap)
{
  uint8_t num[64];
  assert_true(n < sizeof num);
  num[0] = 0;
  memcpy(num + 1, be, n);
  n++;
  for (size_t i = n; add != 0 && i-- > 0;) {
    unsigned s = num[i] + add;
    num[i] = (uint8_t)s;
    add = s >> 8;
  }
  char rev[160];
  size_t k = 0;
  for (;;) {
    bool zero = true;
    unsigned rem = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned cur = rem << 8 | num[i];
      num[i] = (uint8_t)(cur / 10);
      rem = cur % 10;
      if (num[i] != 0)
        zero = false;
    }
    rev[k++] = (char)('0' + rem);
    if (zero)
      break;
  }
  assert_true(k < cap);
  for (size_t i = 0; i < k; i++)
    out[i] = rev[k - 1 - i];
  out[k] = '\0';
}

static void u64_be(uint64_t u, uint8_t out[8])
{
  for (int i = 0; i < 8; i++)
    out[i] = (uint8_t)(u >> (56 - 8 * i));
}

/* ------------------------------------------------ diagnostic notation */

/* RFC 8949 §8 spelling of a float: shortest digits that read back to the
 * same double, always with a fraction part ("1.0e+300", "-0.0"). */
static void diag_double(struct sb *b, double f)
{
  if (isnan(f)) {
    sb_printf(b, "NaN");
    return;
  }
  if (isinf(f)) {
    sb_printf(b, "%sInfinity", f < 0 ? "-" : "");
    return;
  }
  char tmp[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, f);
    if (bits_of(strtod(tmp, NULL)) == bits_of(f))
      break;
  }
  char *e = strchr(tmp, 'e');
  if (strchr(tmp, '.') == NULL) {
    if (e != NULL) {
      memmove(e + 2, e, strlen(e) + 1);
      e[0] = '.', e[1] = '0';
    } else {
      strcat(tmp, ".0");
    }
  }
  sb_printf(b, "%s", tmp);
}

static void diag_text(struct sb *b, const struct fp_bytes *s)
{
  sb_printf(b, "\"");
  for (size_t i = 0; i < s->len; i++) {
    char c = (char)s->ptr[i];
    if (c == '"' || c == '\\')
      sb_printf(b, "\\%c", c);
    else
      sb_printf(b, "%c", c);
  }
  sb_printf(b, "\"");
}

static void diag_value(struct fp_cbor_reader *r, struct sb *b);

/* Prints the item just read (and, for containers and tags, what follows). */
static void diag_item(struct fp_cbor_reader *r, struct sb *b,
                      const struct fp_item *it)
{
  struct fp_item sub;
  switch (it->kind) {
  case FP_UINT:
    sb_printf(b, "%llu", (unsigned long long)it->v.u);
    break;
  case FP_NEGINT: {
    uint8_t be[8];
    char dec[32];
    u64_be(it->v.u, be);
    big_decimal(be, 8, 1, dec, sizeof dec);
    sb_printf(b, "-%s", dec);
    break;
  }
  case FP_FLOAT:
    diag_double(b, it->v.f);
    break;
  case FP_STR:
  case FP_BIN:
    if (it->indefinite) {
      sb_printf(b, "(_ ");
      for (int i = 0;; i++) {
        assert_int_equal(fp_cbor_read(r, &sub), 0);
        if (sub.kind == FP_BREAK)
          break;
        sb_printf(b, "%s", i > 0 ? ", " : "");
        diag_item(r, b, &sub);
      }
      sb_printf(b, ")");
    } else if (it->kind == FP_STR) {
      diag_text(b, &it->v.bytes);
    } else {
      sb_printf(b, "h'%s'", ts_hex(it->v.bytes.ptr, it->v.bytes.len));
    }
    break;
  case FP_ARRAY:
  case FP_MAP: {
    bool map = it->kind == FP_MAP;
    sb_printf(b, "%s%s", map ? "{" : "[", it->indefinite ? "_ " : "");
    for (uint64_t i = 0; it->indefinite || i < it->v.count; i++) {
      assert_int_equal(fp_cbor_read(r, &sub), 0);
      if (sub.kind == FP_BREAK)
        break;
      sb_printf(b, "%s", i > 0 ? ", " : "");
      diag_item(r, b, &sub);
      if (map) {
        sb_printf(b, ": ");
        diag_value(r, b);
      }
    }
    sb_printf(b, "%s", map ? "}" : "]");
    break;
  }
  case FP_TAG:
    sb_printf(b, "%llu(", (unsigned long long)it->v.u);
    diag_value(r, b);
    sb_printf(b, ")");
    break;
  case FP_BOOL:
    sb_printf(b, "%s", it->v.b ? "true" : "false");
    break;
  case FP_NIL:
    sb_printf(b, "null");
    break;
  case FP_UNDEFINED:
    sb_printf(b, "undefined");
    break;
  case FP_SIMPLE:
    sb_printf(b, "simple(%llu)", (unsigned long long)it->v.u);
    break;
  default:
    fail_msg("unexpected item kind %d", (int)it->kind);
  }
}

static void diag_value(struct fp_cbor_reader *r, struct sb *b)
{
  struct fp_item it;
  assert_int_equal(fp_cbor_read(r, &it), 0);
  diag_item(r, b, &it);
}

/* ------------------------------------------ comparison with JSON values */

/* Big integers of the vector file arrive as {"$bigint": "digits"} (see
 * load_vectors). */
static const char *json_bigint(const json_t *j)
{
  const json_t *d = json_is_object(j) ? json_object_get(j, "$bigint") : NULL;
  return d != NULL ? json_string_value(d) : NULL;
}

static void match_value(struct fp_cbor_reader *r, const json_t *j);

/* Appends the text of a (possibly indefinite) text string to out. */
static size_t collect_text(struct fp_cbor_reader *r, const struct fp_item *it,
                           char *out, size_t cap)
{
  if (!it->indefinite) {
    assert_true(it->v.bytes.len < cap);
    if (it->v.bytes.len > 0)
      memcpy(out, it->v.bytes.ptr, it->v.bytes.len);
    return it->v.bytes.len;
  }
  size_t n = 0;
  struct fp_item chunk;
  for (;;) {
    assert_int_equal(fp_cbor_read(r, &chunk), 0);
    if (chunk.kind == FP_BREAK)
      return n;
    assert_int_equal(chunk.kind, FP_STR);
    assert_false(chunk.indefinite);
    n += collect_text(r, &chunk, out + n, cap - n);
  }
}

static void match_item(struct fp_cbor_reader *r, const struct fp_item *it,
                       const json_t *j)
{
  const char *big = json_bigint(j);
  if (big != NULL) {
    char dec[64];
    uint8_t be[8];
    bool neg = false;
    if (it->kind == FP_UINT || it->kind == FP_NEGINT) {
      u64_be(it->v.u, be);
      neg = it->kind == FP_NEGINT;
      big_decimal(be, 8, neg ? 1 : 0, dec, sizeof dec);
    } else {
      /* Bignums: tag 2 holds n, tag 3 holds -1 - n (RFC 8949 §3.4.3). */
      assert_int_equal(it->kind, FP_TAG);
      assert_true(it->v.u == 2 || it->v.u == 3);
      neg = it->v.u == 3;
      struct fp_item bytes;
      assert_int_equal(fp_cbor_read(r, &bytes), 0);
      assert_int_equal(bytes.kind, FP_BIN);
      assert_false(bytes.indefinite);
      big_decimal(bytes.v.bytes.ptr, bytes.v.bytes.len, neg ? 1 : 0, dec,
                  sizeof dec);
    }
    char full[80];
    snprintf(full, sizeof full, "%s%s", neg ? "-" : "", dec);
    assert_string_equal(full, big);
    return;
  }
  switch (json_typeof(j)) {
  case JSON_INTEGER: {
    json_int_t v = json_integer_value(j);
    if (v >= 0) {
      assert_int_equal(it->kind, FP_UINT);
      assert_true(it->v.u == (uint64_t)v);
    } else {
      assert_int_equal(it->kind, FP_NEGINT);
      assert_true(it->v.u == (uint64_t)(-1 - v));
    }
    break;
  }
  case JSON_REAL:
    assert_int_equal(it->kind, FP_FLOAT);
    /* Bit for bit, so -0.0 and 0.0 differ. */
    assert_true(bits_of(it->v.f) == bits_of(json_real_value(j)));
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    assert_int_equal(it->kind, FP_BOOL);
    assert_int_equal(it->v.b, json_is_true(j));
    break;
  case JSON_NULL:
    assert_int_equal(it->kind, FP_NIL);
    break;
  case JSON_STRING: {
    char text[256];
    assert_int_equal(it->kind, FP_STR);
    size_t n = collect_text(r, it, text, sizeof text);
    assert_int_equal(n, json_string_length(j));
    assert_memory_equal(text, json_string_value(j), n);
    break;
  }
  case JSON_ARRAY: {
    assert_int_equal(it->kind, FP_ARRAY);
    size_t n = json_array_size(j);
    if (!it->indefinite)
      assert_int_equal(it->v.count, n);
    for (size_t i = 0; i < n; i++)
      match_value(r, json_array_get(j, i));
    if (it->indefinite) {
      struct fp_item brk;
      assert_int_equal(fp_cbor_read(r, &brk), 0);
      assert_int_equal(brk.kind, FP_BREAK);
    }
    break;
  }
  case JSON_OBJECT: {
    assert_int_equal(it->kind, FP_MAP);
    size_t n = json_object_size(j);
    if (!it->indefinite)
      assert_int_equal(it->v.count, n);
    const json_t *seen[16] = {0};
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
      struct fp_item key;
      char text[64];
      assert_int_equal(fp_cbor_read(r, &key), 0);
      assert_int_equal(key.kind, FP_STR);
      size_t kl = collect_text(r, &key, text, sizeof text);
      const json_t *v = json_object_getn(j, text, kl);
      assert_non_null(v);
      for (size_t s = 0; s < i; s++)
        assert_ptr_not_equal(seen[s], v); /* each key once */
      seen[i] = v;
      match_value(r, v);
    }
    if (it->indefinite) {
      struct fp_item brk;
      assert_int_equal(fp_cbor_read(r, &brk), 0);
      assert_int_equal(brk.kind, FP_BREAK);
    }
    break;
  }
  }
}

static void match_value(struct fp_cbor_reader *r, const json_t *j)
{
  struct fp_item it;
  assert_int_equal(fp_cbor_read(r, &it), 0);
  match_item(r, &it, j);
}

/* Writes every item the reader yields, as it was read, until the top-level
 * value is complete. */
static void reencode(struct fp_cbor_reader *r, struct fp_cbor_writer *w)
{
  struct fp_item it;
  while (!fp_cbor_done(r)) {
    assert_int_equal(fp_cbor_read(r, &it), 0);
    switch (it.kind) {
    case FP_UINT:
      fp_cbor_write_uint(w, it.v.u);
      break;
    case FP_NEGINT:
      fp_cbor_write_negint(w, it.v.u);
      break;
    case FP_FLOAT:
      fp_cbor_write_float(w, it.v.f);
      break;
    case FP_STR:
      if (it.indefinite)
        fp_cbor_write_indef_str(w);
      else
        fp_cbor_write_str(w, it.v.bytes.ptr, it.v.bytes.len);
      break;
    case FP_BIN:
      if (it.indefinite)
        fp_cbor_write_indef_bin(w);
      else
        fp_cbor_write_bin(w, it.v.bytes.ptr, it.v.bytes.len);
      break;
    case FP_ARRAY:
      if (it.indefinite)
        fp_cbor_write_indef_array(w);
      else
        fp_cbor_write_array(w, it.v.count);
      break;
    case FP_MAP:
      if (it.indefinite)
        fp_cbor_write_indef_map(w);
      else
        fp_cbor_write_map(w, it.v.count);
      break;
    case FP_TAG:
      fp_cbor_write_tag(w, it.v.u);
      break;
    case FP_BOOL:
      fp_cbor_write_bool(w, it.v.b);
      break;
    case FP_NIL:
      fp_cbor_write_nil(w);
      break;
    case FP_UNDEFINED:
      fp_cbor_write_undefined(w);
      break;
    case FP_SIMPLE:
      assert_true(it.v.u <= 255);
      fp_cbor_write_simple(w, (uint8_t)it.v.u);
      break;
    case FP_BREAK:
      fp_cbor_write_break(w);
      break;
    default:
      fail_msg("unexpected item kind %d", (int)it.kind);
    }
  }
  assert_int_equal(w->err, 0);
}

/*
 * Loads the Appendix A vectors. ts_load_json() cannot be used as is: jansson
 * rejects integers outside the long long range ("too big integer"), and the
 * file holds 2^64 - 1, 2^64, -2^64 and -2^64 - 1. So integer literals of more
 * than 18 digits are rewritten as {"$bigint": "<digits>"} before parsing and
 * compared as decimal strings; every other byte is parsed unchanged.
 */
static json_t *load_vectors(void)
{
  const char *path =
      ts_shared_path("data/conformance/cbor-rfc8949-appendix-a.json");
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  assert_true(size > 0);
  rewind(f);
  char *in = malloc((size_t)size + 1);
  char *out = malloc(2 * (size_t)size + 1);
  assert_non_null(in);
  assert_non_null(out);
  assert_int_equal(fread(in, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  in[size] = '\0';

  size_t o = 0;
  bool in_str = false;
  for (size_t i = 0; in[i] != '\0';) {
    char c = in[i];
    if (in_str) {
      out[o++] = c;
      if (c == '\\' && in[i + 1] != '\0')
        out[o++] = in[++i];
      else if (c == '"')
        in_str = false;
      i++;
      continue;
    }
    if (c == '"') {
      in_str = true;
      out[o++] = in[i++];
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i, digits = 0;
      bool integer = true;
      while (in[end] != '\0' && strchr("+-0123456789.eE", in[end]) != NULL) {
        if (in[end] >= '0' && in[end] <= '9')
          digits++;
        else if (in[end] != '-')
          integer = false;
        end++;
      }
      if (integer && digits > 18)
        o += (size_t)sprintf(out + o, "{\"$bigint\": \"%.*s\"}", (int)(end - i),
                             in + i);
      else {
        memcpy(out + o, in + i, end - i);
        o += end - i;
      }
      i = end;
      continue;
    }
    out[o++] = in[i++];
  }
  out[o] = '\0';
  json_error_t jerr;
  json_t *root = json_loads(out, 0, &jerr);
  if (root == NULL)
    fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
  free(in);
  free(out);
  return root;
}

/* ----------------------------------------------------- Appendix A */

static void test_appendix_a(void **state)
{
  (void)state;
  json_t *root = load_vectors();
  assert_true(json_is_array(root));
  size_t count = json_array_size(root);
  /* RFC 8949 Appendix A has 82 examples; a shorter file is a broken copy. */
  assert_int_equal(count, 82);
  size_t decoded = 0, diagnosed = 0, roundtrips = 0, rejected = 0;

  for (size_t i = 0; i < count; i++) {
    const json_t *v = json_array_get(root, i);
    const char *hex = json_string_value(json_object_get(v, "hex"));
    assert_non_null(hex);
    uint8_t in[128];
    size_t n = unhex(hex, in, sizeof in);
    size_t off = 99;

    if (strcmp(hex, "f818") == 0) {
      /*
       * The file lists f818 as simple(24), but RFC 8949 §3.3 says "an
       * encoder MUST NOT issue two-byte sequences that start with 0xf8 and
       * continue with a byte less than 0x20", and Appendix F lists it among
       * the not-well-formed encodings (the example is an RFC 7049 leftover).
       * Our reader rejects it, at its head.
       */
      assert_int_equal(validate_exact(in, n, &off), FARM_EMALFORMED);
      assert_int_equal(off, 0);
      rejected++;
      continue;
    }

    if (validate_exact(in, n, &off) != 0)
      fail_msg("vector %s does not validate: %s at %zu", hex,
               farm_errname(fp_cbor_validate(in, n, &off)), off);

    struct fp_cbor_reader r;
    const json_t *want = json_object_get(v, "decoded");
    const json_t *diag = json_object_get(v, "diagnostic");
    if (want != NULL) {
      fp_cbor_reader_init(&r, in, n);
      match_value(&r, want);
      assert_true(fp_cbor_done(&r));
      assert_int_equal(r.pos, n);
      decoded++;
    } else {
      assert_non_null(diag);
      struct sb b = {.n = 0};
      fp_cbor_reader_init(&r, in, n);
      diag_value(&r, &b);
      assert_true(fp_cbor_done(&r));
      if (strcmp(b.s, json_string_value(diag)) != 0)
        fail_msg("%s: diagnostic %s, want %s", hex, b.s,
                 json_string_value(diag));
      diagnosed++;
    }

    if (json_is_true(json_object_get(v, "roundtrip"))) {
      uint8_t out[128];
      struct fp_cbor_writer w;
      fp_cbor_writer_init(&w, out, sizeof out);
      fp_cbor_reader_init(&r, in, n);
      reencode(&r, &w);
      if (w.len != n || memcmp(out, in, n) != 0)
        fail_msg("%s re-encoded as %s", hex, ts_hex(out, w.len));
      roundtrips++;
    }
  }
  /* Every vector was checked one way or the other. */
  assert_int_equal(decoded + diagnosed + rejected, count);
  assert_int_equal(rejected, 1);
  assert_int_equal(decoded, 59);
  assert_int_equal(diagnosed, 22);
  assert_int_equal(roundtrips, 64);
  json_decref(root);
}

/* ----------------------------------------------------- edge values */

static void check_uint(uint64_t u, const char *hex)
{
  uint8_t buf[16];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_uint(&w, u), 0);
  assert_bytes(buf, w.len, hex);
  struct fp_item it;
  read_single(buf, w.len, &it);
  assert_int_equal(it.kind, FP_UINT);
  assert_true(it.v.u == u);
}

/* Writes i with fp_cbor_write_int and checks bytes and the value read back. */
static void check_int(int64_t i, const char *hex)
{
  uint8_t buf[16];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_int(&w, i), 0);
  assert_bytes(buf, w.len, hex);
  struct fp_item it;
  read_single(buf, w.len, &it);
  int64_t back = 0;
  assert_int_equal(fp_item_to_i64(&it, &back), 0);
  assert_true(back == i);
  assert_int_equal(it.kind, i < 0 ? FP_NEGINT : FP_UINT);
}

static void test_int_heads(void **state)
{
  (void)state;
  /* RFC 8949 §3: arguments below 24 live in the initial byte, then 1, 2, 4
   * and 8 byte forms; preferred serialization takes the shortest. */
  check_uint(0, "00");
  check_uint(23, "17");
  check_uint(24, "1818");
  check_uint(255, "18ff");
  check_uint(256, "190100");
  check_uint(65535, "19ffff");
  check_uint(65536, "1a00010000");
  check_uint(UINT32_MAX, "1affffffff");
  check_uint((uint64_t)UINT32_MAX + 1, "1b0000000100000000");
  check_uint(UINT64_MAX, "1bffffffffffffffff");

  check_int(0, "00");
  check_int(INT64_MAX, "1b7fffffffffffffff");
  check_int(-1, "20");
  check_int(-24, "37");
  check_int(-25, "3818");
  check_int(-256, "38ff");
  check_int(-257, "390100");
  check_int(-65536, "39ffff");
  check_int(-65537, "3a00010000");
  check_int(-4294967296, "3affffffff");
  check_int(-4294967297, "3b0000000100000000");
  check_int(INT64_MIN, "3b7fffffffffffffff");

  /* -2^64, the most negative CBOR integer: negint with argument 2^64 - 1. */
  uint8_t buf[16];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_negint(&w, UINT64_MAX), 0);
  assert_bytes(buf, w.len, "3bffffffffffffffff");
  struct fp_item it;
  read_single(buf, w.len, &it);
  assert_int_equal(it.kind, FP_NEGINT);
  assert_true(it.v.u == UINT64_MAX);
  int64_t i64;
  assert_int_equal(fp_item_to_i64(&it, &i64), FARM_ERANGE);
  /* INT64_MIN - 1 = negint 2^63: out of int64 range. */
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_negint(&w, (uint64_t)INT64_MAX + 1), 0);
  assert_bytes(buf, w.len, "3b8000000000000000");
  read_single(buf, w.len, &it);
  assert_int_equal(fp_item_to_i64(&it, &i64), FARM_ERANGE);
}

static void check_head(int which, uint64_t n, const char *hex)
{
  uint8_t buf[16];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  if (which == 4)
    assert_int_equal(fp_cbor_write_array(&w, n), 0);
  else if (which == 5)
    assert_int_equal(fp_cbor_write_map(&w, n), 0);
  else
    assert_int_equal(fp_cbor_write_tag(&w, n), 0);
  assert_bytes(buf, w.len, hex);
  /* Reading the head alone: a tag, empty containers and small counts are
   * readable items, larger counts need bytes that are not there. */
  struct fp_cbor_reader r;
  struct fp_item it;
  fp_cbor_reader_init(&r, buf, w.len);
  int rc = fp_cbor_read(&r, &it);
  if (which == 6 || n == 0) {
    assert_int_equal(rc, 0);
    assert_int_equal(it.kind, which == 6 ? FP_TAG : which == 4 ? FP_ARRAY : FP_MAP);
    assert_true(it.v.u == n);
  } else {
    assert_int_equal(rc, FARM_ETRUNCATED);
    assert_int_equal(r.err_offset, 0);
  }
}

/* A text or byte string of n bytes: head bytes, payload position, read-back. */
static void check_string(bool text, size_t n, const char *head)
{
  static uint8_t payload[70000];
  static uint8_t buf[70016];
  assert_true(n <= sizeof payload);
  memset(payload, 'x', n);
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  if (text)
    assert_int_equal(fp_cbor_write_str(&w, payload, n), 0);
  else
    assert_int_equal(fp_cbor_write_bin(&w, payload, n), 0);
  uint8_t h[16];
  size_t hl = unhex(head, h, sizeof h);
  assert_int_equal(w.len, hl + n);
  assert_memory_equal(buf, h, hl);
  struct fp_item it;
  read_single(buf, w.len, &it);
  assert_int_equal(it.kind, text ? FP_STR : FP_BIN);
  assert_int_equal(it.v.bytes.len, n);
  assert_ptr_equal(it.v.bytes.ptr, buf + hl);
}

static void test_length_heads(void **state)
{
  (void)state;
  check_string(true, 0, "60");
  check_string(true, 23, "77");
  check_string(true, 24, "7818");
  check_string(true, 255, "78ff");
  check_string(true, 256, "790100");
  check_string(false, 65535, "59ffff");
  check_string(false, 65536, "5a00010000");
  check_head(4, 0, "80");
  check_head(4, 23, "97");
  check_head(4, 24, "9818");
  check_head(4, 65535, "99ffff");
  check_head(4, 65536, "9a00010000");
  check_head(4, UINT32_MAX, "9affffffff");
  check_head(4, (uint64_t)UINT32_MAX + 1, "9b0000000100000000");
  check_head(5, 0, "a0");
  check_head(5, 255, "b8ff");
  check_head(5, 256, "b90100");
  check_head(5, UINT64_MAX, "bbffffffffffffffff");
  check_head(6, 0, "c0");
  check_head(6, 23, "d7");
  check_head(6, 24, "d818");
  check_head(6, 65536, "da00010000");
  check_head(6, UINT64_MAX, "dbffffffffffffffff");

  uint8_t buf[32];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_cstr(&w, "IETF"), 0);
  assert_int_equal(fp_cbor_write_nil(&w), 0);
  assert_int_equal(fp_cbor_write_undefined(&w), 0);
  assert_int_equal(fp_cbor_write_bool(&w, false), 0);
  assert_int_equal(fp_cbor_write_bool(&w, true), 0);
  assert_int_equal(fp_cbor_write_indef_bin(&w), 0);
  assert_int_equal(fp_cbor_write_indef_str(&w), 0);
  assert_int_equal(fp_cbor_write_indef_array(&w), 0);
  assert_int_equal(fp_cbor_write_indef_map(&w), 0);
  assert_int_equal(fp_cbor_write_break(&w), 0);
  assert_bytes(buf, w.len, "6449455446f6f7f4f55f7f9fbfff");
}

static void check_float(double f, const char *hex, int bits)
{
  uint8_t buf[16];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_float(&w, f), 0);
  assert_bytes(buf, w.len, hex);
  struct fp_item it;
  read_single(buf, w.len, &it);
  assert_int_equal(it.kind, FP_FLOAT);
  assert_int_equal(it.float_bits, bits);
  if (isnan(f))
    assert_true(isnan(it.v.f));
  else
    assert_true(bits_of(it.v.f) == bits_of(f));
}

static void test_float_widths(void **state)
{
  (void)state;
  check_float(1.5, "f93e00", 16);
  check_float(65504.0, "f97bff", 16); /* largest half */
  check_float(65505.0, "fa477fe100", 32);
  check_float(65520.0, "fa477ff000", 32); /* would round to half infinity */
  check_float(100000.0, "fa47c35000", 32);
  check_float(1.0 + 0x1p-10, "f93c01", 16); /* last half fraction bit */
  check_float(1.0 + 0x1p-11, "fa3f801000", 32);
  check_float(5.960464477539063e-8, "f90001", 16); /* 2^-24, smallest half */
  check_float(3 * 0x1p-24, "f90003", 16);          /* subnormal, not 2^k */
  check_float(1023 * 0x1p-24, "f903ff", 16);       /* largest subnormal */
  check_float(6.103515625e-05, "f90400", 16);      /* smallest normal */
  check_float(-1023 * 0x1p-24, "f983ff", 16);
  check_float(0x1p-25, "fa33000000", 32);  /* half too small */
  check_float(0x1p-149, "fa00000001", 32); /* smallest single */
  check_float(0x1p-150, "fb3690000000000000", 64);
  check_float(3.4028234663852886e+38, "fa7f7fffff", 32);
  check_float(0x1p128, "fb47f0000000000000", 64); /* past single */
  check_float(0.1, "fb3fb999999999999a", 64);
  check_float(1e300, "fb7e37e43c8800759c", 64);
  check_float(-4.1, "fbc010666666666666", 64);
  check_float(0.0, "f90000", 16);
  check_float(-0.0, "f98000", 16);
  check_float(INFINITY, "f97c00", 16);
  check_float(-INFINITY, "f9fc00", 16);
  check_float(NAN, "f97e00", 16);
  /* Any NaN, whatever its sign and payload, as f97e00 (§4.2.2). */
  uint64_t nan_bits = UINT64_C(0xfff0000000000123);
  double odd_nan;
  memcpy(&odd_nan, &nan_bits, sizeof odd_nan);
  check_float(odd_nan, "f97e00", 16);
  check_float(4.9406564584124654e-324, "fb0000000000000001", 64);

  /* Reading the longer forms of values the writer would shorten. */
  struct fp_item it;
  uint8_t buf[16];
  size_t n = unhex("fa3fc00000", buf, sizeof buf);
  read_single(buf, n, &it);
  assert_int_equal(it.float_bits, 32);
  assert_true(it.v.f == 1.5);
  n = unhex("fb3ff8000000000000", buf, sizeof buf);
  read_single(buf, n, &it);
  assert_int_equal(it.float_bits, 64);
  assert_true(it.v.f == 1.5);
  /* A half NaN with a payload stays a NaN. */
  n = unhex("f97c01", buf, sizeof buf);
  read_single(buf, n, &it);
  assert_true(isnan(it.v.f));
  n = unhex("f9fe00", buf, sizeof buf);
  read_single(buf, n, &it);
  assert_true(isnan(it.v.f));
}

static void test_simple_values(void **state)
{
  (void)state;
  uint8_t buf[16];
  struct fp_cbor_writer w;
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_simple(&w, 0), 0);
  assert_int_equal(fp_cbor_write_simple(&w, 19), 0);
  assert_int_equal(fp_cbor_write_simple(&w, 32), 0);
  assert_int_equal(fp_cbor_write_simple(&w, 255), 0);
  assert_bytes(buf, w.len, "e0f3f820f8ff");
  for (unsigned v = 20; v < 32; v++) {
    fp_cbor_writer_init(&w, buf, sizeof buf);
    assert_int_equal(fp_cbor_write_simple(&w, (uint8_t)v), FARM_EINVAL);
    assert_int_equal(w.len, 0);
    /* Sticky like every writer error. */
    assert_int_equal(fp_cbor_write_nil(&w), FARM_EINVAL);
    assert_int_equal(w.len, 0);
  }

  struct {
    const char *hex;
    enum fp_kind kind;
    uint64_t u;
  } cases[] = {
      {"e0", FP_SIMPLE, 0},  {"f3", FP_SIMPLE, 19},   {"f4", FP_BOOL, 0},
      {"f5", FP_BOOL, 1},    {"f6", FP_NIL, 0},       {"f7", FP_UNDEFINED, 0},
      {"f820", FP_SIMPLE, 32}, {"f8ff", FP_SIMPLE, 255},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fp_item it;
    size_t n = unhex(cases[i].hex, buf, sizeof buf);
    read_single(buf, n, &it);
    assert_int_equal(it.kind, cases[i].kind);
    if (it.kind == FP_SIMPLE)
      assert_true(it.v.u == cases[i].u);
    if (it.kind == FP_BOOL)
      assert_int_equal(it.v.b, cases[i].u);
  }
}

/* ---------------------------------------------------------- writer */

static void test_writer_enospc_sticky(void **state)
{
  (void)state;
  uint8_t buf[8];
  struct fp_cbor_writer w;

  memset(buf, 0xaa, sizeof buf);
  fp_cbor_writer_init(&w, buf, 3);
  assert_int_equal(fp_cbor_write_uint(&w, 1000), 0); /* 1903e8 fills it */
  assert_int_equal(fp_cbor_write_uint(&w, 1), FARM_ENOSPC);
  assert_int_equal(w.len, 3);
  assert_int_equal(w.err, FARM_ENOSPC);
  /* Later calls fail the same way even when they would fit elsewhere. */
  assert_int_equal(fp_cbor_write_break(&w), FARM_ENOSPC);
  assert_int_equal(w.len, 3);
  assert_bytes(buf, 3, "1903e8");
  assert_int_equal(buf[3], 0xaa);

  /* A string whose head fits but payload does not: nothing written. */
  memset(buf, 0xaa, sizeof buf);
  fp_cbor_writer_init(&w, buf, 5);
  assert_int_equal(fp_cbor_write_cstr(&w, "hello"), FARM_ENOSPC);
  assert_int_equal(w.len, 0);
  for (size_t i = 0; i < sizeof buf; i++)
    assert_int_equal(buf[i], 0xaa);
  /* Once failed, even a one-byte item in an empty writer is refused. */
  assert_int_equal(fp_cbor_write_nil(&w), FARM_ENOSPC);
  assert_int_equal(w.len, 0);

  /* A length near SIZE_MAX must not wrap the room check (nothing read). */
  fp_cbor_writer_init(&w, buf, sizeof buf);
  assert_int_equal(fp_cbor_write_bin(&w, buf, SIZE_MAX), FARM_ENOSPC);
  assert_int_equal(w.len, 0);

  /* Every width of float and head against a buffer one byte short. */
  struct {
    int what;
    size_t need;
  } cases[] = {{0, 3}, {1, 5}, {2, 9}, {3, 9}, {4, 2}, {5, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(buf, 0xaa, sizeof buf);
    fp_cbor_writer_init(&w, buf, cases[i].need - 1);
    int rc;
    switch (cases[i].what) {
    case 0:
      rc = fp_cbor_write_float(&w, 1.5);
      break;
    case 1:
      rc = fp_cbor_write_float(&w, 100000.0);
      break;
    case 2:
      rc = fp_cbor_write_float(&w, 0.1);
      break;
    case 3:
      rc = fp_cbor_write_negint(&w, UINT64_MAX);
      break;
    case 4:
      rc = fp_cbor_write_simple(&w, 200);
      break;
    default:
      rc = fp_cbor_write_bool(&w, true);
      break;
    }
    assert_int_equal(rc, FARM_ENOSPC);
    assert_int_equal(w.len, 0);
    for (size_t k = 0; k < sizeof buf; k++)
      assert_int_equal(buf[k], 0xaa);
  }

  /* A zero-capacity writer. */
  fp_cbor_writer_init(&w, NULL, 0);
  assert_int_equal(fp_cbor_write_uint(&w, 0), FARM_ENOSPC);
}

/* ---------------------------------------------------------- reader */

static void test_cursor_walk(void **state)
{
  (void)state;
  /* {"a": [1, -2], "b": (_ "x", "yz"), "c": 1(h'')} then nothing more */
  uint8_t buf[64];
  size_t n = unhex("a3616182012161627f617862797aff6163c140", buf, sizeof buf);
  struct fp_cbor_reader r;
  struct fp_item it;
  fp_cbor_reader_init(&r, buf, n);
  assert_false(fp_cbor_done(&r));
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_MAP);
  assert_int_equal(it.v.count, 3);
  assert_false(it.indefinite);
  assert_int_equal(r.depth, 1);
  assert_true(r.remaining[0] == 6);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "a"));
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_ARRAY);
  assert_int_equal(it.v.count, 2);
  assert_int_equal(r.depth, 2);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_UINT);
  assert_int_equal(it.v.u, 1);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_NEGINT);
  assert_int_equal(it.v.u, 1);
  assert_int_equal(r.depth, 1); /* the array closed itself */
  assert_true(r.remaining[0] == 4);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "b"));
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_STR);
  assert_true(it.indefinite);
  assert_int_equal(r.chunk_major[1], 3);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "x"));
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(fp_item_is_str(&it, "yz"));
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_BREAK);
  assert_int_equal(r.depth, 1);
  assert_true(r.remaining[0] == 2);
  /* Skip the key, then the tagged value as a whole. */
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_false(fp_cbor_done(&r));
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_true(fp_cbor_done(&r));
  assert_int_equal(r.pos, n);
  assert_int_equal(fp_cbor_read(&r, &it), FARM_EEMPTY);
  assert_int_equal(r.err_offset, n);
  assert_int_equal(fp_cbor_skip(&r), FARM_EEMPTY);

  /* Skipping a whole nested value from the start. */
  fp_cbor_reader_init(&r, buf, n);
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_true(fp_cbor_done(&r));
  assert_int_equal(r.pos, n);

  /* Skip at a break consumes it, closing the indefinite item. */
  n = unhex("9f01ff", buf, sizeof buf);
  fp_cbor_reader_init(&r, buf, n);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_int_equal(r.pos, 2);
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_true(fp_cbor_done(&r));

  /* Indefinite map: remaining alternates key / value. */
  n = unhex("bf0102ff", buf, sizeof buf);
  fp_cbor_reader_init(&r, buf, n);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_MAP);
  assert_true(it.indefinite);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(r.remaining[0] == UINT64_MAX - 2);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(r.remaining[0] == UINT64_MAX - 1);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.kind, FP_BREAK);
  assert_true(fp_cbor_done(&r));

  /* A sequence of two values: the reader stops after the first. */
  n = unhex("0102", buf, sizeof buf);
  fp_cbor_reader_init(&r, buf, n);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_true(fp_cbor_done(&r));
  assert_int_equal(fp_cbor_read(&r, &it), FARM_EEMPTY);
  assert_int_equal(r.err_offset, 1);
}

/*
 * Every proper prefix of one nested value is FARM_ETRUNCATED, at the head of
 * the item that does not fit (or at the end, where a head is missing):
 *
 *   0 a4                       map(4): 8 items need 8 bytes
 *   1 61 61                    "a"
 *   3 83 01 19 01 f4           [1, 500,
 *   8 3a 00 01 86 9f            -100000]
 *  13 61 62                    "b"
 *  15 7f 62 68 69 61 78 ff     (_ "hi", "x")
 *  22 61 63                    "c"
 *  24 c1 fb 41d452d9ec200000   1(1363896240.5)
 *  34 61 64                    "d"
 *  36 9f 41 00 5f 41 01 ff ff  [_ h'00', (_ h'01')]
 */
static void test_truncation_prefixes(void **state)
{
  (void)state;
  static const char item[] = "a4" "6161" "83" "01" "1901f4" "3a0001869f"
                             "6162" "7f" "626869" "6178" "ff"
                             "6163" "c1" "fb41d452d9ec200000"
                             "6164" "9f" "4100" "5f" "4101" "ff" "ff";
  static const uint8_t want[44] = {
      0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  8,  8,  8,  13, 13,
      15, 16, 16, 16, 19, 19, 21, 22, 22, 24, 25, 25, 25, 25, 25,
      25, 25, 25, 25, 34, 34, 36, 37, 37, 39, 40, 40, 42, 43,
  };
  uint8_t buf[64];
  size_t n = unhex(item, buf, sizeof buf);
  assert_int_equal(n, 44);
  expect_ok(item);
  for (size_t len = 0; len < n; len++) {
    size_t off = 999;
    int rc = validate_exact(buf, len, &off);
    if (rc != FARM_ETRUNCATED || off != want[len])
      fail_msg("prefix %zu: %s at %zu, want ETRUNCATED at %u", len,
               farm_errname(rc), off, want[len]);
    /* The same through the cursor, item by item. */
    struct fp_cbor_reader r;
    struct fp_item it;
    fp_cbor_reader_init(&r, buf, len);
    while ((rc = fp_cbor_read(&r, &it)) == 0)
      ;
    assert_int_equal(rc, FARM_ETRUNCATED);
    assert_int_equal(r.err_offset, want[len]);
  }
}

static void test_lengths_beyond_buffer(void **state)
{
  (void)state;
  /* Byte and text strings with 64-bit lengths: never pos + len. */
  expect_result("5bffffffffffffffff", FARM_ETRUNCATED, 0);
  expect_result("5bffffffffffffffff00010203", FARM_ETRUNCATED, 0);
  expect_result("7bffffffffffffffff61", FARM_ETRUNCATED, 0);
  expect_result("5b8000000000000000", FARM_ETRUNCATED, 0);
  expect_result("5a00010000010203", FARM_ETRUNCATED, 0);
  expect_result("450102", FARM_ETRUNCATED, 0);
  expect_result("820145010203", FARM_ETRUNCATED, 2);
  expect_result("5f4301ff", FARM_ETRUNCATED, 1);
  /* Truncated heads: the argument bytes themselves are missing. */
  expect_result("18", FARM_ETRUNCATED, 0);
  expect_result("1901", FARM_ETRUNCATED, 0);
  expect_result("1a000000", FARM_ETRUNCATED, 0);
  expect_result("1b00000000000000", FARM_ETRUNCATED, 0);
  expect_result("f900", FARM_ETRUNCATED, 0);
  expect_result("fa000000", FARM_ETRUNCATED, 0);
  expect_result("fb0000000000", FARM_ETRUNCATED, 0);
  expect_result("f8", FARM_ETRUNCATED, 0);
  expect_result("d9", FARM_ETRUNCATED, 0);
  expect_result("8118", FARM_ETRUNCATED, 1);
  expect_result("", FARM_ETRUNCATED, 0);
  /* Huge counts are refused at the head, before any item is read. */
  expect_result("9bffffffffffffffff", FARM_ETRUNCATED, 0);
  expect_result("9bffffffffffffffff00", FARM_ETRUNCATED, 0);
  expect_result("bbffffffffffffffff", FARM_ETRUNCATED, 0);
  /* 2^63 pairs: 2 * pairs would wrap to 0 in 64 bits. */
  expect_result("bb8000000000000000" "0000000000000000000000000000000000",
                FARM_ETRUNCATED, 0);
  expect_result("9a0000000500000000", FARM_ETRUNCATED, 0);
  expect_result("a2010203", FARM_ETRUNCATED, 0);
  expect_ok("a201020304");
  /* A tag and indefinite items with nothing after them. */
  expect_result("c1", FARM_ETRUNCATED, 1);
  expect_result("9f", FARM_ETRUNCATED, 1);
  expect_result("bf01", FARM_ETRUNCATED, 2);
  expect_result("7f", FARM_ETRUNCATED, 1);

  /* The cursor hands out a count only when it can be backed by bytes. */
  uint8_t buf[16];
  size_t n = unhex("9a0000000301020304", buf, sizeof buf);
  struct fp_cbor_reader r;
  struct fp_item it;
  fp_cbor_reader_init(&r, buf, n);
  assert_int_equal(fp_cbor_read(&r, &it), 0);
  assert_int_equal(it.v.count, 3);
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_int_equal(fp_cbor_skip(&r), 0);
  assert_true(fp_cbor_done(&r));
  assert_int_equal(r.pos, 8);
}

/* n copies of the hex unit, then tail. */
static char *repeat(const char *unit, size_t n, const char *tail)
{
  size_t ul = strlen(unit), tl = strlen(tail);
  char *s = malloc(ul * n + tl + 1);
  assert_non_null(s);
  for (size_t i = 0; i < n; i++)
    memcpy(s + i * ul, unit, ul);
  memcpy(s + n * ul, tail, tl + 1);
  return s;
}

static void expect_nesting(const char *unit, size_t unit_bytes,
                           const char *inner, const char *close)
{
  char *closers = repeat(close, FP_MAX_DEPTH + 1, "");
  char *tail = malloc(strlen(inner) + strlen(closers) + 1);
  assert_non_null(tail);
  /* FP_MAX_DEPTH levels: fine. */
  sprintf(tail, "%s%s", inner, closers + strlen(close));
  char *ok = repeat(unit, FP_MAX_DEPTH, tail);
  expect_ok(ok);
  /* One more: rejected at the head that would open level FP_MAX_DEPTH + 1. */
  sprintf(tail, "%s%s", inner, closers);
  char *deep = repeat(unit, FP_MAX_DEPTH + 1, tail);
  expect_result(deep, FARM_EDEPTH, FP_MAX_DEPTH * unit_bytes);
  free(ok);
  free(deep);
  free(tail);
  free(closers);
}

static void test_depth_limit(void **state)
{
  (void)state;
  expect_nesting("81", 1, "00", "");     /* [[[...0]]] */
  expect_nesting("a100", 2, "00", "");   /* {0: {0: ... 0}} */
  expect_nesting("a1616b", 3, "f6", ""); /* {"k": {"k": ... null}} */
  expect_nesting("c1", 1, "00", "");     /* 1(1(...0)) */
  expect_nesting("9f", 1, "00", "ff");   /* [_ [_ ... 0]] */
  expect_nesting("bf00", 2, "00", "ff"); /* {_ 0: {_ 0: ... 0}} */
  /* Arrays and tags mixed: each "82c1" opens two levels. */
  char *inner = repeat("00", FP_MAX_DEPTH / 2 + 1, "");
  char *s = repeat("82c1", FP_MAX_DEPTH / 2, inner);
  expect_ok(s);
  char *deep = malloc(strlen(s) + 3);
  assert_non_null(deep);
  sprintf(deep, "81%s", s);
  expect_result(deep, FARM_EDEPTH, FP_MAX_DEPTH);
  free(deep);
  free(s);
  free(inner);
  /* An indefinite string opens a level too... */
  s = repeat("81", FP_MAX_DEPTH - 1, "5f4100ff");
  expect_ok(s);
  free(s);
  s = repeat("81", FP_MAX_DEPTH, "5f4100ff");
  expect_result(s, FARM_EDEPTH, FP_MAX_DEPTH);
  free(s);
  /* ...while an empty array or map closes at once: not an open level. */
  s = repeat("81", FP_MAX_DEPTH, "80");
  expect_ok(s);
  free(s);
  s = repeat("81", FP_MAX_DEPTH, "a0");
  expect_ok(s);
  free(s);
}

static void test_trailing(void **state)
{
  (void)state;
  expect_result("0100", FARM_ETRAILING, 1);
  expect_result("8201020304", FARM_ETRAILING, 3);
  expect_result("9fff00", FARM_ETRAILING, 2);
  expect_result("f6f6f6", FARM_ETRAILING, 1);
  /* Trailing garbage that would itself be malformed is still "trailing". */
  expect_result("00ff", FARM_ETRAILING, 1);
}

static void test_not_well_formed(void **state)
{
  (void)state;
  /* Reserved additional information 28..30 in every major type (§3). */
  static const char *reserved[] = {"1c", "1d", "1e", "3c", "5d", "7e", "9c",
                                   "bd", "de", "fc", "fd", "fe"};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    expect_result(reserved[i], FARM_EMALFORMED, 0);
  expect_result("82011c", FARM_EMALFORMED, 2);
  /* A break outside an indefinite item (§3.2.1). */
  expect_result("ff", FARM_EMALFORMED, 0);
  expect_result("81ff", FARM_EMALFORMED, 1);
  expect_result("8201ff", FARM_EMALFORMED, 2);
  expect_result("a1ff00", FARM_EMALFORMED, 1);
  expect_result("c1ff", FARM_EMALFORMED, 1);
  expect_result("9f81ffff", FARM_EMALFORMED, 2);
  /* Indefinite length where the major type has none (§3.2.4). */
  expect_result("1f", FARM_EMALFORMED, 0);
  expect_result("3f", FARM_EMALFORMED, 0);
  expect_result("df", FARM_EMALFORMED, 0);
  expect_result("811f", FARM_EMALFORMED, 1);
  /* Chunks of an indefinite string: same major type, definite (§3.2.3). */
  expect_result("5f6161ff", FARM_EMALFORMED, 1);
  expect_result("7f4161ff", FARM_EMALFORMED, 1);
  expect_result("5f01ff", FARM_EMALFORMED, 1);
  expect_result("5f80ff", FARM_EMALFORMED, 1);
  expect_result("5fc24100ff", FARM_EMALFORMED, 1);
  expect_result("7ff90000ff", FARM_EMALFORMED, 1);
  expect_result("5f5fffff", FARM_EMALFORMED, 1);
  expect_result("7f7fffff", FARM_EMALFORMED, 1);
  expect_result("5f4101420203f6ff", FARM_EMALFORMED, 6);
  expect_ok("5fff");
  expect_ok("7f6161ff");
  /* Two-byte simple values below 32 (§3.3). */
  expect_result("f800", FARM_EMALFORMED, 0);
  expect_result("f813", FARM_EMALFORMED, 0);
  expect_result("f814", FARM_EMALFORMED, 0);
  expect_result("f817", FARM_EMALFORMED, 0);
  expect_result("f818", FARM_EMALFORMED, 0);
  expect_result("f81f", FARM_EMALFORMED, 0);
  expect_result("82f81f00", FARM_EMALFORMED, 1);
  expect_ok("f820");
  /* An indefinite map whose body ends after a key (§3.2.2). */
  expect_result("bf01ff", FARM_EMALFORMED, 2);
  expect_result("bf010203ff", FARM_EMALFORMED, 4);
  expect_result("81bf6161ff", FARM_EMALFORMED, 4);
  expect_result("bf9f01ffff", FARM_EMALFORMED, 4);
  expect_ok("bfff");
  expect_ok("bf0102ff");
}

static void test_invalid_utf8(void **state)
{
  (void)state;
  expect_result("6180", FARM_EUTF8, 0);         /* lone continuation */
  expect_result("61ff", FARM_EUTF8, 0);         /* never in UTF-8 */
  expect_result("62c080", FARM_EUTF8, 0);       /* overlong NUL */
  expect_result("63e08080", FARM_EUTF8, 0);     /* overlong 3-byte */
  expect_result("63eda080", FARM_EUTF8, 0);     /* surrogate U+D800 */
  expect_result("64f4908080", FARM_EUTF8, 0);   /* above U+10FFFF */
  expect_result("64f8888080", FARM_EUTF8, 0);   /* 5-byte lead */
  expect_result("62e282", FARM_EUTF8, 0);       /* sequence cut short */
  expect_result("61c3", FARM_EUTF8, 0);
  expect_result("8261616180", FARM_EUTF8, 3);   /* inside an array */
  expect_result("a1618000", FARM_EUTF8, 1);     /* as a map key */
  /* §3.2.3: each chunk must be valid on its own; "ü" split over two chunks
   * is not well-formed even though the concatenation would be. */
  expect_result("7f61c361bcff", FARM_EUTF8, 1);
  expect_ok("7f62c3bcff");
  expect_ok("64f0908591");
  /* Byte strings carry anything. */
  expect_ok("4280ff");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_appendix_a),
      cmocka_unit_test(test_int_heads),
      cmocka_unit_test(test_length_heads),
      cmocka_unit_test(test_float_widths),
      cmocka_unit_test(test_simple_values),
      cmocka_unit_test(test_writer_enospc_sticky),
      cmocka_unit_test(test_cursor_walk),
      cmocka_unit_test(test_truncation_prefixes),
      cmocka_unit_test(test_lengths_beyond_buffer),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_trailing),
      cmocka_unit_test(test_not_well_formed),
      cmocka_unit_test(test_invalid_utf8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
