/* SPDX-License-Identifier: MIT */
/*
 * Non-volatile storage of the ESP-IDF port: the HAL's typed values in the
 * "farm" namespace of the default NVS partition (nvs_flash), with
 * esp_err_t translated to FARM_E* here. ESP-IDF's NVS writes each set to
 * flash at once and nvs_commit only finishes pending work, so a staged
 * value is visible to gets as hal.h asks, and durable after the commit.
 */
#include <string.h>

#include "esp_log.h"
#include "nvs_flash.h"

#include "farm/error.h"
#include "internal.h"

#define NAMESPACE "farm"

_Static_assert(HAL_NVS_KEY_MAX == NVS_KEY_NAME_MAX_SIZE - 1, "NVS key length (nvs.h)");

int farm_port__nvs_open(struct hal_port *p)
{
  esp_err_t e = nvs_flash_init();
  if (e == ESP_ERR_NVS_NO_FREE_PAGES || e == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    /* ESP-IDF's usual answer is to erase the partition. Not here: it
     * holds the boot counter, and a node that counts from 1 again repeats
     * (boot, seq) pairs the edge and the cloud have already stored, which
     * they would drop as duplicates. Someone must decide (README). */
    ESP_LOGE(p->tag, "nvs: partition unusable (%s); not erased, see the README",
             esp_err_to_name(e));
    return FARM_EIO;
  }
  if (e != ESP_OK) {
    ESP_LOGE(p->tag, "nvs: nvs_flash_init: %s", esp_err_to_name(e));
    return FARM_EIO;
  }
  e = nvs_open(NAMESPACE, NVS_READWRITE, &p->nvs);
  if (e != ESP_OK) {
    ESP_LOGE(p->tag, "nvs: nvs_open: %s", esp_err_to_name(e));
    return FARM_EIO;
  }
  p->nvs_open = true;
  return 0;
}

static bool key_valid(const char *key)
{
  if (key == NULL)
    return false;
  size_t n = 0;
  while (n <= HAL_NVS_KEY_MAX && key[n] != '\0')
    n++;
  return n >= 1 && n <= HAL_NVS_KEY_MAX;
}

static int get_error(esp_err_t e)
{
  switch (e) {
  case ESP_OK:
    return 0;
  case ESP_ERR_NVS_NOT_FOUND:
    return FARM_ENOENT;
  case ESP_ERR_NVS_TYPE_MISMATCH:
    return FARM_ETYPE;
  case ESP_ERR_NVS_INVALID_NAME:
  case ESP_ERR_NVS_KEY_TOO_LONG:
    return FARM_EINVAL;
  default:
    return FARM_EIO;
  }
}

static int set_error(esp_err_t e)
{
  switch (e) {
  case ESP_OK:
    return 0;
  case ESP_ERR_NVS_INVALID_NAME:
  case ESP_ERR_NVS_KEY_TOO_LONG:
    return FARM_EINVAL;
  case ESP_ERR_NVS_NOT_ENOUGH_SPACE:
  case ESP_ERR_NVS_VALUE_TOO_LONG:
    return FARM_ENOSPC;
  default:
    return FARM_EIO;
  }
}

int hal_nvs_get_u32(struct hal_port *p, const char *key, uint32_t *out)
{
  if (!key_valid(key))
    return FARM_EINVAL;
  if (!p->nvs_open)
    return FARM_EIO;
  return get_error(nvs_get_u32(p->nvs, key, out));
}

int hal_nvs_set_u32(struct hal_port *p, const char *key, uint32_t value)
{
  if (!key_valid(key))
    return FARM_EINVAL;
  if (!p->nvs_open)
    return FARM_EIO;
  return set_error(nvs_set_u32(p->nvs, key, value));
}

int hal_nvs_get_blob(struct hal_port *p, const char *key, void *buf, size_t cap, size_t *len)
{
  if (!key_valid(key) || len == NULL)
    return FARM_EINVAL;
  if (!p->nvs_open)
    return FARM_EIO;
  size_t n = cap;
  if (buf == NULL || cap == 0) {
    /* A NULL buffer asks ESP-IDF for the size only (nvs.h, nvs_get_blob). */
    esp_err_t e = nvs_get_blob(p->nvs, key, NULL, &n);
    if (e != ESP_OK)
      return get_error(e);
    *len = n;
    return n == 0 ? 0 : FARM_ENOSPC;
  }
  esp_err_t e = nvs_get_blob(p->nvs, key, buf, &n);
  if (e == ESP_ERR_NVS_INVALID_LENGTH) {
    /* The buffer is too small; ESP-IDF stored the size needed in n
     * (nvs_get_str_or_blob in nvs_api.cpp). */
    *len = n;
    return FARM_ENOSPC;
  }
  if (e != ESP_OK)
    return get_error(e);
  *len = n;
  return 0;
}

int hal_nvs_set_blob(struct hal_port *p, const char *key, const void *data, size_t len)
{
  if (!key_valid(key) || (data == NULL && len > 0))
    return FARM_EINVAL;
  if (!p->nvs_open)
    return FARM_EIO;
  return set_error(nvs_set_blob(p->nvs, key, data, len));
}

int hal_nvs_erase(struct hal_port *p, const char *key)
{
  if (!key_valid(key))
    return FARM_ENOENT;
  if (!p->nvs_open)
    return FARM_EIO;
  esp_err_t e = nvs_erase_key(p->nvs, key);
  if (e == ESP_OK)
    return 0;
  return e == ESP_ERR_NVS_NOT_FOUND ? FARM_ENOENT : FARM_EIO;
}

int hal_nvs_commit(struct hal_port *p)
{
  if (!p->nvs_open)
    return FARM_EIO;
  return nvs_commit(p->nvs) == ESP_OK ? 0 : FARM_EIO;
}
