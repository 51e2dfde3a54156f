/* SPDX-License-Identifier: MIT */
/*
 * The fake board of fake_hal.h: every hal_* function over plain memory,
 * for the node core's unit tests.
 */
#include "fake_hal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"

#define SHT41_ADDR 0x44
/* High-repeatability measurement: 8.3 ms at most (SHT4x datasheet timing
 * table); reading earlier is NACKed by the chip. */
#define SHT41_BUSY_US 8300

void fake_init(struct hal_port *p)
{
  memset(p, 0, sizeof *p);
  p->now_ms = 1000;
  static const uint8_t mac[HAL_MAC_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x11};
  memcpy(p->mac, mac, HAL_MAC_LEN);
  p->channel = 1;
  p->sht41 = FAKE_SHT41_OK;
  p->sht41_measured_at = UINT64_MAX;
  fake_sht41_set(p, 21.5, 55.0);
  p->rng = 12345;
}

void fake_reboot_keep_nvs(struct hal_port *p)
{
  p->n_sent = 0;
  p->n_peers = 0;
  p->channel = 1;
  p->wall_set = false;
  p->sht41_measured_at = UINT64_MAX;
  p->send_rc = 0;
}

void fake_sht41_set(struct hal_port *p, double t_c, double rh_pct)
{
  /* Inverse of T = -45 + 175 S/65535 and RH = -6 + 125 S/65535. */
  p->sht41_raw_t = (uint16_t)((t_c + 45.0) * 65535.0 / 175.0 + 0.5);
  p->sht41_raw_rh = (uint16_t)((rh_pct + 6.0) * 65535.0 / 125.0 + 0.5);
}

uint8_t fake_crc8(const uint8_t *d, size_t n)
{
  uint8_t crc = 0xff;
  for (size_t i = 0; i < n; i++) {
    crc ^= d[i];
    for (int b = 0; b < 8; b++)
      crc = (uint8_t)(crc & 0x80 ? (crc << 1) ^ 0x31 : crc << 1);
  }
  return crc;
}

uint64_t hal_clock_ms(struct hal_port *p)
{
  return p->now_ms;
}

int hal_wall_clock_get(struct hal_port *p, uint64_t *unix_ms)
{
  if (!p->wall_set)
    return FARM_ENOENT;
  *unix_ms = p->wall_base_unix_ms + (p->now_ms - p->wall_base_ms);
  return 0;
}

int hal_wall_clock_set(struct hal_port *p, uint64_t unix_ms)
{
  p->wall_set = true;
  p->wall_base_unix_ms = unix_ms;
  p->wall_base_ms = p->now_ms;
  return 0;
}

void hal_radio_mac(struct hal_port *p, uint8_t mac[HAL_MAC_LEN])
{
  memcpy(mac, p->mac, HAL_MAC_LEN);
}

static bool is_broadcast(const uint8_t *mac)
{
  for (int i = 0; i < HAL_MAC_LEN; i++) {
    if (mac[i] != 0xff)
      return false;
  }
  return true;
}

static int peer_index(struct hal_port *p, const uint8_t *mac)
{
  for (unsigned i = 0; i < p->n_peers; i++) {
    if (memcmp(p->peers[i], mac, HAL_MAC_LEN) == 0)
      return (int)i;
  }
  return -1;
}

int hal_radio_send(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], const void *data, size_t len)
{
  if (len == 0 || len > HAL_RADIO_MTU)
    return FARM_EINVAL;
  if (!is_broadcast(mac) && peer_index(p, mac) < 0)
    return FARM_EINVAL;
  if (p->send_rc != 0)
    return p->send_rc;
  if (p->n_sent == FAKE_MAX_SENT)
    return FARM_EBUSY;
  struct fake_frame *f = &p->sent[p->n_sent++];
  memcpy(f->mac, mac, HAL_MAC_LEN);
  memcpy(f->data, data, len);
  f->len = len;
  f->channel = p->channel;
  return 0;
}

int hal_radio_add_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], bool encrypt)
{
  int i = peer_index(p, mac);
  if (i >= 0) {
    p->peer_enc[i] = encrypt; /* hal.h: a listed peer's encryption changes */
    return 0;
  }
  if (p->n_peers == HAL_RADIO_HW_PEERS)
    return FARM_ENOSPC;
  p->peer_enc[p->n_peers] = encrypt;
  memcpy(p->peers[p->n_peers++], mac, HAL_MAC_LEN);
  return 0;
}

int hal_radio_del_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  int i = peer_index(p, mac);
  if (i < 0)
    return FARM_ENOENT;
  unsigned rest = p->n_peers - (unsigned)i - 1;
  memmove(p->peers[i], p->peers[i + 1], rest * HAL_MAC_LEN);
  memmove(&p->peer_enc[i], &p->peer_enc[i + 1], rest * sizeof p->peer_enc[0]);
  p->n_peers--;
  return 0;
}

int hal_radio_set_channel(struct hal_port *p, uint8_t channel)
{
  if (channel < 1 || channel > 14)
    return FARM_EINVAL;
  p->channel = channel;
  return 0;
}

int hal_serial_write(struct hal_port *p, const void *data, size_t len, size_t *written)
{
  (void)p, (void)data, (void)len;
  *written = 0;
  return FARM_ECLOSED;
}

int hal_serial_read(struct hal_port *p, void *buf, size_t cap, size_t *got)
{
  (void)p, (void)buf, (void)cap;
  *got = 0;
  return FARM_ECLOSED;
}

bool hal_serial_connected(struct hal_port *p)
{
  (void)p;
  return false;
}

