/* SPDX-License-Identifier: MIT */
/*
 * The forecaster (see ml/forecast.h and docs/ml.md, "Forecasts"): additive
 * seasonal exponential smoothing on UTC time buckets, its measured error per
 * horizon, the frost check and the checkpoint. Per reading the work is an
 * add and a divide; per closed bucket, one pass over the horizon.
 */
#include "ml/forecast.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"
#include "ml/detector.h" /* ml_crc32 */

void ml_forecaster_config_default(struct ml_forecaster_config *cfg)
{
  cfg->step_s = ML_FC_DEFAULT_STEP_S;
  cfg->horizon = ML_FC_DEFAULT_HORIZON;
  cfg->alpha = ML_FC_DEFAULT_ALPHA;
  cfg->gamma = ML_FC_DEFAULT_GAMMA;
}

bool ml_forecaster_config_valid(const struct ml_forecaster_config *cfg)
{
  if (cfg->step_s < ML_FC_STEP_MIN_S || cfg->step_s > ML_FC_DAY_S || ML_FC_DAY_S % cfg->step_s != 0)
    return false;
  uint32_t season = ML_FC_DAY_S / cfg->step_s;
  return cfg->horizon >= 1 && cfg->horizon <= season && cfg->alpha > 0.0 && cfg->alpha < 1.0 &&
         cfg->gamma > 0.0 && cfg->gamma < 1.0;
}

int ml_forecaster_init(struct ml_forecaster *fc, const struct ml_forecaster_config *cfg)
{
  struct ml_forecaster_config def;
  if (cfg == NULL) {
    ml_forecaster_config_default(&def);
    cfg = &def;
  }
  if (!ml_forecaster_config_valid(cfg))
    return FARM_EINVAL;
  memset(fc, 0, sizeof *fc);
  fc->cfg = *cfg;
  fc->season = ML_FC_DAY_S / cfg->step_s;
  return 0;
}

/* k mod n for any sign of k (bucket indexes are never negative, but the
 * arithmetic should not depend on it). */
static uint32_t wrap(int64_t k, uint32_t n)
{
  int64_t r = k % (int64_t)n;
  return (uint32_t)(r < 0 ? r + n : r);
}

static bool is_filled(const struct ml_forecaster *fc, uint32_t slot)
{
  return (fc->filled[slot / 32] >> (slot % 32)) & 1u;
}

/*
 * End of the first day: the level is the day's mean and each time of day's
 * offset its bucket mean minus the level (the classical start of
 * Holt-Winters). Times of day without a reading get an offset interpolated
 * between the nearest ones on either side, around the clock.
 */
static void finish_learning(struct ml_forecaster *fc)
{
  assert(fc->level_n > 0);
  uint32_t m = fc->season;
  fc->level /= fc->level_n;
  for (uint32_t i = 0; i < m; i++)
    if (is_filled(fc, i))
      fc->s[i] -= fc->level;
  double interp[ML_FC_SEASON_MAX];
  for (uint32_t i = 0; i < m; i++) {
    interp[i] = fc->s[i];
    if (is_filled(fc, i))
      continue;
    uint32_t dp = 1, dn = 1;
    while (!is_filled(fc, (i + m - dp) % m))
      dp++;
    while (!is_filled(fc, (i + dn) % m))
      dn++;
    double sp = fc->s[(i + m - dp) % m], sn = fc->s[(i + dn) % m];
    interp[i] = (sp * dn + sn * dp) / (double)(dp + dn);
  }
  memcpy(fc->s, interp, m * sizeof fc->s[0]);
  memset(fc->filled, 0, sizeof fc->filled);
  fc->level_n = 0;
  fc->ready = true;
  fc->ring_n = 0;
}

