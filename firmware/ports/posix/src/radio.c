/* SPDX-License-Identifier: MIT */
/*
 * The simulated ESP-NOW medium and the hal_radio_* functions of a board:
 * the hardware peer list with ESP-NOW's limits, a FIFO of frames in flight,
 * and delivery with path loss, seeded loss draws, acknowledgements and
 * ESP-NOW's encryption rules (sim/radio.h).
 */
#include "sim/radio.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

void sim_radio_config_default(struct sim_radio_config *cfg)
{
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->seed = 1;
  cfg->latency_ms = 2;
  cfg->loss = 0.0;
  cfg->ack_loss = true;
  cfg->tx_power_dbm = 20.0;
  /* Free-space loss at 1 m and 2.44 GHz: 20 log10(4 pi d / lambda) = 40.2 dB,
   * rounded. */
  cfg->path_loss_d0_db = 40.0;
  cfg->path_loss_exp = 2.7;
  cfg->shadowing_sigma_db = 0.0;
  cfg->sensitivity_dbm = -98.0;
  cfg->tx_queue = 8;
}

static bool prob_valid(double p)
{
  return p >= 0.0 && p <= 1.0; /* also false for NaN */
}

int sim_radio_init(struct sim_radio *r, const struct sim_radio_config *cfg, struct sim_clock *clock)
{
  assert(r && cfg && clock);
  if (!prob_valid(cfg->loss) || !(cfg->path_loss_exp > 0.0) || !(cfg->shadowing_sigma_db >= 0.0) ||
      cfg->tx_queue == 0)
    return FARM_EINVAL;
  memset(r, 0, sizeof *r);
  r->cfg = *cfg;
  r->clock = clock;
  r->rng = cfg->seed;
  return 0;
}

int sim_radio_set_loss(struct sim_radio *r, double loss)
{
  assert(r);
  if (!prob_valid(loss))
    return FARM_EINVAL;
  r->cfg.loss = loss;
  return 0;
}

static int find_link(const struct sim_radio *r, const uint8_t a[HAL_MAC_LEN],
                     const uint8_t b[HAL_MAC_LEN])
{
  for (size_t i = 0; i < r->nlinks; i++) {
    const struct sim_radio_link *l = &r->links[i];
    if ((sim__mac_eq(l->a, a) && sim__mac_eq(l->b, b)) ||
        (sim__mac_eq(l->a, b) && sim__mac_eq(l->b, a)))
      return (int)i;
  }
  return -1;
}

int sim_radio_set_link_loss(struct sim_radio *r, const uint8_t a[HAL_MAC_LEN],
                            const uint8_t b[HAL_MAC_LEN], double loss)
{
  assert(r && a && b);
  if (sim__mac_eq(a, b) || isnan(loss) || loss > 1.0)
    return FARM_EINVAL;
  int i = find_link(r, a, b);
  if (loss < 0.0) {
    if (i < 0)
      return FARM_ENOENT;
    r->links[i] = r->links[--r->nlinks];
    return 0;
  }
  if (i < 0) {
    if (r->nlinks == SIM_RADIO_MAX_LINKS)
      return FARM_ENOSPC;
    i = (int)r->nlinks++;
    memcpy(r->links[i].a, a, HAL_MAC_LEN);
    memcpy(r->links[i].b, b, HAL_MAC_LEN);
  }
  r->links[i].loss = loss;
  return 0;
}

double sim_radio_link_loss(const struct sim_radio *r, const uint8_t a[HAL_MAC_LEN],
                           const uint8_t b[HAL_MAC_LEN])
{
  assert(r && a && b);
  int i = find_link(r, a, b);
  return i >= 0 ? r->links[i].loss : r->cfg.loss;
}

void sim_radio_set_latency(struct sim_radio *r, uint32_t latency_ms)
{
  assert(r);
  r->cfg.latency_ms = latency_ms;
}

const struct sim_radio_stats *sim_radio_stats(const struct sim_radio *r)
{
  assert(r);
  return &r->stats;
}

double sim_radio_mean_rssi(const struct sim_radio *r, const struct hal_port *a,
                           const struct hal_port *b)
{
  assert(r && a && b);
  double d = hypot(a->x_m - b->x_m, a->y_m - b->y_m);
  /* The model is calibrated at d0 = 1 m and says nothing closer. */
  if (d < 1.0)
    d = 1.0;
  return r->cfg.tx_power_dbm - (r->cfg.path_loss_d0_db + 10.0 * r->cfg.path_loss_exp * log10(d));
}

/* ---- Membership ------------------------------------------------------- */

static struct hal_port *find_board(const struct sim_radio *r, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < r->nboards; i++)
    if (sim__mac_eq(r->boards[i]->mac, mac))
      return r->boards[i];
  return NULL;
}

int sim__radio_attach(struct sim_radio *r, struct hal_port *b)
{
  if (find_board(r, b->mac))
    return FARM_EEXIST;
  if (r->nboards == SIM_RADIO_MAX_BOARDS)
    return FARM_ENOSPC;
  r->boards[r->nboards++] = b;
  return 0;
}

