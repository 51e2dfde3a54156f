/* SPDX-License-Identifier: MIT */
/*
 * Constants of the detector shared between its files (the algorithm in
 * detector.c, the checkpoint in checkpoint.c). Each was chosen by measuring
 * on the NAB corpus (docs/ml.md lists them and how).
 */
#ifndef ML_INTERNAL_H
#define ML_INTERNAL_H

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

#endif /* ML_INTERNAL_H */
