/* SPDX-License-Identifier: MIT */
/*
 * civetweb glue: request handlers for /metrics and /healthz, WebSocket
 * callbacks that attach /live clients to the feed.
 */
#include "http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "farm/error.h"

struct st_http {
  struct mg_context *ctx;
  struct st_live *live;
  struct st_http_handlers h;
  const struct fd_log *log;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_lib(void)
{
  mg_init_library(0);
}

static int reply(struct mg_connection *conn, int status, const char *type, const char *body)
{
  size_t len = strlen(body);
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, mg_get_response_code_text(conn, status), type, len);
  mg_write(conn, body, len);
  return status;
}

static bool is_get(struct mg_connection *conn)
{
  const struct mg_request_info *ri = mg_get_request_info(conn);
  return strcmp(ri->request_method, "GET") == 0 || strcmp(ri->request_method, "HEAD") == 0;
}

static int metrics_handler(struct mg_connection *conn, void *cbdata)
{
  struct st_http *s = cbdata;
  if (!is_get(conn))
    return reply(conn, 405, "application/json", "{\"error\":\"method not allowed\"}");
  char *body = s->h.metrics(s->h.ud);
  if (!body)
    return reply(conn, 500, "application/json", "{\"error\":\"out of memory\"}");
  int rc = reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body);
  free(body);
  return rc;
}

static int health_handler(struct mg_connection *conn, void *cbdata)
{
  struct st_http *s = cbdata;
  if (!is_get(conn))
    return reply(conn, 405, "application/json", "{\"error\":\"method not allowed\"}");
  int status = 500;
  char *body = s->h.health(s->h.ud, &status);
  if (!body)
    return reply(conn, 500, "application/json", "{\"error\":\"out of memory\"}");
  int rc = reply(conn, status, "application/json", body);
  free(body);
  return rc;
}

static int ws_write(void *conn, const char *text, size_t len)
{
  int n = mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, text, len);
  return n > 0 ? 0 : FARM_ECLOSED;
}

static int ws_connect(const struct mg_connection *conn, void *cbdata)
{
  (void)cbdata;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  /* Only the query string is read; anything but cursor= is ignored. */
  if (ri->query_string && strlen(ri->query_string) > 128)
    return 1; /* refuse */
  return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
  struct st_http *s = cbdata;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  char cursor[96] = "";
  if (ri->query_string)
    mg_get_var(ri->query_string, strlen(ri->query_string), "cursor", cursor, sizeof cursor);
  struct st_live_client *c = st_live_attach(s->live, cursor, ws_write, conn);
  mg_set_user_connection_data(conn, c);
  if (!c)
    fd_log(s->log, FD_LOG_ERROR, "live: out of memory for a client");
}

static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cbdata)
{
  (void)data;
  (void)len;
  (void)cbdata;
  int opcode = flags & 0xf;
  if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
    return 0;
  if (opcode == MG_WEBSOCKET_OPCODE_PING)
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_PONG, data, len);
  /* The feed is one-way; what the client sends is ignored. */
  return 1;
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
  struct st_http *s = cbdata;
  struct st_live_client *c = mg_get_user_connection_data(conn);
  if (c)
    st_live_detach(s->live, c);
}

static int log_message(const struct mg_connection *conn, const char *message)
{
  const struct mg_context *ctx = mg_get_context(conn);
  struct st_http *s = ctx ? mg_get_user_data(ctx) : NULL;
  if (s)
    fd_log(s->log, FD_LOG_WARN, "http: %s", message);
  return 1;
}

int st_http_start(const char *listen, int threads, struct st_live *live,
                  const struct st_http_handlers *h, const struct fd_log *log,
                  struct st_http **out, char *err, size_t errlen)
{
  pthread_once(&init_once, init_lib);
  struct st_http *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return FARM_ENOMEM;
  }
  s->live = live;
  s->h = *h;
  s->log = log;
  char nthreads[16];
  snprintf(nthreads, sizeof nthreads, "%d", threads);
  const char *options[] = {"listening_ports", listen,
                           "num_threads", nthreads,
                           "request_timeout_ms", "10000",
                           /* Idle WebSockets are pinged, not dropped. */
                           "websocket_timeout_ms", "20000",
                           "enable_websocket_ping_pong", "yes",
                           "enable_directory_listing", "no",
                           NULL};
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  cb.log_message = log_message;
  struct mg_init_data init = {.callbacks = &cb, .user_data = s, .configuration_options = options};
  struct mg_error_data e = {.text = err, .text_buffer_size = errlen};
  s->ctx = mg_start2(&init, &e);
  if (!s->ctx) {
    free(s);
    return FARM_EIO;
  }
  mg_set_request_handler(s->ctx, "/metrics", metrics_handler, s);
  mg_set_request_handler(s->ctx, "/healthz", health_handler, s);
  mg_set_websocket_handler(s->ctx, "/live", ws_connect, ws_ready, ws_data, ws_close, s);
  *out = s;
  return 0;
}

void st_http_stop(struct st_http *s)
{
  if (!s)
    return;
  mg_stop(s->ctx);
  free(s);
}
