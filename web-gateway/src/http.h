/* SPDX-License-Identifier: MIT */
/*
 * web-gateway's HTTP side on civetweb: worker threads read each request
 * (headers capped by civetweb, the body by max_body: 413), serve the UI's
 * static files from a table loaded at start (exact names only, so no path
 * can leave the UI directory: BAD-INPUTS 21), hand everything else to the
 * API (api.c), and upgrade GET /api/v1/live to a WebSocket once the client
 * has authenticated. Connections are kept alive between requests.
 *
 * Every response carries X-Content-Type-Options: nosniff, X-Frame-Options:
 * DENY, Referrer-Policy: same-origin, a Content-Security-Policy that allows
 * only the gateway's own scripts, styles and connections, and
 * Cache-Control: no-store for the API.
 */
#ifndef WG_HTTP_H
#define WG_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct wg;
struct wg_http;

/* A request, valid while its handler runs. Strings are terminated. */
struct wg_req {
  const char *method;
  const char *path;   /* raw (not URL-decoded): routes match exact segments */
  const char *query;  /* after '?', "" when none */
  const char *remote; /* client address */
  const char *body;   /* body_len bytes and a NUL */
  size_t body_len;
  const void *conn;   /* the civetweb connection, for headers */
};

/* A header by name (case-insensitive), or NULL. */
const char *wg_req_header(const struct wg_req *r, const char *name);

/* A body shared by responses (the cached device list): freed when the
 * last holder lets go. */
struct wg_shared {
  atomic_int refs;
  size_t len;
  char data[];
};
/* Takes another reference. */
struct wg_shared *wg_shared_ref(struct wg_shared *b);
void wg_shared_unref(struct wg_shared *b);

struct wg_resp {
  int status;
  const char *type; /* NULL = application/json */
  char *body;       /* malloc'd (freed after sending) unless static_body */
  size_t len;
  bool static_body;
  struct wg_shared *shared; /* when set, body is shared->data: unref'd after */
  char headers[512]; /* extra "Name: value\r\n" lines */
};

/* Starts listening on the configured address with the UI of ui_dir (may be
 * empty: no UI). Returns 0 or FARM_EIO (logged). */
int wg_http_start(struct wg *wg, const char *listen, int threads, const char *ui_dir);
/* The first port listened on. */
int wg_http_port(const struct wg_http *h);
/* Writes a text frame to a live WebSocket connection (wg_live_write_fn). */
int wg_http_ws_write(void *conn, const char *text, size_t len);
/* Closes every connection and stops. NULL accepted. */
void wg_http_stop(struct wg_http *h);

#endif /* WG_HTTP_H */
