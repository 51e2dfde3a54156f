/* SPDX-License-Identifier: MIT */
/*
 * The serial message schema between gateway and edge (DESIGN §4; the full
 * specification with every key, type and range is docs/protocol.md §4-§5).
 * A message is one map with short text keys and `t` its type, carried in
 * MessagePack or CBOR. This header gives each message a C struct, an encoder
 * that refuses what the decoder would reject, and a strict decoder that
 * reports the key and byte offset at fault. Decoded messages hold no pointer
 * into the input: every string is copied into a bounded, NUL-terminated
 * array, so a message outlives the buffer it came from.
 */
#ifndef FP_MSG_H
#define FP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"

/* Wire limits (docs/protocol.md §4). Lengths are in bytes of UTF-8. */
#define FP_MAC_LEN 6
#define FP_MSG_FW_MAX 31         /* hello.fw, peer.fw: 1..31 */
#define FP_MSG_NAME_MAX 31       /* evt.name, cmd.name: 1..31 */
#define FP_MSG_ASSET_MAX 47      /* peer.asset: 1..47 */
#define FP_MSG_ERR_MAX 63        /* ack.err: 1..63 */
#define FP_MSG_LOG_MAX 200       /* log.msg: 0..200 */
#define FP_MSG_KEY_MAX 15        /* metric, counter and argument names: 1..15 */
#define FP_MSG_ARG_STR_MAX 31    /* a text argument value: 0..31 */
#define FP_MSG_MAX_METRICS 16    /* tel.v: 1..16 entries */
#define FP_MSG_MAX_COUNTERS 24   /* stats.v: 0..24 entries */
#define FP_MSG_MAX_ARGS 8        /* evt.args, cmd.args: 0..8 entries */
#define FP_MSG_MAX_PAIRS 32      /* entries of the message map itself */
#define FP_MSG_RSSI_MIN (-127)   /* dBm, tel.rssi and peer.rssi */
#define FP_MSG_RSSI_MAX 0
#define FP_MSG_CH_MIN 1          /* 2.4 GHz Wi-Fi channels (IEEE 802.11) */
#define FP_MSG_CH_MAX 14
#define FP_MSG_LVL_MAX 4         /* log.lvl: 0 error .. 4 debug */
#define FP_MSG_PAIR_MIN_S 1      /* pair_begin.duration_s */
#define FP_MSG_PAIR_MAX_S 3600
/* No valid message encodes to more than this many bytes in either codec
 * (the largest is a stats with 24 counters of 15-character names and 64-bit
 * values); it is below the 2048-byte frame payload of DESIGN §4. */
#define FP_MSG_MAX_ENCODED 1024

_Static_assert(FP_MSG_MAX_METRICS <= 23 && FP_MSG_MAX_ARGS <= 23,
               "tel.v and args fit a one-byte CBOR map head (RFC 8949 §3)");
_Static_assert(FP_MSG_NAME_MAX <= 31 && FP_MSG_FW_MAX <= 31,
               "names fit a MessagePack fixstr");

enum fp_msg_type {
  /* gateway -> edge: each carries gseq */
  FP_MSG_HELLO,
  FP_MSG_TEL,
  FP_MSG_EVT,
  FP_MSG_PEER,
  FP_MSG_ACK,
  FP_MSG_PONG,
  FP_MSG_LOG,
  FP_MSG_STATS,
  /* edge -> gateway: rx carries gseq, every other one an id */
  FP_MSG_RX,
  FP_MSG_CMD,
  FP_MSG_SET_MAC, /* "cfg:set_mac" */
  FP_MSG_TIME_SYNC,
  FP_MSG_PAIR_BEGIN,
  FP_MSG_PAIR_END,
  FP_MSG_PING,
  FP_MSG_TYPE_COUNT
};

/* ack.stage */
enum fp_stage {
  FP_STAGE_GW,   /* "gw": the gateway has taken the message */
  FP_STAGE_NODE, /* "node": the node has run the command (cmd only) */
};

