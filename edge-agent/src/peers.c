/* SPDX-License-Identifier: MIT */
/*
 * Peer router: the table of nodes and the gateway's identity, counters and
 * log, online/offline by expected interval, and the time of readings.
 */
#include "peers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

const char *const ea_feature_names[EA_FEATURES] = {"sht41", "lux", "mq135", "relays", "synthetic"};

struct ea_peers {
  int factor;
  int64_t default_interval_ms;
  struct ea_peer *tab;
  size_t n;
  struct ea_gateway gw;
};

int ea_peers_new(int offline_factor, int64_t default_interval_ms, struct ea_peers **out)
{
  struct ea_peers *p = calloc(1, sizeof *p);
  if (!p)
    return FARM_ENOMEM;
  p->tab = calloc(EA_PEERS_MAX, sizeof *p->tab);
  if (!p->tab) {
    free(p);
    return FARM_ENOMEM;
  }
  p->factor = offline_factor;
  p->default_interval_ms = default_interval_ms;
  *out = p;
  return 0;
}

void ea_peers_free(struct ea_peers *p)
{
  if (!p)
    return;
  free(p->tab);
  free(p);
}

void ea_mac_id(const uint8_t mac[FP_MAC_LEN], char out[13])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < FP_MAC_LEN; i++) {
    out[2 * i] = hex[mac[i] >> 4];
    out[2 * i + 1] = hex[mac[i] & 15];
  }
  out[12] = '\0';
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int ea_mac_parse(const char *id, uint8_t mac[FP_MAC_LEN])
{
  if (!id || strlen(id) != 12)
    return FARM_EINVAL;
  for (int i = 0; i < FP_MAC_LEN; i++) {
    int hi = hexval(id[2 * i]), lo = hexval(id[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return FARM_EINVAL;
    mac[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

static struct ea_peer *find_mac(struct ea_peers *p, const uint8_t mac[FP_MAC_LEN])
{
  for (size_t i = 0; i < p->n; i++)
    if (memcmp(p->tab[i].mac, mac, FP_MAC_LEN) == 0)
      return &p->tab[i];
  return NULL;
}

/* The peer of mac, created when new. A full table gives up its least
 * recently seen offline (else least recently seen) entry. */
static struct ea_peer *get(struct ea_peers *p, const uint8_t mac[FP_MAC_LEN], int64_t now_ms)
{
  struct ea_peer *e = find_mac(p, mac);
  if (e)
    return e;
  if (p->n < EA_PEERS_MAX) {
    e = &p->tab[p->n++];
  } else {
    size_t victim = 0;
    for (size_t i = 1; i < p->n; i++) {
      const struct ea_peer *a = &p->tab[i], *b = &p->tab[victim];
      if ((a->online == b->online && a->last_seen_ms < b->last_seen_ms) ||
          (!a->online && b->online))
        victim = i;
    }
    e = &p->tab[victim];
  }
  memset(e, 0, sizeof *e);
  memcpy(e->mac, mac, FP_MAC_LEN);
  ea_mac_id(mac, e->id);
  e->interval_ms = p->default_interval_ms;
  e->last_seen_ms = now_ms;
  e->dirty = true;
  return e;
}

static void seen(struct ea_peers *p, struct ea_peer *e, int64_t now_ms)
{
  (void)p;
  if (now_ms > e->last_seen_ms)
    e->last_seen_ms = now_ms;
  if (!e->online || e->removed) {
    e->online = true;
    e->removed = false;
    e->dirty = true;
  }
}

int64_t ea_peers_on_tel(struct ea_peers *p, const struct fp_msg_tel *t, int64_t now_ms)
{
  struct ea_peer *e = get(p, t->mac, now_ms);
  /* Measured interval, unless the node announced its period: a smoothed
   * gap between readings, ignoring resent ones (same or older uptime). */
  if (!e->interval_announced && e->last_tel_ms && now_ms > e->last_tel_ms) {
    int64_t gap = now_ms - e->last_tel_ms;
    if (e->readings < 2)
      e->interval_ms = gap;
    else
      e->interval_ms = (e->interval_ms * 7 + gap) / 8;
    if (e->interval_ms < 100)
      e->interval_ms = 100;
  }
  e->last_tel_ms = now_ms;
  e->readings++;
  if (!e->has_rssi || e->rssi != t->rssi) {
    e->rssi = t->rssi;
    e->has_rssi = true;
  }
  int64_t off = now_ms - (int64_t)t->up_ms;
  if (!e->has_boot || e->boot != t->boot) {
    e->has_boot = true;
    e->boot = t->boot;
    e->offset_ms = off;
  } else if (off < e->offset_ms) {
    e->offset_ms = off;
  }
  int64_t ts = (int64_t)t->up_ms + e->offset_ms;
  if (ts >= e->v_ts) {
    e->n_metrics = t->n_metrics;
    memcpy(e->v, t->v, sizeof e->v[0] * t->n_metrics);
    e->synthetic = t->syn;
    e->v_ts = ts;
  }
  seen(p, e, now_ms);
  return ts;
}

int64_t ea_peers_time_of(const struct ea_peers *p, const uint8_t mac[FP_MAC_LEN], uint32_t boot,
                         uint64_t up_ms, int64_t now_ms)
{
  for (size_t i = 0; i < p->n; i++) {
    const struct ea_peer *e = &p->tab[i];
    if (memcmp(e->mac, mac, FP_MAC_LEN) == 0 && e->has_boot && e->boot == boot)
      return (int64_t)up_ms + e->offset_ms;
  }
  return now_ms;
}

static const struct fp_arg *arg(const struct fp_msg_evt *e, const char *key)
{
  for (unsigned i = 0; i < e->n_args; i++)
    if (strcmp(e->args[i].key, key) == 0)
      return &e->args[i];
  return NULL;
}

void ea_peers_on_evt(struct ea_peers *p, const struct fp_msg_evt *e, int64_t now_ms)
{
  if (p->gw.seen && memcmp(e->mac, p->gw.mac, FP_MAC_LEN) == 0)
    return; /* an event of the gateway itself */
  struct ea_peer *pe = get(p, e->mac, now_ms);
  pe->events++;
  if (strcmp(e->name, "boot") == 0) {
    /* The node's boot event carries its features and period (firmware
     * node core: "feat" bit mask, "period_ms"). */
    const struct fp_arg *f = arg(e, "feat");
    if (f && f->kind == FP_ARG_INT && f->v.i >= 0 && f->v.i < (1 << EA_FEATURES)) {
      pe->features = (uint32_t)f->v.i;
      pe->has_features = true;
      pe->dirty = true;
    }
    const struct fp_arg *per = arg(e, "period_ms");
    if (per && per->kind == FP_ARG_INT && per->v.i >= 100 && per->v.i <= 86400000) {
      pe->interval_ms = per->v.i;
      pe->interval_announced = true;
      pe->dirty = true;
    }
  }
  seen(p, pe, now_ms);
}

void ea_peers_on_peer(struct ea_peers *p, const struct fp_msg_peer *m, int64_t now_ms)
{
  struct ea_peer *e = get(p, m->mac, now_ms);
  if (m->asset[0] && strcmp(e->asset, m->asset) != 0) {
    snprintf(e->asset, sizeof e->asset, "%s", m->asset);
    e->dirty = true;
  }
  if (m->fw[0] && strcmp(e->fw, m->fw) != 0) {
    snprintf(e->fw, sizeof e->fw, "%s", m->fw);
    e->dirty = true;
  }
  if (m->has_rssi) {
    e->rssi = m->rssi;
    e->has_rssi = true;
  }
  if (m->state == FP_PEER_REMOVED) {
    if (!e->removed || e->online) {
      e->removed = true;
      e->online = false;
      e->dirty = true;
    }
    return;
  }
  seen(p, e, now_ms);
}

void ea_peers_on_hello(struct ea_peers *p, const struct fp_msg_hello *h, int64_t now_ms)
{
  struct ea_gateway *g = &p->gw;
  g->seen = true;
  memcpy(g->mac, h->mac, FP_MAC_LEN);
  ea_mac_id(h->mac, g->id);
  snprintf(g->fw, sizeof g->fw, "%s", h->fw);
  g->ch = h->ch;
  g->peers = h->peers;
  g->boot = h->boot;
  g->hellos++;
  g->hello_ms = now_ms;
}

void ea_peers_on_stats(struct ea_peers *p, const struct fp_msg_stats *s, int64_t now_ms)
{
  p->gw.n_counters = s->n_counters;
  memcpy(p->gw.counters, s->v, sizeof s->v[0] * s->n_counters);
  p->gw.stats_ms = now_ms;
}

void ea_peers_on_log(struct ea_peers *p, const struct fp_msg_log *l, int64_t now_ms)
{
  struct ea_gateway *g = &p->gw;
  g->log[g->log_next].ms = now_ms;
  g->log[g->log_next].lvl = l->lvl;
  snprintf(g->log[g->log_next].msg, sizeof g->log[0].msg, "%s", l->msg);
  g->log_next = (g->log_next + 1) % EA_GW_LOG_LINES;
  if (g->log_count < EA_GW_LOG_LINES)
    g->log_count++;
}

size_t ea_peers_tick(struct ea_peers *p, int64_t now_ms)
{
  size_t dirty = 0;
  for (size_t i = 0; i < p->n; i++) {
    struct ea_peer *e = &p->tab[i];
    if (e->online && now_ms - e->last_seen_ms > (int64_t)p->factor * e->interval_ms) {
      e->online = false;
      e->dirty = true;
    }
    if (e->dirty)
      dirty++;
  }
  return dirty;
}

void ea_peers_mark_all(struct ea_peers *p)
{
  for (size_t i = 0; i < p->n; i++)
    p->tab[i].dirty = true;
}

size_t ea_peers_count(const struct ea_peers *p)
{
  return p->n;
}

struct ea_peer *ea_peers_at(struct ea_peers *p, size_t i)
{
  return i < p->n ? &p->tab[i] : NULL;
}

struct ea_peer *ea_peers_find(struct ea_peers *p, const char *id)
{
  uint8_t mac[FP_MAC_LEN];
  if (ea_mac_parse(id, mac) != 0)
    return NULL;
  return find_mac(p, mac);
}

const struct ea_gateway *ea_peers_gateway(const struct ea_peers *p)
{
  return &p->gw;
}

/* Appends a JSON string of safe text (assets and firmware are UTF-8 from
 * the gateway, already validated by the decoder): escapes " \ and
 * controls. */
static size_t put_str(char *buf, size_t cap, size_t off, const char *s)
{
  if (off < cap)
    buf[off] = '"';
  off++;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char tmp[8];
    const char *w = tmp;
    if (*c == '"' || *c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)*c;
      tmp[2] = 0;
    } else if (*c < 0x20) {
      snprintf(tmp, sizeof tmp, "\\u%04x", *c);
    } else {
      tmp[0] = (char)*c;
      tmp[1] = 0;
    }
    for (; *w; w++, off++)
      if (off < cap)
        buf[off] = *w;
  }
  if (off < cap)
    buf[off] = '"';
  return off + 1;
}

int ea_peer_status_json(const struct ea_peer *e, char *buf, size_t cap)
{
  size_t off = 0;
  int n =
      snprintf(buf, cap,
               "{\"online\":%s,\"state\":\"%s\",\"last_seen\":%" PRId64 ",\"interval_ms\":%" PRId64,
               e->online ? "true" : "false", e->online ? "online" : "offline", e->last_seen_ms,
               e->interval_ms);
  if (n < 0)
    return FARM_ENOSPC;
  off = (size_t)n;
  if (e->removed) {
    n = snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, ",\"removed\":true");
    off += (size_t)n;
  }
  if (e->has_rssi) {
    n = snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, ",\"rssi\":%d", e->rssi);
    off += (size_t)n;
  }
  if (e->fw[0]) {
    off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, ",\"fw\":");
    off = put_str(buf, cap, off, e->fw);
  }
  if (e->asset[0]) {
    off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, ",\"asset\":");
    off = put_str(buf, cap, off, e->asset);
  }
  if (e->has_features) {
    off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0,
                            ",\"features\":[");
    bool first = true;
    for (int i = 0; i < EA_FEATURES; i++) {
      if (!(e->features & (1u << i)))
        continue;
      off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, "%s\"%s\"",
                              first ? "" : ",", ea_feature_names[i]);
      first = false;
    }
    off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, "]");
  }
  if (e->has_boot)
    off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, ",\"boot\":%u",
                            e->boot);
  off += (size_t)snprintf(off < cap ? buf + off : NULL, off < cap ? cap - off : 0, "}");
  if (off >= cap)
    return FARM_ENOSPC;
  return (int)off;
}
