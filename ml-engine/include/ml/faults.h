/* SPDX-License-Identifier: MIT */
/*
 * Sensor-fault checks of ml-engine, one checker per (device, metric), in
 * front of the detector and the forecaster. Three faults:
 *
 * - out_of_range: a value outside the sensor's physical range (SHT41
 *   datasheet: -40..125 °C, 0..100 %RH; docs/protocol.md §4.6). Such a value
 *   is not a reading: it goes to no model.
 * - stuck: the same value, unchanged, for at least stuck_n readings and
 *   stuck_s seconds — a sensor that stopped measuring and repeats its last
 *   value. A value held at a limit of the range is a saturation (no light at
 *   night, 100 %RH in fog), not a stuck sensor, and is not reported.
 * - spike: one reading that jumps away from the one before and straight
 *   back with the one after, both jumps larger than max(spike_k × the mean
 *   step, spike_min), and the reading after lands within half a jump of the
 *   one before (an electrical glitch, not a change of the air). Telling a
 *   spike from a step needs the next reading, so the checker holds each
 *   reading until the next one arrives and then releases it to the models —
 *   or drops it as a spike, so one glitch neither alerts as an anomaly nor
 *   widens the detector's learned range.
 *
 * Faults are reported once per episode (out of range, stuck) or once per
 * reading (spike), and only for readings flagged ML_FAULT_LIVE: history
 * replayed after an outage is checked (and an episode it starts is reported
 * at the first live reading that continues it) but never alerts by itself.
 * The state is small, fixed and caller-owned; it can be checkpointed.
 */
#ifndef ML_FAULTS_H
#define ML_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ml_fault_kind {
  ML_FAULT_RANGE, /* "out_of_range" */
  ML_FAULT_STUCK, /* "stuck" */
  ML_FAULT_SPIKE, /* "spike" */
  ML_FAULT_KINDS
};

/* The fault's name as written in events: "out_of_range", "stuck", "spike". */
const char *ml_fault_name(enum ml_fault_kind kind);

#define ML_FAULT_DEFAULT_SPIKE_K 10.0
#define ML_FAULT_DEFAULT_STUCK_N 10
#define ML_FAULT_DEFAULT_STUCK_S 3600
/* Steps measured before spikes are looked for (the mean step must exist). */
#define ML_FAULT_WARMUP 20
/* Window, in steps, of the running mean step. */
#define ML_FAULT_STEP_WINDOW 100

struct ml_fault_config {
  double min, max;  /* physical range, inclusive; min <= max */
  double spike_min; /* smallest jump that can be a spike, in the metric's unit (>= 0) */
  double spike_k;   /* ... and in mean steps; 0 turns spike checks off */
  uint32_t stuck_n; /* readings unchanged, >= 2 ... */
  uint32_t stuck_s; /* ... for at least this many seconds; 0 turns stuck checks off */
};

/*
 * The configuration for a metric by name: the project's sensors' ranges
 * (docs/protocol.md §4.6: temp_c -40..125 with spikes from 5 °C, rh_pct
 * 0..100 with spikes from 15 %RH, lux 0..200000 without spike checks since
 * a passing cloud is a real one-reading jump, air_ppm 0..100000), and for
 * any other name every finite value, spikes relative only. stuck_s is
 * ML_FAULT_DEFAULT_STUCK_S; the caller may change it.
 */
void ml_fault_config_for_metric(const char *metric, struct ml_fault_config *cfg);

/* True when cfg is valid (the ranges above; min and max may be ±DBL_MAX). */
bool ml_fault_config_valid(const struct ml_fault_config *cfg);

/* Flag of ml_faults_update(): the reading is live and may alert. */
#define ML_FAULT_LIVE 0x01u

struct ml_fault_event {
  enum ml_fault_kind kind;
  int64_t ts_ms;    /* time of the faulty reading */
  double value;     /* its value */
  double bound;     /* out_of_range: the limit it passed */
  int64_t since_ms; /* stuck: time of the first unchanged reading */
  uint32_t count;   /* stuck: unchanged readings so far */
  double before;    /* spike: the reading before ... */
  double after;     /* ... and after it */
  double jump;      /* spike: the jump size that counted as one */
};

struct ml_fault_result {
  /* A reading (the one before this, normally) passed the spike check:
   * the caller feeds it to its models now, with the flags it came with. */
  bool released;
  int64_t ts_ms;
  double value;
  uint8_t flags;
  /* Faults reported by this reading. */
  size_t n;
  struct ml_fault_event ev[ML_FAULT_KINDS];
};

/* The checker. Every field is private to the library. */
struct ml_faults {
  struct ml_fault_config cfg;
  bool started;
  int64_t last_ts;
  bool has_prev; /* the last reading released */
  double prev;
  int64_t prev_ts;
  bool has_pend; /* the reading held for the spike check */
  double pend;
  int64_t pend_ts;
  uint8_t pend_flags;
  double step; /* running mean of |change| between released readings */
  uint32_t steps;
  double run_value; /* the current run of unchanged values */
  int64_t run_start;
  uint32_t run_n;
  uint8_t reported; /* bit per kind: the episode under way has been reported */
};

/* Initialises f. Returns 0, or FARM_EINVAL for an invalid configuration. */
int ml_faults_init(struct ml_faults *f, const struct ml_fault_config *cfg);

/*
 * Checks one reading (ts_ms strictly after the previous one) and fills *out.
 * flags travel with the reading to its release (ML_FAULT_LIVE and any bits
 * of the caller's). Returns 0, or FARM_EINVAL (value not finite) or
 * FARM_ERANGE (ts_ms not after the previous reading); the state is then
 * unchanged.
 */
int ml_faults_update(struct ml_faults *f, int64_t ts_ms, double value, uint8_t flags,
                     struct ml_fault_result *out);

/* True when a reading at ts_ms would be taken (after the previous one). */
bool ml_faults_accepts(const struct ml_faults *f, int64_t ts_ms);

/* Faults whose episode is under way (bit 1 << kind), for the status topic. */
unsigned ml_faults_active(const struct ml_faults *f);

/* Bytes of a checkpoint: 16-byte header ("MLFL", version, payload length),
 * the state, a CRC-32. The configuration is not saved: it is the caller's. */
#define ML_FAULTS_CHECKPOINT_SIZE (16 + 77 + 4)

/* Serialises f. Returns 0, or FARM_ENOSPC when cap < ML_FAULTS_CHECKPOINT_SIZE. */
int ml_faults_save(const struct ml_faults *f, uint8_t *buf, size_t cap, size_t *len);

/*
 * Restores a checker from buf[0..len) (untrusted) with the configuration
 * cfg. On failure *f is unchanged. Returns 0, or FARM_EINVAL (cfg invalid),
 * FARM_ETRUNCATED, FARM_ETRAILING, FARM_EMALFORMED, FARM_EUNSUPPORTED,
 * FARM_ECRC, FARM_ERANGE as ml_detector_restore().
 */
int ml_faults_restore(struct ml_faults *f, const struct ml_fault_config *cfg, const uint8_t *buf,
                      size_t len);

#endif /* ML_FAULTS_H */
