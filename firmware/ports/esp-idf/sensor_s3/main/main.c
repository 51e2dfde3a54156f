/* SPDX-License-Identifier: MIT */
/*
 * The sensor/relay node firmware for the LilyGO T-RelayS3 (ESP32-S3): the
 * portable node core (node/node.h) on the ESP-IDF port (farm_port/port.h).
 * app_main describes the board, brings it up, starts the core with the
 * Kconfig settings and becomes the application task that drives it.
 *
 * T-RelayS3 pinout, from LilyGO's LilyGo-T-Relay repository
 * (github.com/Xinyuan-LilyGO/LilyGo-T-Relay):
 *   - I2C SDA GPIO16, SCL GPIO17 (I2C_SDA / I2C_SCL in
 *     examples/T-Relay-ESP32S3/UnitTestExample/UnitTestExample.cpp; the
 *     on-board PCF8563 RTC, address 0x51, shares the bus with the SHT41 at
 *     0x44).
 *   - The six relays and two LEDs are the outputs of one SN74HC595: data
 *     GPIO7, shift clock GPIO5, latch GPIO6 (DATA_PIN / CLOCK_PIN /
 *     LATCH_PIN in the same file; data_pin / clock_pin / latch_pin in
 *     ESPHome/T-Relay-ESP32S3.yaml), output enable GPIO4 on revision 1.1
 *     (HT74HC595_OUT_EN in examples/T-Relay-ESP32S3/HT74HC595/pin_config.h).
 *     Q0-Q5 are relays CH1-CH6, switched on by a high output ("inverted:
 *     false" in the ESPHome file); Q6 is the green LED and Q7 the red one
 *     (docs/RELAY_ESP32S3.MD, "Shift register hardware distribution").
 *     That document's pin table gives DATA 41 / CLOCK 4 / LATCH 5, which
 *     disagrees with LilyGO's own code and ESPHome configuration; the pins
 *     are Kconfig options for that reason.
 *   - GPIO1 and GPIO2 (ADC1 channels 0 and 1) are free on the cascading
 *     connector (rh1rich/esphome-t-relay-s3, README, "Cascading
 *     connector"): the light sensor and the MQ135 divider go there.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_app_desc.h"
#include "esp_log.h"
#include "sdkconfig.h"

#include "farm/error.h"
#include "farm_port/port.h"
#include "node/node.h"

#define TAG "node"

#define RELAY_COUNT   6 /* 74HC595 Q0-Q5 */
#define OUT_GREEN_LED 6 /* Q6: the identify indicator */
#define OUT_COUNT     8
#define I2C_HZ        100000 /* standard mode: long wires to the sensor */

/* The board; the site's radio settings are filled in by
 * farm_port_site_config, the analog inputs from the sensors built in. */
static struct farm_port_config board_cfg = {
    .tag = TAG,
    .serial = false,
    .i2c_sda = CONFIG_FARM_S3_I2C_SDA,
    .i2c_scl = CONFIG_FARM_S3_I2C_SCL,
    .i2c_hz = I2C_HZ,
    .outputs = FARM_PORT_OUT_HC595,
    .out_count = OUT_COUNT,
    .hc595_data = CONFIG_FARM_S3_HC595_DATA,
    .hc595_clock = CONFIG_FARM_S3_HC595_CLOCK,
    .hc595_latch = CONFIG_FARM_S3_HC595_LATCH,
    .hc595_oe = CONFIG_FARM_S3_HC595_OE,
    .out_initial = 0, /* relays off, LEDs off */
};

#if CONFIG_FARM_NODE_LUX
static const struct lux_point lux_curve[] = {
    {.mv = 0, .lux = 0},
    {.mv = CONFIG_FARM_LUX_FULL_MV, .lux = CONFIG_FARM_LUX_FULL_LUX},
};
#endif

static struct node_config node_cfg;
static struct node node;

#if CONFIG_FARM_NODE_RELAYS
/* "1-2,3-4": pairs of relays as numbered on the board. Returns 0 or
 * FARM_EINVAL. */
static int parse_interlocks(const char *s, struct relays_config *r)
{
  r->interlock_count = 0;
  while (*s != '\0') {
    if (r->interlock_count == RELAYS_MAX_INTERLOCKS)
      return FARM_EINVAL;
    if (s[0] < '1' || s[0] > '0' + RELAY_COUNT || s[1] != '-' || s[2] < '1' ||
        s[2] > '0' + RELAY_COUNT || s[0] == s[2])
      return FARM_EINVAL;
    r->interlocks[r->interlock_count].a = (uint8_t)(s[0] - '1');
    r->interlocks[r->interlock_count].b = (uint8_t)(s[2] - '1');
    r->interlock_count++;
    s += 3;
    if (*s == ',' && s[1] != '\0')
      s++;
    else if (*s != '\0')
      return FARM_EINVAL;
  }
  return 0;
}
#endif

