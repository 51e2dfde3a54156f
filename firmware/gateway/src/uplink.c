/* SPDX-License-Identifier: MIT */
/*
 * The gateway's half of the serial link (DESIGN §4, docs/protocol.md §2 and
 * §4.3): the store of uplink messages kept until the edge's cumulative rx,
 * numbering with gseq, resend after a timeout or a reconnect, frame writes
 * that survive partial writes, and the read side that feeds the frame
 * decoder. Messages are numbered when they are first written, not when they
 * are queued, and only GW_TX_WINDOW of them may be numbered and unacknowledged
 * at once: so while the edge is away the store fills with unnumbered
 * messages, and the oldest readings among them can be dropped without
 * leaving a hole in the numbering, which the edge would wait on forever.
 */
#include <assert.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

/* ---- gseq template ------------------------------------------------------ */

int gw__gseq_offset(const uint8_t *p, size_t len, enum fp_codec c, size_t *off)
{
  struct fp_reader r;
  struct fp_item map;
  fp_reader_init(&r, c, p, len);
  int rc = fp_read(&r, &map);
  if (rc != 0)
    return rc;
  if (map.kind != FP_MAP || map.indefinite)
    return FARM_ETYPE;
  for (uint64_t i = 0; i < map.v.count; i++) {
    struct fp_item key;
    rc = fp_read(&r, &key);
    if (rc != 0)
      return rc;
    if (fp_item_is_str(&key, "gseq")) {
      *off = fp_reader_pos(&r);
      return 0;
    }
    rc = fp_skip(&r);
    if (rc != 0)
      return rc;
  }
  return FARM_EMISSING;
}

int gw__splice_gseq(const uint8_t *p, size_t len, size_t at, enum fp_codec c, uint32_t gseq,
                    uint8_t *out, size_t cap, size_t *out_len)
{
  /* 1 is a one-byte item in both codecs (msgpack positive fixint, RFC 8949
   * §3: major type 0 with the value in the initial byte). */
  assert(at < len && p[at] == 0x01);
  uint8_t head[9];
  struct fp_writer w;
  fp_writer_init(&w, c, head, sizeof head);
  int rc = fp_write_uint(&w, gseq);
  assert(rc == 0);
  (void)rc;
  size_t n = fp_writer_len(&w);
  if (len - 1 + n > cap)
    return FARM_ENOSPC;
  memcpy(out, p, at);
  memcpy(out + at, head, n);
  memcpy(out + at + n, p + at + 1, len - at - 1);
  *out_len = len - 1 + n;
  return 0;
}

/* ---- the store ---------------------------------------------------------- */

/* Removes k stored messages from index i. */
static void up_remove(struct gw *g, size_t i, size_t k)
{
  assert(i + k <= g->n_up);
  if (k == 0)
    return;
  size_t off = g->up[i].off;
  size_t bytes = 0;
  size_t num_gone = 0, num_bytes_gone = 0;
  for (size_t j = i; j < i + k; j++) {
    bytes += g->up[j].len;
    if (j < g->n_num) {
      num_gone++;
      num_bytes_gone += g->up[j].len;
    }
  }
  memmove(g->ring + off, g->ring + off + bytes, g->ring_used - off - bytes);
  g->ring_used = (uint16_t)(g->ring_used - bytes);
  for (size_t j = i + k; j < g->n_up; j++)
    g->up[j].off = (uint16_t)(g->up[j].off - bytes);
  memmove(&g->up[i], &g->up[i + k], (g->n_up - i - k) * sizeof g->up[0]);
  g->n_up = (uint16_t)(g->n_up - k);
  g->n_num = (uint16_t)(g->n_num - num_gone);
  g->num_bytes = (uint16_t)(g->num_bytes - num_bytes_gone);
  if (g->cursor >= i + k)
    g->cursor = (uint16_t)(g->cursor - k);
  else if (g->cursor > i)
    g->cursor = (uint16_t)i;
}

/* Which unnumbered messages go first when the store is full: readings
 * (issue 3: "oldest telemetry dropped"), then logs and stats (a newer stats
 * carries the same counters), then events and peer changes, then acks
 * (the edge resends a request it got no ack for). hello is never dropped:
 * it is the first message of the boot and tells the edge to restart its
 * numbering. */
static int drop_class(uint8_t type)
{
  switch (type) {
  case FP_MSG_TEL:
    return 0;
  case FP_MSG_LOG:
  case FP_MSG_STATS:
    return 1;
  case FP_MSG_EVT:
  case FP_MSG_PEER:
    return 2;
  case FP_MSG_ACK:
  case FP_MSG_PONG:
    return 3;
  default:
    return -1;
  }
}

