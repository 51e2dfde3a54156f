/* SPDX-License-Identifier: MIT */
/*
 * CBOR (RFC 8949) writer and cursor reader. No allocation. The writer emits
 * preferred serialization (RFC 8949 §4.1): shortest heads, and floats in the
 * shortest of half/single/double precision that keeps the value exactly. The
 * reader accepts every well-formed item (§3), including indefinite-length
 * strings, arrays and maps, tags and simple values, and rejects what is not
 * well-formed (§3.3 and Appendix F).
 */
#ifndef FP_CBOR_H
#define FP_CBOR_H

#include "fp/value.h"

/* Writer. Errors are sticky, as for struct fp_mp_writer. */
struct fp_cbor_writer {
  uint8_t *buf;
  size_t cap;
  size_t len;
  int err;
};

void fp_cbor_writer_init(struct fp_cbor_writer *w, void *buf, size_t cap);

/* Each returns 0 or FARM_ENOSPC (nothing of this item written). */
int fp_cbor_write_nil(struct fp_cbor_writer *w);       /* null, 0xf6 */
int fp_cbor_write_undefined(struct fp_cbor_writer *w); /* 0xf7 */
int fp_cbor_write_bool(struct fp_cbor_writer *w, bool b);
int fp_cbor_write_uint(struct fp_cbor_writer *w, uint64_t u);
int fp_cbor_write_int(struct fp_cbor_writer *w, int64_t i);
/* Major type 1 with argument n: the integer -1 - n (down to -2^64). */
int fp_cbor_write_negint(struct fp_cbor_writer *w, uint64_t n);
/* Shortest lossless of half, single, double; NaN as 0xf97e00. */
int fp_cbor_write_float(struct fp_cbor_writer *w, double f);
int fp_cbor_write_str(struct fp_cbor_writer *w, const void *s, size_t len);
int fp_cbor_write_cstr(struct fp_cbor_writer *w, const char *s);
int fp_cbor_write_bin(struct fp_cbor_writer *w, const void *p, size_t len);
int fp_cbor_write_array(struct fp_cbor_writer *w, uint64_t n);
int fp_cbor_write_map(struct fp_cbor_writer *w, uint64_t n);
int fp_cbor_write_tag(struct fp_cbor_writer *w, uint64_t tag);
/* Simple values 0..19 and 32..255; FARM_EINVAL for 20..31 (reserved or
 * spelled by another function). */
int fp_cbor_write_simple(struct fp_cbor_writer *w, uint8_t v);
/* Indefinite-length heads (0x5f, 0x7f, 0x9f, 0xbf) and the break (0xff). */
int fp_cbor_write_indef_bin(struct fp_cbor_writer *w);
int fp_cbor_write_indef_str(struct fp_cbor_writer *w);
int fp_cbor_write_indef_array(struct fp_cbor_writer *w);
int fp_cbor_write_indef_map(struct fp_cbor_writer *w);
int fp_cbor_write_break(struct fp_cbor_writer *w);

/*
 * Cursor reader, tracking open containers, tags and indefinite items up to
 * FP_MAX_DEPTH so it knows when one top-level value is complete.
 */
struct fp_cbor_reader {
  const uint8_t *buf;
  size_t len;
  size_t pos;
  size_t err_offset;
  uint8_t depth;
  /* Items still expected in each open level (a map counts keys and values);
   * UINT64_MAX for an indefinite array or string, and for an indefinite map
   * UINT64_MAX - 1 while a key or the break may come, UINT64_MAX - 2 while
   * a value must come. */
  uint64_t remaining[FP_MAX_DEPTH];
  /* For an open indefinite-length string: the major type its chunks must
   * have (2 or 3), else 0. */
  uint8_t chunk_major[FP_MAX_DEPTH];
};

void fp_cbor_reader_init(struct fp_cbor_reader *r, const void *buf, size_t len);

/*
 * Reads the next item head (and a string's payload) into *it. Returns 0, or:
 *   FARM_ETRUNCATED  head, argument or payload past the end of the buffer;
 *                    an array or map declaring more items than bytes remain
 *   FARM_EMALFORMED  reserved additional info 28..30; a break outside an
 *                    indefinite item; an indefinite head for major 0, 1 or 6;
 *                    a chunk of the wrong type inside an indefinite string;
 *                    a two-byte simple value below 32; a map whose indefinite
 *                    body ends after a key
 *   FARM_EUTF8       a text string (or chunk) that is not valid UTF-8
 *   FARM_EDEPTH      more than FP_MAX_DEPTH open levels
 *   FARM_EEMPTY      the top-level value is already complete
 * On error r->err_offset names the offending byte.
 */
int fp_cbor_read(struct fp_cbor_reader *r, struct fp_item *it);

/* Skips one complete value starting at r->pos. Same errors. */
int fp_cbor_skip(struct fp_cbor_reader *r);

bool fp_cbor_done(const struct fp_cbor_reader *r);

/* As fp_mp_validate: exactly one well-formed item, FARM_ETRAILING after it. */
int fp_cbor_validate(const void *buf, size_t len, size_t *err_offset);

#endif /* FP_CBOR_H */
