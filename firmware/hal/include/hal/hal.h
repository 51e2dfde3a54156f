/* SPDX-License-Identifier: MIT */
/*
 * The hardware-abstraction contract of the firmware cores. The node and
 * gateway cores and the drivers call only these functions; a port
 * (ports/esp-idf, ports/posix, ports/template) implements them and is chosen
 * at link time. Every function takes the port's board handle first, so many
 * simulated boards can live in one process (farm-sim runs a whole farm).
 *
 * Calls go one way: cores call hal_*; ports call the cores' on_* entry points
 * (node.h, gateway.h) from their one application task, never from an
 * interrupt and never concurrently for one core. Unless a function says
 * otherwise it does not block, must not be called from an interrupt, and
 * does not keep any pointer it is given after it returns.
 *
 * Errors are FARM_E* codes (farm/error.h); ports translate esp_err_t and
 * errno at this boundary.
 */
#ifndef HAL_HAL_H
#define HAL_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The board: defined by each port, opaque to the cores. */
struct hal_port;

#define HAL_MAC_LEN 6
/* ESP-NOW v1 payload limit (DESIGN §5); every ESP32 generation accepts it. */
#define HAL_RADIO_MTU 250
/* ESP-NOW's hardware peer list: 20 entries, of which at most 17 encrypted. */
#define HAL_RADIO_HW_PEERS 20
#define HAL_RADIO_HW_PEERS_ENCRYPTED 17
/* NVS keys are at most 15 characters (ESP-IDF NVS_KEY_NAME_MAX_SIZE - 1). */
#define HAL_NVS_KEY_MAX 15

/* ---- Clocks ------------------------------------------------------------ */

/* Milliseconds since this boot, monotonic, never wraps in practice (64 bits).
 * Interrupt-safe. */
uint64_t hal_clock_ms(struct hal_port *p);

/* Wall clock as Unix milliseconds. Returns 0, or FARM_ENOENT when it has not
 * been set since boot (the cores then flag what they timestamp). */
int hal_wall_clock_get(struct hal_port *p, uint64_t *unix_ms);

/* Sets the wall clock (from time_sync). Returns 0 or FARM_EINVAL. */
int hal_wall_clock_set(struct hal_port *p, uint64_t unix_ms);

/* ---- Radio (ESP-NOW) ---------------------------------------------------- */

/* This board's station MAC. */
void hal_radio_mac(struct hal_port *p, uint8_t mac[HAL_MAC_LEN]);

/*
 * Queues len bytes (1..HAL_RADIO_MTU) to mac (FF:FF:FF:FF:FF:FF for
 * broadcast). The data is copied before return. The outcome arrives later
 * through the core's on_radio_sent() with the same mac: delivered means the
 * peer's radio acknowledged the frame. A unicast destination must be in the
 * hardware peer list (hal_radio_add_peer) except for broadcast.
 * Returns 0, FARM_EINVAL (length, or mac not a registered peer), FARM_EBUSY
 * (the send queue is full: try again after the next on_radio_sent), FARM_EIO.
 */
int hal_radio_send(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], const void *data,
                   size_t len);

/*
 * Adds mac to the hardware peer list, encrypted with the port's configured
 * LMK when encrypt is true. Idempotent; for a peer already listed it sets
 * its encryption to encrypt (ESP-NOW's esp_now_mod_peer). Unicast frames to
 * an encrypted peer are encrypted; the radio passes on an encrypted frame
 * only from a peer it lists encrypted with the same key, and drops an
 * unencrypted unicast frame from a peer it lists encrypted. In both cases
 * the receiving radio has already acknowledged the frame, so the sender is
 * told it was delivered. Broadcast frames are never encrypted. Returns 0,
 * FARM_ENOSPC (the HAL_RADIO_HW_PEERS, or encrypted, slots are used),
 * FARM_EIO.
 */
int hal_radio_add_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN], bool encrypt);

/* Removes mac from the hardware peer list. Returns 0 or FARM_ENOENT. */
int hal_radio_del_peer(struct hal_port *p, const uint8_t mac[HAL_MAC_LEN]);

