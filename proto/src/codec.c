/* SPDX-License-Identifier: MIT */
/*
 * Codec names for configuration and the command line. The reader and writer
 * dispatch itself is inline in fp/codec.h so it costs no extra call on the
 * decode path.
 */
#include "fp/codec.h"

#include <string.h>

#include "farm/error.h"

int fp_codec_parse(const char *s, enum fp_codec *out)
{
  if (s == NULL)
    return FARM_EINVAL;
  if (strcmp(s, "msgpack") == 0) {
    *out = FP_CODEC_MSGPACK;
    return 0;
  }
  if (strcmp(s, "cbor") == 0) {
    *out = FP_CODEC_CBOR;
    return 0;
  }
  return FARM_EINVAL;
}

const char *fp_codec_name(enum fp_codec c)
{
  switch (c) {
  case FP_CODEC_MSGPACK:
    return "msgpack";
  case FP_CODEC_CBOR:
    return "cbor";
  }
  return "?";
}