/* peer.state */
enum fp_peer_state {
  FP_PEER_JOINED,  /* "joined" */
  FP_PEER_UPDATED, /* "updated" */
  FP_PEER_REMOVED, /* "removed" */
};

/* One entry of tel.v: name 1..15 of [a-z0-9_], a finite value. */
struct fp_metric {
  char name[FP_MSG_KEY_MAX + 1];
  double value;
};

/* One entry of stats.v: name 1..15 of [a-z0-9_]. */
struct fp_counter {
  char name[FP_MSG_KEY_MAX + 1];
  uint64_t value;
};

enum fp_arg_kind {
  FP_ARG_INT,   /* v.i */
  FP_ARG_FLOAT, /* v.f, finite */
  FP_ARG_BOOL,  /* v.b */
  FP_ARG_STR,   /* v.s, 0..31 bytes */
};

/* One entry of evt.args or cmd.args: key 1..15 of [a-z0-9_], a scalar. */
struct fp_arg {
  char key[FP_MSG_KEY_MAX + 1];
  enum fp_arg_kind kind;
  union {
    int64_t i;
    double f;
    bool b;
    char s[FP_MSG_ARG_STR_MAX + 1];
  } v;
};

/* Optional strings are absent when empty (""): present ones are never
 * empty on the wire. */

struct fp_msg_hello {
  uint8_t mac[FP_MAC_LEN]; /* the gateway's */
  char fw[FP_MSG_FW_MAX + 1];
  uint8_t ch;    /* 1..14 */
  uint16_t peers;
  uint32_t boot; /* the gateway's boot counter */
};

struct fp_msg_tel {
  uint8_t mac[FP_MAC_LEN]; /* the node's */
  int8_t rssi;             /* -127..0 dBm */
  bool syn;                /* synthetic reading; absent on the wire = false */
  uint32_t boot;
  uint32_t seq;
  uint64_t up_ms;
  uint8_t n_metrics; /* 1..16 */
  struct fp_metric v[FP_MSG_MAX_METRICS];
};

struct fp_msg_evt {
  uint8_t mac[FP_MAC_LEN]; /* the node's, or the gateway's own */
  bool has_boot;
  bool has_seq;
  char name[FP_MSG_NAME_MAX + 1]; /* 1..31 */
  uint32_t boot;
  uint32_t seq;
  uint8_t n_args; /* 0..8; 0 = no args key */
  struct fp_arg args[FP_MSG_MAX_ARGS];
};

struct fp_msg_peer {
  uint8_t mac[FP_MAC_LEN];
  enum fp_peer_state state;
  bool has_rssi;
  int8_t rssi;                      /* -127..0 dBm */
  char asset[FP_MSG_ASSET_MAX + 1]; /* "" = absent */
  char fw[FP_MSG_FW_MAX + 1];       /* "" = absent */
};

/* The id it answers is fp_msg.id. */
struct fp_msg_ack {
  bool ok;
  enum fp_stage stage;
  char err[FP_MSG_ERR_MAX + 1]; /* required (non-empty) when !ok */
};

/* The id of the ping it answers is fp_msg.id. */
struct fp_msg_pong {
  uint64_t up_ms; /* the gateway's uptime */
};

struct fp_msg_log {
  uint8_t lvl; /* 0 error, 1 warning, 2 notice, 3 info, 4 debug */
  char msg[FP_MSG_LOG_MAX + 1];
};

struct fp_msg_stats {
  uint8_t n_counters; /* 0..24 */
  struct fp_counter v[FP_MSG_MAX_COUNTERS];
};

struct fp_msg_cmd {
  uint8_t mac[FP_MAC_LEN];        /* the target node */
  char name[FP_MSG_NAME_MAX + 1]; /* 1..31 of [a-z0-9_.] */
  uint8_t n_args;                 /* 0..8; 0 = no args key */
  struct fp_arg args[FP_MSG_MAX_ARGS];
};

struct fp_msg_set_mac {
  uint8_t mac[FP_MAC_LEN]; /* unicast, not all-zero */
};

