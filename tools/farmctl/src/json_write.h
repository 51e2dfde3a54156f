/* SPDX-License-Identifier: MIT */
/*
 * A compact JSON writer into a growing memory buffer. It places the commas
 * and colons itself, escapes strings, prints integers over the whole range
 * of both codecs (down to -2^64) and doubles in the shortest text that reads
 * back to the same value. farmctl builds a whole document in memory and
 * prints it only once it is complete, so a failed conversion never leaves
 * half a document on stdout.
 */
#ifndef FARMCTL_JSON_WRITE_H
#define FARMCTL_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_writer {
  char *buf; /* malloc'd, owned by the writer; NUL-terminated */
  size_t len;
  size_t cap;
  bool need_sep; /* a value was just completed: the next one needs a ',' */
  bool oom;      /* sticky allocation failure */
};

void jw_init(struct json_writer *w);
/* Frees the buffer; the writer may be initialised again. */
void jw_free(struct json_writer *w);
/* Empties the buffer, keeping its memory. */
void jw_reset(struct json_writer *w);
/* 0, or FARM_ENOMEM if any allocation failed since init/reset. */
int jw_status(const struct json_writer *w);

void jw_null(struct json_writer *w);
void jw_bool(struct json_writer *w, bool b);
void jw_u64(struct json_writer *w, uint64_t u);
void jw_i64(struct json_writer *w, int64_t i);
/* The integer -1 - n (CBOR major type 1): covers -1 .. -2^64. */
void jw_negint(struct json_writer *w, uint64_t n);
/*
 * A finite double in the shortest %.{1..17}g text that reads back to the
 * same value, with ".0" appended when that text would read as an integer
 * (1.0, -0.0, 65504.0), so JSON keeps floats and integers apart. Asserts
 * that d is finite: NaN and infinities have no JSON number.
 */
void jw_double(struct json_writer *w, double d);
/* A string from len bytes of UTF-8 (may contain NUL). */
void jw_str(struct json_writer *w, const void *s, size_t len);
void jw_cstr(struct json_writer *w, const char *s);
/* Pieces of one string, for text that arrives in chunks: begin, any number
 * of parts, end. */
void jw_str_begin(struct json_writer *w);
void jw_str_part(struct json_writer *w, const void *s, size_t len);
void jw_str_end(struct json_writer *w);
/* Lowercase hex of len bytes as a JSON string; or in parts, as above. */
void jw_hex(struct json_writer *w, const void *p, size_t len);
void jw_hex_part(struct json_writer *w, const void *p, size_t len);

void jw_array_begin(struct json_writer *w);
void jw_array_end(struct json_writer *w);
void jw_object_begin(struct json_writer *w);
void jw_object_end(struct json_writer *w);
/* The key of the next member: a string then ':'. */
void jw_key(struct json_writer *w, const void *s, size_t len);
void jw_ckey(struct json_writer *w, const char *s);
/* Some already valid JSON text, as one value. */
void jw_raw_value(struct json_writer *w, const char *text, size_t len);

/*
 * Formats d like jw_double into buf (at least 32 bytes) and returns the
 * length. Shared by the writer and the tests.
 */
size_t jw_format_double(char *buf, size_t cap, double d);

#endif /* FARMCTL_JSON_WRITE_H */
