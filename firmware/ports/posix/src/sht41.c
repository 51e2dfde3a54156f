/* SPDX-License-Identifier: MIT */
/*
 * The emulated SHT4x: a command state machine timed by the simulated clock.
 * Its CRC-8 is written independently of the driver's (a shared routine
 * would let one bug hide another). Durations are the datasheet maxima, so a
 * driver that waits less than the datasheet asks is caught.
 */
#include "sim/sht41.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"

/* Maximum durations in microseconds (SHT4x datasheet timing table). */
#define US_MEASURE_HIGH 8300u
#define US_MEASURE_MED  4500u
#define US_MEASURE_LOW  1700u
#define US_HEATER_LONG  1100000u
#define US_HEATER_SHORT 110000u
#define US_SOFT_RESET   1000u
#define US_SERIAL       1000u

/* CRC-8, polynomial x^8 + x^5 + x^4 + 1 (0x31), init 0xFF, MSB first, as
 * long division: the init is XORed into the first byte, the word is
 * multiplied by x^8, and the remainder modulo 0x131 is the CRC. */
static uint8_t crc8(uint8_t hi, uint8_t lo)
{
  uint32_t reg = (uint32_t)(hi ^ 0xffu) << 16 | (uint32_t)lo << 8;
  for (int bit = 23; bit >= 8; bit--)
    if (reg & (1u << bit))
      reg ^= 0x131u << (bit - 8);
  return (uint8_t)reg;
}

static void put_word(uint8_t *out, uint16_t w)
{
  out[0] = (uint8_t)(w >> 8);
  out[1] = (uint8_t)w;
  out[2] = crc8(out[0], out[1]);
}

static bool is_measure(uint8_t cmd)
{
  switch (cmd) {
  /* High, medium and low repeatability. */
  case 0xfd:
  case 0xf6:
  case 0xe0:
  /* Heater pulses, each ending with a measurement. */
  case 0x39:
  case 0x32:
  case 0x2f:
  case 0x24:
  case 0x1e:
  case 0x15:
    return true;
  default:
    return false;
  }
}

static uint32_t duration_us(uint8_t cmd)
{
  switch (cmd) {
  case 0xfd:
    return US_MEASURE_HIGH;
  case 0xf6:
    return US_MEASURE_MED;
  case 0xe0:
    return US_MEASURE_LOW;
  case 0x39:
  case 0x2f:
  case 0x1e:
    return US_HEATER_LONG;
  case 0x32:
  case 0x24:
  case 0x15:
    return US_HEATER_SHORT;
  case 0x94:
    return US_SOFT_RESET;
  case 0x89:
    return US_SERIAL;
  default:
    return 0;
  }
}

/* Completes the command in progress once its time has passed; true while
 * it is still running. */
static bool busy(struct sim_sht41 *s, uint64_t now_ms)
{
  if (!s->cmd)
    return false;
  if ((now_ms - s->cmd_at_ms) * 1000u < s->busy_us)
    return true;
  if (is_measure(s->cmd)) {
    put_word(s->data, s->raw_t);
    put_word(s->data + 3, s->raw_rh);
    s->has_data = true;
  } else if (s->cmd == 0x89) {
    put_word(s->data, (uint16_t)(s->serial >> 16));
    put_word(s->data + 3, (uint16_t)s->serial);
    s->has_data = true;
  }
  s->cmd = 0;
  return false;
}

static int nack(struct sim_sht41 *s)
{
  s->nacks++;
  return FARM_EIO;
}

static int transfer(struct sim_i2c_dev *dev, uint64_t now_ms, const uint8_t *w, size_t wlen,
                    uint8_t *r, size_t rlen)
{
  struct sim_sht41 *s = (struct sim_sht41 *)dev;
  s->transfers++;
  if (s->fault_count > 0 &&
      (s->fault == SIM_SHT41_FAULT_NACK || s->fault == SIM_SHT41_FAULT_TIMEOUT)) {
    int err = s->fault == SIM_SHT41_FAULT_NACK ? nack(s) : FARM_ETIMEDOUT;
    if (--s->fault_count == 0)
      s->fault = SIM_SHT41_FAULT_NONE;
    return err;
  }
  /* The chip ignores its address while it measures or resets. */
  if (busy(s, now_ms))
    return nack(s);

  if (wlen > 0) {
    /* Every SHT4x command is one byte; a second byte is not acknowledged. */
    if (wlen != 1 || duration_us(w[0]) == 0)
      return nack(s);
    s->cmd = w[0];
    s->cmd_at_ms = now_ms;
    s->busy_us = duration_us(w[0]);
    s->has_data = false; /* a new command discards an uncollected result */
    if (w[0] == 0x94)
      s->resets++;
    /* A read in the same transaction comes microseconds later: too early
     * for any command. */
    return rlen > 0 ? nack(s) : 0;
  }

  if (!s->has_data)
    return nack(s);
  uint8_t out[6];
  memcpy(out, s->data, sizeof out);
  if (s->fault == SIM_SHT41_FAULT_CRC && s->fault_count > 0) {
    out[2] ^= 0x01;
    if (--s->fault_count == 0)
      s->fault = SIM_SHT41_FAULT_NONE;
  }
  /* Past the six bytes nobody drives SDA: the master reads the pull-up. */
  for (size_t i = 0; i < rlen; i++)
    r[i] = i < sizeof out ? out[i] : 0xff;
  s->has_data = false;
  s->measurements++;
  return 0;
}

void sim_sht41_init(struct sim_sht41 *s, uint8_t addr, uint32_t serial)
{
  assert(s && addr <= 0x7f);
  memset(s, 0, sizeof *s);
  s->dev.addr = addr;
  s->dev.transfer = transfer;
  s->serial = serial;
  sim_sht41_set(s, 25.0, 50.0);
}

static uint16_t to_raw(double v)
{
  double r = floor(v + 0.5);
  return (uint16_t)(r < 0.0 ? 0.0 : r > 65535.0 ? 65535.0 : r);
}

void sim_sht41_set(struct sim_sht41 *s, double t_c, double rh_pct)
{
  assert(s);
  /* Inverse of T = -45 + 175 S_T / 65535 and RH = -6 + 125 S_RH / 65535. */
  s->raw_t = to_raw((t_c + 45.0) * 65535.0 / 175.0);
  s->raw_rh = to_raw((rh_pct + 6.0) * 65535.0 / 125.0);
}

void sim_sht41_set_raw(struct sim_sht41 *s, uint16_t raw_t, uint16_t raw_rh)
{
  assert(s);
  s->raw_t = raw_t;
  s->raw_rh = raw_rh;
}

void sim_sht41_inject(struct sim_sht41 *s, enum sim_sht41_fault fault, uint32_t count)
{
  assert(s);
  s->fault = count ? fault : SIM_SHT41_FAULT_NONE;
  s->fault_count = fault == SIM_SHT41_FAULT_NONE ? 0 : count;
}