struct fp_msg_time_sync {
  uint64_t ts; /* Unix time in ms */
};

struct fp_msg_pair_begin {
  uint16_t duration_s; /* 1..3600 */
};

/*
 * One message. gseq and id sit outside the union because most types carry
 * one of them and the link layer handles them without looking at the type:
 *   gseq: every gateway->edge type and rx (>= 1); 0 for the others.
 *   id:   every edge->gateway type but rx, and ack and pong (the id they
 *         answer); 0 for the others.
 * The encoder ignores the fields a type does not carry; the decoder leaves
 * them 0. rx, pair_end and ping have no union member.
 */
struct fp_msg {
  enum fp_msg_type type;
  uint32_t gseq;
  uint32_t id;
  union {
    struct fp_msg_hello hello;
    struct fp_msg_tel tel;
    struct fp_msg_evt evt;
    struct fp_msg_peer peer;
    struct fp_msg_ack ack;
    struct fp_msg_pong pong;
    struct fp_msg_log log;
    struct fp_msg_stats stats;
    struct fp_msg_cmd cmd;
    struct fp_msg_set_mac set_mac;
    struct fp_msg_time_sync time_sync;
    struct fp_msg_pair_begin pair_begin;
  } u;
};

/*
 * Why a message was rejected. key is the key at fault ("" when the fault is
 * not in one key: not a map, trailing bytes, a non-text key); for a fault in
 * an entry of tel.v, stats.v or args, key is the entry's name and `in` names
 * the map ("v" or "args") — except when the entry's name itself is bad, then
 * key is "v" or "args". offset is the byte offset in the input of the item at
 * fault (0 from fp_msg_validate and for a missing key, which has no place).
 * expected is a static text saying what was expected ("unsigned integer",
 * "-127..0"), "" when there is nothing to add. Neither pointer is ever NULL
 * after a call that fills the struct.
 */
struct fp_msg_error {
  int code; /* 0 or the FARM_E* code the call returned */
  char key[FP_MSG_KEY_MAX + 1];
  size_t offset;
  const char *in;       /* "", "v" or "args" */
  const char *expected; /* "" or a static description */
};

/*
 * Checks every rule the decoder checks, on a struct: ranges, lengths, name
 * patterns, UTF-8 of every string, required optional-pairs (ack.err when
 * !ok), and that every string is NUL-terminated within its array. err may be
 * NULL. Returns 0, or the code decode would return for the same content:
 *   FARM_EUNKNOWN  m->type is not a message type (key "t")
 *   FARM_ERANGE    a number, string length, entry count or enumerated value
 *                  (stage, state, a multicast/zero cfg:set_mac mac) outside
 *                  its range
 *   FARM_EINVAL    a metric, counter, argument or command name that does
 *                  not match its pattern; a string without its NUL
 *   FARM_EUTF8     a string that is not valid UTF-8
 *   FARM_EDUPKEY   two entries of v or args with the same name
 *   FARM_EMISSING  ack with ok false and no err
 */
int fp_msg_validate(const struct fp_msg *m, struct fp_msg_error *err);

/*
 * Encodes m as one map in codec c into buf (cap bytes; FP_MSG_MAX_ENCODED
 * always suffices). Validates first with fp_msg_validate and writes nothing
 * when that fails, so it never emits what fp_msg_decode would reject; call
 * fp_msg_validate to learn the key at fault. `t` is written first (decoders
 * take a fast path for it), then the keys in the order of docs/protocol.md.
 * Returns 0 and *out_len, an error of fp_msg_validate, or FARM_ENOSPC.
 */
int fp_msg_encode(const struct fp_msg *m, enum fp_codec c, uint8_t *buf,
                  size_t cap, size_t *out_len);

