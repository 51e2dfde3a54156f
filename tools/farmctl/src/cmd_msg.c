/* SPDX-License-Identifier: MIT */
/*
 * `farmctl msg decode`: what the edge agent makes of a capture of the serial
 * link. Every verified frame's payload goes through the strict message
 * decoder (fp/msg.h); an accepted message prints as one JSON line with its
 * wire key names in wire order, a rejected one as one line on stderr with
 * the decoder's reason, and the stream goes on, as it does on the edge.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "farm/error.h"
#include "fp/msg.h"
#include "frame_stream.h"
#include "json_write.h"

static const char help[] =
    "usage: farmctl msg decode [--format msgpack|cbor] < stream\n"
    "\n"
    "Reads a serial byte stream (frames as in 'farmctl frame --help'), checks\n"
    "the payload of every valid frame against the message schema and prints\n"
    "each accepted message as one JSON line with its wire key names (\"t\"\n"
    "first), \"mac\" as 12 lowercase hex digits. A frame whose message is\n"
    "rejected gives one line on stderr:\n"
    "  frame N: <reason>\n"
    "where N counts the valid frames from 1. At the end stderr gets\n"
    "  frames=N empty=N short=N cobs=N crc=N oversize=N bytes=N messages=N invalid=N\n"
    "The payload format defaults to msgpack.\n"
    "Exit status: 0 (rejections are counted, not fatal), 1 I/O error,\n"
    "2 usage error.\n";

struct msg_ctx {
  enum fp_codec codec;
  uint32_t frame_no; /* valid frames seen, 1-based in messages */
  uint32_t messages; /* accepted */
  uint32_t invalid;  /* rejected by the schema */
  struct json_writer w;
};

static void put_mac(struct json_writer *w, const uint8_t mac[FP_MAC_LEN])
{
  jw_ckey(w, "mac");
  jw_hex(w, mac, FP_MAC_LEN);
}

static void put_u64(struct json_writer *w, const char *key, uint64_t v)
{
  jw_ckey(w, key);
  jw_u64(w, v);
}

static void put_str(struct json_writer *w, const char *key, const char *s)
{
  jw_ckey(w, key);
  jw_cstr(w, s);
}

static void put_args(struct json_writer *w, const struct fp_arg *a, unsigned n)
{
  jw_ckey(w, "args");
  jw_object_begin(w);
  for (unsigned i = 0; i < n; i++) {
    jw_ckey(w, a[i].key);
    switch (a[i].kind) {
    case FP_ARG_INT:
      jw_i64(w, a[i].v.i);
      break;
    case FP_ARG_FLOAT:
      jw_double(w, a[i].v.f);
      break;
    case FP_ARG_BOOL:
      jw_bool(w, a[i].v.b);
      break;
    case FP_ARG_STR:
      jw_cstr(w, a[i].v.s);
      break;
    }
  }
  jw_object_end(w);
}

static const char *const stage_names[] = {"gw", "node"};
static const char *const state_names[] = {"joined", "updated", "removed"};

