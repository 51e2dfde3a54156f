/* SPDX-License-Identifier: MIT */
/*
 * civetweb glue of web-gateway: request reading, the static UI table, the
 * response headers, and the /api/v1/live WebSocket (see http.h).
 */
#include "http.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <civetweb.h>

#include "api.h"
#include "farm/error.h"
#include "live.h"
#include "wg.h"

#define UI_FILES_MAX 64
#define UI_FILE_MAX (4u << 20)

struct ui_file {
  char path[128]; /* "/index.html", "/vendor/uPlot.iife.min.js" */
  const char *type;
  char *data;
  size_t len;
};

struct wg_http {
  struct mg_context *ctx;
  struct wg *wg;
  int port;
  struct ui_file files[UI_FILES_MAX];
  size_t nfiles;
  pthread_mutex_t rl_lock; /* civetweb's log lines come from any worker */
  struct fd_ratelimit rl;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
  mg_init_library(0);
}

/* Scripts, styles and connections from the gateway only (no CDN, no
 * inline script); images may be data: URLs. */
#define SECURITY_HEADERS                                                                     \
  "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"                            \
  "Referrer-Policy: same-origin\r\n"                                                         \
  "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "                      \
  "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "        \
  "base-uri 'none'; form-action 'self'\r\n"

struct wg_shared *wg_shared_ref(struct wg_shared *b)
{
  atomic_fetch_add(&b->refs, 1);
  return b;
}

void wg_shared_unref(struct wg_shared *b)
{
  if (b && atomic_fetch_sub(&b->refs, 1) == 1)
    free(b);
}

static void resp_release(struct wg_resp *rs)
{
  if (rs->shared)
    wg_shared_unref(rs->shared);
  else if (!rs->static_body)
    free(rs->body);
}

const char *wg_req_header(const struct wg_req *r, const char *name)
{
  return mg_get_header((struct mg_connection *)r->conn, name);
}

/* Headers and body leave in one write: one segment for a small answer,
 * and no wait between headers and body. The connection stays open unless
 * the client asked to close it (civetweb reads the next request). */
static void send_resp(struct mg_connection *conn, const struct wg_resp *rs, const char *cache)
{
  int status = rs->status ? rs->status : 500;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  bool head = strcmp(ri->request_method, "HEAD") == 0;
  const char *c = mg_get_header(conn, "Connection");
  /* After a 413 the unread body is still on the wire: end the connection. */
  bool close = (c && strcasecmp(c, "close") == 0) || strcmp(ri->http_version, "1.0") == 0 ||
               status == 413;
  char hdr[2048];
  int n = snprintf(hdr, sizeof hdr,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: %s\r\nConnection: %s\r\n" SECURITY_HEADERS "%s\r\n",
                   status, mg_get_response_code_text(conn, status),
                   rs->type ? rs->type : "application/json", rs->len, cache,
                   close ? "close" : "keep-alive", rs->headers);
  size_t hl = n > 0 && (size_t)n < sizeof hdr ? (size_t)n : 0;
  size_t bl = head ? 0 : rs->len;
  char *all = malloc(hl + bl);
  if (all && hl) {
    memcpy(all, hdr, hl);
    if (bl)
      memcpy(all + hl, rs->body, bl);
    mg_write(conn, all, hl + bl);
  }
  free(all);
}

static int send_error(struct mg_connection *conn, int status, const char *msg)
{
  struct wg_resp rs = {0};
  wg_api_error(&rs, status, msg);
  send_resp(conn, &rs, "no-store");
  resp_release(&rs);
  return status;
}

static const struct ui_file *ui_lookup(const struct wg_http *h, const char *path)
{
  if (strcmp(path, "/") == 0)
    path = "/index.html";
  for (size_t i = 0; i < h->nfiles; i++)
    if (strcmp(h->files[i].path, path) == 0)
      return &h->files[i];
  return NULL;
}

static void count_status(struct wg *wg, int status)
{
  if (status >= 500)
    atomic_fetch_add(&wg->m.responses_5xx, 1);
  else if (status >= 400)
    atomic_fetch_add(&wg->m.responses_4xx, 1);
}

