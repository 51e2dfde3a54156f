/* SPDX-License-Identifier: MIT */
/*
 * Unit test of farmctl's JSON parser and writer: the tree keeps member
 * order, duplicates, number text and offsets; strings unescape fully and
 * reject what is not UTF-8 or not JSON; every syntax error names its byte;
 * the writer escapes, separates and prints doubles in the shortest text
 * that reads back to the same value.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "json_parse.h"
#include "json_write.h"

static struct json_doc *parse_ok(const char *text)
{
  struct json_doc *doc = NULL;
  struct json_error err;
  int rc = json_parse(text, strlen(text), 32, &doc, &err);
  if (rc != 0)
    fail_msg("%s: byte %zu: %s", text, err.offset, err.msg);
  return doc;
}

static void test_tree_keeps_order_duplicates_and_text(void **state)
{
  (void)state;
  const char *text = "{\"b\": 1, \"a\": [true, false, null], \"b\": -0.50e+1,"
                     " \"big\": 123456789012345678901234567890}";
  struct json_doc *doc = parse_ok(text);
  const struct json_value *r = json_doc_root(doc);
  assert_int_equal(r->type, JT_OBJECT);
  assert_int_equal(r->count, 4);
  assert_true(json_is_str(json_key(r, 0), "b"));
  assert_true(json_is_str(json_key(r, 1), "a"));
  assert_true(json_is_str(json_key(r, 2), "b")); /* duplicate kept */
  assert_true(json_is_str(json_key(r, 3), "big"));
  assert_int_equal(json_key(r, 1)->offset, 9);
  const struct json_value *one = json_member(r, 0);
  assert_int_equal(one->type, JT_NUMBER);
  assert_true(one->integer);
  assert_string_equal(one->u.text, "1");
  assert_int_equal(one->offset, 6);
  const struct json_value *arr = json_member(r, 1);
  assert_int_equal(arr->type, JT_ARRAY);
  assert_int_equal(arr->count, 3);
  assert_int_equal(arr->offset, 14);
  assert_int_equal(arr->u.items[0].type, JT_TRUE);
  assert_int_equal(arr->u.items[1].type, JT_FALSE);
  assert_int_equal(arr->u.items[2].type, JT_NULL);
  assert_int_equal(arr->u.items[2].offset, 28);
  const struct json_value *f = json_member(r, 2);
  assert_false(f->integer);
  assert_string_equal(f->u.text, "-0.50e+1"); /* exactly as written */
  assert_int_equal(f->len, 8);
  const struct json_value *big = json_member(r, 3);
  assert_true(big->integer);
  assert_string_equal(big->u.text, "123456789012345678901234567890");
  json_doc_free(doc);

  doc = parse_ok(" \t\r\n[ ]\n");
  assert_int_equal(json_doc_root(doc)->type, JT_ARRAY);
  assert_int_equal(json_doc_root(doc)->count, 0);
  assert_int_equal(json_doc_root(doc)->offset, 4);
  json_doc_free(doc);
}

static void test_many_items(void **state)
{
  (void)state;
  /* Enough children to move the stack and the arena through several
   * reallocations; order must survive. */
  enum { N = 100000 };
  char *text = malloc(N * 8 + 8);
  assert_non_null(text);
  size_t n = 0;
  text[n++] = '[';
  for (int i = 0; i < N; i++)
    n += (size_t)sprintf(text + n, "%s[%d]", i ? "," : "", i);
  text[n++] = ']';
  text[n] = '\0';
  struct json_doc *doc = parse_ok(text);
  const struct json_value *r = json_doc_root(doc);
  assert_int_equal(r->count, N);
  for (int i = 0; i < N; i += 997) {
    char want[16];
    sprintf(want, "%d", i);
    assert_int_equal(r->u.items[i].count, 1);
    assert_string_equal(r->u.items[i].u.items[0].u.text, want);
  }
  json_doc_free(doc);
  free(text);
}

