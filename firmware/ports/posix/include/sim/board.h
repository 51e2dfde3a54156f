/* SPDX-License-Identifier: MIT */
/*
 * The POSIX port: struct hal_port as a simulated board living inside one
 * process next to many others (farm-sim runs a whole farm). It implements
 * every hal_* function against simulated hardware that tests and the
 * simulator can see and drive: the shared simulated clock, the shared radio
 * medium (sim/radio.h), NVS kept in memory and optionally persisted to one
 * file per board, an I2C bus where emulated devices attach (sim/sht41.h),
 * ADC channels with settable millivolts, GPIO levels, a serial byte pipe
 * with a connected flag (the simulator bridges it to a pseudo-terminal),
 * a seeded random generator, reboot as a flag and a log routed to a
 * callback. The port never calls node or gateway code directly: radio
 * events reach the owning core through the small sim_board_ops table.
 * Single-threaded: one thread drives everything.
 */
#ifndef SIM_BOARD_H
#define SIM_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "sim/clock.h"
#include "sim/radio.h"

#define SIM_ADC_CHANNELS 8
#define SIM_GPIO_OUTPUTS 16
#define SIM_I2C_DEVICES  8
#define SIM_SERIAL_BUF   8192
#define SIM_NVS_ENTRIES  128
#define SIM_NVS_BYTES    16384 /* value bytes: a 24 KB NVS partition's worth */
#define SIM_PATH_MAX     512
#define SIM_LOG_LINE_MAX 256

/* How the port hands radio events to the core that owns the board. Called
 * from sim_radio_run, never while the core is inside a hal_* call. */
struct sim_board_ops {
  void (*on_radio_rx)(void *core, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data, size_t len,
                      int8_t rssi);
  void (*on_radio_sent)(void *core, const uint8_t mac[HAL_MAC_LEN], bool delivered);
};

/*
 * An emulated I2C device. transfer gets the simulated time (sim_clock_now)
 * and one transaction exactly as hal_i2c_transfer describes it, and returns
 * 0, FARM_EIO (NACK) or FARM_ETIMEDOUT. Embed it in the device's struct.
 */
struct sim_i2c_dev {
  uint8_t addr;
  int (*transfer)(struct sim_i2c_dev *dev, uint64_t now_ms, const uint8_t *w, size_t wlen,
                  uint8_t *r, size_t rlen);
};

struct sim_board_config {
  uint8_t mac[HAL_MAC_LEN];
  uint64_t seed;           /* hal_random; mixed with the MAC */
  struct sim_clock *clock; /* required */
  struct sim_radio *radio; /* NULL: no radio (radio calls return FARM_EIO) */
  uint8_t channel;         /* Wi-Fi channel at boot, 1..14 */
  double x_m, y_m;         /* position, for RSSI */
  /* ESP-NOW keys: the PMK, and the LMK of every peer added encrypted
   * (sim/radio.h). Boards that talk encrypted need the same pair. */
  uint8_t pmk[SIM_RADIO_KEY_LEN];
  uint8_t lmk[SIM_RADIO_KEY_LEN];
  const char *state_dir;   /* NULL: NVS in memory only */
  /* Log sink; NULL writes "[aabbccddeeff] W text" lines to stderr. */
  void (*log)(void *ctx, const uint8_t mac[HAL_MAC_LEN], enum hal_log_level level,
              const char *line);
  void *log_ctx;
  enum hal_log_level log_level; /* lines less severe than this are dropped */
};

/* Internal: NVS contents (typed entries over one byte pool). */
struct sim_nvs_entry {
  char key[HAL_NVS_KEY_MAX + 1];
  uint8_t type;
  uint16_t off;
  uint16_t len;
};

struct sim_nvs {
  uint16_t count;
  uint16_t used;
  struct sim_nvs_entry entries[SIM_NVS_ENTRIES];
  uint8_t pool[SIM_NVS_BYTES];
};

/* Internal: a byte pipe. */
struct sim_pipe {
  size_t head;
  size_t count;
  uint8_t buf[SIM_SERIAL_BUF];
};

struct sim_peer {
  uint8_t mac[HAL_MAC_LEN];
  bool encrypt;
};

/* One simulated board (about 70 KB). Fields are private to the port: use
 * the functions below. */
struct hal_port {
  struct sim_board_config cfg; /* cfg.state_dir is not kept: see nvs_path */
  uint8_t mac[HAL_MAC_LEN];
  struct sim_clock *clock;
  struct sim_radio *radio;
  const struct sim_board_ops *ops;
  void *core;

  uint64_t boot_ms; /* sim clock at the last (re)boot */
  uint32_t boots;
  bool reboot_pending;
  uint64_t rng;

  bool wall_set;
  uint64_t wall_base_unix_ms; /* wall clock at wall_base_ms */
  uint64_t wall_base_ms;

  uint8_t channel;
  uint8_t npeers;
  uint8_t nencrypted;
  struct sim_peer peers[HAL_RADIO_HW_PEERS];
  uint8_t in_flight; /* frames in the radio queue from this board */
  double x_m, y_m;

  struct sim_nvs nvs;       /* what the core sees, staged sets included */
  struct sim_nvs committed; /* what survives a reboot */
  uint32_t nvs_commits;
  int nvs_fail; /* injected error for the next NVS write */
  char nvs_path[SIM_PATH_MAX];

  struct sim_i2c_dev *i2c[SIM_I2C_DEVICES];
  uint32_t i2c_transfers;

  uint32_t adc_mv[SIM_ADC_CHANNELS];
  int adc_err[SIM_ADC_CHANNELS];

