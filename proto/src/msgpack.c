/* SPDX-License-Identifier: MIT */
/*
 * MessagePack writer and cursor reader (msgpack spec.md, "formats"). The
 * writer always emits the shortest form of each item, so two peers that
 * encode the same value produce the same bytes. The reader decodes one item
 * head per call straight from the caller's buffer, checks every length
 * against the bytes that remain before touching them, and keeps a stack of
 * the items still owed by each open container so it knows when the top-level
 * value is complete. Both sit on the telemetry hot path: heads are decoded
 * with one branch on the first byte and big-endian fields are assembled with
 * shifts, never through per-byte calls.
 */
#include "fp/msgpack.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

/* Head bytes of the formats, from the msgpack spec's overview table. */
enum {
  MP_FIXMAP = 0x80,
  MP_FIXARRAY = 0x90,
  MP_FIXSTR = 0xa0,
  MP_NIL = 0xc0,
  MP_NEVER_USED = 0xc1,
  MP_FALSE = 0xc2,
  MP_TRUE = 0xc3,
  MP_BIN8 = 0xc4,
  MP_BIN16 = 0xc5,
  MP_BIN32 = 0xc6,
  MP_EXT8 = 0xc7,
  MP_EXT16 = 0xc8,
  MP_EXT32 = 0xc9,
  MP_FLOAT32 = 0xca,
  MP_FLOAT64 = 0xcb,
  MP_UINT8 = 0xcc,
  MP_UINT16 = 0xcd,
  MP_UINT32 = 0xce,
  MP_UINT64 = 0xcf,
  MP_INT8 = 0xd0,
  MP_INT16 = 0xd1,
  MP_INT32 = 0xd2,
  MP_INT64 = 0xd3,
  MP_FIXEXT1 = 0xd4,
  MP_FIXEXT2 = 0xd5,
  MP_FIXEXT4 = 0xd6,
  MP_FIXEXT8 = 0xd7,
  MP_FIXEXT16 = 0xd8,
  MP_STR8 = 0xd9,
  MP_STR16 = 0xda,
  MP_STR32 = 0xdb,
  MP_ARRAY16 = 0xdc,
  MP_ARRAY32 = 0xdd,
  MP_MAP16 = 0xde,
  MP_MAP32 = 0xdf,
};

/* The timestamp extension type (msgpack spec, "Timestamp extension type"). */
#define MP_EXT_TIMESTAMP (-1)
#define MP_NSEC_MAX 999999999u

/* ---- big-endian helpers (every multi-byte msgpack field is big-endian;
 * the loads, which the message decoder shares, are in internal.h) ---- */

static inline void st16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline void st32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline void st64(uint8_t *p, uint64_t v)
{
  st32(p, (uint32_t)(v >> 32));
  st32(p + 4, (uint32_t)v);
}

/* Two's complement reinterpretation without implementation-defined casts. */
static inline int64_t u64_to_i64(uint64_t x)
{
  return x <= (uint64_t)INT64_MAX ? (int64_t)x : -(int64_t)~x - 1;
}

/* Lengths and counts are 32-bit on the wire; size_t may be narrower or wider. */
static inline bool over_u32(uint64_t n)
{
  return n > UINT32_MAX;
}

/* ---------------------------------- writer -------------------------------- */

void fp_mp_writer_init(struct fp_mp_writer *w, void *buf, size_t cap)
{
  assert(w != NULL);
  assert(buf != NULL || cap == 0);
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->err = 0;
}

/* Records the first error; every later call reports that one. */
static int wfail(struct fp_mp_writer *w, int err)
{
  if (w->err == 0)
    w->err = err;
  return w->err;
}

/*
 * Claims head + payload bytes at the end of the output, or returns NULL with
 * the sticky error set and nothing written. The two sizes are compared
 * separately against the room left so their sum can never wrap.
 */
static inline uint8_t *reserve(struct fp_mp_writer *w, size_t head, size_t payload)
{
  if (w->err != 0)
    return NULL;
  size_t room = w->cap - w->len;
  if (payload > room || head > room - payload) {
    w->err = FARM_ENOSPC;
    return NULL;
  }
  uint8_t *p = w->buf + w->len;
  w->len += head + payload;
  return p;
}

