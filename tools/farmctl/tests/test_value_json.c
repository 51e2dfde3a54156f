/* SPDX-License-Identifier: MIT */
/*
 * Unit test of the MessagePack/CBOR <-> JSON mapping (value_json.h), run
 * in-process: the shared cases and conformance vectors of codec_cases.h,
 * and a seeded random round trip of values written by the codec writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "fp/cbor.h"
#include "fp/msgpack.h"
#include "json_parse.h"
#include "json_write.h"
#include "testsupport.h"
#include "value_json.h"

static char *format_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *format_msg(const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *s = strdup(buf);
  assert_non_null(s);
  return s;
}

static int run_decode(enum fp_codec c, const uint8_t *in, size_t len, char **json, char **msg)
{
  struct json_writer w;
  struct vj_error err;
  jw_init(&w);
  int rc = vj_decode(c, in, len, &w, &err);
  if (rc != 0) {
    *msg = format_msg("byte %zu: %s", err.offset, err.msg);
    jw_free(&w);
    return rc;
  }
  assert_non_null(w.buf);
  *json = w.buf; /* handed over: the caller frees it */
  return 0;
}

static int run_encode(enum fp_codec c, const char *json, size_t len, uint8_t **bin, size_t *bin_len,
                      char **msg)
{
  struct json_doc *doc;
  struct json_error jerr;
  int rc = json_parse(json, len, VJ_JSON_MAX_DEPTH, &doc, &jerr);
  if (rc != 0) {
    *msg = format_msg("byte %zu: invalid JSON: %s", jerr.offset, jerr.msg);
    return rc;
  }
  struct vj_error err;
  rc = vj_encode(c, json_doc_root(doc), bin, bin_len, &err);
  if (rc != 0)
    *msg = format_msg("byte %zu: %s", err.offset, err.msg);
  json_doc_free(doc);
  return rc;
}

#include "codec_cases.h"

/* ------------------------------------------------------------------------ */
/* Random values written by the codec writers: decode -> encode must give
 * the same bytes back, since the writers emit the preferred form. */

struct gen {
  struct ts_rng rng;
  enum fp_codec codec;
  struct fp_mp_writer mp;
  struct fp_cbor_writer cb;
};

static void gen_value(struct gen *g, unsigned depth);

static void gen_text(struct gen *g)
{
  /* Short keys from a small alphabet, so maps get duplicates and '$'. */
  static const char *const words[] = {"a", "b", "$x", "$bin", "", "\xc3\xa9", "t"};
  const char *s = words[ts_rng_below(&g->rng, 7)];
  if (g->codec == FP_CODEC_CBOR)
    fp_cbor_write_cstr(&g->cb, s);
  else
    fp_mp_write_cstr(&g->mp, s);
}

static double gen_double(struct gen *g)
{
  static const double pool[] = {
      0.0, -0.0, 1.5, 0.1, 65504.0, 1e300, 5e-324, 3.4028234663852886e+38, -2.5, 100000.0};
  if (ts_rng_below(&g->rng, 2) == 0)
    return pool[ts_rng_below(&g->rng, 10)];
  uint64_t bits = ts_rng_next(&g->rng);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d; /* any bit pattern: NaNs print as NaN and come back canonical */
}

static void gen_value(struct gen *g, unsigned depth)
{
  unsigned kinds = depth >= 6 ? 7 : 10;
  unsigned k = (unsigned)ts_rng_below(&g->rng, kinds);
  uint64_t u = ts_rng_next(&g->rng) >> ts_rng_below(&g->rng, 64);
  bool cbor = g->codec == FP_CODEC_CBOR;
  switch (k) {
  case 0:
    cbor ? fp_cbor_write_nil(&g->cb) : fp_mp_write_nil(&g->mp);
    break;
  case 1:
    cbor ? fp_cbor_write_uint(&g->cb, u) : fp_mp_write_uint(&g->mp, u);
    break;
  case 2:
    if (cbor)
      fp_cbor_write_negint(&g->cb, u);
    else
      fp_mp_write_int(&g->mp, -1 - (int64_t)(u >> 1));
    break;
  case 3: {
    double d = gen_double(g);
    if (cbor)
      fp_cbor_write_float(&g->cb, d);
    else
      fp_mp_write_float(&g->mp, d);
    break;
  }
  case 4:
    gen_text(g);
    break;
  case 5: {
    uint8_t b[5] = {0, 1, 0x7f, 0x80, 0xff};
    size_t n = (size_t)ts_rng_below(&g->rng, 6);
    cbor ? fp_cbor_write_bin(&g->cb, b, n) : fp_mp_write_bin(&g->mp, b, n);
    break;
  }
  case 6:
    if (cbor) {
      if (ts_rng_below(&g->rng, 2))
        fp_cbor_write_undefined(&g->cb);
      else
        fp_cbor_write_simple(&g->cb, (uint8_t)(ts_rng_below(&g->rng, 2) ? 7 : 200));
    } else if (ts_rng_below(&g->rng, 2)) {
      fp_mp_write_ext(&g->mp, (int8_t)ts_rng_below(&g->rng, 100), "abc",
                      (size_t)ts_rng_below(&g->rng, 4));
    } else {
      fp_mp_write_timestamp(&g->mp, (int64_t)(u >> 20) - (1 << 20),
                            (uint32_t)ts_rng_below(&g->rng, 1000000000));
    }
    break;
  case 7: {
    unsigned n = (unsigned)ts_rng_below(&g->rng, 4);
    cbor ? fp_cbor_write_array(&g->cb, n) : fp_mp_write_array(&g->mp, n);
    for (unsigned i = 0; i < n; i++)
      gen_value(g, depth + 1);
    break;
  }
  case 8: {
    unsigned n = (unsigned)ts_rng_below(&g->rng, 4);
    cbor ? fp_cbor_write_map(&g->cb, n) : fp_mp_write_map(&g->mp, n);
    for (unsigned i = 0; i < n; i++) {
      if (ts_rng_below(&g->rng, 5) == 0)
        gen_value(g, depth + 1); /* a key of any kind */
      else
        gen_text(g);
      gen_value(g, depth + 1);
    }
    break;
  }
  default:
    if (cbor) {
      fp_cbor_write_tag(&g->cb, u);
      gen_value(g, depth + 1);
    } else {
      gen_text(g);
    }
    break;
  }
}

