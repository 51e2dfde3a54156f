/* SPDX-License-Identifier: MIT */
/*
 * The HAL contract (hal/hal.h) on ESP-IDF v6, shared by the gateway_c6 and
 * sensor_s3 projects: ESP-NOW for the radio, nvs_flash, the USB Serial/JTAG
 * driver for the host link, the i2c_master driver, adc_oneshot with its
 * calibration, GPIO (or a 74HC595 shift register) for outputs, esp_timer,
 * esp_random, esp_restart and ESP_LOG. An application describes its board
 * in a struct farm_port_config, brings the port up in two steps (NVS first,
 * so a core can read what it needs before the radio starts) and hands its
 * core to farm_port_run, which is the one application task: radio
 * callbacks only queue events, and the core is called from this task alone
 * (hal.h). Platform types stay inside the component; this header needs
 * only the contract.
 */
#ifndef FARM_PORT_PORT_H
#define FARM_PORT_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

/* ESP-NOW keys: 16 bytes (ESP_NOW_KEY_LEN in esp_now.h). */
#define FARM_PORT_KEY_LEN     16
#define FARM_PORT_MAX_OUTPUTS 8
#define FARM_PORT_MAX_ADC     4
/* A pin that the board does not have. */
#define FARM_PORT_NO_PIN (-1)

enum farm_port_outputs {
  FARM_PORT_OUT_NONE,  /* hal_gpio_write refuses every output */
  FARM_PORT_OUT_GPIO,  /* output i is the GPIO out_gpio[i] */
  FARM_PORT_OUT_HC595, /* output i is Q<i> of a 74HC595 (one register) */
};

/*
 * The board. Not copied: it must outlive the port (static storage in the
 * application). Pins are GPIO numbers or FARM_PORT_NO_PIN.
 */
struct farm_port_config {
  const char *tag; /* ESP_LOG tag of every hal_log line */

  /* Radio (ESP-NOW). */
  uint8_t channel;                /* Wi-Fi channel at start, 1..14 */
  uint8_t pmk[FARM_PORT_KEY_LEN]; /* primary master key (esp_now_set_pmk) */
  uint8_t lmk[FARM_PORT_KEY_LEN]; /* local master key of encrypted peers */
  uint8_t radio_queue_len;        /* radio events waiting for the task, 9..64 */

  /* Host link on the USB Serial/JTAG controller (the gateway). */
  bool serial;
  uint32_t serial_tx_buf; /* driver ring buffers, bytes, > 0 */
  uint32_t serial_rx_buf;

  /* I2C master bus; i2c_sda == FARM_PORT_NO_PIN: none. */
  int i2c_sda;
  int i2c_scl;
  uint32_t i2c_hz; /* SCL frequency of every device */

  /* Analog inputs: hal_adc_read_mv channel ch is the pin adc_gpio[ch],
   * which must belong to ADC unit 1 (ADC2 is shared with Wi-Fi). */
  uint8_t adc_count;
  int adc_gpio[FARM_PORT_MAX_ADC];

  /* Outputs for hal_gpio_write. */
  enum farm_port_outputs outputs;
  uint8_t out_count;                   /* 0..FARM_PORT_MAX_OUTPUTS */
  int out_gpio[FARM_PORT_MAX_OUTPUTS]; /* FARM_PORT_OUT_GPIO */
  int hc595_data, hc595_clock, hc595_latch;
  int hc595_oe;        /* active-low output enable, or FARM_PORT_NO_PIN */
  uint8_t out_initial; /* mask: outputs driven high before any core runs */
};

/* The board of this chip (there is one; ESP-NOW's callbacks carry no
 * context pointer, so the port keeps it). */
struct hal_port *farm_port_board(void);

/*
 * Step 1, once, from the application task: opens NVS (the "farm"
 * namespace). An NVS partition that nvs_flash_init refuses (no free pages,
 * or written by a newer format) is not erased: erasing would restart the
 * boot counter, and readings numbered again from boot 1 would be dropped as
 * duplicates downstream. Returns 0, FARM_EINVAL (cfg out of range) or
 * FARM_EIO (NVS unusable: see the README for the recovery).
 */
int farm_port_open(struct hal_port *p, const struct farm_port_config *cfg);

/*
 * Step 2: Wi-Fi (station mode, no access point) and ESP-NOW on cfg's
 * channel with its PMK, then the serial link, I2C, ADC and outputs. mac,
 * when not NULL, replaces the factory station MAC (cfg:set_mac); a MAC the
 * radio refuses is logged and the factory one kept. Returns 0 or the
 * FARM_E* code of the first step that failed (logged).
 */
int farm_port_start(struct hal_port *p, const uint8_t *mac);

/* What farm_port_run drives: one core behind four adapters. */
struct farm_port_app {
  void *core;
  void (*on_radio_rx)(void *core, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data, size_t len,
                      int8_t rssi);
  void (*on_radio_sent)(void *core, const uint8_t mac[HAL_MAC_LEN], bool delivered);
  void (*tick)(void *core);
  uint64_t (*next_deadline)(const void *core); /* hal_clock_ms() */
  /* Longest sleep in ms, 0 = none: the gateway polls the serial link,
   * which has no receive event, this often. */
  uint32_t poll_ms;
};

/*
 * Step 3: the application loop, in the calling task, which becomes the one
 * task that calls the core. Each turn delivers the queued radio events in
 * the order they happened, ticks the core, and sleeps until its deadline,
 * the poll time or the next radio event. Never returns.
 */
void farm_port_run(struct hal_port *p, const struct farm_port_app *app) __attribute__((noreturn));

/* Logs why the board cannot run and restarts it after a few seconds (a
 * transient fault then clears itself; a permanent one stays visible in the
 * log). Never returns. */
void farm_port_fail(struct hal_port *p, const char *what, int err) __attribute__((noreturn));

/* Parses a key of 32 hexadecimal digits (Kconfig). Returns 0 or
 * FARM_EINVAL. */
int farm_port_parse_key(const char *hex, uint8_t key[FARM_PORT_KEY_LEN]);

/*
 * Fills the site-wide part of cfg from the "IoTferme: site and radio" menu
 * (channel, PMK, LMK, radio queue length), logs the site and warns while a
 * key is still Kconfig's example. Returns 0 or FARM_EINVAL (a key that is
 * not 32 hex digits, a site name outside [a-z0-9_-]{1,32}).
 */
int farm_port_site_config(struct farm_port_config *cfg);

/* Whether the cores register their peers encrypted
 * (CONFIG_FARM_ESPNOW_ENCRYPT). */
bool farm_port_encrypt(void);

#endif /* FARM_PORT_PORT_H */
