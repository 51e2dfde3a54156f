/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the radio payload decoder, the gateway's and the node's
 * first contact with untrusted air. A decode that fails must say why (code,
 * key, offset within the input) and agree with the header check; one that
 * succeeds must re-encode (the encoder never refuses what the decoder
 * accepted, except a reading whose integer metric values grow into floats
 * past the MTU), and the encoding must decode to an equal struct and
 * re-encode to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "fp/radio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "fuzz_radio: %s\n", what);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct fp_radio_msg m;
  struct fp_msg_error err;
  struct fp_radio_header h;
  int hrc = fp_radio_peek_header(data, size, &h);
  int rc = fp_radio_decode(data, size, &m, &err);
  if (hrc != 0)
    check(rc == hrc, "decode disagrees with the header check");
  if (rc != 0) {
    char text[160];
    check(rc < 0 && err.code == rc, "error code not recorded");
    check(err.offset <= size, "error offset outside the input");
    check(memchr(err.key, '\0', sizeof err.key) != NULL, "key without NUL");
    check(err.in != NULL && err.expected != NULL, "NULL error detail");
    int n = fp_msg_error_format(&err, text, sizeof text);
    check(n > 0 && (size_t)n < sizeof text, "error text too long");
    return 0;
  }
  check(size > FP_RADIO_HEADER_LEN && size <= FP_RADIO_MTU,
        "accepted a payload of impossible length");
  check(m.type == h.type && m.boot == h.boot && m.seq == h.seq,
        "header fields differ from the peek");
  check(fp_radio_validate(&m, NULL) == 0, "a decoded message fails validation");

  uint8_t buf[FP_RADIO_MTU], again[FP_RADIO_MTU];
  size_t len = 0, len2 = 0;
  rc = fp_radio_encode(&m, buf, sizeof buf, &len);
  if (rc == FARM_ETOOBIG) {
    check(m.type == FP_RADIO_TEL, "only a reading may grow past the MTU");
    return 0;
  }
  check(rc == 0, "a decoded message does not encode");
  struct fp_radio_msg back;
  check(fp_radio_decode(buf, len, &back, &err) == 0, "our own encoding does not decode");
  check(fp_radio_equal(&m, &back), "round trip changed the message");
  check(fp_radio_encode(&back, again, sizeof again, &len2) == 0 && len2 == len &&
            memcmp(buf, again, len) == 0,
        "encoding is not deterministic");
  return 0;
}
