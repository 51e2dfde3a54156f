/* SPDX-License-Identifier: MIT */
/*
 * The JSON <-> MessagePack/CBOR cases shared by two drivers: the unit test
 * runs them through value_json in-process, the integration test through the
 * farmctl binary. A driver defines run_decode() and run_encode() and then
 * includes this file, which provides the cmocka test bodies: exact bytes and
 * exact JSON for every mapping, exact error lines, and the decode -> encode
 * round trip over every vector of the shared conformance suites.
 *
 * The driver's functions, declared before the #include:
 *   static int run_decode(enum fp_codec c, const uint8_t *in, size_t len,
 *                         char **json, char **msg);
 *   static int run_encode(enum fp_codec c, const char *json, size_t len,
 *                         uint8_t **bin, size_t *bin_len, char **msg);
 * Each returns 0 with *json (NUL-terminated, no newline) or *bin, or
 * non-zero with *msg: the error line without "farmctl: " and newline, e.g.
 * "byte 2: input ends inside an item". Outputs are malloc'd.
 */
#ifndef FARMCTL_TEST_CODEC_CASES_H
#define FARMCTL_TEST_CODEC_CASES_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp/codec.h"
#include "json_parse.h"
#include "json_write.h"
#include "testsupport.h"

#define M FP_CODEC_MSGPACK
#define C FP_CODEC_CBOR

/* encode(json) == hex and decode(hex) == json. */
struct round_case {
  enum fp_codec codec;
  const char *json;
  const char *hex;
};

static const struct round_case round_cases[] = {
    {M, "null", "c0"},
    {M, "true", "c3"},
    {M, "false", "c2"},
    {M, "0", "00"},
    {M, "127", "7f"},
    {M, "128", "cc80"},
    {M, "-1", "ff"},
    {M, "-32", "e0"},
    {M, "-33", "d0df"},
    {M, "256", "cd0100"},
    {M, "65536", "ce00010000"},
    {M, "4294967296", "cf0000000100000000"},
    {M, "18446744073709551615", "cfffffffffffffffff"},
    {M, "-9223372036854775808", "d38000000000000000"},
    {M, "0.5", "ca3f000000"},
    {M, "1.0", "ca3f800000"},
    {M, "-0.0", "ca80000000"},
    {M, "1.1", "cb3ff199999999999a"},
    {M, "1e+300", "cb7e37e43c8800759c"},
    {M, "{\"$float\":\"NaN\"}", "ca7fc00000"},
    {M, "{\"$float\":\"Infinity\"}", "ca7f800000"},
    {M, "{\"$float\":\"-Infinity\"}", "caff800000"},
    {M, "\"\"", "a0"},
    {M, "\"a\"", "a161"},
    {M, "\"\xf0\x9f\x98\x80\"", "a4f09f9880"},
    {M, "\"\\\"\\\\\\n\\u0001\"", "a4225c0a01"},
    {M, "{\"$bin\":\"\"}", "c400"},
    {M, "{\"$bin\":\"00ff\"}", "c40200ff"},
    {M, "{\"$ext\":[1,\"10\"]}", "d40110"},
    {M, "{\"$ext\":[-128,\"\"]}", "c70080"},
    {M, "{\"$ext\":[7,\"707172\"]}", "c70307707172"},
    {M, "{\"$timestamp\":[0,0]}", "d6ff00000000"},
    {M, "{\"$timestamp\":[1514862245,678901234]}", "d7ffa1dcd7c85a4af6a5"},
    {M, "{\"$timestamp\":[-1,0]}", "c70cff00000000ffffffffffffffff"},
    {M, "[]", "90"},
    {M, "[1,[2,3]]", "9201920203"},
    {M, "{}", "80"},
    {M, "{\"a\":1,\"b\":[2,3]}", "82a16101a162920203"},
    {M, "{\"$map\":[[1,\"x\"]]}", "8101a178"},
    {M, "{\"$map\":[[\"a\",1],[\"a\",2]]}", "82a16101a16102"},
    {M, "{\"$map\":[[\"$x\",1]]}", "81a2247801"},
    {M, "{\"$x\":1,\"b\":2}", "82a2247801a16202"},
    {M, "{\"$map\":[[{\"$bin\":\"00\"},null]]}", "81c40100c0"},
    {M, "{\"m\":{\"$map\":[[null,true]]}}", "81a16d81c0c3"},
    {C, "null", "f6"},
    {C, "true", "f5"},
    {C, "0", "00"},
    {C, "23", "17"},
    {C, "24", "1818"},
    {C, "-1", "20"},
    {C, "-24", "37"},
    {C, "-25", "3818"},
    {C, "18446744073709551615", "1bffffffffffffffff"},
    {C, "-9223372036854775809", "3b8000000000000000"},
    {C, "-18446744073709551616", "3bffffffffffffffff"},
    {C, "1.5", "f93e00"},
    {C, "1.0", "f93c00"},
    {C, "-0.0", "f98000"},
    {C, "65504.0", "f97bff"},
    {C, "100000.0", "fa47c35000"},
    {C, "1.1", "fb3ff199999999999a"},
    /* 5.960464477539063e-08 would be shorter, but %.16g rounds the exact
     * ...0625 to even (...062), which reads back as another double. */
    {C, "5.9604644775390625e-08", "f90001"},
    {C, "{\"$float\":\"NaN\"}", "f97e00"},
    {C, "{\"$float\":\"Infinity\"}", "f97c00"},
    {C, "{\"$float\":\"-Infinity\"}", "f9fc00"},
    {C, "\"\"", "60"},
    {C, "\"IETF\"", "6449455446"},
    {C, "\"\xc3\xbc\"", "62c3bc"},
    {C, "{\"$bin\":\"\"}", "40"},
    {C, "{\"$bin\":\"01020304\"}", "4401020304"},
    {C, "[]", "80"},
    {C, "[1,[2,3],[4,5]]", "8301820203820405"},
    {C, "{\"a\":1,\"b\":[2,3]}", "a26161016162820203"},
    {C, "{\"$map\":[[1,2],[3,4]]}", "a201020304"},
    {C, "{\"$map\":[[\"$tag\",1]]}", "a1642474616701"},
    {C, "{\"$tag\":[1,1363896240]}", "c11a514b67b0"},
    {C, "{\"$tag\":[0,\"2013-03-21T20:04:00Z\"]}", "c074323031332d30332d32315432303a30343a30305a"},
    {C, "{\"$tag\":[2,{\"$bin\":\"010000000000000000\"}]}", "c249010000000000000000"},
    {C, "{\"$tag\":[18446744073709551615,null]}", "dbfffffffffffffffff6"},
    {C, "{\"$undefined\":null}", "f7"},
    {C, "{\"$simple\":0}", "e0"},
    {C, "{\"$simple\":16}", "f0"},
    {C, "{\"$simple\":32}", "f820"},
    {C, "{\"$simple\":255}", "f8ff"},
};

