/* SPDX-License-Identifier: MIT */
/*
 * The scripted gateway of the edge agent's tests: a pty pair, gseq
 * numbering with a resend store, and answers to the agent's requests.
 */
#include "fakegw.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
  fprintf(stderr, "fakegw: %s: %s\n", what, strerror(errno));
  exit(2);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void open_pty(struct fgw *g)
{
  char name[128];
  if (openpty(&g->master, &g->slave, name, NULL, NULL) != 0)
    die("openpty");
  /* Raw before the agent opens it: no echo or line editing of the bytes
   * written in the meantime. */
  struct termios t;
  tcgetattr(g->slave, &t);
  cfmakeraw(&t);
  tcsetattr(g->slave, TCSANOW, &t);
  fcntl(g->master, F_SETFL, fcntl(g->master, F_GETFL) | O_NONBLOCK);
  fcntl(g->master, F_SETFD, FD_CLOEXEC);
  fcntl(g->slave, F_SETFD, FD_CLOEXEC);
  unlink(g->link);
  if (symlink(name, g->link) != 0)
    die("symlink");
  fp_frame_decoder_init(&g->dec);
}

void fgw_init(struct fgw *g, const char *link, enum fp_codec codec)
{
  memset(g, 0, sizeof *g);
  snprintf(g->link, sizeof g->link, "%s", link);
  g->codec = codec;
  g->answer = true;
  g->node_ack = true;
  g->resend_on_rx = true;
  g->kept = calloc(FGW_KEEP, sizeof *g->kept);
  if (!g->kept)
    die("calloc");
  open_pty(g);
}

void fgw_unplug(struct fgw *g)
{
  if (g->master >= 0)
    close(g->master);
  if (g->slave >= 0)
    close(g->slave);
  g->master = g->slave = -1;
  unlink(g->link);
}

void fgw_replug(struct fgw *g)
{
  fgw_unplug(g);
  open_pty(g);
}

void fgw_free(struct fgw *g)
{
  fgw_unplug(g);
  free(g->kept);
  g->kept = NULL;
}

void fgw_write(struct fgw *g, const void *bytes, size_t n)
{
  const uint8_t *p = bytes;
  long long end = now_ms() + 5000;
  while (n > 0 && g->master >= 0) {
    ssize_t w = write(g->master, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR)
      return; /* nobody at the other end: the frame stays kept */
    if (now_ms() > end)
      return;
    /* The agent is not reading yet: drain what it sends so neither side
     * blocks (without answering or resending from in here), then retry. */
    g->writing++;
    fgw_serve(g, 5, 0);
    g->writing--;
  }
}

static size_t encode(struct fgw *g, struct fp_msg *m, uint8_t *frame)
{
  uint8_t payload[FP_MSG_MAX_ENCODED];
  size_t plen, flen;
  if (fp_msg_encode(m, g->codec, payload, sizeof payload, &plen) != 0) {
    fprintf(stderr, "fakegw: cannot encode a %s\n", fp_msg_type_name(m->type));
    exit(2);
  }
  if (fp_frame_encode(payload, plen, frame, FP_FRAME_MAX_WIRE, &flen) != 0)
    exit(2);
  return flen;
}

uint32_t fgw_send(struct fgw *g, struct fp_msg *m)
{
  m->gseq = ++g->gseq;
  if (g->nkept == FGW_KEEP) {
    /* Full ring: the oldest is lost, as on the gateway. */
    memmove(g->kept, g->kept + 1, (FGW_KEEP - 1) * sizeof *g->kept);
    g->nkept--;
  }
  struct fgw_kept *k = &g->kept[g->nkept++];
  k->gseq = m->gseq;
  k->len = encode(g, m, k->frame);
  fgw_write(g, k->frame, k->len);
  return m->gseq;
}

void fgw_send_as(struct fgw *g, struct fp_msg *m, uint32_t gseq)
{
  uint8_t frame[FP_FRAME_MAX_WIRE];
  m->gseq = gseq;
  size_t n = encode(g, m, frame);
  fgw_write(g, frame, n);
}

void fgw_resend(struct fgw *g)
{
  for (size_t i = 0; i < g->nkept; i++)
    fgw_write(g, g->kept[i].frame, g->kept[i].len);
}

static void on_rx(struct fgw *g, uint32_t gseq)
{
  g->rx_count++;
  bool progress = gseq > g->acked;
  if (progress)
    g->acked = gseq;
  size_t k = 0;
  while (k < g->nkept && g->kept[k].gseq <= gseq)
    k++;
  memmove(g->kept, g->kept + k, (g->nkept - k) * sizeof *g->kept);
  g->nkept -= k;
  /* An rx that moves nothing is the edge saying what it has (after a
   * restart, a reopen, a resend or a hole): send what it lacks. */
  long long t = now_ms();
  if (!progress && g->nkept > 0 && g->resend_on_rx && !g->writing && t - g->last_resend_ms >= 300) {
    /* At most every 300 ms, like a gateway's resend timer. */
    g->last_resend_ms = t;
    fgw_resend(g);
  }
}

static void ack(struct fgw *g, uint32_t id, bool ok, enum fp_stage stage, const char *err)
{
  struct fp_msg a = {.type = FP_MSG_ACK, .id = id};
  a.u.ack.ok = ok;
  a.u.ack.stage = stage;
  if (err)
    snprintf(a.u.ack.err, sizeof a.u.ack.err, "%s", err);
  fgw_send(g, &a);
}