int fp_mp_write_nil(struct fp_mp_writer *w)
{
  assert(w != NULL);
  uint8_t *p = reserve(w, 1, 0);
  if (p == NULL)
    return w->err;
  p[0] = MP_NIL;
  return 0;
}

int fp_mp_write_bool(struct fp_mp_writer *w, bool b)
{
  assert(w != NULL);
  uint8_t *p = reserve(w, 1, 0);
  if (p == NULL)
    return w->err;
  p[0] = b ? MP_TRUE : MP_FALSE;
  return 0;
}

/*
 * Numbers: encoded into a scratch head by the encoders the message
 * encoder's fast path shares (internal.h), then reserved at their exact
 * size, so a writer fails with FARM_ENOSPC only when the item itself does
 * not fit.
 */
size_t fp__mp_put_uint(uint8_t *p, uint64_t u)
{
  if (u <= 0x7f) { /* positive fixint */
    p[0] = (uint8_t)u;
    return 1;
  }
  if (u <= UINT8_MAX) {
    p[0] = MP_UINT8;
    p[1] = (uint8_t)u;
    return 2;
  }
  if (u <= UINT16_MAX) {
    p[0] = MP_UINT16;
    st16(p + 1, (uint16_t)u);
    return 3;
  }
  if (u <= UINT32_MAX) {
    p[0] = MP_UINT32;
    st32(p + 1, (uint32_t)u);
    return 5;
  }
  p[0] = MP_UINT64;
  st64(p + 1, u);
  return 9;
}

size_t fp__mp_put_int(uint8_t *p, int64_t i)
{
  if (i >= 0)
    return fp__mp_put_uint(p, (uint64_t)i);
  /* Conversions of negative values to unsigned types are defined modulo
   * 2^N (C11 6.3.1.3), which is exactly the two's complement field. */
  if (i >= -32) { /* negative fixint 0xe0..0xff */
    p[0] = (uint8_t)i;
    return 1;
  }
  if (i >= INT8_MIN) {
    p[0] = MP_INT8;
    p[1] = (uint8_t)i;
    return 2;
  }
  if (i >= INT16_MIN) {
    p[0] = MP_INT16;
    st16(p + 1, (uint16_t)i);
    return 3;
  }
  if (i >= INT32_MIN) {
    p[0] = MP_INT32;
    st32(p + 1, (uint32_t)i);
    return 5;
  }
  p[0] = MP_INT64;
  st64(p + 1, (uint64_t)i);
  return 9;
}

static size_t put_f32(uint8_t *p, float f)
{
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  p[0] = MP_FLOAT32;
  st32(p + 1, bits);
  return 5;
}

static size_t put_f64(uint8_t *p, double f)
{
  uint64_t bits;
  memcpy(&bits, &f, sizeof bits);
  p[0] = MP_FLOAT64;
  st64(p + 1, bits);
  return 9;
}

size_t fp__mp_put_float(uint8_t *p, double f)
{
  /* float32 when nothing is lost: a finite value is narrowed only inside
   * float's range, where the conversion is defined (C11 6.3.1.5); NaN and
   * the infinities exist in float32 (IEEE 754 binary32). */
  bool f32;
  if (f >= -FLT_MAX && f <= FLT_MAX)
    f32 = (double)(float)f == f;
  else
    f32 = isnan(f) || isinf(f);
  return f32 ? put_f32(p, (float)f) : put_f64(p, f);
}

/* Appends a number encoded in a scratch head of n bytes. */
static int write_head(struct fp_mp_writer *w, const uint8_t *head, size_t n)
{
  uint8_t *p = reserve(w, n, 0);
  if (p == NULL)
    return w->err;
  memcpy(p, head, n);
  return 0;
}

int fp_mp_write_uint(struct fp_mp_writer *w, uint64_t u)
{
  assert(w != NULL);
  uint8_t head[FP__MP_NUM_MAX];
  return write_head(w, head, fp__mp_put_uint(head, u));
}

int fp_mp_write_int(struct fp_mp_writer *w, int64_t i)
{
  assert(w != NULL);
  uint8_t head[FP__MP_NUM_MAX];
  return write_head(w, head, fp__mp_put_int(head, i));
}

int fp_mp_write_f32(struct fp_mp_writer *w, float f)
{
  assert(w != NULL);
  uint8_t head[FP__MP_NUM_MAX];
  return write_head(w, head, put_f32(head, f));
}

