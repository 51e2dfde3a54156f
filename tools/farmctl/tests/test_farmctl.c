/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the farmctl program: every case runs the real binary
 * ($FARM_BIN_DIR/farmctl) with a given stdin and checks its stdout, stderr
 * and exit status exactly. Covers crc16, frame encode/decode against
 * hand-computed frames and a stream with every kind of bad frame, codec
 * encode/decode on the shared cases and the conformance vectors (decode ->
 * encode byte for byte), msg decode, and usage errors.
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
#include "fp/frame.h"
#include "fp/msg.h"
#include "spawn.h"
#include "testsupport.h"

static const char *farmctl_path(void)
{
  static char path[4096];
  const char *dir = getenv("FARM_BIN_DIR");
  if (dir == NULL || dir[0] == '\0')
    fail_msg("FARM_BIN_DIR is not set: run the tests through ctest");
  snprintf(path, sizeof path, "%s/farmctl", dir);
  return path;
}

/* Runs farmctl with the NULL-terminated args after the program name. */
static void run(const char *const *args, const void *in, size_t len, struct spawn_result *res)
{
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)farmctl_path();
  for (; args[n - 1] != NULL; n++) {
    assert_true(n < 15);
    argv[n] = (char *)args[n - 1];
  }
  argv[n] = NULL;
  if (spawn_run(argv, in, len, res) != 0)
    fail_msg("cannot run %s", argv[0]);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Runs and checks status, stdout and stderr exactly (NULL: not checked). */
static void expect(const char *const *args, const void *in, size_t len, int status, const void *out,
                   size_t out_len, const char *err)
{
  struct spawn_result r;
  run(args, in, len, &r);
  if (r.status != status)
    fail_msg("%s ...: exit %d, want %d; stderr: %s", args[0], r.status, status, r.err);
  if (out != NULL && (r.out_len != out_len || memcmp(r.out, out, out_len) != 0))
    fail_msg("%s ...: stdout '%s' (%zu bytes), want '%.*s' (%zu bytes)", args[0], r.out, r.out_len,
             (int)out_len, (const char *)out, out_len);
  if (err != NULL)
    assert_string_equal(r.err, err);
  spawn_result_free(&r);
}

#define EXPECT_TEXT(args, in, status, out, err)                                                    \
  expect(args, in, strlen(in), status, out, (out) ? strlen(out) : 0, err)

/* ------------------------------------------------------------------------ */
/* Drivers for the shared codec cases.                                      */

static const char *format_arg(enum fp_codec c)
{
  return c == FP_CODEC_CBOR ? "cbor" : "msgpack";
}

/* The one error line without its "farmctl: " prefix and newline. */
static char *error_line(const struct spawn_result *r)
{
  if (r->out_len != 0)
    fail_msg("output on stdout despite an error: %s", r->out);
  size_t n = r->err_len;
  if (n < 10 || strncmp(r->err, "farmctl: ", 9) != 0 || r->err[n - 1] != '\n' ||
      memchr(r->err, '\n', n - 1) != NULL)
    fail_msg("stderr is not one 'farmctl: ' line: '%s'", r->err);
  char *msg = strndup(r->err + 9, n - 10);
  assert_non_null(msg);
  return msg;
}

static int run_decode(enum fp_codec c, const uint8_t *in, size_t len, char **json, char **msg)
{
  struct spawn_result r;
  run(ARGS("codec", "decode", "--format", format_arg(c)), in, len, &r);
  int status = r.status;
  if (status == 1) {
    *msg = error_line(&r);
  } else if (status == 0) {
    if (r.err_len != 0 || r.out_len == 0 || r.out[r.out_len - 1] != '\n' ||
        memchr(r.out, '\n', r.out_len - 1) != NULL)
      fail_msg("decode: want one line on stdout, nothing on stderr; got '%s' / '%s'", r.out, r.err);
    *json = strndup(r.out, r.out_len - 1);
    assert_non_null(*json);
  } else {
    fail_msg("decode: exit %d (%s)", status, r.err);
  }
  spawn_result_free(&r);
  return status;
}

