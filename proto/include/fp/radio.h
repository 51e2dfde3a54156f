/* SPDX-License-Identifier: MIT */
/*
 * The radio payload between nodes and the gateway (DESIGN §5): one ESP-NOW
 * v1 frame of at most 250 bytes, a fixed 10-byte header (protocol version,
 * message type, the sender's `boot` and `seq`, big-endian) followed by one
 * MessagePack map whose keys are those of the serial schema (fp/msg.h:
 * `up_ms`, `v`, `syn`, `id`, `name`, `args`, `ok`, `err`, `ts`, `ch`, `fw`,
 * `asset`). Each message type has a C struct with bounded arrays, an encoder
 * that refuses what the decoder would reject, and a strict decoder for the
 * untrusted air that reports the key and byte offset at fault in the same
 * struct fp_msg_error as the serial decoder. Decoded messages hold no
 * pointer into the input.
 */
#ifndef FP_RADIO_H
#define FP_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/msg.h"

/* The only protocol version this library speaks. */
#define FP_RADIO_VERSION 1
/* ESP-NOW v1 payload limit (DESIGN §5): every ESP32 generation accepts it.
 * The same number as HAL_RADIO_MTU; proto does not depend on the HAL. */
#define FP_RADIO_MTU 250
/* Type bytes with this bit set go gateway -> node. */
#define FP_RADIO_DOWNLINK 0x80u

/*
 * The header as it is on the air: every field a byte array, so the struct
 * has no padding and its size is the wire size. boot and seq are
 * big-endian (network order).
 */
struct fp_radio_wire_header {
  uint8_t version; /* FP_RADIO_VERSION */
  uint8_t type;    /* enum fp_radio_type */
  uint8_t boot[4]; /* the sender's boot counter (NVS, +1 at every start) */
  uint8_t seq[4];  /* the sender's message counter since that boot */
};
#define FP_RADIO_HEADER_LEN 10
_Static_assert(sizeof(struct fp_radio_wire_header) == FP_RADIO_HEADER_LEN,
               "radio header is 10 bytes: version, type, boot u32, seq u32");
/* The smallest body is an empty map (one byte, msgpack fixmap 0x80). */
_Static_assert(FP_RADIO_HEADER_LEN + 1 <= FP_RADIO_MTU, "room for a body");

/* Message types; the byte value is what goes on the air. */
enum fp_radio_type {
  /* node -> gateway */
  FP_RADIO_TEL = 0x01,     /* a reading: up_ms, v, syn? */
  FP_RADIO_EVT = 0x02,     /* an event: name, args? */
  FP_RADIO_JOIN = 0x03,    /* pairing request, broadcast: fw, asset? */
  FP_RADIO_CMD_ACK = 0x04, /* a command has run: id, ok, err? */
  /* gateway -> node */
  FP_RADIO_JOIN_ACK = 0x81, /* pairing accepted: ch, ts? */
  FP_RADIO_CMD = 0x82,      /* run a command: id, name, args? */
  FP_RADIO_TIME = 0x83,     /* wall clock: ts */
};

/* tel: one reading. */
struct fp_radio_tel {
  uint64_t up_ms;    /* the node's uptime when it measured */
  bool syn;          /* some value is synthetic; absent on the air = false */
  uint8_t n_metrics; /* 1..FP_MSG_MAX_METRICS */
  struct fp_metric v[FP_MSG_MAX_METRICS];
};

/* evt: name 1..31 bytes of UTF-8; args 0..8 (0 = no args key). */
struct fp_radio_evt {
  char name[FP_MSG_NAME_MAX + 1];
  uint8_t n_args;
  struct fp_arg args[FP_MSG_MAX_ARGS];
};

/*
 * join: firmware version 1..31 bytes; asset name 0..47 ("" = absent). A node
 * sends it with seq 0, taking no number from its message sequence (which
 * starts at 1): readings queued before pairing then still lie above any
 * high-water mark the gateway sets from the join.
 */
struct fp_radio_join {
  char fw[FP_MSG_FW_MAX + 1];
  char asset[FP_MSG_ASSET_MAX + 1];
};

/* cmd_ack: the id of the command it answers; err 1..63 bytes required
 * when !ok, optional ("" = absent) when ok. */
struct fp_radio_cmd_ack {
  uint32_t id;
  bool ok;
  char err[FP_MSG_ERR_MAX + 1];
};

/* join_ack: the Wi-Fi channel 1..14 the node must use; the wall clock
 * (Unix ms) when the gateway knows it. */
struct fp_radio_join_ack {
  uint8_t ch;
  bool has_ts;
  uint64_t ts;
};

/* cmd: id chosen by the edge; name 1..31 of [a-z0-9_.]; args 0..8. */
struct fp_radio_cmd {
  uint32_t id;
  char name[FP_MSG_NAME_MAX + 1];
  uint8_t n_args;
  struct fp_arg args[FP_MSG_MAX_ARGS];
};

