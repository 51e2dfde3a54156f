/* SPDX-License-Identifier: MIT */
/*
 * Template implementation of the HAL contract (hal/hal.h), function by
 * function: what the platform must do, which errors it must translate, and
 * the traps seen in the ESP-IDF and POSIX ports. Every body here is a stub;
 * a porter replaces each one. Keep the rules of hal.h: no blocking unless
 * the function says so, nothing called from an interrupt unless it says so,
 * no pointer kept after return, errors translated to FARM_E* here and
 * nowhere else. Includes no platform header, so it builds with any C11
 * compiler, the cross compilers of the footprint build included.
 */
#include "template/port.h"

#include <string.h>

#include "farm/error.h"
#include "hal/hal.h"

void template_port_init(struct hal_port *p)
{
  /* Porter: bring up NVS (ESP-IDF: nvs_flash_init, erase and retry on
   * "no free pages" or "new version"), the radio (Wi-Fi in station mode
   * without connecting, then ESP-NOW with its receive and send callbacks),
   * the serial driver, I2C, ADC and GPIO, and read the station MAC. */
  memset(p, 0, sizeof *p);
}

/* ---- Clocks ------------------------------------------------------------ */

uint64_t hal_clock_ms(struct hal_port *p)
{
  /* Porter: a 64-bit monotonic counter since boot in ms (ESP-IDF:
   * esp_timer_get_time() / 1000). Never the wall clock: it jumps at
   * time_sync. Must be callable from an interrupt. Neutral value: 0, a
   * clock that never moves (nothing periodic will ever fire). */
  (void)p;
  return 0;
}

int hal_wall_clock_get(struct hal_port *p, uint64_t *unix_ms)
{
  /* Porter: Unix time in ms, or FARM_ENOENT until hal_wall_clock_set was
   * called in this boot. Keep an offset against hal_clock_ms rather than
   * setting the system clock if the platform's is unreliable before sync.
   * Stub: the clock is never set. */
  (void)p;
  (void)unix_ms;
  return FARM_ENOENT;
}

int hal_wall_clock_set(struct hal_port *p, uint64_t unix_ms)
{
  /* Porter: store unix_ms against hal_clock_ms (or settimeofday). Reject
   * values the platform cannot represent with FARM_EINVAL. */
  (void)p;
  (void)unix_ms;
  return FARM_EUNSUPPORTED;
}

/* ---- Radio (ESP-NOW) ---------------------------------------------------- */

void hal_radio_mac(struct hal_port *p, uint8_t mac[HAL_MAC_LEN])
{
  /* Porter: the station MAC (ESP-IDF: esp_wifi_get_mac(WIFI_IF_STA)), the
   * one peers see as the sender. It is the device id everywhere (DESIGN
   * §3). Stub: whatever template_port_init stored (zeros). */
  memcpy(mac, p->mac, HAL_MAC_LEN);
}

int hal_radio_send(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], const void *data, size_t len)
{
  /*
   * Porter: check 1..HAL_RADIO_MTU (FARM_EINVAL) and queue the frame
   * (ESP-IDF: esp_now_send, which copies the data). Translate "peer not
   * found" to FARM_EINVAL and "no memory" / queue full to FARM_EBUSY. The
   * send callback runs in the Wi-Fi task: post (mac, delivered) to the
   * application task and call the core's on_radio_sent from there, never
   * from the callback. ESP-IDF v6 passes the destination inside
   * esp_now_send_info_t, not as a MAC pointer.
   */
  (void)p;
  (void)mac;
  (void)data;
  (void)len;
  return FARM_EUNSUPPORTED;
}

int hal_radio_add_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], bool encrypt)
{
  /* Porter: esp_now_add_peer with the configured LMK when encrypt; an
   * existing peer is modified (esp_now_mod_peer), not an error. "Full" is
   * FARM_ENOSPC: 20 peers, at most 17 encrypted (fewer if the platform's
   * encrypted-peer setting is lower). */
  (void)p;
  (void)mac;
  (void)encrypt;
  return FARM_EUNSUPPORTED;
}

int hal_radio_del_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN])
{
  /* Porter: esp_now_del_peer; "not found" is FARM_ENOENT. Stub: the peer
   * list is always empty. */
  (void)p;
  (void)mac;
  return FARM_ENOENT;
}

int hal_radio_set_channel(struct hal_port *p, uint8_t channel)
{
  /* Porter: 1..14 else FARM_EINVAL; esp_wifi_set_channel with no secondary
   * channel. Every node and the gateway must share it. */
  (void)p;
  (void)channel;
  return FARM_EUNSUPPORTED;
}

/* ---- Serial link to the host -------------------------------------------- */

int hal_serial_write(struct hal_port *p, const void *data, size_t len, size_t *written)
{
  /* Porter: non-blocking write into the USB CDC transmit buffer (ESP-IDF:
   * usb_serial_jtag_write_bytes with a zero timeout); *written may be less
   * than len. FARM_ECLOSED when no host is connected, with *written = 0.
   * Stub: no host is ever connected. */
  (void)p;
  (void)data;
  (void)len;
  *written = 0;
  return FARM_ECLOSED;
}

int hal_serial_read(struct hal_port *p, void *buf, size_t cap, size_t *got)
{
  /* Porter: non-blocking read (zero timeout); *got may be 0. FARM_ECLOSED
   * when no host is connected. Stub: never connected. */
  (void)p;
  (void)buf;
  (void)cap;
  *got = 0;
  return FARM_ECLOSED;
}