int fp_mp_write_f64(struct fp_mp_writer *w, double f)
{
  assert(w != NULL);
  uint8_t head[FP__MP_NUM_MAX];
  return write_head(w, head, put_f64(head, f));
}

int fp_mp_write_float(struct fp_mp_writer *w, double f)
{
  assert(w != NULL);
  uint8_t head[FP__MP_NUM_MAX];
  return write_head(w, head, fp__mp_put_float(head, f));
}

/*
 * Writes a str/bin head of the 8/16/32-bit length family starting at op8
 * (the three opcodes are consecutive in the spec), then the payload.
 */
static int write_sized(struct fp_mp_writer *w, uint8_t op8, const void *data, size_t len)
{
  uint8_t *p;
  if (len <= UINT8_MAX) {
    if ((p = reserve(w, 2, len)) == NULL)
      return w->err;
    p[0] = op8;
    p[1] = (uint8_t)len;
    p += 2;
  } else if (len <= UINT16_MAX) {
    if ((p = reserve(w, 3, len)) == NULL)
      return w->err;
    p[0] = (uint8_t)(op8 + 1);
    st16(p + 1, (uint16_t)len);
    p += 3;
  } else {
    if (over_u32(len))
      return wfail(w, FARM_ETOOBIG);
    if ((p = reserve(w, 5, len)) == NULL)
      return w->err;
    p[0] = (uint8_t)(op8 + 2);
    st32(p + 1, (uint32_t)len);
    p += 5;
  }
  memcpy(p, data, len);
  return 0;
}

int fp_mp_write_str(struct fp_mp_writer *w, const void *s, size_t len)
{
  assert(w != NULL);
  assert(s != NULL || len == 0);
  if (len <= 31) { /* fixstr: the common case of short map keys */
    uint8_t *p = reserve(w, 1, len);
    if (p == NULL)
      return w->err;
    p[0] = (uint8_t)(MP_FIXSTR | len);
    if (len != 0)
      memcpy(p + 1, s, len);
    return 0;
  }
  return write_sized(w, MP_STR8, s, len);
}

int fp_mp_write_cstr(struct fp_mp_writer *w, const char *s)
{
  assert(s != NULL);
  return fp_mp_write_str(w, s, strlen(s));
}

int fp_mp_write_bin(struct fp_mp_writer *w, const void *p, size_t len)
{
  assert(w != NULL);
  assert(p != NULL || len == 0);
  if (len == 0) { /* bin 8 of length 0; memcpy must not see a NULL source */
    uint8_t *q = reserve(w, 2, 0);
    if (q == NULL)
      return w->err;
    q[0] = MP_BIN8;
    q[1] = 0;
    return 0;
  }
  return write_sized(w, MP_BIN8, p, len);
}

/* Array and map heads: fix form for n <= 15, then 16 and 32 bits. */
static int write_container(struct fp_mp_writer *w, uint8_t fix, uint8_t op16, uint64_t n)
{
  uint8_t *p;
  if (n <= 15) {
    if ((p = reserve(w, 1, 0)) == NULL)
      return w->err;
    p[0] = (uint8_t)(fix | n);
  } else if (n <= UINT16_MAX) {
    if ((p = reserve(w, 3, 0)) == NULL)
      return w->err;
    p[0] = op16;
    st16(p + 1, (uint16_t)n);
  } else {
    if (over_u32(n))
      return wfail(w, FARM_ETOOBIG);
    if ((p = reserve(w, 5, 0)) == NULL)
      return w->err;
    p[0] = (uint8_t)(op16 + 1);
    st32(p + 1, (uint32_t)n);
  }
  return 0;
}

int fp_mp_write_array(struct fp_mp_writer *w, uint64_t n)
{
  assert(w != NULL);
  return write_container(w, MP_FIXARRAY, MP_ARRAY16, n);
}

int fp_mp_write_map(struct fp_mp_writer *w, uint64_t n)
{
  assert(w != NULL);
  return write_container(w, MP_FIXMAP, MP_MAP16, n);
}

