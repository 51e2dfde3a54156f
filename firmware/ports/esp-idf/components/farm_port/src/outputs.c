/* SPDX-License-Identifier: MIT */
/*
 * The outputs of the ESP-IDF port (relays, indicator LEDs): either GPIOs,
 * or the eight outputs of one 74HC595 shift register driven by three GPIOs
 * (the T-RelayS3 drives its six relays and two LEDs that way). Each output
 * starts at the board's initial level before a core runs; whether high
 * means "on" is the relay driver's business (hal.h).
 */
#include "driver/gpio.h"
#include "esp_log.h"
#include "esp_rom_sys.h" /* esp_rom_delay_us */

#include "farm/error.h"
#include "internal.h"

static int configure_output(struct hal_port *p, int pin, uint32_t level)
{
  /* Level first, direction second: the pin never shows the other level. */
  esp_err_t e = gpio_set_level((gpio_num_t)pin, level);
  if (e == ESP_OK) {
    gpio_config_t io = {
        .pin_bit_mask = 1ull << pin,
        .mode = GPIO_MODE_OUTPUT,
        .pull_up_en = GPIO_PULLUP_DISABLE,
        .pull_down_en = GPIO_PULLDOWN_DISABLE,
        .intr_type = GPIO_INTR_DISABLE,
    };
    e = gpio_config(&io);
  }
  if (e != ESP_OK) {
    ESP_LOGE(p->tag, "outputs: GPIO%d: %s", pin, esp_err_to_name(e));
    return FARM_EIO;
  }
  return 0;
}

/*
 * Shifts the register's eight outputs out, Q7 first, and latches them.
 * 74HC595 datasheet (Nexperia, functional description and dynamic
 * characteristics): data is sampled on the rising edge of SHCP (clock) and
 * moved to the outputs on the rising edge of STCP (latch); pulse widths
 * and set-up times are tens of ns at 3.3 V, so 1 µs steps are ample and
 * an update takes about 20 µs.
 */
static void hc595_write(const struct farm_port_config *cfg, uint8_t bits)
{
  for (int i = 7; i >= 0; i--) {
    gpio_set_level((gpio_num_t)cfg->hc595_data, (bits >> i) & 1u);
    esp_rom_delay_us(1);
    gpio_set_level((gpio_num_t)cfg->hc595_clock, 1);
    esp_rom_delay_us(1);
    gpio_set_level((gpio_num_t)cfg->hc595_clock, 0);
  }
  gpio_set_level((gpio_num_t)cfg->hc595_latch, 1);
  esp_rom_delay_us(1);
  gpio_set_level((gpio_num_t)cfg->hc595_latch, 0);
}

int farm_port__outputs_start(struct hal_port *p)
{
  const struct farm_port_config *cfg = p->cfg;
  int rc = 0;
  if (cfg->outputs == FARM_PORT_OUT_GPIO) {
    for (uint8_t i = 0; i < cfg->out_count && rc == 0; i++)
      rc = configure_output(p, cfg->out_gpio[i], (cfg->out_initial >> i) & 1u);
  } else {
    /* The output enable (active low) stays high, outputs floating, until
     * the register holds the initial levels. */
    if (cfg->hc595_oe != FARM_PORT_NO_PIN)
      rc = configure_output(p, cfg->hc595_oe, 1);
    if (rc == 0)
      rc = configure_output(p, cfg->hc595_data, 0);
    if (rc == 0)
      rc = configure_output(p, cfg->hc595_clock, 0);
    if (rc == 0)
      rc = configure_output(p, cfg->hc595_latch, 0);
    if (rc == 0) {
      p->hc595 = cfg->out_initial;
      hc595_write(cfg, p->hc595);
      if (cfg->hc595_oe != FARM_PORT_NO_PIN)
        gpio_set_level((gpio_num_t)cfg->hc595_oe, 0);
    }
  }
  if (rc == 0)
    p->outputs_up = true;
  return rc;
}

int hal_gpio_write(struct hal_port *p, uint8_t out, bool level)
{
  const struct farm_port_config *cfg = p->cfg;
  if (!p->outputs_up || out >= cfg->out_count)
    return FARM_EINVAL;
  if (cfg->outputs == FARM_PORT_OUT_GPIO)
    return gpio_set_level((gpio_num_t)cfg->out_gpio[out], level) == ESP_OK ? 0 : FARM_EINVAL;
  uint8_t bits = level ? (uint8_t)(p->hc595 | 1u << out) : (uint8_t)(p->hc595 & ~(1u << out));
  if (bits != p->hc595) {
    p->hc595 = bits;
    hc595_write(cfg, bits);
  }
  return 0;
}