/* decode(in) == json, and encode(json) == out: the preferred form. */
struct decode_case {
  enum fp_codec codec;
  const char *in;
  const char *json;
  const char *out;
};

static const struct decode_case decode_cases[] = {
    /* Indefinite lengths decode to the plain value, re-encode definite. */
    {C, "5f42010243030405ff", "{\"$bin\":\"0102030405\"}", "450102030405"},
    {C, "7f657374726561646d696e67ff", "\"streaming\"", "6973747265616d696e67"},
    {C, "9fff", "[]", "80"},
    {C, "bf61610161629f0203ffff", "{\"a\":1,\"b\":[2,3]}", "a26161016162820203"},
    {C, "bf6346756ef563416d7421ff", "{\"Fun\":true,\"Amt\":-2}", "a26346756ef563416d7421"},
    /* A chunked key equal to a definite one is a duplicate. */
    {C, "a26161017f6161ff02", "{\"$map\":[[\"a\",1],[\"a\",2]]}", "a2616101616102"},
    /* Wider than needed: floats and integers come back shortest. */
    {C, "fa7f800000", "{\"$float\":\"Infinity\"}", "f97c00"},
    {C, "fb7ff8000000000000", "{\"$float\":\"NaN\"}", "f97e00"},
    {C, "fb3ff0000000000000", "1.0", "f93c00"},
    {C, "1800", "0", "00"},
    {C, "3900ff", "-256", "38ff"},
    {M, "cb3fe0000000000000", "0.5", "ca3f000000"},
    {M, "d000", "0", "00"},
    {M, "cd0001", "1", "01"},
    {M, "d90161", "\"a\"", "a161"},
    {M, "de0001a16101", "{\"a\":1}", "81a16101"},
    {M, "c7010110", "{\"$ext\":[1,\"10\"]}", "d40110"},
    {M, "d7ff0000000000000000", "{\"$timestamp\":[0,0]}", "d6ff00000000"},
};

/* encode(json) == hex, for JSON spelled otherwise than decode prints it. */
struct encode_case {
  enum fp_codec codec;
  const char *json;
  const char *hex;
};

static const struct encode_case encode_cases[] = {
    {M, " [ 1 ,\t2 ]\n", "920102"},
    {M, "1E2", "ca42c80000"},
    {M, "-0", "00"},
    {M, "\"\\u00e9\"", "a2c3a9"},
    {M, "{\"a\":1,\"a\":2}", "82a16101a16102"},
    {M, "{\"$map\":[]}", "80"},
    {M, "{\"$bin\":\"00FF\"}", "c40200ff"},
    {C, "100000.0", "fa47c35000"},
    {C, "1.0e0", "f93c00"},
    {C, "\"\\ud83d\\ude00\"", "64f09f9880"},
    {C, "\"\\/\"", "612f"},
};

