/* SPDX-License-Identifier: MIT */
/*
 * MQ135 driver: divider arithmetic, the power-law curve, the warm-up state
 * and the R0 calibration kept in NVS. Single-precision floats: the ESP32-S3
 * has a single-precision FPU, and the sensor's own tolerance is tens of
 * percent, far above float rounding.
 */
#include "drivers/mq135.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "hal/hal.h"

/* Largest R0 that still fits the u32 NVS value with its rounding. */
#define R0_MAX_OHM 4.0e9f

void mq135_config_default(struct mq135_config *cfg)
{
  assert(cfg);
  cfg->adc_ch = 0;
  cfg->supply_mv = MQ135_DEFAULT_SUPPLY_MV;
  cfg->rl_ohm = MQ135_DEFAULT_RL_OHM;
  cfg->a = MQ135_DEFAULT_A;
  cfg->b = MQ135_DEFAULT_B;
  cfg->clean_air_ppm = MQ135_DEFAULT_CLEAN_AIR_PPM;
  cfg->r0_ohm = 0.0f;
  cfg->warmup_ms = MQ135_DEFAULT_WARMUP_MS;
  cfg->nvs_key = MQ135_DEFAULT_NVS_KEY;
}

static bool config_valid(const struct mq135_config *cfg)
{
  if (cfg->supply_mv == 0 || cfg->rl_ohm == 0)
    return false;
  if (!isfinite(cfg->a) || cfg->a <= 0.0f || !isfinite(cfg->b) || cfg->b == 0.0f)
    return false;
  if (!isfinite(cfg->clean_air_ppm) || cfg->clean_air_ppm <= 0.0f)
    return false;
  if (!isfinite(cfg->r0_ohm) || cfg->r0_ohm < 0.0f || cfg->r0_ohm > R0_MAX_OHM)
    return false;
  if (!cfg->nvs_key)
    return false;
  size_t n = strlen(cfg->nvs_key);
  return n >= 1 && n <= HAL_NVS_KEY_MAX;
}

int mq135_init(struct mq135 *m, struct hal_port *port, const struct mq135_config *cfg)
{
  assert(m && port && cfg);
  if (!config_valid(cfg))
    return FARM_EINVAL;
  m->cfg = cfg;
  m->port = port;
  m->start_ms = hal_clock_ms(port);
  m->r0_ohm = cfg->r0_ohm;
  m->calibrated = false;

  uint32_t stored;
  int err = hal_nvs_get_u32(port, cfg->nvs_key, &stored);
  if (err == FARM_ENOENT)
    return 0;
  if (err)
    return err;
  /* A zero cannot come from mq135_calibrate (it refuses Rs <= 0), so it is
   * damage: fall back to the nominal R0 rather than divide by it. */
  if (stored == 0) {
    hal_log(port, HAL_LOG_WARN, "mq135: stored R0 is 0, ignored");
    return 0;
  }
  m->r0_ohm = (float)stored;
  m->calibrated = true;
  return 0;
}

uint64_t mq135_ready_at(const struct mq135 *m)
{
  assert(m && m->cfg);
  return m->start_ms + m->cfg->warmup_ms;
}

enum mq135_state mq135_state(const struct mq135 *m)
{
  assert(m && m->cfg);
  if (hal_clock_ms(m->port) < mq135_ready_at(m))
    return MQ135_WARMING_UP;
  return m->r0_ohm > 0.0f ? MQ135_READY : MQ135_UNCALIBRATED;
}

float mq135_r0(const struct mq135 *m)
{
  assert(m);
  return m->r0_ohm;
}

bool mq135_calibrated(const struct mq135 *m)
{
  assert(m);
  return m->calibrated;
}

int mq135_rs_from_mv(const struct mq135_config *cfg, uint32_t mv, float *rs_ohm)
{
  assert(cfg && rs_ohm);
  /* Sensor and RL in series across Vc, output taken across RL:
   * Vout = Vc * RL / (Rs + RL), so Rs = RL * (Vc - Vout) / Vout. At 0 mV Rs
   * is infinite (open circuit), at Vc it is zero or negative (short). */
  if (mv == 0 || mv >= cfg->supply_mv)
    return FARM_ERANGE;
  *rs_ohm = (float)cfg->rl_ohm * (float)(cfg->supply_mv - mv) / (float)mv;
  return 0;
}

float mq135_ppm_from_ratio(const struct mq135_config *cfg, float ratio)
{
  assert(cfg && ratio > 0.0f);
  return cfg->a * powf(ratio, cfg->b);
}

float mq135_r0_from_rs(const struct mq135_config *cfg, float rs_ohm)
{
  assert(cfg);
  /* Solve clean_air_ppm = a * (Rs/R0)^b for R0. */
  return rs_ohm / powf(cfg->clean_air_ppm / cfg->a, 1.0f / cfg->b);
}

/* Rs from one ADC conversion. */
static int read_rs(struct mq135 *m, uint32_t *mv, float *rs)
{
  int err = hal_adc_read_mv(m->port, m->cfg->adc_ch, mv);
  if (err)
    return err;
  return mq135_rs_from_mv(m->cfg, *mv, rs);
}

int mq135_read(struct mq135 *m, struct mq135_reading *out)
{
  assert(m && m->cfg && out);
  uint32_t mv;
  float rs;
  int err = read_rs(m, &mv, &rs);
  if (err)
    return err;
  out->mv = mv;
  out->rs_ohm = rs;
  out->state = mq135_state(m);
  if (m->r0_ohm > 0.0f) {
    out->ratio = rs / m->r0_ohm;
    out->ppm = mq135_ppm_from_ratio(m->cfg, out->ratio);
  } else {
    out->ratio = 0.0f;
    out->ppm = 0.0f;
  }
  return 0;
}

int mq135_calibrate(struct mq135 *m, float *r0_ohm)
{
  assert(m && m->cfg);
  if (mq135_state(m) == MQ135_WARMING_UP)
    return FARM_EBUSY;
  uint32_t mv;
  float rs;
  int err = read_rs(m, &mv, &rs);
  if (err)
    return err;
  float r0 = mq135_r0_from_rs(m->cfg, rs);
  /* Only reachable with an extreme divider or curve; a value the NVS word
   * cannot hold is refused rather than truncated. */
  if (!isfinite(r0) || r0 < 0.5f || r0 > R0_MAX_OHM)
    return FARM_ERANGE;
  uint32_t stored = (uint32_t)(r0 + 0.5f);
  err = hal_nvs_set_u32(m->port, m->cfg->nvs_key, stored);
  if (err)
    return err;
  err = hal_nvs_commit(m->port);
  if (err)
    return err;
  /* Use exactly what a reboot will load. */
  m->r0_ohm = (float)stored;
  m->calibrated = true;
  if (r0_ohm)
    *r0_ohm = m->r0_ohm;
  return 0;
}

int mq135_forget(struct mq135 *m)
{
  assert(m && m->cfg);
  int err = hal_nvs_erase(m->port, m->cfg->nvs_key);
  if (err && err != FARM_ENOENT)
    return err;
  err = hal_nvs_commit(m->port);
  if (err)
    return err;
  m->r0_ohm = m->cfg->r0_ohm;
  m->calibrated = false;
  return 0;
}
