/* SPDX-License-Identifier: MIT */
/*
 * The live feed of GET /api/v1/live (WebSocket): new readings, statuses,
 * events, alert transitions and command states, as JSON text frames, to
 * every client whose filters match (site, device, metric: each a
 * comma-separated list of ids, all optional). A reading is sent with only
 * the metrics a client asked for. One sender thread writes to the clients,
 * from a bounded queue: when it is full the oldest items are dropped and
 * counted, so a stalled client cannot grow memory.
 *
 * Frames: first {"type":"hello","filters":{...}}, then items such as
 *   {"type":"telemetry","site","device","ts","hist","synthetic","v":{...}}
 *   {"type":"status","site","device","status":{...}}
 *   {"type":"event","site","device","event":{...}}
 *   {"type":"alert","site","device","alert":{...}}
 *   {"type":"command","site","device","id","name","state","error"}
 * What clients send is ignored.
 */
#ifndef WG_LIVE_H
#define WG_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "farmd/topic.h"

#define WG_LIVE_FILTER_MAX 16

struct wg_live_filter {
  char site[WG_LIVE_FILTER_MAX][FD_ID_MAX + 1];
  char device[WG_LIVE_FILTER_MAX][FD_ID_MAX + 1];
  char metric[WG_LIVE_FILTER_MAX][FD_ID_MAX + 1];
  int nsite, ndevice, nmetric;
};

/* Parses site=, device=, metric= of a query string (other names are
 * ignored). Returns 0, or FARM_EINVAL with a reason in why. */
int wg_live_parse_filter(const char *query, struct wg_live_filter *f, char *why, size_t cap);

/* Writes one text frame; < 0 when the connection is gone. */
typedef int (*wg_live_write_fn)(void *conn, const char *text, size_t len);

struct wg_live;
struct wg_live_client;

/* queue_max items at most wait for the sender. sent and dropped (may be
 * NULL) are counters to add to. Returns 0, FARM_ENOMEM or FARM_EIO. */
int wg_live_new(size_t queue_max, wg_live_write_fn write, atomic_uint_fast64_t *sent,
                atomic_uint_fast64_t *dropped, struct wg_live **out);
/* Stops the sender (clients must be detached) and frees. NULL accepted. */
void wg_live_free(struct wg_live *l);

/* Adds a client; it is sent the hello frame first. NULL when out of memory. */
struct wg_live_client *wg_live_attach(struct wg_live *l, void *conn,
                                      const struct wg_live_filter *f);
/* Removes a client, waiting for a write to it in progress. */
void wg_live_detach(struct wg_live *l, struct wg_live_client *c);

/* Queues obj (its "type" member names the kind; "site", "device" and for
 * telemetry "v" are matched against filters). Takes the reference. */
void wg_live_push(struct wg_live *l, json_t *obj);

size_t wg_live_clients(struct wg_live *l);

/* True when f lets an item of site/device through (empty lists match all). */
bool wg_live_match(const struct wg_live_filter *f, const char *site, const char *device);

#endif /* WG_LIVE_H */
