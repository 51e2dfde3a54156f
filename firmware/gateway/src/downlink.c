/* SPDX-License-Identifier: MIT */
/*
 * The gateway's radio side (DESIGN §5, BAD-INPUTS §Radio 7-9): the receive
 * path that admits a frame only from a known peer (or a JOIN inside a
 * pairing window) and only above the peer's (boot, seq) mark, relays
 * readings and events upward and completes commands; and the send side,
 * which gives each peer at most one frame on the air at a time (the HAL
 * reports a send's outcome by MAC alone, so this is what tells a failed
 * TIME from a failed CMD), numbers every downlink frame with the gateway's
 * (boot, seq) and retries commands a bounded number of times.
 */
#include <assert.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

static bool mac_eq(const uint8_t *a, const uint8_t *b)
{
  return memcmp(a, b, HAL_MAC_LEN) == 0;
}

static bool pairing(const struct gw *g, uint64_t now)
{
  return g->pair_open && now < g->pair_until_ms;
}

/* ---- commands ----------------------------------------------------------- */

static struct gw_cmd *cmd_on_air(struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < GW_MAX_CMDS; i++) {
    struct gw_cmd *c = &g->cmds[i];
    if (c->state == GW__CMD_AIR && mac_eq(c->mac, mac))
      return c;
  }
  return NULL;
}

static struct gw_cmd_done *done_find(struct gw *g, uint32_t id, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < GW_CMD_HISTORY; i++) {
    struct gw_cmd_done *d = &g->done[i];
    if (d->used && d->id == id && mac_eq(d->mac, mac))
      return d;
  }
  return NULL;
}

/* Reports the final outcome (ack stage node) and remembers it. */
static void cmd_finish(struct gw *g, struct gw_cmd *c, bool ok, const char *err)
{
  gw__emit_ack(g, c->id, ok, FP_STAGE_NODE, err, false);
  struct gw_cmd_done *d = done_find(g, c->id, c->mac);
  if (d == NULL) {
    d = &g->done[g->done_next];
    g->done_next = (uint8_t)((g->done_next + 1) % GW_CMD_HISTORY);
  }
  d->used = true;
  d->ok = ok;
  d->id = c->id;
  memcpy(d->mac, c->mac, HAL_MAC_LEN);
  gw__strlcpy(d->err, ok ? "" : (err != NULL ? err : ""), sizeof d->err);
  c->state = GW__CMD_FREE;
}

/* A try failed (not delivered, or no CMD_ACK in time): again or give up. */
static void cmd_try_failed(struct gw *g, struct gw_cmd *c, uint64_t now)
{
  if (c->tries < g->cfg->cmd_tries) {
    c->state = GW__CMD_QUEUED;
    c->due_ms = now + g->cfg->retry_ms;
    return;
  }
  g->stats.cmd_fail++;
  /* docs/protocol.md §4.3: "did not answer after the gateway's bounded
   * retries, timeout". */
  cmd_finish(g, c, false, "timeout");
}

/* The next command for p when none of its commands is on the air or
 * waiting: commands to one node run one at a time, in the order taken. */
static struct gw_cmd *cmd_next(struct gw *g, const struct gw_peer *p, uint64_t now)
{
  struct gw_cmd *next = NULL;
  for (size_t i = 0; i < GW_MAX_CMDS; i++) {
    struct gw_cmd *c = &g->cmds[i];
    if (c->state == GW__CMD_FREE || !mac_eq(c->mac, p->mac))
      continue;
    if (c->state != GW__CMD_QUEUED)
      return NULL;
    if (next == NULL || c->order < next->order)
      next = c;
  }
  return next != NULL && next->due_ms <= now ? next : NULL;
}

static const char *cmd_refusal(int rc)
{
  switch (rc) {
  case FARM_ETOOBIG:
    return "too big for the radio";
  default:
    return farm_strerror(rc);
  }
}