static void test_strings(void **state)
{
  (void)state;
  static const struct {
    const char *json;
    const char *want;
    size_t len;
  } cases[] = {
      {"\"\"", "", 0},
      {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
      {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
      {"\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4}, /* surrogate pair */
      {"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
      {"\"a\\u0000b\"", "a\0b", 3},                  /* NUL kept */
      {"\"\xe6\xb0\xb4\xf0\x90\x85\x91\"", "\xe6\xb0\xb4\xf0\x90\x85\x91", 7},
      {"\"\x7f\"", "\x7f", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct json_doc *doc = parse_ok(cases[i].json);
    const struct json_value *v = json_doc_root(doc);
    assert_int_equal(v->type, JT_STRING);
    assert_int_equal(v->len, cases[i].len);
    assert_memory_equal(v->u.text, cases[i].want, cases[i].len);
    assert_int_equal(v->u.text[v->len], '\0');
    json_doc_free(doc);
  }
}

static void expect_error(const char *text, size_t len, unsigned depth, int code, size_t offset,
                         const char *msg)
{
  struct json_doc *doc = (struct json_doc *)1;
  struct json_error err;
  int rc = json_parse(text, len, depth, &doc, &err);
  if (rc != code || err.offset != offset || strcmp(err.msg, msg) != 0)
    fail_msg("'%.*s': got %s at %zu (%s), want %s at %zu (%s)", (int)len, text, farm_errname(rc),
             err.offset, err.msg ? err.msg : "", farm_errname(code), offset, msg);
  assert_null(doc);
}

#define ERR(text, code, off, msg) expect_error(text, sizeof text - 1, 32, code, off, msg)

static void test_errors(void **state)
{
  (void)state;
  ERR("", FARM_EEMPTY, 0, "no JSON value in the input");
  ERR(" \n ", FARM_EEMPTY, 3, "no JSON value in the input");
  ERR("[1,2", FARM_ETRUNCATED, 4, "input ends inside an array");
  ERR("{\"a\":1", FARM_ETRUNCATED, 6, "input ends inside an object");
  ERR("{\"a\"", FARM_ETRUNCATED, 4, "input ends inside an object");
  ERR("{", FARM_ETRUNCATED, 1, "input ends inside an object");
  ERR("[", FARM_ETRUNCATED, 1, "input ends where a value was expected");
  ERR("\"abc", FARM_ETRUNCATED, 4, "input ends inside a string");
  ERR("\"ab\\\"", FARM_ETRUNCATED, 5, "input ends inside a string");
  ERR("-", FARM_ETRUNCATED, 1, "input ends inside a number");
  ERR("1.", FARM_ETRUNCATED, 2, "input ends inside a number");
  ERR("1e+", FARM_ETRUNCATED, 3, "input ends inside a number");
  ERR("nul", FARM_ETRUNCATED, 3, "input ends inside a literal");
  ERR("nulL", FARM_EMALFORMED, 0, "invalid literal (true, false or null?)");
  ERR("True", FARM_EMALFORMED, 0, "unexpected character where a value was expected");
  ERR("[1 2]", FARM_EMALFORMED, 3, "expected ',' or ']' in an array");
  ERR("{\"a\":1 \"b\":2}", FARM_EMALFORMED, 7, "expected ',' or '}' in an object");
  ERR("{\"a\" 1}", FARM_EMALFORMED, 5, "expected ':' after an object key");
  ERR("{1:2}", FARM_EMALFORMED, 1, "expected a string as object key");
  ERR("{\"a\":1,}", FARM_EMALFORMED, 7, "expected a string as object key");
  ERR("[1,]", FARM_EMALFORMED, 3, "unexpected character where a value was expected");
  ERR("01", FARM_EMALFORMED, 1, "invalid number (leading zero)");
  ERR("-a", FARM_EMALFORMED, 1, "invalid number (digit expected)");
  ERR("1.e5", FARM_EMALFORMED, 2, "invalid number (digit expected after '.')");
  ERR("1e+x", FARM_EMALFORMED, 3, "invalid number (digit expected in exponent)");
  ERR("+1", FARM_EMALFORMED, 0, "unexpected character where a value was expected");
  ERR(".5", FARM_EMALFORMED, 0, "unexpected character where a value was expected");
  ERR("[NaN]", FARM_EMALFORMED, 1, "unexpected character where a value was expected");
  ERR("1 2", FARM_ETRAILING, 2, "trailing characters after the JSON value");
  ERR("{} x", FARM_ETRAILING, 3, "trailing characters after the JSON value");
  ERR("\"a\x01\"", FARM_EMALFORMED, 2, "control character in a string (escape it)");
  ERR("\"\t\"", FARM_EMALFORMED, 1, "control character in a string (escape it)");
  ERR("\"\\a\"", FARM_EMALFORMED, 1, "invalid escape");
  ERR("\"\\u12\"", FARM_EMALFORMED, 1, "invalid \\u escape (4 hex digits)");
  ERR("\"\\u12g4\"", FARM_EMALFORMED, 1, "invalid \\u escape (4 hex digits)");
  ERR("\"x\\uD83D\"", FARM_EMALFORMED, 2, "lone high surrogate");
  ERR("\"\\uD83Dx\"", FARM_EMALFORMED, 1, "lone high surrogate");
  ERR("\"\\uD83D\\u0041\"", FARM_EMALFORMED, 1, "lone high surrogate");
  ERR("\"\\uD83D\\uD83D\"", FARM_EMALFORMED, 1, "lone high surrogate");
  ERR("\"\\uDE00\"", FARM_EMALFORMED, 1, "lone low surrogate");
  ERR("\"\xff\"", FARM_EUTF8, 1, "invalid UTF-8");
  ERR("\"a\xc3\"", FARM_EUTF8, 2, "invalid UTF-8");            /* cut sequence */
  ERR("\"\xc0\xaf\"", FARM_EUTF8, 1, "invalid UTF-8");         /* overlong */
  ERR("\"\xed\xa0\x80\"", FARM_EUTF8, 1, "invalid UTF-8");     /* surrogate */
  ERR("\"\xf4\x90\x80\x80\"", FARM_EUTF8, 1, "invalid UTF-8"); /* > U+10FFFF */
  ERR("\xef\xbb\xbf[]", FARM_EMALFORMED, 0,
      "unexpected character where a value was expected"); /* BOM */
  ERR("[\xff]", FARM_EUTF8, 1, "invalid UTF-8");
  ERR("[\"\\u0000\0\"]", FARM_EMALFORMED, 8, "control character in a string (escape it)");
}

static void test_depth(void **state)
{
  (void)state;
  char text[80];
  memset(text, '[', 33);
  memset(text + 33, ']', 33);
  expect_error(text, 66, 32, FARM_EDEPTH, 32, "nesting too deep");
  struct json_doc *doc;
  struct json_error err;
  assert_int_equal(json_parse(text + 1, 64, 32, &doc, &err), 0); /* 32 levels */
  json_doc_free(doc);
  expect_error("{\"a\":{}}", 8, 1, FARM_EDEPTH, 5, "nesting too deep");
  expect_error("[]", 2, 0, FARM_EDEPTH, 0, "nesting too deep");
  assert_int_equal(json_parse("7", 1, 0, &doc, &err), 0);
  json_doc_free(doc);
}

static void test_not_nul_terminated(void **state)
{
  (void)state;
  /* The parser reads exactly len bytes. */
  const char text[] = "[12345]garbage";
  expect_error(text, 4, 32, FARM_ETRUNCATED, 4, "input ends inside an array");
  struct json_doc *doc;
  struct json_error err;
  assert_int_equal(json_parse(text + 1, 3, 32, &doc, &err), 0);
  assert_string_equal(json_doc_root(doc)->u.text, "123");
  json_doc_free(doc);
}

static void test_format_double(void **state)
{
  (void)state;
  static const struct {
    double d;
    const char *want;
  } cases[] = {
      {1.0, "1.0"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {0.1, "0.1"},
      {1.5, "1.5"},
      {65504.0, "65504.0"},
      {100000.0, "100000.0"},
      {1520.0, "1520.0"},
      {0.0001, "0.0001"},
      {0.00001, "1e-05"},
      {1e15, "1000000000000000.0"},
      {1e300, "1e+300"},
      {1.1, "1.1"},
      {5e-324, "5e-324"},
      {DBL_MAX, "1.7976931348623157e+308"},
      {5.9604644775390625e-08, "5.9604644775390625e-08"}, /* %.16g rounds to even */
      {123456789.0, "123456789.0"},
      {0.30000000000000004, "0.30000000000000004"},
      {1e16, "1e+16"},
  };
  char buf[40];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = jw_format_double(buf, sizeof buf, cases[i].d);
    assert_string_equal(buf, cases[i].want);
    assert_int_equal(n, strlen(cases[i].want));
  }
}

static void test_writer(void **state)
{
  (void)state;
  struct json_writer w;
  jw_init(&w);
  jw_object_begin(&w);
  jw_ckey(&w, "a");
  jw_array_begin(&w);
  jw_null(&w);
  jw_bool(&w, true);
  jw_bool(&w, false);
  jw_u64(&w, UINT64_MAX);
  jw_i64(&w, INT64_MIN);
  jw_negint(&w, UINT64_MAX);
  jw_negint(&w, 0);
  jw_double(&w, 2.5);
  jw_array_end(&w);
  jw_key(&w, "q\"\\\n\x01\x1f\x7f", 7);
  jw_str(&w, "a\0b", 3);
  jw_ckey(&w, "h");
  jw_hex(&w, "\x00\xff\x10", 3);
  jw_ckey(&w, "parts");
  jw_str_begin(&w);
  jw_str_part(&w, "ab", 2);
  jw_str_part(&w, "", 0);
  jw_str_part(&w, "\xc3\xa9\t", 3);
  jw_str_end(&w);
  jw_ckey(&w, "o");
  jw_object_begin(&w);
  jw_object_end(&w);
  jw_object_end(&w);
  assert_int_equal(jw_status(&w), 0);
  assert_string_equal(w.buf,
                      "{\"a\":[null,true,false,18446744073709551615,-9223372036854775808,"
                      "-18446744073709551616,-1,2.5],\"q\\\"\\\\\\n\\u0001\\u001f\x7f\":"
                      "\"a\\u0000b\",\"h\":\"00ff10\",\"parts\":\"ab\xc3\xa9\\t\",\"o\":{}}");
  assert_int_equal(w.len, strlen(w.buf));
  jw_reset(&w);
  jw_u64(&w, 7);
  assert_string_equal(w.buf, "7");
  jw_free(&w);

  /* A long string grows the buffer many times. */
  jw_init(&w);
  char big[10000];
  memset(big, 'x', sizeof big);
  jw_str(&w, big, sizeof big);
  assert_int_equal(w.len, sizeof big + 2);
  jw_free(&w);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tree_keeps_order_duplicates_and_text),
      cmocka_unit_test(test_many_items),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_depth),
      cmocka_unit_test(test_not_nul_terminated),
      cmocka_unit_test(test_format_double),
      cmocka_unit_test(test_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
