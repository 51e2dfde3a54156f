/* SPDX-License-Identifier: MIT */
/*
 * The short-term forecaster of ml-engine, one per (device, metric): additive
 * seasonal exponential smoothing with a daily season (ETS(A,N,A) in the
 * notation of Hyndman et al., "Forecasting with Exponential Smoothing",
 * 2008) on a regular grid of time buckets. Readings are averaged per bucket
 * (the grid is fixed to UTC wall-clock time, so the season's phase does not
 * depend on when a stream starts); each closed bucket updates a level and
 * the offset of its time of day. Buckets without readings leave the state
 * unchanged. The first day only records the profile; forecasts start once
 * a full day has been seen.
 *
 * The error estimate is measured, not assumed: the levels of the last
 * `horizon` buckets are kept, so when a bucket closes the forecast that was
 * made h buckets earlier for it can be rebuilt and its error squared into a
 * running mean per horizon h. A prediction's standard deviation is the root
 * of that mean; until enough errors exist for a horizon it falls back on
 * the model's own formula from the one-step error (Hyndman et al., Table
 * 6.1, class 1: sigma^2 * (1 + (h-1) * alpha^2) for h up to a season).
 *
 * Like the detector it learns online, never looks ahead, holds a fixed-size
 * state owned by the caller (no allocation; about 8 KiB) and can be
 * checkpointed to a buffer and restored bit-identically.
 */
#ifndef ML_FORECAST_H
#define ML_FORECAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ML_FC_DAY_S 86400
/* Finest grid: 5-minute buckets, 288 a day. */
#define ML_FC_SEASON_MAX 288
#define ML_FC_STEP_MIN_S (ML_FC_DAY_S / ML_FC_SEASON_MAX)

/* Defaults (docs/ml.md, "Forecasts"): 15-minute buckets, 12 hours ahead
 * (one night seen from the evening), level and seasonal smoothing. */
#define ML_FC_DEFAULT_STEP_S  900
#define ML_FC_DEFAULT_HORIZON 48
#define ML_FC_DEFAULT_ALPHA   0.1
#define ML_FC_DEFAULT_GAMMA   0.2

/* Errors a horizon needs before its measured spread is used. */
#define ML_FC_MIN_ERRORS 8
/* Window (in errors) of the running mean of squared errors. */
#define ML_FC_ERROR_WINDOW 192
/* A frost risk ends when the lowest forecast is this far above the
 * threshold again, so a forecast hovering at it raises one event. */
#define ML_FC_FROST_HYSTERESIS 0.5

struct ml_forecaster_config {
  uint32_t step_s;  /* bucket width, seconds: divides 86400, >= 300 */
  uint32_t horizon; /* buckets forecast, 1..86400/step_s (one day) */
  double alpha;     /* level smoothing, in (0, 1) */
  double gamma;     /* seasonal smoothing, in (0, 1) */
};

/* The forecaster. Every field is private to the library. */
struct ml_forecaster {
  struct ml_forecaster_config cfg;
  uint32_t season;            /* buckets a day: 86400 / step_s */
  bool started;               /* a reading has been read */
  bool ready;                 /* a full day seen: level and profile set */
  int64_t bucket;             /* index (Unix time / step) of the open bucket */
  double acc;                 /* mean of the readings in the open bucket */
  uint32_t acc_n;             /* and their number */
  int64_t first;              /* first closed bucket (the profile's first day) */
  int64_t last;               /* last closed bucket */
  uint64_t closed;            /* buckets closed */
  double level;               /* while learning: sum of the bucket means */
  uint32_t level_n;           /* while learning: their number */
  double s[ML_FC_SEASON_MAX]; /* offsets by time of day; while learning, the means */
  uint32_t filled[(ML_FC_SEASON_MAX + 31) / 32]; /* while learning: slots seen */
  double ring[ML_FC_SEASON_MAX];                 /* level after bucket k, at k % horizon */
  uint32_t ring_n;                               /* consecutive buckets in ring, <= horizon */
  double mse[ML_FC_SEASON_MAX];                  /* mse[h-1]: mean squared error h ahead */
  uint32_t mse_n[ML_FC_SEASON_MAX];
  bool frost_raised; /* a frost risk is under way (reported) */
};

/* One forecast: the bucket starting at ts_ms (UTC, Unix milliseconds),
 * its expected mean and the standard deviation of that expectation. */
struct ml_forecast {
  int64_t ts_ms;
  uint32_t h; /* buckets after the last closed one, 1..horizon */
  double value;
  double sd;
  bool measured; /* sd from measured errors at this horizon (else the model's) */
};

/* Fills *cfg with the defaults above. */
void ml_forecaster_config_default(struct ml_forecaster_config *cfg);

