/* SPDX-License-Identifier: MIT */
/*
 * The gateway footprint image: the gateway core with its full peer table
 * (GW_MAX_PEERS) and uplink store, driven the way a port drives it
 * (gw_saved_mac and gw_init once, then gw_tick, gw_next_deadline,
 * gw_on_radio_rx and gw_on_radio_sent from one loop) against the template
 * port's stubs. It never runs; it exists so the linker keeps what a board
 * keeps. The core's state is static, so it shows up in bss as it does in
 * the ESP-IDF port.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"
#include "hal/hal.h"
#include "template/port.h"

/* Stands in for the radio and the scheduler: the compiler cannot see
 * through volatile, so every path of the handlers stays in the image. */
static volatile uint8_t air[HAL_RADIO_MTU + 1];
static volatile uint16_t air_len;
static volatile bool air_delivered;
static volatile bool running = true;

static struct hal_port port;
static struct gw_config cfg;
static struct gw gw;

int main(void)
{
  template_port_init(&port);
  uint8_t mac[HAL_MAC_LEN] = {0};
  (void)gw_saved_mac(&port, mac);
  gw_config_default(&cfg);
  if (gw_init(&gw, &cfg, &port) != 0)
    return 1;

  uint8_t frame[HAL_RADIO_MTU + 1];
  while (running) {
    gw_tick(&gw);
    if (gw_next_deadline(&gw) == 0)
      continue;
    size_t len = air_len;
    if (len > sizeof frame)
      len = sizeof frame;
    for (size_t i = 0; i < len; i++)
      frame[i] = air[i];
    gw_on_radio_rx(&gw, mac, frame, len, -60);
    gw_on_radio_sent(&gw, mac, air_delivered);
  }
  return 0;
}
