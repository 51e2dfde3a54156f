/* SPDX-License-Identifier: MIT */
/*
 * `farmctl codec encode|decode`: one MessagePack or CBOR value to and from
 * JSON, with the mapping of value_json.h for what JSON cannot say. Both
 * directions read all of stdin (up to CLI_MAX_INPUT), build the whole output
 * in memory and print it only when the conversion succeeded; a failure is
 * one line on stderr naming the byte offset of the fault in the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "farm/error.h"
#include "json_parse.h"
#include "json_write.h"
#include "value_json.h"

static const char help[] =
    "usage: farmctl codec encode --format msgpack|cbor < value.json > value.bin\n"
    "       farmctl codec decode --format msgpack|cbor < value.bin > value.json\n"
    "\n"
    "encode: one JSON value -> its binary encoding, in the shortest lossless\n"
    "  form (shortest integer heads, floats in the smallest width that keeps\n"
    "  the value, definite lengths). JSON numbers without fraction or exponent\n"
    "  are integers (msgpack: -2^63..2^64-1, cbor: -2^64..2^64-1), others\n"
    "  floats. Object members keep their order.\n"
    "decode: exactly one binary value (nothing after it) -> compact JSON and a\n"
    "  newline. Floats always print with '.' or an exponent (1.0, 1e+300).\n"
    "\n"
    "What JSON cannot say is a one-member object whose key starts with '$':\n"
    "  {\"$float\":\"NaN\"}, \"Infinity\", \"-Infinity\"   non-finite floats\n"
    "  {\"$bin\":\"00ff\"}                           byte string, lowercase hex\n"
    "  {\"$ext\":[type,\"hex\"]}                     msgpack ext (type -128..127, not -1)\n"
    "  {\"$timestamp\":[sec,nsec]}                 msgpack timestamp (ext -1)\n"
    "  {\"$tag\":[n,value]}                        CBOR tag\n"
    "  {\"$undefined\":null}                       CBOR undefined\n"
    "  {\"$simple\":n}                             CBOR simple value (0..19, 32..255)\n"
    "  {\"$map\":[[key,value],...]}                a map with a non-text key,\n"
    "                                            duplicate keys, or a single key\n"
    "                                            starting with '$'\n"
    "CBOR integers below -2^63 are plain JSON integers; indefinite-length CBOR\n"
    "items decode to their plain value (and encode back definite). A value the\n"
    "target format cannot carry ($tag to msgpack, $ext to cbor...) is an error.\n"
    "decode then encode gives back the shortest encoding byte for byte.\n"
    "\n"
    "Limits: 16 MiB of input; 32 levels of nested arrays, maps and tags.\n"
    "Errors: exit 1 with one line on stderr, e.g.\n"
    "  farmctl: byte 17: input ends inside an item\n"
    "where the byte offset is in the input (JSON text for encode).\n"
    "Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n";

static int read_input(uint8_t **buf, size_t *len)
{
  int rc = cli_read_all(CLI_MAX_INPUT, buf, len);
  if (rc == FARM_ETOOBIG)
    return cli_fail("input larger than 16 MiB");
  if (rc != 0)
    return cli_fail("reading stdin failed: %s", farm_strerror(rc));
  return EXIT_OK;
}

static int codec_encode(enum fp_codec codec)
{
  uint8_t *in;
  size_t len;
  int status = read_input(&in, &len);
  if (status != EXIT_OK)
    return status;
  struct json_doc *doc = NULL;
  struct json_error jerr;
  int rc = json_parse((const char *)in, len, VJ_JSON_MAX_DEPTH, &doc, &jerr);
  if (rc != 0) {
    status = cli_fail("byte %zu: invalid JSON: %s", jerr.offset, jerr.msg);
    goto free_in;
  }
  uint8_t *out;
  size_t out_len;
  struct vj_error verr;
  rc = vj_encode(codec, json_doc_root(doc), &out, &out_len, &verr);
  if (rc != 0) {
    status = cli_fail("byte %zu: %s", verr.offset, verr.msg);
    goto free_doc;
  }
  if (cli_write(out, out_len) != 0 || cli_flush() != 0)
    status = cli_fail("writing stdout failed");
  free(out);
free_doc:
  json_doc_free(doc);
free_in:
  free(in);
  return status;
}

static int codec_decode(enum fp_codec codec)
{
  uint8_t *in;
  size_t len;
  int status = read_input(&in, &len);
  if (status != EXIT_OK)
    return status;
  struct json_writer w;
  struct vj_error verr;
  jw_init(&w);
  int rc = vj_decode(codec, in, len, &w, &verr);
  if (rc != 0) {
    status = cli_fail("byte %zu: %s", verr.offset, verr.msg);
    goto free_all;
  }
  if (cli_write(w.buf, w.len) != 0 || cli_write("\n", 1) != 0 || cli_flush() != 0)
    status = cli_fail("writing stdout failed");
free_all:
  jw_free(&w);
  free(in);
  return status;
}

int cmd_codec(int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("codec", "codec needs a subcommand: encode or decode");
  if (cli_is_help(argv[1])) {
    fputs(help, stdout);
    return EXIT_OK;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "encode") != 0 && strcmp(sub, "decode") != 0)
    return cli_usage_error("codec", "unknown subcommand '%s': use encode or decode", sub);
  enum fp_codec codec = FP_CODEC_MSGPACK;
  bool have_format;
  bool want_help;
  int status = cli_format_opts("codec", argc, argv, 2, &codec, &have_format, &want_help);
  if (want_help) {
    fputs(help, stdout);
    return EXIT_OK;
  }
  if (status != EXIT_OK)
    return status;
  if (!have_format)
    return cli_usage_error("codec", "codec %s needs --format msgpack or --format cbor", sub);
  return strcmp(sub, "encode") == 0 ? codec_encode(codec) : codec_decode(codec);
}