void sim__radio_cancel(struct sim_radio *r, struct hal_port *b)
{
  for (size_t k = 0; k < r->count; k++) {
    struct sim_radio_frame *f = &r->queue[(r->head + k) % SIM_RADIO_QUEUE];
    if (f->src == b)
      f->src = NULL;
  }
  b->in_flight = 0;
}

void sim__radio_detach(struct sim_radio *r, struct hal_port *b)
{
  sim__radio_cancel(r, b);
  for (size_t i = 0; i < r->nboards; i++) {
    if (r->boards[i] == b) {
      /* Keep the order: delivery of broadcasts follows it. */
      memmove(&r->boards[i], &r->boards[i + 1], (r->nboards - i - 1) * sizeof r->boards[0]);
      r->nboards--;
      return;
    }
  }
}

size_t sim_radio_in_flight(const struct sim_radio *r)
{
  assert(r);
  size_t n = 0;
  for (size_t k = 0; k < r->count; k++)
    if (r->queue[(r->head + k) % SIM_RADIO_QUEUE].src)
      n++;
  return n;
}

bool sim_radio_next_due(const struct sim_radio *r, uint64_t *at_ms)
{
  assert(r && at_ms);
  for (size_t k = 0; k < r->count; k++) {
    const struct sim_radio_frame *f = &r->queue[(r->head + k) % SIM_RADIO_QUEUE];
    if (f->src) {
      *at_ms = f->deliver_at_ms;
      return true;
    }
  }
  return false;
}

/* ---- Delivery --------------------------------------------------------- */

/* A standard normal draw (Box-Muller). */
static double gauss(struct sim_radio *r)
{
  double u1 = 1.0 - sim__rng_unit(&r->rng); /* (0, 1]: log is finite */
  double u2 = sim__rng_unit(&r->rng);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

static int find_peer(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  for (int i = 0; i < p->npeers; i++)
    if (sim__mac_eq(p->peers[i].mac, mac))
      return i;
  return -1;
}

/* Whether dst's radio passes unicast frame f from src on (sim/radio.h): an
 * encrypted frame only from a peer it lists encrypted, with the same PMK
 * and LMK; an unencrypted one only from a peer it does not list
 * encrypted. */
static bool decrypts(const struct sim_radio_frame *f, const struct hal_port *src,
                     const struct hal_port *dst)
{
  int i = find_peer(dst, src->mac);
  bool listed_encrypted = i >= 0 && dst->peers[i].encrypt;
  if (!f->encrypted)
    return !listed_encrypted;
  return listed_encrypted && memcmp(f->key, dst->cfg.pmk, SIM_RADIO_KEY_LEN) == 0 &&
         memcmp(f->key + SIM_RADIO_KEY_LEN, dst->cfg.lmk, SIM_RADIO_KEY_LEN) == 0;
}

/* One receiver's chance at frame f; true when its radio received it (and
 * so acknowledges a unicast frame), whether or not its core got it. */
static bool try_receive(struct sim_radio *r, const struct sim_radio_frame *f, struct hal_port *src,
                        struct hal_port *dst)
{
  double rssi = sim_radio_mean_rssi(r, src, dst);
  if (r->cfg.shadowing_sigma_db > 0.0)
    rssi += r->cfg.shadowing_sigma_db * gauss(r);
  if (rssi < r->cfg.sensitivity_dbm) {
    r->stats.out_of_range++;
    return false;
  }
  /* One draw per reception, whatever the probability, so the sequence of
   * draws does not depend on the loss setting. */
  if (sim__rng_unit(&r->rng) < sim_radio_link_loss(r, src->mac, dst->mac)) {
    r->stats.lost++;
    return false;
  }
  if (!sim__mac_is_broadcast(f->dst) && !decrypts(f, src, dst)) {
    r->stats.undecryptable++;
    return true;
  }
  r->stats.rx++;
  double rounded = floor(rssi + 0.5);
  int8_t rssi8 = (int8_t)(rounded < -128.0 ? -128 : rounded > 127.0 ? 127 : rounded);
  if (dst->ops && dst->ops->on_radio_rx)
    dst->ops->on_radio_rx(dst->core, src->mac, f->data, f->len, rssi8);
  return true;
}

static bool listening(const struct hal_port *b, uint8_t channel)
{
  return !b->reboot_pending && b->channel == channel;
}

static void deliver(struct sim_radio *r, const struct sim_radio_frame *f)
{
  struct hal_port *src = f->src;
  bool delivered;
  if (sim__mac_is_broadcast(f->dst)) {
    /* Broadcasts are not acknowledged: ESP-NOW reports them sent. */
    for (size_t i = 0; i < r->nboards; i++) {
      struct hal_port *dst = r->boards[i];
      if (dst != src && listening(dst, f->channel))
        try_receive(r, f, src, dst);
    }
    delivered = true;
  } else {
    struct hal_port *dst = find_board(r, f->dst);
    if (!dst || dst == src || !listening(dst, f->channel)) {
      r->stats.no_receiver++;
      delivered = false;
    } else {
      delivered = try_receive(r, f, src, dst);
      if (delivered && r->cfg.ack_loss &&
          sim__rng_unit(&r->rng) < sim_radio_link_loss(r, dst->mac, src->mac)) {
        r->stats.acks_lost++;
        delivered = false;
      }
    }
  }
  if (delivered)
    r->stats.sent_ok++;
  else
    r->stats.sent_failed++;
  /* A receive callback may have asked the sender itself to reboot. */
  if (!src->reboot_pending && src->ops && src->ops->on_radio_sent)
    src->ops->on_radio_sent(src->core, f->dst, delivered);
}

size_t sim_radio_run(struct sim_radio *r)
{
  assert(r);
  uint64_t now = sim_clock_now(r->clock);
  /* Frames queued by the callbacks below go behind these and wait. */
  size_t budget = r->count;
  size_t done = 0;
  while (budget > 0 && r->count > 0) {
    struct sim_radio_frame *head = &r->queue[r->head];
    if (head->src && head->deliver_at_ms > now)
      break;
    struct sim_radio_frame f = *head;
    r->head = (r->head + 1) % SIM_RADIO_QUEUE;
    r->count--;
    budget--;
    if (!f.src)
      continue;
    f.src->in_flight--;
    deliver(r, &f);
    done++;
  }
  return done;
}

/* ---- hal_radio_* ------------------------------------------------------- */

void hal_radio_mac(struct hal_port *p, uint8_t mac[HAL_MAC_LEN])
{
  assert(p && mac);
  memcpy(mac, p->mac, HAL_MAC_LEN);
}

int hal_radio_send(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], const void *data, size_t len)
{
  assert(p && mac && (data || len == 0));
  if (len == 0 || len > HAL_RADIO_MTU)
    return FARM_EINVAL;
  struct sim_radio *r = p->radio;
  if (!r || p->reboot_pending)
    return FARM_EIO;
  int peer = sim__mac_is_broadcast(mac) ? -1 : find_peer(p, mac);
  if (!sim__mac_is_broadcast(mac) && peer < 0)
    return FARM_EINVAL;
  if (p->in_flight >= r->cfg.tx_queue || r->count == SIM_RADIO_QUEUE)
    return FARM_EBUSY;
  struct sim_radio_frame *f = &r->queue[(r->head + r->count) % SIM_RADIO_QUEUE];
  f->src = p;
  memcpy(f->dst, mac, HAL_MAC_LEN);
  f->channel = p->channel;
  f->encrypted = peer >= 0 && p->peers[peer].encrypt;
  if (f->encrypted) {
    memcpy(f->key, p->cfg.pmk, SIM_RADIO_KEY_LEN);
    memcpy(f->key + SIM_RADIO_KEY_LEN, p->cfg.lmk, SIM_RADIO_KEY_LEN);
  }
  f->len = (uint16_t)len;
  f->deliver_at_ms = sim_clock_now(r->clock) + r->cfg.latency_ms;
  memcpy(f->data, data, len);
  r->count++;
  p->in_flight++;
  r->stats.sent++;
  return 0;
}

