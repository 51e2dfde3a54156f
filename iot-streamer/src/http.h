/* SPDX-License-Identifier: MIT */
/*
 * The streamer's HTTP side on civetweb: GET /metrics (Prometheus text
 * format 0.0.4), GET /healthz (JSON, 200 or 503) and the /live WebSocket
 * (see live.h; the client passes ?cursor=... to resume). No files are
 * served. civetweb runs its own worker threads; each WebSocket client holds
 * one, so the thread count bounds the number of live clients.
 */
#ifndef ST_HTTP_H
#define ST_HTTP_H

#include <stddef.h>

#include "farmd/log.h"
#include "live.h"

struct st_http_handlers {
  /* Both run on civetweb threads. Return a malloc'd body (NULL = 500). */
  char *(*metrics)(void *ud);
  char *(*health)(void *ud, int *status);
  void *ud;
};

struct st_http;

/*
 * Listens on listen ("ADDR:PORT", civetweb syntax) with threads workers.
 * live and h are borrowed. Returns 0, or FARM_EIO with err set (port in
 * use, bad address).
 */
int st_http_start(const char *listen, int threads, struct st_live *live,
                  const struct st_http_handlers *h, const struct fd_log *log,
                  struct st_http **out, char *err, size_t errlen);
/* Closes every connection and stops. NULL is accepted. */
void st_http_stop(struct st_http *s);

#endif /* ST_HTTP_H */
