/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the serial message decoder. Every input is decoded as
 * MessagePack and as CBOR. A decode that fails must say why (code, key and
 * offset within the input); one that succeeds must re-encode in both codecs
 * (the encoder never refuses what the decoder accepted), and each encoding
 * must decode to an equal struct and re-encode to the same bytes. The
 * gseq and id peeks must agree with the decoder whenever it succeeds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "fuzz_msg: %s\n", what);
    abort();
  }
}

static void roundtrip(const struct fp_msg *m, enum fp_codec c)
{
  uint8_t buf[FP_MSG_MAX_ENCODED], again[FP_MSG_MAX_ENCODED];
  size_t len = 0, len2 = 0;
  check(fp_msg_validate(m, NULL) == 0, "a decoded message fails validation");
  check(fp_msg_encode(m, c, buf, sizeof buf, &len) == 0,
        "a decoded message does not encode");
  check(len <= FP_MSG_MAX_ENCODED, "encoding longer than FP_MSG_MAX_ENCODED");
  struct fp_msg back;
  struct fp_msg_error err;
  check(fp_msg_decode(buf, len, c, &back, &err) == 0,
        "our own encoding does not decode");
  check(fp_msg_equal(m, &back), "round trip changed the message");
  check(fp_msg_encode(&back, c, again, sizeof again, &len2) == 0 &&
          len2 == len && memcmp(buf, again, len) == 0,
        "encoding is not deterministic");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const enum fp_codec codecs[] = {FP_CODEC_MSGPACK, FP_CODEC_CBOR};
  for (size_t i = 0; i < 2; i++) {
    struct fp_msg m;
    struct fp_msg_error err;
    int rc = fp_msg_decode(data, size, codecs[i], &m, &err);
    if (rc != 0) {
      char text[160];
      check(rc < 0 && err.code == rc, "error code not recorded");
      check(err.offset <= size, "error offset outside the input");
      check(memchr(err.key, '\0', sizeof err.key) != NULL, "key without NUL");
      check(err.in != NULL && err.expected != NULL, "NULL error detail");
      int n = fp_msg_error_format(&err, text, sizeof text);
      check(n > 0 && (size_t)n < sizeof text, "error text too long");
      uint32_t g = 0;
      if (fp_msg_peek_gseq(data, size, codecs[i], &g) == 0)
        check(g >= 1, "peek returned gseq 0");
      continue;
    }
    check(err.code == 0, "success with an error recorded");
    uint32_t g = 0;
    rc = fp_msg_peek_gseq(data, size, codecs[i], &g);
    if (fp_msg_is_uplink(m.type) || m.type == FP_MSG_RX)
      check(rc == 0 && g == m.gseq, "peek disagrees with decode on gseq");
    rc = fp_msg_peek_id(data, size, codecs[i], &g);
    bool has_id = (!fp_msg_is_uplink(m.type) && m.type != FP_MSG_RX) ||
                  m.type == FP_MSG_ACK || m.type == FP_MSG_PONG;
    if (has_id)
      check(rc == 0 && g == m.id, "peek disagrees with decode on id");
    roundtrip(&m, FP_CODEC_MSGPACK);
    roundtrip(&m, FP_CODEC_CBOR);
  }
  return 0;
}