enum dir { DECODE, ENCODE };

/* The one error line (without "farmctl: ") for an input. in is hex for
 * DECODE, JSON text for ENCODE. */
struct error_case {
  enum fp_codec codec;
  enum dir dir;
  const char *in;
  const char *msg;
};

static const struct error_case error_cases[] = {
    {M, DECODE, "9201", "byte 2: input ends inside an item"},
    {M, DECODE, "0102", "byte 1: trailing bytes after the value"},
    {M, DECODE, "", "byte 0: empty input"},
    {M, DECODE, "c1", "byte 0: malformed encoding"},
    {M, DECODE, "a2fffe", "byte 0: invalid UTF-8 in text string"},
    {M, DECODE, "81a16192c0", "byte 5: input ends inside an item"},
    /* The CBOR reader refuses a count that the bytes left cannot hold at
     * the head that declares it. */
    {C, DECODE, "8201", "byte 0: input ends inside an item"},
    {C, DECODE, "8301", "byte 0: input ends inside an item"},
    {C, DECODE, "5a0000000501", "byte 0: input ends inside an item"},
    {C, DECODE, "1c", "byte 0: malformed encoding"},
    {C, DECODE, "ff", "byte 0: malformed encoding"},
    {C, DECODE, "9f01", "byte 2: input ends inside an item"},
    {C, DECODE, "f6f6", "byte 1: trailing bytes after the value"},
    {C, DECODE, "62c328", "byte 0: invalid UTF-8 in text string"},
    {C, DECODE, "", "byte 0: empty input"},
    {M, ENCODE, "{\"a\" 1}", "byte 5: invalid JSON: expected ':' after an object key"},
    {C, ENCODE, "\"\\uD83D\"", "byte 1: invalid JSON: lone high surrogate"},
    {C, ENCODE, "\"\\udc00x\"", "byte 1: invalid JSON: lone low surrogate"},
    {C, ENCODE, "\"\xff\"", "byte 1: invalid JSON: invalid UTF-8"},
    {C, ENCODE, "\"\xc0\xaf\"", "byte 1: invalid JSON: invalid UTF-8"},
    {M, ENCODE, "[1,2", "byte 4: invalid JSON: input ends inside an array"},
    {M, ENCODE, "", "byte 0: invalid JSON: no JSON value in the input"},
    {M, ENCODE, "[1] x", "byte 4: invalid JSON: trailing characters after the JSON value"},
    {M, ENCODE, "01", "byte 1: invalid JSON: invalid number (leading zero)"},
    {M, ENCODE, "[1,]", "byte 3: invalid JSON: unexpected character where a value was expected"},
    {M, ENCODE, "\"a\x01\"", "byte 2: invalid JSON: control character in a string (escape it)"},
    {M, ENCODE, "tru", "byte 3: invalid JSON: input ends inside a literal"},
    {M, ENCODE, "\"\\x\"", "byte 1: invalid JSON: invalid escape"},
    {M, ENCODE, "{\"$tag\":[1,2]}", "byte 0: msgpack cannot carry a tag (cbor only)"},
    {M, ENCODE, "[0,{\"$undefined\":null}]", "byte 3: msgpack cannot carry undefined (cbor only)"},
    {M, ENCODE, "{\"$simple\":1}", "byte 0: msgpack cannot carry a simple value (cbor only)"},
    {C, ENCODE, "{\"$ext\":[1,\"00\"]}", "byte 0: cbor cannot carry an ext type (msgpack only)"},
    {C, ENCODE, "{\"$timestamp\":[0,0]}",
     "byte 0: cbor cannot carry a timestamp extension (msgpack only)"},
    {M, ENCODE, "-9223372036854775809",
     "byte 0: integer out of range for msgpack (-2^63 .. 2^64-1)"},
    {M, ENCODE, "18446744073709551616",
     "byte 0: integer out of range for msgpack (-2^63 .. 2^64-1)"},
    {C, ENCODE, "[-18446744073709551617]",
     "byte 1: integer out of range for cbor (-2^64 .. 2^64-1)"},
    {C, ENCODE, "[1e999]",
     "byte 1: number beyond the range of a double (use {\"$float\":\"Infinity\"})"},
    {C, ENCODE, "{\"$foo\":1}",
     "byte 1: unknown '$' form: a one-member object whose key starts with '$' must be "
     "$float, $bin, $ext, $timestamp, $tag, $undefined, $simple or $map"},
    {C, ENCODE, "{\"$bin\":\"abc\"}", "byte 8: $bin needs a string of hex digit pairs"},
    {C, ENCODE, "{\"$bin\":\"zz\"}", "byte 8: $bin needs a string of hex digit pairs"},
    {C, ENCODE, "{\"$simple\":24}", "byte 11: simple value must be 0..19 or 32..255"},
    {C, ENCODE, "{\"$simple\":256}", "byte 11: simple value out of range (0..255)"},
    {M, ENCODE, "{\"$ext\":[-1,\"00\"]}",
     "byte 9: ext type -1 is the timestamp: write {\"$timestamp\":[sec,nsec]}"},
    {M, ENCODE, "{\"$ext\":[128,\"00\"]}", "byte 9: ext type out of range (-128..127)"},
    {M, ENCODE, "{\"$timestamp\":[0,1000000000]}",
     "byte 17: nanoseconds out of range (0..999999999)"},
    {M, ENCODE, "{\"$timestamp\":[0,1.5]}", "byte 17: nanoseconds must be an integer"},
    {C, ENCODE, "{\"$tag\":[-1,0]}", "byte 9: tag number must be an integer 0..2^64-1"},
    {C, ENCODE, "{\"$float\":\"nan\"}",
     "byte 10: $float needs \"NaN\", \"Infinity\" or \"-Infinity\""},
    {C, ENCODE, "{\"$undefined\":0}", "byte 14: $undefined needs null"},
    {C, ENCODE, "{\"$map\":[[1]]}", "byte 9: $map needs an array of [key, value] pairs"},
    {C, ENCODE, "{\"$tag\":[1]}", "byte 8: $tag needs [tag number, value]"},
};

