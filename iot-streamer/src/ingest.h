/* SPDX-License-Identifier: MIT */
/*
 * Validation of everything the streamer receives: the payloads of the
 * telemetry, status, event and edge status topics (architecture §6) and of
 * alert acknowledgements. Pure functions, no I/O: a payload either becomes a
 * checked struct or is refused with a reason class (counted in metrics) and
 * a detail for the (rate-limited) log line.
 */
#ifndef ST_INGEST_H
#define ST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "farmd/topic.h"

/* Metrics per telemetry message; a node sends a handful. */
#define ST_METRICS_MAX 32
/* Earliest plausible reading time, 2000-01-01T00:00:00Z in Unix ms. */
#define ST_TS_MIN 946684800000LL
/* How far ahead of the streamer's clock a reading may be (clock skew). */
#define ST_TS_FUTURE_MS (24LL * 3600 * 1000)

enum st_reject {
  ST_REJ_TOPIC,    /* topic not in the v1/farm tree, bad ids */
  ST_REJ_OVERSIZE, /* payload longer than the configured maximum */
  ST_REJ_JSON,     /* not JSON, not an object, duplicate keys, bad UTF-8 */
  ST_REJ_FIELD,    /* required field missing or of the wrong type */
  ST_REJ_RANGE,    /* a value outside its physical or protocol range */
  ST_REJ_COUNT
};

/* "topic", "oversize", "json", "field", "range": metric label values. */
const char *st_reject_name(enum st_reject r);

struct st_metric {
  char name[FD_ID_MAX + 1];
  double value;
};

struct st_telemetry {
  int64_t edge_seq, boot, seq, ts;
  int64_t up_ms, rx_ts; /* -1 when absent */
  int rssi;
  bool has_rssi;
  bool hist, synthetic;
  size_t nmetrics;
  struct st_metric m[ST_METRICS_MAX];
};

/*
 * Checks a telemetry payload: edge_seq (1..2^53), boot and seq (u32), ts
 * (Unix ms, from 2000 to now_ms + 1 day), optional up_ms, rx_ts, rssi
 * (-127..20 dBm), hist, synthetic, and "v": an object of 1..ST_METRICS_MAX
 * metrics named like ids whose values are numbers within the metric's
 * physical range (st_metric_range()). Returns 0, or a negative FARM_E* code
 * with *why and detail (dlen bytes) set. When edge_seq itself was readable,
 * *edge_seq holds it even on failure (else 0), so a refused message can
 * still be acknowledged in the commit watermark.
 */
int st_parse_telemetry(const void *payload, size_t len, size_t max_len, int64_t now_ms,
                       struct st_telemetry *out, int64_t *edge_seq, enum st_reject *why,
                       char *detail, size_t dlen);

/* Physical range of a metric by name (docs/protocol.md §4.6: temp_c,
 * rh_pct, lux, air_ppm); other names get a wide sanity range. */
void st_metric_range(const char *name, double *min, double *max);

struct st_status {
  int online;          /* 1, 0, or -1 when not stated */
  int64_t interval_ms; /* expected reporting interval, 0 when absent */
};
/* A device status: a JSON object; "online" (bool) or "state"
 * ("online"/"offline"), optional "interval_ms" (100 ms..1 day). */
int st_parse_status(const void *payload, size_t len, size_t max_len, struct st_status *out,
                    enum st_reject *why, char *detail, size_t dlen);

struct st_event {
  char type[FD_ID_MAX + 1];
  int64_t ts; /* 0 when absent */
};
/* An event: a JSON object with "type" (1..64 of [a-z0-9_.-]), optional "ts". */
int st_parse_event(const void *payload, size_t len, size_t max_len, struct st_event *out,
                   enum st_reject *why, char *detail, size_t dlen);

/* The edge's status: a JSON object; optional "backlog_first_edge_seq" (the
 * lowest edge_seq the edge still holds; everything below was confirmed
 * by an earlier watermark). *floor is 0 when absent. */
int st_parse_edge_status(const void *payload, size_t len, size_t max_len, int64_t *floor,
                         enum st_reject *why, char *detail, size_t dlen);

struct st_alert_ack {
  int64_t id;
  char by[FD_ID_MAX + 1];
};
/* {"id": N, "by": "who"} on v1/cloud/alerts/ack. */
int st_parse_alert_ack(const void *payload, size_t len, struct st_alert_ack *out,
                       enum st_reject *why, char *detail, size_t dlen);

#endif /* ST_INGEST_H */
