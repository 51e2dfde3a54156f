/* SPDX-License-Identifier: MIT */
/*
 * The gateway core's life cycle and its answers to the edge (DESIGN §4,
 * docs/protocol.md §4.5): start-up with the boot counter and hello, the
 * periodic work of gw_tick, the edge's requests (cmd is handed to
 * downlink.c; cfg:set_mac, time_sync, pair_begin, pair_end, ping and rx are
 * handled here), the stats message, and the small builders and the
 * rate-limited logging that the other files share.
 */
#include <assert.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

#define GW_STATS__COUNT_ONE(field, wire, doc) +1
_Static_assert(0 GW_STATS_MAP(GW_STATS__COUNT_ONE) + 1 <= FP_MSG_MAX_COUNTERS,
               "every counter and the peer count fit one stats message");

void gw_config_default(struct gw_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->codec = FP_CODEC_MSGPACK;
  cfg->channel = 1;
  cfg->fw = "0.0.0";
  cfg->resend_ms = 2000;
  cfg->reboot_grace_ms = 2000;
  cfg->cmd_tries = 4;
  cfg->cmd_ack_ms = 3000;
  cfg->retry_ms = 200;
  cfg->send_timeout_ms = 1000;
  cfg->time_tries = 3;
  cfg->radio_inflight = 4;
  cfg->stats_ms = 60000;
  cfg->persist_ms = 600000;
}

static bool config_valid(const struct gw_config *c)
{
  if (c->codec != FP_CODEC_MSGPACK && c->codec != FP_CODEC_CBOR)
    return false;
  if (c->channel < FP_MSG_CH_MIN || c->channel > FP_MSG_CH_MAX)
    return false;
  if (c->fw == NULL)
    return false;
  const char *end = memchr(c->fw, 0, FP_MSG_FW_MAX + 1);
  if (end == NULL || end == c->fw || !fp_utf8_valid((const uint8_t *)c->fw, (size_t)(end - c->fw)))
    return false;
  return c->pair_boot_s <= FP_MSG_PAIR_MAX_S && c->resend_ms > 0 && c->reboot_grace_ms > 0 &&
         c->cmd_tries >= 1 && c->cmd_tries <= 20 && c->cmd_ack_ms > 0 && c->retry_ms > 0 &&
         c->send_timeout_ms > 0 && c->time_tries >= 1 && c->time_tries <= 20 &&
         c->radio_inflight >= 1 && c->radio_inflight <= 8 && c->persist_ms > 0;
}

/* ---- shared builders ---------------------------------------------------- */

void gw__strlcpy(char *dst, const char *s, size_t cap)
{
  assert(cap > 0);
  size_t n = 0;
  while (n + 1 < cap && s[n] != '\0')
    n++;
  if (s[n] != '\0') {
    /* Cut before a continuation byte so no UTF-8 sequence is split. */
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
      n--;
  }
  memcpy(dst, s, n);
  dst[n] = '\0';
}

bool gw__log_allowed(struct gw *g)
{
  uint64_t now = hal_clock_ms(g->port);
  if (now - g->log_window_ms >= 1000) {
    if (g->log_lines > GW__LOG_BURST)
      hal_log(g->port, HAL_LOG_WARN, "%u warnings suppressed",
              (unsigned)(g->log_lines - GW__LOG_BURST));
    g->log_window_ms = now;
    g->log_lines = 0;
  }
  if (g->log_lines < UINT16_MAX)
    g->log_lines++;
  return g->log_lines <= GW__LOG_BURST;
}

void gw__emit_ack(struct gw *g, uint32_t id, bool ok, enum fp_stage stage, const char *err,
                  bool reboot_after)
{
  struct fp_msg *m = &g->out;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_ACK;
  m->id = id;
  m->u.ack.ok = ok;
  m->u.ack.stage = stage;
  if (err != NULL)
    gw__strlcpy(m->u.ack.err, err, sizeof m->u.ack.err);
  if (!ok && m->u.ack.err[0] == '\0')
    gw__strlcpy(m->u.ack.err, "failed", sizeof m->u.ack.err);
  gw__up_send(g, m, reboot_after);
}

struct fp_msg_evt *gw__evt_begin(struct gw *g, const uint8_t mac[HAL_MAC_LEN], const char *name)
{
  struct fp_msg *m = &g->out;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_EVT;
  memcpy(m->u.evt.mac, mac, HAL_MAC_LEN);
  gw__strlcpy(m->u.evt.name, name, sizeof m->u.evt.name);
  return &m->u.evt;
}