#undef M
#undef C

/* ------------------------------------------------------------------------ */

static uint8_t *unhex(const char *hex, size_t *len)
{
  size_t cap = strlen(hex) / 2 + 1;
  uint8_t *b = malloc(cap);
  assert_non_null(b);
  long n = ts_hex_decode(hex, b, cap);
  assert_true(n >= 0);
  *len = (size_t)n;
  return b;
}

static char *tohex(const uint8_t *p, size_t len)
{
  char *s = malloc(2 * len + 1);
  assert_non_null(s);
  for (size_t i = 0; i < len; i++)
    snprintf(s + 2 * i, 3, "%02x", p[i]);
  s[2 * len] = '\0';
  return s;
}

/* Encodes json and checks the bytes (as hex) equal want_hex. */
static void check_encode(enum fp_codec c, const char *json, const char *want_hex)
{
  uint8_t *bin = NULL;
  size_t n = 0;
  char *msg = NULL;
  int rc = run_encode(c, json, strlen(json), &bin, &n, &msg);
  if (rc != 0)
    fail_msg("%s encode of %s failed: %s", fp_codec_name(c), json, msg);
  char *got = tohex(bin, n);
  if (strcmp(got, want_hex) != 0)
    fail_msg("%s encode of %s: got %s, want %s", fp_codec_name(c), json, got, want_hex);
  free(got);
  free(bin);
}

/* Decodes the hex input and checks the JSON equals want_json. */
static void check_decode(enum fp_codec c, const char *hex, const char *want_json)
{
  size_t n;
  uint8_t *in = unhex(hex, &n);
  char *json = NULL;
  char *msg = NULL;
  int rc = run_decode(c, in, n, &json, &msg);
  if (rc != 0)
    fail_msg("%s decode of %s failed: %s", fp_codec_name(c), hex, msg);
  if (strcmp(json, want_json) != 0)
    fail_msg("%s decode of %s: got %s, want %s", fp_codec_name(c), hex, json, want_json);
  free(json);
  free(in);
}

static void test_round_cases(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof round_cases / sizeof round_cases[0]; i++) {
    const struct round_case *k = &round_cases[i];
    check_encode(k->codec, k->json, k->hex);
    check_decode(k->codec, k->hex, k->json);
  }
}

static void test_decode_cases(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) {
    const struct decode_case *k = &decode_cases[i];
    check_decode(k->codec, k->in, k->json);
    check_encode(k->codec, k->json, k->out);
  }
}

static void test_encode_cases(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof encode_cases / sizeof encode_cases[0]; i++)
    check_encode(encode_cases[i].codec, encode_cases[i].json, encode_cases[i].hex);
}