static struct fake_nvs_entry *nvs_find(struct hal_port *p, const char *key)
{
  for (unsigned i = 0; i < p->n_nvs; i++) {
    if (strcmp(p->nvs[i].key, key) == 0)
      return &p->nvs[i];
  }
  return NULL;
}

static int nvs_slot(struct hal_port *p, const char *key, struct fake_nvs_entry **out)
{
  size_t n = strlen(key);
  if (n == 0 || n > HAL_NVS_KEY_MAX)
    return FARM_EINVAL;
  struct fake_nvs_entry *e = nvs_find(p, key);
  if (e == NULL) {
    if (p->n_nvs == FAKE_NVS_MAX)
      return FARM_ENOSPC;
    e = &p->nvs[p->n_nvs++];
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, n + 1);
  }
  *out = e;
  return 0;
}

bool fake_nvs_u32(struct hal_port *p, const char *key, uint32_t *out)
{
  return hal_nvs_get_u32(p, key, out) == 0;
}

int hal_nvs_get_u32(struct hal_port *p, const char *key, uint32_t *out)
{
  struct fake_nvs_entry *e = nvs_find(p, key);
  if (e == NULL)
    return FARM_ENOENT;
  if (e->blob)
    return FARM_ETYPE;
  *out = e->u32;
  return 0;
}

int hal_nvs_set_u32(struct hal_port *p, const char *key, uint32_t value)
{
  struct fake_nvs_entry *e;
  int rc = nvs_slot(p, key, &e);
  if (rc != 0)
    return rc;
  e->blob = false;
  e->u32 = value;
  return 0;
}

int hal_nvs_get_blob(struct hal_port *p, const char *key, void *buf, size_t cap, size_t *len)
{
  struct fake_nvs_entry *e = nvs_find(p, key);
  if (e == NULL)
    return FARM_ENOENT;
  if (!e->blob)
    return FARM_ETYPE;
  *len = e->len;
  if (cap < e->len)
    return FARM_ENOSPC;
  memcpy(buf, e->data, e->len);
  return 0;
}

int hal_nvs_set_blob(struct hal_port *p, const char *key, const void *data, size_t len)
{
  if (len > sizeof p->nvs[0].data)
    return FARM_ENOSPC;
  struct fake_nvs_entry *e;
  int rc = nvs_slot(p, key, &e);
  if (rc != 0)
    return rc;
  e->blob = true;
  memcpy(e->data, data, len);
  e->len = len;
  return 0;
}

int hal_nvs_erase(struct hal_port *p, const char *key)
{
  struct fake_nvs_entry *e = nvs_find(p, key);
  if (e == NULL)
    return FARM_ENOENT;
  *e = p->nvs[--p->n_nvs];
  return 0;
}

int hal_nvs_commit(struct hal_port *p)
{
  if (p->fail_commit)
    return FARM_EIO;
  p->commits++;
  return 0;
}

int hal_i2c_transfer(struct hal_port *p, uint8_t addr, const void *wbuf, size_t wlen, void *rbuf,
                     size_t rlen, uint32_t timeout_ms)
{
  (void)timeout_ms;
  if (addr != SHT41_ADDR || p->sht41 == FAKE_SHT41_NACK)
    return FARM_EIO;
  const uint8_t *w = wbuf;
  if (wlen == 1 && rlen == 0 && w[0] == 0xfd) {
    p->sht41_measured_at = p->now_ms;
    p->sht41_measurements++;
    return 0;
  }
  if (wlen == 0 && rlen == 6) {
    if (p->sht41_measured_at == UINT64_MAX ||
        (p->now_ms - p->sht41_measured_at) * 1000 < SHT41_BUSY_US)
      return FARM_EIO; /* nothing measured yet: the chip NACKs its address */
    uint8_t *r = rbuf;
    r[0] = (uint8_t)(p->sht41_raw_t >> 8);
    r[1] = (uint8_t)p->sht41_raw_t;
    r[2] = fake_crc8(r, 2);
    r[3] = (uint8_t)(p->sht41_raw_rh >> 8);
    r[4] = (uint8_t)p->sht41_raw_rh;
    r[5] = fake_crc8(r + 3, 2);
    if (p->sht41 == FAKE_SHT41_BADCRC)
      r[5] ^= 0x01;
    p->sht41_measured_at = UINT64_MAX;
    return 0;
  }
  return FARM_EIO;
}

int hal_adc_read_mv(struct hal_port *p, uint8_t ch, uint32_t *mv)
{
  if (ch >= FAKE_ADC_MAX)
    return FARM_EINVAL;
  if (p->adc_rc != 0)
    return p->adc_rc;
  *mv = p->adc_mv[ch];
  return 0;
}

int hal_gpio_write(struct hal_port *p, uint8_t out, bool level)
{
  if (out >= FAKE_GPIO_MAX)
    return FARM_EINVAL;
  p->gpio[out] = level;
  p->gpio_writes[out]++;
  return 0;
}

void hal_random(struct hal_port *p, void *buf, size_t len)
{
  uint8_t *b = buf;
  for (size_t i = 0; i < len; i++) {
    p->rng = p->rng * 1103515245u + 12345u;
    b[i] = (uint8_t)(p->rng >> 16);
  }
}

void hal_reboot(struct hal_port *p)
{
  p->reboots++;
}

void hal_log(struct hal_port *p, enum hal_log_level level, const char *fmt, ...)
{
  if (!p->verbose)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[%llu] %d ", (unsigned long long)p->now_ms, (int)level);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