static int run_encode(enum fp_codec c, const char *json, size_t len, uint8_t **bin, size_t *bin_len,
                      char **msg)
{
  struct spawn_result r;
  run(ARGS("codec", "encode", "--format", format_arg(c)), json, len, &r);
  int status = r.status;
  if (status == 1) {
    *msg = error_line(&r);
  } else if (status == 0) {
    if (r.err_len != 0)
      fail_msg("encode: stderr '%s' on success", r.err);
    *bin = malloc(r.out_len + 1);
    assert_non_null(*bin);
    memcpy(*bin, r.out, r.out_len);
    *bin_len = r.out_len;
  } else {
    fail_msg("encode: exit %d (%s)", status, r.err);
  }
  spawn_result_free(&r);
  return status;
}

#include "codec_cases.h"

/* ------------------------------------------------------------------------ */

static void test_crc16(void **state)
{
  (void)state;
  /* The catalogue check value of CRC-16/CCITT-FALSE. */
  EXPECT_TEXT(ARGS("crc16"), "123456789", 0, "29b1\n", "");
  EXPECT_TEXT(ARGS("crc16"), "", 0, "ffff\n", "");
  expect(ARGS("crc16"), "\x00", 1, 0, "e1f0\n", 5, "");
}

static void test_frame_encode(void **state)
{
  (void)state;
  /* COBS(payload || crc16_be) 0x00, worked out by hand from the CRC
   * catalogue algorithm and the COBS paper. */
  static const struct {
    const char *payload;
    const char *frame;
  } cases[] = {
      {"01", "0401f1d100"},         {"11220033", "0311220433074500"},
      {"00", "0103e1f000"},         {"68656c6c6f", "0868656c6c6fd26e00"},
      {"010203", "06010203adad00"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n;
    uint8_t *p = unhex(cases[i].payload, &n);
    size_t fn;
    uint8_t *f = unhex(cases[i].frame, &fn);
    expect(ARGS("frame", "encode"), p, n, 0, f, fn, "");
    free(p);
    free(f);
  }
  /* 254 non-zero bytes fill one whole COBS block (code 0xff). */
  uint8_t p[254];
  uint8_t f[1 + 254 + 4];
  for (int i = 0; i < 254; i++)
    p[i] = (uint8_t)(i + 1);
  f[0] = 0xff;
  memcpy(f + 1, p, 254);
  memcpy(f + 255, "\x03\x5c\x1d\x00", 4);
  expect(ARGS("frame", "encode"), p, sizeof p, 0, f, sizeof f, "");

  /* Payload size limits: 1..2048. */
  EXPECT_TEXT(ARGS("frame", "encode"), "", 1, "",
              "farmctl: empty payload (a frame carries 1..2048 bytes)\n");
  static uint8_t big[FP_FRAME_MAX_PAYLOAD + 1];
  memset(big, 0xab, sizeof big);
  expect(ARGS("frame", "encode"), big, sizeof big, 1, "", 0,
         "farmctl: payload larger than 2048 bytes (a frame carries 1..2048)\n");
  struct spawn_result r;
  run(ARGS("frame", "encode"), big, FP_FRAME_MAX_PAYLOAD, &r);
  assert_int_equal(r.status, 0);
  assert_true(r.out_len > FP_FRAME_MAX_PAYLOAD + 2);
  assert_int_equal(r.out[r.out_len - 1], 0);
  assert_null(memchr(r.out, 0, r.out_len - 1));
  spawn_result_free(&r);
}

static size_t append(uint8_t *buf, size_t n, const char *hex)
{
  long k = ts_hex_decode(hex, buf + n, 4096);
  assert_true(k >= 0);
  return n + (size_t)k;
}

static void test_frame_decode_stream(void **state)
{
  (void)state;
  static uint8_t s[8192];
  size_t n = 0;
  n = append(s, n, "06010203adad00"); /* good: 010203 */
  n = append(s, n, "0541434b7400");   /* "AB" with B -> C: CRC error */
  n = append(s, n, "05010200");       /* code 5, two bytes: COBS error */
  memset(s + n, 0x55, 3000);          /* a run past the largest frame */
  n += 3000;
  s[n++] = 0x00;
  n = append(s, n, "00");       /* a delimiter alone: empty */
  n = append(s, n, "020100");   /* one byte: shorter than a CRC */
  memcpy(s + n, "garbage!", 8); /* 'g' = code 103: COBS error */
  n += 8;
  s[n++] = 0x00;
  n = append(s, n, "0868656c6c6fd26e00"); /* good: "hello" */
  n = append(s, n, "0301");               /* partial at the end: not counted */
  char err[128];
  snprintf(err, sizeof err, "frames=2 empty=1 short=1 cobs=2 crc=1 oversize=1 bytes=%zu\n", n);
  expect(ARGS("frame", "decode"), s, n, 0, "010203\n68656c6c6f\n", 18, err);
  expect(ARGS("frame", "decode"), "", 0, 0, "", 0,
         "frames=0 empty=0 short=0 cobs=0 crc=0 oversize=0 bytes=0\n");
}

/* Many maximum-size frames: read in chunks, each split across reads. */
static void test_frame_decode_large(void **state)
{
  (void)state;
  enum { FRAMES = 100 };
  size_t cap = FRAMES * FP_FRAME_MAX_WIRE;
  uint8_t *s = malloc(cap);
  char *want = malloc(FRAMES * (2 * FP_FRAME_MAX_PAYLOAD + 1) + 1);
  assert_non_null(s);
  assert_non_null(want);
  size_t n = 0;
  size_t wn = 0;
  uint8_t p[FP_FRAME_MAX_PAYLOAD];
  for (int f = 0; f < FRAMES; f++) {
    for (size_t i = 0; i < sizeof p; i++)
      p[i] = (uint8_t)(i * 7 + (size_t)f);
    size_t k;
    assert_int_equal(fp_frame_encode(p, sizeof p, s + n, cap - n, &k), 0);
    n += k;
    for (size_t i = 0; i < sizeof p; i++)
      wn += (size_t)sprintf(want + wn, "%02x", p[i]);
    want[wn++] = '\n';
  }
  char err[128];
  snprintf(err, sizeof err, "frames=%d empty=0 short=0 cobs=0 crc=0 oversize=0 bytes=%zu\n", FRAMES,
           n);
  expect(ARGS("frame", "decode"), s, n, 0, want, wn, err);
  free(want);
  free(s);
}

static size_t add_frame(uint8_t *s, size_t n, size_t cap, const uint8_t *p, size_t len)
{
  size_t k;
  assert_int_equal(fp_frame_encode(p, len, s + n, cap - n, &k), 0);
  return n + k;
}

static void test_msg_decode(void **state)
{
  (void)state;
  struct fp_msg tel = {.type = FP_MSG_TEL, .gseq = 1};
  memcpy(tel.u.tel.mac, "\x24\x6f\x28\xa1\xb2\xc3", 6);
  tel.u.tel.rssi = -61;
  tel.u.tel.boot = 3;
  tel.u.tel.seq = 42;
  tel.u.tel.up_ms = 86400000;
  tel.u.tel.n_metrics = 2;
  strcpy(tel.u.tel.v[0].name, "temp_c");
  tel.u.tel.v[0].value = 21.5;
  strcpy(tel.u.tel.v[1].name, "rh_pct");
  tel.u.tel.v[1].value = 64.25;
  struct fp_msg ack = {.type = FP_MSG_ACK, .gseq = 2, .id = 7};
  ack.u.ack.ok = false;
  ack.u.ack.stage = FP_STAGE_NODE;
  strcpy(ack.u.ack.err, "relay busy");
  const char *want_out =
      "{\"t\":\"tel\",\"gseq\":1,\"mac\":\"246f28a1b2c3\",\"rssi\":-61,\"boot\":3,"
      "\"seq\":42,\"up_ms\":86400000,\"v\":{\"temp_c\":21.5,\"rh_pct\":64.25}}\n"
      "{\"t\":\"ack\",\"gseq\":2,\"id\":7,\"ok\":false,\"stage\":\"node\","
      "\"err\":\"relay busy\"}\n";

  for (int codec = 0; codec < 2; codec++) {
    enum fp_codec c = codec ? FP_CODEC_CBOR : FP_CODEC_MSGPACK;
    static uint8_t s[4096];
    size_t n = 0;
    uint8_t p[FP_MSG_MAX_ENCODED];
    size_t len;
    assert_int_equal(fp_msg_encode(&tel, c, p, sizeof p, &len), 0);
    n = add_frame(s, n, sizeof s, p, len);
    /* {"t":"nope"}: a well-formed map the schema rejects. */
    const char *bad_hex = c == FP_CODEC_CBOR ? "a16174646e6f7065" : "81a174a46e6f7065";
    uint8_t bad[16];
    size_t bad_len = (size_t)ts_hex_decode(bad_hex, bad, sizeof bad);
    n = add_frame(s, n, sizeof s, bad, bad_len);
    /* A good message with a flipped bit: dropped by the CRC, never seen. */
    size_t before = n;
    n = add_frame(s, n, sizeof s, p, len);
    s[before + 3] ^= 0x01;
    assert_int_equal(fp_msg_encode(&ack, c, p, sizeof p, &len), 0);
    n = add_frame(s, n, sizeof s, p, len);

    /* The reason is the schema decoder's own text for that payload. */
    struct fp_msg m;
    struct fp_msg_error e;
    assert_int_equal(fp_msg_decode(bad, bad_len, c, &m, &e), FARM_EUNKNOWN);
    char why[256];
    fp_msg_error_format(&e, why, sizeof why);
    assert_non_null(strstr(why, "\"t\""));
    char err[512];
    snprintf(err, sizeof err,
             "frame 2: %s\nframes=3 empty=0 short=0 cobs=0 crc=1 oversize=0 bytes=%zu"
             " messages=2 invalid=1\n",
             why, n);
    expect(ARGS("msg", "decode", "--format", format_arg(c)), s, n, 0, want_out, strlen(want_out),
           err);
    if (c == FP_CODEC_MSGPACK) /* the default */
      expect(ARGS("msg", "decode"), s, n, 0, want_out, strlen(want_out), err);
  }
}

static void test_input_limit(void **state)
{
  (void)state;
  size_t max = 16u * 1024 * 1024;
  char *in = malloc(max + 1);
  assert_non_null(in);
  /* Exactly 16 MiB is read: one JSON string of 16 MiB - 2 bytes. */
  memset(in, 'a', max);
  in[0] = '"';
  in[max - 1] = '"';
  struct spawn_result r;
  run(ARGS("codec", "encode", "--format", "msgpack"), in, max, &r);
  assert_int_equal(r.status, 0);
  assert_int_equal(r.out_len, 5 + max - 2);
  assert_memory_equal(r.out, "\xdb\x00\xff\xff\xfe", 5); /* str32, 2^24 - 2 */
  spawn_result_free(&r);
  /* One byte more is refused, in both directions. */
  in[max] = ' ';
  expect(ARGS("codec", "encode", "--format", "cbor"), in, max + 1, 1, "", 0,
         "farmctl: input larger than 16 MiB\n");
  expect(ARGS("codec", "decode", "--format", "cbor"), in, max + 1, 1, "", 0,
         "farmctl: input larger than 16 MiB\n");
  free(in);
}

static void test_usage_errors(void **state)
{
  (void)state;
  const struct {
    const char *const *args;
    const char *err;
  } cases[] = {
      {ARGS("bogus"), "farmctl: unknown command 'bogus'\nrun 'farmctl --help' for usage\n"},
      {ARGS("codec"), "farmctl: codec needs a subcommand: encode or decode\n"
                      "run 'farmctl codec --help' for usage\n"},
      {ARGS("codec", "decode"), "farmctl: codec decode needs --format msgpack or --format cbor\n"
                                "run 'farmctl codec --help' for usage\n"},
      {ARGS("codec", "encode", "--format", "xml"), "farmctl: unknown format 'xml': use msgpack or "
                                                   "cbor\nrun 'farmctl codec --help' for usage\n"},
      {ARGS("codec", "encode", "--format"),
       "farmctl: --format needs a value: msgpack or cbor\nrun 'farmctl codec --help' for usage\n"},
      {ARGS("codec", "decode", "--format=cbor", "extra"),
       "farmctl: unexpected argument 'extra'\nrun 'farmctl codec --help' for usage\n"},
      {ARGS("codec", "decode", "--verbose"),
       "farmctl: unknown option '--verbose'\nrun 'farmctl codec --help' for usage\n"},
      {ARGS("codec", "convert"), "farmctl: unknown subcommand 'convert': use encode or decode\n"
                                 "run 'farmctl codec --help' for usage\n"},
      {ARGS("frame"), "farmctl: frame needs a subcommand: encode or decode\n"
                      "run 'farmctl frame --help' for usage\n"},
      {ARGS("frame", "check"), "farmctl: unknown subcommand 'check': use encode or decode\n"
                               "run 'farmctl frame --help' for usage\n"},
      {ARGS("frame", "decode", "x"), "farmctl: frame decode takes no argument (got 'x')\n"
                                     "run 'farmctl frame --help' for usage\n"},
      {ARGS("crc16", "x"), "farmctl: crc16 takes no argument (got 'x')\n"
                           "run 'farmctl crc16 --help' for usage\n"},
      {ARGS("msg"),
       "farmctl: msg needs a subcommand: decode\nrun 'farmctl msg --help' for usage\n"},
      {ARGS("msg", "encode"), "farmctl: unknown subcommand 'encode': use decode\n"
                              "run 'farmctl msg --help' for usage\n"},
      {ARGS("msg", "decode", "--format", "json"),
       "farmctl: unknown format 'json': use msgpack or cbor\nrun 'farmctl msg --help' for usage\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    EXPECT_TEXT(cases[i].args, "", 2, "", cases[i].err);
  /* No command at all. */
  struct spawn_result r;
  char *argv[] = {(char *)farmctl_path(), NULL};
  assert_int_equal(spawn_run(argv, "", 0, &r), 0);
  assert_int_equal(r.status, 2);
  assert_string_equal(r.err, "farmctl: missing command\nrun 'farmctl --help' for usage\n");
  spawn_result_free(&r);
}

static void test_help(void **state)
{
  (void)state;
  const char *const *helps[] = {
      ARGS("--help"),
      ARGS("-h"),
      ARGS("crc16", "--help"),
      ARGS("frame", "--help"),
      ARGS("frame", "decode", "-h"),
      ARGS("codec", "--help"),
      ARGS("codec", "decode", "--help"),
      ARGS("codec", "encode", "--format", "cbor", "-h"),
      ARGS("msg", "--help"),
      ARGS("msg", "decode", "--help"),
  };
  for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
    struct spawn_result r;
    run(helps[i], "", 0, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_true(strncmp(r.out, "usage: farmctl", 14) == 0);
    spawn_result_free(&r);
  }
  /* The codec help documents every special form. */
  struct spawn_result r;
  run(ARGS("codec", "--help"), "", 0, &r);
  const char *forms[] = {"$float",     "$bin",    "$ext", "$timestamp", "$tag",
                         "$undefined", "$simple", "$map", "byte 17"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    if (strstr(r.out, forms[i]) == NULL)
      fail_msg("codec --help does not mention %s", forms[i]);
  spawn_result_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc16),
      cmocka_unit_test(test_frame_encode),
      cmocka_unit_test(test_frame_decode_stream),
      cmocka_unit_test(test_frame_decode_large),
      cmocka_unit_test(test_msg_decode),
      CODEC_CASE_TESTS,
      cmocka_unit_test(test_input_limit),
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_help),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