static void check_error(enum fp_codec c, enum dir d, const uint8_t *in, size_t len,
                        const char *want, const char *what)
{
  char *msg = NULL;
  char *json = NULL;
  uint8_t *bin = NULL;
  size_t n = 0;
  int rc = d == DECODE ? run_decode(c, in, len, &json, &msg)
                       : run_encode(c, (const char *)in, len, &bin, &n, &msg);
  if (rc == 0)
    fail_msg("%s %s of %s succeeded, want error %s", fp_codec_name(c),
             d == DECODE ? "decode" : "encode", what, want);
  if (strcmp(msg, want) != 0)
    fail_msg("%s %s of %s: got error '%s', want '%s'", fp_codec_name(c),
             d == DECODE ? "decode" : "encode", what, msg, want);
  free(msg);
}

static void test_error_cases(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    const struct error_case *k = &error_cases[i];
    if (k->dir == DECODE) {
      size_t n;
      uint8_t *in = unhex(k->in, &n);
      check_error(k->codec, DECODE, in, n, k->msg, k->in);
      free(in);
    } else {
      check_error(k->codec, ENCODE, (const uint8_t *)k->in, strlen(k->in), k->msg, k->in);
    }
  }
}

/*
 * Nesting: FP_MAX_DEPTH levels of arrays, maps or tags pass both ways, one
 * more is refused with the offset of the level too many, in both formats
 * and both directions.
 */
static void test_nesting_limit(void **state)
{
  (void)state;
  enum { N = FP_MAX_DEPTH };
  uint8_t bin[N + 2];
  char want[64];
  char json[16 * (N + 2)];
  for (int codec = 0; codec < 2; codec++) {
    enum fp_codec c = codec ? FP_CODEC_CBOR : FP_CODEC_MSGPACK;
    uint8_t one = c == FP_CODEC_CBOR ? 0x81 : 0x91; /* array of 1 */
    /* N arrays around a 0 decode, N + 1 do not. */
    memset(bin, one, N);
    bin[N] = 0;
    size_t jl = 0;
    for (int i = 0; i < N; i++)
      json[jl++] = '[';
    json[jl++] = '0';
    for (int i = 0; i < N; i++)
      json[jl++] = ']';
    json[jl] = '\0';
    char *hex = tohex(bin, N + 1);
    check_decode(c, hex, json);
    check_encode(c, json, hex);
    free(hex);
    memset(bin, one, N + 1);
    bin[N + 1] = 0;
    snprintf(want, sizeof want, "byte %d: nesting too deep", N);
    check_error(c, DECODE, bin, N + 2, want, "33 nested arrays");
    jl = 0;
    for (int i = 0; i <= N; i++)
      json[jl++] = '[';
    json[jl++] = '0';
    for (int i = 0; i <= N; i++)
      json[jl++] = ']';
    json[jl] = '\0';
    snprintf(want, sizeof want, "byte %d: nesting deeper than %d levels", N, N);
    check_error(c, ENCODE, (const uint8_t *)json, jl, want, "33 nested JSON arrays");
  }
  /* An empty container one level too deep: the MessagePack reader opens
   * a level for it, the CBOR reader (complete at its head) does not, and
   * the encoder follows each. */
  for (int codec = 0; codec < 2; codec++) {
    enum fp_codec c = codec ? FP_CODEC_CBOR : FP_CODEC_MSGPACK;
    memset(bin, c == FP_CODEC_CBOR ? 0x81 : 0x91, N);
    bin[N] = c == FP_CODEC_CBOR ? 0x80 : 0x90;
    size_t jl = 0;
    for (int i = 0; i <= N; i++)
      json[jl++] = '[';
    for (int i = 0; i <= N; i++)
      json[jl++] = ']';
    json[jl] = '\0';
    if (c == FP_CODEC_CBOR) {
      char *hex = tohex(bin, N + 1);
      check_decode(c, hex, json);
      check_encode(c, json, hex);
      free(hex);
    } else {
      snprintf(want, sizeof want, "byte %d: nesting too deep", N);
      check_error(c, DECODE, bin, N + 1, want, "32 arrays around an empty one");
      snprintf(want, sizeof want, "byte %d: nesting deeper than %d levels", N, N);
      check_error(c, ENCODE, (const uint8_t *)json, jl, want, "32 arrays around []");
    }
  }
  /* CBOR tags count as levels: 33 tags, each {"$tag":[1, ...]} of 11 bytes. */
  size_t jl = 0;
  for (int i = 0; i <= N; i++) {
    memcpy(json + jl, "{\"$tag\":[1,", 11);
    jl += 11;
  }
  json[jl++] = '0';
  for (int i = 0; i <= N; i++) {
    memcpy(json + jl, "]}", 2);
    jl += 2;
  }
  json[jl] = '\0';
  snprintf(want, sizeof want, "byte %d: nesting deeper than %d levels", 11 * N, N);
  check_error(FP_CODEC_CBOR, ENCODE, (const uint8_t *)json, jl, want, "33 nested tags");
}

