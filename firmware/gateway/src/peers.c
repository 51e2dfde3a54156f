/* SPDX-License-Identifier: MIT */
/*
 * The gateway's peer table (DESIGN §5): up to GW_MAX_PEERS nodes with their
 * identity, smoothed RSSI and (boot, seq) high-water mark, persisted in NVS
 * one record per slot so a gateway reboot keeps its peers and its replay
 * protection; and the radio's hardware peer list (HAL_RADIO_HW_PEERS
 * entries, fewer when encrypted), managed as a least-recently-used cache
 * over the table: a peer gets a slot when the gateway must send to it.
 * With encryption the list is no cache: ESP-NOW decrypts only frames from
 * the encrypted peers it lists, so every node keeps its slot for good.
 */
#include <assert.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

/* Record layout, big-endian numbers:
 *   0      kind: 1 a peer, 2 a peer whose encrypted pairing is not
 *          confirmed yet (unkeyed: it starts again at boot)
 *   1..6   MAC
 *   7..10  boot mark
 *   11..14 seq mark
 *   15     fw length n (1..31), then n bytes
 *   ..     asset length m (0..47), then m bytes */
#define RECORD_PEER    1
#define RECORD_UNKEYED 2

static bool mac_eq(const uint8_t *a, const uint8_t *b)
{
  return memcmp(a, b, HAL_MAC_LEN) == 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void peer_key(char key[8], size_t slot)
{
  assert(slot < 100);
  memcpy(key, GW_NVS_PEER, 4);
  key[4] = (char)('0' + slot / 10);
  key[5] = (char)('0' + slot % 10);
  key[6] = '\0';
}

struct gw_peer *gw__peer_find(struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    if (g->peers[i].used && mac_eq(g->peers[i].mac, mac))
      return &g->peers[i];
  }
  return NULL;
}

struct gw_peer *gw__peer_add(struct gw *g, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    struct gw_peer *p = &g->peers[i];
    if (!p->used) {
      memset(p, 0, sizeof *p);
      p->used = true;
      memcpy(p->mac, mac, HAL_MAC_LEN);
      g->npeers++;
      return p;
    }
  }
  return NULL;
}

size_t gw__peer_record(const struct gw_peer *p, uint8_t *buf, size_t cap)
{
  size_t fw = strlen(p->fw), asset = strlen(p->asset);
  size_t n = 1 + HAL_MAC_LEN + 8 + 1 + fw + 1 + asset;
  assert(fw >= 1 && fw <= FP_MSG_FW_MAX && asset <= FP_MSG_ASSET_MAX);
  if (n > cap)
    return 0;
  uint8_t *q = buf;
  *q++ = p->unkeyed ? RECORD_UNKEYED : RECORD_PEER;
  memcpy(q, p->mac, HAL_MAC_LEN);
  q += HAL_MAC_LEN;
  put_u32(q, p->boot);
  put_u32(q + 4, p->seq);
  q += 8;
  *q++ = (uint8_t)fw;
  memcpy(q, p->fw, fw);
  q += fw;
  *q++ = (uint8_t)asset;
  memcpy(q, p->asset, asset);
  return n;
}

/* A text field of a record: valid UTF-8 without NUL (the rules of the wire,
 * docs/protocol.md §4.1), copied NUL-terminated. */
static bool parse_text(const uint8_t **q, const uint8_t *end, size_t min, size_t max, char *dst)
{
  if (*q >= end)
    return false;
  size_t n = *(*q)++;
  if (n < min || n > max || (size_t)(end - *q) < n)
    return false;
  if (memchr(*q, 0, n) != NULL || !fp_utf8_valid(*q, n))
    return false;
  memcpy(dst, *q, n);
  dst[n] = '\0';
  *q += n;
  return true;
}

bool gw__peer_parse(const uint8_t *buf, size_t len, struct gw_peer *p)
{
  const uint8_t *q = buf, *end = buf + len;
  memset(p, 0, sizeof *p);
  if (len < 1 + HAL_MAC_LEN + 8 || (*q != RECORD_PEER && *q != RECORD_UNKEYED))
    return false;
  p->unkeyed = *q++ == RECORD_UNKEYED;
  memcpy(p->mac, q, HAL_MAC_LEN);
  q += HAL_MAC_LEN;
  static const uint8_t zero[HAL_MAC_LEN];
  if ((p->mac[0] & 1) != 0 || mac_eq(p->mac, zero))
    return false;
  p->boot = get_u32(q);
  p->seq = get_u32(q + 4);
  q += 8;
  if (!parse_text(&q, end, 1, FP_MSG_FW_MAX, p->fw) ||
      !parse_text(&q, end, 0, FP_MSG_ASSET_MAX, p->asset) || q != end)
    return false;
  p->used = true;
  return true;
}

void gw__peers_load(struct gw *g)
{
  uint8_t buf[GW__PEER_RECORD_MAX];
  char key[8];
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    size_t len = 0;
    peer_key(key, i);
    int rc = hal_nvs_get_blob(g->port, key, buf, sizeof buf, &len);
    if (rc == FARM_ENOENT)
      continue;
    struct gw_peer *p = &g->peers[i];
    if (rc == 0 && gw__peer_parse(buf, len, p) && gw__peer_find(g, p->mac) == p) {
      g->npeers++;
      continue;
    }
    /* A record this core did not write (or a second record of one MAC):
     * forget it rather than trust it; the node can pair again. */
    memset(p, 0, sizeof *p);
    hal_log(g->port, HAL_LOG_WARN, "peer record %s unreadable (%d): erased", key, rc);
    if (hal_nvs_erase(g->port, key) != 0 || hal_nvs_commit(g->port) != 0)
      g->stats.nvs_err++;
  }
}

