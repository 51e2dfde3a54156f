/* SPDX-License-Identifier: MIT */
/*
 * The gateway firmware for the ESP32-C6: the portable gateway core
 * (gateway/gateway.h) on the ESP-IDF port (farm_port/port.h), bridging
 * ESP-NOW nodes to the edge over the USB Serial/JTAG port. app_main brings
 * the board up (NVS, the MAC saved by cfg:set_mac, radio and serial link),
 * starts the core with the Kconfig settings and becomes the application
 * task that drives it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_app_desc.h"
#include "esp_log.h"
#include "sdkconfig.h"

#include "farm/error.h"
#include "farm_port/port.h"
#include "gateway/gateway.h"

#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG || CONFIG_ESP_CONSOLE_SECONDARY_USB_SERIAL_JTAG
#error                                                                                             \
    "the USB Serial/JTAG port carries the protocol: put the console on UART0 (sdkconfig.defaults)"
#endif

/* With encryption every node keeps an encrypted entry of ESP-NOW's peer
 * list (docs/firmware-gateway.md §5.1): the gateway core counts on all 17
 * (HAL_RADIO_HW_PEERS_ENCRYPTED); ESP-IDF allows 7 unless told otherwise. */
#if defined(CONFIG_FARM_ESPNOW_ENCRYPT) &&                                                         \
    (!defined(CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM) ||                                           \
     CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM < HAL_RADIO_HW_PEERS_ENCRYPTED)
#error "encryption needs CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM=17 (sdkconfig.defaults)"
#endif

#define TAG "gateway"

/* The board: the host link, and no sensors or outputs. The site's radio
 * settings are filled in by farm_port_site_config. */
static struct farm_port_config board_cfg = {
    .tag = TAG,
    .serial = true,
    .serial_tx_buf = CONFIG_FARM_GW_SERIAL_TX_BUF,
    .serial_rx_buf = CONFIG_FARM_GW_SERIAL_RX_BUF,
    .i2c_sda = FARM_PORT_NO_PIN,
    .i2c_scl = FARM_PORT_NO_PIN,
    .outputs = FARM_PORT_OUT_NONE,
    .hc595_data = FARM_PORT_NO_PIN,
    .hc595_clock = FARM_PORT_NO_PIN,
    .hc595_latch = FARM_PORT_NO_PIN,
    .hc595_oe = FARM_PORT_NO_PIN,
};

/* The core's state (the peer table and the uplink store: tens of kB) lives
 * here, not on a task stack. */
static struct gw_config gw_cfg;
static struct gw gw;

static void on_rx(void *core, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data, size_t len,
                  int8_t rssi)
{
  gw_on_radio_rx(core, mac, data, len, rssi);
}

static void on_sent(void *core, const uint8_t mac[HAL_MAC_LEN], bool delivered)
{
  gw_on_radio_sent(core, mac, delivered);
}

static void tick(void *core)
{
  gw_tick(core);
}

static uint64_t deadline(const void *core)
{
  return gw_next_deadline(core);
}

/* Called by ESP-IDF's startup code in the main task (no header declares
 * it). */
void app_main(void);

void app_main(void)
{
  struct hal_port *port = farm_port_board();
  int rc = farm_port_site_config(&board_cfg);
  if (rc == 0)
    rc = farm_port_open(port, &board_cfg);
  if (rc != 0)
    farm_port_fail(port, "board set-up", rc);

  /* cfg:set_mac saved a MAC in NVS and rebooted: the radio takes it before
   * it starts (gw_saved_mac in gateway.h). */
  uint8_t mac[HAL_MAC_LEN];
  const uint8_t *use_mac = NULL;
  rc = gw_saved_mac(port, mac);
  if (rc == 0)
    use_mac = mac;
  else if (rc != FARM_ENOENT)
    ESP_LOGW(TAG, "saved MAC not used: %s", farm_strerror(rc));
  rc = farm_port_start(port, use_mac);
  if (rc != 0)
    farm_port_fail(port, "radio and serial link", rc);

  gw_config_default(&gw_cfg);
#if CONFIG_FARM_GW_CODEC_CBOR
  gw_cfg.codec = FP_CODEC_CBOR;
#else
  gw_cfg.codec = FP_CODEC_MSGPACK;
#endif
  gw_cfg.channel = CONFIG_FARM_CHANNEL;
  /* PROJECT_VER (git describe by default), at most 31 characters
   * (esp_app_desc_t.version is char[32]). */
  gw_cfg.fw = esp_app_get_description()->version;
  gw_cfg.encrypt = farm_port_encrypt();
  gw_cfg.pair_boot_s = CONFIG_FARM_GW_PAIR_BOOT_S;
  gw_cfg.stats_ms = CONFIG_FARM_GW_STATS_S * 1000u;
  rc = gw_init(&gw, &gw_cfg, port);
  if (rc != 0)
    farm_port_fail(port, "gateway core", rc);
  ESP_LOGI(TAG, "gateway %s up: boot %u, %u peers, serial codec %s", gw_cfg.fw,
           (unsigned)gw_boot(&gw), (unsigned)gw_peer_count(&gw), fp_codec_name(gw_cfg.codec));

  static const struct farm_port_app app = {
      .core = &gw,
      .on_radio_rx = on_rx,
      .on_radio_sent = on_sent,
      .tick = tick,
      .next_deadline = deadline,
      .poll_ms = CONFIG_FARM_GW_SERIAL_POLL_MS,
  };
  farm_port_run(port, &app);
}