/* time: the wall clock in Unix ms. */
struct fp_radio_time {
  uint64_t ts;
};

/* One radio message: the header fields and the body of its type. */
struct fp_radio_msg {
  enum fp_radio_type type;
  uint32_t boot;
  uint32_t seq;
  union {
    struct fp_radio_tel tel;
    struct fp_radio_evt evt;
    struct fp_radio_join join;
    struct fp_radio_cmd_ack cmd_ack;
    struct fp_radio_join_ack join_ack;
    struct fp_radio_cmd cmd;
    struct fp_radio_time time;
  } u;
};

/* The header alone, read without touching the body (the gateway checks the
 * sender and replays before paying for a body decode). */
struct fp_radio_header {
  enum fp_radio_type type;
  uint32_t boot;
  uint32_t seq;
};

/*
 * Checks every rule the decoder checks, on a struct: the type, ranges,
 * lengths, name patterns, UTF-8 and NUL termination of every string,
 * cmd_ack.err when !ok. err may be NULL; its key names the field at fault
 * ("t" for the type), its offset is 0. Returns 0 or:
 *   FARM_EUNKNOWN  m->type is not a radio message type
 *   FARM_ERANGE, FARM_EINVAL, FARM_EUTF8, FARM_EDUPKEY, FARM_EMISSING
 *                  as fp_msg_validate
 */
int fp_radio_validate(const struct fp_radio_msg *m, struct fp_msg_error *err);

/*
 * Encodes m (header, then its body as one MessagePack map) into buf (cap
 * bytes; FP_RADIO_MTU always suffices). A message decoded from a payload
 * may not re-encode within the MTU: integer metric values become floats. Validates first and writes
 * nothing that fp_radio_decode would reject. Optional fields are written only when present (syn
 * only when true). Returns 0 and *out_len (11..FP_RADIO_MTU), an error of fp_radio_validate,
 * FARM_ETOOBIG (valid, but the payload would exceed FP_RADIO_MTU: fewer metrics or shorter names),
 * or FARM_ENOSPC (it fits FP_RADIO_MTU but not cap).
 */
int fp_radio_encode(const struct fp_radio_msg *m, uint8_t *buf, size_t cap, size_t *out_len);

/*
 * Reads and checks the header of buf[0..len) only. Returns 0 and *out, or
 * FARM_ETOOBIG (len > FP_RADIO_MTU), FARM_ETRUNCATED (len < 10: less than
 * the header), FARM_EUNSUPPORTED (version is not FP_RADIO_VERSION),
 * FARM_EUNKNOWN (type is not a radio message type), in that order of
 * precedence.
 */
int fp_radio_peek_header(const uint8_t *buf, size_t len, struct fp_radio_header *out);

/*
 * Decodes one radio payload buf[0..len). The input is untrusted and only
 * read; *out holds no pointer into it. On error *out is unspecified and
 * *err (may be NULL) says what and where: offsets count from the first
 * byte of the payload (the header included), so the body starts at 10;
 * header faults have key "" and the offset of the field (0 version,
 * 1 type). Keys may come in any order; unknown keys are skipped after
 * checking that their values are well-formed. Returns 0 or:
 *   FARM_ETOOBIG, FARM_ETRUNCATED, FARM_EUNSUPPORTED, FARM_EUNKNOWN
 *                    as fp_radio_peek_header
 *   FARM_ETRUNCATED, FARM_EMALFORMED, FARM_EUTF8, FARM_EDEPTH
 *                    the body is not well-formed MessagePack, or is missing
 *   FARM_ETYPE       body not a map, a non-text key, a value of the wrong
 *                    type (an integer field given a float is wrong type)
 *   FARM_ETOOBIG     the body map has more than FP_MSG_MAX_PAIRS entries
 *   FARM_EMISSING    a required key is absent
 *   FARM_EDUPKEY     a key appears twice in the body, v or args
 *   FARM_ERANGE, FARM_EINVAL  as fp_radio_validate (NaN/Inf and
 *                    physically impossible metric values are FARM_ERANGE
 *                    as in fp_msg_decode)
 *   FARM_ETRAILING   bytes after the body map
 */
int fp_radio_decode(const uint8_t *buf, size_t len, struct fp_radio_msg *out,
                    struct fp_msg_error *err);

/* The lowercase name of a type ("tel", "cmd_ack"), "?" outside the enum. */
const char *fp_radio_type_name(enum fp_radio_type t);

/* True for the radio message types (the enum's values only). */
bool fp_radio_type_valid(unsigned type);

/* True for the types the gateway sends to nodes (the high bit set). */
static inline bool fp_radio_is_downlink(enum fp_radio_type t)
{
  return ((unsigned)t & FP_RADIO_DOWNLINK) != 0;
}

/*
 * True when a and b carry the same message: type, boot, seq and every field
 * the type carries (strings by content, doubles by bit pattern).
 */
bool fp_radio_equal(const struct fp_radio_msg *a, const struct fp_radio_msg *b);

#endif /* FP_RADIO_H */
