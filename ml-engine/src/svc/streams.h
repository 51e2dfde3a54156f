/* SPDX-License-Identifier: MIT */
/*
 * The service's streams: one detector, forecaster and fault checker per
 * (site, device, metric), in a hash table with a fixed capacity. When it is
 * full the least recently updated stream is evicted (it relearns from
 * nothing if it comes back), so memory stays bounded whatever devices
 * appear. Streams are also grouped by device, since the status topic
 * carries all the metrics of a device in one retained message.
 *
 * Ownership: mls_table_new() allocates the table; streams and devices are
 * allocated by mls_table_add() and freed on eviction or by
 * mls_table_free(). Pointers to a stream stay valid until it is evicted.
 */
#ifndef MLS_STREAMS_H
#define MLS_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "farmd/topic.h"
#include "ml/detector.h"
#include "ml/faults.h"
#include "ml/forecast.h"

/* Metrics of one device, at most: a device beyond it gets no new stream. */
#define MLS_DEVICE_METRICS 32

/* How every stream's models are set up. */
struct mls_models {
  struct ml_detector_config det;
  struct ml_forecaster_config fc;
  uint32_t stuck_s; /* replaces the metric table's default */
};

struct mls_device;

struct mls_stream {
  char metric[FD_ID_MAX + 1];
  struct mls_device *dev;
  uint64_t readings; /* readings accepted (in time order) */
  uint64_t released; /* of which passed to the models */
  int64_t last_ts;   /* time of the last accepted reading, Unix ms */
  int64_t value_ts;  /* the last reading passed to the models ... */
  double value;      /* ... its value ... */
  double score;      /* ... and its anomaly score */
  struct ml_detector det;
  struct ml_forecaster fc;
  struct ml_faults flt;
  /* private to the table */
  uint64_t hash;
  struct mls_stream *hnext, *older, *newer;
};

struct mls_device {
  char site[FD_ID_MAX + 1];
  char device[FD_ID_MAX + 1];
  struct mls_stream *streams[MLS_DEVICE_METRICS];
  size_t n;
  bool dirty; /* changed since its status was last published */
  /* private to the table */
  uint64_t hash;
  struct mls_device *hnext, *prev, *next;
};

struct mls_table;

/* A table for at most cap streams (>= 1). Returns 0 or FARM_ENOMEM. */
int mls_table_new(size_t cap, struct mls_table **out);
/* Frees the table, its streams and devices. NULL is accepted. */
void mls_table_free(struct mls_table *t);

size_t mls_table_count(const struct mls_table *t);
size_t mls_table_cap(const struct mls_table *t);

/* The stream of (site, device, metric), or NULL. Ids are valid (asserted). */
struct mls_stream *mls_table_find(struct mls_table *t, const char *site, const char *device,
                                  const char *metric);

/*
 * Adds a stream for (site, device, metric), which must not exist yet, as
 * the most recently used. Its models are not set up (see
 * mls_stream_init()). When the table is full, the least recently used
 * stream is evicted first and *evicted (may be NULL) is set. Returns 0 and
 * *out, or FARM_ENOSPC (the device already has MLS_DEVICE_METRICS streams;
 * nothing is evicted) or FARM_ENOMEM.
 */
int mls_table_add(struct mls_table *t, const char *site, const char *device, const char *metric,
                  struct mls_stream **out, bool *evicted);

/* Marks s the most recently used. */
void mls_table_touch(struct mls_table *t, struct mls_stream *s);

/* Streams from the least to the most recently used: start with
 * mls_table_oldest(), go on with s->newer until NULL. */
struct mls_stream *mls_table_oldest(struct mls_table *t);

/* Devices in no particular order: mls_table_devices(), then d->next. */
struct mls_device *mls_table_devices(struct mls_table *t);

/* Sets up fresh models for s->metric. Returns 0 or FARM_EINVAL (m invalid). */
int mls_stream_init(struct mls_stream *s, const struct mls_models *m);

/* The fault configuration of a metric under m. */
void mls_fault_config(const char *metric, const struct mls_models *m, struct ml_fault_config *out);

#endif /* MLS_STREAMS_H */