static int peer_write(struct gw *g, struct gw_peer *p)
{
  uint8_t buf[GW__PEER_RECORD_MAX];
  char key[8];
  size_t n = gw__peer_record(p, buf, sizeof buf);
  assert(n > 0);
  peer_key(key, (size_t)(p - g->peers));
  int rc = hal_nvs_set_blob(g->port, key, buf, n);
  if (rc != 0) {
    g->stats.nvs_err++;
    hal_log(g->port, HAL_LOG_ERROR, "peer record %s not written: %d", key, rc);
    return rc;
  }
  p->dirty_meta = p->dirty_mark = false;
  return 0;
}

static int commit(struct gw *g)
{
  int rc = hal_nvs_commit(g->port);
  if (rc != 0) {
    g->stats.nvs_err++;
    hal_log(g->port, HAL_LOG_ERROR, "NVS commit failed: %d", rc);
  }
  return rc;
}

int gw__peer_save(struct gw *g, struct gw_peer *p)
{
  int rc = peer_write(g, p);
  return rc != 0 ? rc : commit(g);
}

void gw__peers_flush(struct gw *g, uint64_t now, bool force)
{
  if (!force && now < g->persist_due_ms)
    return;
  g->persist_due_ms = now + g->cfg->persist_ms;
  bool wrote = false;
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    struct gw_peer *p = &g->peers[i];
    if (p->used && (p->dirty_mark || p->dirty_meta) && peer_write(g, p) == 0)
      wrote = true;
  }
  if (wrote)
    commit(g);
}

/* Frees the hardware slot of the least recently used peer with nothing on
 * the air. False when every slot holder is busy, or with encryption, where
 * a node without its slot could not be heard at all. */
static bool hw_evict(struct gw *g)
{
  if (g->cfg->encrypt)
    return false;
  struct gw_peer *victim = NULL;
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    struct gw_peer *p = &g->peers[i];
    if (p->used && p->hw && p->tx == GW__TX_NONE &&
        (victim == NULL || p->hw_used_ms < victim->hw_used_ms))
      victim = p;
  }
  if (victim == NULL)
    return false;
  int rc = hal_radio_del_peer(g->port, victim->mac);
  if (rc != 0 && rc != FARM_ENOENT)
    hal_log(g->port, HAL_LOG_WARN, "radio: removing a hardware peer failed: %d", rc);
  victim->hw = false;
  g->hw_count--;
  return true;
}

int gw__hw_ensure(struct gw *g, struct gw_peer *p, uint64_t now)
{
  /* Encrypted, except while the node cannot have the key (pairing step 1). */
  bool enc = g->cfg->encrypt && !p->clear;
  if (!p->hw || p->hw_enc != enc) {
    size_t cap = g->cfg->encrypt ? HAL_RADIO_HW_PEERS_ENCRYPTED : HAL_RADIO_HW_PEERS;
    if (!p->hw && g->hw_count >= cap && !hw_evict(g))
      return FARM_ENOSPC;
    /* Idempotent: a listed peer only has its encryption changed (hal.h). */
    int rc = hal_radio_add_peer(g->port, p->mac, enc);
    if (rc == FARM_ENOSPC && hw_evict(g)) {
      /* The radio holds a peer this core did not add (or lost count): make
       * one more room and try once more. */
      rc = hal_radio_add_peer(g->port, p->mac, enc);
    }
    if (rc != 0)
      return rc;
    if (!p->hw)
      g->hw_count++;
    p->hw = true;
    p->hw_enc = enc;
  }
  p->hw_used_ms = now;
  return 0;
}

void gw__peers_register(struct gw *g, uint64_t now)
{
  if (!g->cfg->encrypt)
    return;
  unsigned unheard = 0;
  for (size_t i = 0; i < GW_MAX_PEERS; i++) {
    struct gw_peer *p = &g->peers[i];
    if (!p->used)
      continue;
    /* A pairing this boot did not see confirmed starts again from the
     * clear JOIN_ACK: a node that has the key drops that frame, but its
     * radio acknowledges it all the same, which moves the pairing on. */
    p->clear = p->need_join_ack = p->unkeyed;
    p->join_due_ms = now;
    if (gw__hw_ensure(g, p, now) != 0)
      unheard++;
  }
  if (unheard > 0)
    hal_log(g->port, HAL_LOG_ERROR, "%u peers got no encrypted radio slot: they cannot be heard",
            unheard);
}

/*
 * Exponentially weighted moving average with factor 1/8, in 1/16 dBm.
 * ESP-NOW reports the RSSI of each frame, which swings by several dB from
 * multipath fading between two frames of a node that has not moved; 1/8
 * averages over about the last 8 frames, enough to hide that jitter, and
 * still follows a real change of the link (a moved node, a closed door)
 * within a few telemetry periods. A power of two keeps it to integer
 * arithmetic on a core without an FPU.
 */
void gw__rssi_update(struct gw_peer *p, int8_t rssi)
{
  int32_t s = (int32_t)rssi * 16;
  if (!p->rssi_valid) {
    p->rssi_x16 = (int16_t)s;
    p->rssi_valid = true;
    return;
  }
  int32_t d = s - p->rssi_x16;
  p->rssi_x16 = (int16_t)(p->rssi_x16 + (d >= 0 ? d + 4 : d - 4) / 8);
}

int8_t gw_peer_rssi(const struct gw_peer *p)
{
  if (!p->rssi_valid)
    return 0;
  int32_t v = p->rssi_x16;
  return (int8_t)((v >= 0 ? v + 8 : v - 8) / 16);
}
