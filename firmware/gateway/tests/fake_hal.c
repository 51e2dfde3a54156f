/* SPDX-License-Identifier: MIT */
/*
 * The fake HAL of the gateway tests (fake_hal.h): every hal_* function of
 * the contract, over plain memory, with the contract's errors where the
 * gateway can meet them.
 */
#include "fake_hal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"

void fake_init(struct hal_port *p)
{
  static const uint8_t mac[HAL_MAC_LEN] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01};
  memset(p, 0, sizeof *p);
  memcpy(p->mac, mac, HAL_MAC_LEN);
  p->now_ms = 1000;
  p->boot_ms = 0;
  p->channel = 1;
  p->connected = true;
}

void fake_restart(struct hal_port *p)
{
  p->boot_ms = p->now_ms;
  p->wall_set = false;
  p->nhw = 0;
  p->nvs = p->committed;
  p->from_len = p->from_off = 0;
}

void fake_advance(struct hal_port *p, uint64_t ms)
{
  p->now_ms += ms;
}

void fake_host_write(struct hal_port *p, const void *data, size_t len)
{
  if (p->from_off == p->from_len)
    p->from_off = p->from_len = 0;
  assert(p->from_len + len <= sizeof p->from_host);
  memcpy(p->from_host + p->from_len, data, len);
  p->from_len += len;
}

static int hw_find(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  for (size_t i = 0; i < p->nhw; i++) {
    if (memcmp(p->hw[i], mac, HAL_MAC_LEN) == 0)
      return (int)i;
  }
  return -1;
}

bool fake_hw_has(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  return hw_find(p, mac) >= 0;
}

bool fake_hw_encrypted(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  int i = hw_find(p, mac);
  return i >= 0 && p->hw_enc[i];
}

size_t fake_hw_encrypted_count(const struct hal_port *p)
{
  size_t n = 0;
  for (size_t i = 0; i < p->nhw; i++)
    n += p->hw_enc[i];
  return n;
}

uint64_t hal_clock_ms(struct hal_port *p)
{
  return p->now_ms - p->boot_ms;
}

int hal_wall_clock_get(struct hal_port *p, uint64_t *unix_ms)
{
  if (!p->wall_set)
    return FARM_ENOENT;
  *unix_ms = p->wall_unix_ms + (p->now_ms - p->wall_at_ms);
  return 0;
}

int hal_wall_clock_set(struct hal_port *p, uint64_t unix_ms)
{
  if (p->wall_set_rc != 0)
    return p->wall_set_rc;
  p->wall_set = true;
  p->wall_unix_ms = unix_ms;
  p->wall_at_ms = p->now_ms;
  return 0;
}

void hal_radio_mac(struct hal_port *p, uint8_t mac[HAL_MAC_LEN])
{
  memcpy(mac, p->mac, HAL_MAC_LEN);
}

int hal_radio_send(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], const void *data,
                   size_t len)
{
  static const uint8_t bcast[HAL_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  if (len == 0 || len > HAL_RADIO_MTU)
    return FARM_EINVAL;
  if (memcmp(mac, bcast, HAL_MAC_LEN) != 0 && !fake_hw_has(p, mac))
    return FARM_EINVAL; /* hal.h: a unicast destination must be a hardware peer */
  if (p->send_rc != 0)
    return p->send_rc;
  assert(p->nsent < FAKE_SENDS);
  struct fake_send *s = &p->sent[p->nsent++];
  memcpy(s->mac, mac, HAL_MAC_LEN);
  s->len = len;
  memcpy(s->data, data, len);
  return 0;
}

int hal_radio_add_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], bool encrypt)
{
  int i = hw_find(p, mac);
  if (i >= 0 && p->hw_enc[i] == encrypt)
    return 0;
  if (encrypt && fake_hw_encrypted_count(p) == HAL_RADIO_HW_PEERS_ENCRYPTED)
    return FARM_ENOSPC;
  if (i >= 0) {
    /* hal.h: adding a listed peer changes its encryption. */
    p->hw_enc[i] = encrypt;
    p->mods++;
    return 0;
  }
  if (p->nhw == HAL_RADIO_HW_PEERS)
    return FARM_ENOSPC;
  p->hw_enc[p->nhw] = encrypt;
  memcpy(p->hw[p->nhw++], mac, HAL_MAC_LEN);
  if (p->nhw > p->nhw_max)
    p->nhw_max = p->nhw;
  p->adds++;
  return 0;
}

int hal_radio_del_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  int i = hw_find(p, mac);
  if (i < 0)
    return FARM_ENOENT;
  size_t rest = p->nhw - (size_t)i - 1;
  memmove(p->hw[i], p->hw[i + 1], rest * HAL_MAC_LEN);
  memmove(&p->hw_enc[i], &p->hw_enc[i + 1], rest * sizeof p->hw_enc[0]);
  p->nhw--;
  p->dels++;
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
  *written = 0;
  if (!p->connected)
    return FARM_ECLOSED;
  if (p->write_blocked)
    return 0;
  size_t n = len;
  if (p->write_limit != 0 && n > p->write_limit)
    n = p->write_limit;
  if (p->budget_on) {
    if (n > p->write_budget)
      n = p->write_budget;
    p->write_budget -= n;
  }
  assert(p->to_host_len + n <= sizeof p->to_host);
  memcpy(p->to_host + p->to_host_len, data, n);
  p->to_host_len += n;
  *written = n;
  return 0;
}