/* Folds the mean y of bucket t (the open one) into the model. */
static void close_bucket(struct ml_forecaster *fc, int64_t t, double y)
{
  uint32_t m = fc->season, H = fc->cfg.horizon;
  if (fc->closed == 0)
    fc->first = t;
  if (!fc->ready) {
    if (t - fc->first < (int64_t)m) {
      /* Within the first day each time of day occurs once. */
      uint32_t slot = wrap(t, m);
      fc->s[slot] = y;
      fc->filled[slot / 32] |= 1u << (slot % 32);
      fc->level += y;
      fc->level_n++;
      fc->last = t;
      fc->closed++;
      return;
    }
    finish_learning(fc);
  } else if (t - fc->last > 1 && fc->ring_n > 0) {
    /* Buckets without readings changed nothing: the forecasts "made" at
     * their end are those of the last level. Only the latest H matter. */
    int64_t from = fc->last + 1;
    if (t - from > (int64_t)H)
      from = t - H;
    for (int64_t k = from; k < t; k++)
      fc->ring[wrap(k, H)] = fc->level;
    uint64_t n = (uint64_t)fc->ring_n + (uint64_t)(t - fc->last - 1);
    fc->ring_n = n > H ? H : (uint32_t)n;
  }

  uint32_t slot = wrap(t, m);
  double base = fc->s[slot];
  /* The forecast made h buckets ago for this bucket was the level then
   * plus this time of day's offset, which has not changed since (each
   * offset changes once a day and h <= one day). */
  for (uint32_t h = 1; h <= fc->ring_n; h++) {
    double e = y - (fc->ring[wrap(t - h, H)] + base);
    uint32_t n = fc->mse_n[h - 1];
    double w = 1.0 / (double)(n + 1 < ML_FC_ERROR_WINDOW ? n + 1 : ML_FC_ERROR_WINDOW);
    fc->mse[h - 1] += w * (e * e - fc->mse[h - 1]);
    if (n < ML_FC_ERROR_WINDOW)
      fc->mse_n[h - 1] = n + 1;
  }
  /* Error-correction form of ETS(A,N,A) (Hyndman et al. 2008, §2.5.3). */
  double e1 = y - (fc->level + base);
  fc->level += fc->cfg.alpha * e1;
  fc->s[slot] += fc->cfg.gamma * (1.0 - fc->cfg.alpha) * e1;
  fc->ring[wrap(t, H)] = fc->level;
  if (fc->ring_n < H)
    fc->ring_n++;
  fc->last = t;
  fc->closed++;
}

bool ml_forecaster_accepts(const struct ml_forecaster *fc, int64_t ts_ms)
{
  return ts_ms >= 0 && (!fc->started || ts_ms / ((int64_t)fc->cfg.step_s * 1000) >= fc->bucket);
}

int ml_forecaster_update(struct ml_forecaster *fc, int64_t ts_ms, double value, bool *closed)
{
  if (!isfinite(value) || ts_ms < 0)
    return FARM_EINVAL;
  if (!ml_forecaster_accepts(fc, ts_ms))
    return FARM_ERANGE;
  int64_t b = ts_ms / ((int64_t)fc->cfg.step_s * 1000);
  bool did_close = false;
  if (!fc->started) {
    fc->started = true;
    fc->bucket = b;
  } else if (b > fc->bucket) {
    close_bucket(fc, fc->bucket, fc->acc);
    did_close = true;
    fc->bucket = b;
    fc->acc_n = 0;
  }
  /* A running mean: no sum to overflow, no loss of precision on long buckets. */
  fc->acc_n++;
  fc->acc = fc->acc_n == 1 ? value : fc->acc + (value - fc->acc) / fc->acc_n;
  if (closed != NULL)
    *closed = did_close;
  return 0;
}

/* Spread of the forecast h ahead; false when none can be given yet. */
static bool spread(const struct ml_forecaster *fc, uint32_t h, double *sd, bool *measured)
{
  if (fc->mse_n[h - 1] >= ML_FC_MIN_ERRORS) {
    *sd = sqrt(fc->mse[h - 1]);
    *measured = true;
    return true;
  }
  if (fc->mse_n[0] < ML_FC_MIN_ERRORS)
    return false;
  /* Hyndman et al. 2008, Table 6.1, class 1, ETS(A,N,A) for h <= m. */
  double a = fc->cfg.alpha;
  *sd = sqrt(fc->mse[0] * (1.0 + (double)(h - 1) * a * a));
  *measured = false;
  return true;
}

bool ml_forecaster_ready(const struct ml_forecaster *fc)
{
  return fc->ready && fc->mse_n[0] >= ML_FC_MIN_ERRORS;
}

int ml_forecaster_predict(const struct ml_forecaster *fc, uint32_t h, struct ml_forecast *out)
{
  if (h < 1 || h > fc->cfg.horizon)
    return FARM_EINVAL;
  double sd;
  bool measured;
  if (!fc->ready || !spread(fc, h, &sd, &measured))
    return FARM_EAGAIN;
  int64_t t = fc->last + h;
  out->ts_ms = t * (int64_t)fc->cfg.step_s * 1000;
  out->h = h;
  out->value = fc->level + fc->s[wrap(t, fc->season)];
  out->sd = sd;
  out->measured = measured;
  return 0;
}

