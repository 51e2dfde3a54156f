/* SPDX-License-Identifier: MIT */
/*
 * Shared between the files of the POSIX port: the seeded generator every
 * random decision comes from, and the calls between a board and the radio
 * medium it belongs to.
 */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "sim/board.h"
#include "sim/radio.h"

/* SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, passes BigCrush,
 * identical on every platform, so a seed means the same run everywhere. */
static inline uint64_t sim__rng_next(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double sim__rng_unit(uint64_t *state)
{
  return (double)(sim__rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static inline int sim__mac_eq(const uint8_t a[HAL_MAC_LEN], const uint8_t b[HAL_MAC_LEN])
{
  return memcmp(a, b, HAL_MAC_LEN) == 0;
}

static inline int sim__mac_is_broadcast(const uint8_t m[HAL_MAC_LEN])
{
  static const uint8_t bcast[HAL_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  return sim__mac_eq(m, bcast);
}

/* Board membership of the medium. */
int sim__radio_attach(struct sim_radio *r, struct hal_port *b);
void sim__radio_detach(struct sim_radio *r, struct hal_port *b);
/* Drops the frames b has in flight (b rebooted). */
void sim__radio_cancel(struct sim_radio *r, struct hal_port *b);

/* NVS: loads the board's file if any (0, FARM_EMALFORMED, FARM_EIO). */
int sim__nvs_load(struct hal_port *b);

#endif /* SIM_INTERNAL_H */