bool hal_serial_connected(struct hal_port *p)
{
  /* Porter: true while a host has the port open (ESP-IDF:
   * usb_serial_jtag_is_connected, based on recent start-of-frame packets).
   * Stub: never. */
  (void)p;
  return false;
}

/* ---- Non-volatile storage ------------------------------------------------ */

int hal_nvs_get_u32(struct hal_port *p, const char *key, uint32_t *out)
{
  /* Porter: nvs_get_u32 in the firmware's namespace; "not found" is
   * FARM_ENOENT, "type mismatch" FARM_ETYPE. Stub: nothing is stored, so
   * the cores take their defaults and count every boot as the first. */
  (void)p;
  (void)key;
  (void)out;
  return FARM_ENOENT;
}

int hal_nvs_set_u32(struct hal_port *p, const char *key, uint32_t value)
{
  /* Porter: nvs_set_u32; an invalid key is FARM_EINVAL, "not enough space"
   * FARM_ENOSPC, anything else FARM_EIO. Visible to gets at once, durable
   * after hal_nvs_commit. May block for a flash write. */
  (void)p;
  (void)key;
  (void)value;
  return FARM_EUNSUPPORTED;
}

int hal_nvs_get_blob(struct hal_port *p, const char *key, void *buf, size_t cap, size_t *len)
{
  /* Porter: nvs_get_blob; when cap is too small return FARM_ENOSPC and the
   * needed size in *len (ESP-IDF reports it through the length argument).
   * Stub: nothing is stored. */
  (void)p;
  (void)key;
  (void)buf;
  (void)cap;
  (void)len;
  return FARM_ENOENT;
}

int hal_nvs_set_blob(struct hal_port *p, const char *key, const void *data, size_t len)
{
  /* Porter: nvs_set_blob; errors as hal_nvs_set_u32. */
  (void)p;
  (void)key;
  (void)data;
  (void)len;
  return FARM_EUNSUPPORTED;
}

int hal_nvs_erase(struct hal_port *p, const char *key)
{
  /* Porter: nvs_erase_key; "not found" is FARM_ENOENT. Stub: nothing to
   * erase. */
  (void)p;
  (void)key;
  return FARM_ENOENT;
}

int hal_nvs_commit(struct hal_port *p)
{
  /* Porter: nvs_commit; failure is FARM_EIO. Only after it returns 0 may a
   * core act on the value (reboot after cfg:set_mac, for instance). */
  (void)p;
  return FARM_EUNSUPPORTED;
}

/* ---- I2C (master) ------------------------------------------------------- */

int hal_i2c_transfer(struct hal_port *p, uint8_t addr, const void *wbuf, size_t wlen, void *rbuf,
                     size_t rlen, uint32_t timeout_ms)
{
  /* Porter: one transaction (ESP-IDF i2c_master: i2c_master_transmit,
   * i2c_master_receive or i2c_master_transmit_receive on a device handle
   * per address, created once). A NACK is FARM_EIO, a bus timeout
   * FARM_ETIMEDOUT; nothing else may block this long. Stub: no bus, so no
   * device acknowledges (drivers report their sensor missing). */
  (void)p;
  (void)addr;
  (void)wbuf;
  (void)wlen;
  (void)rbuf;
  (void)rlen;
  (void)timeout_ms;
  return FARM_EIO;
}

/* ---- ADC ---------------------------------------------------------------- */

int hal_adc_read_mv(struct hal_port *p, uint8_t ch, uint32_t *mv)
{
  /* Porter: a calibrated conversion (ESP-IDF: adc_oneshot_read, then
   * adc_cali_raw_to_voltage with the curve-fitting scheme) on the board's
   * channel ch; FARM_EINVAL for a channel the board does not wire. */
  (void)p;
  (void)ch;
  (void)mv;
  return FARM_EUNSUPPORTED;
}

/* ---- GPIO --------------------------------------------------------------- */

int hal_gpio_write(struct hal_port *p, uint8_t out, bool level)
{
  /* Porter: map out (0..N-1) to the board's pins, configured as outputs at
   * init (ESP-IDF: gpio_set_level); FARM_EINVAL beyond N. Active-low
   * wiring is the relay driver's business, not the port's. */
  (void)p;
  (void)out;
  (void)level;
  return FARM_EUNSUPPORTED;
}

/* ---- System ------------------------------------------------------------- */

void hal_random(struct hal_port *p, void *buf, size_t len)
{
  /* Porter: the hardware generator (ESP-IDF: esp_fill_random, which is
   * truly random only while the radio or the bootloader's entropy source
   * runs). Neutral value: zeros, which is NOT random: no port may ship
   * this. */
  (void)p;
  memset(buf, 0, len);
}

void hal_reboot(struct hal_port *p)
{
  /* Porter: esp_restart(); it does not return. A simulating port records
   * the request and returns. Stub: nothing happens. */
  (void)p;
}

void hal_log(struct hal_port *p, enum hal_log_level level, const char *fmt, ...)
{
  /* Porter: one line to the platform log (ESP-IDF: esp_log_writev with a
   * tag). On the gateway the USB serial link carries protocol frames only:
   * log to the UART console, or send log messages through the protocol,
   * never raw text on the serial link. Stub: dropped. */
  (void)p;
  (void)level;
  (void)fmt;
}