void gw__cmd_submit(struct gw *g, const struct fp_msg *m, uint64_t now)
{
  const struct fp_msg_cmd *mc = &m->u.cmd;
  struct fp_radio_msg *r = &g->rout;
  memset(r, 0, sizeof *r);
  r->type = FP_RADIO_CMD;
  r->boot = g->boot;
  r->u.cmd.id = m->id;
  memcpy(r->u.cmd.name, mc->name, sizeof r->u.cmd.name);
  r->u.cmd.n_args = mc->n_args;
  memcpy(r->u.cmd.args, mc->args, sizeof r->u.cmd.args);
  uint8_t frame[FP_RADIO_MTU];
  size_t len = 0;
  int rc = fp_radio_encode(r, frame, sizeof frame, &len);

  /* docs/protocol.md §4.3: a repeated id of a request still remembered is
   * the same request; answer what is known, never run it twice. */
  for (size_t i = 0; rc == 0 && i < GW_MAX_CMDS; i++) {
    struct gw_cmd *c = &g->cmds[i];
    if (c->state == GW__CMD_FREE || c->id != m->id)
      continue;
    bool same = mac_eq(c->mac, mc->mac) && c->len == len &&
                memcmp(c->frame + FP_RADIO_HEADER_LEN, frame + FP_RADIO_HEADER_LEN,
                       len - FP_RADIO_HEADER_LEN) == 0;
    gw__emit_ack(g, m->id, same, FP_STAGE_GW, same ? NULL : "id in use", false);
    return;
  }
  const struct gw_cmd_done *d = rc == 0 ? done_find(g, m->id, mc->mac) : NULL;
  if (d != NULL) {
    gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, false);
    gw__emit_ack(g, m->id, d->ok, FP_STAGE_NODE, d->ok ? NULL : d->err, false);
    return;
  }
  if (rc != 0) {
    gw__emit_ack(g, m->id, false, FP_STAGE_GW, cmd_refusal(rc), false);
    return;
  }
  if (gw__peer_find(g, mc->mac) == NULL) {
    gw__emit_ack(g, m->id, false, FP_STAGE_GW, "unknown peer", false);
    return;
  }
  struct gw_cmd *c = NULL;
  for (size_t i = 0; i < GW_MAX_CMDS && c == NULL; i++) {
    if (g->cmds[i].state == GW__CMD_FREE)
      c = &g->cmds[i];
  }
  if (c == NULL) {
    gw__emit_ack(g, m->id, false, FP_STAGE_GW, "busy", false);
    return;
  }
  c->state = GW__CMD_QUEUED;
  c->tries = 0;
  memcpy(c->mac, mc->mac, HAL_MAC_LEN);
  c->id = m->id;
  c->order = ++g->cmd_order;
  c->due_ms = now;
  c->len = (uint16_t)len;
  memcpy(c->frame, frame, len);
  gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, false);
  gw__radio_pump(g, now);
}

/* ---- sending ------------------------------------------------------------ */

void gw__time_propagate(struct gw *g, uint64_t now)
{
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    struct gw_peer *p = &g->peers[i];
    if (p->used) {
      p->time_left = g->cfg->time_tries;
      p->time_due_ms = now;
    }
  }
  gw__radio_pump(g, now);
}

/* The outcome of a frame to p of this kind that was not delivered. */
static void send_failed(struct gw *g, struct gw_peer *p, enum gw__tx_kind kind, uint64_t now)
{
  g->stats.radio_fail++;
  switch (kind) {
  case GW__TX_JOIN_ACK:
    /* Without encryption not retried: an unpaired node broadcasts JOIN
     * again on its own interval and gets a fresh JOIN_ACK. With it, a node
     * that read the JOIN_ACK but whose acknowledgement was lost is paired
     * and never JOINs again, so the JOIN_ACK goes on until one is
     * delivered, after retry_ms doubling up to 64 times that. */
    if (p->unkeyed) {
      p->need_join_ack = true;
      p->join_due_ms = now + ((uint64_t)g->cfg->retry_ms << p->join_fails);
      if (p->join_fails < 6)
        p->join_fails++;
    }
    break;
  case GW__TX_TIME:
    p->time_due_ms = now + g->cfg->retry_ms;
    break;
  case GW__TX_CMD: {
    struct gw_cmd *c = cmd_on_air(g, p->mac);
    if (c != NULL)
      cmd_try_failed(g, c, now);
    break;
  }
  default:
    break;
  }
}