/* The message as JSON, keys in the order fp_msg_encode writes them. */
static void msg_to_json(struct json_writer *w, const struct fp_msg *m)
{
  jw_object_begin(w);
  put_str(w, "t", fp_msg_type_name(m->type));
  if (fp_msg_is_uplink(m->type) || m->type == FP_MSG_RX)
    put_u64(w, "gseq", m->gseq);
  switch (m->type) {
  case FP_MSG_HELLO:
    put_mac(w, m->u.hello.mac);
    put_str(w, "fw", m->u.hello.fw);
    put_u64(w, "ch", m->u.hello.ch);
    put_u64(w, "peers", m->u.hello.peers);
    put_u64(w, "boot", m->u.hello.boot);
    break;
  case FP_MSG_TEL: {
    const struct fp_msg_tel *t = &m->u.tel;
    put_mac(w, t->mac);
    jw_ckey(w, "rssi");
    jw_i64(w, t->rssi);
    put_u64(w, "boot", t->boot);
    put_u64(w, "seq", t->seq);
    put_u64(w, "up_ms", t->up_ms);
    jw_ckey(w, "v");
    jw_object_begin(w);
    for (unsigned i = 0; i < t->n_metrics; i++) {
      jw_ckey(w, t->v[i].name);
      jw_double(w, t->v[i].value);
    }
    jw_object_end(w);
    if (t->syn) {
      jw_ckey(w, "syn");
      jw_bool(w, true);
    }
    break;
  }
  case FP_MSG_EVT: {
    const struct fp_msg_evt *e = &m->u.evt;
    put_mac(w, e->mac);
    put_str(w, "name", e->name);
    if (e->has_boot)
      put_u64(w, "boot", e->boot);
    if (e->has_seq)
      put_u64(w, "seq", e->seq);
    if (e->n_args > 0)
      put_args(w, e->args, e->n_args);
    break;
  }
  case FP_MSG_PEER: {
    const struct fp_msg_peer *p = &m->u.peer;
    put_mac(w, p->mac);
    put_str(w, "state", state_names[p->state]);
    if (p->asset[0] != '\0')
      put_str(w, "asset", p->asset);
    if (p->has_rssi) {
      jw_ckey(w, "rssi");
      jw_i64(w, p->rssi);
    }
    if (p->fw[0] != '\0')
      put_str(w, "fw", p->fw);
    break;
  }
  case FP_MSG_ACK:
    put_u64(w, "id", m->id);
    jw_ckey(w, "ok");
    jw_bool(w, m->u.ack.ok);
    put_str(w, "stage", stage_names[m->u.ack.stage]);
    if (m->u.ack.err[0] != '\0')
      put_str(w, "err", m->u.ack.err);
    break;
  case FP_MSG_PONG:
    put_u64(w, "id", m->id);
    put_u64(w, "up_ms", m->u.pong.up_ms);
    break;
  case FP_MSG_LOG:
    put_u64(w, "lvl", m->u.log.lvl);
    put_str(w, "msg", m->u.log.msg);
    break;
  case FP_MSG_STATS:
    jw_ckey(w, "v");
    jw_object_begin(w);
    for (unsigned i = 0; i < m->u.stats.n_counters; i++)
      put_u64(w, m->u.stats.v[i].name, m->u.stats.v[i].value);
    jw_object_end(w);
    break;
  case FP_MSG_RX:
    break;
  case FP_MSG_CMD:
    put_u64(w, "id", m->id);
    put_mac(w, m->u.cmd.mac);
    put_str(w, "name", m->u.cmd.name);
    if (m->u.cmd.n_args > 0)
      put_args(w, m->u.cmd.args, m->u.cmd.n_args);
    break;
  case FP_MSG_SET_MAC:
    put_u64(w, "id", m->id);
    put_mac(w, m->u.set_mac.mac);
    break;
  case FP_MSG_TIME_SYNC:
    put_u64(w, "id", m->id);
    put_u64(w, "ts", m->u.time_sync.ts);
    break;
  case FP_MSG_PAIR_BEGIN:
    put_u64(w, "id", m->id);
    put_u64(w, "duration_s", m->u.pair_begin.duration_s);
    break;
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
    put_u64(w, "id", m->id);
    break;
  case FP_MSG_TYPE_COUNT:
    break;
  }
  jw_object_end(w);
}

static int on_payload(void *ctx_, const uint8_t *payload, size_t len)
{
  struct msg_ctx *ctx = ctx_;
  struct fp_msg m;
  struct fp_msg_error err;
  ctx->frame_no++;
  if (fp_msg_decode(payload, len, ctx->codec, &m, &err) != 0) {
    char why[256];
    fp_msg_error_format(&err, why, sizeof why);
    fprintf(stderr, "frame %" PRIu32 ": %s\n", ctx->frame_no, why);
    ctx->invalid++;
    return 0;
  }
  ctx->messages++;
  jw_reset(&ctx->w);
  msg_to_json(&ctx->w, &m);
  if (jw_status(&ctx->w) != 0)
    return FARM_ENOMEM;
  if (cli_write(ctx->w.buf, ctx->w.len) != 0 || cli_write("\n", 1) != 0)
    return FARM_EIO;
  return 0;
}

int cmd_msg(int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("msg", "msg needs a subcommand: decode");
  if (cli_is_help(argv[1])) {
    fputs(help, stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "decode") != 0)
    return cli_usage_error("msg", "unknown subcommand '%s': use decode", argv[1]);
  struct msg_ctx ctx = {.codec = FP_CODEC_MSGPACK};
  bool have_format;
  bool want_help;
  int status = cli_format_opts("msg", argc, argv, 2, &ctx.codec, &have_format, &want_help);
  if (want_help) {
    fputs(help, stdout);
    return EXIT_OK;
  }
  if (status != EXIT_OK)
    return status;
  jw_init(&ctx.w);
  struct frame_stream fs;
  int rc = frame_stream_run(&fs, on_payload, &ctx);
  char extra[64];
  snprintf(extra, sizeof extra, " messages=%" PRIu32 " invalid=%" PRIu32, ctx.messages,
           ctx.invalid);
  frame_stream_summary(&fs, extra);
  jw_free(&ctx.w);
  if (rc == FARM_EIO)
    return cli_fail("reading stdin or writing stdout failed");
  if (rc != 0)
    return cli_fail("decoding the stream failed: %s", farm_strerror(rc));
  return EXIT_OK;
}