/* Sets the Wi-Fi channel, 1..14. Returns 0, FARM_EINVAL, FARM_EIO. */
int hal_radio_set_channel(struct hal_port *p, uint8_t channel);

/* ---- Serial link to the host (gateway only: USB Serial/JTAG CDC) --------- */

/*
 * Writes up to len bytes without blocking; *written says how many were
 * taken (possibly 0 when the transmit buffer is full). Returns 0, or
 * FARM_ECLOSED when no host is connected (nothing is written).
 */
int hal_serial_write(struct hal_port *p, const void *data, size_t len, size_t *written);

/* Reads up to cap bytes without blocking; *got may be 0. Returns 0 or
 * FARM_ECLOSED. */
int hal_serial_read(struct hal_port *p, void *buf, size_t cap, size_t *got);

/* True while a host has the port open (USB CDC: DTR / SOF seen recently). */
bool hal_serial_connected(struct hal_port *p);

/* ---- Non-volatile storage ------------------------------------------------ */

/*
 * Typed values under keys of 1..HAL_NVS_KEY_MAX characters. Sets are staged
 * until hal_nvs_commit; gets see staged values. Getters return 0,
 * FARM_ENOENT (no such key), FARM_ETYPE (stored with another type), or for
 * blobs FARM_ENOSPC (cap too small; *len receives the size needed). Setters
 * return 0, FARM_EINVAL (bad key), FARM_ENOSPC (storage full), FARM_EIO.
 * May block for a flash write (milliseconds).
 */
int hal_nvs_get_u32(struct hal_port *p, const char *key, uint32_t *out);
int hal_nvs_set_u32(struct hal_port *p, const char *key, uint32_t value);
int hal_nvs_get_blob(struct hal_port *p, const char *key, void *buf, size_t cap, size_t *len);
int hal_nvs_set_blob(struct hal_port *p, const char *key, const void *data, size_t len);
int hal_nvs_erase(struct hal_port *p, const char *key); /* 0 or FARM_ENOENT */
/* Makes staged sets durable (survive power loss). Returns 0 or FARM_EIO. */
int hal_nvs_commit(struct hal_port *p);

/* ---- I2C (master) ------------------------------------------------------- */

/*
 * One transaction with the 7-bit address addr: write wlen bytes (may be 0),
 * then, if rlen > 0, a repeated start and read rlen bytes. Blocks for at most
 * timeout_ms. Returns 0, FARM_EIO (the device did not acknowledge its
 * address or a byte: NACK), FARM_ETIMEDOUT (bus held or clock stretched too
 * long), FARM_EINVAL.
 */
int hal_i2c_transfer(struct hal_port *p, uint8_t addr, const void *wbuf, size_t wlen,
                     void *rbuf, size_t rlen, uint32_t timeout_ms);

/* ---- ADC ---------------------------------------------------------------- */

/* One calibrated conversion on the board's analog channel ch, in millivolts.
 * Blocks for the conversion (microseconds). Returns 0, FARM_EINVAL (no such
 * channel), FARM_EIO. */
int hal_adc_read_mv(struct hal_port *p, uint8_t ch, uint32_t *mv);

/* ---- GPIO (relay outputs) ----------------------------------------------- */

/* Drives the board's output number out (0..N-1 in the port's pinout) high
 * (true) or low. Returns 0 or FARM_EINVAL. */
int hal_gpio_write(struct hal_port *p, uint8_t out, bool level);

/* ---- System ------------------------------------------------------------- */

/* Fills buf with len random bytes from the hardware generator. */
void hal_random(struct hal_port *p, void *buf, size_t len);

/*
 * Restarts the board. On hardware it does not return; a simulating port
 * returns after scheduling the restart, and the core must do nothing more
 * with its state until it is initialised again.
 */
void hal_reboot(struct hal_port *p);

enum hal_log_level {
  HAL_LOG_ERROR,
  HAL_LOG_WARN,
  HAL_LOG_INFO,
  HAL_LOG_DEBUG,
};

/* Logs one line (no newline needed), printf-style. Never blocks for long:
 * a port may drop lines under load. */
void hal_log(struct hal_port *p, enum hal_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* HAL_HAL_H */
