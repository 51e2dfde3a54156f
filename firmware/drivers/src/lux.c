/* SPDX-License-Identifier: MIT */
/*
 * Lux driver: validation of the calibration curve and piecewise-linear
 * interpolation in 64-bit integers (exact, and no FPU needed).
 */
#include "drivers/lux.h"

#include <assert.h>

#include "farm/error.h"
#include "hal/hal.h"

int lux_validate(const struct lux_config *cfg)
{
  assert(cfg);
  if (!cfg->points || cfg->count < 2 || cfg->count > LUX_MAX_POINTS)
    return FARM_EINVAL;
  const struct lux_point *p = cfg->points;
  for (uint8_t i = 0; i < cfg->count; i++)
    if (p[i].mv > LUX_MAX_MV || p[i].lux > LUX_MAX_LUX)
      return FARM_EINVAL;
  int dir = 0; /* +1 rising, -1 falling, 0 not yet known */
  for (uint8_t i = 1; i < cfg->count; i++) {
    /* Strictly increasing mv: otherwise a segment has zero width. */
    if (p[i].mv <= p[i - 1].mv)
      return FARM_EINVAL;
    int step = p[i].lux > p[i - 1].lux ? 1 : p[i].lux < p[i - 1].lux ? -1 : 0;
    if (step == 0)
      continue;
    if (dir != 0 && step != dir)
      return FARM_EINVAL; /* not monotonic: one mv would map to two lux */
    dir = step;
  }
  return dir == 0 ? FARM_EINVAL : 0; /* a constant curve measures nothing */
}

int lux_init(struct lux *l, struct hal_port *port, const struct lux_config *cfg)
{
  assert(l && port && cfg);
  int err = lux_validate(cfg);
  if (err)
    return err;
  l->cfg = cfg;
  l->port = port;
  return 0;
}

uint32_t lux_from_mv(const struct lux_config *cfg, uint32_t mv, bool *clamped)
{
  assert(cfg && cfg->points && cfg->count >= 2);
  const struct lux_point *p = cfg->points;
  uint8_t last = (uint8_t)(cfg->count - 1);
  bool out = mv < p[0].mv || mv > p[last].mv;
  if (clamped)
    *clamped = out;
  if (mv <= p[0].mv)
    return p[0].lux;
  if (mv >= p[last].mv)
    return p[last].lux;
  uint8_t i = 1;
  while (mv > p[i].mv)
    i++;
  /* mv in (p[i-1].mv, p[i].mv]. */
  int64_t dm = (int64_t)p[i].mv - p[i - 1].mv;
  /* lux * dm exactly; it lies between the two end points' lux, so it is
   * non-negative and (x + dm/2) / dm rounds it to nearest, ties up. */
  int64_t scaled =
      (int64_t)p[i - 1].lux * dm + ((int64_t)mv - p[i - 1].mv) * ((int64_t)p[i].lux - p[i - 1].lux);
  return (uint32_t)((scaled + dm / 2) / dm);
}

int lux_read(struct lux *l, struct lux_reading *out)
{
  assert(l && l->cfg && out);
  uint32_t mv;
  int err = hal_adc_read_mv(l->port, l->cfg->adc_ch, &mv);
  if (err)
    return err;
  out->mv = mv;
  out->lux = lux_from_mv(l->cfg, mv, &out->clamped);
  return 0;
}
