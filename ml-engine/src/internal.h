/* SPDX-License-Identifier: MIT */
/*
 * What the files of the library share without making it public: the
 * detector's constants (the algorithm in detector.c, its checkpoint in
 * checkpoint.c; each was chosen by measuring on the NAB corpus, docs/ml.md
 * lists them and how) and the little-endian field cursor every checkpoint
 * format of the library is written and read with (wire.c).
 */
#ifndef ML_INTERNAL_H
#define ML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Quantisation: this many cells over the range learned from the first
 * ML__GRID_FREEZE values; cells beyond it exist up to ±ML__GRID_CELLS. */
#define ML__GRID_LEVELS 3
#define ML__GRID_FREEZE 250
#define ML__GRID_CELLS 1000
/* Symbols of the fixed grid are cell + ML__SYM_GRID_BASE (1000..3000);
 * symbols below ML__GRID_LEVELS are those of the learning grid. */
#define ML__SYM_GRID_BASE 2000
#define ML__SYM_MAX (ML__SYM_GRID_BASE + ML__GRID_CELLS)

/* Short- and long-term exponential windows, in values. */
#define ML__FAST_WINDOW 4.0
#define ML__SLOW_WINDOW 1000.0
/* Part of the range added to the long-term deviation (scale floor). */
#define ML__SCALE_FLOOR 0.01
/* Part of the range a value must pass the extremes by to score 1. */
#define ML__RANGE_TOLERANCE 0.01

/* Calibration: values before it starts, its short average and long
 * window (values), and the tail probability 10^-DECADES that scores 1. */
#define ML__CAL_WARMUP 30
#define ML__CAL_SHORT 5.0
#define ML__CAL_LONG 1000
#define ML__CAL_DECADES 10.0

/*
 * A cursor that either writes fields to buf or reads them from it, so one
 * field list per format drives both directions and saving and restoring
 * can never disagree on the order. Bounds are the caller's: each format
 * has a fixed length (or one computed from its header) checked before the
 * first field is visited.
 */
struct ml__cursor {
  uint8_t *buf;
  size_t off;
  bool writing;
  bool bad; /* reading: a field held a value no writer produces */
};

void ml__put_le(uint8_t *p, uint64_t v, int n);
uint64_t ml__get_le(const uint8_t *p, int n);
void ml__f_u8(struct ml__cursor *c, uint8_t *v);
void ml__f_u16(struct ml__cursor *c, uint16_t *v);
void ml__f_u32(struct ml__cursor *c, uint32_t *v);
void ml__f_u64(struct ml__cursor *c, uint64_t *v);
void ml__f_i64(struct ml__cursor *c, int64_t *v);
/* Doubles travel as their IEEE 754 bits, so a restore is bit-exact. */
void ml__f_f64(struct ml__cursor *c, double *v);
void ml__f_bool(struct ml__cursor *c, bool *v);
/* True when every v[0..n) is finite. */
bool ml__finite_all(const double *v, size_t n);

#endif /* ML_INTERNAL_H */
