/* SPDX-License-Identifier: MIT */
/*
 * Routing of the local UI and API: static pages from the binary, JSON
 * views, and the checks every state-changing request must pass.
 */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/json.h"
#include "ui.h"

struct ea_web {
  struct fd_http *http;
  struct ea_agent *agent;
  const struct fd_log *log;
};

/* Pages may load only this server's script and stylesheet. */
static const char page_headers[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'\r\n";

enum route_kind { R_ASSET, R_GET, R_POST };

typedef void (*route_fn)(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                         const json_t *body);

static void get_status(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                       const json_t *body)
{
  (void)rq;
  (void)body;
  fd_http_json(rs, 200, ea_agent_status_json(w->agent));
}

static void get_peers(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                      const json_t *body)
{
  (void)rq;
  (void)body;
  fd_http_json(rs, 200, ea_agent_peers_json(w->agent));
}

static void get_backlog(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                        const json_t *body)
{
  (void)rq;
  (void)body;
  fd_http_json(rs, 200, ea_agent_backlog_json(w->agent));
}

static void get_commands(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                         const json_t *body)
{
  (void)rq;
  (void)body;
  fd_http_json(rs, 200, ea_agent_commands_json(w->agent));
}

static void post_cmd(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                     const json_t *body)
{
  (void)rq;
  struct ea_cmd_result res;
  ea_agent_command(w->agent, body, &res);
  json_t *o = json_object();
  if (res.id[0])
    json_object_set_new(o, "id", json_string(res.id));
  json_object_set_new(o, "state", json_string(ea_cmd_state_name(res.state)));
  json_object_set_new(o, "duplicate", json_boolean(res.duplicate));
  if (res.error[0])
    json_object_set_new(o, "error", json_string(res.error));
  fd_http_json(rs, res.http_status ? res.http_status : 500, o);
}

static void diag(struct ea_web *w, enum ea_diag d, const json_t *body, struct fd_http_resp *rs)
{
  uint32_t id;
  char err[128];
  if (ea_agent_diag(w->agent, d, body, &id, err, sizeof err) != 0) {
    fd_http_error(rs, 422, err);
    return;
  }
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer(id));
  json_object_set_new(o, "state", json_string("sent"));
  fd_http_json(rs, 202, o);
}

static void post_set_mac(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                         const json_t *body)
{
  (void)rq;
  diag(w, EA_DIAG_SET_MAC, body, rs);
}

static void post_time_sync(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                           const json_t *body)
{
  (void)rq;
  diag(w, EA_DIAG_TIME_SYNC, body, rs);
}

static void post_pair(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                      const json_t *body)
{
  (void)rq;
  diag(w, EA_DIAG_PAIR, body, rs);
}

static void post_ping(struct ea_web *w, const struct fd_http_req *rq, struct fd_http_resp *rs,
                      const json_t *body)
{
  (void)rq;
  diag(w, EA_DIAG_PING, body, rs);
}

struct route {
  const char *path;
  enum route_kind kind;
  route_fn fn;
};

static const struct route routes[] = {
    {"/api/status", R_GET, get_status},
    {"/api/peers", R_GET, get_peers},
    {"/api/backlog", R_GET, get_backlog},
    {"/api/commands", R_GET, get_commands},
    {"/api/cmd", R_POST, post_cmd},
    {"/api/diag/set-mac", R_POST, post_set_mac},
    {"/api/diag/time-sync", R_POST, post_time_sync},
    {"/api/diag/pair", R_POST, post_pair},
    {"/api/diag/ping", R_POST, post_ping},
};

/* Largest JSON body of any route. */
#define BODY_MAX 4096