/*
 * Decodes exactly one message from buf[0..len) in codec c into *out. The
 * input is untrusted and only read; *out holds no pointer into it. Absent
 * optional fields, and gseq or id when the type does not carry them, read
 * as zero; the entries of v and args past their count, and the bytes after
 * the NUL of their names, are left as they were (compare messages with
 * fp_msg_equal, not memcmp). On error *out is unspecified and *err (may be NULL) says what
 * and where. Keys may
 * come in any order; unknown keys (and keys of other types) are skipped
 * after checking that their values are well-formed. Returns 0 or:
 *   FARM_EEMPTY      len is 0
 *   FARM_ETRUNCATED, FARM_EMALFORMED, FARM_EUTF8, FARM_EDEPTH
 *                    from the reader: the encoding is not well-formed
 *                    (key: the key whose value it was in, else "")
 *   FARM_ETYPE       top level not a map (key ""), a non-text key (key ""),
 *                    or a value of the wrong type (an integer field given a
 *                    float is wrong type)
 *   FARM_EUNSUPPORTED an indefinite-length (CBOR) map or string where the
 *                    schema reads one (messages use definite lengths,
 *                    RFC 8949 §4.1 preferred serialization)
 *   FARM_ETOOBIG     the message map has more than FP_MSG_MAX_PAIRS entries
 *   FARM_EUNKNOWN    `t` is not a known type (key "t")
 *   FARM_EMISSING    a required key is absent (key: the first missing one
 *                    in the order of docs/protocol.md)
 *   FARM_EDUPKEY     a key appears twice in the message map, v or args
 *   FARM_ERANGE, FARM_EINVAL  as for fp_msg_validate
 *   FARM_ETRAILING   bytes after the map (key "")
 */
int fp_msg_decode(const uint8_t *buf, size_t len, enum fp_codec c,
                  struct fp_msg *out, struct fp_msg_error *err);

/*
 * Reads only the top-level `gseq` of a message that fp_msg_decode rejected,
 * so the edge can still acknowledge it (docs/protocol.md §4.3): resending a
 * message the edge cannot accept would block the cumulative `rx` forever.
 * Requires buf to be exactly one well-formed map (any content otherwise)
 * with one `gseq` of 1..2^32-1. Returns 0 and *gseq, or FARM_EEMPTY, a
 * reader error, FARM_ETYPE (not a map, or gseq not an unsigned integer),
 * FARM_EUNSUPPORTED (indefinite-length map), FARM_ETOOBIG (more than
 * FP_MSG_MAX_PAIRS entries), FARM_EMISSING, FARM_EDUPKEY, FARM_ERANGE or
 * FARM_ETRAILING.
 */
int fp_msg_peek_gseq(const uint8_t *buf, size_t len, enum fp_codec c,
                     uint32_t *gseq);

/*
 * The same for the top-level `id` (0..2^32-1), so the gateway can answer a
 * request it rejected with ack {ok: false} (docs/protocol.md §5.3). Same
 * contract and errors as fp_msg_peek_gseq.
 */
int fp_msg_peek_id(const uint8_t *buf, size_t len, enum fp_codec c,
                   uint32_t *id);

/*
 * Formats an error on one line into buf (cap bytes, always NUL-terminated
 * when cap > 0), e.g.
 *   key "seq": wrong type (expected unsigned integer) at byte 23
 *   key "temp_c" in "v": value out of range (expected -40..125) at byte 41
 *   trailing bytes after the value at byte 57
 * Returns the length the full text has (as snprintf), never negative.
 */
int fp_msg_error_format(const struct fp_msg_error *e, char *buf, size_t cap);

/* The wire name of a type ("cfg:set_mac"), "?" outside the enum. */
const char *fp_msg_type_name(enum fp_msg_type t);

/* Parses a wire type name. Returns 0 and *out, or FARM_EUNKNOWN. */
int fp_msg_type_parse(const char *s, enum fp_msg_type *out);

/* True for the types the gateway sends to the edge (hello .. stats). */
bool fp_msg_is_uplink(enum fp_msg_type t);

/*
 * True when a and b carry the same message: the same type and equal values
 * for every field that type carries (strings by content, numbers by value
 * and, for doubles, by bit pattern so -0.0 differs from 0.0).
 */
bool fp_msg_equal(const struct fp_msg *a, const struct fp_msg *b);

#endif /* FP_MSG_H */
