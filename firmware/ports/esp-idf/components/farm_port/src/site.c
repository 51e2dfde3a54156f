/* SPDX-License-Identifier: MIT */
/*
 * The site-wide settings of the "IoTferme: site and radio" menu
 * (Kconfig.projbuild of this component), which a gateway and its nodes
 * must share: the site name, the Wi-Fi channel and the ESP-NOW keys.
 */
#include <string.h>

#include "esp_log.h"
#include "sdkconfig.h"

#include "farm/error.h"
#include "internal.h"

/* The defaults of Kconfig.projbuild: examples, never a site's keys. */
#define EXAMPLE_PMK "000102030405060708090a0b0c0d0e0f"
#define EXAMPLE_LMK "f0e0d0c0b0a090807060504030201000"

/* A site name as in the MQTT topics (DESIGN §6, BAD-INPUTS 14). */
static bool site_valid(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > 32)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

int farm_port_site_config(struct farm_port_config *cfg)
{
  const char *tag = cfg->tag != NULL ? cfg->tag : "farm";
  if (!site_valid(CONFIG_FARM_SITE)) {
    ESP_LOGE(tag, "site name \"%s\" is not 1..32 characters of [a-z0-9_-]", CONFIG_FARM_SITE);
    return FARM_EINVAL;
  }
  if (farm_port_parse_key(CONFIG_FARM_ESPNOW_PMK, cfg->pmk) != 0 ||
      farm_port_parse_key(CONFIG_FARM_ESPNOW_LMK, cfg->lmk) != 0) {
    ESP_LOGE(tag, "ESP-NOW keys must be 32 hexadecimal digits each");
    return FARM_EINVAL;
  }
  cfg->channel = CONFIG_FARM_CHANNEL;
  cfg->radio_queue_len = CONFIG_FARM_RADIO_QUEUE_LEN;
  ESP_LOGI(tag, "site %s, channel %d, ESP-NOW encryption %s", CONFIG_FARM_SITE, CONFIG_FARM_CHANNEL,
           farm_port_encrypt() ? "on" : "off");
  if (strcmp(CONFIG_FARM_ESPNOW_PMK, EXAMPLE_PMK) == 0 ||
      strcmp(CONFIG_FARM_ESPNOW_LMK, EXAMPLE_LMK) == 0)
    ESP_LOGW(tag, "the ESP-NOW keys are the examples of Kconfig: set the site's own");
  return 0;
}

bool farm_port_encrypt(void)
{
#ifdef CONFIG_FARM_ESPNOW_ENCRYPT
  return true;
#else
  return false;
#endif
}