/* The node's configuration from Kconfig; the ADC channels follow the
 * order in which board_cfg.adc_gpio is filled. */
static int configure_node(void)
{
  node_config_default(&node_cfg);
  /* PROJECT_VER (git describe by default), at most 31 characters. */
  node_cfg.fw = esp_app_get_description()->version;
  node_cfg.asset = CONFIG_FARM_NODE_ASSET[0] != '\0' ? CONFIG_FARM_NODE_ASSET : NULL;
  node_cfg.period_ms = CONFIG_FARM_NODE_PERIOD_MS;
#if CONFIG_FARM_NODE_SCAN
  node_cfg.channel = 0;
#else
  node_cfg.channel = CONFIG_FARM_CHANNEL;
#endif
  node_cfg.encrypt = farm_port_encrypt();
  node_cfg.silence_periods = CONFIG_FARM_NODE_SILENCE_PERIODS;
  node_cfg.identify_gpio = OUT_GREEN_LED;

  uint8_t built = 0;
#if CONFIG_FARM_NODE_SHT41
  built |= NODE_F_SHT41;
#else
  board_cfg.i2c_sda = FARM_PORT_NO_PIN; /* nothing else on the bus to read */
  board_cfg.i2c_scl = FARM_PORT_NO_PIN;
#endif
#if CONFIG_FARM_NODE_LUX
  built |= NODE_F_LUX;
  node_cfg.lux.adc_ch = board_cfg.adc_count;
  node_cfg.lux.points = lux_curve;
  node_cfg.lux.count = sizeof lux_curve / sizeof lux_curve[0];
  board_cfg.adc_gpio[board_cfg.adc_count++] = CONFIG_FARM_S3_LUX_GPIO;
#endif
#if CONFIG_FARM_NODE_MQ135
  built |= NODE_F_MQ135;
  node_cfg.mq135.adc_ch = board_cfg.adc_count;
  node_cfg.mq135.supply_mv = CONFIG_FARM_MQ135_SUPPLY_MV;
  node_cfg.mq135.rl_ohm = CONFIG_FARM_MQ135_RL_OHM;
  board_cfg.adc_gpio[board_cfg.adc_count++] = CONFIG_FARM_S3_MQ135_GPIO;
#endif
#if CONFIG_FARM_NODE_RELAYS
  built |= NODE_F_RELAYS;
  node_cfg.relays.count = RELAY_COUNT;
  for (uint8_t ch = 0; ch < RELAY_COUNT; ch++)
    node_cfg.relays.gpio[ch] = ch; /* output ch is Q<ch> */
  node_cfg.relays.active_low = 0;
  node_cfg.relays.boot_on = 0;
  node_cfg.relays.safe_on = 0;
  if (parse_interlocks(CONFIG_FARM_NODE_RELAY_INTERLOCKS, &node_cfg.relays) != 0) {
    ESP_LOGE(TAG, "relay interlocks \"%s\" are not pairs like \"1-2,3-4\"",
             CONFIG_FARM_NODE_RELAY_INTERLOCKS);
    return FARM_EINVAL;
  }
#endif
  node_cfg.features_built = built;
#if CONFIG_FARM_NODE_SYNTHETIC
  node_cfg.features_built |= NODE_F_SYNTHETIC;
#endif
  /* Every sensor built in is on at first boot; synthetic mode is not. */
  node_cfg.features_default = built;
  return 0;
}

static void on_rx(void *core, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data, size_t len,
                  int8_t rssi)
{
  node_on_radio_rx(core, mac, data, len, rssi);
}

static void on_sent(void *core, const uint8_t mac[HAL_MAC_LEN], bool delivered)
{
  node_on_radio_sent(core, mac, delivered);
}

static void tick(void *core)
{
  node_tick(core);
}

static uint64_t deadline(const void *core)
{
  return node_next_deadline(core);
}

/* Called by ESP-IDF's startup code in the main task (no header declares
 * it). */
void app_main(void);

void app_main(void)
{
  struct hal_port *port = farm_port_board();
  int rc = configure_node();
  if (rc == 0)
    rc = farm_port_site_config(&board_cfg);
  if (rc == 0)
    rc = farm_port_open(port, &board_cfg);
  if (rc == 0)
    rc = farm_port_start(port, NULL);
  if (rc != 0)
    farm_port_fail(port, "board set-up", rc);

  rc = node_init(&node, &node_cfg, port);
  if (rc != 0)
    farm_port_fail(port, "node core", rc);
  ESP_LOGI(TAG, "node %s up: boot %u, features 0x%02x, period %u ms", node_cfg.fw,
           (unsigned)node_boot(&node), (unsigned)node_features(&node),
           (unsigned)node_period_ms(&node));

  static const struct farm_port_app app = {
      .core = &node,
      .on_radio_rx = on_rx,
      .on_radio_sent = on_sent,
      .tick = tick,
      .next_deadline = deadline,
      .poll_ms = 0,
  };
  farm_port_run(port, &app);
}