/* Writes the next downlink seq into an encoded frame's header: every frame,
 * a resent command included, gets a new number, since the node drops
 * anything at or below the gateway's mark (node.h) and finds a repeated
 * command by its id instead. */
static void stamp(struct gw *g, uint8_t *frame)
{
  struct fp_radio_wire_header h;
  uint32_t seq = ++g->radio_seq;
  memcpy(&h, frame, sizeof h);
  h.seq[0] = (uint8_t)(seq >> 24);
  h.seq[1] = (uint8_t)(seq >> 16);
  h.seq[2] = (uint8_t)(seq >> 8);
  h.seq[3] = (uint8_t)seq;
  memcpy(frame, &h, sizeof h);
}

/* Sends the next thing p waits for. Returns 0 (sent, or nothing to send),
 * FARM_EBUSY (the radio queue is full: stop for now) or another error. */
static int peer_send_next(struct gw *g, struct gw_peer *p, uint64_t now)
{
  enum gw__tx_kind kind;
  struct gw_cmd *c = NULL;
  uint8_t buf[FP_RADIO_MTU];
  uint8_t *frame = buf;
  size_t len = 0;
  int rc;
  if (p->need_join_ack && p->join_due_ms <= now) {
    kind = GW__TX_JOIN_ACK;
  } else if (p->clear) {
    return 0; /* nothing else before the node has the key */
  } else if (p->time_left > 0 && p->time_due_ms <= now) {
    kind = GW__TX_TIME;
  } else if ((c = cmd_next(g, p, now)) != NULL) {
    kind = GW__TX_CMD;
  } else {
    return 0;
  }

  if (kind == GW__TX_CMD) {
    frame = c->frame;
    len = c->len;
  } else {
    struct fp_radio_msg *r = &g->rout;
    memset(r, 0, sizeof *r);
    r->boot = g->boot;
    uint64_t ts = 0;
    bool has_ts = hal_wall_clock_get(g->port, &ts) == 0;
    if (kind == GW__TX_JOIN_ACK) {
      r->type = FP_RADIO_JOIN_ACK;
      r->u.join_ack.ch = g->cfg->channel;
      r->u.join_ack.has_ts = has_ts;
      r->u.join_ack.ts = ts;
    } else {
      if (!has_ts) {
        p->time_left = 0; /* the clock is gone (cannot happen after a sync) */
        return 0;
      }
      r->type = FP_RADIO_TIME;
      r->u.time.ts = ts;
    }
    rc = fp_radio_encode(r, buf, sizeof buf, &len);
    assert(rc == 0);
  }

  rc = gw__hw_ensure(g, p, now);
  if (rc == 0) {
    /* The header is stamped in place: for a command, c->frame keeps the
     * last seq, which the next try replaces. */
    stamp(g, frame);
    rc = hal_radio_send(g->port, p->mac, frame, len);
  }
  if (rc == FARM_EBUSY)
    return rc;
  if (kind == GW__TX_JOIN_ACK)
    p->need_join_ack = false;
  else if (kind == GW__TX_TIME)
    p->time_left--;
  else {
    c->state = GW__CMD_AIR;
    if (c->tries++ > 0)
      g->stats.cmd_retry++;
  }
  if (rc != 0) {
    GW__LOG_BAD(g, "radio send: %d", rc);
    send_failed(g, p, kind, now);
    return rc;
  }
  g->stats.radio_tx++;
  p->tx = (uint8_t)kind;
  p->tx_since_ms = now;
  g->inflight++;
  return 0;
}

