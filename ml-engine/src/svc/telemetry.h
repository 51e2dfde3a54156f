/* SPDX-License-Identifier: MIT */
/*
 * What the ml-engine service reads from a telemetry message (architecture
 * §6, `v1/farm/{site}/{device}/telemetry/{group}`): the reading's time, the
 * hist and synthetic flags, and the metrics. A pure validator of untrusted
 * bytes, no I/O: a payload becomes a checked struct or is refused with a
 * reason class (counted) and a detail for the rate-limited log line.
 *
 * A metric's value only has to be a finite number here: a value outside the
 * sensor's physical range is a sensor fault, which the fault checker
 * reports, not a malformed message.
 */
#ifndef MLS_TELEMETRY_H
#define MLS_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "farmd/topic.h"

/* Metrics per message (twice what one node sends, docs/protocol.md §4.6). */
#define MLS_METRICS_MAX 32
/* Earliest plausible reading time, 2000-01-01T00:00:00Z in Unix ms. */
#define MLS_TS_MIN 946684800000LL
/* How far ahead of the service's clock a reading may be (clock skew). */
#define MLS_TS_FUTURE_MS (24LL * 3600 * 1000)

enum mls_reject {
  MLS_REJ_TOPIC,    /* not a telemetry topic of the v1/farm tree */
  MLS_REJ_OVERSIZE, /* payload longer than max_payload */
  MLS_REJ_JSON,     /* not a JSON object, duplicate keys, bad UTF-8, empty */
  MLS_REJ_FIELD,    /* a field missing or of the wrong type */
  MLS_REJ_RANGE,    /* a field out of range, a metric name that is not an id */
  MLS_REJ_COUNT
};

/* "topic", "oversize", "json", "field", "range". */
const char *mls_reject_name(enum mls_reject r);

struct mls_metric {
  char name[FD_ID_MAX + 1];
  double value;
};

struct mls_telemetry {
  int64_t ts; /* Unix ms */
  bool hist, synthetic;
  size_t n;
  struct mls_metric m[MLS_METRICS_MAX];
};

/*
 * Parses payload[0..len): a JSON object with "ts" (integer Unix ms in
 * [MLS_TS_MIN, now_ms + MLS_TS_FUTURE_MS]), optional booleans "hist" and
 * "synthetic", and "v": an object of 1..MLS_METRICS_MAX metrics named like
 * ids whose values are numbers. Other fields are not looked at. Returns 0,
 * or FARM_EEMPTY, FARM_ETOOBIG, FARM_EMALFORMED, FARM_ETYPE, FARM_EMISSING,
 * FARM_ERANGE with *why and detail (dlen bytes) set.
 */
int mls_parse_telemetry(const void *payload, size_t len, size_t max_len, int64_t now_ms,
                        struct mls_telemetry *out, enum mls_reject *why, char *detail, size_t dlen);

#endif /* MLS_TELEMETRY_H */