int fp_mp_write_ext(struct fp_mp_writer *w, int8_t type, const void *p, size_t len)
{
  assert(w != NULL);
  assert(p != NULL || len == 0);
  uint8_t *q;
  uint8_t fix = 0;
  switch (len) { /* fixext 1/2/4/8/16 carry no length byte */
  case 1: fix = MP_FIXEXT1; break;
  case 2: fix = MP_FIXEXT2; break;
  case 4: fix = MP_FIXEXT4; break;
  case 8: fix = MP_FIXEXT8; break;
  case 16: fix = MP_FIXEXT16; break;
  default: break;
  }
  if (fix != 0) {
    if ((q = reserve(w, 2, len)) == NULL)
      return w->err;
    q[0] = fix;
    q[1] = (uint8_t)type;
    q += 2;
  } else if (len <= UINT8_MAX) {
    if ((q = reserve(w, 3, len)) == NULL)
      return w->err;
    q[0] = MP_EXT8;
    q[1] = (uint8_t)len;
    q[2] = (uint8_t)type;
    q += 3;
  } else if (len <= UINT16_MAX) {
    if ((q = reserve(w, 4, len)) == NULL)
      return w->err;
    q[0] = MP_EXT16;
    st16(q + 1, (uint16_t)len);
    q[3] = (uint8_t)type;
    q += 4;
  } else {
    if (over_u32(len))
      return wfail(w, FARM_ETOOBIG);
    if ((q = reserve(w, 6, len)) == NULL)
      return w->err;
    q[0] = MP_EXT32;
    st32(q + 1, (uint32_t)len);
    q[5] = (uint8_t)type;
    q += 6;
  }
  if (len != 0)
    memcpy(q, p, len);
  return 0;
}

int fp_mp_write_timestamp(struct fp_mp_writer *w, int64_t sec, uint32_t nsec)
{
  assert(w != NULL);
  if (nsec > MP_NSEC_MAX)
    return wfail(w, FARM_EINVAL);
  uint8_t *p;
  if (sec >= 0 && ((uint64_t)sec >> 34) == 0) {
    if (nsec == 0 && ((uint64_t)sec >> 32) == 0) {
      /* timestamp 32: fixext4, unsigned seconds */
      if ((p = reserve(w, 6, 0)) == NULL)
        return w->err;
      p[0] = MP_FIXEXT4;
      p[1] = (uint8_t)MP_EXT_TIMESTAMP;
      st32(p + 2, (uint32_t)sec);
    } else {
      /* timestamp 64: fixext8, nsec in the top 30 bits, sec in 34 */
      if ((p = reserve(w, 10, 0)) == NULL)
        return w->err;
      p[0] = MP_FIXEXT8;
      p[1] = (uint8_t)MP_EXT_TIMESTAMP;
      st64(p + 2, (uint64_t)nsec << 34 | (uint64_t)sec);
    }
  } else {
    /* timestamp 96: ext8 of 12 bytes, u32 nsec then signed 64-bit sec */
    if ((p = reserve(w, 15, 0)) == NULL)
      return w->err;
    p[0] = MP_EXT8;
    p[1] = 12;
    p[2] = (uint8_t)MP_EXT_TIMESTAMP;
    st32(p + 3, nsec);
    st64(p + 7, (uint64_t)sec);
  }
  return 0;
}

/* ---------------------------------- reader -------------------------------- */

/*
 * Bytes every item with head 0xc0 + i needs before anything of it is read:
 * the head, its fixed-width length or value field, the ext type byte, and
 * for fixext the whole payload (msgpack spec, "formats").
 */
static const uint8_t fixed_size[32] = {
  1, 1, 1, 1,    /* nil, never used, false, true */
  2, 3, 5,       /* bin 8/16/32 */
  3, 4, 6,       /* ext 8/16/32 */
  5, 9,          /* float 32/64 */
  2, 3, 5, 9,    /* uint 8/16/32/64 */
  2, 3, 5, 9,    /* int 8/16/32/64 */
  3, 4, 6, 10, 18, /* fixext 1/2/4/8/16 */
  2, 3, 5,       /* str 8/16/32 */
  3, 5,          /* array 16/32 */
  3, 5,          /* map 16/32 */
};

void fp_mp_reader_init(struct fp_mp_reader *r, const void *buf, size_t len)
{
  assert(r != NULL);
  assert(buf != NULL || len == 0);
  r->buf = buf;
  r->len = len;
  r->pos = 0;
  r->err_offset = 0;
  r->depth = 0;
}

static int rfail(struct fp_mp_reader *r, size_t offset, int err)
{
  r->err_offset = offset;
  return err;
}

