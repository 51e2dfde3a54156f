/* SPDX-License-Identifier: MIT */
/*
 * The simulated board: power-up and restart, and the hal_* functions for
 * clocks, GPIO, ADC, I2C, serial, random, reboot and log. NVS lives in
 * nvs.c and the radio in radio.c.
 */
#include "sim/board.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

/* Upper bound for a wall clock: year 9999, far past any firmware's life. */
#define WALL_MAX_UNIX_MS 253402300799999ull

void sim_board_config_default(struct sim_board_config *cfg)
{
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  static const uint8_t mac[HAL_MAC_LEN] = {0x02, 0, 0, 0, 0, 0x01};
  memcpy(cfg->mac, mac, HAL_MAC_LEN);
  cfg->seed = 1;
  cfg->channel = 1;
  for (int i = 0; i < SIM_RADIO_KEY_LEN; i++) {
    cfg->pmk[i] = (uint8_t)i;
    cfg->lmk[i] = (uint8_t)((15 - i) << 4);
  }
  cfg->log_level = HAL_LOG_INFO;
}

static void pipe_clear(struct sim_pipe *p)
{
  p->head = 0;
  p->count = 0;
}

static size_t pipe_push(struct sim_pipe *p, const uint8_t *data, size_t len)
{
  size_t n = 0;
  while (n < len && p->count < SIM_SERIAL_BUF) {
    p->buf[(p->head + p->count) % SIM_SERIAL_BUF] = data[n++];
    p->count++;
  }
  return n;
}

static size_t pipe_pop(struct sim_pipe *p, uint8_t *out, size_t cap)
{
  size_t n = 0;
  while (n < cap && p->count > 0) {
    out[n++] = p->buf[p->head];
    p->head = (p->head + 1) % SIM_SERIAL_BUF;
    p->count--;
  }
  return n;
}

int sim_board_init(struct hal_port *b, const struct sim_board_config *cfg)
{
  assert(b && cfg);
  if (!cfg->clock || cfg->channel < 1 || cfg->channel > 14)
    return FARM_EINVAL;
  memset(b, 0, sizeof *b);
  b->cfg = *cfg;
  b->cfg.state_dir = NULL;
  memcpy(b->mac, cfg->mac, HAL_MAC_LEN);
  b->clock = cfg->clock;
  b->boot_ms = sim_clock_now(cfg->clock);
  b->channel = cfg->channel;
  b->x_m = cfg->x_m;
  b->y_m = cfg->y_m;

  /* Each board gets its own stream: the seed mixed with its MAC. */
  uint64_t mix = cfg->seed;
  for (int i = 0; i < HAL_MAC_LEN; i++)
    mix = mix * 0x100000001b3u ^ cfg->mac[i];
  b->rng = mix;

  if (cfg->state_dir) {
    const uint8_t *m = cfg->mac;
    int n = snprintf(b->nvs_path, sizeof b->nvs_path, "%s/%02x%02x%02x%02x%02x%02x.nvs",
                     cfg->state_dir, m[0], m[1], m[2], m[3], m[4], m[5]);
    /* Room is also needed for the ".tmp" of the atomic write. */
    if (n < 0 || (size_t)n + 5 > sizeof b->nvs_path)
      return FARM_EINVAL;
    int err = sim__nvs_load(b);
    if (err)
      return err;
  }
  if (cfg->radio) {
    int err = sim__radio_attach(cfg->radio, b);
    if (err)
      return err;
    b->radio = cfg->radio;
  }
  return 0;
}

void sim_board_detach(struct hal_port *b)
{
  assert(b);
  if (b->radio)
    sim__radio_detach(b->radio, b);
  b->radio = NULL;
}

void sim_board_set_core(struct hal_port *b, const struct sim_board_ops *ops, void *core)
{
  assert(b);
  b->ops = ops;
  b->core = core;
}

bool sim_board_reboot_pending(const struct hal_port *b)
{
  assert(b);
  return b->reboot_pending;
}

void sim_board_restart(struct hal_port *b)
{
  assert(b);
  b->reboot_pending = false;
  b->boots++;
  b->boot_ms = sim_clock_now(b->clock);
  /* Sets that were never committed did not reach flash. */
  b->nvs = b->committed;
  b->nvs_fail = 0;
  b->wall_set = false;
  b->channel = b->cfg.channel;
  b->npeers = 0;
  b->nencrypted = 0;
  if (b->radio)
    sim__radio_cancel(b->radio, b);
  /* Outputs come out of reset as inputs; the relay drivers read that as
   * low. */
  for (int i = 0; i < SIM_GPIO_OUTPUTS; i++)
    b->gpio[i] = false;
  pipe_clear(&b->to_host);
  pipe_clear(&b->from_host);
}