void gw__radio_pump(struct gw *g, uint64_t now)
{
  size_t start = g->rr;
  for (size_t n = 0; n < GW_MAX_PEERS && g->inflight < g->cfg->radio_inflight; n++) {
    struct gw_peer *p = &g->peers[(start + n) % GW_MAX_PEERS];
    if (!p->used || p->tx != GW__TX_NONE)
      continue;
    if (peer_send_next(g, p, now) == FARM_EBUSY)
      break;
  }
  /* Start the next round one peer further so no peer always waits. */
  g->rr = (uint8_t)((start + 1) % GW_MAX_PEERS);
}

void gw__radio_timers(struct gw *g, uint64_t now)
{
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    struct gw_peer *p = &g->peers[i];
    if (p->used && p->tx != GW__TX_NONE && now - p->tx_since_ms >= g->cfg->send_timeout_ms) {
      enum gw__tx_kind kind = (enum gw__tx_kind)p->tx;
      p->tx = GW__TX_NONE;
      g->inflight--;
      send_failed(g, p, kind, now);
    }
  }
  for (size_t i = 0; i < GW_MAX_CMDS; i++) {
    struct gw_cmd *c = &g->cmds[i];
    if (c->state == GW__CMD_WAIT && now >= c->due_ms)
      cmd_try_failed(g, c, now);
  }
  gw__radio_pump(g, now);
}

/* True when mac is a peer in pairing step 1, to which only the JOIN_ACK
 * goes: what else waits for it is not due before that is done. */
static bool held(const struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    const struct gw_peer *p = &g->peers[i];
    if (p->used && p->clear && mac_eq(p->mac, mac))
      return true;
  }
  return false;
}

uint64_t gw__radio_deadline(const struct gw *g)
{
  uint64_t t = UINT64_MAX;
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    const struct gw_peer *p = &g->peers[i];
    if (!p->used)
      continue;
    if (p->tx != GW__TX_NONE && p->tx_since_ms + g->cfg->send_timeout_ms < t)
      t = p->tx_since_ms + g->cfg->send_timeout_ms;
    if (p->tx == GW__TX_NONE && p->time_left > 0 && !p->clear && p->time_due_ms < t)
      t = p->time_due_ms;
    if (p->tx == GW__TX_NONE && p->need_join_ack && p->join_due_ms < t)
      t = p->join_due_ms;
  }
  for (size_t i = 0; i < GW_MAX_CMDS; i++) {
    const struct gw_cmd *c = &g->cmds[i];
    if ((c->state == GW__CMD_WAIT || (c->state == GW__CMD_QUEUED && !held(g, c->mac))) &&
        c->due_ms < t)
      t = c->due_ms;
  }
  return t;
}

/*
 * With encryption, a JOIN_ACK to p was delivered (docs/firmware-gateway.md
 * §5.1). Sent unencrypted (step 1), it reached the node's radio: the node
 * read it and added the gateway as an encrypted peer, or had done so
 * already and dropped this clear frame, as ESP-NOW drops an unencrypted
 * frame from an encrypted peer, while still acknowledging it. Either way
 * the node now reads only encrypted frames from the gateway: step 2 sends
 * a JOIN_ACK encrypted, which the node takes as the sign that the gateway
 * can read it. Once that one is delivered the pairing is confirmed and
 * persisted. A JOIN meanwhile (p->clear again) means step 1 anew.
 */
static void join_ack_delivered(struct gw *g, struct gw_peer *p, uint64_t now)
{
  p->join_fails = 0;
  if (!p->hw_enc) {
    p->clear = false;
    p->need_join_ack = true;
    p->join_due_ms = now;
  } else if (!p->clear) {
    p->unkeyed = false;
    gw__peer_save(g, p);
  }
}