static void test_random_round_trip(void **state)
{
  (void)state;
  static uint8_t buf[1 << 16];
  for (int codec = 0; codec < 2; codec++) {
    struct gen g = {.codec = codec ? FP_CODEC_CBOR : FP_CODEC_MSGPACK};
    ts_rng_seed(&g.rng, 20240601u + (uint64_t)codec);
    for (int round = 0; round < 3000; round++) {
      fp_mp_writer_init(&g.mp, buf, sizeof buf);
      fp_cbor_writer_init(&g.cb, buf, sizeof buf);
      gen_value(&g, 0);
      size_t len = g.codec == FP_CODEC_CBOR ? g.cb.len : g.mp.len;
      assert_int_equal(g.codec == FP_CODEC_CBOR ? g.cb.err : g.mp.err, 0);
      char *json = NULL;
      char *msg = NULL;
      if (run_decode(g.codec, buf, len, &json, &msg) != 0)
        fail_msg("round %d: decode of %s failed: %s", round, ts_hex(buf, len), msg);
      uint8_t *bin;
      size_t n;
      if (run_encode(g.codec, json, strlen(json), &bin, &n, &msg) != 0)
        fail_msg("round %d: encode of %s failed: %s", round, json, msg);
      if (n != len || memcmp(bin, buf, len) != 0)
        fail_msg("round %d (%s): %s -> %s -> %s", round, fp_codec_name(g.codec), ts_hex(buf, len),
                 json, tohex(bin, n));
      free(bin);
      free(json);
    }
  }
}

/* The decoder refuses to print a map that would read back differently. */
static void test_map_forms(void **state)
{
  (void)state;
  /* Two keys both starting with '$' are no special form: plain object. */
  check_decode(FP_CODEC_MSGPACK, "82a22461c0a22462c0", "{\"$a\":null,\"$b\":null}");
  /* Keys differing only in length are not duplicates. */
  check_decode(FP_CODEC_CBOR, "a2616100626161 01", "{\"a\":0,\"aa\":1}");
  /* The empty key is a key like any other, also twice. */
  check_decode(FP_CODEC_CBOR, "a2600060 01", "{\"$map\":[[\"\",0],[\"\",1]]}");
  /* A tagged key is not text. */
  check_decode(FP_CODEC_CBOR, "a1c1616100", "{\"$map\":[[{\"$tag\":[1,\"a\"]},0]]}");
  /* Large map: duplicates found however far apart. */
  uint8_t bin[3 + 300 * 4];
  size_t n = 0;
  bin[n++] = 0xde; /* map16 */
  bin[n++] = 0x01;
  bin[n++] = 0x2c; /* 300 pairs */
  for (unsigned i = 0; i < 300; i++) {
    bin[n++] = 0xa2; /* 2-byte key */
    bin[n++] = (uint8_t)('a' + i % 26);
    bin[n++] = (uint8_t)('a' + (i == 299 ? 0 : i / 26));
    bin[n++] = 0x00;
  }
  char *json = NULL;
  char *msg = NULL;
  assert_int_equal(run_decode(FP_CODEC_MSGPACK, bin, n, &json, &msg), 0);
  /* key 299 = "na"... no: 299 % 26 = 13 ('n'), forced second 'a' = "na",
   * the same as key 13 ("na"): the whole map takes the pair form. */
  assert_true(strncmp(json, "{\"$map\":[[\"aa\",0],", 18) == 0);
  free(json);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      CODEC_CASE_TESTS,
      cmocka_unit_test(test_map_forms),
      cmocka_unit_test(test_random_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