/* ------------------------------------------------------------------------ */
/* The shared conformance vectors.                                          */

static struct json_doc *load_vectors(const char *name, char **text)
{
  const char *path = ts_shared_path(name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  size_t cap = 1 << 20;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  assert_true(n > 0 && n < cap);
  struct json_doc *doc;
  struct json_error err;
  /* Our own parser: the files hold integers up to 2^64 that general JSON
   * libraries refuse or round. */
  if (json_parse(buf, n, 16, &doc, &err) != 0)
    fail_msg("%s: byte %zu: %s", path, err.offset, err.msg);
  *text = buf;
  return doc;
}

static const struct json_value *member(const struct json_value *obj, const char *key)
{
  for (uint32_t i = 0; obj->type == JT_OBJECT && i < obj->count; i++)
    if (json_is_str(json_key(obj, i), key))
      return json_member(obj, i);
  return NULL;
}

/* Same JSON value: integers by exact text, floats by value, the same kind
 * of number on both sides, objects in member order. */
static bool json_equiv(const struct json_value *a, const struct json_value *b)
{
  if (a->type != b->type)
    return false;
  switch ((enum json_type)a->type) {
  case JT_NULL:
  case JT_FALSE:
  case JT_TRUE:
    return true;
  case JT_NUMBER:
    if (a->integer != b->integer)
      return false;
    if (a->integer)
      return strcmp(a->u.text, b->u.text) == 0;
    return strtod(a->u.text, NULL) == strtod(b->u.text, NULL) &&
           signbit(strtod(a->u.text, NULL)) == signbit(strtod(b->u.text, NULL));
  case JT_STRING:
    return a->len == b->len && memcmp(a->u.text, b->u.text, a->len) == 0;
  case JT_ARRAY:
  case JT_OBJECT: {
    uint32_t n = a->type == JT_OBJECT ? 2 * a->count : a->count;
    if (a->count != b->count)
      return false;
    for (uint32_t i = 0; i < n; i++)
      if (!json_equiv(&a->u.items[i], &b->u.items[i]))
        return false;
    return true;
  }
  }
  return false;
}

static void check_json_equiv(const char *got, const char *want_text, const struct json_value *want,
                             const char *what)
{
  struct json_doc *g = NULL;
  struct json_doc *w = NULL;
  struct json_error err;
  if (json_parse(got, strlen(got), 200, &g, &err) != 0)
    fail_msg("%s: output is not JSON (%s): %s", what, err.msg, got);
  if (want == NULL) {
    if (json_parse(want_text, strlen(want_text), 200, &w, &err) != 0)
      fail_msg("%s: expected text is not JSON: %s", what, want_text);
    want = json_doc_root(w);
  }
  if (!json_equiv(json_doc_root(g), want))
    fail_msg("%s: decoded to %s, want %s", what, got, want_text ? want_text : "(vector)");
  json_doc_free(g);
  json_doc_free(w);
}

/* Decodes hex, checks the JSON, re-encodes and checks the bytes. */
static void round_trip(enum fp_codec c, const char *in_hex, const char *want_hex,
                       const char *want_text, const struct json_value *want, const char *what)
{
  size_t n;
  uint8_t *in = unhex(in_hex, &n);
  char *json = NULL;
  char *msg = NULL;
  if (run_decode(c, in, n, &json, &msg) != 0)
    fail_msg("%s: decode of %s failed: %s", what, in_hex, msg);
  if (want_text != NULL || want != NULL)
    check_json_equiv(json, want_text, want, what);
  uint8_t *bin = NULL;
  size_t bn = 0;
  if (run_encode(c, json, strlen(json), &bin, &bn, &msg) != 0)
    fail_msg("%s: encode of %s failed: %s", what, json, msg);
  size_t wn;
  uint8_t *want_bin = unhex(want_hex, &wn);
  if (bn != wn || memcmp(bin, want_bin, wn) != 0) {
    char *got = tohex(bin, bn);
    fail_msg("%s: %s -> %s -> %s, want %s", what, in_hex, json, got, want_hex);
  }
  free(want_bin);
  free(bin);
  free(json);
  free(in);
}

/*
 * What decode must print for a vector of the MessagePack suite: a node of
 * the vector itself for what plain JSON carries, else the special form
 * written into w (and NULL returned).
 */
static const struct json_value *msgpack_expected(const struct json_value *vec,
                                                 struct json_writer *w)
{
  const struct json_value *v;
  if ((v = member(vec, "bignum")) != NULL) {
    jw_raw_value(w, v->u.text, v->len); /* the exact digits */
    return NULL;
  }
  bool ext = (v = member(vec, "ext")) != NULL;
  if (ext || (v = member(vec, "binary")) != NULL) {
    const struct json_value *hex = ext ? &v->u.items[1] : v;
    size_t n;
    uint8_t *b = unhex(hex->u.text, &n);
    jw_object_begin(w);
    jw_ckey(w, ext ? "$ext" : "$bin");
    if (ext) {
      jw_array_begin(w);
      jw_raw_value(w, v->u.items[0].u.text, v->u.items[0].len);
    }
    jw_hex(w, b, n);
    if (ext)
      jw_array_end(w);
    jw_object_end(w);
    free(b);
    return NULL;
  }
  if ((v = member(vec, "timestamp")) != NULL) {
    jw_object_begin(w);
    jw_ckey(w, "$timestamp");
    jw_array_begin(w);
    jw_raw_value(w, v->u.items[0].u.text, v->u.items[0].len);
    jw_raw_value(w, v->u.items[1].u.text, v->u.items[1].len);
    jw_array_end(w);
    jw_object_end(w);
    return NULL;
  }
  static const char *const plain[] = {"nil", "bool", "number", "string", "array", "map"};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
    if ((v = member(vec, plain[i])) != NULL)
      return v;
  fail_msg("a vector of the msgpack suite without a value");
  return NULL;
}

/*
 * Every vector of the MessagePack suite: its first (shortest) encoding
 * decodes to the suite's value and re-encodes to the same bytes.
 */
static void test_msgpack_suite(void **state)
{
  (void)state;
  char *text;
  struct json_doc *doc = load_vectors("data/conformance/msgpack-test-suite.json", &text);
  const struct json_value *root = json_doc_root(doc);
  unsigned done = 0;
  for (uint32_t g = 0; g < root->count; g++) {
    const struct json_value *group = json_member(root, g);
    for (uint32_t i = 0; i < group->count; i++) {
      const struct json_value *vec = &group->u.items[i];
      const struct json_value *encs = member(vec, "msgpack");
      assert_non_null(encs);
      assert_true(encs->count >= 1);
      const char *first = encs->u.items[0].u.text;
      /* 9223372036854775807 is listed as int64 first, but uint64 is just
       * as short and fp/msgpack.h writes every non-negative integer in the
       * unsigned forms: the suite lists that encoding second. */
      const char *want = first;
      if (strcmp(first, "d3-7f-ff-ff-ff-ff-ff-ff-ff") == 0) {
        assert_string_equal(encs->u.items[1].u.text, "cf-7f-ff-ff-ff-ff-ff-ff-ff");
        want = encs->u.items[1].u.text;
      }
      char what[160];
      snprintf(what, sizeof what, "msgpack suite %s #%u (%s)", json_key(root, g)->u.text,
               (unsigned)i, first);
      struct json_writer w;
      jw_init(&w);
      const struct json_value *node = msgpack_expected(vec, &w);
      round_trip(FP_CODEC_MSGPACK, first, want, node ? NULL : w.buf, node, what);
      jw_free(&w);
      done++;
    }
  }
  assert_int_equal(done, 85); /* every vector of the suite */
  json_doc_free(doc);
  free(text);
}

/* Vectors of RFC 8949 Appendix A that are not in preferred form, and the
 * preferred form (§4.1: shortest floats, definite lengths) they re-encode to. */
static const struct {
  const char *hex;
  const char *preferred;
} cbor_preferred[] = {
    {"fa7f800000", "f97c00"},
    {"fa7fc00000", "f97e00"},
    {"faff800000", "f9fc00"},
    {"fb7ff0000000000000", "f97c00"},
    {"fb7ff8000000000000", "f97e00"},
    {"fbfff0000000000000", "f9fc00"},
    {"5f42010243030405ff", "450102030405"},
    {"7f657374726561646d696e67ff", "6973747265616d696e67"},
    {"9fff", "80"},
    {"9f018202039f0405ffff", "8301820203820405"},
    {"9f01820203820405ff", "8301820203820405"},
    {"83018202039f0405ff", "8301820203820405"},
    {"83019f0203ff820405", "8301820203820405"},
    {"9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
     "98190102030405060708090a0b0c0d0e0f101112131415161718181819"},
    {"bf61610161629f0203ffff", "a26161016162820203"},
    {"826161bf61626163ff", "826161a161626163"},
    {"bf6346756ef563416d7421ff", "a26346756ef563416d7421"},
};

/* The JSON of the vectors given in diagnostic notation. */
static const struct {
  const char *diagnostic;
  const char *json;
} cbor_diagnostic[] = {
    {"Infinity", "{\"$float\":\"Infinity\"}"},
    {"NaN", "{\"$float\":\"NaN\"}"},
    {"-Infinity", "{\"$float\":\"-Infinity\"}"},
    {"undefined", "{\"$undefined\":null}"},
    {"simple(16)", "{\"$simple\":16}"},
    {"simple(255)", "{\"$simple\":255}"},
    {"0(\"2013-03-21T20:04:00Z\")", "{\"$tag\":[0,\"2013-03-21T20:04:00Z\"]}"},
    {"1(1363896240)", "{\"$tag\":[1,1363896240]}"},
    {"1(1363896240.5)", "{\"$tag\":[1,1363896240.5]}"},
    {"23(h'01020304')", "{\"$tag\":[23,{\"$bin\":\"01020304\"}]}"},
    {"24(h'6449455446')", "{\"$tag\":[24,{\"$bin\":\"6449455446\"}]}"},
    {"32(\"http://www.example.com\")", "{\"$tag\":[32,\"http://www.example.com\"]}"},
    {"h''", "{\"$bin\":\"\"}"},
    {"h'01020304'", "{\"$bin\":\"01020304\"}"},
    {"{1: 2, 3: 4}", "{\"$map\":[[1,2],[3,4]]}"},
    {"(_ h'0102', h'030405')", "{\"$bin\":\"0102030405\"}"},
};

/*
 * Every example of RFC 8949 Appendix A: those marked roundtrip re-encode
 * byte for byte, the others to their preferred form; each decodes to the
 * value the file gives (as JSON or in diagnostic notation).
 */
static void test_cbor_appendix(void **state)
{
  (void)state;
  char *text;
  struct json_doc *doc = load_vectors("data/conformance/cbor-rfc8949-appendix-a.json", &text);
  const struct json_value *root = json_doc_root(doc);
  unsigned done = 0;
  unsigned preferred = 0;
  for (uint32_t i = 0; i < root->count; i++) {
    const struct json_value *vec = &root->u.items[i];
    const char *hex = member(vec, "hex")->u.text;
    const struct json_value *rt = member(vec, "roundtrip");
    const struct json_value *decoded = member(vec, "decoded");
    const struct json_value *diag = member(vec, "diagnostic");
    char what[160];
    snprintf(what, sizeof what, "RFC 8949 Appendix A #%u (%s)", (unsigned)i, hex);
    if (strcmp(hex, "f818") == 0) {
      /* simple(24) in two bytes is not well-formed since RFC 8949 §3.3
       * (Appendix F lists f8 18 among the invalid encodings); the vector
       * comes from RFC 7049. */
      size_t n;
      uint8_t *in = unhex(hex, &n);
      check_error(FP_CODEC_CBOR, DECODE, in, n, "byte 0: malformed encoding", what);
      free(in);
      done++;
      continue;
    }
    const char *want = NULL;
    if (rt->type == JT_TRUE) {
      want = hex;
    } else {
      for (size_t k = 0; k < sizeof cbor_preferred / sizeof cbor_preferred[0]; k++)
        if (strcmp(cbor_preferred[k].hex, hex) == 0)
          want = cbor_preferred[k].preferred;
      if (want == NULL)
        fail_msg("%s: no preferred form listed for this vector", what);
      preferred++;
    }
    const char *want_text = NULL;
    const struct json_value *want_node = NULL;
    if (diag != NULL) {
      for (size_t k = 0; k < sizeof cbor_diagnostic / sizeof cbor_diagnostic[0]; k++)
        if (json_is_str(diag, cbor_diagnostic[k].diagnostic))
          want_text = cbor_diagnostic[k].json;
      if (want_text == NULL)
        fail_msg("%s: no JSON listed for diagnostic %s", what, diag->u.text);
    } else if (strncmp(hex, "c2", 2) == 0) {
      want_text = "{\"$tag\":[2,{\"$bin\":\"010000000000000000\"}]}"; /* bignum 2^64 */
    } else if (strncmp(hex, "c3", 2) == 0) {
      want_text = "{\"$tag\":[3,{\"$bin\":\"010000000000000000\"}]}"; /* -1 - 2^64 */
    } else {
      assert_non_null(decoded);
      want_node = decoded;
    }
    round_trip(FP_CODEC_CBOR, hex, want, want_text, want_node, what);
    done++;
  }
  assert_int_equal(done, 82);
  assert_int_equal(preferred, sizeof cbor_preferred / sizeof cbor_preferred[0]);
  json_doc_free(doc);
  free(text);
}

#define CODEC_CASE_TESTS                                                                           \
  cmocka_unit_test(test_round_cases), cmocka_unit_test(test_decode_cases),                         \
      cmocka_unit_test(test_encode_cases), cmocka_unit_test(test_error_cases),                     \
      cmocka_unit_test(test_nesting_limit), cmocka_unit_test(test_msgpack_suite),                  \
      cmocka_unit_test(test_cbor_appendix)

#endif /* FARMCTL_TEST_CODEC_CASES_H */