/*
 * Moves past an item of `used` bytes. It counts against the innermost open
 * container; a non-empty container head then opens `owed` items of its own,
 * while any other item may complete one or more enclosing containers.
 */
static inline int advance(struct fp_mp_reader *r, size_t used, uint64_t owed)
{
  unsigned depth = r->depth;
  bool closed = false;
  r->pos += used;
  /* The decremented count is tested from the register, not re-read from
   * memory: this runs once per item. */
  if (depth > 0)
    closed = --r->remaining[depth - 1] == 0;
  if (owed != 0) {
    r->remaining[depth] = owed;
    r->depth = (uint8_t)(depth + 1);
  } else if (closed) {
    /* The container is complete, and so may be the ones around it. */
    depth--;
    while (depth > 0 && r->remaining[depth - 1] == 0)
      depth--;
    r->depth = (uint8_t)depth;
  }
  return 0;
}

/*
 * Array or map head. Nothing is done per declared item here, so a count of
 * 2^32-1 costs nothing until its items are read (and found missing). An
 * empty container still counts as one level of nesting.
 */
static inline int read_container(struct fp_mp_reader *r, struct fp_item *it,
                                 enum fp_kind kind, uint64_t count, size_t used)
{
  if (r->depth >= FP_MAX_DEPTH)
    return rfail(r, r->pos, FARM_EDEPTH);
  it->kind = kind;
  it->v.count = count;
  return advance(r, used, kind == FP_MAP ? 2 * count : count);
}

/*
 * True if the str payload is ASCII, which map keys and most values are: the
 * high bits are tested a word at a time (short strings with two overlapping
 * loads), so the common case costs a few instructions.
 */
static inline bool is_ascii(const uint8_t *p, size_t len)
{
  uint64_t acc = 0;
  if (len >= 8) {
    uint64_t x;
    for (size_t i = 0; i < len - 8; i += 8) {
      memcpy(&x, p + i, sizeof x);
      acc |= x;
    }
    memcpy(&x, p + len - 8, sizeof x);
    acc |= x;
  } else if (len >= 4) {
    uint32_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + len - 4, sizeof b);
    acc = a | b;
  } else {
    for (size_t i = 0; i < len; i++)
      acc |= p[i];
  }
  return (acc & UINT64_C(0x8080808080808080)) == 0;
}

/* The rest of a str item that is not ASCII: the full UTF-8 check. Kept out
 * of line (and reached by a tail call) so the common path stays lean. */
static int finish_utf8(struct fp_mp_reader *r, struct fp_item *it, size_t used)
{
  if (!fp_utf8_valid(it->v.bytes.ptr, it->v.bytes.len))
    return rfail(r, r->pos, FARM_EUTF8);
  return advance(r, used, 0);
}

/* str or bin: hl head bytes (already known to be there), then len bytes. */
static inline int read_bytes(struct fp_mp_reader *r, struct fp_item *it,
                             enum fp_kind kind, size_t hl, uint64_t len)
{
  /* Compared against what remains, never as pos + len, which could wrap. */
  if (len > (uint64_t)(r->len - r->pos - hl))
    return rfail(r, r->pos, FARM_ETRUNCATED);
  const uint8_t *d = r->buf + r->pos + hl;
  it->kind = kind;
  it->v.bytes.ptr = d;
  it->v.bytes.len = (size_t)len;
  if (kind == FP_STR && !is_ascii(d, (size_t)len))
    return finish_utf8(r, it, hl + (size_t)len);
  return advance(r, hl + (size_t)len, 0);
}

/*
 * Ext: hl head bytes before the type byte (both known to be there), then len
 * payload bytes. Type -1 is the timestamp extension, which the spec defines
 * only with 4, 8 or 12 bytes and with nanoseconds below one second.
 */