  bool gpio[SIM_GPIO_OUTPUTS];
  uint32_t gpio_writes[SIM_GPIO_OUTPUTS];
  int gpio_err[SIM_GPIO_OUTPUTS];

  bool serial_connected;
  struct sim_pipe to_host;
  struct sim_pipe from_host;
};

/* Defaults: MAC 02:00:00:00:00:01 (locally administered), seed 1, no clock,
 * no radio, channel 1, at (0, 0), the example keys of the ESP-IDF port's
 * Kconfig (PMK 00 01 .. 0f, LMK f0 e0 .. 00), no state dir, stderr,
 * HAL_LOG_INFO. */
void sim_board_config_default(struct sim_board_config *cfg);

/*
 * Powers a board up, once: reboots go through sim_board_restart, and a
 * board is detached before its memory is reused. Copies cfg (state_dir is
 * not kept), loads NVS from "<state_dir>/<mac as 12 hex>.nvs" if that file
 * exists, and joins cfg->radio. Returns 0; FARM_EINVAL (no clock, channel,
 * path too long); FARM_EMALFORMED (the NVS file is not one this port
 * wrote); FARM_EIO (reading it failed); FARM_EEXIST (a board with this MAC
 * is on the radio); FARM_ENOSPC (the radio is full).
 */
int sim_board_init(struct hal_port *b, const struct sim_board_config *cfg);

/* Leaves the radio (frames in flight from the board are dropped). The board
 * may then be discarded. */
void sim_board_detach(struct hal_port *b);

/* Sets the core that receives radio events (ops and core may be NULL:
 * events are then dropped). */
void sim_board_set_core(struct hal_port *b, const struct sim_board_ops *ops, void *core);

/* True after hal_reboot until sim_board_restart. While pending the board
 * receives nothing and hears no send status. */
bool sim_board_reboot_pending(const struct hal_port *b);

/*
 * Restarts the board as a power cycle does, keeping only what hardware
 * keeps: committed NVS (staged sets are lost), emulated devices, ADC inputs,
 * position, and the host side of the serial cable. Uptime restarts from 0;
 * the wall clock is unset; the ESP-NOW peer list is empty; the channel is
 * the configured one; GPIO outputs are low; frames this board had in flight
 * are dropped; both serial buffers are emptied. The simulator then
 * initialises the core again.
 */
void sim_board_restart(struct hal_port *b);

/* Restarts counted since init. */
uint32_t sim_board_boots(const struct hal_port *b);

const uint8_t *sim_board_mac(const struct hal_port *b);

/*
 * Gives the board another radio MAC, as a port applies the MAC that
 * cfg:set_mac saved (esp_base_mac_addr_set before the radio starts): from
 * now on it sends and receives under mac and hal_radio_mac returns it. Like
 * flash, the NVS file keeps the name of the MAC the board was initialised
 * with, and per-link loss overrides stay with the old MAC. Returns 0,
 * FARM_EINVAL (multicast or all-zero mac), FARM_EEXIST (another board on the
 * radio has it).
 */
int sim_board_set_mac(struct hal_port *b, const uint8_t mac[HAL_MAC_LEN]);
void sim_board_set_position(struct hal_port *b, double x_m, double y_m);

/* Radio state as the core left it. */
uint8_t sim_board_channel(const struct hal_port *b);
size_t sim_board_peer_count(const struct hal_port *b);
bool sim_board_has_peer(const struct hal_port *b, const uint8_t mac[HAL_MAC_LEN], bool *encrypted);

/* ADC inputs: the millivolts channel ch reads, or an error it returns
 * (0 to clear). Returns 0 or FARM_EINVAL (no such channel). */
int sim_board_adc_set(struct hal_port *b, uint8_t ch, uint32_t mv);
int sim_board_adc_fail(struct hal_port *b, uint8_t ch, int err);

/* GPIO output levels and how many times each was written. */
bool sim_board_gpio(const struct hal_port *b, uint8_t out);
/* Makes writes to out fail with err (the level stays) until cleared with 0.
 * Returns 0 or FARM_EINVAL (no such output). */
int sim_board_gpio_fail(struct hal_port *b, uint8_t out, int err);
uint32_t sim_board_gpio_writes(const struct hal_port *b, uint8_t out);

/* Attaches an emulated device to the I2C bus (the device must outlive the
 * board). Returns 0, FARM_EEXIST (address taken), FARM_ENOSPC. */
int sim_board_i2c_attach(struct hal_port *b, struct sim_i2c_dev *dev);
uint32_t sim_board_i2c_transfers(const struct hal_port *b);

/* Makes the next NVS write (set, erase or commit) fail with err once. */
void sim_board_nvs_fail_next(struct hal_port *b, int err);
/* Commits that succeeded since init. */
uint32_t sim_board_nvs_commits(const struct hal_port *b);
/* The file NVS persists to ("" when in memory only). */
const char *sim_board_nvs_path(const struct hal_port *b);

/*
 * The host side of the serial link. Plugging a cable in (connected = true)
 * lets bytes flow; unplugging drops whatever is buffered in either
 * direction, as a real cable pull loses bytes in flight.
 */
void sim_serial_set_connected(struct hal_port *b, bool connected);
bool sim_serial_is_connected(const struct hal_port *b);
/* Host to board. Returns 0 (*written may be short when the board's receive
 * buffer is full) or FARM_ECLOSED. */
int sim_serial_host_write(struct hal_port *b, const void *data, size_t len, size_t *written);
/* Board to host. Returns 0 (*got may be 0) or FARM_ECLOSED. */
int sim_serial_host_read(struct hal_port *b, void *buf, size_t cap, size_t *got);

#endif /* SIM_BOARD_H */