double ml_forecaster_sigma(const struct ml_forecaster *fc)
{
  return fc->mse_n[0] > 0 ? sqrt(fc->mse[0]) : 0.0;
}

int ml_forecaster_frost(struct ml_forecaster *fc, double threshold, bool report,
                        struct ml_frost_risk *risk)
{
  if (!isfinite(threshold))
    return FARM_EINVAL;
  struct ml_forecast low;
  for (uint32_t h = 1; h <= fc->cfg.horizon; h++) {
    struct ml_forecast f;
    int rc = ml_forecaster_predict(fc, h, &f);
    if (rc != 0)
      return rc;
    if (h == 1 || f.value < low.value)
      low = f;
  }
  risk->at = low;
  risk->threshold = threshold;
  if (low.sd > 0.0)
    risk->probability = 0.5 * erfc((low.value - threshold) / (low.sd * sqrt(2.0)));
  else
    risk->probability = low.value <= threshold ? 1.0 : 0.0;
  if (low.value > threshold + ML_FC_FROST_HYSTERESIS) {
    fc->frost_raised = false;
    return 0;
  }
  if (low.value <= threshold && report && !fc->frost_raised) {
    fc->frost_raised = true;
    return 1;
  }
  return 0;
}

/* ---- checkpoint ---- */

static const uint8_t MAGIC[4] = {'M', 'L', 'F', 'C'};
#define VERSION 1
#define HEADER  16
/* Bytes of the fixed fields of visit(), in order. */
#define FIXED    (4 + 4 + 8 + 8 + 1 + 1 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 4 + 1)
#define WORDS(m) (((m) + 31) / 32)

static size_t size_for(uint32_t season, uint32_t horizon)
{
  return HEADER + FIXED + season * 8u + WORDS(season) * 4u + horizon * (8u + 8u + 4u) + 4u;
}

_Static_assert(ML_FORECASTER_CHECKPOINT_MAX == HEADER + FIXED + ML_FC_SEASON_MAX * 8 +
                                                   WORDS(ML_FC_SEASON_MAX) * 4 +
                                                   ML_FC_SEASON_MAX * (8 + 8 + 4) + 4,
               "ML_FORECASTER_CHECKPOINT_MAX matches the format");

size_t ml_forecaster_checkpoint_size(const struct ml_forecaster *fc)
{
  return size_for(fc->season, fc->cfg.horizon);
}

/* The payload, in order; the arrays' lengths come from the header. */
static void visit(struct ml__cursor *c, struct ml_forecaster *fc, uint32_t season, uint32_t horizon)
{
  ml__f_u32(c, &fc->cfg.step_s);
  ml__f_u32(c, &fc->cfg.horizon);
  ml__f_f64(c, &fc->cfg.alpha);
  ml__f_f64(c, &fc->cfg.gamma);
  ml__f_bool(c, &fc->started);
  ml__f_bool(c, &fc->ready);
  ml__f_i64(c, &fc->bucket);
  ml__f_f64(c, &fc->acc);
  ml__f_u32(c, &fc->acc_n);
  ml__f_i64(c, &fc->first);
  ml__f_i64(c, &fc->last);
  ml__f_u64(c, &fc->closed);
  ml__f_f64(c, &fc->level);
  ml__f_u32(c, &fc->level_n);
  ml__f_u32(c, &fc->ring_n);
  ml__f_bool(c, &fc->frost_raised);
  for (uint32_t i = 0; i < season; i++)
    ml__f_f64(c, &fc->s[i]);
  for (uint32_t i = 0; i < WORDS(season); i++)
    ml__f_u32(c, &fc->filled[i]);
  for (uint32_t i = 0; i < horizon; i++) {
    ml__f_f64(c, &fc->ring[i]);
    ml__f_f64(c, &fc->mse[i]);
    ml__f_u32(c, &fc->mse_n[i]);
  }
}

