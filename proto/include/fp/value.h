/* SPDX-License-Identifier: MIT */
/*
 * The data model shared by the MessagePack and CBOR cursors: one decoded item
 * head at a time. Both codecs describe what they read with struct fp_item so
 * the message schema and the tools are written once for both wire formats.
 * Nothing here allocates: strings, byte strings and ext payloads point into
 * the caller's input buffer and live as long as it does.
 */
#ifndef FP_VALUE_H
#define FP_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest container nesting a reader accepts (arrays, maps and CBOR tags). */
#define FP_MAX_DEPTH 32

enum fp_kind {
  FP_NIL,       /* msgpack nil, CBOR null */
  FP_BOOL,      /* v.b */
  FP_UINT,      /* v.u: a non-negative integer */
  FP_NEGINT,    /* v.u: the integer is -1 - v.u (covers CBOR's full range) */
  FP_FLOAT,     /* v.f, float_bits tells the width it was encoded with */
  FP_STR,       /* v.bytes: valid UTF-8 (checked by the reader) */
  FP_BIN,       /* v.bytes */
  FP_ARRAY,     /* v.count items follow (unless indefinite) */
  FP_MAP,       /* v.count key/value pairs follow (unless indefinite) */
  FP_EXT,       /* msgpack ext: ext_type and v.bytes */
  FP_TIMESTAMP, /* msgpack timestamp extension (ext -1): v.ts */
  FP_TAG,       /* CBOR tag v.u; exactly one tagged item follows */
  FP_UNDEFINED, /* CBOR undefined (simple 23) */
  FP_SIMPLE,    /* CBOR simple value v.u other than false/true/null/undefined */
  FP_BREAK,     /* CBOR "break": ends the innermost indefinite-length item */
};

struct fp_bytes {
  const uint8_t *ptr;
  size_t len;
};

struct fp_timestamp {
  int64_t sec;
  uint32_t nsec; /* 0 .. 999999999 */
};

struct fp_item {
  enum fp_kind kind;
  /*
   * CBOR only: an array, map, text or byte string of indefinite length. For
   * strings the chunks follow as definite items of the same kind, then
   * FP_BREAK; for containers the items follow, then FP_BREAK.
   */
  bool indefinite;
  uint8_t float_bits; /* FP_FLOAT: 16, 32 or 64 */
  int8_t ext_type;    /* FP_EXT */
  union {
    bool b;
    uint64_t u;
    double f;
    uint64_t count;
    struct fp_bytes bytes;
    struct fp_timestamp ts;
  } v;
};

/*
 * Reads an integer item (FP_UINT or FP_NEGINT) as int64_t.
 * Returns 0, FARM_ETYPE if the item is not an integer, FARM_ERANGE if it does
 * not fit.
 */
int fp_item_to_i64(const struct fp_item *it, int64_t *out);

/* Same for uint64_t: FARM_ERANGE for any negative integer. */
int fp_item_to_u64(const struct fp_item *it, uint64_t *out);

/*
 * Reads any number (integer or float) as a double; integers beyond 2^53 are
 * rounded. Returns 0 or FARM_ETYPE.
 */
int fp_item_to_double(const struct fp_item *it, double *out);

/* True if the item is a text string equal to the NUL-terminated s. */
bool fp_item_is_str(const struct fp_item *it, const char *s);

/*
 * Validates UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF). Shared by both readers.
 */
bool fp_utf8_valid(const uint8_t *p, size_t len);

#endif /* FP_VALUE_H */