/* True when cfg is valid (the ranges above). */
bool ml_forecaster_config_valid(const struct ml_forecaster_config *cfg);

/*
 * Initialises fc (NULL cfg: the defaults). Returns 0, or FARM_EINVAL when
 * the configuration is not valid (fc is then untouched).
 */
int ml_forecaster_init(struct ml_forecaster *fc, const struct ml_forecaster_config *cfg);

/*
 * Reads one reading taken at ts_ms (Unix milliseconds, >= 0). Readings come
 * in time order: one in an earlier bucket than the open one is refused.
 * *closed (may be NULL) is set when the reading closed a bucket, i.e. when
 * the forecasts changed. Returns 0, or:
 *   FARM_EINVAL  value is not finite, or ts_ms is negative
 *   FARM_ERANGE  ts_ms falls in a bucket before the open one (late)
 * On error the state is unchanged.
 */
int ml_forecaster_update(struct ml_forecaster *fc, int64_t ts_ms, double value, bool *closed);

/* True when a reading at ts_ms would be taken (not in a bucket before the
 * open one). */
bool ml_forecaster_accepts(const struct ml_forecaster *fc, int64_t ts_ms);

/* True once forecasts with an error estimate are available. */
bool ml_forecaster_ready(const struct ml_forecaster *fc);

/*
 * The forecast h buckets after the last closed bucket (h = 1 is normally
 * the open bucket). Returns 0 and *out, or FARM_EAGAIN while no forecast
 * is available yet (the first day, or too few errors for a spread), or
 * FARM_EINVAL when h is not in 1..horizon.
 */
int ml_forecaster_predict(const struct ml_forecaster *fc, uint32_t h, struct ml_forecast *out);

/* The one-step standard deviation of the errors, 0 before any. */
double ml_forecaster_sigma(const struct ml_forecaster *fc);

/* A frost risk: the lowest forecast over the horizon and how likely it is
 * that the mean of that bucket is at or below the threshold. */
struct ml_frost_risk {
  struct ml_forecast at; /* the lowest forecast */
  double threshold;
  double probability; /* P(mean <= threshold), Gaussian with at.sd */
};

/*
 * Checks the current forecasts against a frost threshold (same unit as the
 * readings). A risk is raised once per episode: when the lowest point
 * forecast over the horizon is at or below threshold and report is true
 * (the caller passes false for readings that must not alert, such as
 * history; the episode then stays unreported until a live check). The
 * episode ends when the lowest forecast is above threshold +
 * ML_FC_FROST_HYSTERESIS. *risk is filled whenever forecasts exist.
 * Returns 1 when a risk is raised now, 0 when not, FARM_EAGAIN without
 * forecasts, FARM_EINVAL when threshold is not finite.
 */
int ml_forecaster_frost(struct ml_forecaster *fc, double threshold, bool report,
                        struct ml_frost_risk *risk);

/* Largest checkpoint (the finest grid and the longest horizon). */
#define ML_FORECASTER_CHECKPOINT_MAX                                                               \
  (16 + 4 + 4 + 8 + 8 + 1 + 1 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 4 + 1 + ML_FC_SEASON_MAX * 8 +     \
   (ML_FC_SEASON_MAX + 31) / 32 * 4 + ML_FC_SEASON_MAX * (8 + 8 + 4) + 4)

/* Bytes of the checkpoint of fc (depends on its step and horizon). */
size_t ml_forecaster_checkpoint_size(const struct ml_forecaster *fc);

/*
 * Serialises fc into buf[0..cap) (format version 1: a 16-byte header with
 * magic "MLFC", the version, the season and horizon and the payload length;
 * the configuration and the state in little-endian order, only the season
 * and horizon entries in use; a CRC-32 of everything before it) and stores
 * the length in *len. Returns 0, or FARM_ENOSPC when cap is too small.
 */
int ml_forecaster_save(const struct ml_forecaster *fc, uint8_t *buf, size_t cap, size_t *len);

/*
 * Restores a forecaster from buf[0..len), untrusted input. On failure *fc is
 * unchanged. Returns 0, or:
 *   FARM_ETRUNCATED   shorter than the header or the checkpoint
 *   FARM_ETRAILING    bytes follow the checkpoint
 *   FARM_EMALFORMED   not a forecaster checkpoint (magic, sizes)
 *   FARM_EUNSUPPORTED another format version
 *   FARM_ECRC         the CRC does not match
 *   FARM_ERANGE       a field is out of range (invalid configuration,
 *                     non-finite or negative values, inconsistent counters)
 */
int ml_forecaster_restore(struct ml_forecaster *fc, const uint8_t *buf, size_t len);

#endif /* ML_FORECAST_H */