static int handler(struct mg_connection *conn, void *cbdata)
{
  struct wg_http *h = cbdata;
  struct wg *wg = h->wg;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  atomic_fetch_add(&wg->m.requests, 1);
  const char *path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
  if (!path)
    path = "/";

  /* The UI: exact names from the table, GET and HEAD only. */
  if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/metrics") != 0 &&
      strcmp(path, "/healthz") != 0) {
    const struct ui_file *f = ui_lookup(h, path);
    if (!f) {
      count_status(wg, 404);
      return send_error(conn, 404, "not found");
    }
    if (strcmp(ri->request_method, "GET") != 0 && strcmp(ri->request_method, "HEAD") != 0) {
      count_status(wg, 405);
      struct wg_resp rs = {0};
      wg_api_error(&rs, 405, "method not allowed");
      snprintf(rs.headers, sizeof rs.headers, "Allow: GET, HEAD\r\n");
      send_resp(conn, &rs, "no-store");
      free(rs.body);
      return 405;
    }
    struct wg_resp rs = {.status = 200, .type = f->type, .body = f->data, .len = f->len,
                         .static_body = true};
    send_resp(conn, &rs, "no-cache");
    return 200;
  }

  /* The body, capped before it is read when the length is declared. */
  if (ri->content_length > 0 && (long long)ri->content_length > wg->max_body) {
    count_status(wg, 413);
    return send_error(conn, 413, "request body too large");
  }
  /* No declared length and not chunked: there is no body to wait for. */
  bool has_body = ri->content_length > 0 || mg_get_header(conn, "Transfer-Encoding");
  size_t cap = has_body ? (size_t)wg->max_body + 1 : 0;
  char *body = malloc(cap + 1);
  if (!body) {
    count_status(wg, 503);
    return send_error(conn, 503, "out of memory");
  }
  size_t len = 0;
  while (has_body) {
    int n = mg_read(conn, body + len, cap - len);
    if (n <= 0)
      break;
    len += (size_t)n;
    if (len >= cap)
      break;
  }
  if (len > (size_t)wg->max_body) {
    free(body);
    count_status(wg, 413);
    return send_error(conn, 413, "request body too large");
  }
  body[len] = '\0';
  struct wg_req rq = {.method = ri->request_method,
                      .path = path,
                      .query = ri->query_string ? ri->query_string : "",
                      .remote = ri->remote_addr,
                      .body = body,
                      .body_len = len,
                      .conn = conn};
  struct wg_resp rs = {0};
  wg_api_handle(wg, &rq, &rs);
  free(body);
  int status = rs.status ? rs.status : 500;
  count_status(wg, status);
  send_resp(conn, &rs, "no-store");
  resp_release(&rs);
  return status;
}

/* ---- WebSocket: /api/v1/live ---- */

int wg_http_ws_write(void *conn, const char *text, size_t len)
{
  int n = mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, text, len);
  return n > 0 ? 0 : FARM_ECLOSED;
}

/* What a WebSocket connection carries from the upgrade to its close. */
struct ws_conn {
  struct wg_live_filter f;
  struct wg_live_client *client; /* NULL until ready */
};

/* Authenticates the upgrade request; a refusal is answered in HTTP. */
static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
  struct wg_http *h = cbdata;
  struct mg_connection *conn = (struct mg_connection *)cconn;
  const struct mg_request_info *ri = mg_get_request_info(conn);
  atomic_fetch_add(&h->wg->m.requests, 1);
  struct wg_req rq = {.method = ri->request_method,
                      .path = ri->local_uri_raw ? ri->local_uri_raw : "",
                      .query = ri->query_string ? ri->query_string : "",
                      .remote = ri->remote_addr,
                      .body = "",
                      .body_len = 0,
                      .conn = conn};
  struct wg_resp rs = {0};
  struct ws_conn *p = calloc(1, sizeof *p);
  if (!p) {
    send_error(conn, 503, "out of memory");
    return 1;
  }
  if (!wg_api_live_allowed(h->wg, &rq, &p->f, &rs)) {
    count_status(h->wg, rs.status);
    send_resp(conn, &rs, "no-store");
    if (!rs.static_body)
      free(rs.body);
    free(p);
    return 1;
  }
  mg_set_user_connection_data(conn, p);
  return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
  struct wg_http *h = cbdata;
  struct ws_conn *p = mg_get_user_connection_data(conn);
  if (p)
    p->client = wg_live_attach(h->wg->live, conn, &p->f);
}

static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cbdata)
{
  (void)cbdata;
  int opcode = flags & 0xf;
  if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
    return 0;
  if (opcode == MG_WEBSOCKET_OPCODE_PING)
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_PONG, data, len);
  return 1; /* one-way feed: the rest is ignored */
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
  struct wg_http *h = cbdata;
  struct ws_conn *p = mg_get_user_connection_data(conn);
  if (!p)
    return;
  if (p->client)
    wg_live_detach(h->wg->live, p->client);
  free(p);
  mg_set_user_connection_data(conn, NULL);
}

static int log_message(const struct mg_connection *conn, const char *message)
{
  const struct mg_context *ctx = mg_get_context(conn);
  struct wg_http *h = ctx ? mg_get_user_data(ctx) : NULL;
  if (h) {
    pthread_mutex_lock(&h->rl_lock);
    fd_log_rl(h->wg->log, &h->rl, FD_LOG_WARN, "http: %s", message);
    pthread_mutex_unlock(&h->rl_lock);
  }
  return 1;
}

static const char *type_of(const char *name)
{
  const char *dot = strrchr(name, '.');
  if (!dot)
    return "application/octet-stream";
  if (strcmp(dot, ".html") == 0)
    return "text/html; charset=utf-8";
  if (strcmp(dot, ".js") == 0 || strcmp(dot, ".mjs") == 0)
    return "text/javascript; charset=utf-8";
  if (strcmp(dot, ".css") == 0)
    return "text/css; charset=utf-8";
  if (strcmp(dot, ".json") == 0)
    return "application/json";
  if (strcmp(dot, ".svg") == 0)
    return "image/svg+xml";
  if (strcmp(dot, ".png") == 0)
    return "image/png";
  if (strcmp(dot, ".ico") == 0)
    return "image/x-icon";
  return "application/octet-stream";
}

