/* SPDX-License-Identifier: MIT */
/*
 * The MessagePack/CBOR <-> JSON mapping of value_json.h. Decoding first
 * validates the whole input with the codec's reader (so the first fault in
 * input order is the one reported), then walks it once, looking ahead over
 * each map's keys with a copy of the cursor to pick the plain or the "$map"
 * form. Encoding walks the JSON tree into the codec writers, growing the
 * output buffer and starting over when it is too small.
 */
#include "value_json.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

static int set_err(struct vj_error *err, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(struct vj_error *err, int code, size_t offset, const char *fmt, ...)
{
  err->offset = offset;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

/* A growing byte buffer: text gathered from the chunks of a CBOR
 * indefinite-length string, map keys. */
struct bytes {
  uint8_t *p;
  size_t len;
  size_t cap;
};

static int bytes_add(struct bytes *b, const void *p, size_t n)
{
  if (n == 0)
    return 0;
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2)
        return FARM_ENOMEM;
      cap *= 2;
    }
    uint8_t *q = realloc(b->p, cap);
    if (q == NULL)
      return FARM_ENOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Binary -> JSON                                                           */

struct dec {
  struct fp_reader r;
  struct json_writer *w;
  struct vj_error *err;
};

static int dec_nomem(struct dec *d)
{
  return set_err(d->err, FARM_ENOMEM, fp_reader_pos(&d->r), "out of memory");
}

static int read_item(struct fp_reader *r, struct fp_item *it, struct vj_error *err)
{
  int rc = fp_read(r, it);
  if (rc != 0)
    return set_err(err, rc, fp_reader_err_offset(r), "%s", farm_strerror(rc));
  return 0;
}

/*
 * Steps through the members of the container whose head is h: *end becomes
 * true after the last one (definite count reached, or a CBOR break read);
 * otherwise *it is the next item's head.
 */
static int next_in(struct fp_reader *r, const struct fp_item *h, uint64_t *i, struct fp_item *it,
                   bool *end, struct vj_error *err)
{
  *end = false;
  if (!h->indefinite) {
    if (*i == h->v.count) {
      *end = true;
      return 0;
    }
    (*i)++;
    return read_item(r, it, err);
  }
  int rc = read_item(r, it, err);
  if (rc == 0 && it->kind == FP_BREAK)
    *end = true;
  return rc;
}

/* Appends the payload of a string head (and, for an indefinite one, of all
 * its chunks up to the break) to b. */
static int gather_string(struct fp_reader *r, const struct fp_item *h, struct bytes *b,
                         struct vj_error *err)
{
  if (!h->indefinite) {
    if (bytes_add(b, h->v.bytes.ptr, h->v.bytes.len) != 0)
      return set_err(err, FARM_ENOMEM, fp_reader_pos(r), "out of memory");
    return 0;
  }
  for (;;) {
    struct fp_item c;
    int rc = read_item(r, &c, err);
    if (rc != 0)
      return rc;
    if (c.kind == FP_BREAK)
      return 0;
    if (bytes_add(b, c.v.bytes.ptr, c.v.bytes.len) != 0)
      return set_err(err, FARM_ENOMEM, fp_reader_pos(r), "out of memory");
  }
}

struct key_ref {
  const uint8_t *p;
  size_t len;
};

static int key_cmp(const void *a, const void *b)
{
  const struct key_ref *x = a;
  const struct key_ref *y = b;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return x->len == 0 ? 0 : memcmp(x->p, y->p, x->len);
}

/*
 * Decides whether the map whose head was just read can print as a JSON
 * object: every key text, no key twice, and not one single key starting
 * with '$' (that would read back as one of the special forms). Looks ahead
 * with a copy of the cursor, so d->r does not move.
 */
static int map_is_plain(struct dec *d, const struct fp_item *h, bool *plain)
{
  struct fp_reader r = d->r;
  struct bytes pool = {0};
  size_t *offs = NULL; /* key i is pool[offs[2i] .. + offs[2i+1]) */
  size_t n = 0;
  size_t cap = 0;
  uint64_t i = 0;
  int rc;
  *plain = true;
  for (;;) {
    struct fp_item k;
    bool end;
    rc = next_in(&r, h, &i, &k, &end, d->err);
    if (rc != 0)
      goto out;
    if (end)
      break;
    if (k.kind != FP_STR) {
      *plain = false;
      goto out;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      size_t *o = realloc(offs, cap * 2 * sizeof *o);
      if (o == NULL) {
        rc = dec_nomem(d);
        goto out;
      }
      offs = o;
    }
    offs[2 * n] = pool.len;
    rc = gather_string(&r, &k, &pool, d->err);
    if (rc != 0)
      goto out;
    offs[2 * n + 1] = pool.len - offs[2 * n];
    n++;
    rc = fp_skip(&r);
    if (rc != 0) {
      rc = set_err(d->err, rc, fp_reader_err_offset(&r), "%s", farm_strerror(rc));
      goto out;
    }
  }
  if (n == 1) {
    *plain = !(offs[1] > 0 && pool.p[offs[0]] == '$');
    goto out;
  }
  if (n < 2)
    goto out;
  struct key_ref *keys = malloc(n * sizeof *keys);
  if (keys == NULL) {
    rc = dec_nomem(d);
    goto out;
  }
  /* All keys empty: the pool never allocated, and NULL + 0 is undefined. */
  const uint8_t *base = pool.p != NULL ? pool.p : (const uint8_t *)"";
  for (size_t j = 0; j < n; j++) {
    keys[j].p = base + offs[2 * j];
    keys[j].len = offs[2 * j + 1];
  }
  qsort(keys, n, sizeof *keys, key_cmp);
  for (size_t j = 1; j < n && *plain; j++)
    if (key_cmp(&keys[j - 1], &keys[j]) == 0)
      *plain = false;
  free(keys);
out:
  free(offs);
  free(pool.p);
  return rc;
}

static int emit_value(struct dec *d, const struct fp_item *it);

static int emit_string(struct dec *d, const struct fp_item *it)
{
  if (!it->indefinite) {
    jw_str(d->w, it->v.bytes.ptr, it->v.bytes.len);
    return 0;
  }
  /* Each chunk is valid UTF-8 on its own (RFC 8949 §3.2.3), so they print
   * one after the other inside one JSON string. */
  jw_str_begin(d->w);
  for (;;) {
    struct fp_item c;
    int rc = read_item(&d->r, &c, d->err);
    if (rc != 0)
      return rc;
    if (c.kind == FP_BREAK)
      break;
    jw_str_part(d->w, c.v.bytes.ptr, c.v.bytes.len);
  }
  jw_str_end(d->w);
  return 0;
}

static int emit_bin(struct dec *d, const struct fp_item *it)
{
  jw_object_begin(d->w);
  jw_ckey(d->w, "$bin");
  jw_str_begin(d->w);
  if (!it->indefinite) {
    jw_hex_part(d->w, it->v.bytes.ptr, it->v.bytes.len);
  } else {
    for (;;) {
      struct fp_item c;
      int rc = read_item(&d->r, &c, d->err);
      if (rc != 0)
        return rc;
      if (c.kind == FP_BREAK)
        break;
      jw_hex_part(d->w, c.v.bytes.ptr, c.v.bytes.len);
    }
  }
  jw_str_end(d->w);
  jw_object_end(d->w);
  return 0;
}

static int emit_array(struct dec *d, const struct fp_item *h)
{
  uint64_t i = 0;
  jw_array_begin(d->w);
  for (;;) {
    struct fp_item it;
    bool end;
    int rc = next_in(&d->r, h, &i, &it, &end, d->err);
    if (rc != 0)
      return rc;
    if (end)
      break;
    rc = emit_value(d, &it);
    if (rc != 0)
      return rc;
  }
  jw_array_end(d->w);
  return 0;
}

static int emit_map(struct dec *d, const struct fp_item *h)
{
  bool plain;
  int rc = map_is_plain(d, h, &plain);
  if (rc != 0)
    return rc;
  if (plain) {
    jw_object_begin(d->w);
  } else {
    jw_object_begin(d->w);
    jw_ckey(d->w, "$map");
    jw_array_begin(d->w);
  }
  struct bytes key = {0};
  uint64_t i = 0;
  for (;;) {
    struct fp_item k;
    struct fp_item v;
    bool end;
    rc = next_in(&d->r, h, &i, &k, &end, d->err);
    if (rc != 0 || end)
      break;
    if (plain) {
      key.len = 0;
      rc = gather_string(&d->r, &k, &key, d->err);
      if (rc != 0)
        break;
      jw_key(d->w, key.p, key.len);
    } else {
      jw_array_begin(d->w);
      rc = emit_value(d, &k);
      if (rc != 0)
        break;
    }
    rc = read_item(&d->r, &v, d->err);
    if (rc == 0)
      rc = emit_value(d, &v);
    if (rc != 0)
      break;
    if (!plain)
      jw_array_end(d->w);
  }
  free(key.p);
  if (rc != 0)
    return rc;
  if (!plain)
    jw_array_end(d->w);
  jw_object_end(d->w);
  return 0;
}

static void emit_special_float(struct dec *d, double f)
{
  jw_object_begin(d->w);
  jw_ckey(d->w, "$float");
  jw_cstr(d->w, isnan(f) ? "NaN" : f > 0 ? "Infinity" : "-Infinity");
  jw_object_end(d->w);
}

static int emit_value(struct dec *d, const struct fp_item *it)
{
  struct json_writer *w = d->w;
  switch (it->kind) {
  case FP_NIL:
    jw_null(w);
    return 0;
  case FP_BOOL:
    jw_bool(w, it->v.b);
    return 0;
  case FP_UINT:
    jw_u64(w, it->v.u);
    return 0;
  case FP_NEGINT:
    jw_negint(w, it->v.u);
    return 0;
  case FP_FLOAT:
    if (isfinite(it->v.f))
      jw_double(w, it->v.f);
    else
      emit_special_float(d, it->v.f);
    return 0;
  case FP_STR:
    return emit_string(d, it);
  case FP_BIN:
    return emit_bin(d, it);
  case FP_ARRAY:
    return emit_array(d, it);
  case FP_MAP:
    return emit_map(d, it);
  case FP_EXT:
    jw_object_begin(w);
    jw_ckey(w, "$ext");
    jw_array_begin(w);
    jw_i64(w, it->ext_type);
    jw_hex(w, it->v.bytes.ptr, it->v.bytes.len);
    jw_array_end(w);
    jw_object_end(w);
    return 0;
  case FP_TIMESTAMP:
    jw_object_begin(w);
    jw_ckey(w, "$timestamp");
    jw_array_begin(w);
    jw_i64(w, it->v.ts.sec);
    jw_u64(w, it->v.ts.nsec);
    jw_array_end(w);
    jw_object_end(w);
    return 0;
  case FP_TAG: {
    jw_object_begin(w);
    jw_ckey(w, "$tag");
    jw_array_begin(w);
    jw_u64(w, it->v.u);
    struct fp_item inner;
    int rc = read_item(&d->r, &inner, d->err);
    if (rc == 0)
      rc = emit_value(d, &inner);
    if (rc != 0)
      return rc;
    jw_array_end(w);
    jw_object_end(w);
    return 0;
  }
  case FP_UNDEFINED:
    jw_object_begin(w);
    jw_ckey(w, "$undefined");
    jw_null(w);
    jw_object_end(w);
    return 0;
  case FP_SIMPLE:
    jw_object_begin(w);
    jw_ckey(w, "$simple");
    jw_u64(w, it->v.u);
    jw_object_end(w);
    return 0;
  case FP_BREAK:
    break;
  }
  /* The reader validated the input, so a break can only close an
   * indefinite item and never reaches here. */
  return set_err(d->err, FARM_EMALFORMED, fp_reader_pos(&d->r), "%s",
                 farm_strerror(FARM_EMALFORMED));
}

int vj_decode(enum fp_codec codec, const uint8_t *buf, size_t len, struct json_writer *w,
              struct vj_error *err)
{
  if (len == 0)
    return set_err(err, FARM_EEMPTY, 0, "%s", farm_strerror(FARM_EEMPTY));
  size_t at = 0;
  int rc = codec == FP_CODEC_CBOR ? fp_cbor_validate(buf, len, &at) : fp_mp_validate(buf, len, &at);
  if (rc != 0)
    return set_err(err, rc, at, "%s", farm_strerror(rc));
  struct dec d = {.w = w, .err = err};
  fp_reader_init(&d.r, codec, buf, len);
  struct fp_item it;
  rc = read_item(&d.r, &it, err);
  if (rc == 0)
    rc = emit_value(&d, &it);
  if (rc != 0)
    return rc;
  assert(fp_reader_done(&d.r) && fp_reader_pos(&d.r) == len);
  if (jw_status(w) != 0)
    return set_err(err, FARM_ENOMEM, len, "out of memory");
  return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON -> binary                                                           */

struct enc {
  struct fp_writer w;
  struct vj_error *err;
};

/* Checks a writer result: ENOSPC goes up to vj_encode, which retries with a
 * bigger buffer; anything else is an error about the JSON value v. */
static int wrote(struct enc *e, int rc, const struct json_value *v)
{
  if (rc == 0 || rc == FARM_ENOSPC)
    return rc;
  if (rc == FARM_ETOOBIG)
    return set_err(e->err, rc, v->offset, "too many items for %s", fp_codec_name(e->w.codec));
  return set_err(e->err, rc, v->offset, "%s", farm_strerror(rc));
}

/*
 * Parses JSON integer text (-?digits). Sets *neg and *u: the value itself
 * when it is not negative, else n where the value is -1 - n (so -2^64 is
 * n = 2^64 - 1). Returns false beyond -2^64 .. 2^64-1.
 */
static bool parse_int(const char *s, bool *neg, uint64_t *u)
{
  *neg = *s == '-';
  const char *digits = s + *neg;
  uint64_t m = 0;
  for (const char *p = digits; *p != '\0'; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (m > (UINT64_MAX - d) / 10) {
      /* The one magnitude past 2^64 - 1 that CBOR holds: -2^64. */
      if (*neg && strcmp(digits, "18446744073709551616") == 0) {
        *u = UINT64_MAX;
        return true;
      }
      return false;
    }
    m = m * 10 + d;
  }
  if (*neg && m == 0)
    *neg = false; /* "-0" is the integer 0 */
  *u = *neg ? m - 1 : m;
  return true;
}

/* An integer JSON number within [min, max], else an error naming what. */
static int want_int(struct enc *e, const struct json_value *v, int64_t min, int64_t max,
                    const char *what, int64_t *out)
{
  bool neg;
  uint64_t u;
  if (v->type != JT_NUMBER || !v->integer)
    return set_err(e->err, FARM_ETYPE, v->offset, "%s must be an integer", what);
  bool fits = parse_int(v->u.text, &neg, &u) && u <= (uint64_t)INT64_MAX;
  int64_t i = !fits ? 0 : neg ? -1 - (int64_t)u : (int64_t)u;
  if (!fits || i < min || i > max)
    return set_err(e->err, FARM_ERANGE, v->offset, "%s out of range (%" PRId64 "..%" PRId64 ")",
                   what, min, max);
  *out = i;
  return 0;
}

static int enc_value(struct enc *e, const struct json_value *v, unsigned depth);

/*
 * Arrays, maps and tags open a level, and the readers refuse more than
 * FP_MAX_DEPTH, so the encoder never writes what they would refuse nor
 * refuses what they accept. n is the container's item count (1 for a tag):
 * the CBOR reader opens no level for an empty definite array or map (it is
 * complete at its head), the MessagePack reader does.
 */
static int enter(struct enc *e, const struct json_value *v, unsigned depth, uint64_t n)
{
  if (n == 0 && e->w.codec == FP_CODEC_CBOR)
    return 0;
  if (depth >= FP_MAX_DEPTH)
    return set_err(e->err, FARM_EDEPTH, v->offset, "nesting deeper than %d levels", FP_MAX_DEPTH);
  return 0;
}

static int enc_number(struct enc *e, const struct json_value *v)
{
  if (v->integer) {
    bool neg;
    uint64_t u;
    bool ok = parse_int(v->u.text, &neg, &u);
    if (e->w.codec == FP_CODEC_CBOR) {
      if (!ok)
        return set_err(e->err, FARM_ERANGE, v->offset,
                       "integer out of range for cbor (-2^64 .. 2^64-1)");
      return wrote(
          e, neg ? fp_cbor_write_negint(&e->w.u.cbor, u) : fp_cbor_write_uint(&e->w.u.cbor, u), v);
    }
    if (!ok || (neg && u > (uint64_t)INT64_MAX))
      return set_err(e->err, FARM_ERANGE, v->offset,
                     "integer out of range for msgpack (-2^63 .. 2^64-1)");
    return wrote(
        e, neg ? fp_mp_write_int(&e->w.u.mp, -1 - (int64_t)u) : fp_mp_write_uint(&e->w.u.mp, u), v);
  }
  /* The parser checked the grammar, which strtod accepts in the C locale. */
  double d = strtod(v->u.text, NULL);
  if (isinf(d))
    return set_err(e->err, FARM_ERANGE, v->offset,
                   "number beyond the range of a double (use {\"$float\":\"Infinity\"})");
  return wrote(e, fp_write_float(&e->w, d), v);
}

static int hex_nibble(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes a JSON string of hex digit pairs into *out (malloc'd, may be NULL
 * for zero bytes; the caller frees it). */
static int want_hex(struct enc *e, const struct json_value *v, const char *what, uint8_t **out,
                    size_t *n)
{
  *out = NULL;
  *n = 0;
  if (v->type != JT_STRING || v->len % 2 != 0)
    return set_err(e->err, FARM_EMALFORMED, v->offset, "%s needs a string of hex digit pairs",
                   what);
  size_t len = v->len / 2;
  if (len == 0)
    return 0;
  uint8_t *b = malloc(len);
  if (b == NULL)
    return set_err(e->err, FARM_ENOMEM, v->offset, "out of memory");
  for (size_t i = 0; i < len; i++) {
    int hi = hex_nibble(v->u.text[2 * i]);
    int lo = hex_nibble(v->u.text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(b);
      return set_err(e->err, FARM_EMALFORMED, v->offset, "%s needs a string of hex digit pairs",
                     what);
    }
    b[i] = (uint8_t)(hi << 4 | lo);
  }
  *out = b;
  *n = len;
  return 0;
}

static bool is_pair(const struct json_value *v)
{
  return v->type == JT_ARRAY && v->count == 2;
}

static int only_in(struct enc *e, const struct json_value *obj, enum fp_codec codec,
                   const char *form)
{
  if (e->w.codec == codec)
    return 0;
  return set_err(e->err, FARM_EUNSUPPORTED, obj->offset, "%s cannot carry %s (%s only)",
                 fp_codec_name(e->w.codec), form, fp_codec_name(codec));
}

/* obj is a one-member object whose key starts with '$'. */
static int enc_special(struct enc *e, const struct json_value *obj, unsigned depth)
{
  const struct json_value *k = json_key(obj, 0);
  const struct json_value *v = json_member(obj, 0);
  int rc;

  if (json_is_str(k, "$float")) {
    double f;
    if (json_is_str(v, "NaN"))
      f = NAN;
    else if (json_is_str(v, "Infinity"))
      f = INFINITY;
    else if (json_is_str(v, "-Infinity"))
      f = -INFINITY;
    else
      return set_err(e->err, FARM_EMALFORMED, v->offset,
                     "$float needs \"NaN\", \"Infinity\" or \"-Infinity\"");
    return wrote(e, fp_write_float(&e->w, f), obj);
  }

  if (json_is_str(k, "$bin")) {
    uint8_t *b;
    size_t n;
    rc = want_hex(e, v, "$bin", &b, &n);
    if (rc != 0)
      return rc;
    rc = wrote(e, fp_write_bin(&e->w, b, n), obj);
    free(b);
    return rc;
  }

  if (json_is_str(k, "$ext")) {
    int64_t type;
    uint8_t *b;
    size_t n;
    if ((rc = only_in(e, obj, FP_CODEC_MSGPACK, "an ext type")) != 0)
      return rc;
    if (!is_pair(v))
      return set_err(e->err, FARM_EMALFORMED, v->offset, "$ext needs [type, \"hex\"]");
    const struct json_value *t = &v->u.items[0];
    if ((rc = want_int(e, t, -128, 127, "ext type", &type)) != 0)
      return rc;
    /* Ext -1 is the timestamp extension (msgpack spec), spelled $timestamp. */
    if (type == -1)
      return set_err(e->err, FARM_ERANGE, t->offset,
                     "ext type -1 is the timestamp: write {\"$timestamp\":[sec,nsec]}");
    if ((rc = want_hex(e, &v->u.items[1], "$ext", &b, &n)) != 0)
      return rc;
    rc = wrote(e, fp_mp_write_ext(&e->w.u.mp, (int8_t)type, b, n), obj);
    free(b);
    return rc;
  }

  if (json_is_str(k, "$timestamp")) {
    int64_t sec;
    int64_t nsec;
    if ((rc = only_in(e, obj, FP_CODEC_MSGPACK, "a timestamp extension")) != 0)
      return rc;
    if (!is_pair(v))
      return set_err(e->err, FARM_EMALFORMED, v->offset, "$timestamp needs [seconds, nanoseconds]");
    if ((rc = want_int(e, &v->u.items[0], INT64_MIN, INT64_MAX, "seconds", &sec)) != 0 ||
        (rc = want_int(e, &v->u.items[1], 0, 999999999, "nanoseconds", &nsec)) != 0)
      return rc;
    return wrote(e, fp_mp_write_timestamp(&e->w.u.mp, sec, (uint32_t)nsec), obj);
  }

  if (json_is_str(k, "$tag")) {
    bool neg;
    uint64_t tag;
    if ((rc = only_in(e, obj, FP_CODEC_CBOR, "a tag")) != 0)
      return rc;
    if (!is_pair(v))
      return set_err(e->err, FARM_EMALFORMED, v->offset, "$tag needs [tag number, value]");
    const struct json_value *t = &v->u.items[0];
    if (t->type != JT_NUMBER || !t->integer || !parse_int(t->u.text, &neg, &tag) || neg)
      return set_err(e->err, FARM_ERANGE, t->offset, "tag number must be an integer 0..2^64-1");
    if ((rc = enter(e, obj, depth, 1)) != 0)
      return rc;
    if ((rc = wrote(e, fp_cbor_write_tag(&e->w.u.cbor, tag), obj)) != 0)
      return rc;
    return enc_value(e, &v->u.items[1], depth + 1);
  }

  if (json_is_str(k, "$undefined")) {
    if ((rc = only_in(e, obj, FP_CODEC_CBOR, "undefined")) != 0)
      return rc;
    if (v->type != JT_NULL)
      return set_err(e->err, FARM_EMALFORMED, v->offset, "$undefined needs null");
    return wrote(e, fp_cbor_write_undefined(&e->w.u.cbor), obj);
  }

  if (json_is_str(k, "$simple")) {
    int64_t s;
    if ((rc = only_in(e, obj, FP_CODEC_CBOR, "a simple value")) != 0)
      return rc;
    if ((rc = want_int(e, v, 0, 255, "simple value", &s)) != 0)
      return rc;
    /* RFC 8949 §3.3: 20..23 are false, true, null and undefined (spelled as
     * such in JSON); 24..31 are reserved. */
    if (s >= 20 && s <= 31)
      return set_err(e->err, FARM_ERANGE, v->offset, "simple value must be 0..19 or 32..255");
    return wrote(e, fp_cbor_write_simple(&e->w.u.cbor, (uint8_t)s), obj);
  }

  if (json_is_str(k, "$map")) {
    if (v->type != JT_ARRAY)
      return set_err(e->err, FARM_EMALFORMED, v->offset,
                     "$map needs an array of [key, value] pairs");
    for (uint32_t i = 0; i < v->count; i++)
      if (!is_pair(&v->u.items[i]))
        return set_err(e->err, FARM_EMALFORMED, v->u.items[i].offset,
                       "$map needs an array of [key, value] pairs");
    if ((rc = enter(e, obj, depth, v->count)) != 0)
      return rc;
    if ((rc = wrote(e, fp_write_map(&e->w, v->count), obj)) != 0)
      return rc;
    for (uint32_t i = 0; i < v->count; i++) {
      const struct json_value *pair = &v->u.items[i];
      if ((rc = enc_value(e, &pair->u.items[0], depth + 1)) != 0 ||
          (rc = enc_value(e, &pair->u.items[1], depth + 1)) != 0)
        return rc;
    }
    return 0;
  }

  return set_err(e->err, FARM_EMALFORMED, k->offset,
                 "unknown '$' form: a one-member object whose key starts with '$' "
                 "must be $float, $bin, $ext, $timestamp, $tag, $undefined, "
                 "$simple or $map");
}

static int enc_value(struct enc *e, const struct json_value *v, unsigned depth)
{
  int rc;
  switch ((enum json_type)v->type) {
  case JT_NULL:
    return wrote(e, fp_write_nil(&e->w), v);
  case JT_FALSE:
  case JT_TRUE:
    return wrote(e, fp_write_bool(&e->w, v->type == JT_TRUE), v);
  case JT_NUMBER:
    return enc_number(e, v);
  case JT_STRING:
    return wrote(e, fp_write_str(&e->w, v->u.text, v->len), v);
  case JT_ARRAY:
    if ((rc = enter(e, v, depth, v->count)) != 0 ||
        (rc = wrote(e, fp_write_array(&e->w, v->count), v)) != 0)
      return rc;
    for (uint32_t i = 0; i < v->count; i++)
      if ((rc = enc_value(e, &v->u.items[i], depth + 1)) != 0)
        return rc;
    return 0;
  case JT_OBJECT:
    if (v->count == 1 && json_key(v, 0)->len > 0 && json_key(v, 0)->u.text[0] == '$')
      return enc_special(e, v, depth);
    if ((rc = enter(e, v, depth, v->count)) != 0 ||
        (rc = wrote(e, fp_write_map(&e->w, v->count), v)) != 0)
      return rc;
    for (uint32_t i = 0; i < v->count; i++) {
      const struct json_value *k = json_key(v, i);
      if ((rc = wrote(e, fp_write_str(&e->w, k->u.text, k->len), k)) != 0 ||
          (rc = enc_value(e, json_member(v, i), depth + 1)) != 0)
        return rc;
    }
    return 0;
  }
  assert(!"unknown JSON type");
  return FARM_EINVAL;
}

int vj_encode(enum fp_codec codec, const struct json_value *v, uint8_t **out, size_t *out_len,
              struct vj_error *err)
{
  *out = NULL;
  *out_len = 0;
  for (size_t cap = 4096;; cap *= 2) {
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
      return set_err(err, FARM_ENOMEM, v->offset, "out of memory");
    struct enc e = {.err = err};
    fp_writer_init(&e.w, codec, buf, cap);
    int rc = enc_value(&e, v, 0);
    if (rc == 0) {
      *out = buf;
      *out_len = fp_writer_len(&e.w);
      return 0;
    }
    free(buf);
    if (rc != FARM_ENOSPC)
      return rc;
    if (cap > SIZE_MAX / 4)
      return set_err(err, FARM_ENOMEM, v->offset, "out of memory");
  }
}
