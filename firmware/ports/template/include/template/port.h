/* SPDX-License-Identifier: MIT */
/*
 * The template port's board: a porter copies ports/template/ to
 * ports/<platform>/, puts the platform's handles into struct hal_port and
 * fills in every function of src/port.c, following the comment above each
 * one. As shipped it compiles everywhere and does nothing useful: every
 * function is a stub returning FARM_EUNSUPPORTED or a documented neutral
 * value, which also makes it the stub the firmware footprint build links
 * against to measure the portable code alone.
 */
#ifndef TEMPLATE_PORT_H
#define TEMPLATE_PORT_H

#include "hal/hal.h"

/*
 * One board. A real port keeps here what its functions need: the radio
 * driver's handle and the core's callbacks, the NVS handle, the I2C bus and
 * ADC unit handles, the GPIO numbers of the relay outputs, the USB serial
 * driver's state, the wall-clock offset. Cores never look inside.
 */
struct hal_port {
  uint8_t mac[HAL_MAC_LEN]; /* reported by hal_radio_mac */
};

/* Prepares p before any core uses it. A real port initialises its drivers
 * here (NVS first: the cores read their boot counter from it at start). */
void template_port_init(struct hal_port *p);

#endif /* TEMPLATE_PORT_H */