static int read_ext(struct fp_mp_reader *r, struct fp_item *it, size_t hl, uint64_t len)
{
  const size_t pos = r->pos;
  if (len > (uint64_t)(r->len - pos - hl - 1))
    return rfail(r, pos, FARM_ETRUNCATED);
  const uint8_t *d = r->buf + pos + hl + 1;
  const uint8_t t = d[-1];
  const int8_t type = (int8_t)(t <= INT8_MAX ? (int)t : (int)t - 256);
  const size_t used = hl + 1 + (size_t)len;
  if (type != MP_EXT_TIMESTAMP) {
    it->kind = FP_EXT;
    it->ext_type = type;
    it->v.bytes.ptr = d;
    it->v.bytes.len = (size_t)len;
    return advance(r, used, 0);
  }
  uint32_t nsec;
  int64_t sec;
  if (len == 4) { /* timestamp 32: unsigned seconds */
    nsec = 0;
    sec = fp__ld32(d);
  } else if (len == 8) { /* timestamp 64: nsec in 30 bits, sec in 34 */
    uint64_t x = fp__ld64(d);
    nsec = (uint32_t)(x >> 34);
    sec = (int64_t)(x & 0x3ffffffffu);
  } else if (len == 12) { /* timestamp 96: u32 nsec, signed 64-bit sec */
    nsec = fp__ld32(d);
    sec = u64_to_i64(fp__ld64(d + 4));
  } else {
    return rfail(r, pos, FARM_EMALFORMED);
  }
  if (nsec > MP_NSEC_MAX)
    return rfail(r, pos + hl + 1, FARM_EMALFORMED);
  it->kind = FP_TIMESTAMP;
  it->v.ts.sec = sec;
  it->v.ts.nsec = nsec;
  return advance(r, used, 0);
}

/* Signed int8..64 payload x of the given width, as FP_UINT or FP_NEGINT. */
static inline int read_signed(struct fp_mp_reader *r, struct fp_item *it, uint64_t x,
                              unsigned bits, size_t used)
{
  const uint64_t sign = (uint64_t)1 << (bits - 1);
  if (x & sign) {
    /* -1 - v for the negative v whose low `bits` bits are x: the bitwise
     * complement of x within the field. */
    it->kind = FP_NEGINT;
    it->v.u = ~x & (sign | (sign - 1));
  } else {
    it->kind = FP_UINT;
    it->v.u = x;
  }
  return advance(r, used, 0);
}

