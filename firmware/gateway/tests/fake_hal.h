/* SPDX-License-Identifier: MIT */
/*
 * A small fake of the HAL contract (hal/hal.h) for the gateway's unit tests
 * and fuzzer: a clock the test moves, radio sends captured with a scriptable
 * result, a hardware peer list that enforces its 20 slots (17 encrypted)
 * and remembers each entry's encryption, the serial link
 * as two byte buffers with a connected flag and an optional limit per write
 * call, NVS in memory with staged and committed copies (a restart keeps only
 * what was committed) and injectable failures, and reboot as a counter.
 * Everything is in the struct: tests may hold several.
 */
#ifndef FAKE_HAL_H
#define FAKE_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

#define FAKE_SENDS 512
#define FAKE_NVS_ENTRIES 128
#define FAKE_NVS_VALUE 128
#define FAKE_TO_HOST (1u << 20)
#define FAKE_FROM_HOST (1u << 16)

struct fake_send {
  uint8_t mac[HAL_MAC_LEN];
  size_t len;
  uint8_t data[HAL_RADIO_MTU];
};

struct fake_nvs_entry {
  bool used;
  bool blob;
  char key[HAL_NVS_KEY_MAX + 1];
  size_t len;
  uint8_t data[FAKE_NVS_VALUE];
};

struct fake_nvs {
  struct fake_nvs_entry e[FAKE_NVS_ENTRIES];
};

struct hal_port {
  uint64_t now_ms;  /* the test's clock */
  uint64_t boot_ms; /* now_ms at the last restart: hal_clock_ms is the difference */
  bool wall_set;
  uint64_t wall_unix_ms, wall_at_ms;
  int wall_set_rc; /* returned by hal_wall_clock_set when non-zero */

  uint8_t mac[HAL_MAC_LEN];
  uint8_t channel;

  struct fake_send sent[FAKE_SENDS];
  size_t nsent;
  int send_rc; /* what hal_radio_send returns (0: captured) */
  uint8_t hw[HAL_RADIO_HW_PEERS][HAL_MAC_LEN];
  bool hw_enc[HAL_RADIO_HW_PEERS];
  size_t nhw, nhw_max;
  size_t adds, dels, mods; /* mods: encryption of a listed peer changed */

  bool connected;
  uint8_t to_host[FAKE_TO_HOST];
  size_t to_host_len;
  size_t write_limit; /* bytes taken per hal_serial_write, 0 = all */
  bool write_blocked; /* takes 0 bytes */
  bool budget_on;     /* write_budget limits the bytes taken in all */
  size_t write_budget;
  uint8_t from_host[FAKE_FROM_HOST];
  size_t from_len, from_off;

  struct fake_nvs nvs;       /* what the core sees */
  struct fake_nvs committed; /* what survives a restart */
  unsigned commits;
  int nvs_fail; /* error for every NVS write while non-zero */

  unsigned reboots;
  unsigned logs;
  bool quiet; /* do not print log lines */
};

/* A fresh board: MAC 24:0a:c4:00:00:01, clock at 1000 ms, connected. */
void fake_init(struct hal_port *p);
/* A power cycle: uptime restarts, wall clock and hardware peers are lost,
 * staged NVS is lost. */
void fake_restart(struct hal_port *p);
void fake_advance(struct hal_port *p, uint64_t ms);
/* Host to gateway bytes. */
void fake_host_write(struct hal_port *p, const void *data, size_t len);
bool fake_hw_has(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN]);
/* True when mac is listed and encrypted. */
bool fake_hw_encrypted(const struct hal_port *p, const uint8_t mac[HAL_MAC_LEN]);
/* Listed peers that are encrypted. */
size_t fake_hw_encrypted_count(const struct hal_port *p);

#endif /* FAKE_HAL_H */
