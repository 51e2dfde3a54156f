/* SPDX-License-Identifier: MIT */
/*
 * HTTP server for the daemons, on civetweb: requests are read, checked and
 * then handed to the program's own loop, like farmd's MQTT events.
 *
 * Threading: civetweb's worker threads accept connections, read the
 * request (body size capped: 413), check HTTP Basic Auth when configured
 * (credentials compared in constant time; a client address with too many
 * failures gets 429 for a while, BAD-INPUTS 17), then queue the request and
 * wait. The program polls fd_http_fd() and calls fd_http_dispatch(), which
 * runs the handler on the program's thread and hands the response back to
 * the worker, which sends it. So the handler may use the program's state
 * without locks. A request the loop does not answer within
 * handler_timeout_ms gets 503.
 *
 * Every response carries X-Content-Type-Options: nosniff, X-Frame-Options:
 * DENY, Referrer-Policy: same-origin and Cache-Control: no-store, plus what
 * the handler adds.
 *
 * Ownership: the server owns everything it allocates; a response body is
 * malloc'd by the handler (or static, see struct fd_http_resp) and freed by
 * the server after sending.
 */
#ifndef FARMD_HTTP_H
#define FARMD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "farmd/log.h"

struct fd_http;

struct fd_http_config {
  const char *listen;     /* "host:port", "[v6]:port" (required) */
  int threads;            /* worker threads, 0 = 4 */
  size_t max_body;        /* larger request bodies get 413; 0 = 16384 */
  int request_timeout_ms; /* socket timeout of a request, 0 = 10000 */
  int handler_timeout_ms; /* wait for the loop's answer, 0 = 10000 */
  const char *auth_user;  /* Basic Auth: both set, or both NULL (none) */
  const char *auth_password;
  const char *realm;   /* shown by browsers, NULL = "farm" */
  int auth_fail_burst; /* failures per client address before 429, 0 = 5 */
  int auth_block_s;    /* how long a client stays refused, 0 = 60 */
};

/* A request, valid during the handler only. Strings are terminated. */
struct fd_http_req {
  const char *method;
  const char *path;   /* URL-decoded, not normalised: route on exact matches */
  const char *query;  /* after '?', "" when none */
  const char *remote; /* client address */
  const char *body;   /* body_len bytes and a NUL */
  size_t body_len;
  const void *priv;
};

/* A request header by name (case-insensitive), or NULL. */
const char *fd_http_header(const struct fd_http_req *r, const char *name);

struct fd_http_resp {
  int status;               /* 0 = 500 */
  const char *content_type; /* static text; NULL = "application/json" */
  char *body;               /* len bytes; freed after sending unless static_body */
  size_t len;
  bool static_body;
  const char *headers; /* extra "Name: value\r\n" lines, static, or NULL */
};

typedef void (*fd_http_handler)(void *ud, const struct fd_http_req *rq, struct fd_http_resp *rs);

/*
 * Starts listening. log is borrowed. Returns 0 and *out (stop and free with
 * fd_http_free), or:
 *   FARM_EINVAL  a setting is missing or inconsistent
 *   FARM_EIO     the address cannot be bound (civetweb's reason is logged)
 *   FARM_ENOMEM
 */
int fd_http_new(const struct fd_http_config *cfg, const struct fd_log *log, fd_http_handler h,
                void *ud, struct fd_http **out);

/* Readable while requests wait for fd_http_dispatch(). */
int fd_http_fd(const struct fd_http *s);
/* Runs the handler for up to max queued requests (0 = all) on the calling
 * thread. Returns the number handled. */
size_t fd_http_dispatch(struct fd_http *s, size_t max);
/* The first port the server listens on. */
int fd_http_port(const struct fd_http *s);
/* Stops the workers (waiting requests get 503) and frees. NULL accepted. */
void fd_http_free(struct fd_http *s);

struct fd_http_stats {
  uint64_t requests;      /* handed to the handler */
  uint64_t auth_failures; /* wrong or malformed credentials */
  uint64_t auth_limited;  /* refused with 429 */
  uint64_t too_large;     /* 413 */
  uint64_t timeouts;      /* 503: the loop did not answer */
};
void fd_http_get_stats(const struct fd_http *s, struct fd_http_stats *out);

/* Helpers for handlers. */

/* Content-Type is application/json (parameters allowed). */
bool fd_http_is_json(const struct fd_http_req *r);

/*
 * Same-origin check for a state-changing request (BAD-INPUTS 20): refused
 * when Sec-Fetch-Site names another site, when Origin is present and is
 * not http(s)://Host, or, without Origin, when Referer is present and is
 * not under http(s)://Host/. A request with neither (curl, scripts) passes:
 * cross-site forgery needs a browser, and browsers send Origin on POST.
 * Without a Host header it is refused.
 */
bool fd_http_same_origin(const struct fd_http_req *r);

/* Sets a JSON response; takes the reference to v. */
void fd_http_json(struct fd_http_resp *rs, int status, json_t *v);
/* {"error": msg} with status. */
void fd_http_error(struct fd_http_resp *rs, int status, const char *msg);

/* Compares a[0..la) and b[0..lb) in time that depends only on the lengths. */
bool fd_ct_equal(const void *a, size_t la, const void *b, size_t lb);

/* Strict base64 (RFC 4648 §4, padding required). Returns 0 and *out_len,
 * FARM_EMALFORMED, or FARM_ENOSPC. */
int fd_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#endif /* FARMD_HTTP_H */