static struct fp_arg *evt_arg(struct fp_msg_evt *e, const char *key)
{
  assert(e->n_args < FP_MSG_MAX_ARGS && strlen(key) <= FP_MSG_KEY_MAX);
  struct fp_arg *a = &e->args[e->n_args++];
  gw__strlcpy(a->key, key, sizeof a->key);
  return a;
}

void gw__evt_int(struct fp_msg_evt *e, const char *key, int64_t v)
{
  struct fp_arg *a = evt_arg(e, key);
  a->kind = FP_ARG_INT;
  a->v.i = v;
}

void gw__evt_str(struct fp_msg_evt *e, const char *key, const char *s)
{
  struct fp_arg *a = evt_arg(e, key);
  a->kind = FP_ARG_STR;
  gw__strlcpy(a->v.s, s, sizeof a->v.s);
}

void gw__evt_bool(struct fp_msg_evt *e, const char *key, bool b)
{
  struct fp_arg *a = evt_arg(e, key);
  a->kind = FP_ARG_BOOL;
  a->v.b = b;
}

/* ---- messages of the gateway itself -------------------------------------- */

static void emit_hello(struct gw *g)
{
  struct fp_msg *m = &g->out;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_HELLO;
  memcpy(m->u.hello.mac, g->mac, HAL_MAC_LEN);
  gw__strlcpy(m->u.hello.fw, g->cfg->fw, sizeof m->u.hello.fw);
  m->u.hello.ch = g->cfg->channel;
  m->u.hello.peers = g->npeers;
  m->u.hello.boot = g->boot;
  gw__up_send(g, m, false);
}

static void add_counter(struct fp_msg_stats *s, const char *name, uint64_t v)
{
  assert(s->n_counters < FP_MSG_MAX_COUNTERS);
  struct fp_counter *c = &s->v[s->n_counters++];
  gw__strlcpy(c->name, name, sizeof c->name);
  c->value = v;
}

static void emit_stats(struct gw *g)
{
  struct gw_stats s;
  gw_stats(g, &s);
  struct fp_msg *m = &g->out;
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_STATS;
#define GW__ADD_COUNTER(field, wire, doc) add_counter(&m->u.stats, wire, s.field);
  GW_STATS_MAP(GW__ADD_COUNTER)
#undef GW__ADD_COUNTER
  add_counter(&m->u.stats, "peers", g->npeers);
  gw__up_send(g, m, false);
}

static void pair_closed(struct gw *g, const char *cause)
{
  g->pair_open = false;
  struct fp_msg_evt *e = gw__evt_begin(g, g->mac, "pair.closed");
  gw__evt_str(e, "cause", cause);
  gw__up_send(g, &g->out, false);
}

/* ---- the edge's requests ----------------------------------------------- */

static void on_set_mac(struct gw *g, const struct fp_msg *m, uint64_t now)
{
  const uint8_t *mac = m->u.set_mac.mac; /* unicast and non-zero: checked by the decoder */
  int rc = hal_nvs_set_blob(g->port, GW_NVS_MAC, mac, HAL_MAC_LEN);
  if (rc == 0)
    rc = hal_nvs_commit(g->port);
  if (rc != 0) {
    g->stats.nvs_err++;
    hal_log(g->port, HAL_LOG_ERROR, "cfg:set_mac not persisted: %d", rc);
    gw__emit_ack(g, m->id, false, FP_STAGE_GW, "nvs write failed", false);
    return;
  }
  /* The MAC in use already: nothing to restart for. This also keeps an edge
   * that resends the request after the restart (its ack lost) from
   * restarting the gateway again. */
  bool change = memcmp(mac, g->mac, HAL_MAC_LEN) != 0;
  gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, change);
  if (change) {
    /* Restart once the edge has acknowledged the ack (rx), so it knows the
     * request was taken, or after the grace time if it never does. */
    g->reboot_pending = true;
    g->reboot_acked = false;
    g->reboot_at_ms = now + g->cfg->reboot_grace_ms;
  }
}

static void on_time_sync(struct gw *g, const struct fp_msg *m, uint64_t now)
{
  int rc = hal_wall_clock_set(g->port, m->u.time_sync.ts);
  if (rc != 0) {
    gw__emit_ack(g, m->id, false, FP_STAGE_GW,
                 rc == FARM_EINVAL ? "time not accepted" : farm_strerror(rc), false);
    return;
  }
  gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, false);
  gw__time_propagate(g, now);
}

static void on_pair_begin(struct gw *g, const struct fp_msg *m, uint64_t now)
{
  g->pair_open = true;
  g->pair_until_ms = now + (uint64_t)m->u.pair_begin.duration_s * 1000u;
  gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, false);
  struct fp_msg_evt *e = gw__evt_begin(g, g->mac, "pair.open");
  gw__evt_int(e, "duration_s", m->u.pair_begin.duration_s);
  gw__up_send(g, &g->out, false);
}