/* Drops the best victim among the unnumbered messages. False when none. */
static bool up_drop_one(struct gw *g)
{
  size_t victim = SIZE_MAX;
  int best = 99;
  for (size_t i = g->n_num; i < g->n_up; i++) {
    int cls = drop_class(g->up[i].type);
    if (cls >= 0 && cls < best) {
      best = cls;
      victim = i;
    }
  }
  if (victim == SIZE_MAX)
    return false;
  if (best == 0)
    g->stats.ring_drop++;
  else
    g->stats.ring_drop_oth++;
  up_remove(g, victim, 1);
  return true;
}

int gw__up_send(struct gw *g, struct fp_msg *m, bool reboot_after)
{
  assert(fp_msg_is_uplink(m->type));
  m->gseq = 1;
  size_t len, at;
  struct fp_msg_error err;
  int rc = fp_msg_encode(m, g->cfg->codec, g->enc, sizeof g->enc, &len);
  if (rc != 0) {
    /* Everything queued here was built from checked input; a failure is a
     * bug, but a bug in a gateway must not stop the others' data. */
    fp_msg_validate(m, &err);
    hal_log(g->port, HAL_LOG_ERROR, "uplink %s not encodable: %d at key \"%s\"",
            fp_msg_type_name(m->type), rc, err.key);
    return rc;
  }
  rc = gw__gseq_offset(g->enc, len, g->cfg->codec, &at);
  assert(rc == 0 && g->enc[at] == 0x01);
  if (m->type == FP_MSG_STATS) {
    /* A newer stats supersedes one that was never written. */
    for (size_t i = g->n_num; i < g->n_up; i++) {
      if (g->up[i].type == FP_MSG_STATS) {
        up_remove(g, i, 1);
        break;
      }
    }
  }
  while ((size_t)GW_RING_BYTES - g->ring_used < len || g->n_up == GW_RING_ENTRIES) {
    if (!up_drop_one(g)) {
      /* Unreachable while the window invariants hold (gateway.h), kept as
       * a defined outcome rather than an overflow. */
      if (m->type == FP_MSG_TEL)
        g->stats.ring_drop++;
      else
        g->stats.ring_drop_oth++;
      return FARM_ENOSPC;
    }
  }
  struct gw_up *e = &g->up[g->n_up++];
  e->gseq = 0;
  e->off = g->ring_used;
  e->len = (uint16_t)len;
  e->gseq_at = (uint16_t)at;
  e->type = (uint8_t)m->type;
  e->reboot = reboot_after;
  e->sent_ms = 0;
  memcpy(g->ring + g->ring_used, g->enc, len);
  g->ring_used = (uint16_t)(g->ring_used + len);
  return 0;
}

void gw__up_rx(struct gw *g, uint32_t gseq)
{
  if (gseq >= g->next_gseq) {
    /* Acknowledges what this boot never wrote: a stale rx of the previous
     * boot, or a confused edge. Believing it would forget messages the edge
     * does not have. */
    g->stats.rx_bogus++;
    GW__LOG_BAD(g, "rx %u beyond the last gseq sent (%u)", (unsigned)gseq,
                (unsigned)(g->next_gseq - 1));
    return;
  }
  size_t k = 0;
  while (k < g->n_num && g->up[k].gseq <= gseq) {
    if (g->up[k].reboot)
      g->reboot_acked = true;
    k++;
  }
  up_remove(g, 0, k);
}

/* ---- writing ------------------------------------------------------------ */

static void go_back(struct gw *g)
{
  if (g->n_num > 0 && g->cursor > 0)
    g->stats.resent++;
  g->cursor = 0;
}

static void link_down(struct gw *g)
{
  g->link_up = false;
  /* The bytes of a half-written frame are lost with the cable; the message
   * stays in the store and is written again whole. */
  g->tx_len = g->tx_off = 0;
  fp_frame_decoder_reset(&g->dec);
}

static void link_up(struct gw *g)
{
  g->link_up = true;
  fp_frame_decoder_reset(&g->dec);
  /* A lone delimiter ends whatever half frame the edge may hold from before
   * (a reset mid-write), so the first real frame is not glued to it. */
  g->tx[0] = 0;
  g->tx_len = 1;
  g->tx_off = 0;
  go_back(g);
}

