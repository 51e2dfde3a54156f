/* SPDX-License-Identifier: MIT */
/*
 * Constructed series for the detector tests: a daily cycle (288 values a
 * day, a 5-minute sensor) of amplitude 3 around 10, with bounded uniform
 * noise of ±0.3 from a seeded xorshift generator (so every run is the same),
 * and one planted change at value SERIES_CHANGE. The noise is bounded on
 * purpose: the detector treats any value beyond the range seen so far as
 * anomalous, and Gaussian tails set such records now and then while the
 * range is young (docs/ml.md, "Limitations").
 */
#ifndef ML_TEST_SERIES_H
#define ML_TEST_SERIES_H

#include <math.h>
#include <stdint.h>

#define SERIES_LEN 3000
#define SERIES_CHANGE 2000

enum series_kind { SERIES_SPIKE, SERIES_SHIFT, SERIES_VARIANCE, SERIES_FLAT, SERIES_DAILY };

struct series_rng {
  uint64_t s;
};

static inline double series_uniform(struct series_rng *r)
{
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return (double)((r->s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

/* Value i of a series of the given kind. */
static inline double series_value(enum series_kind k, int i, struct series_rng *r)
{
  double day = 10.0 + 3.0 * sin(6.283185307179586 * i / 288.0);
  double e = (series_uniform(r) - 0.5) * 0.6;
  switch (k) {
  case SERIES_SPIKE:
    return day + e + (i == SERIES_CHANGE ? 8.0 : 0.0);
  case SERIES_SHIFT:
    return day + e + (i >= SERIES_CHANGE ? 5.0 : 0.0);
  case SERIES_VARIANCE:
    return day + e * (i >= SERIES_CHANGE ? 4.0 : 1.0);
  case SERIES_FLAT:
    return i >= SERIES_CHANGE ? 10.0 : day + e; /* a stuck sensor */
  case SERIES_DAILY:
  default:
    return day + e;
  }
}

#endif /* ML_TEST_SERIES_H */
