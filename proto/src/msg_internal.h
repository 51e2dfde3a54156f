/* SPDX-License-Identifier: MIT */
/*
 * The parts of the message schema that the serial messages (msg.c) and the
 * radio payloads (radio.c) share: the radio body reuses the serial keys and
 * their value rules (DESIGN §5), so both read, check and write a value of a
 * given key through these functions and cannot drift apart. Implemented in
 * msg.c; not part of the library's API.
 */
#ifndef FP_MSG_INTERNAL_H
#define FP_MSG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"
#include "fp/msg.h"

/* Range texts for struct fp_msg_error.expected, shared by the decoders and
 * the validators. */
#define X_U32        "0..4294967295"
#define X_GSEQ       "1..4294967295"
#define X_U64        "0..18446744073709551615"
#define X_I64        "-9223372036854775808..9223372036854775807"
#define X_MAC        "6 bytes"
#define X_UNICAST    "a unicast, non-zero MAC"
#define X_FW         "1..31 bytes"
#define X_CH         "1..14"
#define X_PEERS      "0..65535"
#define X_RSSI       "-127..0"
#define X_EVT_NAME   "1..31 bytes"
#define X_CMD_NAME   "1..31 of [a-z0-9_.]"
#define X_STATE      "joined, updated or removed"
#define X_ASSET      "1..47 bytes"
#define X_STAGE      "gw or node"
#define X_ERR        "1..63 bytes"
#define X_LVL        "0..4"
#define X_MSG        "0..200 bytes"
#define X_DURATION   "1..3600"
#define X_METRICS    "1..16 entries"
#define X_COUNTERS   "0..24 entries"
#define X_ARGS       "0..8 entries"
#define X_ENTRY_NAME "1..15 of [a-z0-9_]"
#define X_NUMBER     "number"
#define X_FINITE     "finite number"
#define X_ARG_VALUE  "integer, float, boolean or text"
#define X_ARG_STR    "0..31 bytes"
#define X_NO_NUL     "text without NUL"

/* A decoder over one map: the reader, the serial message being filled
 * (NULL when the radio decoder uses it), and where errors go (never NULL). */
struct fp__dec {
  struct fp_reader r;
  struct fp_msg *m;
  struct fp_msg_error *err;
};

/* Fills *e (key cut to "" when longer than FP_MSG_KEY_MAX). */
void fp__msg_error_set(struct fp_msg_error *e, int code, const char *key, size_t offset,
                       const char *in, const char *expected);

/*
 * Decoding. key is a key name of the schema ("up_ms", "v"); each function
 * reads one value at the reader's position, checks its type and range as
 * fp_msg_decode does for that key, and on error fills d->err (key, byte
 * offset relative to the reader's buffer, expected) and returns the code.
 */
/* A map key: definite-length text (FARM_ETYPE, FARM_EUNSUPPORTED, reader
 * errors); *key points into the input. */
int fp__dec_key(struct fp__dec *d, struct fp_bytes *key, size_t *off);
/* An unsigned integer in [min, max] (range: the text for errors). */
int fp__dec_uint(struct fp__dec *d, const char *key, uint64_t min, uint64_t max, const char *range,
                 uint64_t *out);
int fp__dec_bool(struct fp__dec *d, const char *key, bool *out);
/* Text of min..max bytes without NUL, copied NUL-terminated into dst. */
int fp__dec_str(struct fp__dec *d, const char *key, size_t min, size_t max, const char *range,
                char *dst);
/* The value of "name" as a command name (1..31 of [a-z0-9_.]). */
int fp__dec_cmd_name(struct fp__dec *d, char *dst);
/* The value of "v" as telemetry metrics (1..16 entries). */
int fp__dec_metrics(struct fp__dec *d, struct fp_metric *v, uint8_t *n);
/* The value of "args" (0..8 entries). */
int fp__dec_args(struct fp__dec *d, struct fp_arg *args, uint8_t *n);
/* Skips the value of an unknown key, charging reader errors to it. */
int fp__dec_skip(struct fp__dec *d, struct fp_bytes key);
/* Fails with code at offset, naming the input key when it prints safely. */
int fp__dec_fail_bytes(struct fp__dec *d, int code, struct fp_bytes key, size_t offset);

/*
 * Validation of struct fields, as fp_msg_validate does for the same key;
 * errors are filled in *e with offset 0.
 */
int fp__check_text(struct fp_msg_error *e, const char *key, const char *s, size_t cap, size_t min,
                   size_t max, const char *expected);
int fp__check_cmd_name(struct fp_msg_error *e, const char *s, size_t cap);
int fp__check_metrics(struct fp_msg_error *e, const struct fp_metric *v, unsigned n);
int fp__check_args(struct fp_msg_error *e, const struct fp_arg *args, unsigned n);

/* Encoding: the key and its map. */
void fp__put_metrics(struct fp_writer *w, const struct fp_metric *v, unsigned n);
void fp__put_args(struct fp_writer *w, const struct fp_arg *args, unsigned n);

/* Equality as fp_msg_equal: names by content, doubles by bit pattern. */
bool fp__metrics_equal(const struct fp_metric *a, const struct fp_metric *b, unsigned n);
bool fp__args_equal(const struct fp_arg *a, const struct fp_arg *b, unsigned n);

#endif /* FP_MSG_INTERNAL_H */
