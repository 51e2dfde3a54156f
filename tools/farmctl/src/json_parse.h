/* SPDX-License-Identifier: MIT */
/*
 * A strict JSON (RFC 8259) parser into a small read-only tree that keeps what
 * general-purpose JSON libraries throw away and farmctl needs to map JSON
 * onto MessagePack and CBOR without loss: object members in input order with
 * their duplicates, the exact text of every number (so integers of any size
 * reach the codec unrounded), and the byte offset of every value and key so
 * an error can point at the input. Strings are unescaped to UTF-8 (they may
 * hold U+0000); invalid UTF-8, lone surrogates and control characters are
 * rejected.
 */
#ifndef FARMCTL_JSON_PARSE_H
#define FARMCTL_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Inputs are limited to what 32-bit offsets address (farmctl reads 16 MiB). */
#define JSON_MAX_INPUT 0x7fffffffu

enum json_type {
  JT_NULL,
  JT_FALSE,
  JT_TRUE,
  JT_NUMBER, /* text/len: the number exactly as written */
  JT_STRING, /* text/len: the unescaped UTF-8 bytes (NUL-terminated too) */
  JT_ARRAY,  /* items[0 .. count-1] */
  JT_OBJECT, /* items[2i] is the i-th key (a JT_STRING), items[2i+1] its value */
};

struct json_value {
  uint8_t type;    /* enum json_type */
  bool integer;    /* JT_NUMBER written without fraction or exponent */
  uint32_t count;  /* array items or object members */
  uint32_t offset; /* byte offset in the input where the value (or key) starts */
  uint32_t len;    /* JT_NUMBER, JT_STRING: bytes of text */
  union {
    const char *text;               /* JT_NUMBER, JT_STRING */
    const struct json_value *items; /* JT_ARRAY, JT_OBJECT */
  } u;
};

/* A parsed document: the root value and the memory of the whole tree. */
struct json_doc;

struct json_error {
  size_t offset;   /* byte offset of the offending input byte */
  const char *msg; /* static text, e.g. "expected ':' after an object key" */
};

/*
 * Parses exactly one JSON value (surrounded by optional whitespace) from the
 * len bytes at text (which need not be NUL-terminated). Containers nested
 * deeper than max_depth are refused, so recursion stays bounded.
 * On success returns 0 and *out, which the caller frees with json_doc_free();
 * the tree does not refer to text. Errors (with err->offset and err->msg):
 *   FARM_EEMPTY      no value: the input is empty or only whitespace
 *   FARM_ETRUNCATED  the input ends inside a value
 *   FARM_EMALFORMED  a syntax error, a bad escape, a control character in a
 *                    string, a lone surrogate
 *   FARM_EUTF8       the input is not valid UTF-8
 *   FARM_EDEPTH      nesting deeper than max_depth
 *   FARM_ETRAILING   something other than whitespace follows the value
 *   FARM_ETOOBIG     len exceeds JSON_MAX_INPUT
 *   FARM_ENOMEM      out of memory
 */
int json_parse(const char *text, size_t len, unsigned max_depth, struct json_doc **out,
               struct json_error *err);

/* The root value; valid until json_doc_free(doc). */
const struct json_value *json_doc_root(const struct json_doc *doc);

/* Frees the document and every value of its tree. NULL is allowed. */
void json_doc_free(struct json_doc *doc);

/* For objects: the key and the value of member i (i < v->count). */
static inline const struct json_value *json_key(const struct json_value *v, uint32_t i)
{
  return &v->u.items[2 * (size_t)i];
}

static inline const struct json_value *json_member(const struct json_value *v, uint32_t i)
{
  return &v->u.items[2 * (size_t)i + 1];
}

/* True if v is a string equal to the NUL-terminated s. */
bool json_is_str(const struct json_value *v, const char *s);

#endif /* FARMCTL_JSON_PARSE_H */
