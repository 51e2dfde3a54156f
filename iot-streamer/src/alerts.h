/* SPDX-License-Identifier: MIT */
/*
 * Alert rules and the alert lifecycle. Rules live in the alert_rules table
 * (so the web-gateway can edit them) and are reloaded periodically:
 *
 *   threshold  metric <op> threshold, held for duration_ms of reading time
 *   rate       (Δvalue / Δt in units per second) <op> threshold, held for
 *              duration_ms (0 = at once)
 *   flatline   the value moves by no more than threshold (default 0) for
 *              duration_ms of reading time: a stuck sensor
 *   offline    no live message from the device for k × its expected
 *              interval (k = threshold, or the configured default; the
 *              interval from its status "interval_ms", or the default)
 *
 * Conditions are judged on the readings' own timestamps, so the outcome does
 * not depend on when a batch happens to arrive; only "offline" uses the
 * streamer's clock. Replayed (hist) readings are never evaluated: history
 * does not raise live alerts. An alert is opened, may be acknowledged
 * (st_alerts_ack()), and is resolved when its condition clears; every
 * transition is stored in the alerts table and reported to the sink, which
 * publishes it as an event.
 *
 * Single-threaded: call everything from the streamer's thread.
 */
#ifndef ST_ALERTS_H
#define ST_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include "st/db.h"
#include "farmd/log.h"

struct st_alert_event {
  int64_t alert_id;
  int64_t rule_id;
  const char *rule;  /* rule name ("" when the rule is gone) */
  const char *kind;  /* "threshold", "rate", "flatline", "offline" */
  const char *state; /* "open", "acknowledged", "resolved" */
  const char *site, *device, *metric; /* metric "" for offline */
  double value;      /* the reading (or seconds silent, for offline) */
  int64_t ts;        /* when it happened */
  const char *by;    /* acknowledged: who */
  const char *message;
};

typedef void (*st_alert_sink)(void *ud, const struct st_alert_event *e);

struct st_alerts;

/*
 * offline_factor: default k; default_interval_ms: expected interval of a
 * device that never said. db, log and sink are borrowed. Returns 0 or
 * FARM_ENOMEM.
 */
int st_alerts_new(struct st_db *db, const struct fd_log *log, st_alert_sink sink, void *ud,
                  int64_t offline_factor, int64_t default_interval_ms, struct st_alerts **out);
void st_alerts_free(struct st_alerts *a);

/* (Re)loads enabled rules; on the first call also the devices' last-seen
 * times and the alerts still open. Returns 0 or FARM_EIO (rules unchanged). */
int st_alerts_reload(struct st_alerts *a);
size_t st_alerts_rule_count(const struct st_alerts *a);

/* A newly stored, live reading. */
void st_alerts_reading(struct st_alerts *a, const char *site, const char *device,
                       const char *metric, int64_t ts, double value);

/* A live message from device at now_ms (streamer clock); interval_ms > 0
 * updates its expected interval. Resolves its offline alerts. now_ms 0
 * only records the interval. */
void st_alerts_seen(struct st_alerts *a, const char *site, const char *device, int64_t now_ms,
                    int64_t interval_ms);

/* Opens offline alerts that are due at now_ms. */
void st_alerts_tick(struct st_alerts *a, int64_t now_ms);

/* Acknowledges an open alert. Returns 0, FARM_ENOENT (no such open alert)
 * or FARM_EIO. */
int st_alerts_ack(struct st_alerts *a, int64_t id, const char *by, int64_t now_ms);

/* Alerts opened and resolved since creation, for metrics. */
void st_alerts_counts(const struct st_alerts *a, uint64_t *opened, uint64_t *resolved,
                      uint64_t *open_now);

#endif /* ST_ALERTS_H */
