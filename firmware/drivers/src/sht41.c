/* SPDX-License-Identifier: MIT */
/*
 * SHT41 driver: the command/collect state machine, the CRC-8 check of every
 * received word and the datasheet conversions in integer arithmetic (the
 * ESP32-C6 has no FPU, and integers make the rounding exact and testable).
 */
#include "drivers/sht41.h"

#include <assert.h>

#include "farm/error.h"
#include "hal/hal.h"

void sht41_config_default(struct sht41_config *cfg)
{
  assert(cfg);
  cfg->addr = SHT41_ADDR_DEFAULT;
  cfg->i2c_timeout_ms = 20;
}

int sht41_init(struct sht41 *s, struct hal_port *port, const struct sht41_config *cfg)
{
  assert(s && port && cfg);
  /* 0x00-0x07 and 0x78-0x7F are reserved I2C addresses. */
  if (cfg->addr < 0x08 || cfg->addr > 0x77 || cfg->i2c_timeout_ms == 0)
    return FARM_EINVAL;
  s->cfg = cfg;
  s->port = port;
  s->op = SHT41_OP_IDLE;
  s->ready_ms = 0;
  return 0;
}

uint8_t sht41_crc8(const uint8_t *data, size_t len)
{
  uint8_t crc = SHT41_CRC8_INIT;
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; bit++)
      crc = (crc & 0x80) ? (uint8_t)((crc << 1) ^ SHT41_CRC8_POLY) : (uint8_t)(crc << 1);
  }
  return crc;
}

/* Rounds num/den to nearest for num >= 0, den > 0. */
static int32_t div_round(int64_t num, int64_t den)
{
  return (int32_t)((num + den / 2) / den);
}

void sht41_convert(uint16_t raw_t, uint16_t raw_rh, struct sht41_reading *out)
{
  assert(out);
  /* §4.6: T = -45 + 175 * S_T / (2^16 - 1), RH = -6 + 125 * S_RH / (2^16 - 1).
   * The scaled terms are non-negative, so rounding them before the offset is
   * rounding to nearest of the result. */
  out->t_mc = -45000 + div_round((int64_t)175000 * raw_t, 65535);
  int32_t rh = -6000 + div_round((int64_t)125000 * raw_rh, 65535);
  /* §4.6: values outside 0..100 %RH are physically impossible and come
   * from the calibration's extrapolation; the datasheet advises cropping. */
  if (rh < 0)
    rh = 0;
  if (rh > 100000)
    rh = 100000;
  out->rh_mpct = rh;
  out->raw_t = raw_t;
  out->raw_rh = raw_rh;
  out->heated = false;
}

/* The result of the last op has been collected, or it had none (reset):
 * can a new command go out now? */
static int check_free(struct sht41 *s)
{
  if (s->op == SHT41_OP_IDLE)
    return 0;
  if (s->op == SHT41_OP_RESET) {
    if (hal_clock_ms(s->port) < s->ready_ms)
      return FARM_EBUSY;
    s->op = SHT41_OP_IDLE;
    return 0;
  }
  return FARM_EBUSY;
}

static int send_command(struct sht41 *s, uint8_t cmd, enum sht41_op op, uint32_t wait_ms)
{
  int err = check_free(s);
  if (err)
    return err;
  err = hal_i2c_transfer(s->port, s->cfg->addr, &cmd, 1, NULL, 0, s->cfg->i2c_timeout_ms);
  if (err)
    return err;
  s->op = op;
  /* Taken after the write returned: the chip started no earlier than that. */
  s->ready_ms = hal_clock_ms(s->port) + wait_ms;
  return 0;
}

int sht41_measure_start(struct sht41 *s)
{
  assert(s && s->cfg);
  return send_command(s, SHT41_CMD_MEASURE_HIGH, SHT41_OP_MEASURE, SHT41_MEASURE_MS);
}

int sht41_heater_start(struct sht41 *s, enum sht41_heater heater)
{
  assert(s && s->cfg);
  uint32_t wait;
  switch (heater) {
  case SHT41_HEATER_200MW_1S:
  case SHT41_HEATER_110MW_1S:
  case SHT41_HEATER_20MW_1S:
    wait = SHT41_HEATER_LONG_MS;
    break;
  case SHT41_HEATER_200MW_100MS:
  case SHT41_HEATER_110MW_100MS:
  case SHT41_HEATER_20MW_100MS:
    wait = SHT41_HEATER_SHORT_MS;
    break;
  default:
    return FARM_EINVAL;
  }
  return send_command(s, (uint8_t)heater, SHT41_OP_HEATER, wait);
}

int sht41_serial_start(struct sht41 *s)
{
  assert(s && s->cfg);
  return send_command(s, SHT41_CMD_SERIAL, SHT41_OP_SERIAL, SHT41_SERIAL_MS);
}

int sht41_soft_reset(struct sht41 *s)
{
  assert(s && s->cfg);
  uint8_t cmd = SHT41_CMD_SOFT_RESET;
  /* Whatever was pending is abandoned, even if the reset itself fails: the
   * chip may or may not have seen it, so no old result can be trusted. */
  s->op = SHT41_OP_IDLE;
  int err = hal_i2c_transfer(s->port, s->cfg->addr, &cmd, 1, NULL, 0, s->cfg->i2c_timeout_ms);
  if (err)
    return err;
  s->op = SHT41_OP_RESET;
  s->ready_ms = hal_clock_ms(s->port) + SHT41_SOFT_RESET_MS;
  return 0;
}

enum sht41_op sht41_pending(const struct sht41 *s)
{
  assert(s);
  return s->op;
}

uint64_t sht41_ready_at(const struct sht41 *s)
{
  assert(s);
  return s->ready_ms;
}

/* Reads the two CRC-protected words of the pending op (one of ops). */
static int collect(struct sht41 *s, enum sht41_op want1, enum sht41_op want2, uint16_t w[2])
{
  if (s->op != want1 && s->op != want2)
    return FARM_ENOENT;
  if (hal_clock_ms(s->port) < s->ready_ms)
    return FARM_EAGAIN;
  uint8_t buf[6];
  int err =
      hal_i2c_transfer(s->port, s->cfg->addr, NULL, 0, buf, sizeof buf, s->cfg->i2c_timeout_ms);
  /* The chip hands its result out once; after a failed read it is gone or
   * unknown, so the op ends either way. */
  s->op = SHT41_OP_IDLE;
  if (err)
    return err;
  /* §4.5: each 16-bit word is followed by its CRC-8. */
  if (sht41_crc8(buf, 2) != buf[2] || sht41_crc8(buf + 3, 2) != buf[5])
    return FARM_ECRC;
  w[0] = (uint16_t)(buf[0] << 8 | buf[1]);
  w[1] = (uint16_t)(buf[3] << 8 | buf[4]);
  return 0;
}

int sht41_read(struct sht41 *s, struct sht41_reading *out)
{
  assert(s && s->cfg && out);
  bool heated = s->op == SHT41_OP_HEATER;
  uint16_t w[2];
  int err = collect(s, SHT41_OP_MEASURE, SHT41_OP_HEATER, w);
  if (err)
    return err;
  sht41_convert(w[0], w[1], out);
  out->heated = heated;
  return 0;
}

int sht41_read_serial(struct sht41 *s, uint32_t *serial)
{
  assert(s && s->cfg && serial);
  uint16_t w[2];
  int err = collect(s, SHT41_OP_SERIAL, SHT41_OP_SERIAL, w);
  if (err)
    return err;
  *serial = (uint32_t)w[0] << 16 | w[1];
  return 0;
}
