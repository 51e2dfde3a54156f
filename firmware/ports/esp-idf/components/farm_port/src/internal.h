/* SPDX-License-Identifier: MIT */
/*
 * The board of the ESP-IDF port, shared by the files of this component
 * only: the driver handles, the radio event queue between the Wi-Fi task
 * and the application task, and the start-up functions of each part.
 */
#ifndef FARM_PORT_INTERNAL_H
#define FARM_PORT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/i2c_master.h"
#include "esp_adc/adc_cali.h"
#include "esp_adc/adc_oneshot.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "nvs.h"

#include "farm_port/port.h"

/* Devices (addresses) with an i2c_master handle at a time. */
#define PORT_I2C_DEVICES 4
/* Queue entries kept free for send statuses: received frames are dropped
 * before a status is (the gateway keeps at most 8 frames in flight). */
#define PORT_SENT_RESERVE 8

enum port_event_kind {
  PORT_EV_RX,
  PORT_EV_SENT,
};

/* One radio event, copied out of the Wi-Fi task. A frame longer than the
 * v1 limit keeps HAL_RADIO_MTU + 1 bytes: enough for the core to see it is
 * too long and count it, without the port holding the whole frame. */
struct port_event {
  uint8_t kind; /* enum port_event_kind */
  bool delivered;
  int8_t rssi;
  uint16_t len;
  uint8_t mac[HAL_MAC_LEN];
  uint8_t data[HAL_RADIO_MTU + 1];
};

struct port_i2c_device {
  bool used;
  uint8_t addr;
  i2c_master_dev_handle_t dev;
};

struct port_adc_channel {
  adc_channel_t chan;
  adc_cali_handle_t cali; /* NULL: no calibration, reads fail */
};

struct hal_port {
  const struct farm_port_config *cfg;
  const char *tag;

  /* NVS */
  bool nvs_open;
  nvs_handle_t nvs;

  /* Wall clock: Unix ms at a hal_clock_ms instant, once set. */
  bool wall_set;
  uint64_t wall_unix_ms;
  uint64_t wall_mono_ms;

  /* Radio */
  bool radio_up;
  bool broadcast_peer; /* FF:FF:FF:FF:FF:FF is in the peer list */
  uint8_t mac[HAL_MAC_LEN];
  QueueHandle_t events;
  TaskHandle_t volatile app_task; /* woken by the callbacks once set */
  atomic_uint rx_dropped;         /* frames lost to a full queue */
  atomic_uint sent_dropped;       /* statuses lost to a full queue */

  /* Serial link */
  bool serial_up;

  /* I2C */
  i2c_master_bus_handle_t i2c;
  struct port_i2c_device i2c_dev[PORT_I2C_DEVICES];
  uint8_t i2c_next; /* slot replaced when all are used */

  /* ADC */
  adc_oneshot_unit_handle_t adc;
  struct port_adc_channel adc_ch[FARM_PORT_MAX_ADC];

  /* Outputs */
  bool outputs_up;
  uint8_t hc595; /* the register's outputs, bit i = Q<i> */

  /* Log rate limit */
  uint64_t log_window_ms;
  uint16_t log_lines;
  uint32_t log_dropped;
};

int farm_port__radio_start(struct hal_port *p, const uint8_t *mac);
int farm_port__nvs_open(struct hal_port *p);
int farm_port__serial_start(struct hal_port *p);
int farm_port__i2c_start(struct hal_port *p);
int farm_port__adc_start(struct hal_port *p);
int farm_port__outputs_start(struct hal_port *p);

#endif /* FARM_PORT_INTERNAL_H */
