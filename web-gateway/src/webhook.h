/* SPDX-License-Identifier: MIT */
/*
 * Webhook deliveries: the main thread records each delivery in the store
 * (webhook_deliveries, so a restart loses none); a sender thread with its
 * own database connection POSTs the due ones with libcurl and records the
 * outcome. A delivery is one JSON body
 *   {"event": KIND, "site", "device", "ts", "data": {...}}
 * with the headers
 *   Content-Type: application/json
 *   X-Farm-Event: KIND, X-Farm-Delivery: ID, X-Farm-Timestamp: UNIX_MS
 *   X-Farm-Signature: sha256=HEX
 * where HEX is HMAC-SHA256 (key: the hook's secret) of "TIMESTAMP.BODY",
 * so a receiver can check both the origin and the freshness. A 2xx answer
 * delivers it; a network error, a timeout, a 5xx, 408 or 429 is retried
 * after base, 2 base, 4 base ... (at most one hour) until max_attempts; any
 * other answer fails it at once. Each attempt is in the delivery log.
 */
#ifndef WG_WEBHOOK_H
#define WG_WEBHOOK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "farmd/log.h"

struct wg_hooks;

struct wg_hooks_config {
  const char *db_spec;
  int timeout_ms;
  int max_attempts;
  int64_t backoff_ms;
  int64_t keep_ms; /* finished deliveries are deleted after this */
  atomic_uint_fast64_t *delivered, *failed, *retries; /* counters to add to */
};

/* Starts the sender thread. Returns 0, FARM_ENOMEM or FARM_EIO. */
int wg_hooks_start(const struct wg_hooks_config *cfg, const struct fd_log *log,
                   struct wg_hooks **out);
/* Wakes the sender: a delivery was queued. Any thread. */
void wg_hooks_kick(struct wg_hooks *h);
/* Stops the thread (an attempt in progress finishes) and frees. NULL ok. */
void wg_hooks_stop(struct wg_hooks *h);

/* The signature header value for body sent at ts_ms: "sha256=" + hex of
 * HMAC-SHA256(secret, "TS.BODY"); out has at least 72 bytes. */
void wg_hooks_sign(const char *secret, int64_t ts_ms, const char *body, char *out, size_t cap);

/* The delay before attempt n + 1 after n failed attempts (n >= 1). */
int64_t wg_hooks_backoff(int64_t base_ms, int attempts);

#endif /* WG_WEBHOOK_H */
