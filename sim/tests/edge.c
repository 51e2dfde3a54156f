/* SPDX-License-Identifier: MIT */
/*
 * The tests' minimal edge (edge.h): frame decoding, gseq-ordered
 * processing with cumulative rx, and request encoding.
 */
#include "edge.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

void edge_init(struct edge *e, enum fp_codec codec)
{
  memset(e, 0, sizeof *e);
  e->codec = codec;
  e->auto_rx = true;
  fp_frame_decoder_init(&e->dec);
}

void edge_free(struct edge *e)
{
  free(e->msgs);
  free(e->out);
  memset(e, 0, sizeof *e);
}

static void out_append(struct edge *e, const uint8_t *p, size_t n)
{
  if (e->out_len + n > e->out_cap) {
    size_t cap = e->out_cap ? e->out_cap : 4096;
    while (cap < e->out_len + n)
      cap *= 2;
    e->out = realloc(e->out, cap);
    assert(e->out != NULL);
    e->out_cap = cap;
  }
  memcpy(e->out + e->out_len, p, n);
  e->out_len += n;
}

void edge_consume(struct edge *e, size_t n)
{
  assert(n <= e->out_len);
  memmove(e->out, e->out + n, e->out_len - n);
  e->out_len -= n;
}

int edge_send(struct edge *e, const struct fp_msg *m)
{
  uint8_t payload[FP_MSG_MAX_ENCODED];
  size_t len = 0;
  int rc = fp_msg_encode(m, e->codec, payload, sizeof payload, &len);
  if (rc != 0)
    return rc;
  uint8_t wire[FP_FRAME_MAX_WIRE];
  size_t wlen = 0;
  rc = fp_frame_encode(payload, len, wire, sizeof wire, &wlen);
  if (rc != 0)
    return rc;
  out_append(e, wire, wlen);
  return 0;
}

void edge_send_rx(struct edge *e)
{
  if (e->committed == 0)
    return;
  struct fp_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_MSG_RX;
  m.gseq = e->committed;
  int rc = edge_send(e, &m);
  assert(rc == 0);
  (void)rc;
  e->need_rx = false;
}

static void commit(struct edge *e, const struct fp_msg *m)
{
  if (e->n_msgs == e->cap_msgs) {
    e->cap_msgs = e->cap_msgs ? 2 * e->cap_msgs : 256;
    e->msgs = realloc(e->msgs, e->cap_msgs * sizeof *e->msgs);
    assert(e->msgs != NULL);
  }
  e->msgs[e->n_msgs++] = *m;
}

static void handle(struct edge *e, const uint8_t *p, size_t len)
{
  e->frames++;
  struct fp_msg m;
  uint32_t gseq;
  bool ok = fp_msg_decode(p, len, e->codec, &m, NULL) == 0;
  if (ok)
    gseq = m.gseq;
  else if (fp_msg_peek_gseq(p, len, e->codec, &gseq) != 0)
    return; /* not even a gseq: dropped */
  if (ok && m.type == FP_MSG_HELLO &&
      (!e->have_hello || m.u.hello.boot != e->gw_boot ||
       memcmp(m.u.hello.mac, e->gw_mac, FP_MAC_LEN) != 0)) {
    /* A new gateway start: its numbering begins again (§4.3). */
    e->have_hello = true;
    e->gw_boot = m.u.hello.boot;
    memcpy(e->gw_mac, m.u.hello.mac, FP_MAC_LEN);
    e->committed = 0;
    e->hellos++;
  }
  if (gseq <= e->committed) {
    e->resends++;
    e->need_rx = true;
    return;
  }
  if (gseq != e->committed + 1) {
    e->gaps++;
    return;
  }
  e->committed = gseq;
  e->need_rx = true;
  if (ok)
    commit(e, &m);
  else
    e->undecodable++;
}

void edge_feed(struct edge *e, const uint8_t *data, size_t len)
{
  while (len > 0) {
    size_t used = 0;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    int rc = fp_frame_feed(&e->dec, data, len, &used, &payload, &plen);
    data += used;
    len -= used;
    if (rc == 0 && payload != NULL)
      handle(e, payload, plen);
  }
  if (e->auto_rx && e->need_rx)
    edge_send_rx(e);
}

long edge_find(const struct edge *e, size_t from, enum fp_msg_type t, uint32_t id)
{
  for (size_t i = from; i < e->n_msgs; i++) {
    if (e->msgs[i].type == t && (id == UINT32_MAX || e->msgs[i].id == id))
      return (long)i;
  }
  return -1;
}

size_t edge_count(const struct edge *e, enum fp_msg_type t)
{
  size_t n = 0;
  for (size_t i = 0; i < e->n_msgs; i++)
    n += e->msgs[i].type == t;
  return n;
}

void edge_msg_simple(struct fp_msg *m, enum fp_msg_type t, uint32_t id)
{
  memset(m, 0, sizeof *m);
  m->type = t;
  m->id = id;
}

void edge_msg_cmd(struct fp_msg *m, uint32_t id, const uint8_t mac[FP_MAC_LEN], const char *name)
{
  edge_msg_simple(m, FP_MSG_CMD, id);
  memcpy(m->u.cmd.mac, mac, FP_MAC_LEN);
  strncpy(m->u.cmd.name, name, FP_MSG_NAME_MAX);
}

static struct fp_arg *new_arg(struct fp_msg *m, const char *key)
{
  assert(m->u.cmd.n_args < FP_MSG_MAX_ARGS);
  struct fp_arg *a = &m->u.cmd.args[m->u.cmd.n_args++];
  memset(a, 0, sizeof *a);
  strncpy(a->key, key, FP_MSG_KEY_MAX);
  return a;
}

void edge_arg_int(struct fp_msg *m, const char *key, int64_t v)
{
  struct fp_arg *a = new_arg(m, key);
  a->kind = FP_ARG_INT;
  a->v.i = v;
}

void edge_arg_bool(struct fp_msg *m, const char *key, bool v)
{
  struct fp_arg *a = new_arg(m, key);
  a->kind = FP_ARG_BOOL;
  a->v.b = v;
}