void gw_on_radio_sent(struct gw *g, const uint8_t mac[HAL_MAC_LEN], bool delivered)
{
  assert(g != NULL && mac != NULL);
  if (g->halted)
    return;
  uint64_t now = hal_clock_ms(g->port);
  struct gw_peer *p = gw__peer_find(g, mac);
  if (p == NULL || p->tx == GW__TX_NONE)
    return; /* the outcome of a frame already given up on (send timeout) */
  enum gw__tx_kind kind = (enum gw__tx_kind)p->tx;
  p->tx = GW__TX_NONE;
  g->inflight--;
  if (!delivered) {
    send_failed(g, p, kind, now);
  } else if (kind == GW__TX_JOIN_ACK) {
    if (p->unkeyed)
      join_ack_delivered(g, p, now);
  } else if (kind == GW__TX_TIME) {
    p->time_left = 0;
  } else if (kind == GW__TX_CMD) {
    struct gw_cmd *c = cmd_on_air(g, mac);
    if (c != NULL) {
      c->state = GW__CMD_WAIT;
      c->due_ms = now + g->cfg->cmd_ack_ms;
    }
  }
  gw__radio_pump(g, now);
  gw__serial_flush(g, now);
}

/* ---- receiving ---------------------------------------------------------- */

/* (boot, seq) of h against p's mark (DESIGN §5). A node's boot counter only
 * grows, so a higher boot starts a new sequence. JOIN is sent with seq 0
 * outside the message sequence (fp/radio.h) and a node repeats it until its
 * JOIN_ACK arrives, so a JOIN of the current boot is answered again rather
 * than taken for a replay; a JOIN of an older boot is accepted only inside
 * a pairing window, where an operator re-pairs a node that lost its NVS.
 * With encryption, a node whose pairing was confirmed in this boot does not
 * JOIN again in it: outside a window such a JOIN is taken for a replay, since
 * answering it would put the node's slot back in clear, where its encrypted
 * frames are lost. Inside one it may be a node whose NVS was erased and whose
 * counter came back to the same boot. */
static bool above_mark(const struct gw *g, const struct gw_peer *p,
                       const struct fp_radio_header *h, uint64_t now)
{
  if (h->type == FP_RADIO_JOIN && h->boot == p->boot)
    return p->unkeyed || !g->cfg->encrypt || pairing(g, now);
  if (h->type == FP_RADIO_JOIN)
    return h->boot > p->boot || pairing(g, now);
  return h->boot > p->boot || (h->boot == p->boot && h->seq > p->seq);
}

static void raise_mark(struct gw_peer *p, const struct fp_radio_msg *r)
{
  if (r->boot != p->boot) {
    p->boot = r->boot;
    p->seq = r->seq;
  } else if (r->seq > p->seq) {
    p->seq = r->seq;
  }
  p->dirty_mark = true;
}

static int8_t wire_rssi(int8_t rssi)
{
  return rssi > FP_MSG_RSSI_MAX ? FP_MSG_RSSI_MAX : rssi < FP_MSG_RSSI_MIN ? FP_MSG_RSSI_MIN : rssi;
}

static void emit_peer(struct gw *g, const struct gw_peer *p, enum fp_peer_state state)
{
  struct fp_msg *m = &g->out;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_PEER;
  struct fp_msg_peer *pm = &m->u.peer;
  memcpy(pm->mac, p->mac, HAL_MAC_LEN);
  pm->state = state;
  pm->has_rssi = p->rssi_valid;
  pm->rssi = wire_rssi(gw_peer_rssi(p));
  memcpy(pm->asset, p->asset, sizeof pm->asset);
  memcpy(pm->fw, p->fw, sizeof pm->fw);
  gw__up_send(g, m, false);
}

