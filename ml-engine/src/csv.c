/* SPDX-License-Identifier: MIT */
/*
 * Strict parsing of `timestamp,value` rows and of the two timestamp forms.
 * Everything here reads untrusted text: every byte is checked before it is
 * used, numbers are validated against a fixed grammar before strtod sees
 * them (so "nan", "inf", hex floats and leading blanks, which strtod would
 * take, are refused), and nothing is allocated.
 */
#include "ml/csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

static const char HEADER[] = "timestamp,value";

bool ml_csv_is_header(const char *line, size_t len)
{
  return len == sizeof HEADER - 1 && memcmp(line, HEADER, len) == 0;
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* Reads exactly n digits at s as a decimal number. */
static bool digits(const char *s, size_t n, int *out)
{
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar: the
 * era arithmetic of H. Hinnant's "chrono-Compatible Low-Level Date
 * Algorithms" (days_from_civil), re-derived here. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                          /* [0, 399] */
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  /* [0, 146096] */
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : dm[m - 1];
}

/* "YYYY-MM-DD HH:MM:SS[.f{1,6}][Z]" with ' ' or 'T' between date and time. */
static int parse_calendar(const char *s, size_t len, int64_t *us)
{
  int y, mo, d, h, mi, se;
  if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':')
    return FARM_ETYPE;
  if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
      !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
    return FARM_ETYPE;
  size_t i = 19;
  int64_t frac = 0;
  if (i < len && s[i] == '.') {
    size_t n = 0;
    for (i++; i < len && is_digit(s[i]); i++, n++) {
      if (n == 6)
        return FARM_ETYPE; /* finer than the microseconds we keep */
      frac = frac * 10 + (s[i] - '0');
    }
    if (n == 0)
      return FARM_ETYPE;
    for (; n < 6; n++)
      frac *= 10;
  }
  if (i < len && s[i] == 'Z')
    i++;
  if (i != len)
    return FARM_ETYPE;
  /* Leap seconds are not representable in Unix time, so :60 is refused. */
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || se > 59)
    return FARM_ERANGE;
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  *us = secs * 1000000 + frac;
  return 0;
}

/* A non-negative integer count of Unix milliseconds. */
static int parse_unix_ms(const char *s, size_t len, int64_t *us)
{
  /* The largest count whose microseconds still fit in an int64_t. */
  const int64_t max_ms = INT64_MAX / 1000;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!is_digit(s[i]))
      return FARM_ETYPE;
    int dgt = s[i] - '0';
    if (v > (max_ms - dgt) / 10)
      return FARM_ERANGE;
    v = v * 10 + dgt;
  }
  *us = v * 1000;
  return 0;
}

int ml_time_parse(const char *s, size_t len, int64_t *us)
{
  if (len == 0)
    return FARM_EMISSING;
  if (len >= 19 && s[4] == '-')
    return parse_calendar(s, len, us);
  return parse_unix_ms(s, len, us);
}

/* The decimal grammar [+-]? (D+ (. D*)? | . D+) ([eE] [+-]? D+)?: exactly
 * the numbers strtod reads the same in every C locale, nothing else. */
static bool decimal_syntax(const char *s, size_t len)
{
  size_t i = 0, int_digits = 0, frac_digits = 0;
  if (i < len && (s[i] == '+' || s[i] == '-'))
    i++;
  for (; i < len && is_digit(s[i]); i++)
    int_digits++;
  if (i < len && s[i] == '.')
    for (i++; i < len && is_digit(s[i]); i++)
      frac_digits++;
  if (int_digits + frac_digits == 0)
    return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t exp_digits = 0;
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-'))
      i++;
    for (; i < len && is_digit(s[i]); i++)
      exp_digits++;
    if (exp_digits == 0)
      return false;
  }
  return i == len;
}

static int fail(const char **reason, const char *why, int err)
{
  if (reason != NULL)
    *reason = why;
  return err;
}

int ml_csv_parse_row(const char *line, size_t len, struct ml_csv_row *row,
                     const char **reason)
{
  if (len == 0)
    return fail(reason, "empty line", FARM_EEMPTY);
  if (len > ML_CSV_MAX_LINE)
    return fail(reason, "line too long", FARM_ETOOBIG);
  const char *comma = NULL;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)line[i];
    if (c < 0x20 || c == 0x7f)
      return fail(reason, "control character in row", FARM_EMALFORMED);
    if (c == '"')
      return fail(reason, "quoted fields are not supported", FARM_EMALFORMED);
    if (c == ',') {
      if (comma != NULL)
        return fail(reason, "more than two fields", FARM_EMALFORMED);
      comma = line + i;
    }
  }
  if (comma == NULL)
    return fail(reason, "expected two fields: timestamp,value", FARM_EMALFORMED);

  row->ts = line;
  row->ts_len = (size_t)(comma - line);
  row->val = comma + 1;
  row->val_len = len - row->ts_len - 1;
  if (row->ts_len == 0)
    return fail(reason, "empty timestamp", FARM_EMISSING);
  if (row->val_len == 0)
    return fail(reason, "empty value", FARM_EMISSING);

  int err = ml_time_parse(row->ts, row->ts_len, &row->ts_us);
  if (err == FARM_ERANGE)
    return fail(reason, "timestamp out of range", err);
  if (err != 0)
    return fail(reason,
                "timestamp is neither YYYY-MM-DD HH:MM:SS[.ffffff] nor Unix milliseconds",
                FARM_ETYPE);

  if (row->val_len > ML_CSV_MAX_NUMBER)
    return fail(reason, "value too long", FARM_ETOOBIG);
  if (!decimal_syntax(row->val, row->val_len))
    return fail(reason, "value is not a decimal number", FARM_EMALFORMED);
  char num[ML_CSV_MAX_NUMBER + 1];
  memcpy(num, row->val, row->val_len);
  num[row->val_len] = '\0';
  errno = 0;
  double v = strtod(num, NULL);
  /* Underflow to zero or a subnormal is a fine reading; overflow is not. */
  if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
    return fail(reason, "value out of range", FARM_ERANGE);
  row->value = v;
  return 0;
}
