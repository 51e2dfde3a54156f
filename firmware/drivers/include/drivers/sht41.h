/* SPDX-License-Identifier: MIT */
/*
 * Driver for the Sensirion SHT41 (SHT4x family) temperature and humidity
 * sensor on I2C. Every operation is two-phase so the driver never waits:
 * a *_start function sends the command and records when its result will be
 * ready; the caller schedules itself and calls the matching read function no
 * earlier than sht41_ready_at(). The only blocking is inside one
 * hal_i2c_transfer, bounded by the configured timeout. A value is returned
 * only when the bus transaction succeeded and both CRCs matched: NACK,
 * timeout and CRC errors are reported, never replaced by a made-up value.
 * Numbers cite the Sensirion SHT4x datasheet by section or table name.
 */
#ifndef DRIVERS_SHT41_H
#define DRIVERS_SHT41_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hal_port;

/* SHT40-AD1B, SHT41-AD1B and SHT45-AD1B answer at 0x44 (datasheet product
 * list); other variants use 0x45 or 0x46. */
#define SHT41_ADDR_DEFAULT 0x44

/* Commands (datasheet command overview table). */
#define SHT41_CMD_MEASURE_HIGH 0xfd /* T and RH, high repeatability */
#define SHT41_CMD_SERIAL       0x89 /* read the 32-bit serial number */
#define SHT41_CMD_SOFT_RESET   0x94

/* Waits, in ms after the command was written. High-repeatability
 * measurement: 8.3 ms maximum (datasheet timing table), rounded up to whole
 * milliseconds of our clock. Soft reset: 1 ms maximum (tSR, timing table).
 * The datasheet gives no time for the serial-number read; 10 ms is a
 * conservative margin. Heater pulses last 1 s or 0.1 s within ±10 %
 * (timing table), so 1.1 s / 0.11 s; the chip takes its measurement just
 * before the heater switches off (heater section), so no time is added. */
#define SHT41_MEASURE_MS      9
#define SHT41_SOFT_RESET_MS   1
#define SHT41_SERIAL_MS       10
#define SHT41_HEATER_LONG_MS  1100
#define SHT41_HEATER_SHORT_MS 110

/* CRC-8 of each 16-bit word (datasheet §4.5): polynomial 0x31, init 0xFF,
 * no reflection, no final XOR; CRC(0xBEEF) = 0x92. */
#define SHT41_CRC8_POLY 0x31
#define SHT41_CRC8_INIT 0xff

/* Heater commands (datasheet heater section): power at VDD 3.3 V and pulse
 * length; each ends with a high-repeatability measurement. The heater is
 * designed for at most 10 % duty cycle: the caller keeps to it. */
enum sht41_heater {
  SHT41_HEATER_200MW_1S = 0x39,
  SHT41_HEATER_200MW_100MS = 0x32,
  SHT41_HEATER_110MW_1S = 0x2f,
  SHT41_HEATER_110MW_100MS = 0x24,
  SHT41_HEATER_20MW_1S = 0x1e,
  SHT41_HEATER_20MW_100MS = 0x15,
};

struct sht41_config {
  uint8_t addr;            /* 7-bit I2C address, 0x08..0x77 */
  uint32_t i2c_timeout_ms; /* bound of each hal_i2c_transfer, > 0 */
};

/* What is pending on the chip. */
enum sht41_op {
  SHT41_OP_IDLE,
  SHT41_OP_MEASURE,
  SHT41_OP_HEATER,
  SHT41_OP_SERIAL,
  SHT41_OP_RESET,
};

/* One sensor. The config is not copied: it must outlive the context. */
struct sht41 {
  const struct sht41_config *cfg;
  struct hal_port *port;
  enum sht41_op op;
  uint64_t ready_ms; /* hal_clock_ms() from which the op's result is readable */
};

/* One measurement, converted by the datasheet formulas (§4.6):
 * T = -45 + 175 * S_T / 65535 (°C), RH = -6 + 125 * S_RH / 65535 (%RH),
 * in thousandths and rounded to nearest; RH is clamped to 0..100 % as §4.6
 * advises (the raw words keep the unclamped value). */
struct sht41_reading {
  int32_t t_mc;    /* milli-degrees Celsius, -45000..130000 */
  int32_t rh_mpct; /* milli-percent relative humidity, 0..100000 */
  uint16_t raw_t;  /* S_T */
  uint16_t raw_rh; /* S_RH */
  bool heated;     /* taken at the end of a heater pulse: not ambient */
};

/* Fills cfg with the defaults: address 0x44, 20 ms I2C timeout. */
void sht41_config_default(struct sht41_config *cfg);

/* Binds a context to a port and a config. No bus traffic. Returns 0 or
 * FARM_EINVAL (address outside 0x08..0x77, zero timeout). */
int sht41_init(struct sht41 *s, struct hal_port *port, const struct sht41_config *cfg);

/*
 * Starts a single-shot high-repeatability measurement (0xFD). Its result is
 * readable with sht41_read() from sht41_ready_at() on, SHT41_MEASURE_MS
 * later. Returns 0; FARM_EBUSY (another operation's result has not been
 * collected, or a soft reset is still running); FARM_EIO (NACK: no sensor,
 * or the chip is busy); FARM_ETIMEDOUT. On error nothing is pending.
 */
int sht41_measure_start(struct sht41 *s);

/* Starts a heater pulse (one of enum sht41_heater), ending with a
 * measurement collected by sht41_read() (flagged heated). Same errors as
 * sht41_measure_start, plus FARM_EINVAL for an unknown command. */
int sht41_heater_start(struct sht41 *s, enum sht41_heater heater);

/* Starts a serial-number read (0x89), collected by sht41_read_serial().
 * Same errors as sht41_measure_start. */
int sht41_serial_start(struct sht41 *s);

/*
 * Sends a soft reset (0x94), abandoning whatever is pending; the chip is
 * ready again SHT41_SOFT_RESET_MS later (a start before then returns
 * FARM_EBUSY). Allowed at any time. Returns 0, FARM_EIO, FARM_ETIMEDOUT
 * (then nothing is pending either: the state of the chip is unknown).
 */
int sht41_soft_reset(struct sht41 *s);

/* The pending operation, and the hal_clock_ms() from which its result can
 * be read (meaningless when idle). */
enum sht41_op sht41_pending(const struct sht41 *s);
uint64_t sht41_ready_at(const struct sht41 *s);

/*
 * Collects a measurement started by sht41_measure_start or
 * sht41_heater_start: one 6-byte read (T word, CRC, RH word, CRC). Returns
 * 0 and fills *out; FARM_ENOENT (no measurement pending); FARM_EAGAIN
 * (before sht41_ready_at(): nothing is sent, the measurement stays pending);
 * FARM_EIO (NACK); FARM_ETIMEDOUT; FARM_ECRC (a word failed its CRC). On any
 * error other than FARM_EAGAIN the operation ends (start again) and *out is
 * left untouched.
 */
int sht41_read(struct sht41 *s, struct sht41_reading *out);

/* Collects the serial number (two CRC-checked words, first word high).
 * Errors as sht41_read; *serial untouched on error. */
int sht41_read_serial(struct sht41 *s, uint32_t *serial);

/* The SHT4x CRC-8 over len bytes (datasheet §4.5). */
uint8_t sht41_crc8(const uint8_t *data, size_t len);

/* Converts raw words by the §4.6 formulas (no bus access). heated is false. */
void sht41_convert(uint16_t raw_t, uint16_t raw_rh, struct sht41_reading *out);

#endif /* DRIVERS_SHT41_H */
