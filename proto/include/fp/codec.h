/* SPDX-License-Identifier: MIT */
/*
 * Codec-neutral writer and reader over MessagePack and CBOR. The serial link
 * carries the same logical schema in either codec (DESIGN §4, serial_codec),
 * so the message layer and the tools write and read through these, and one
 * switch on the codec picks the concrete function. The dispatch is inline
 * (no function pointers) so the hot decode path costs one predictable branch
 * per item. Nothing here allocates; the ownership and error rules are those
 * of fp/msgpack.h and fp/cbor.h.
 */
#ifndef FP_CODEC_H
#define FP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/cbor.h"
#include "fp/msgpack.h"
#include "fp/value.h"

enum fp_codec {
  FP_CODEC_MSGPACK,
  FP_CODEC_CBOR,
};

/*
 * Parses a codec name as written in configuration files and on the command
 * line: "msgpack" or "cbor" (exact, lowercase). Returns 0 and *out, or
 * FARM_EINVAL for anything else (s may be NULL).
 */
int fp_codec_parse(const char *s, enum fp_codec *out);

/* "msgpack" or "cbor"; "?" for a value outside the enum. Never NULL. */
const char *fp_codec_name(enum fp_codec c);

/*
 * Writer. Errors are sticky as in the concrete writers: after the first
 * failure every call returns that error and writes nothing, so a caller may
 * check fp_writer_error() once at the end. The caller owns buf, which must
 * outlive the writer.
 */
struct fp_writer {
  enum fp_codec codec;
  union {
    struct fp_mp_writer mp;
    struct fp_cbor_writer cbor;
  } u;
};

static inline void fp_writer_init(struct fp_writer *w, enum fp_codec codec,
                                  void *buf, size_t cap)
{
  w->codec = codec;
  if (codec == FP_CODEC_CBOR)
    fp_cbor_writer_init(&w->u.cbor, buf, cap);
  else
    fp_mp_writer_init(&w->u.mp, buf, cap);
}

/* Each returns 0 or FARM_ENOSPC (nothing of the item written), or the
 * sticky error of an earlier call. */
static inline int fp_write_nil(struct fp_writer *w)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_nil(&w->u.cbor)
                                   : fp_mp_write_nil(&w->u.mp);
}

static inline int fp_write_bool(struct fp_writer *w, bool b)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_bool(&w->u.cbor, b)
                                   : fp_mp_write_bool(&w->u.mp, b);
}

static inline int fp_write_uint(struct fp_writer *w, uint64_t u)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_uint(&w->u.cbor, u)
                                   : fp_mp_write_uint(&w->u.mp, u);
}

static inline int fp_write_int(struct fp_writer *w, int64_t i)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_int(&w->u.cbor, i)
                                   : fp_mp_write_int(&w->u.mp, i);
}

/* The shortest encoding that keeps the value exactly (float32 or float64 in
 * MessagePack; half, single or double in CBOR). */
static inline int fp_write_float(struct fp_writer *w, double f)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_float(&w->u.cbor, f)
                                   : fp_mp_write_float(&w->u.mp, f);
}

/* Text string of len bytes; the caller guarantees valid UTF-8. */
static inline int fp_write_str(struct fp_writer *w, const void *s, size_t len)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_str(&w->u.cbor, s, len)
                                   : fp_mp_write_str(&w->u.mp, s, len);
}

static inline int fp_write_cstr(struct fp_writer *w, const char *s)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_cstr(&w->u.cbor, s)
                                   : fp_mp_write_cstr(&w->u.mp, s);
}

static inline int fp_write_bin(struct fp_writer *w, const void *p, size_t len)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_bin(&w->u.cbor, p, len)
                                   : fp_mp_write_bin(&w->u.mp, p, len);
}

/* Container heads (definite length): the caller then writes n items (array)
 * or n key/value pairs (map). */
static inline int fp_write_array(struct fp_writer *w, uint64_t n)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_array(&w->u.cbor, n)
                                   : fp_mp_write_array(&w->u.mp, n);
}

static inline int fp_write_map(struct fp_writer *w, uint64_t n)
{
  return w->codec == FP_CODEC_CBOR ? fp_cbor_write_map(&w->u.cbor, n)
                                   : fp_mp_write_map(&w->u.mp, n);
}

/* Bytes written so far. */
static inline size_t fp_writer_len(const struct fp_writer *w)
{
  return w->codec == FP_CODEC_CBOR ? w->u.cbor.len : w->u.mp.len;
}

/* The first error of any call, 0 if none. */
static inline int fp_writer_error(const struct fp_writer *w)
{
  return w->codec == FP_CODEC_CBOR ? w->u.cbor.err : w->u.mp.err;
}

/*
 * Cursor reader over exactly one caller buffer, which must outlive it and
 * every fp_item it hands out (strings point into the buffer).
 */
struct fp_reader {
  enum fp_codec codec;
  union {
    struct fp_mp_reader mp;
    struct fp_cbor_reader cbor;
  } u;
};

static inline void fp_reader_init(struct fp_reader *r, enum fp_codec codec,
                                  const void *buf, size_t len)
{
  r->codec = codec;
  if (codec == FP_CODEC_CBOR)
    fp_cbor_reader_init(&r->u.cbor, buf, len);
  else
    fp_mp_reader_init(&r->u.mp, buf, len);
}

/*
 * Reads the next item head (and a string's payload) and advances past it;
 * containers are entered. Returns 0 or an error of fp_mp_read/fp_cbor_read
 * (FARM_ETRUNCATED, FARM_EMALFORMED, FARM_EUTF8, FARM_EDEPTH, FARM_EEMPTY);
 * after an error the reader must not be used further.
 */
static inline int fp_read(struct fp_reader *r, struct fp_item *it)
{
  return r->codec == FP_CODEC_CBOR ? fp_cbor_read(&r->u.cbor, it)
                                   : fp_mp_read(&r->u.mp, it);
}

/* Skips one complete value starting at the current position. Same errors. */
static inline int fp_skip(struct fp_reader *r)
{
  return r->codec == FP_CODEC_CBOR ? fp_cbor_skip(&r->u.cbor)
                                   : fp_mp_skip(&r->u.mp);
}

/* True once exactly one complete top-level value has been read. */
static inline bool fp_reader_done(const struct fp_reader *r)
{
  return r->codec == FP_CODEC_CBOR ? fp_cbor_done(&r->u.cbor)
                                   : fp_mp_done(&r->u.mp);
}

/* Offset of the next item head: the bytes consumed so far. */
static inline size_t fp_reader_pos(const struct fp_reader *r)
{
  return r->codec == FP_CODEC_CBOR ? r->u.cbor.pos : r->u.mp.pos;
}

/* Offset of the byte that caused the last error of fp_read/fp_skip. */
static inline size_t fp_reader_err_offset(const struct fp_reader *r)
{
  return r->codec == FP_CODEC_CBOR ? r->u.cbor.err_offset : r->u.mp.err_offset;
}

#endif /* FP_CODEC_H */
