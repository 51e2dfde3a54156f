/* SPDX-License-Identifier: MIT */
/*
 * The host link of the ESP-IDF port: the chip's USB Serial/JTAG controller
 * seen by the host as a CDC-ACM port (the gateway's /dev/ttyESP-GW), through
 * ESP-IDF v6's driver (components/esp_driver_usb_serial_jtag/include/
 * driver/usb_serial_jtag.h). It carries protocol frames only: the console
 * must be elsewhere (gateway_c6 puts it on UART0). Neither read nor write
 * ever waits: both are called with a timeout of 0 ticks.
 */
#include <stdbool.h> /* usb_serial_jtag.h uses bool without including it */
#include <stdint.h>

#include "driver/usb_serial_jtag.h"
#include "esp_log.h"

#include "farm/error.h"
#include "internal.h"

/* usb_serial_jtag_write_bytes puts all of its bytes in the driver's ring
 * buffer or none (it is one xRingbufferSend, usb_serial_jtag.c), so large
 * writes go in chunks: as much as fits is taken, as hal_serial_write
 * promises. */
#define WRITE_CHUNK 64u

int farm_port__serial_start(struct hal_port *p)
{
  usb_serial_jtag_driver_config_t cfg = {
      .tx_buffer_size = p->cfg->serial_tx_buf,
      .rx_buffer_size = p->cfg->serial_rx_buf,
  };
  esp_err_t e = usb_serial_jtag_driver_install(&cfg);
  if (e != ESP_OK) {
    ESP_LOGE(p->tag, "serial: usb_serial_jtag_driver_install: %s", esp_err_to_name(e));
    return FARM_EIO;
  }
  p->serial_up = true;
  return 0;
}

bool hal_serial_connected(struct hal_port *p)
{
  /* "Connected" while the host sends start-of-frame packets, i.e. while a
   * USB host powers and enumerates the port, whether or not a program has
   * it open (usb_serial_jtag.h, usb_serial_jtag_is_connected). */
  return p->serial_up && usb_serial_jtag_is_connected();
}

int hal_serial_write(struct hal_port *p, const void *data, size_t len, size_t *written)
{
  *written = 0;
  if (!hal_serial_connected(p))
    return FARM_ECLOSED;
  const uint8_t *bytes = data;
  size_t done = 0;
  while (done < len) {
    size_t n = len - done;
    if (n > WRITE_CHUNK)
      n = WRITE_CHUNK;
    int w = usb_serial_jtag_write_bytes(bytes + done, n, 0);
    if (w <= 0)
      break; /* the ring buffer is full: the core resumes later */
    done += (size_t)w;
  }
  *written = done;
  return 0;
}

int hal_serial_read(struct hal_port *p, void *buf, size_t cap, size_t *got)
{
  *got = 0;
  if (!hal_serial_connected(p))
    return FARM_ECLOSED;
  if (cap == 0)
    return 0;
  uint32_t want = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
  int n = usb_serial_jtag_read_bytes(buf, want, 0);
  if (n > 0)
    *got = (size_t)n;
  return 0;
}