uint32_t sim_board_boots(const struct hal_port *b)
{
  assert(b);
  return b->boots;
}

const uint8_t *sim_board_mac(const struct hal_port *b)
{
  assert(b);
  return b->mac;
}

int sim_board_set_mac(struct hal_port *b, const uint8_t mac[HAL_MAC_LEN])
{
  static const uint8_t zero[HAL_MAC_LEN];
  assert(b && mac);
  if ((mac[0] & 1) != 0 || sim__mac_eq(mac, zero))
    return FARM_EINVAL;
  for (size_t i = 0; b->radio && i < b->radio->nboards; i++) {
    if (b->radio->boards[i] != b && sim__mac_eq(b->radio->boards[i]->mac, mac))
      return FARM_EEXIST;
  }
  memcpy(b->mac, mac, HAL_MAC_LEN);
  return 0;
}

void sim_board_set_position(struct hal_port *b, double x_m, double y_m)
{
  assert(b);
  b->x_m = x_m;
  b->y_m = y_m;
}

uint8_t sim_board_channel(const struct hal_port *b)
{
  assert(b);
  return b->channel;
}

size_t sim_board_peer_count(const struct hal_port *b)
{
  assert(b);
  return b->npeers;
}

bool sim_board_has_peer(const struct hal_port *b, const uint8_t mac[HAL_MAC_LEN], bool *encrypted)
{
  assert(b && mac);
  for (uint8_t i = 0; i < b->npeers; i++) {
    if (sim__mac_eq(b->peers[i].mac, mac)) {
      if (encrypted)
        *encrypted = b->peers[i].encrypt;
      return true;
    }
  }
  return false;
}

int sim_board_adc_set(struct hal_port *b, uint8_t ch, uint32_t mv)
{
  assert(b);
  if (ch >= SIM_ADC_CHANNELS)
    return FARM_EINVAL;
  b->adc_mv[ch] = mv;
  return 0;
}

int sim_board_adc_fail(struct hal_port *b, uint8_t ch, int err)
{
  assert(b && err <= 0);
  if (ch >= SIM_ADC_CHANNELS)
    return FARM_EINVAL;
  b->adc_err[ch] = err;
  return 0;
}

bool sim_board_gpio(const struct hal_port *b, uint8_t out)
{
  assert(b && out < SIM_GPIO_OUTPUTS);
  return b->gpio[out];
}

int sim_board_gpio_fail(struct hal_port *b, uint8_t out, int err)
{
  assert(b && err <= 0);
  if (out >= SIM_GPIO_OUTPUTS)
    return FARM_EINVAL;
  b->gpio_err[out] = err;
  return 0;
}

uint32_t sim_board_gpio_writes(const struct hal_port *b, uint8_t out)
{
  assert(b && out < SIM_GPIO_OUTPUTS);
  return b->gpio_writes[out];
}

int sim_board_i2c_attach(struct hal_port *b, struct sim_i2c_dev *dev)
{
  assert(b && dev && dev->transfer);
  int free_slot = -1;
  for (int i = 0; i < SIM_I2C_DEVICES; i++) {
    if (b->i2c[i] && b->i2c[i]->addr == dev->addr)
      return FARM_EEXIST;
    if (!b->i2c[i] && free_slot < 0)
      free_slot = i;
  }
  if (free_slot < 0)
    return FARM_ENOSPC;
  b->i2c[free_slot] = dev;
  return 0;
}

uint32_t sim_board_i2c_transfers(const struct hal_port *b)
{
  assert(b);
  return b->i2c_transfers;
}

void sim_board_nvs_fail_next(struct hal_port *b, int err)
{
  assert(b && err < 0);
  b->nvs_fail = err;
}

uint32_t sim_board_nvs_commits(const struct hal_port *b)
{
  assert(b);
  return b->nvs_commits;
}

const char *sim_board_nvs_path(const struct hal_port *b)
{
  assert(b);
  return b->nvs_path;
}

void sim_serial_set_connected(struct hal_port *b, bool connected)
{
  assert(b);
  if (!connected) {
    pipe_clear(&b->to_host);
    pipe_clear(&b->from_host);
  }
  b->serial_connected = connected;
}

bool sim_serial_is_connected(const struct hal_port *b)
{
  assert(b);
  return b->serial_connected;
}

int sim_serial_host_write(struct hal_port *b, const void *data, size_t len, size_t *written)
{
  assert(b && written && (data || len == 0));
  *written = 0;
  if (!b->serial_connected)
    return FARM_ECLOSED;
  *written = pipe_push(&b->from_host, data, len);
  return 0;
}

