/* SPDX-License-Identifier: MIT */
/*
 * The I2C master of the ESP-IDF port, on ESP-IDF v6's i2c_master driver
 * (components/esp_driver_i2c/include/driver/i2c_master.h): one bus, and one
 * device handle per 7-bit address, made the first time the address is
 * used. Every transfer is synchronous and bounded by the caller's timeout;
 * a NACK is FARM_EIO, a timeout FARM_ETIMEDOUT, after which the bus is
 * reset so a stuck slave cannot hold it.
 */
#include <limits.h>

#include "esp_log.h"

#include "farm/error.h"
#include "internal.h"

int farm_port__i2c_start(struct hal_port *p)
{
  i2c_master_bus_config_t bus = {
      .i2c_port = -1, /* any free controller */
      .sda_io_num = (gpio_num_t)p->cfg->i2c_sda,
      .scl_io_num = (gpio_num_t)p->cfg->i2c_scl,
      .clk_source = I2C_CLK_SRC_DEFAULT,
      /* Pulses shorter than 7 cycles of the module clock are noise (the
       * value i2c_master.h calls typical). */
      .glitch_ignore_cnt = 7,
      /* The boards' external pull-ups do the work; the weak internal ones
       * only keep an unpopulated bus from floating. */
      .flags.enable_internal_pullup = true,
  };
  esp_err_t e = i2c_new_master_bus(&bus, &p->i2c);
  if (e != ESP_OK) {
    ESP_LOGE(p->tag, "i2c: i2c_new_master_bus: %s", esp_err_to_name(e));
    return FARM_EIO;
  }
  return 0;
}

/* The device handle for addr, made (or a slot recycled) when needed. */
static int device_for(struct hal_port *p, uint8_t addr, i2c_master_dev_handle_t *dev)
{
  for (size_t i = 0; i < PORT_I2C_DEVICES; i++) {
    if (p->i2c_dev[i].used && p->i2c_dev[i].addr == addr) {
      *dev = p->i2c_dev[i].dev;
      return 0;
    }
  }
  struct port_i2c_device *slot = NULL;
  for (size_t i = 0; i < PORT_I2C_DEVICES && slot == NULL; i++) {
    if (!p->i2c_dev[i].used)
      slot = &p->i2c_dev[i];
  }
  if (slot == NULL) {
    slot = &p->i2c_dev[p->i2c_next];
    p->i2c_next = (uint8_t)((p->i2c_next + 1u) % PORT_I2C_DEVICES);
    if (i2c_master_bus_rm_device(slot->dev) != ESP_OK)
      return FARM_EIO;
    slot->used = false;
  }
  i2c_device_config_t cfg = {
      .dev_addr_length = I2C_ADDR_BIT_LEN_7,
      .device_address = addr,
      .scl_speed_hz = p->cfg->i2c_hz,
  };
  if (i2c_master_bus_add_device(p->i2c, &cfg, &slot->dev) != ESP_OK)
    return FARM_EIO;
  slot->used = true;
  slot->addr = addr;
  *dev = slot->dev;
  return 0;
}

int hal_i2c_transfer(struct hal_port *p, uint8_t addr, const void *wbuf, size_t wlen, void *rbuf,
                     size_t rlen, uint32_t timeout_ms)
{
  /* 7-bit addresses outside the reserved ranges (I2C-bus specification
   * UM10204 §3.1.12: 0x00-0x07 and 0x78-0x7F). */
  if (addr < 0x08 || addr > 0x77 || (wlen > 0 && wbuf == NULL) || (rlen > 0 && rbuf == NULL))
    return FARM_EINVAL;
  if (p->i2c == NULL)
    return FARM_EIO; /* no bus: nobody acknowledges */
  int ms = timeout_ms == 0 ? 1 : timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;

  esp_err_t e;
  if (wlen == 0 && rlen == 0) {
    /* An address-only transaction: is anyone there? */
    e = i2c_master_probe(p->i2c, addr, ms);
    if (e == ESP_ERR_NOT_FOUND)
      return FARM_EIO;
  } else {
    i2c_master_dev_handle_t dev;
    int rc = device_for(p, addr, &dev);
    if (rc != 0)
      return rc;
    if (wlen > 0 && rlen > 0)
      e = i2c_master_transmit_receive(dev, wbuf, wlen, rbuf, rlen, ms);
    else if (wlen > 0)
      e = i2c_master_transmit(dev, wbuf, wlen, ms);
    else
      e = i2c_master_receive(dev, rbuf, rlen, ms);
  }
  switch (e) {
  case ESP_OK:
    return 0;
  case ESP_ERR_INVALID_RESPONSE: /* NACK (i2c_master.h) */
    return FARM_EIO;
  case ESP_ERR_TIMEOUT:
    /* Bus busy or a slave stretching SCL for ever: clock it free so the
     * next transaction starts on an idle bus. */
    (void)i2c_master_bus_reset(p->i2c);
    return FARM_ETIMEDOUT;
  case ESP_ERR_INVALID_ARG:
    return FARM_EINVAL;
  default:
    return FARM_EIO;
  }
}