int ml_forecaster_save(const struct ml_forecaster *fc, uint8_t *buf, size_t cap, size_t *len)
{
  size_t need = ml_forecaster_checkpoint_size(fc);
  if (cap < need)
    return FARM_ENOSPC;
  memcpy(buf, MAGIC, 4);
  ml__put_le(buf + 4, VERSION, 2);
  ml__put_le(buf + 6, fc->season, 2);
  ml__put_le(buf + 8, fc->cfg.horizon, 4);
  ml__put_le(buf + 12, need - HEADER - 4, 4);
  struct ml_forecaster copy = *fc; /* visit() takes a mutable forecaster */
  struct ml__cursor c = {buf, HEADER, true, false};
  visit(&c, &copy, fc->season, fc->cfg.horizon);
  assert(c.off == need - 4);
  ml__put_le(buf + c.off, ml_crc32(buf, c.off), 4);
  *len = need;
  return 0;
}

/* The invariants the update and the forecasts rely on. */
static bool plausible(const struct ml_forecaster *fc)
{
  if (!ml_forecaster_config_valid(&fc->cfg) || fc->season != ML_FC_DAY_S / fc->cfg.step_s)
    return false;
  uint32_t m = fc->season, H = fc->cfg.horizon;
  const double fields[] = {fc->acc, fc->level};
  if (!ml__finite_all(fields, 2) || !ml__finite_all(fc->s, m) || !ml__finite_all(fc->ring, H) ||
      !ml__finite_all(fc->mse, H))
    return false;
  /* Bucket indexes stay within what Unix milliseconds can reach. */
  int64_t max_bucket = INT64_MAX / 1000 / fc->cfg.step_s - ML_FC_SEASON_MAX;
  if (fc->bucket < 0 || fc->bucket > max_bucket)
    return false;
  if (!fc->started && (fc->closed != 0 || fc->acc_n != 0 || fc->ready))
    return false;
  if (fc->started && fc->acc_n == 0)
    return false; /* the open bucket always holds the reading that opened it */
  if (fc->closed > 0 && !(fc->first >= 0 && fc->first <= fc->last && fc->last < fc->bucket))
    return false;
  if (fc->ready) {
    if (fc->level_n != 0 || fc->last - fc->first < (int64_t)m)
      return false;
    for (uint32_t i = 0; i < WORDS(m); i++)
      if (fc->filled[i] != 0)
        return false;
  } else {
    /* Learning: every bucket so far lies in the first day, once each. */
    if (fc->closed > m || fc->level_n != fc->closed || fc->ring_n != 0 || fc->frost_raised)
      return false;
    if (fc->closed > 0 && fc->last - fc->first >= (int64_t)m)
      return false;
    uint32_t bits = 0;
    for (uint32_t i = 0; i < WORDS(m); i++)
      bits += (uint32_t)__builtin_popcount(fc->filled[i]);
    if (bits != fc->closed)
      return false;
    for (uint32_t i = m; i < WORDS(m) * 32; i++)
      if (is_filled(fc, i))
        return false;
  }
  if (fc->ring_n > H)
    return false;
  for (uint32_t i = 0; i < H; i++)
    if (fc->mse[i] < 0.0 || fc->mse_n[i] > ML_FC_ERROR_WINDOW)
      return false;
  return true;
}

int ml_forecaster_restore(struct ml_forecaster *fc, const uint8_t *buf, size_t len)
{
  if (len < HEADER)
    return FARM_ETRUNCATED;
  if (memcmp(buf, MAGIC, 4) != 0)
    return FARM_EMALFORMED;
  if (ml__get_le(buf + 4, 2) != VERSION)
    return FARM_EUNSUPPORTED;
  uint32_t season = (uint32_t)ml__get_le(buf + 6, 2);
  uint32_t horizon = (uint32_t)ml__get_le(buf + 8, 4);
  if (season < 1 || season > ML_FC_SEASON_MAX || horizon < 1 || horizon > season)
    return FARM_EMALFORMED;
  size_t need = size_for(season, horizon);
  if (ml__get_le(buf + 12, 4) != need - HEADER - 4)
    return FARM_EMALFORMED;
  if (len < need)
    return FARM_ETRUNCATED;
  if (len > need)
    return FARM_ETRAILING;
  if (ml_crc32(buf, need - 4) != ml__get_le(buf + need - 4, 4))
    return FARM_ECRC;

  struct ml_forecaster tmp;
  memset(&tmp, 0, sizeof tmp);
  struct ml__cursor c = {(uint8_t *)(uintptr_t)buf, HEADER, false, false};
  visit(&c, &tmp, season, horizon);
  tmp.season = season;
  if (c.bad || tmp.cfg.horizon != horizon || !plausible(&tmp))
    return FARM_ERANGE;
  *fc = tmp;
  return 0;
}