static void handle(void *ud, const struct fd_http_req *rq, struct fd_http_resp *rs)
{
  struct ea_web *w = ud;
  bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;

  for (size_t i = 0; i < ea_nassets; i++) {
    if (strcmp(rq->path, ea_assets[i].path) != 0)
      continue;
    if (!get) {
      rs->headers = "Allow: GET, HEAD\r\n";
      fd_http_error(rs, 405, "method not allowed");
      return;
    }
    rs->status = 200;
    rs->content_type = ea_assets[i].type;
    rs->body = (char *)ea_assets[i].data;
    rs->len = ea_assets[i].len;
    rs->static_body = true;
    if (strncmp(ea_assets[i].type, "text/html", 9) == 0)
      rs->headers = page_headers;
    return;
  }

  const struct route *r = NULL;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (strcmp(rq->path, routes[i].path) == 0)
      r = &routes[i];
  if (!r) {
    fd_http_error(rs, 404, "not found");
    return;
  }
  if (r->kind == R_GET) {
    if (!get) {
      rs->headers = "Allow: GET, HEAD\r\n";
      fd_http_error(rs, 405, "method not allowed");
      return;
    }
    r->fn(w, rq, rs, NULL);
    return;
  }
  /* State changes: POST only (never through GET), same origin, JSON. */
  if (strcmp(rq->method, "POST") != 0) {
    rs->headers = "Allow: POST\r\n";
    fd_http_error(rs, 405, "method not allowed");
    return;
  }
  if (!fd_http_same_origin(rq)) {
    fd_http_error(rs, 403, "cross-origin request refused");
    return;
  }
  if (!fd_http_is_json(rq)) {
    fd_http_error(rs, 415, "the body must be application/json");
    return;
  }
  json_t *body;
  char why[128];
  int rc = fd_json_parse(rq->body, rq->body_len, BODY_MAX, &body, why, sizeof why);
  if (rc == FARM_EEMPTY) {
    body = json_object(); /* {} for the requests that need nothing */
  } else if (rc == FARM_ETOOBIG) {
    fd_http_error(rs, 413, "request body too large");
    return;
  } else if (rc != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "malformed JSON: %s", why);
    fd_http_error(rs, 400, msg);
    return;
  }
  r->fn(w, rq, rs, body);
  json_decref(body);
}

int ea_web_new(const struct ea_config *cfg, struct ea_agent *agent, const struct fd_log *log,
               struct ea_web **out)
{
  *out = NULL;
  if (!cfg->http_host[0])
    return 0;
  struct ea_web *w = calloc(1, sizeof *w);
  if (!w)
    return FARM_ENOMEM;
  w->agent = agent;
  w->log = log;
  char listen[96];
  snprintf(listen, sizeof listen, "%s:%d", cfg->http_host, cfg->http_port);
  struct fd_http_config hc = {.listen = listen,
                              .threads = cfg->http_threads,
                              .max_body = cfg->http_max_body,
                              .auth_user = cfg->auth_user,
                              .auth_password = cfg->auth_password,
                              .realm = "farm edge"};
  int rc = fd_http_new(&hc, log, handle, w, &w->http);
  if (rc != 0) {
    free(w);
    return rc;
  }
  fd_log(log, FD_LOG_INFO, "http: UI and API on http://%s%s", listen,
         cfg->auth_user ? " (Basic Auth)" : "");
  if (!cfg->auth_user && strcmp(cfg->http_host, "127.0.0.1") != 0 &&
      strcmp(cfg->http_host, "localhost") != 0 && strcmp(cfg->http_host, "[::1]") != 0)
    fd_log(log, FD_LOG_WARN,
           "http: listening beyond loopback without basic_auth_user: anyone "
           "on the network can send commands");
  *out = w;
  return 0;
}

int ea_web_fd(const struct ea_web *w)
{
  return fd_http_fd(w->http);
}

void ea_web_dispatch(struct ea_web *w)
{
  fd_http_dispatch(w->http, 0);
}

void ea_web_stats(const struct ea_web *w, struct fd_http_stats *st)
{
  fd_http_get_stats(w->http, st);
}

void ea_web_free(struct ea_web *w)
{
  if (!w)
    return;
  fd_http_free(w->http);
  free(w);
}
