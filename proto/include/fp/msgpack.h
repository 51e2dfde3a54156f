/* SPDX-License-Identifier: MIT */
/*
 * MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md) writer
 * and cursor reader. No allocation: the writer fills a caller buffer, the
 * reader walks a caller buffer and hands out fp_item heads whose strings
 * point into it. Every length is checked against the bytes that remain,
 * header bytes included, before anything is read.
 */
#ifndef FP_MSGPACK_H
#define FP_MSGPACK_H

#include "fp/value.h"

/*
 * Writer. Errors are sticky: after the first failure every call returns the
 * same error and writes nothing, so a caller may check only at the end.
 */
struct fp_mp_writer {
  uint8_t *buf;
  size_t cap;
  size_t len; /* bytes written so far */
  int err;    /* first error, 0 if none */
};

void fp_mp_writer_init(struct fp_mp_writer *w, void *buf, size_t cap);

/* Each returns 0 or FARM_ENOSPC (buffer full; nothing of this item written). */
int fp_mp_write_nil(struct fp_mp_writer *w);
int fp_mp_write_bool(struct fp_mp_writer *w, bool b);
/* Shortest form: positive fixint, uint8/16/32/64. */
int fp_mp_write_uint(struct fp_mp_writer *w, uint64_t u);
/* Non-negative values take the unsigned forms; negatives the shortest of
 * negative fixint, int8/16/32/64. */
int fp_mp_write_int(struct fp_mp_writer *w, int64_t i);
/* float32 when the value survives a round trip through float exactly
 * (NaN and infinities included), float64 otherwise. */
int fp_mp_write_float(struct fp_mp_writer *w, double f);
int fp_mp_write_f32(struct fp_mp_writer *w, float f);
int fp_mp_write_f64(struct fp_mp_writer *w, double f);
/* Text string; the caller is responsible for UTF-8 validity. */
int fp_mp_write_str(struct fp_mp_writer *w, const void *s, size_t len);
/* NUL-terminated convenience form of fp_mp_write_str. */
int fp_mp_write_cstr(struct fp_mp_writer *w, const char *s);
int fp_mp_write_bin(struct fp_mp_writer *w, const void *p, size_t len);
/* Container heads: the caller then writes n items (array) or n pairs (map).
 * FARM_ETOOBIG when n exceeds 2^32-1. */
int fp_mp_write_array(struct fp_mp_writer *w, uint64_t n);
int fp_mp_write_map(struct fp_mp_writer *w, uint64_t n);
/* Ext with fixext1/2/4/8/16 when the length allows, else ext8/16/32. */
int fp_mp_write_ext(struct fp_mp_writer *w, int8_t type, const void *p, size_t len);
/* Timestamp extension (type -1): timestamp32 when nsec is 0 and sec fits
 * 32 bits unsigned, timestamp64 when sec fits 34 bits, else timestamp96.
 * FARM_EINVAL when nsec > 999999999. */
int fp_mp_write_timestamp(struct fp_mp_writer *w, int64_t sec, uint32_t nsec);

/*
 * Cursor reader. It tracks the open containers (up to FP_MAX_DEPTH), so it
 * knows when one complete top-level value has been read.
 */
struct fp_mp_reader {
  const uint8_t *buf;
  size_t len;
  size_t pos;        /* offset of the next head */
  size_t err_offset; /* offset of the byte that caused the last error */
  uint8_t depth;     /* open containers */
  uint64_t remaining[FP_MAX_DEPTH]; /* items still to read in each container */
};

void fp_mp_reader_init(struct fp_mp_reader *r, const void *buf, size_t len);

/*
 * Reads the next item head at r->pos into *it and advances past it (for str,
 * bin and ext past the payload too). Containers are entered: their items are
 * the following reads.
 * Returns 0, or:
 *   FARM_ETRUNCATED  the head or its payload goes past the end of the buffer
 *   FARM_EMALFORMED  the reserved byte 0xc1, or a bad timestamp length/nsec
 *   FARM_EUTF8       a str that is not valid UTF-8
 *   FARM_EDEPTH      entering a container would exceed FP_MAX_DEPTH
 *   FARM_EEMPTY      the top-level value is already complete (nothing to read)
 * On error r->err_offset is the offset of the offending byte and the reader
 * must not be used further.
 */
int fp_mp_read(struct fp_mp_reader *r, struct fp_item *it);

/*
 * Skips the rest of the value whose head was just read (for a container: all
 * its items, recursively), or reads and skips one whole value when called
 * before its head. Precisely: skips one complete value starting at r->pos.
 * Same errors as fp_mp_read.
 */
int fp_mp_skip(struct fp_mp_reader *r);

/* True once exactly one complete top-level value has been read. */
bool fp_mp_done(const struct fp_mp_reader *r);

/*
 * Checks that buf holds exactly one well-formed value and nothing else:
 * walks it completely. Returns 0, an error of fp_mp_read, or FARM_ETRAILING
 * when bytes follow the value. *err_offset (may be NULL) receives the offset
 * of the error.
 */
int fp_mp_validate(const void *buf, size_t len, size_t *err_offset);

#endif /* FP_MSGPACK_H */
