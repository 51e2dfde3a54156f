/* SPDX-License-Identifier: MIT */
/*
 * The mapping between MessagePack/CBOR values and JSON used by
 * `farmctl codec`. Plain JSON carries what JSON can say (null, booleans,
 * integers of any size the codecs have, floats, text, arrays, text-keyed
 * maps in their order); one-member objects whose key starts with '$' carry
 * the rest:
 *   {"$float":"NaN"|"Infinity"|"-Infinity"}  non-finite floats
 *   {"$bin":"<hex>"}                          byte strings
 *   {"$ext":[type,"<hex>"]}                   msgpack ext (type -128..127, not -1)
 *   {"$timestamp":[sec,nsec]}                 msgpack timestamp (ext -1)
 *   {"$tag":[n,value]}                        CBOR tag
 *   {"$undefined":null}                       CBOR undefined
 *   {"$simple":n}                             other CBOR simple values
 *   {"$map":[[k,v],...]}                      a map that a JSON object cannot
 *                                             spell: a key that is not text,
 *                                             duplicate keys, or one single key
 *                                             that starts with '$'
 * Decoding prints every float with a '.' or an exponent, so it reads back as
 * a float; encoding writes the shortest lossless form, so decode then encode
 * gives back the preferred encoding byte for byte.
 */
#ifndef FARMCTL_VALUE_JSON_H
#define FARMCTL_VALUE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"
#include "fp/value.h"
#include "json_parse.h"
#include "json_write.h"

struct vj_error {
  size_t offset; /* byte offset in the input (binary or JSON) */
  char msg[160]; /* one line, no trailing newline */
};

/*
 * Converts exactly one binary value (the len bytes of buf, nothing after it)
 * to compact JSON appended to w (no newline). Returns 0, or with err filled:
 *   FARM_ETRUNCATED, FARM_EMALFORMED, FARM_EUTF8, FARM_EDEPTH, FARM_ETRAILING
 *   FARM_EEMPTY    (len is 0)           the reader's verdict on the input
 *   FARM_ENOMEM    out of memory
 * On error w may hold a partial document: the caller discards it (jw_reset).
 */
int vj_decode(enum fp_codec codec, const uint8_t *buf, size_t len, struct json_writer *w,
              struct vj_error *err);

/*
 * Encodes the JSON value v in codec. On success returns 0 and *out (malloc'd,
 * the caller frees it) of *out_len bytes. Errors, with err->offset naming
 * the JSON value at fault:
 *   FARM_ERANGE        an integer the format cannot hold, a number beyond
 *                      the double range, an out-of-range ext type, tag,
 *                      simple value or nanoseconds
 *   FARM_EUNSUPPORTED  a form the format does not have ($tag in msgpack...)
 *   FARM_EMALFORMED    an unknown or ill-formed '$' form
 *   FARM_EDEPTH        arrays, maps and tags nested deeper than FP_MAX_DEPTH
 *   FARM_ETOOBIG       a container or string too long for the format
 *   FARM_ENOMEM        out of memory
 */
int vj_encode(enum fp_codec codec, const struct json_value *v, uint8_t **out, size_t *out_len,
              struct vj_error *err);

/*
 * Deepest JSON nesting that still describes a value within FP_MAX_DEPTH:
 * {"$map":[[k,v]]} spends three JSON levels on one map level, so the JSON
 * parser is given this bound and vj_encode checks the real depth.
 */
#define VJ_JSON_MAX_DEPTH (3u * FP_MAX_DEPTH + 2u)

#endif /* FARMCTL_VALUE_JSON_H */
