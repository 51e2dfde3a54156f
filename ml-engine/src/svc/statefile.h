/* SPDX-License-Identifier: MIT */
/*
 * The service's checkpoint file: every stream's models, so a restart goes
 * on where the last run stopped instead of relearning from nothing.
 *
 * Format (version 1, little-endian): a 16-byte header — magic "MLSV", the
 * version (u16), 0 (u16), the number of records (u32), a CRC-32 of those 12
 * bytes — then one record per stream: its length (u32), the site, device
 * and metric (each a u8 length and the id), the counters and last reading
 * (readings u64, released u64, last_ts i64, value_ts i64, value f64, score
 * f64), the detector, forecaster and fault-checker checkpoints (each a u32
 * length and the bytes of ml_*_save()), and a CRC-32 of the record from its
 * length on. Streams are written from the least to the most recently used,
 * so reading them back in order restores the eviction order too.
 *
 * The file is written beside its final name and renamed over it after an
 * fsync, so a crash leaves the old checkpoint or the new one, never half of
 * one.
 */
#ifndef MLS_STATEFILE_H
#define MLS_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "streams.h"

/*
 * Writes every stream of t to path. On failure writes a reason to err and
 * returns FARM_EIO (the previous file, if any, is untouched) or
 * FARM_ENOMEM.
 */
int mls_state_save(struct mls_table *t, const char *path, char *err, size_t errlen);

struct mls_state_stats {
  size_t restored; /* streams restored */
  size_t reset;    /* of which one model or more started afresh (its
                      checkpoint was made under another configuration) */
  size_t dropped;  /* records beyond the table's capacity */
};

/*
 * Reads a checkpoint from f into t (which should be empty) under the
 * models m: each stream's detector takes m's threshold; a forecaster saved
 * with another step or horizon, or any model that does not restore, starts
 * afresh. Records read before a damage are kept (each has its own CRC).
 * Returns 0, or FARM_EMALFORMED (with err: what is wrong and where) when
 * the file is damaged or not a checkpoint, FARM_EIO on a read error,
 * FARM_ENOMEM.
 */
int mls_state_read(FILE *f, struct mls_table *t, const struct mls_models *m,
                   struct mls_state_stats *st, char *err, size_t errlen);

#endif /* MLS_STATEFILE_H */