int sim_serial_host_read(struct hal_port *b, void *buf, size_t cap, size_t *got)
{
  assert(b && got && (buf || cap == 0));
  *got = 0;
  if (!b->serial_connected)
    return FARM_ECLOSED;
  *got = pipe_pop(&b->to_host, buf, cap);
  return 0;
}

/* ---- hal_* ---------------------------------------------------------------- */

uint64_t hal_clock_ms(struct hal_port *p)
{
  assert(p);
  return sim_clock_now(p->clock) - p->boot_ms;
}

int hal_wall_clock_get(struct hal_port *p, uint64_t *unix_ms)
{
  assert(p && unix_ms);
  if (!p->wall_set)
    return FARM_ENOENT;
  *unix_ms = p->wall_base_unix_ms + (sim_clock_now(p->clock) - p->wall_base_ms);
  return 0;
}

int hal_wall_clock_set(struct hal_port *p, uint64_t unix_ms)
{
  assert(p);
  if (unix_ms == 0 || unix_ms > WALL_MAX_UNIX_MS)
    return FARM_EINVAL;
  p->wall_set = true;
  p->wall_base_unix_ms = unix_ms;
  p->wall_base_ms = sim_clock_now(p->clock);
  return 0;
}

int hal_serial_write(struct hal_port *p, const void *data, size_t len, size_t *written)
{
  assert(p && written && (data || len == 0));
  *written = 0;
  if (!p->serial_connected)
    return FARM_ECLOSED;
  *written = pipe_push(&p->to_host, data, len);
  return 0;
}

int hal_serial_read(struct hal_port *p, void *buf, size_t cap, size_t *got)
{
  assert(p && got && (buf || cap == 0));
  *got = 0;
  if (!p->serial_connected)
    return FARM_ECLOSED;
  *got = pipe_pop(&p->from_host, buf, cap);
  return 0;
}

bool hal_serial_connected(struct hal_port *p)
{
  assert(p);
  return p->serial_connected;
}

int hal_i2c_transfer(struct hal_port *p, uint8_t addr, const void *wbuf, size_t wlen, void *rbuf,
                     size_t rlen, uint32_t timeout_ms)
{
  assert(p && (wbuf || wlen == 0) && (rbuf || rlen == 0));
  if (addr > 0x7f || (wlen == 0 && rlen == 0) || timeout_ms == 0)
    return FARM_EINVAL;
  p->i2c_transfers++;
  for (int i = 0; i < SIM_I2C_DEVICES; i++) {
    struct sim_i2c_dev *dev = p->i2c[i];
    if (dev && dev->addr == addr)
      return dev->transfer(dev, sim_clock_now(p->clock), wbuf, wlen, rbuf, rlen);
  }
  /* Nobody drives the acknowledge bit of the address byte. */
  return FARM_EIO;
}

int hal_adc_read_mv(struct hal_port *p, uint8_t ch, uint32_t *mv)
{
  assert(p && mv);
  if (ch >= SIM_ADC_CHANNELS)
    return FARM_EINVAL;
  if (p->adc_err[ch])
    return p->adc_err[ch];
  *mv = p->adc_mv[ch];
  return 0;
}

int hal_gpio_write(struct hal_port *p, uint8_t out, bool level)
{
  assert(p);
  if (out >= SIM_GPIO_OUTPUTS)
    return FARM_EINVAL;
  if (p->gpio_err[out])
    return p->gpio_err[out];
  p->gpio[out] = level;
  p->gpio_writes[out]++;
  return 0;
}

void hal_random(struct hal_port *p, void *buf, size_t len)
{
  assert(p && (buf || len == 0));
  uint8_t *out = buf;
  while (len > 0) {
    uint64_t v = sim__rng_next(&p->rng);
    for (int i = 0; i < 8 && len > 0; i++, len--) {
      *out++ = (uint8_t)v;
      v >>= 8;
    }
  }
}

void hal_reboot(struct hal_port *p)
{
  assert(p);
  hal_log(p, HAL_LOG_INFO, "reboot requested");
  p->reboot_pending = true;
}

void hal_log(struct hal_port *p, enum hal_log_level level, const char *fmt, ...)
{
  assert(p && fmt);
  if (level > p->cfg.log_level)
    return;
  char line[SIM_LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (p->cfg.log) {
    p->cfg.log(p->cfg.log_ctx, p->mac, level, line);
    return;
  }
  static const char letter[] = {'E', 'W', 'I', 'D'};
  const uint8_t *m = p->mac;
  fprintf(stderr, "[%02x%02x%02x%02x%02x%02x] %c %s\n", m[0], m[1], m[2], m[3], m[4], m[5],
          (unsigned)level < sizeof letter ? letter[level] : '?', line);
}