/* Loads the message at the cursor into tx. False when nothing may go. */
static bool load_next(struct gw *g, uint64_t now)
{
  if (g->cursor >= g->n_up)
    return false;
  struct gw_up *e = &g->up[g->cursor];
  assert(g->cursor <= g->n_num);
  if (e->gseq == 0) {
    if (g->n_num >= GW_TX_WINDOW || g->num_bytes + e->len > GW_TX_WINDOW_BYTES)
      return false; /* the window is full: wait for rx */
    if (g->next_gseq == UINT32_MAX) {
      /* 2^32-1 messages in one boot (years at full rate): gseq must not
       * wrap, so restart and say hello with gseq 1. */
      if (!g->reboot_pending) {
        hal_log(g->port, HAL_LOG_WARN, "gseq exhausted: restarting");
        g->reboot_pending = true;
        g->reboot_acked = true;
        g->reboot_at_ms = now;
      }
      return false;
    }
    e->gseq = g->next_gseq++;
    g->n_num++;
    g->num_bytes = (uint16_t)(g->num_bytes + e->len);
  }
  size_t plen;
  uint8_t *payload = g->enc;
  int rc = gw__splice_gseq(g->ring + e->off, e->len, e->gseq_at, g->cfg->codec, e->gseq,
                           payload, sizeof g->enc, &plen);
  assert(rc == 0);
  rc = fp_frame_encode(payload, plen, g->tx, sizeof g->tx, &g->tx_len);
  assert(rc == 0);
  (void)rc;
  g->tx_off = 0;
  e->sent_ms = (uint32_t)now;
  g->cursor++;
  return true;
}

static void serial_write(struct gw *g, uint64_t now)
{
  for (;;) {
    if (g->tx_off == g->tx_len && !load_next(g, now))
      return;
    size_t w = 0;
    int rc = hal_serial_write(g->port, g->tx + g->tx_off, g->tx_len - g->tx_off, &w);
    if (rc == FARM_ECLOSED) {
      link_down(g);
      return;
    }
    if (rc != 0) {
      GW__LOG_BAD(g, "serial write: %d", rc);
      return;
    }
    assert(w <= g->tx_len - g->tx_off);
    g->tx_off += w;
    if (g->tx_off == g->tx_len && g->tx_len > 1)
      g->stats.frames_tx++;
    if (w == 0)
      return; /* the host is not reading: try again at the next tick */
  }
}

static void serial_read(struct gw *g, uint64_t now)
{
  uint8_t buf[256];
  /* Bounded work per tick: a host that floods the port cannot starve the
   * radio side. */
  for (unsigned round = 0; round < 16 && g->link_up && !g->halted; round++) {
    size_t got = 0;
    int rc = hal_serial_read(g->port, buf, sizeof buf, &got);
    if (rc == FARM_ECLOSED) {
      link_down(g);
      return;
    }
    if (rc != 0) {
      GW__LOG_BAD(g, "serial read: %d", rc);
      return;
    }
    if (got == 0)
      return;
    size_t off = 0;
    while (off < got) {
      size_t used;
      const uint8_t *payload;
      size_t plen;
      rc = fp_frame_feed(&g->dec, buf + off, got - off, &used, &payload, &plen);
      assert(used > 0 && used <= got - off);
      off += used;
      if (rc == 0 && payload != NULL)
        gw__edge_frame(g, payload, plen, now);
      else if (rc != 0 && rc != FARM_EEMPTY)
        GW__LOG_BAD(g, "bad frame from the edge: %s", farm_errname(rc));
    }
  }
}

void gw__edge_heard(struct gw *g, uint64_t now)
{
  /* docs/protocol.md §4.3: resend at once when the edge shows signs of life
   * after a silence, rather than waiting for the timer. */
  if (g->edge_heard_ms != 0 && now - g->edge_heard_ms >= g->cfg->resend_ms)
    go_back(g);
  g->edge_heard_ms = now;
}

void gw__serial_pump(struct gw *g, uint64_t now)
{
  if (!hal_serial_connected(g->port)) {
    if (g->link_up)
      link_down(g);
    return;
  }
  if (!g->link_up)
    link_up(g);
  serial_read(g, now);
  if (!g->link_up || g->halted)
    return;
  /* 32-bit arithmetic: an unacknowledged message is never 49 days old. */
  if (g->n_num > 0 && g->cursor > 0 && (uint32_t)now - g->up[0].sent_ms >= g->cfg->resend_ms)
    go_back(g);
  serial_write(g, now);
}

void gw__serial_flush(struct gw *g, uint64_t now)
{
  if (g->link_up && hal_serial_connected(g->port))
    serial_write(g, now);
}

uint64_t gw__up_deadline(const struct gw *g, uint64_t now)
{
  /* Resends happen only on a live link (gw__serial_pump); while it is down
   * the link's return wakes the port, not this timer. */
  if (!g->link_up || g->halted || g->n_num == 0 || g->cursor == 0)
    return UINT64_MAX;
  uint32_t age = (uint32_t)now - g->up[0].sent_ms;
  return age >= g->cfg->resend_ms ? now : now + (g->cfg->resend_ms - age);
}
