/* SPDX-License-Identifier: MIT */
/*
 * An emulated Sensirion SHT4x on the simulated I2C bus, faithful at the
 * transaction level: it accepts the measurement, heater, serial-number and
 * soft-reset commands, stays silent (NACK) while it measures until the
 * datasheet's maximum duration has elapsed, hands each result out once with
 * its CRC-8 bytes, and NACKs unknown commands and reads with nothing to
 * read. Its values come from a settable temperature and humidity (or raw
 * words), and NACK, bus timeout and CRC faults can be injected.
 */
#ifndef SIM_SHT41_H
#define SIM_SHT41_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/board.h"

enum sim_sht41_fault {
  SIM_SHT41_FAULT_NONE,
  SIM_SHT41_FAULT_NACK,    /* the next transfers are not acknowledged */
  SIM_SHT41_FAULT_TIMEOUT, /* the next transfers hold the bus: FARM_ETIMEDOUT */
  SIM_SHT41_FAULT_CRC,     /* the next results carry a wrong CRC byte */
};

/* Embed dev first; attach with sim_board_i2c_attach(board, &s->dev). Fields
 * are private to the port except the counters. */
struct sim_sht41 {
  struct sim_i2c_dev dev;
  uint16_t raw_t;
  uint16_t raw_rh;
  uint32_t serial;
  uint8_t cmd;        /* command in progress, 0 when none */
  uint64_t cmd_at_ms; /* when it was received */
  uint32_t busy_us;   /* how long it takes */
  bool has_data;
  uint8_t data[6];
  enum sim_sht41_fault fault;
  uint32_t fault_count; /* transfers (CRC: results) the fault still affects */
  /* Counters for tests. */
  uint32_t transfers;
  uint32_t nacks;
  uint32_t measurements; /* results handed out */
  uint32_t resets;
};

/* An idle sensor at addr with the given serial number, reading 25 °C and
 * 50 %RH. */
void sim_sht41_init(struct sim_sht41 *s, uint8_t addr, uint32_t serial);

/* Sets the values the next measurements report, through the inverse of the
 * datasheet conversion, rounded and limited to the 16-bit range. */
void sim_sht41_set(struct sim_sht41 *s, double t_c, double rh_pct);
void sim_sht41_set_raw(struct sim_sht41 *s, uint16_t raw_t, uint16_t raw_rh);

/* Injects fault into the next count transfers (for CRC: the next count
 * results); FAULT_NONE or count 0 clears it. */
void sim_sht41_inject(struct sim_sht41 *s, enum sim_sht41_fault fault, uint32_t count);

#endif /* SIM_SHT41_H */
