/* SPDX-License-Identifier: MIT */
/*
 * The local web UI and JSON API (DESIGN §8), on farmd's HTTP server: the
 * pages /, /diag and /commands with their script and stylesheet from the
 * binary, GET /api/status, /api/peers, /api/backlog, /api/commands, and
 * POST /api/cmd, /api/diag/set-mac, /api/diag/time-sync, /api/diag/pair,
 * /api/diag/ping. Routes match exact paths; another method on a route is
 * 405, anything else 404. A state change must be a POST with a JSON body
 * (415 otherwise) that passes the same-origin check (403), so a page of
 * another site cannot drive the farm (BAD-INPUTS 18-21). Basic Auth, when
 * configured, covers every route.
 *
 * Requests are handled on the agent's loop. Ownership: the server is owned;
 * the agent is borrowed.
 */
#ifndef EA_WEB_H
#define EA_WEB_H

#include "agent.h"
#include "config.h"
#include "farmd/http.h"
#include "farmd/log.h"

struct ea_web;

/* Starts the server on cfg's http_listen; *out is NULL when the address is
 * empty (disabled). Returns 0 or an fd_http_new error. */
int ea_web_new(const struct ea_config *cfg, struct ea_agent *agent, const struct fd_log *log,
               struct ea_web **out);
int ea_web_fd(const struct ea_web *w);
void ea_web_dispatch(struct ea_web *w);
void ea_web_stats(const struct ea_web *w, struct fd_http_stats *st);
void ea_web_free(struct ea_web *w);

#endif /* EA_WEB_H */