static bool known_mac(const struct fgw *g, const uint8_t *mac)
{
  if (g->nknown == 0)
    return true;
  for (size_t i = 0; i < g->nknown; i++)
    if (memcmp(g->known_macs[i], mac, FP_MAC_LEN) == 0)
      return true;
  return false;
}

static void on_request(struct fgw *g, const struct fp_msg *m)
{
  if (g->writing)
    return; /* not answered from inside a blocked write: the edge resends */
  switch (m->type) {
  case FP_MSG_CMD: {
    struct fgw_cmd *c = (struct fgw_cmd *)fgw_ledger_find(g, m->id);
    if (!c && g->nledger < FGW_LEDGER) {
      c = &g->ledger[g->nledger++];
      c->id = m->id;
      snprintf(c->name, sizeof c->name, "%s", m->u.cmd.name);
      memcpy(c->mac, m->u.cmd.mac, FP_MAC_LEN);
    }
    if (c)
      c->seen++;
    if (!g->answer)
      return;
    if (!known_mac(g, m->u.cmd.mac)) {
      ack(g, m->id, false, FP_STAGE_GW, "unknown peer");
      return;
    }
    ack(g, m->id, true, FP_STAGE_GW, NULL);
    if (g->node_ack) {
      /* A repeated id is answered again and not run twice. */
      if (c && c->runs == 0)
        c->runs++;
      ack(g, m->id, true, FP_STAGE_NODE, NULL);
    }
    return;
  }
  case FP_MSG_TIME_SYNC:
    g->time_syncs++;
    g->last_time_sync_ts = m->u.time_sync.ts;
    break;
  case FP_MSG_PING:
    g->pings++;
    break;
  case FP_MSG_PAIR_BEGIN:
    g->pair_begins++;
    break;
  case FP_MSG_PAIR_END:
    g->pair_ends++;
    break;
  case FP_MSG_SET_MAC:
    g->set_macs++;
    break;
  default:
    return;
  }
  if (!g->answer)
    return;
  ack(g, m->id, true, FP_STAGE_GW, NULL);
  if (m->type == FP_MSG_PING) {
    struct fp_msg p = {.type = FP_MSG_PONG, .id = m->id};
    p.u.pong.up_ms = 12345;
    fgw_send(g, &p);
  }
}

int fgw_serve(struct fgw *g, int timeout_ms, uint32_t stop_gseq)
{
  int frames = 0;
  long long end = now_ms() + timeout_ms;
  do {
    if (stop_gseq && g->acked >= stop_gseq)
      break;
    if (g->master < 0)
      break;
    struct pollfd p = {.fd = g->master, .events = POLLIN};
    long long left = end - now_ms();
    if (poll(&p, 1, left > 0 ? (int)(left > 20 ? 20 : left) : 0) <= 0)
      continue;
    uint8_t buf[4096];
    ssize_t n = read(g->master, buf, sizeof buf);
    if (n <= 0)
      continue;
    size_t off = 0;
    while (off < (size_t)n) {
      size_t used, plen;
      const uint8_t *pl;
      int rc = fp_frame_feed(&g->dec, buf + off, (size_t)n - off, &used, &pl, &plen);
      off += used;
      if (rc != 0 || !pl)
        continue;
      struct fp_msg m;
      if (fp_msg_decode(pl, plen, g->codec, &m, NULL) != 0) {
        fprintf(stderr, "fakegw: the agent sent a message that does not decode\n");
        exit(2);
      }
      frames++;
      if (m.type == FP_MSG_RX)
        on_rx(g, m.gseq);
      else
        on_request(g, &m);
    }
  } while (now_ms() < end);
  return frames;
}

void fgw_tel(struct fp_msg *m, const uint8_t mac[6], uint32_t boot, uint32_t seq, double temp_c)
{
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_TEL;
  memcpy(m->u.tel.mac, mac, 6);
  m->u.tel.rssi = -60;
  m->u.tel.boot = boot;
  m->u.tel.seq = seq;
  m->u.tel.up_ms = 1000ull * seq;
  m->u.tel.n_metrics = 2;
  strcpy(m->u.tel.v[0].name, "temp_c");
  m->u.tel.v[0].value = temp_c;
  strcpy(m->u.tel.v[1].name, "rh_pct");
  m->u.tel.v[1].value = 55;
}

void fgw_hello(struct fp_msg *m, const uint8_t mac[6], uint32_t boot)
{
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_HELLO;
  memcpy(m->u.hello.mac, mac, 6);
  strcpy(m->u.hello.fw, "1.4.2");
  m->u.hello.ch = 6;
  m->u.hello.peers = 2;
  m->u.hello.boot = boot;
}

const struct fgw_cmd *fgw_ledger_find(const struct fgw *g, uint32_t id)
{
  for (size_t i = 0; i < g->nledger; i++)
    if (g->ledger[i].id == id)
      return &g->ledger[i];
  return NULL;
}

const struct fgw_cmd *fgw_ledger_by_name(const struct fgw *g, const char *name, size_t nth)
{
  for (size_t i = 0; i < g->nledger; i++)
    if (strcmp(g->ledger[i].name, name) == 0 && nth-- == 0)
      return &g->ledger[i];
  return NULL;
}
