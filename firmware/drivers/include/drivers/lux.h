/* SPDX-License-Identifier: MIT */
/*
 * Driver for an analog light sensor (photodiode, phototransistor or LDR in
 * a divider) read on an ADC channel. The board-specific response is a
 * calibration curve: a piecewise-linear table of (millivolts, lux) points,
 * validated once at init, so a new sensor needs a table, not code.
 */
#ifndef DRIVERS_LUX_H
#define DRIVERS_LUX_H

#include <stdbool.h>
#include <stdint.h>

struct hal_port;

#define LUX_MAX_POINTS 16
/* Bounds of a curve point: far above any ADC's range and above full
 * sunlight (about 120 000 lux), low enough for exact 64-bit arithmetic. */
#define LUX_MAX_MV  100000u
#define LUX_MAX_LUX 1000000u

struct lux_point {
  uint32_t mv;
  uint32_t lux;
};

/*
 * A valid curve has 2..LUX_MAX_POINTS points, mv <= LUX_MAX_MV and
 * lux <= LUX_MAX_LUX, with strictly increasing mv and lux monotonic in one
 * direction (rising for a photodiode on the low
 * side, falling for an LDR on the high side), not constant. The points are
 * not copied: they must outlive the context.
 */
struct lux_config {
  uint8_t adc_ch;
  const struct lux_point *points;
  uint8_t count;
};

struct lux {
  const struct lux_config *cfg;
  struct hal_port *port;
};

struct lux_reading {
  uint32_t mv;
  uint32_t lux;
  bool clamped; /* mv was outside the curve: lux is the nearest end point */
};

/* Returns 0 or FARM_EINVAL when the curve breaks a rule above. */
int lux_validate(const struct lux_config *cfg);

/* Binds a context after lux_validate. Returns 0 or FARM_EINVAL. */
int lux_init(struct lux *l, struct hal_port *port, const struct lux_config *cfg);

/*
 * Interpolates lux for mv on a validated curve, rounded to the nearest lux
 * (ties up).
 * Outside the curve the nearest end point is returned and *clamped set
 * (clamped may be NULL).
 */
uint32_t lux_from_mv(const struct lux_config *cfg, uint32_t mv, bool *clamped);

/* One ADC conversion through the curve. Returns 0 or the ADC error
 * (FARM_EINVAL, FARM_EIO); *out untouched on error. */
int lux_read(struct lux *l, struct lux_reading *out);

#endif /* DRIVERS_LUX_H */
