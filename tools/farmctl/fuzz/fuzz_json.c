/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for farmctl's JSON side: any bytes go through the JSON
 * parser and, when they parse, through the encoder into both formats. Every
 * encoding produced must decode again, and decode -> encode must give back
 * the same bytes (the encoder writes the preferred form, which decode maps
 * back onto itself). The first input byte also feeds the binary decoders
 * directly, so their JSON output is checked to parse and re-encode exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "json_parse.h"
#include "json_write.h"
#include "value_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encoding an already decoded JSON gives bytes that decode to that JSON. */
static void check_decode_encode(enum fp_codec c, const uint8_t *bin, size_t len)
{
  struct json_writer w;
  struct vj_error err;
  jw_init(&w);
  if (vj_decode(c, bin, len, &w, &err) != 0) {
    jw_free(&w);
    return;
  }
  struct json_doc *doc;
  struct json_error jerr;
  if (json_parse(w.buf, w.len, VJ_JSON_MAX_DEPTH, &doc, &jerr) != 0)
    abort(); /* decode printed JSON that does not parse */
  uint8_t *out;
  size_t out_len;
  if (vj_encode(c, json_doc_root(doc), &out, &out_len, &err) != 0)
    abort(); /* decode printed what encode refuses */
  struct json_writer w2;
  jw_init(&w2);
  if (vj_decode(c, out, out_len, &w2, &err) != 0)
    abort(); /* encode wrote what decode refuses */
  if (w2.len != w.len || memcmp(w2.buf, w.buf, w.len) != 0)
    abort(); /* the JSON changed on the way round */
  uint8_t *again;
  size_t again_len;
  json_doc_free(doc);
  if (json_parse(w2.buf, w2.len, VJ_JSON_MAX_DEPTH, &doc, &jerr) != 0 ||
      vj_encode(c, json_doc_root(doc), &again, &again_len, &err) != 0)
    abort();
  if (again_len != out_len || memcmp(again, out, out_len) != 0)
    abort(); /* preferred form is not a fixed point */
  free(again);
  json_doc_free(doc);
  jw_free(&w2);
  free(out);
  jw_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 1 << 16)
    return 0;
  if (size > 0 && (data[0] == 0xa5 || data[0] == 0x5a)) {
    /* Binary input for the decoders. */
    check_decode_encode(data[0] == 0xa5 ? FP_CODEC_CBOR : FP_CODEC_MSGPACK, data + 1, size - 1);
    return 0;
  }
  struct json_doc *doc;
  struct json_error jerr;
  if (json_parse((const char *)data, size, VJ_JSON_MAX_DEPTH, &doc, &jerr) != 0) {
    if (jerr.msg == NULL || jerr.offset > size)
      abort(); /* every error names a place inside the input */
    return 0;
  }
  for (int c = 0; c < 2; c++) {
    enum fp_codec codec = c ? FP_CODEC_CBOR : FP_CODEC_MSGPACK;
    uint8_t *out;
    size_t out_len;
    struct vj_error err;
    if (vj_encode(codec, json_doc_root(doc), &out, &out_len, &err) != 0) {
      if (err.offset > size)
        abort();
      continue;
    }
    check_decode_encode(codec, out, out_len);
    free(out);
  }
  json_doc_free(doc);
  return 0;
}
