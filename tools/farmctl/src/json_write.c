/* SPDX-License-Identifier: MIT */
/*
 * The JSON writer of json_write.h. Separators follow from one flag: after a
 * completed value (or a closing bracket) the next value or key needs a ',';
 * after an opening bracket or a key it does not.
 */
#include "json_write.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

void jw_init(struct json_writer *w)
{
  memset(w, 0, sizeof *w);
}

void jw_free(struct json_writer *w)
{
  free(w->buf);
  jw_init(w);
}

void jw_reset(struct json_writer *w)
{
  w->len = 0;
  w->need_sep = false;
  w->oom = false;
  if (w->buf != NULL)
    w->buf[0] = '\0';
}

int jw_status(const struct json_writer *w)
{
  return w->oom ? FARM_ENOMEM : 0;
}

static void put(struct json_writer *w, const void *p, size_t n)
{
  if (w->oom || n == 0)
    return;
  if (w->cap - w->len <= n) {
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len <= n) {
      if (cap > SIZE_MAX / 2) {
        w->oom = true;
        return;
      }
      cap *= 2;
    }
    char *b = realloc(w->buf, cap);
    if (b == NULL) {
      w->oom = true;
      return;
    }
    w->buf = b;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

static void putc_(struct json_writer *w, char c)
{
  put(w, &c, 1);
}

static void sep(struct json_writer *w)
{
  if (w->need_sep)
    putc_(w, ',');
  w->need_sep = false;
}

void jw_raw_value(struct json_writer *w, const char *text, size_t len)
{
  sep(w);
  put(w, text, len);
  w->need_sep = true;
}

void jw_null(struct json_writer *w)
{
  jw_raw_value(w, "null", 4);
}

void jw_bool(struct json_writer *w, bool b)
{
  if (b)
    jw_raw_value(w, "true", 4);
  else
    jw_raw_value(w, "false", 5);
}

void jw_u64(struct json_writer *w, uint64_t u)
{
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%" PRIu64, u);
  jw_raw_value(w, buf, (size_t)n);
}

void jw_i64(struct json_writer *w, int64_t i)
{
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%" PRId64, i);
  jw_raw_value(w, buf, (size_t)n);
}

void jw_negint(struct json_writer *w, uint64_t n)
{
  /* -1 - n = -(n + 1); n + 1 overflows only for n = 2^64 - 1. */
  if (n == UINT64_MAX) {
    jw_raw_value(w, "-18446744073709551616", 21);
    return;
  }
  char buf[24];
  int k = snprintf(buf, sizeof buf, "-%" PRIu64, n + 1);
  jw_raw_value(w, buf, (size_t)k);
}

size_t jw_format_double(char *buf, size_t cap, double d)
{
  assert(isfinite(d) && cap >= 32);
  int n = 0;
  int prec = 1;
  /* The fewest significant digits that read back to the same double; 17
   * always suffice (IEEE 754 §5.12.2). */
  for (; prec <= 17; prec++) {
    n = snprintf(buf, cap, "%.*e", prec - 1, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  /* People read 1520.0 and 0.0012 better than 1.52e+03 and 1.2e-03: use
   * positional notation for exponents -4..15 (as Python's repr does), with as many
   * decimals as the significant digits need (at least one, so the text
   * reads back as a float, not an integer). */
  int exp10 = atoi(strchr(buf, 'e') + 1);
  if (exp10 >= -4 && exp10 < 16) {
    int decimals = prec - 1 - exp10;
    if (decimals < 1)
      decimals = 1;
    n = snprintf(buf, cap, "%.*f", decimals, d);
    assert(strtod(buf, NULL) == d);
  }
  return (size_t)n;
}

void jw_double(struct json_writer *w, double d)
{
  char buf[40];
  size_t n = jw_format_double(buf, sizeof buf, d);
  jw_raw_value(w, buf, n);
}

void jw_str_begin(struct json_writer *w)
{
  sep(w);
  putc_(w, '"');
}

void jw_str_part(struct json_writer *w, const void *s, size_t len)
{
  static const char hexd[] = "0123456789abcdef";
  const unsigned char *p = s;
  size_t run = 0; /* bytes that need no escape, copied in one go */
  if (len == 0)
    return;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = p[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      run++;
      continue;
    }
    put(w, p + i - run, run);
    run = 0;
    char esc[6] = {'\\', 0};
    size_t n = 2;
    switch (c) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      /* RFC 8259 §7: other control characters as \u00XX. */
      esc[1] = 'u', esc[2] = '0', esc[3] = '0';
      esc[4] = hexd[c >> 4], esc[5] = hexd[c & 15];
      n = 6;
      break;
    }
    put(w, esc, n);
  }
  put(w, p + len - run, run);
}

void jw_str_end(struct json_writer *w)
{
  putc_(w, '"');
  w->need_sep = true;
}

void jw_str(struct json_writer *w, const void *s, size_t len)
{
  jw_str_begin(w);
  jw_str_part(w, s, len);
  jw_str_end(w);
}

void jw_cstr(struct json_writer *w, const char *s)
{
  jw_str(w, s, strlen(s));
}

void jw_hex_part(struct json_writer *w, const void *p, size_t len)
{
  static const char hexd[] = "0123456789abcdef";
  const unsigned char *b = p;
  char chunk[128];
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    chunk[n++] = hexd[b[i] >> 4];
    chunk[n++] = hexd[b[i] & 15];
    if (n == sizeof chunk) {
      put(w, chunk, n);
      n = 0;
    }
  }
  put(w, chunk, n);
}

void jw_hex(struct json_writer *w, const void *p, size_t len)
{
  jw_str_begin(w);
  jw_hex_part(w, p, len);
  jw_str_end(w);
}

void jw_array_begin(struct json_writer *w)
{
  sep(w);
  putc_(w, '[');
}

void jw_array_end(struct json_writer *w)
{
  putc_(w, ']');
  w->need_sep = true;
}

void jw_object_begin(struct json_writer *w)
{
  sep(w);
  putc_(w, '{');
}

void jw_object_end(struct json_writer *w)
{
  putc_(w, '}');
  w->need_sep = true;
}

void jw_key(struct json_writer *w, const void *s, size_t len)
{
  jw_str(w, s, len);
  putc_(w, ':');
  w->need_sep = false;
}

void jw_ckey(struct json_writer *w, const char *s)
{
  jw_key(w, s, strlen(s));
}