int fp_mp_read(struct fp_mp_reader *r, struct fp_item *it)
{
  assert(r != NULL && it != NULL);
  const size_t pos = r->pos;
  /* pos only moves forward and every head is at least one byte, so depth 0
   * past the start means the top-level value has been read. */
  if (r->depth == 0 && pos != 0)
    return rfail(r, pos, FARM_EEMPTY);
  const size_t avail = r->len - pos;
  if (avail == 0)
    return rfail(r, pos, FARM_ETRUNCATED);
  const uint8_t *p = r->buf + pos;
  const uint8_t h = p[0];

  it->indefinite = false;
  it->float_bits = 0;
  it->ext_type = 0;

  if (h <= 0x7f) { /* positive fixint */
    it->kind = FP_UINT;
    it->v.u = h;
    return advance(r, 1, 0);
  }
  if (h >= 0xe0) { /* negative fixint -32..-1, i.e. -1 - (0xff - h) */
    it->kind = FP_NEGINT;
    it->v.u = 0xffu - h;
    return advance(r, 1, 0);
  }
  if (h <= 0x8f)
    return read_container(r, it, FP_MAP, h & 0x0fu, 1);
  if (h <= 0x9f)
    return read_container(r, it, FP_ARRAY, h & 0x0fu, 1);
  if (h <= 0xbf) { /* fixstr: most map keys, so spelled out here */
    const size_t len = h & 0x1fu;
    if (len > avail - 1)
      return rfail(r, pos, FARM_ETRUNCATED);
    it->kind = FP_STR;
    it->v.bytes.ptr = p + 1;
    it->v.bytes.len = len;
    if (!is_ascii(p + 1, len))
      return finish_utf8(r, it, 1 + len);
    return advance(r, 1 + len, 0);
  }

  if (avail < fixed_size[h - 0xc0])
    return rfail(r, pos, FARM_ETRUNCATED);
  switch (h) {
  case MP_NIL:
    it->kind = FP_NIL;
    return advance(r, 1, 0);
  case MP_FALSE:
  case MP_TRUE:
    it->kind = FP_BOOL;
    it->v.b = h == MP_TRUE;
    return advance(r, 1, 0);
  case MP_BIN8:
    return read_bytes(r, it, FP_BIN, 2, p[1]);
  case MP_BIN16:
    return read_bytes(r, it, FP_BIN, 3, fp__ld16(p + 1));
  case MP_BIN32:
    return read_bytes(r, it, FP_BIN, 5, fp__ld32(p + 1));
  case MP_STR8:
    return read_bytes(r, it, FP_STR, 2, p[1]);
  case MP_STR16:
    return read_bytes(r, it, FP_STR, 3, fp__ld16(p + 1));
  case MP_STR32:
    return read_bytes(r, it, FP_STR, 5, fp__ld32(p + 1));
  case MP_EXT8:
    return read_ext(r, it, 2, p[1]);
  case MP_EXT16:
    return read_ext(r, it, 3, fp__ld16(p + 1));
  case MP_EXT32:
    return read_ext(r, it, 5, fp__ld32(p + 1));
  case MP_FIXEXT1:
    return read_ext(r, it, 1, 1);
  case MP_FIXEXT2:
    return read_ext(r, it, 1, 2);
  case MP_FIXEXT4:
    return read_ext(r, it, 1, 4);
  case MP_FIXEXT8:
    return read_ext(r, it, 1, 8);
  case MP_FIXEXT16:
    return read_ext(r, it, 1, 16);
  case MP_FLOAT32: {
    uint32_t bits = fp__ld32(p + 1);
    float f;
    memcpy(&f, &bits, sizeof f);
    it->kind = FP_FLOAT;
    it->float_bits = 32;
    it->v.f = f;
    return advance(r, 5, 0);
  }
  case MP_FLOAT64: {
    uint64_t bits = fp__ld64(p + 1);
    double f;
    memcpy(&f, &bits, sizeof f);
    it->kind = FP_FLOAT;
    it->float_bits = 64;
    it->v.f = f;
    return advance(r, 9, 0);
  }
  case MP_UINT8:
    it->kind = FP_UINT;
    it->v.u = p[1];
    return advance(r, 2, 0);
  case MP_UINT16:
    it->kind = FP_UINT;
    it->v.u = fp__ld16(p + 1);
    return advance(r, 3, 0);
  case MP_UINT32:
    it->kind = FP_UINT;
    it->v.u = fp__ld32(p + 1);
    return advance(r, 5, 0);
  case MP_UINT64:
    it->kind = FP_UINT;
    it->v.u = fp__ld64(p + 1);
    return advance(r, 9, 0);
  case MP_INT8:
    return read_signed(r, it, p[1], 8, 2);
  case MP_INT16:
    return read_signed(r, it, fp__ld16(p + 1), 16, 3);
  case MP_INT32:
    return read_signed(r, it, fp__ld32(p + 1), 32, 5);
  case MP_INT64:
    return read_signed(r, it, fp__ld64(p + 1), 64, 9);
  case MP_ARRAY16:
    return read_container(r, it, FP_ARRAY, fp__ld16(p + 1), 3);
  case MP_ARRAY32:
    return read_container(r, it, FP_ARRAY, fp__ld32(p + 1), 5);
  case MP_MAP16:
    return read_container(r, it, FP_MAP, fp__ld16(p + 1), 3);
  case MP_MAP32:
    return read_container(r, it, FP_MAP, fp__ld32(p + 1), 5);
  default: /* 0xc1: "never used" in the spec */
    return rfail(r, pos, FARM_EMALFORMED);
  }
}

int fp_mp_skip(struct fp_mp_reader *r)
{
  assert(r != NULL);
  /* Iterative: the open-container stack of the reader is the only state, so
   * skipping costs no recursion however deep the value. The value is over
   * when the reader is back at (or, if it completed enclosing containers,
   * above) the level it started from. */
  const unsigned base = r->depth;
  struct fp_item it;
  do {
    int rc = fp_mp_read(r, &it);
    if (rc != 0)
      return rc;
  } while (r->depth > base);
  return 0;
}

bool fp_mp_done(const struct fp_mp_reader *r)
{
  assert(r != NULL);
  return r->depth == 0 && r->pos != 0;
}

int fp_mp_validate(const void *buf, size_t len, size_t *err_offset)
{
  struct fp_mp_reader r;
  fp_mp_reader_init(&r, buf, len);
  int rc = fp_mp_skip(&r);
  if (rc == 0 && r.pos != len)
    rc = rfail(&r, r.pos, FARM_ETRAILING);
  if (err_offset != NULL)
    *err_offset = rc != 0 ? r.err_offset : len;
  return rc;
}