int hal_serial_read(struct hal_port *p, void *buf, size_t cap, size_t *got)
{
  *got = 0;
  if (!p->connected)
    return FARM_ECLOSED;
  size_t n = p->from_len - p->from_off;
  if (n > cap)
    n = cap;
  memcpy(buf, p->from_host + p->from_off, n);
  p->from_off += n;
  *got = n;
  return 0;
}

bool hal_serial_connected(struct hal_port *p)
{
  return p->connected;
}

static struct fake_nvs_entry *nvs_find(struct fake_nvs *n, const char *key)
{
  for (size_t i = 0; i < FAKE_NVS_ENTRIES; i++) {
    if (n->e[i].used && strcmp(n->e[i].key, key) == 0)
      return &n->e[i];
  }
  return NULL;
}

static bool key_ok(const char *key)
{
  size_t n = strlen(key);
  return n >= 1 && n <= HAL_NVS_KEY_MAX;
}

static int nvs_set(struct hal_port *p, const char *key, bool blob, const void *data, size_t len)
{
  if (!key_ok(key) || len > FAKE_NVS_VALUE)
    return FARM_EINVAL;
  if (p->nvs_fail != 0)
    return p->nvs_fail;
  struct fake_nvs_entry *e = nvs_find(&p->nvs, key);
  for (size_t i = 0; e == NULL && i < FAKE_NVS_ENTRIES; i++) {
    if (!p->nvs.e[i].used)
      e = &p->nvs.e[i];
  }
  if (e == NULL)
    return FARM_ENOSPC;
  e->used = true;
  e->blob = blob;
  strcpy(e->key, key);
  e->len = len;
  memcpy(e->data, data, len);
  return 0;
}

int hal_nvs_get_u32(struct hal_port *p, const char *key, uint32_t *out)
{
  struct fake_nvs_entry *e = nvs_find(&p->nvs, key);
  if (e == NULL)
    return FARM_ENOENT;
  if (e->blob)
    return FARM_ETYPE;
  memcpy(out, e->data, sizeof *out);
  return 0;
}

int hal_nvs_set_u32(struct hal_port *p, const char *key, uint32_t value)
{
  return nvs_set(p, key, false, &value, sizeof value);
}

int hal_nvs_get_blob(struct hal_port *p, const char *key, void *buf, size_t cap, size_t *len)
{
  struct fake_nvs_entry *e = nvs_find(&p->nvs, key);
  if (e == NULL)
    return FARM_ENOENT;
  if (!e->blob)
    return FARM_ETYPE;
  *len = e->len;
  if (e->len > cap)
    return FARM_ENOSPC;
  memcpy(buf, e->data, e->len);
  return 0;
}

int hal_nvs_set_blob(struct hal_port *p, const char *key, const void *data, size_t len)
{
  return nvs_set(p, key, true, data, len);
}

int hal_nvs_erase(struct hal_port *p, const char *key)
{
  if (p->nvs_fail != 0)
    return p->nvs_fail;
  struct fake_nvs_entry *e = nvs_find(&p->nvs, key);
  if (e == NULL)
    return FARM_ENOENT;
  e->used = false;
  return 0;
}

int hal_nvs_commit(struct hal_port *p)
{
  if (p->nvs_fail != 0)
    return p->nvs_fail;
  p->committed = p->nvs;
  p->commits++;
  return 0;
}

int hal_i2c_transfer(struct hal_port *p, uint8_t addr, const void *wbuf, size_t wlen,
                     void *rbuf, size_t rlen, uint32_t timeout_ms)
{
  (void)p, (void)addr, (void)wbuf, (void)wlen, (void)rbuf, (void)rlen, (void)timeout_ms;
  return FARM_EIO;
}

int hal_adc_read_mv(struct hal_port *p, uint8_t ch, uint32_t *mv)
{
  (void)p, (void)ch, (void)mv;
  return FARM_EINVAL;
}

int hal_gpio_write(struct hal_port *p, uint8_t out, bool level)
{
  (void)p, (void)out, (void)level;
  return FARM_EINVAL;
}

void hal_random(struct hal_port *p, void *buf, size_t len)
{
  (void)p;
  memset(buf, 0x5a, len);
}

void hal_reboot(struct hal_port *p)
{
  p->reboots++;
}

void hal_log(struct hal_port *p, enum hal_log_level level, const char *fmt, ...)
{
  p->logs++;
  if (p->quiet || level > HAL_LOG_WARN)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "[gw %c] ", "EWID"[level]);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