static void on_pair_end(struct gw *g, const struct fp_msg *m, uint64_t now)
{
  bool was_open = g->pair_open && now < g->pair_until_ms;
  g->pair_open = false;
  gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, false);
  if (was_open)
    pair_closed(g, "ended");
}

static void on_ping(struct gw *g, const struct fp_msg *m, uint64_t now)
{
  gw__emit_ack(g, m->id, true, FP_STAGE_GW, NULL, false);
  struct fp_msg *out = &g->out;
  memset(out, 0, sizeof *out);
  out->type = FP_MSG_PONG;
  out->id = m->id;
  out->u.pong.up_ms = now;
  gw__up_send(g, out, false);
}

void gw__edge_frame(struct gw *g, const uint8_t *p, size_t len, uint64_t now)
{
  gw__edge_heard(g, now);
  struct fp_msg *m = &g->u.in;
  struct fp_msg_error err;
  int rc = fp_msg_decode(p, len, g->cfg->codec, m, &err);
  if (rc != 0) {
    /* BAD-INPUTS §Serial 4, docs/protocol.md §5.3: counted, and answered
     * when the request's id can still be read. */
    g->stats.bad_msg++;
    char text[FP_MSG_ERR_MAX + 1];
    fp_msg_error_format(&err, text, sizeof text);
    uint32_t id;
    if (fp_msg_peek_id(p, len, g->cfg->codec, &id) == 0)
      gw__emit_ack(g, id, false, FP_STAGE_GW, text, false);
    GW__LOG_BAD(g, "edge message rejected: %s", text);
    return;
  }
  switch (m->type) {
  case FP_MSG_RX:
    gw__up_rx(g, m->gseq);
    break;
  case FP_MSG_CMD:
    gw__cmd_submit(g, m, now);
    break;
  case FP_MSG_SET_MAC:
    on_set_mac(g, m, now);
    break;
  case FP_MSG_TIME_SYNC:
    on_time_sync(g, m, now);
    break;
  case FP_MSG_PAIR_BEGIN:
    on_pair_begin(g, m, now);
    break;
  case FP_MSG_PAIR_END:
    on_pair_end(g, m, now);
    break;
  case FP_MSG_PING:
    on_ping(g, m, now);
    break;
  default:
    /* A gateway-to-edge type sent to the gateway (a loop-back cable, a
     * confused host): nothing to answer. */
    g->stats.bad_msg++;
    GW__LOG_BAD(g, "edge sent a %s: dropped", fp_msg_type_name(m->type));
    break;
  }
}

/* ---- life cycle --------------------------------------------------------- */

int gw_saved_mac(struct hal_port *port, uint8_t mac[HAL_MAC_LEN])
{
  static const uint8_t zero[HAL_MAC_LEN];
  uint8_t buf[HAL_MAC_LEN];
  size_t len = 0;
  int rc = hal_nvs_get_blob(port, GW_NVS_MAC, buf, sizeof buf, &len);
  if (rc == FARM_ENOSPC || (rc == 0 && len != HAL_MAC_LEN))
    return FARM_EMALFORMED;
  if (rc != 0)
    return rc;
  if ((buf[0] & 1) != 0 || memcmp(buf, zero, HAL_MAC_LEN) == 0)
    return FARM_EMALFORMED;
  memcpy(mac, buf, HAL_MAC_LEN);
  return 0;
}