static bool name_ok(const char *n)
{
  if (n[0] == '.' || strlen(n) > 60)
    return false;
  for (const char *p = n; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '_' || *p == '-'))
      return false;
  return true;
}

/* Loads the regular files of dir (and of one level of subdirectories) into
 * the table, under "/" + relative name. */
static int load_dir(struct wg_http *h, const char *dir, const char *prefix, int depth)
{
  DIR *d = opendir(dir);
  if (!d)
    return FARM_ENOENT;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) && rc == 0) {
    if (!name_ok(e->d_name))
      continue;
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(full, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth == 0 && strcmp(e->d_name, "node_modules") != 0 &&
          strcmp(e->d_name, "tests") != 0) {
        char sub[160];
        snprintf(sub, sizeof sub, "%.60s/%.60s", prefix, e->d_name);
        rc = load_dir(h, full, sub, 1);
      }
      continue;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)UI_FILE_MAX)
      continue;
    if (strstr(e->d_name, "package") == e->d_name)
      continue; /* package.json, package-lock.json: build inputs */
    if (h->nfiles >= UI_FILES_MAX) {
      rc = FARM_ENOSPC;
      break;
    }
    FILE *f = fopen(full, "rb");
    if (!f)
      continue;
    struct ui_file *u = &h->files[h->nfiles];
    u->data = malloc((size_t)st.st_size + 1);
    u->len = u->data ? fread(u->data, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!u->data) {
      rc = FARM_ENOMEM;
      break;
    }
    snprintf(u->path, sizeof u->path, "%.60s/%.60s", prefix, e->d_name);
    u->type = type_of(e->d_name);
    h->nfiles++;
  }
  closedir(d);
  return rc;
}

int wg_http_start(struct wg *wg, const char *listen, int threads, const char *ui_dir)
{
  pthread_once(&lib_once, lib_init);
  struct wg_http *h = calloc(1, sizeof *h);
  if (!h)
    return FARM_ENOMEM;
  h->wg = wg;
  pthread_mutex_init(&h->rl_lock, NULL);
  h->rl = (struct fd_ratelimit)FD_RATELIMIT_INIT(10, 10000);
  if (ui_dir && ui_dir[0]) {
    int rc = load_dir(h, ui_dir, "", 0);
    if (rc != 0 || !ui_lookup(h, "/index.html")) {
      fd_log(wg->log, FD_LOG_ERROR, "ui_dir %s: %s", ui_dir,
             rc ? farm_strerror(rc) : "no index.html");
      wg_http_stop(h);
      return FARM_EIO;
    }
    fd_log(wg->log, FD_LOG_INFO, "ui: %zu files from %s", h->nfiles, ui_dir);
  }
  char nthreads[16];
  snprintf(nthreads, sizeof nthreads, "%d", threads);
  const char *options[] = {"listening_ports", listen,
                           "num_threads", nthreads,
                           "request_timeout_ms", "10000",
                           "enable_keep_alive", "yes",
                           /* Headers and body go out in two writes: without
                            * this, Nagle and delayed ACKs hold each answer
                            * of a kept-alive connection for ~40 ms. */
                           "tcp_nodelay", "1",
                           "keep_alive_timeout_ms", "15000",
                           "max_request_size", "16384",
                           "websocket_timeout_ms", "30000",
                           "enable_websocket_ping_pong", "yes",
                           "enable_directory_listing", "no",
                           NULL};
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  cb.log_message = log_message;
  char err[256] = "";
  struct mg_init_data init = {.callbacks = &cb, .user_data = h, .configuration_options = options};
  struct mg_error_data e = {.text = err, .text_buffer_size = sizeof err};
  h->ctx = mg_start2(&init, &e);
  if (!h->ctx) {
    fd_log(wg->log, FD_LOG_ERROR, "http: cannot listen on %s: %s", listen, err);
    wg_http_stop(h);
    return FARM_EIO;
  }
  mg_set_websocket_handler(h->ctx, "/api/v1/live", ws_connect, ws_ready, ws_data, ws_close, h);
  mg_set_request_handler(h->ctx, "/", handler, h);
  struct mg_server_port ports[4];
  int np = mg_get_server_ports(h->ctx, 4, ports);
  h->port = np > 0 ? ports[0].port : 0;
  wg->http = h;
  return 0;
}

int wg_http_port(const struct wg_http *h)
{
  return h->port;
}

void wg_http_stop(struct wg_http *h)
{
  if (!h)
    return;
  if (h->ctx)
    mg_stop(h->ctx);
  for (size_t i = 0; i < h->nfiles; i++)
    free(h->files[i].data);
  pthread_mutex_destroy(&h->rl_lock);
  free(h);
}
