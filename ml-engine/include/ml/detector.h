/* SPDX-License-Identifier: MIT */
/*
 * The streaming anomaly detector of ml-engine, one instance per
 * (device, metric). It reads one value at a time, learns online from the
 * first value, never looks ahead, holds a fixed-size state (no allocation:
 * the caller owns the struct, about 4.4 KiB) and answers each value with an
 * anomaly score in [0, 1] in well under a microsecond. A score at or above
 * the configured threshold is a detection; after one, the detector holds
 * its scores below the threshold while the anomaly lasts (one event per
 * anomaly). The state can be checkpointed to a caller buffer and restored,
 * so a restart resumes where it stopped with bit-identical scores.
 *
 * How it works (docs/ml.md has the full design and its measurement on NAB):
 * three component detectors — novelty of the recent sequence of quantised
 * values (contexts), a shift of the short-term mean and a change of the
 * short-term variance against long-term statistics — each calibrated
 * against its own history into a tail probability, fused by taking the
 * most surprising; a value beyond the range seen so far scores 1.
 */
#ifndef ML_DETECTOR_H
#define ML_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The documented default threshold (docs/ml.md: chosen on NAB). */
#define ML_DEFAULT_THRESHOLD 0.45
/* Values read before the first non-zero score. */
#define ML_DEFAULT_LEARN 300
/* Values after a detection during which scores are held at 0; the hold is
 * renewed while the anomaly goes on. */
#define ML_DEFAULT_REST 20

struct ml_detector_config {
  double threshold; /* detection threshold, in (0, 1] */
  uint32_t learn;   /* values read while learning, scored 0 */
  uint32_t rest;    /* hold after a detection, in values (0: none) */
};

#define ML_CTX_ORDER 3     /* longest context, in quantised values */
#define ML_CTX_SLOTS 1024  /* context memory (fingerprints) per detector */
#define ML_NCOMP 3         /* component detectors fused into one score */

/* Running calibration of one component's raw score: long-term mean and
 * variance of its short-term average, and that average. */
struct ml_calib {
  double mean, var, avg;
};

/* The detector. Every field is private to the library; the struct has a
 * fixed size, so a service can keep one per stream in an array. */
struct ml_detector {
  struct ml_detector_config cfg;
  uint64_t n;                 /* values read */
  double lo, hi;              /* range of the values read */
  double grid0, grid_step;    /* quantisation grid, fixed once learned */
  double m_fast, v_fast;      /* short-term mean and variance */
  double m_slow, v_slow;      /* long-term mean and variance */
  uint16_t sym[ML_CTX_ORDER]; /* last quantised values, newest first */
  uint32_t ctx[ML_CTX_SLOTS]; /* fingerprints of contexts seen, 0 = empty */
  struct ml_calib cal[ML_NCOMP];
  uint32_t rest_left;         /* values left in the current hold */
};

/* Fills *cfg with the defaults above. */
void ml_detector_config_default(struct ml_detector_config *cfg);

/*
 * Initialises d for a new stream with the configuration cfg (copied; NULL
 * means the defaults). Returns 0, or FARM_EINVAL when cfg->threshold is not
 * in (0, 1] (d is then untouched).
 */
int ml_detector_init(struct ml_detector *d, const struct ml_detector_config *cfg);

/*
 * Reads the next value of the stream and stores its anomaly score, in
 * [0, 1], in *score. Returns 0, or FARM_EINVAL when value is NaN or
 * infinite (the state is then unchanged and *score untouched).
 */
int ml_detector_update(struct ml_detector *d, double value, double *score);

/*
 * Changes the detection threshold of a running (or restored) detector.
 * Returns 0, or FARM_EINVAL when threshold is not in (0, 1].
 */
int ml_detector_set_threshold(struct ml_detector *d, double threshold);

/* True when score is a detection under d's configuration. */
bool ml_detector_is_detection(const struct ml_detector *d, double score);

/* Bytes of a checkpoint (the same for every state): ML_CHECKPOINT_SIZE. */
#define ML_CHECKPOINT_SIZE                                                   \
  (16 + 8 + 4 + 4 + 8 + 8 * 8 + 2 * ML_CTX_ORDER + 4 * ML_CTX_SLOTS +       \
   24 * ML_NCOMP + 4 + 4)

/*
 * Serialises d into buf[0..cap) (format version 1: a 16-byte header with
 * magic "MLDT", the version and the payload length, the configuration and
 * state in little-endian order, then a CRC-32 of everything before it) and
 * stores the length, ML_CHECKPOINT_SIZE, in *len. The format does not
 * depend on the host's endianness or struct layout. Returns 0, or
 * FARM_ENOSPC when cap < ML_CHECKPOINT_SIZE.
 */
int ml_detector_save(const struct ml_detector *d, uint8_t *buf, size_t cap,
                     size_t *len);

/*
 * Restores a detector from buf[0..len) — untrusted input, a file or a
 * retained message. On success *d continues exactly where the saved one
 * stopped, configuration included. On failure *d is unchanged. Returns 0, or:
 *   FARM_ETRUNCATED   len is shorter than the header or the checkpoint
 *   FARM_ETRAILING    bytes follow the checkpoint
 *   FARM_EMALFORMED   not a checkpoint (wrong magic or payload length)
 *   FARM_EUNSUPPORTED a checkpoint of another format version
 *   FARM_ECRC         the CRC does not match (corruption)
 *   FARM_ERANGE       a field is out of range (NaN, negative variance,
 *                     threshold outside (0, 1], ...): crafted or buggy data
 */
int ml_detector_restore(struct ml_detector *d, const uint8_t *buf, size_t len);

/* CRC-32 (ISO-HDLC: poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF;
 * check value of "123456789" 0xCBF43926), as used by the checkpoint. */
uint32_t ml_crc32(const void *data, size_t len);

#endif /* ML_DETECTOR_H */
