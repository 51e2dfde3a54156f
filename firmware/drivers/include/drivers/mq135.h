/* SPDX-License-Identifier: MIT */
/*
 * Driver for the MQ135 air-quality sensor read through a load-resistor
 * divider on an ADC channel. The sensor's resistance Rs comes from the
 * divider, Rs/R0 becomes a CO2-equivalent concentration with the usual
 * power-law fit of the datasheet's sensitivity curve, and R0 (Rs in clean
 * air) is calibrated in place and kept in NVS. The heater needs time before
 * readings mean anything: the driver reports that as a state in every
 * reading instead of hiding it, and refuses to calibrate while warming up.
 */
#ifndef DRIVERS_MQ135_H
#define DRIVERS_MQ135_H

#include <stdbool.h>
#include <stdint.h>

struct hal_port;

/* Power-law fit ppm = a * (Rs/R0)^b of the MQ135 datasheet's CO2 curve (the
 * fit commonly used for this sensor). */
#define MQ135_DEFAULT_A 116.6020682f
#define MQ135_DEFAULT_B (-2.769034857f)
/* Outdoor CO2 today (NOAA global mean, about 420 ppm in 2023-2024): the
 * concentration assumed during a clean-air calibration. */
#define MQ135_DEFAULT_CLEAN_AIR_PPM 420.0f
/* The datasheet asks for 24 h of preheating before first use; after that a
 * few minutes of heater time make readings usable, which is what this
 * readiness delay models (configurable). */
#define MQ135_DEFAULT_WARMUP_MS 180000u
#define MQ135_DEFAULT_SUPPLY_MV 5000u
#define MQ135_DEFAULT_RL_OHM    10000u
#define MQ135_DEFAULT_NVS_KEY   "mq135_r0"

struct mq135_config {
  uint8_t adc_ch;      /* hal_adc_read_mv channel of the divider output */
  uint32_t supply_mv;  /* Vc across sensor + RL, > 0 */
  uint32_t rl_ohm;     /* load resistor, > 0 */
  float a;             /* > 0 */
  float b;             /* != 0 */
  float clean_air_ppm; /* > 0: reference for mq135_calibrate */
  float r0_ohm;        /* nominal R0 until calibrated; 0 = none */
  uint32_t warmup_ms;  /* from mq135_init to usable readings */
  const char *nvs_key; /* 1..HAL_NVS_KEY_MAX characters, for R0 */
};

enum mq135_state {
  MQ135_WARMING_UP,   /* heater not yet warm: values are not meaningful */
  MQ135_UNCALIBRATED, /* warm, but no R0: Rs only, no ratio or ppm */
  MQ135_READY,
};

/* The config is not copied: it must outlive the context. */
struct mq135 {
  const struct mq135_config *cfg;
  struct hal_port *port;
  uint64_t start_ms; /* hal_clock_ms() at init: heater power-on */
  float r0_ohm;      /* 0 while unknown */
  bool calibrated;   /* r0_ohm came from a calibration (now or in NVS) */
};

struct mq135_reading {
  uint32_t mv;            /* divider output */
  float rs_ohm;           /* sensor resistance */
  float ratio;            /* Rs/R0; 0 when no R0 */
  float ppm;              /* CO2-equivalent; 0 when no R0 */
  enum mq135_state state; /* flag the values unless MQ135_READY */
};

/* Fills cfg with the defaults above (ADC channel 0, no nominal R0). */
void mq135_config_default(struct mq135_config *cfg);

/*
 * Binds a context, starts the warm-up clock (call it when the heater is
 * powered) and loads R0 from NVS under cfg->nvs_key if a calibration was
 * stored (a stored 0 is ignored). Returns 0, FARM_EINVAL (config), or an
 * NVS error other than FARM_ENOENT (FARM_ETYPE when the key holds another
 * type, FARM_EIO).
 */
int mq135_init(struct mq135 *m, struct hal_port *port, const struct mq135_config *cfg);

/* The current state and the hal_clock_ms() at which warm-up ends. */
enum mq135_state mq135_state(const struct mq135 *m);
uint64_t mq135_ready_at(const struct mq135 *m);

/* The R0 in use (0 when none) and whether it was calibrated. */
float mq135_r0(const struct mq135 *m);
bool mq135_calibrated(const struct mq135 *m);

/*
 * One reading. Returns 0 and fills *out (also while warming up: out->state
 * says so); an ADC error (FARM_EINVAL, FARM_EIO); FARM_ERANGE when the
 * divider reads 0 mV (sensor open or unpowered) or at least the supply
 * (sensor shorted): no resistance can be derived and *out is untouched.
 */
int mq135_read(struct mq135 *m, struct mq135_reading *out);

/*
 * Clean-air calibration: reads Rs, takes R0 = Rs / (clean_air_ppm / a)^(1/b),
 * stores it (rounded to whole ohms) in NVS and commits. Returns 0 and the R0
 * in *r0_ohm (may be NULL); FARM_EBUSY while warming up (a cold sensor would
 * store a wrong R0); the errors of mq135_read; NVS errors (the R0 in use is
 * then unchanged).
 */
int mq135_calibrate(struct mq135 *m, float *r0_ohm);

/* Forgets the calibration: erases the NVS key (absent is fine) and commits;
 * R0 falls back to cfg->r0_ohm. Returns 0 or an NVS error. */
int mq135_forget(struct mq135 *m);

/* The divider: Rs = RL * (Vc - Vout) / Vout. Returns 0 or FARM_ERANGE
 * (mv == 0 or mv >= supply). */
int mq135_rs_from_mv(const struct mq135_config *cfg, uint32_t mv, float *rs_ohm);

/* ppm = a * ratio^b; ratio > 0. */
float mq135_ppm_from_ratio(const struct mq135_config *cfg, float ratio);

/* R0 = Rs / (clean_air_ppm / a)^(1/b): the R0 for which Rs reads as
 * clean_air_ppm. */
float mq135_r0_from_rs(const struct mq135_config *cfg, float rs_ohm);

#endif /* DRIVERS_MQ135_H */
