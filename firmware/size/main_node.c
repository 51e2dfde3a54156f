/* SPDX-License-Identifier: MIT */
/*
 * The node footprint image: the node core with every feature built (SHT41,
 * lux, MQ135, six relays, synthetic mode), driven the way a port drives it
 * (node_init once, then node_tick, node_next_deadline, node_on_radio_rx and
 * node_on_radio_sent from one loop) against the template port's stubs. It
 * never runs; it exists so the linker keeps what a board keeps. The core's
 * state is static, so it shows up in bss as it does in the ESP-IDF port.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "node/node.h"
#include "template/port.h"

/* Stands in for the radio and the scheduler: the compiler cannot see
 * through volatile, so every path of the handlers stays in the image. */
static volatile uint8_t air[HAL_RADIO_MTU];
static volatile uint8_t air_len;
static volatile bool air_delivered;
static volatile bool running = true;

static const struct lux_point lux_curve[] = {
    {.mv = 0, .lux = 0},
    {.mv = 3000, .lux = 100000},
};

static struct hal_port port;
static struct node_config cfg;
static struct node node;

int main(void)
{
  template_port_init(&port);
  node_config_default(&cfg);
  cfg.features_built = NODE_F_ALL;
  cfg.lux.adc_ch = 1;
  cfg.lux.points = lux_curve;
  cfg.lux.count = sizeof lux_curve / sizeof lux_curve[0];
  cfg.relays.count = 6;
  for (uint8_t ch = 0; ch < 6; ch++)
    cfg.relays.gpio[ch] = ch;
  if (node_init(&node, &cfg, &port) != 0)
    return 1;

  uint8_t mac[HAL_MAC_LEN] = {0};
  uint8_t frame[HAL_RADIO_MTU];
  while (running) {
    node_tick(&node);
    if (node_next_deadline(&node) == 0)
      continue;
    size_t len = air_len;
    if (len > sizeof frame)
      len = sizeof frame;
    for (size_t i = 0; i < len; i++)
      frame[i] = air[i];
    node_on_radio_rx(&node, mac, frame, len, -60);
    node_on_radio_sent(&node, mac, air_delivered);
  }
  return 0;
}
