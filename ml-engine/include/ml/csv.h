/* SPDX-License-Identifier: MIT */
/*
 * The `timestamp,value` CSV that `ml-engine detect` reads and the benchmark
 * scorer matches against labelled windows: one strict row parser and one
 * timestamp parser, both for untrusted text. A row is two fields separated
 * by one comma, without quoting (neither field may hold a comma or a quote).
 * Timestamps are either a calendar time "YYYY-MM-DD HH:MM:SS[.ffffff]" (a
 * 'T' may replace the space and a trailing 'Z' is allowed; always UTC, the
 * form NAB's data files and labels use) or an integer count of Unix
 * milliseconds (the form of the `ts` field on MQTT).
 */
#ifndef ML_CSV_H
#define ML_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest row the parsers accept, in bytes, without its line terminator. */
#define ML_CSV_MAX_LINE 1024

/* Longest number text accepted in the value field (digits, sign, exponent). */
#define ML_CSV_MAX_NUMBER 64

struct ml_csv_row {
  const char *ts;   /* the timestamp field, not NUL-terminated (points into the line) */
  size_t ts_len;
  int64_t ts_us;    /* the timestamp in microseconds since 1970-01-01 00:00:00 UTC */
  const char *val;  /* the value field as written (points into the line) */
  size_t val_len;
  double value;     /* the value, always finite */
};

/*
 * True when line[0..len) is the header `timestamp,value` (the caller has
 * already removed the line terminator, "\n" or "\r\n").
 */
bool ml_csv_is_header(const char *line, size_t len);

/*
 * Parses one data row line[0..len), without its line terminator, into *row
 * (whose pointers then point into line). On failure *reason (if reason is
 * not NULL) is set to a static one-line English explanation, for messages
 * like "line 7: value is not a number". Returns 0, or:
 *   FARM_ETOOBIG     len > ML_CSV_MAX_LINE, or the value text is longer
 *                    than ML_CSV_MAX_NUMBER
 *   FARM_EEMPTY      the line is empty
 *   FARM_EMALFORMED  not exactly two fields, a quote or control character,
 *                    or the value is not a decimal number
 *   FARM_EMISSING    the timestamp or the value field is empty
 *   FARM_ERANGE      the value overflows a double, or a timestamp field is
 *                    out of range (month 13, 24:00:00, 30 February...)
 *   FARM_ETYPE       the timestamp is in neither accepted form
 */
int ml_csv_parse_row(const char *line, size_t len, struct ml_csv_row *row,
                     const char **reason);

/*
 * Parses a timestamp s[0..len) (either form above) into microseconds since
 * the Unix epoch. Returns 0, or FARM_ETYPE (neither form), FARM_ERANGE
 * (a field out of range, or a count that does not fit), FARM_EMISSING
 * (len is 0).
 */
int ml_time_parse(const char *s, size_t len, int64_t *us);

#endif /* ML_CSV_H */