int hal_radio_add_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], bool encrypt)
{
  assert(p && mac);
  /* ESP-NOW cannot encrypt broadcast: asking is a programming error. */
  assert(!(encrypt && sim__mac_is_broadcast(mac)));
  if (!p->radio)
    return FARM_EIO;
  int i = find_peer(p, mac);
  if (i >= 0) {
    if (p->peers[i].encrypt == encrypt)
      return 0;
    if (encrypt && p->nencrypted >= HAL_RADIO_HW_PEERS_ENCRYPTED)
      return FARM_ENOSPC;
    p->peers[i].encrypt = encrypt;
    if (encrypt)
      p->nencrypted++;
    else
      p->nencrypted--;
    return 0;
  }
  if (p->npeers >= HAL_RADIO_HW_PEERS)
    return FARM_ENOSPC;
  if (encrypt && p->nencrypted >= HAL_RADIO_HW_PEERS_ENCRYPTED)
    return FARM_ENOSPC;
  memcpy(p->peers[p->npeers].mac, mac, HAL_MAC_LEN);
  p->peers[p->npeers].encrypt = encrypt;
  p->npeers++;
  if (encrypt)
    p->nencrypted++;
  return 0;
}

int hal_radio_del_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  assert(p && mac);
  int i = find_peer(p, mac);
  if (i < 0)
    return FARM_ENOENT;
  if (p->peers[i].encrypt)
    p->nencrypted--;
  p->peers[i] = p->peers[--p->npeers];
  return 0;
}

int hal_radio_set_channel(struct hal_port *p, uint8_t channel)
{
  assert(p);
  if (channel < 1 || channel > 14)
    return FARM_EINVAL;
  if (!p->radio)
    return FARM_EIO;
  p->channel = channel;
  return 0;
}