static void on_join(struct gw *g, struct gw_peer *p, const uint8_t mac[HAL_MAC_LEN], int8_t rssi,
                    uint64_t now)
{
  const struct fp_radio_msg *r = &g->u.rin;
  const struct fp_radio_join *j = &r->u.join;
  bool fresh = p == NULL;
  if (fresh) {
    /* With encryption every node keeps an encrypted slot of the radio's
     * list (ESP-NOW decrypts nothing else), so there are at most that many
     * (DESIGN §5). */
    const char *full = g->cfg->encrypt && g->npeers >= HAL_RADIO_HW_PEERS_ENCRYPTED
                           ? "encrypted peer limit"
                           : NULL;
    p = full == NULL ? gw__peer_add(g, mac) : NULL;
    if (p == NULL) {
      if (full == NULL)
        full = "peer table full";
      g->stats.join_full++;
      hal_log(g->port, HAL_LOG_WARN, "%s: join refused", full);
      struct fp_msg_evt *e = gw__evt_begin(g, mac, "join.refused");
      gw__evt_str(e, "reason", full);
      gw__up_send(g, &g->out, false);
      return;
    }
    p->boot = r->boot;
    p->seq = r->seq;
  } else if (r->boot < p->boot) {
    p->boot = r->boot; /* re-paired inside a window: its counter restarted */
    p->seq = r->seq;
  }
  bool changed = strcmp(p->fw, j->fw) != 0 || strcmp(p->asset, j->asset) != 0;
  gw__strlcpy(p->fw, j->fw, sizeof p->fw);
  gw__strlcpy(p->asset, j->asset, sizeof p->asset);
  raise_mark(p, r);
  gw__rssi_update(p, rssi);
  p->last_seen_ms = now;
  /* A JOIN comes from a node without a gateway: with encryption, pairing
   * starts from step 1, the clear JOIN_ACK (§5.1). */
  bool rekey = g->cfg->encrypt && !p->unkeyed;
  if (g->cfg->encrypt)
    p->unkeyed = p->clear = true;
  p->need_join_ack = true;
  p->join_due_ms = now;
  p->join_fails = 0;
  if (fresh || changed || rekey)
    gw__peer_save(g, p);
  if (fresh) {
    hal_log(g->port, HAL_LOG_INFO, "peer %02x%02x%02x%02x%02x%02x joined", mac[0], mac[1],
            mac[2], mac[3], mac[4], mac[5]);
    emit_peer(g, p, FP_PEER_JOINED);
    struct fp_msg_evt *e = gw__evt_begin(g, mac, "join");
    e->has_boot = e->has_seq = true;
    e->boot = r->boot;
    e->seq = r->seq;
    gw__up_send(g, &g->out, false);
  } else if (changed) {
    emit_peer(g, p, FP_PEER_UPDATED);
  }
}

static void on_tel(struct gw *g, const uint8_t mac[HAL_MAC_LEN], int8_t rssi)
{
  const struct fp_radio_msg *r = &g->u.rin;
  struct fp_msg *m = &g->out;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_TEL;
  struct fp_msg_tel *t = &m->u.tel;
  memcpy(t->mac, mac, HAL_MAC_LEN);
  t->rssi = wire_rssi(rssi);
  t->syn = r->u.tel.syn;
  t->boot = r->boot;
  t->seq = r->seq;
  t->up_ms = r->u.tel.up_ms;
  t->n_metrics = r->u.tel.n_metrics;
  memcpy(t->v, r->u.tel.v, sizeof t->v);
  gw__up_send(g, m, false);
}

static void on_evt(struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  const struct fp_radio_msg *r = &g->u.rin;
  struct fp_msg_evt *e = gw__evt_begin(g, mac, r->u.evt.name);
  e->has_boot = e->has_seq = true;
  e->boot = r->boot;
  e->seq = r->seq;
  e->n_args = r->u.evt.n_args;
  memcpy(e->args, r->u.evt.args, sizeof e->args);
  gw__up_send(g, &g->out, false);
}

