/* SPDX-License-Identifier: MIT */
/*
 * The REST API under /api/v1 and /healthz, /metrics (docs/api.md and the
 * OpenAPI document web-gateway/openapi.json): authentication (bearer
 * tokens or the session cookie with its anti-CSRF header), roles (viewer
 * reads; operator also sends commands, acknowledges alerts and edits alert
 * rules; admin also manages users, tokens and webhooks), then the routes.
 * Handlers run on civetweb's worker threads, each with a pooled database
 * connection.
 */
#ifndef WG_API_H
#define WG_API_H

#include <stdbool.h>

#include "http.h"
#include "live.h"

struct wg;

/* Answers one request. rs starts zeroed. */
void wg_api_handle(struct wg *wg, const struct wg_req *rq, struct wg_resp *rs);

/* Sets {"error": msg} with status. */
void wg_api_error(struct wg_resp *rs, int status, const char *msg);

/* Decides a WebSocket upgrade of /api/v1/live: authenticated (bearer
 * header, session cookie from the same origin, or ?token=), filters valid.
 * True and *f filled, or false with the refusal in rs. */
bool wg_api_live_allowed(struct wg *wg, const struct wg_req *rq, struct wg_live_filter *f,
                         struct wg_resp *rs);

#endif /* WG_API_H */
