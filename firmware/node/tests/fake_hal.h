/* SPDX-License-Identifier: MIT */
/*
 * A small fake board for the node core's unit tests: a clock the test
 * advances, radio sends captured in order with a scriptable return code
 * (the send status is delivered by the test through node_on_radio_sent),
 * an in-memory NVS that survives a re-init and can be told to fail, an
 * I2C bus answering as an SHT41 or NACKing, ADC channels, GPIO levels, a
 * wall clock and a counted reboot. It implements every hal_* function.
 */
#ifndef NODE_FAKE_HAL_H
#define NODE_FAKE_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

#define FAKE_MAX_SENT 256
#define FAKE_NVS_MAX  32
#define FAKE_GPIO_MAX 16
#define FAKE_ADC_MAX  4

struct fake_frame {
  uint8_t mac[HAL_MAC_LEN];
  uint8_t data[HAL_RADIO_MTU];
  size_t len;
  uint8_t channel; /* the channel it went out on */
};

struct fake_nvs_entry {
  char key[HAL_NVS_KEY_MAX + 1];
  bool blob;
  uint32_t u32;
  uint8_t data[16];
  size_t len;
};

enum fake_sht41_mode {
  FAKE_SHT41_OK,   /* measures and answers with a valid CRC */
  FAKE_SHT41_NACK, /* no device at the address */
  FAKE_SHT41_BADCRC,
};

struct hal_port {
  uint64_t now_ms;
  uint8_t mac[HAL_MAC_LEN];

  /* radio */
  struct fake_frame sent[FAKE_MAX_SENT];
  unsigned n_sent;
  int send_rc; /* what hal_radio_send returns (0: accept) */
  uint8_t channel;
  uint8_t peers[HAL_RADIO_HW_PEERS][HAL_MAC_LEN];
  bool peer_enc[HAL_RADIO_HW_PEERS]; /* added with encryption */
  unsigned n_peers;

  /* NVS: committed and staged are one store (the core always commits);
   * fail_commit makes hal_nvs_commit return FARM_EIO. */
  struct fake_nvs_entry nvs[FAKE_NVS_MAX];
  unsigned n_nvs;
  bool fail_commit;
  unsigned commits;

  /* SHT41 at 0x44 */
  enum fake_sht41_mode sht41;
  uint16_t sht41_raw_t, sht41_raw_rh;
  uint64_t sht41_measured_at; /* UINT64_MAX: no measurement started */
  unsigned sht41_measurements;

  uint32_t adc_mv[FAKE_ADC_MAX];
  int adc_rc;
  bool gpio[FAKE_GPIO_MAX];
  unsigned gpio_writes[FAKE_GPIO_MAX];

  bool wall_set;
  uint64_t wall_base_unix_ms, wall_base_ms;

  unsigned reboots;
  uint32_t rng;
  bool verbose; /* print hal_log lines */
};

/* A fresh board: clock at 1000 ms, SHT41 present (21.5 °C-ish), empty NVS. */
void fake_init(struct hal_port *p);

/* Keeps NVS (and the clock), clears everything a reboot clears. */
void fake_reboot_keep_nvs(struct hal_port *p);

/* The SHT41 words for t (°C) and rh (%) by the datasheet's §4.6 formulas. */
void fake_sht41_set(struct hal_port *p, double t_c, double rh_pct);

/* CRC-8 of the SHT4x (poly 0x31, init 0xFF). */
uint8_t fake_crc8(const uint8_t *d, size_t n);

bool fake_nvs_u32(struct hal_port *p, const char *key, uint32_t *out);

#endif /* NODE_FAKE_HAL_H */