static void on_cmd_ack(struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  const struct fp_radio_cmd_ack *a = &g->u.rin.u.cmd_ack;
  for (size_t i = 0; i < GW_MAX_CMDS; i++) {
    struct gw_cmd *c = &g->cmds[i];
    /* Any command sent at least once: the answer may come to an earlier
     * try while a retry waits for its turn. */
    if (c->state != GW__CMD_FREE && c->tries > 0 && c->id == a->id && mac_eq(c->mac, mac)) {
      cmd_finish(g, c, a->ok, a->ok ? NULL : a->err);
      return;
    }
  }
  g->stats.cmd_stray++;
  const struct gw_cmd_done *d = done_find(g, a->id, mac);
  if (d != NULL && !d->ok && strcmp(d->err, "timeout") == 0) {
    /* BAD-INPUTS 24: the node ran it after all, but the final ack said
     * timeout. The ack stays final; an event tells the truth. */
    struct fp_msg_evt *e = gw__evt_begin(g, mac, "cmd.late_ack");
    gw__evt_int(e, "id", a->id);
    gw__evt_bool(e, "ok", a->ok);
    gw__up_send(g, &g->out, false);
  } else if (d == NULL) {
    GW__LOG_BAD(g, "CMD_ACK for unknown command %u", (unsigned)a->id);
  }
}

void gw_on_radio_rx(struct gw *g, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data,
                    size_t len, int8_t rssi)
{
  static const uint8_t zero[HAL_MAC_LEN];
  assert(g != NULL && mac != NULL && (data != NULL || len == 0));
  if (g->halted)
    return;
  uint64_t now = hal_clock_ms(g->port);
  if (len > FP_RADIO_MTU) {
    g->stats.radio_big++;
    GW__LOG_BAD(g, "radio frame of %zu bytes dropped", len);
    return;
  }
  if ((mac[0] & 1) != 0 || mac_eq(mac, zero)) {
    /* A group or null address is never a sender's own. */
    g->stats.radio_dir++;
    return;
  }
  struct fp_radio_header h;
  int rc = fp_radio_peek_header(data, len, &h);
  if (rc != 0) {
    g->stats.radio_bad++;
    GW__LOG_BAD(g, "radio header rejected: %s", farm_errname(rc));
    return;
  }
  if (fp_radio_is_downlink(h.type)) {
    /* A gateway-to-node frame (a command, a JOIN_ACK) heard from the air:
     * another gateway, or someone replaying ours. */
    g->stats.radio_dir++;
    return;
  }
  struct gw_peer *p = gw__peer_find(g, mac);
  if (p == NULL && !(h.type == FP_RADIO_JOIN && pairing(g, now))) {
    g->stats.unknown_mac++;
    GW__LOG_BAD(g, "%s from unknown %02x%02x%02x%02x%02x%02x dropped",
                fp_radio_type_name(h.type), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return;
  }
  if (p != NULL && !above_mark(g, p, &h, now)) {
    g->stats.replay++;
    return;
  }
  struct fp_msg_error err;
  rc = fp_radio_decode(data, len, &g->u.rin, &err);
  if (rc != 0) {
    g->stats.radio_bad++;
    char text[96];
    fp_msg_error_format(&err, text, sizeof text);
    GW__LOG_BAD(g, "radio %s rejected: %s", fp_radio_type_name(h.type), text);
    return;
  }
  g->stats.radio_rx++;
  if (h.type == FP_RADIO_JOIN) {
    on_join(g, p, mac, rssi, now);
  } else {
    raise_mark(p, &g->u.rin);
    gw__rssi_update(p, rssi);
    p->last_seen_ms = now;
    if (h.type == FP_RADIO_TEL)
      on_tel(g, mac, rssi);
    else if (h.type == FP_RADIO_EVT)
      on_evt(g, mac);
    else if (h.type == FP_RADIO_CMD_ACK)
      on_cmd_ack(g, mac);
  }
  gw__radio_pump(g, now);
  gw__serial_flush(g, now);
}