int gw_init(struct gw *g, const struct gw_config *cfg, struct hal_port *port)
{
  assert(g != NULL && cfg != NULL && port != NULL);
  if (!config_valid(cfg))
    return FARM_EINVAL;
  memset(g, 0, sizeof *g);
  g->cfg = cfg;
  g->port = port;
  uint64_t now = hal_clock_ms(port);

  uint32_t boot = 0;
  int rc = hal_nvs_get_u32(port, GW_NVS_BOOT, &boot);
  if (rc != 0 && rc != FARM_ENOENT) {
    hal_log(port, HAL_LOG_ERROR, "boot counter unreadable: %d", rc);
    return rc;
  }
  if (rc == FARM_ENOENT)
    boot = 0;
  if (boot == UINT32_MAX)
    return FARM_ERANGE; /* nodes would take boot 0 for an old gateway */
  g->boot = boot + 1;
  rc = hal_nvs_set_u32(port, GW_NVS_BOOT, g->boot);
  if (rc == 0)
    rc = hal_nvs_commit(port);
  if (rc != 0) {
    hal_log(port, HAL_LOG_ERROR, "boot counter not persisted: %d", rc);
    return rc;
  }

  hal_radio_mac(port, g->mac);
  uint8_t saved[HAL_MAC_LEN];
  rc = gw_saved_mac(port, saved);
  if (rc == 0 && memcmp(saved, g->mac, HAL_MAC_LEN) != 0)
    hal_log(port, HAL_LOG_WARN, "the MAC saved by cfg:set_mac is not the radio's: not applied");
  else if (rc != 0 && rc != FARM_ENOENT)
    hal_log(port, HAL_LOG_WARN, "saved MAC unreadable: %d", rc);
  rc = hal_radio_set_channel(port, cfg->channel);
  if (rc != 0) {
    hal_log(port, HAL_LOG_ERROR, "radio channel %u: %d", (unsigned)cfg->channel, rc);
    return rc;
  }

  fp_frame_decoder_init(&g->dec);
  g->next_gseq = 1;
  g->log_window_ms = now;
  g->stats_due_ms = now + cfg->stats_ms;
  g->persist_due_ms = now + cfg->persist_ms;
  gw__peers_load(g);
  gw__peers_register(g, now);
  emit_hello(g);
  if (cfg->pair_boot_s > 0 && g->npeers == 0) {
    g->pair_open = true;
    g->pair_until_ms = now + (uint64_t)cfg->pair_boot_s * 1000u;
  }
  hal_log(port, HAL_LOG_INFO, "gateway %s boot %u, %u peers, channel %u", cfg->fw,
          (unsigned)g->boot, (unsigned)g->npeers, (unsigned)cfg->channel);
  gw__serial_pump(g, now);
  return 0;
}

void gw_tick(struct gw *g)
{
  assert(g != NULL);
  if (g->halted)
    return;
  uint64_t now = hal_clock_ms(g->port);
  gw__serial_pump(g, now);
  if (g->pair_open && now >= g->pair_until_ms)
    pair_closed(g, "expired");
  gw__radio_timers(g, now);
  if (g->cfg->stats_ms > 0 && now >= g->stats_due_ms) {
    g->stats_due_ms = now + g->cfg->stats_ms;
    emit_stats(g);
  }
  gw__peers_flush(g, now, false);
  if (g->reboot_pending && (g->reboot_acked || now >= g->reboot_at_ms)) {
    gw__peers_flush(g, now, true);
    hal_log(g->port, HAL_LOG_INFO, "restarting");
    g->halted = true;
    hal_reboot(g->port);
    return;
  }
  gw__serial_flush(g, now);
}

uint64_t gw_next_deadline(const struct gw *g)
{
  uint64_t now = hal_clock_ms(g->port);
  /* Poll at least every second: serial input and a cable coming back are
   * only seen by a tick. */
  uint64_t t = now + 1000;
  if (g->halted)
    return t;
  uint64_t c = gw__up_deadline(g, now);
  if (c < t)
    t = c;
  c = gw__radio_deadline(g);
  if (c < t)
    t = c;
  if (g->cfg->stats_ms > 0 && g->stats_due_ms < t)
    t = g->stats_due_ms;
  if (g->pair_open && g->pair_until_ms < t)
    t = g->pair_until_ms;
  if (g->reboot_pending)
    t = g->reboot_acked ? now : (g->reboot_at_ms < t ? g->reboot_at_ms : t);
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    if (g->peers[i].used && g->peers[i].dirty_mark && g->persist_due_ms < t)
      t = g->persist_due_ms;
  }
  return t < now ? now : t;
}

/* ---- state -------------------------------------------------------------- */

void gw_stats(const struct gw *g, struct gw_stats *out)
{
  *out = g->stats;
  /* The serial counters live in the frame decoder. */
  out->frames_rx = g->dec.count.frames;
  out->crc = g->dec.count.crc;
  out->cobs = g->dec.count.cobs + g->dec.count.shortf;
  out->oversize = g->dec.count.oversize;
}

uint32_t gw_boot(const struct gw *g)
{
  return g->boot;
}

bool gw_halted(const struct gw *g)
{
  return g->halted;
}

bool gw_pairing_open(const struct gw *g)
{
  return g->pair_open && hal_clock_ms(g->port) < g->pair_until_ms;
}

size_t gw_peer_count(const struct gw *g)
{
  return g->npeers;
}

const struct gw_peer *gw_peer_find(const struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    if (g->peers[i].used && memcmp(g->peers[i].mac, mac, HAL_MAC_LEN) == 0)
      return &g->peers[i];
  }
  return NULL;
}

size_t gw_uplink_pending(const struct gw *g)
{
  return g->n_up;
}
