/* SPDX-License-Identifier: MIT */
/*
 * Routes of the REST API, authentication, roles and CSRF (see api.h).
 */
#include "api.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>

#include "auth.h"
#include "cmdcat.h"
#include "farm/error.h"
#include "farmd/json.h"
#include "farmd/topic.h"
#include "st/store_web.h"
#include "wg.h"

#define COOKIE_NAME "farm_session"
#define AUTH_HEADER_MAX 1024
#define PATH_SEGS 6
#define LIST_LIMIT_MAX 1000
#define RAW_POINTS_MAX 50000
#define SERIES_SPAN_MAX (400LL * 86400 * 1000)

enum role { R_VIEWER, R_OPERATOR, R_ADMIN };

/* One request on its way through the handlers. */
struct ctx {
  struct wg *wg;
  const struct wg_req *rq;
  struct wg_resp *rs;
  struct st_web_auth who;
  char token[WG_TOKEN_LEN + 1];        /* the credential presented */
  char token_hash[WG_HEX256_LEN + 1];
  bool by_cookie;
  struct st_db *db;
  bool db_broken;
  char seg[PATH_SEGS][FD_ID_MAX + 2]; /* path segments after /api/v1/ */
  int nseg;
  char raw_id[96];                    /* the segment that names a command */
};

/* ------------------------------------------------------------------ */
/* Responses                                                          */

static void resp_json(struct wg_resp *rs, int status, json_t *v)
{
  char *text = v ? fd_json_dump(v) : NULL;
  json_decref(v);
  if (!text) {
    rs->status = 500;
    rs->type = "application/json";
    rs->body = (char *)"{\"error\":\"out of memory\"}";
    rs->len = strlen(rs->body);
    rs->static_body = true;
    return;
  }
  rs->status = status;
  rs->type = "application/json";
  rs->body = text;
  rs->len = strlen(text);
  rs->static_body = false;
}

void wg_api_error(struct wg_resp *rs, int status, const char *msg)
{
  resp_json(rs, status, json_pack("{s:s}", "error", msg));
}

static void add_header(struct wg_resp *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_header(struct wg_resp *rs, const char *fmt, ...)
{
  size_t used = strlen(rs->headers);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rs->headers + used, sizeof rs->headers - used, fmt, ap);
  va_end(ap);
}

static void not_allowed(struct ctx *c, const char *allow)
{
  wg_api_error(c->rs, 405, "method not allowed");
  add_header(c->rs, "Allow: %s\r\n", allow);
}

/* A database failure: 503, and the connection is not reused. */
static void db_failed(struct ctx *c, int rc)
{
  c->db_broken = true;
  atomic_fetch_add(&c->wg->m.db_errors, 1);
  fd_log(c->wg->log, FD_LOG_WARN, "db: %s (%s)", c->db ? st_db_error(c->db) : "no connection",
         farm_strerror(rc));
  wg_api_error(c->rs, 503, rc == FARM_ENOMEM ? "out of memory" : "database unavailable");
}

static bool method_is(const struct ctx *c, const char *m)
{
  return strcmp(c->rq->method, m) == 0;
}

/* ------------------------------------------------------------------ */
/* Request parsing                                                    */

/* A query parameter, URL-decoded into buf. Returns its length, -1 when
 * absent, -2 when too long. */
static int qparam(const struct wg_req *rq, const char *name, char *buf, size_t cap)
{
  int n = mg_get_var(rq->query, strlen(rq->query), name, buf, cap);
  if (n == -2)
    return -2;
  return n < 0 ? -1 : n;
}

/* An integer query parameter within [min, max]; absent gives def. */
static bool qint(struct ctx *c, const char *name, int64_t min, int64_t max, int64_t def,
                 int64_t *out)
{
  char buf[32];
  int n = qparam(c->rq, name, buf, sizeof buf);
  *out = def;
  if (n == -1)
    return true;
  char *end = NULL;
  long long v = n > 0 ? strtoll(buf, &end, 10) : 0;
  if (n <= 0 || *end || !(isdigit((unsigned char)buf[0]) || buf[0] == '-') || v < min ||
      v > max) {
    char msg[128];
    snprintf(msg, sizeof msg, "'%s' must be an integer in %" PRId64 "..%" PRId64, name, min, max);
    wg_api_error(c->rs, 400, msg);
    return false;
  }
  *out = v;
  return true;
}

/* An id query parameter (site, device, metric, type): absent gives NULL. */
static bool qid(struct ctx *c, const char *name, char *buf, size_t cap, const char **out)
{
  *out = NULL;
  int n = qparam(c->rq, name, buf, cap);
  if (n == -1)
    return true;
  if (n <= 0 || !fd_id_valid(buf, (size_t)n)) {
    char msg[96];
    snprintf(msg, sizeof msg, "'%s' must be 1..64 of [a-z0-9_-]", name);
    wg_api_error(c->rs, 400, msg);
    return false;
  }
  *out = buf;
  return true;
}

/* The JSON object body of a write: 415 without application/json, 400 when
 * it does not parse. */
static json_t *body_json(struct ctx *c)
{
  const char *ct = wg_req_header(c->rq, "Content-Type");
  size_t n = strlen("application/json");
  if (!ct || strncasecmp(ct, "application/json", n) != 0 ||
      !(ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ')) {
    wg_api_error(c->rs, 415, "Content-Type must be application/json");
    return NULL;
  }
  json_t *o = NULL;
  char why[128];
  int rc = fd_json_parse(c->rq->body, c->rq->body_len, (size_t)c->wg->max_body, &o, why,
                         sizeof why);
  if (rc != 0) {
    char msg[192];
    snprintf(msg, sizeof msg, "body: %s", rc == FARM_EEMPTY ? "empty" : why);
    wg_api_error(c->rs, 400, msg);
    return NULL;
  }
  return o;
}

/* Splits the path after /api/v1/ into segments; each must be an id or one
 * of the few other names routes use (openapi.json, alert ids are digits).
 * Returns false for anything else (404). */
static bool split_path(struct ctx *c, const char *rest)
{
  c->nseg = 0;
  if (!*rest)
    return false;
  for (const char *p = rest; *p;) {
    size_t len = strcspn(p, "/");
    if (len == 0 || c->nseg >= PATH_SEGS)
      return false;
    if (len < sizeof c->raw_id && c->nseg == 1 && strncmp(rest, "commands/", 9) == 0) {
      memcpy(c->raw_id, p, len);
      c->raw_id[len] = '\0';
    }
    bool ok = fd_id_valid(p, len) || (len == 12 && strncmp(p, "openapi.json", 12) == 0);
    if (!ok && !(c->nseg == 1 && strncmp(rest, "commands/", 9) == 0))
      return false;
    size_t keep = len < sizeof c->seg[0] - 1 ? len : sizeof c->seg[0] - 1;
    memcpy(c->seg[c->nseg], p, keep);
    c->seg[c->nseg][keep] = '\0';
    c->nseg++;
    p += len;
    if (*p == '/') {
      p++;
      if (!*p)
        return false; /* trailing slash */
    }
  }
  return true;
}

static bool seg_is(const struct ctx *c, int i, const char *s)
{
  return i < c->nseg && strcmp(c->seg[i], s) == 0;
}

/* A numeric id segment (alerts, rules, users, tokens, webhooks). */
static bool seg_num(struct ctx *c, int i, int64_t *out)
{
  const char *s = c->seg[i];
  if (!*s || strlen(s) > 18)
    goto bad;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p))
      goto bad;
  *out = strtoll(s, NULL, 10);
  if (*out > 0)
    return true;
bad:
  wg_api_error(c->rs, 404, "not found");
  return false;
}

/* ------------------------------------------------------------------ */
/* Authentication                                                     */

static bool ct_equal(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  size_t n = la > lb ? la : lb;
  unsigned diff = la != lb;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned)((i < la ? (unsigned char)a[i] : 0) ^ (i < lb ? (unsigned char)b[i] : 0));
  return diff == 0;
}

/* True when url is http(s)://host, or below it when path. */
static bool names_host(const char *url, const char *host, bool path)
{
  const char *rest;
  if (strncasecmp(url, "http://", 7) == 0)
    rest = url + 7;
  else if (strncasecmp(url, "https://", 8) == 0)
    rest = url + 8;
  else
    return false;
  size_t hl = strlen(host);
  if (strncasecmp(rest, host, hl) != 0)
    return false;
  return rest[hl] == '\0' || (path && rest[hl] == '/');
}

/* BAD-INPUTS 20: a browser request from another site is refused. Requests
 * without Origin, Referer and Sec-Fetch-Site (scripts) pass. */
static bool same_origin(const struct wg_req *rq)
{
  const char *host = wg_req_header(rq, "Host");
  if (!host || !host[0])
    return false;
  const char *sfs = wg_req_header(rq, "Sec-Fetch-Site");
  if (sfs && strcasecmp(sfs, "same-origin") != 0 && strcasecmp(sfs, "none") != 0)
    return false;
  const char *origin = wg_req_header(rq, "Origin");
  if (origin)
    return names_host(origin, host, false);
  const char *ref = wg_req_header(rq, "Referer");
  if (ref)
    return names_host(ref, host, true);
  return true;
}

static void refuse_auth(struct ctx *c, const char *msg, bool count)
{
  if (count) {
    atomic_fetch_add(&c->wg->m.login_failures, 1);
    wg_limit_fail(&c->wg->auth, c->rq->remote, fd_mono_ms());
  }
  wg_api_error(c->rs, 401, msg);
  add_header(c->rs, "WWW-Authenticate: Bearer realm=\"farm\"\r\n");
}

static bool rate_limited(struct ctx *c)
{
  int retry = 0;
  if (!wg_limit_blocked(&c->wg->auth, c->rq->remote, fd_mono_ms(), &retry))
    return false;
  atomic_fetch_add(&c->wg->m.rate_limited, 1);
  wg_api_error(c->rs, 429, "too many failed logins from this address; try again later");
  add_header(c->rs, "Retry-After: %d\r\n", retry);
  return true;
}

static bool need_db(struct ctx *c)
{
  if (c->db)
    return true;
  c->db = wg_db_get(c->wg);
  if (!c->db) {
    db_failed(c, FARM_EIO);
    return false;
  }
  return true;
}

/* Finds the credential of the request (bearer header, then the session
 * cookie, then ?token= when allow_query). False with rs set when absent,
 * malformed or unknown (401), limited (429) or the database is down. */
static bool authenticate(struct ctx *c, bool allow_query)
{
  if (rate_limited(c))
    return false;
  char tok[WG_TOKEN_LEN + 2] = "";
  const char *h = wg_req_header(c->rq, "Authorization");
  if (h) {
    if (strlen(h) > AUTH_HEADER_MAX || strncasecmp(h, "Bearer ", 7) != 0) {
      refuse_auth(c, "malformed Authorization header: expected 'Bearer <token>'", true);
      return false;
    }
    const char *t = h + 7;
    while (*t == ' ')
      t++;
    if (!wg_token_shape(t, strlen(t))) {
      refuse_auth(c, "invalid token", true);
      return false;
    }
    snprintf(tok, sizeof tok, "%s", t);
  } else {
    const char *ck = wg_req_header(c->rq, "Cookie");
    char v[128];
    if (ck && strlen(ck) <= 4096 && mg_get_cookie(ck, COOKIE_NAME, v, sizeof v) > 0) {
      if (!wg_token_shape(v, strlen(v))) {
        refuse_auth(c, "invalid session", true);
        return false;
      }
      snprintf(tok, sizeof tok, "%.47s", v);
      c->by_cookie = true;
    } else if (allow_query) {
      int n = qparam(c->rq, "token", v, sizeof v);
      if (n >= 0 && !wg_token_shape(v, (size_t)n)) {
        refuse_auth(c, "invalid token", true);
        return false;
      }
      if (n >= 0)
        snprintf(tok, sizeof tok, "%.47s", v);
    }
  }
  if (!tok[0]) {
    refuse_auth(c, "authentication required", false);
    return false;
  }
  snprintf(c->token, sizeof c->token, "%.47s", tok);
  explicit_bzero(tok, sizeof tok);
  int64_t mono = fd_mono_ms();
  /* The cache is keyed by the token itself, so a hit costs no hash. */
  if (wg_cache_get(&c->wg->auth, c->token, mono, &c->who))
    return true;
  wg_sha256_hex(c->token, strlen(c->token), c->token_hash);
  if (!need_db(c))
    return false;
  int rc = st_web_token_lookup(c->db, c->token_hash, fd_wall_ms(), &c->who);
  if (rc == FARM_ENOENT) {
    refuse_auth(c, c->by_cookie ? "session expired; log in again" : "invalid or expired token",
                true);
    return false;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return false;
  }
  wg_cache_put(&c->wg->auth, c->token, &c->who, mono);
  return true;
}

static enum role role_of(const char *r)
{
  if (strcmp(r, "admin") == 0)
    return R_ADMIN;
  if (strcmp(r, "operator") == 0)
    return R_OPERATOR;
  return R_VIEWER;
}

static bool require(struct ctx *c, enum role r)
{
  if (role_of(c->who.role) >= r)
    return true;
  wg_api_error(c->rs, 403,
               r == R_ADMIN ? "this needs the admin role" : "this needs the operator role");
  return false;
}

/* A state change with the session cookie needs the same origin and the
 * session's anti-CSRF value in X-CSRF-Token (BAD-INPUTS 20). */
static bool csrf_ok(struct ctx *c)
{
  if (!c->by_cookie || method_is(c, "GET") || method_is(c, "HEAD"))
    return true;
  const char *t = wg_req_header(c->rq, "X-CSRF-Token");
  if (same_origin(c->rq) && t && c->who.csrf[0] && ct_equal(t, c->who.csrf))
    return true;
  atomic_fetch_add(&c->wg->m.csrf_refused, 1);
  wg_api_error(c->rs, 403, "cross-site request refused: missing or wrong X-CSRF-Token");
  return false;
}

/* ------------------------------------------------------------------ */
/* Login, logout, me                                                  */

static void session_cookie(struct ctx *c, const char *token, int64_t max_age)
{
  add_header(c->rs, "Set-Cookie: " COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%" PRId64 "%s\r\n",
             token, max_age, c->wg->cookie_secure ? "; Secure" : "");
}

static void do_login(struct ctx *c)
{
  if (!method_is(c, "POST")) {
    not_allowed(c, "POST");
    return;
  }
  if (rate_limited(c))
    return;
  if (!same_origin(c->rq)) {
    atomic_fetch_add(&c->wg->m.csrf_refused, 1);
    wg_api_error(c->rs, 403, "cross-site login refused");
    return;
  }
  json_t *b = body_json(c);
  if (!b)
    return;
  const char *user = NULL, *pw = NULL;
  if (fd_json_get_str(b, "username", true, 64, NULL, &user) != 0 ||
      fd_json_get_str(b, "password", true, WG_PW_MAX, NULL, &pw) != 0) {
    json_decref(b);
    wg_api_error(c->rs, 400, "body must be {\"username\": text (1..64), \"password\": text (1..256)}");
    return;
  }
  if (!need_db(c)) {
    json_decref(b);
    return;
  }
  struct st_web_user u;
  int rc = st_web_user_get(c->db, 0, user, &u);
  if (rc != 0 && rc != FARM_ENOENT) {
    json_decref(b);
    db_failed(c, rc);
    return;
  }
  /* An unknown user costs one hash too, and gets the same answer. */
  bool ok = wg_pw_verify(&c->wg->auth, rc == 0 ? u.pw_hash : NULL, pw) && !u.disabled;
  explicit_bzero(u.pw_hash, sizeof u.pw_hash);
  json_decref(b);
  if (!ok) {
    fd_log(c->wg->log, FD_LOG_WARN, "login refused from %s", c->rq->remote);
    refuse_auth(c, "wrong username or password", true);
    return;
  }
  wg_limit_ok(&c->wg->auth, c->rq->remote);
  char token[WG_TOKEN_LEN + 1], csrf[WG_TOKEN_LEN + 1], hash[WG_HEX256_LEN + 1];
  if (wg_token_new(token, sizeof token) != 0 || wg_token_new(csrf, sizeof csrf) != 0) {
    wg_api_error(c->rs, 503, "no randomness available");
    return;
  }
  wg_sha256_hex(token, strlen(token), hash);
  int64_t now = fd_wall_ms();
  int64_t expires = now + c->wg->session_ttl_s * 1000;
  char name[96];
  snprintf(name, sizeof name, "login from %.60s", c->rq->remote);
  rc = st_web_token_add(c->db, u.id, "session", name, hash, csrf, now, expires, NULL);
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  atomic_fetch_add(&c->wg->m.logins, 1);
  fd_log(c->wg->log, FD_LOG_INFO, "user %s logged in from %s", u.username, c->rq->remote);
  resp_json(c->rs, 200,
            json_pack("{s:s,s:s,s:I,s:{s:I,s:s,s:s}}", "token", token, "csrf", csrf, "expires",
                      (json_int_t)expires, "user", "id", (json_int_t)u.id, "username",
                      u.username, "role", u.role));
  session_cookie(c, token, c->wg->session_ttl_s);
  explicit_bzero(token, sizeof token);
}

static void do_logout(struct ctx *c)
{
  if (!method_is(c, "POST")) {
    not_allowed(c, "POST");
    return;
  }
  if (!need_db(c))
    return;
  wg_sha256_hex(c->token, strlen(c->token), c->token_hash);
  int rc = st_web_token_delete_hash(c->db, c->token_hash);
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  wg_cache_clear_all(&c->wg->auth);
  resp_json(c->rs, 200, json_pack("{s:b}", "ok", 1));
  add_header(c->rs, "Set-Cookie: " COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n");
}

static void do_me(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  resp_json(c->rs, 200,
            json_pack("{s:I,s:s,s:s,s:s,s:s?}", "id", (json_int_t)c->who.user_id, "username",
                      c->who.username, "role", c->who.role, "kind", c->who.kind, "csrf",
                      c->by_cookie ? c->who.csrf : NULL));
}

/* ------------------------------------------------------------------ */
/* Reads                                                              */

static void list_result(struct ctx *c, int rc, json_t *arr, const char *key)
{
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  resp_json(c->rs, 200, json_pack("{s:o}", key, arr));
}

static void do_sites(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  json_t *arr;
  if (!need_db(c))
    return;
  int rc = st_web_sites(c->db, fd_wall_ms(), &arr);
  list_result(c, rc, arr, "sites");
}

static void do_devices(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  char sb[80];
  const char *site;
  if (!qid(c, "site", sb, sizeof sb, &site))
    return;
  struct wg *wg = c->wg;
  /* The unfiltered list is what every overview polls: it is served from a
   * copy at most cache_ms old. */
  if (!site && wg->cache_ms > 0) {
    struct wg_shared *b = wg_devices_cache_get(wg);
    if (b) {
      c->rs->status = 200;
      c->rs->type = "application/json";
      c->rs->body = b->data;
      c->rs->len = b->len;
      c->rs->shared = b;
      return;
    }
  }
  if (!need_db(c))
    return;
  json_t *arr;
  int rc = st_web_devices(c->db, site, fd_wall_ms(), &arr);
  list_result(c, rc, arr, "devices");
  if (rc == 0 && !site && wg->cache_ms > 0 && c->rs->status == 200)
    wg_devices_cache_put(wg, c->rs->body, c->rs->len);
}

static void do_device(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  if (!need_db(c))
    return;
  json_t *d;
  int rc = st_web_device(c->db, c->seg[1], fd_wall_ms(), &d);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such device");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  resp_json(c->rs, 200, d);
}

static bool wants_csv(const struct wg_req *rq)
{
  const char *a = wg_req_header(rq, "Accept");
  return a && strstr(a, "text/csv") != NULL;
}

static void do_telemetry(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  char mb[80];
  const char *metric;
  if (!qid(c, "metric", mb, sizeof mb, &metric))
    return;
  if (!metric) {
    wg_api_error(c->rs, 400, "'metric' is required");
    return;
  }
  int64_t now = fd_wall_ms(), from, to, step;
  if (!qint(c, "to", 0, INT64_C(1) << 50, now + 1, &to) ||
      !qint(c, "from", 0, INT64_C(1) << 50, to - 86400000, &from) ||
      !qint(c, "step", 0, 86400000LL * 31, 0, &step))
    return;
  if (from >= to || to - from > SERIES_SPAN_MAX) {
    wg_api_error(c->rs, 400, "need from < to, at most 400 days apart");
    return;
  }
  if (step % 60000 != 0) {
    wg_api_error(c->rs, 400, "'step' must be 0 (raw) or a multiple of 60000 ms");
    return;
  }
  if (!need_db(c))
    return;
  char site[FD_ID_MAX + 1];
  int rc = st_web_device_site(c->db, c->seg[1], site, sizeof site);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such device");
    return;
  }
  json_t *pts = NULL;
  if (rc == 0)
    rc = st_web_series(c->db, c->seg[1], metric, from, to, step, RAW_POINTS_MAX, &pts);
  if (rc == FARM_ETOOBIG) {
    wg_api_error(c->rs, 422, "more than 50000 points: pass a step (e.g. step=60000)");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  if (wants_csv(c->rq)) {
    /* One line per point; numbers as %.17g round-trip exactly. */
    size_t n = json_array_size(pts), cap = 64 + n * 96, len = 0;
    char *out = malloc(cap);
    if (!out) {
      json_decref(pts);
      wg_api_error(c->rs, 503, "out of memory");
      return;
    }
    len += (size_t)snprintf(out, cap, step ? "ts,mean,min,max,count\n" : "ts,value\n");
    size_t i;
    json_t *pt;
    json_array_foreach(pts, i, pt)
    {
      if (step)
        len += (size_t)snprintf(out + len, cap - len, "%" JSON_INTEGER_FORMAT ",%.17g,%.17g,%.17g,%" JSON_INTEGER_FORMAT "\n",
                                json_integer_value(json_array_get(pt, 0)),
                                json_real_value(json_array_get(pt, 1)),
                                json_real_value(json_array_get(pt, 2)),
                                json_real_value(json_array_get(pt, 3)),
                                json_integer_value(json_array_get(pt, 4)));
      else
        len += (size_t)snprintf(out + len, cap - len, "%" JSON_INTEGER_FORMAT ",%.17g\n",
                                json_integer_value(json_array_get(pt, 0)),
                                json_real_value(json_array_get(pt, 1)));
    }
    json_decref(pts);
    c->rs->status = 200;
    c->rs->type = "text/csv; charset=utf-8";
    c->rs->body = out;
    c->rs->len = len;
    add_header(c->rs, "Content-Disposition: attachment; filename=\"%s-%s.csv\"\r\n", c->seg[1],
               metric);
    return;
  }
  resp_json(c->rs, 200,
            json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o}", "device", c->seg[1], "site", site,
                      "metric", metric, "from", (json_int_t)from, "to", (json_int_t)to, "step",
                      (json_int_t)step, "points", pts));
}

static void do_events(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  char sb[80], db_[80], tb[80];
  const char *site, *device, *type;
  int64_t now = fd_wall_ms(), from, to, limit;
  if (!qid(c, "site", sb, sizeof sb, &site) || !qid(c, "device", db_, sizeof db_, &device) ||
      !qint(c, "to", 0, INT64_C(1) << 50, now + 86400000, &to) ||
      !qint(c, "from", 0, INT64_C(1) << 50, 0, &from) ||
      !qint(c, "limit", 1, LIST_LIMIT_MAX, 100, &limit))
    return;
  int n = qparam(c->rq, "type", tb, sizeof tb);
  type = NULL;
  if (n >= 0) {
    bool ok = n > 0 && n <= 64;
    for (int i = 0; ok && i < n; i++)
      ok = (tb[i] >= 'a' && tb[i] <= 'z') || (tb[i] >= '0' && tb[i] <= '9') || tb[i] == '_' ||
           tb[i] == '.' || tb[i] == '-';
    if (!ok) {
      wg_api_error(c->rs, 400, "'type' must be 1..64 of [a-z0-9_.-]");
      return;
    }
    type = tb;
  }
  if (!need_db(c))
    return;
  json_t *arr;
  int rc = st_web_events(c->db, site, device, type, from, to, limit, &arr);
  list_result(c, rc, arr, "events");
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */

static void rfc3339(int64_t ms, char *out, size_t cap)
{
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

static bool cmd_id_ok(const char *s)
{
  size_t n = strlen(s);
  if (n < 8 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
      return false;
  return true;
}

static void do_post_command(struct ctx *c)
{
  if (!require(c, R_OPERATOR))
    return;
  json_t *b = body_json(c);
  if (!b)
    return;
  const char *name = NULL, *id_in = NULL;
  int64_t ttl;
  json_t *args = json_object_get(b, "args");
  int rc = fd_json_get_str(b, "name", true, 31, NULL, &name);
  if (rc == 0)
    rc = fd_json_get_i64(b, "expires_in_s", false, 1, 86400, c->wg->command_ttl_s, &ttl);
  if (rc == 0)
    rc = fd_json_get_str(b, "id", false, 64, NULL, &id_in);
  if (rc != 0 || (id_in && !cmd_id_ok(id_in))) {
    json_decref(b);
    wg_api_error(c->rs, 400,
                 "body must be {\"name\": text, \"args\": object, \"expires_in_s\": 1..86400,"
                 " \"id\": optional 8..64 of [A-Za-z0-9_-]}");
    return;
  }
  char why[160];
  rc = wg_cmd_check(name, args, why, sizeof why);
  if (rc != 0) {
    /* A shape error of the body is 400; a well-formed but refused command
     * is 422. */
    int status = rc == FARM_ETYPE && args && !json_is_object(args) && !json_is_null(args) ? 400 : 422;
    json_decref(b);
    wg_api_error(c->rs, status, why);
    return;
  }
  if (!need_db(c)) {
    json_decref(b);
    return;
  }
  const char *device = c->seg[1];
  char site[FD_ID_MAX + 1];
  rc = st_web_device_site(c->db, device, site, sizeof site);
  if (rc != 0) {
    json_decref(b);
    if (rc == FARM_ENOENT)
      wg_api_error(c->rs, 404, "no such device");
    else
      db_failed(c, rc);
    return;
  }
  char id[72];
  if (id_in)
    snprintf(id, sizeof id, "%s", id_in);
  else if (wg_uuid4(id, sizeof id) != 0) {
    json_decref(b);
    wg_api_error(c->rs, 503, "no randomness available");
    return;
  }
  if (id_in) {
    /* A repeated id reports the first command, which is not sent again
     * (BAD-INPUTS 23). */
    json_t *old;
    rc = st_web_command(c->db, id, &old);
    if (rc == 0) {
      json_decref(b);
      if (strcmp(json_string_value(json_object_get(old, "device")), device) != 0) {
        json_decref(old);
        wg_api_error(c->rs, 409, "this command id belongs to another device");
        return;
      }
      resp_json(c->rs, 200, old);
      return;
    }
    if (rc != FARM_ENOENT) {
      json_decref(b);
      db_failed(c, rc);
      return;
    }
  }
  if (!fd_mqtt_connected(c->wg->mqtt)) {
    json_decref(b);
    wg_api_error(c->rs, 503, "the broker is unreachable; the command was not sent");
    return;
  }
  int64_t now = fd_wall_ms(), expires = now + ttl * 1000;
  json_t *a = args && json_is_object(args) ? json_incref(args) : json_object();
  char *args_text = fd_json_dump(a);
  struct st_web_command cmd = {.id = id, .site = site, .device = device, .name = name,
                               .args_json = args_text ? args_text : "{}",
                               .created_by = c->who.username, .created_ts = now,
                               .expires_ts = expires};
  rc = st_web_command_add(c->db, &cmd);
  free(args_text);
  if (rc == FARM_EEXIST) {
    json_decref(a);
    json_decref(b);
    wg_api_error(c->rs, 409, "command id already used");
    return;
  }
  if (rc != 0) {
    json_decref(a);
    json_decref(b);
    db_failed(c, rc);
    return;
  }
  char exp[40];
  rfc3339(expires, exp, sizeof exp);
  json_t *msg = json_pack("{s:s,s:s,s:O,s:s}", "id", id, "name", name, "args", a, "expires", exp);
  char *payload = fd_json_dump(msg);
  json_decref(msg);
  struct fd_topic t = {.kind = FD_TOPIC_CMD};
  snprintf(t.site, sizeof t.site, "%s", site);
  snprintf(t.device, sizeof t.device, "%.64s", device);
  char topic[FD_TOPIC_MAX];
  rc = payload ? fd_topic_format(&t, topic, sizeof topic) : FARM_ENOMEM;
  if (rc == 0)
    rc = fd_mqtt_publish(c->wg->mqtt, topic, payload, strlen(payload), 1, false, NULL);
  free(payload);
  if (rc != 0) {
    bool changed;
    st_web_command_update(c->db, id, device, "failed", "could not publish to the broker", now,
                          &changed);
    json_decref(a);
    json_decref(b);
    wg_api_error(c->rs, 503, "the broker is unreachable; the command was not sent");
    return;
  }
  atomic_fetch_add(&c->wg->m.commands, 1);
  fd_log(c->wg->log, FD_LOG_INFO, "command %s %s to %s/%s by %s", id, name, site, device,
         c->who.username);
  resp_json(c->rs, 202,
            json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:I}", "id", id, "state", "pending", "device",
                      device, "name", name, "args", a, "expires", exp, "expires_ts",
                      (json_int_t)expires));
  json_decref(b);
}

static void do_device_commands(struct ctx *c)
{
  if (method_is(c, "POST")) {
    do_post_command(c);
    return;
  }
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET, POST");
    return;
  }
  int64_t limit;
  if (!qint(c, "limit", 1, LIST_LIMIT_MAX, 50, &limit) || !need_db(c))
    return;
  json_t *arr;
  int rc = st_web_commands(c->db, c->seg[1], limit, &arr);
  list_result(c, rc, arr, "commands");
}

static void do_command(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  if (!cmd_id_ok(c->raw_id)) {
    wg_api_error(c->rs, 404, "no such command");
    return;
  }
  if (!need_db(c))
    return;
  json_t *o;
  int rc = st_web_command(c->db, c->raw_id, &o);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such command");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  resp_json(c->rs, 200, o);
}

/* ------------------------------------------------------------------ */
/* Alerts and rules                                                   */

static void do_alerts(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  char stb[32], db_[80];
  const char *device;
  int64_t limit;
  if (!qid(c, "device", db_, sizeof db_, &device) ||
      !qint(c, "limit", 1, LIST_LIMIT_MAX, 100, &limit))
    return;
  int n = qparam(c->rq, "state", stb, sizeof stb);
  const char *state = n >= 0 ? stb : NULL;
  if (state && strcmp(state, "open") != 0 && strcmp(state, "acknowledged") != 0 &&
      strcmp(state, "resolved") != 0 && strcmp(state, "active") != 0) {
    wg_api_error(c->rs, 400, "'state' must be open, acknowledged, resolved or active");
    return;
  }
  if (!need_db(c))
    return;
  json_t *arr;
  int rc = st_web_alerts(c->db, state, device, limit, &arr);
  list_result(c, rc, arr, "alerts");
}

static void do_alert(struct ctx *c)
{
  int64_t id;
  if (!seg_num(c, 1, &id))
    return;
  bool ack = c->nseg == 3 && seg_is(c, 2, "ack");
  if (c->nseg == 3 && !ack) {
    wg_api_error(c->rs, 404, "not found");
    return;
  }
  if (ack ? !method_is(c, "POST") : !method_is(c, "GET")) {
    not_allowed(c, ack ? "POST" : "GET");
    return;
  }
  if (ack && !require(c, R_OPERATOR))
    return;
  if (!need_db(c))
    return;
  json_t *a;
  int rc = st_web_alert(c->db, id, &a);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such alert");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  if (!ack) {
    resp_json(c->rs, 200, a);
    return;
  }
  const char *state = json_string_value(json_object_get(a, "state"));
  if (strcmp(state, "open") != 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "the alert is %s", state);
    json_decref(a);
    wg_api_error(c->rs, 409, msg);
    return;
  }
  json_decref(a);
  /* The streamer owns alert state: it applies the acknowledgement and
   * publishes the transition (docs/iot-streamer.md, Topics). */
  json_t *m = json_pack("{s:I,s:s}", "id", (json_int_t)id, "by", c->who.username);
  char *payload = fd_json_dump(m);
  json_decref(m);
  rc = payload ? fd_mqtt_publish(c->wg->mqtt, "v1/cloud/alerts/ack", payload, strlen(payload), 1,
                                 false, NULL)
               : FARM_ENOMEM;
  free(payload);
  if (rc != 0) {
    wg_api_error(c->rs, 503, "the broker is unreachable");
    return;
  }
  resp_json(c->rs, 202, json_pack("{s:I,s:s}", "id", (json_int_t)id, "state", "acknowledging"));
}

/* Reads a rule body; false with rs set when invalid (422 with the reason). */
static bool rule_from(struct ctx *c, json_t *b, struct st_web_rule *r)
{
  memset(r, 0, sizeof *r);
  const char *why = NULL;
  int rc = fd_json_get_str(b, "name", true, 128, NULL, &r->name);
  if (rc)
    why = "'name' is required (1..128 bytes)";
  if (!why && fd_json_get_str(b, "kind", true, 16, NULL, &r->kind) != 0)
    why = "'kind' must be threshold, rate, flatline or offline";
  if (!why && strcmp(r->kind, "threshold") && strcmp(r->kind, "rate") &&
      strcmp(r->kind, "flatline") && strcmp(r->kind, "offline"))
    why = "'kind' must be threshold, rate, flatline or offline";
  const char *keys[3] = {"site", "device", "metric"};
  const char **dst[3] = {&r->site, &r->device, &r->metric};
  for (int i = 0; !why && i < 3; i++) {
    if (fd_json_get_str(b, keys[i], false, FD_ID_MAX, NULL, dst[i]) != 0 ||
        (*dst[i] && !fd_id_valid(*dst[i], strlen(*dst[i]))))
      why = i == 0 ? "'site' must be an id" : i == 1 ? "'device' must be an id" : "'metric' must be an id";
  }
  if (!why && !r->metric && strcmp(r->kind, "offline") != 0)
    why = "'metric' is required except for offline rules";
  if (!why && fd_json_get_str(b, "op", false, 2, NULL, &r->op) != 0)
    why = "'op' must be >, >=, < or <=";
  if (!why && r->op && strcmp(r->op, ">") && strcmp(r->op, ">=") && strcmp(r->op, "<") &&
      strcmp(r->op, "<="))
    why = "'op' must be >, >=, < or <=";
  bool needs_op = !why && (strcmp(r->kind, "threshold") == 0 || strcmp(r->kind, "rate") == 0);
  if (needs_op && !r->op)
    why = "'op' is required for threshold and rate rules";
  json_t *th = json_object_get(b, "threshold");
  if (!why && th && !json_is_null(th)) {
    if (fd_json_get_f64(b, "threshold", false, -1e12, 1e12, 0, &r->threshold) != 0)
      why = "'threshold' must be a number";
    r->has_threshold = true;
  }
  if (!why && needs_op && !r->has_threshold)
    why = "'threshold' is required for threshold and rate rules";
  if (!why && strcmp(r->kind, "offline") == 0 && r->has_threshold &&
      (r->threshold < 1 || r->threshold > 1000))
    why = "offline 'threshold' (the multiple of the interval) must be 1..1000";
  if (!why && fd_json_get_i64(b, "duration_ms", false, 0, 30LL * 86400000, 0, &r->duration_ms) != 0)
    why = "'duration_ms' must be 0..2592000000";
  if (!why && fd_json_get_bool(b, "enabled", false, true, &r->enabled) != 0)
    why = "'enabled' must be true or false";
  if (why) {
    wg_api_error(c->rs, 422, why);
    return false;
  }
  return true;
}

static void do_rules(struct ctx *c)
{
  if (c->nseg == 1) {
    if (method_is(c, "GET")) {
      if (!need_db(c))
        return;
      json_t *arr;
      int rc = st_web_rules(c->db, &arr);
      list_result(c, rc, arr, "rules");
      return;
    }
    if (!method_is(c, "POST")) {
      not_allowed(c, "GET, POST");
      return;
    }
    if (!require(c, R_OPERATOR))
      return;
    json_t *b = body_json(c);
    struct st_web_rule r;
    if (!b || !rule_from(c, b, &r) || !need_db(c)) {
      json_decref(b);
      return;
    }
    int64_t id;
    int rc = st_web_rule_add(c->db, &r, &id);
    json_decref(b);
    json_t *o = NULL;
    if (rc == 0)
      rc = st_web_rule(c->db, id, &o);
    if (rc != 0) {
      db_failed(c, rc);
      return;
    }
    resp_json(c->rs, 201, o);
    return;
  }
  int64_t id;
  if (c->nseg != 2 || !seg_num(c, 1, &id)) {
    if (!c->rs->status)
      wg_api_error(c->rs, 404, "not found");
    return;
  }
  bool get = method_is(c, "GET"), put = method_is(c, "PUT"), del = method_is(c, "DELETE");
  if (!get && !put && !del) {
    not_allowed(c, "GET, PUT, DELETE");
    return;
  }
  if (!get && !require(c, R_OPERATOR))
    return;
  json_t *b = NULL;
  struct st_web_rule r;
  if (put && (!(b = body_json(c)) || !rule_from(c, b, &r))) {
    json_decref(b);
    return;
  }
  if (!need_db(c)) {
    json_decref(b);
    return;
  }
  int rc = put ? st_web_rule_update(c->db, id, &r) : del ? st_web_rule_delete(c->db, id) : 0;
  json_decref(b);
  json_t *o = NULL;
  if (rc == 0 && !del)
    rc = st_web_rule(c->db, id, &o);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such rule");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  if (del)
    resp_json(c->rs, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
  else
    resp_json(c->rs, 200, o);
}

/* ------------------------------------------------------------------ */
/* Users and tokens (admin)                                           */

static bool username_ok(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
          s[i] == '-' || s[i] == '.'))
      return false;
  return true;
}

static bool role_ok(const char *r)
{
  return r && (strcmp(r, "viewer") == 0 || strcmp(r, "operator") == 0 || strcmp(r, "admin") == 0);
}

static void do_users(struct ctx *c)
{
  if (!require(c, R_ADMIN))
    return;
  if (c->nseg == 1) {
    if (method_is(c, "GET")) {
      if (!need_db(c))
        return;
      json_t *arr;
      int rc = st_web_users(c->db, &arr);
      list_result(c, rc, arr, "users");
      return;
    }
    if (!method_is(c, "POST")) {
      not_allowed(c, "GET, POST");
      return;
    }
    json_t *b = body_json(c);
    if (!b)
      return;
    const char *name = NULL, *pw = NULL, *role = NULL;
    fd_json_get_str(b, "username", true, 64, NULL, &name);
    fd_json_get_str(b, "password", true, WG_PW_MAX, NULL, &pw);
    fd_json_get_str(b, "role", false, 16, "viewer", &role);
    if (!name || !username_ok(name) || !pw || strlen(pw) < WG_PW_MIN || !role_ok(role)) {
      json_decref(b);
      wg_api_error(c->rs, 422,
                   "need username (1..64 of [a-z0-9_.-]), password (8..256 bytes),"
                   " role (viewer, operator or admin)");
      return;
    }
    char hash[WG_PW_HASH_MAX];
    int rc = wg_pw_hash(&c->wg->auth, pw, hash, sizeof hash);
    if (rc != 0 || !need_db(c)) {
      json_decref(b);
      if (rc)
        wg_api_error(c->rs, 503, "cannot hash the password");
      return;
    }
    int64_t id;
    rc = st_web_user_add(c->db, name, role, hash, fd_wall_ms(), &id);
    if (rc == FARM_EEXIST) {
      json_decref(b);
      wg_api_error(c->rs, 409, "this username is taken");
      return;
    }
    if (rc != 0) {
      json_decref(b);
      db_failed(c, rc);
      return;
    }
    resp_json(c->rs, 201,
              json_pack("{s:I,s:s,s:s,s:b}", "id", (json_int_t)id, "username", name, "role", role,
                        "disabled", 0));
    json_decref(b);
    return;
  }
  int64_t id;
  if (c->nseg != 2 || !seg_num(c, 1, &id)) {
    if (!c->rs->status)
      wg_api_error(c->rs, 404, "not found");
    return;
  }
  bool get = method_is(c, "GET"), patch = method_is(c, "PATCH"), del = method_is(c, "DELETE");
  if (!get && !patch && !del) {
    not_allowed(c, "GET, PATCH, DELETE");
    return;
  }
  if (!need_db(c))
    return;
  struct st_web_user u;
  int rc = st_web_user_get(c->db, id, NULL, &u);
  explicit_bzero(u.pw_hash, sizeof u.pw_hash);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such user");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  if (get) {
    resp_json(c->rs, 200,
              json_pack("{s:I,s:s,s:s,s:b}", "id", (json_int_t)u.id, "username", u.username,
                        "role", u.role, "disabled", u.disabled));
    return;
  }
  json_t *b = NULL;
  const char *role = NULL, *pw = NULL;
  bool disabled = u.disabled;
  if (patch) {
    if (!(b = body_json(c)))
      return;
    bool bad = fd_json_get_str(b, "role", false, 16, NULL, &role) != 0 || (role && !role_ok(role)) ||
               fd_json_get_str(b, "password", false, WG_PW_MAX, NULL, &pw) != 0 ||
               (pw && strlen(pw) < WG_PW_MIN) ||
               fd_json_get_bool(b, "disabled", false, u.disabled, &disabled) != 0;
    if (bad) {
      json_decref(b);
      wg_api_error(c->rs, 422,
                   "fields: role (viewer, operator, admin), password (8..256), disabled (bool)");
      return;
    }
  }
  /* Never leave the gateway without an administrator. */
  bool loses_admin = strcmp(u.role, "admin") == 0 &&
                     (del || (role && strcmp(role, "admin") != 0) || (disabled && !u.disabled));
  if (loses_admin) {
    int64_t others;
    rc = st_web_other_admins(c->db, id, &others);
    if (rc != 0) {
      json_decref(b);
      db_failed(c, rc);
      return;
    }
    if (others == 0) {
      json_decref(b);
      wg_api_error(c->rs, 409, "the last administrator cannot be removed or demoted");
      return;
    }
  }
  if (del) {
    rc = st_web_user_delete(c->db, id);
  } else {
    char hash[WG_PW_HASH_MAX];
    if (pw && wg_pw_hash(&c->wg->auth, pw, hash, sizeof hash) != 0) {
      json_decref(b);
      wg_api_error(c->rs, 503, "cannot hash the password");
      return;
    }
    rc = st_web_user_update(c->db, id, role, pw ? hash : NULL,
                            disabled == u.disabled ? -1 : (int)disabled);
  }
  json_decref(b);
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  wg_cache_clear_all(&c->wg->auth);
  if (del) {
    resp_json(c->rs, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
    return;
  }
  rc = st_web_user_get(c->db, id, NULL, &u);
  explicit_bzero(u.pw_hash, sizeof u.pw_hash);
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  resp_json(c->rs, 200,
            json_pack("{s:I,s:s,s:s,s:b}", "id", (json_int_t)u.id, "username", u.username,
                      "role", u.role, "disabled", u.disabled));
}

static void do_tokens(struct ctx *c)
{
  if (!require(c, R_ADMIN))
    return;
  if (c->nseg == 1) {
    if (method_is(c, "GET")) {
      if (!need_db(c))
        return;
      json_t *arr;
      int rc = st_web_tokens(c->db, 0, &arr);
      list_result(c, rc, arr, "tokens");
      return;
    }
    if (!method_is(c, "POST")) {
      not_allowed(c, "GET, POST");
      return;
    }
    json_t *b = body_json(c);
    if (!b)
      return;
    const char *name = NULL, *user = NULL;
    int64_t ttl = 0;
    bool bad = fd_json_get_str(b, "name", true, 128, NULL, &name) != 0 ||
               fd_json_get_str(b, "user", false, 64, NULL, &user) != 0 ||
               fd_json_get_i64(b, "expires_in_s", false, 0, 10LL * 365 * 86400, 0, &ttl) != 0;
    if (bad) {
      json_decref(b);
      wg_api_error(c->rs, 422,
                   "need name (1..128), optional user (default: you), expires_in_s (0 = never)");
      return;
    }
    if (!need_db(c)) {
      json_decref(b);
      return;
    }
    int64_t uid = c->who.user_id;
    if (user) {
      struct st_web_user u;
      int rc = st_web_user_get(c->db, 0, user, &u);
      explicit_bzero(u.pw_hash, sizeof u.pw_hash);
      if (rc != 0) {
        json_decref(b);
        if (rc == FARM_ENOENT)
          wg_api_error(c->rs, 422, "no such user");
        else
          db_failed(c, rc);
        return;
      }
      uid = u.id;
    }
    char token[WG_TOKEN_LEN + 1], hash[WG_HEX256_LEN + 1];
    if (wg_token_new(token, sizeof token) != 0) {
      json_decref(b);
      wg_api_error(c->rs, 503, "no randomness available");
      return;
    }
    wg_sha256_hex(token, strlen(token), hash);
    int64_t now = fd_wall_ms(), id;
    int rc = st_web_token_add(c->db, uid, "api", name, hash, NULL, now,
                              ttl ? now + ttl * 1000 : 0, &id);
    if (rc != 0) {
      json_decref(b);
      db_failed(c, rc);
      return;
    }
    /* The only time the secret is shown. */
    resp_json(c->rs, 201,
              json_pack("{s:I,s:s,s:s,s:s?,s:I}", "id", (json_int_t)id, "name", name, "token",
                        token, "user", user ? user : c->who.username, "expires_ts",
                        (json_int_t)(ttl ? now + ttl * 1000 : 0)));
    explicit_bzero(token, sizeof token);
    json_decref(b);
    return;
  }
  int64_t id;
  if (c->nseg != 2 || !seg_num(c, 1, &id)) {
    if (!c->rs->status)
      wg_api_error(c->rs, 404, "not found");
    return;
  }
  if (!method_is(c, "DELETE")) {
    not_allowed(c, "DELETE");
    return;
  }
  if (!need_db(c))
    return;
  int rc = st_web_token_delete(c->db, id, 0);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such token");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  wg_cache_clear_all(&c->wg->auth);
  resp_json(c->rs, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
}

/* ------------------------------------------------------------------ */
/* Webhooks (admin)                                                   */

static const char *const hook_kinds[] = {"alert", "event", "telemetry", "status", "command"};

/* events: an array of kinds -> "a,b"; false when invalid. */
static bool hook_events(json_t *v, char *out, size_t cap)
{
  if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 5)
    return false;
  out[0] = '\0';
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e)
  {
    bool ok = false;
    for (size_t k = 0; json_is_string(e) && k < 5; k++)
      ok = ok || strcmp(json_string_value(e), hook_kinds[k]) == 0;
    if (!ok)
      return false;
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s%s", used ? "," : "", json_string_value(e));
  }
  return true;
}

static bool hook_from(struct ctx *c, json_t *b, struct st_web_hook *h, char *events, size_t cap)
{
  memset(h, 0, sizeof *h);
  const char *why = NULL;
  if (fd_json_get_str(b, "url", true, 512, NULL, &h->url) != 0 ||
      (strncmp(h->url, "http://", 7) != 0 && strncmp(h->url, "https://", 8) != 0) ||
      strpbrk(h->url, " \t\r\n"))
    why = "'url' must be an http:// or https:// URL of at most 512 bytes";
  if (!why && !hook_events(json_object_get(b, "events"), events, cap))
    why = "'events' must be a list of alert, event, telemetry, status, command";
  if (!why && (fd_json_get_str(b, "secret", false, 256, NULL, &h->secret) != 0 ||
               (h->secret && strlen(h->secret) < 16)))
    why = "'secret' must be 16..256 bytes";
  const char *keys[3] = {"site", "device", "metric"};
  const char **dst[3] = {&h->site, &h->device, &h->metric};
  for (int i = 0; !why && i < 3; i++)
    if (fd_json_get_str(b, keys[i], false, FD_ID_MAX, NULL, dst[i]) != 0 ||
        (*dst[i] && !fd_id_valid(*dst[i], strlen(*dst[i]))))
      why = "'site', 'device' and 'metric' filters must be ids";
  if (!why && fd_json_get_bool(b, "enabled", false, true, &h->enabled) != 0)
    why = "'enabled' must be true or false";
  h->events = events;
  if (why) {
    wg_api_error(c->rs, 422, why);
    return false;
  }
  return true;
}

static void hook_done(struct ctx *c)
{
  /* The service reloads its copy of the hooks at its next turn. */
  atomic_store(&c->wg->hooks_changed, true);
}

static void do_webhooks(struct ctx *c)
{
  if (!require(c, R_ADMIN))
    return;
  char events[64];
  if (c->nseg == 1) {
    if (method_is(c, "GET")) {
      if (!need_db(c))
        return;
      json_t *arr;
      int rc = st_web_hooks(c->db, &arr);
      list_result(c, rc, arr, "webhooks");
      return;
    }
    if (!method_is(c, "POST")) {
      not_allowed(c, "GET, POST");
      return;
    }
    json_t *b = body_json(c);
    struct st_web_hook h;
    if (!b || !hook_from(c, b, &h, events, sizeof events) || !need_db(c)) {
      json_decref(b);
      return;
    }
    char secret[WG_TOKEN_LEN + 1];
    if (!h.secret) {
      if (wg_token_new(secret, sizeof secret) != 0) {
        json_decref(b);
        wg_api_error(c->rs, 503, "no randomness available");
        return;
      }
      h.secret = secret;
    }
    int64_t id;
    int rc = st_web_hook_add(c->db, &h, fd_wall_ms(), &id);
    json_t *o = NULL;
    if (rc == 0)
      rc = st_web_hook(c->db, id, true, &o);
    json_decref(b);
    if (rc != 0) {
      db_failed(c, rc);
      return;
    }
    hook_done(c);
    resp_json(c->rs, 201, o);
    return;
  }
  int64_t id;
  if (c->nseg > 3 || !seg_num(c, 1, &id)) {
    if (!c->rs->status)
      wg_api_error(c->rs, 404, "not found");
    return;
  }
  if (c->nseg == 3) {
    if (!seg_is(c, 2, "deliveries")) {
      wg_api_error(c->rs, 404, "not found");
      return;
    }
    if (!method_is(c, "GET")) {
      not_allowed(c, "GET");
      return;
    }
    int64_t limit;
    if (!qint(c, "limit", 1, LIST_LIMIT_MAX, 50, &limit) || !need_db(c))
      return;
    json_t *o;
    int rc = st_web_hook(c->db, id, false, &o);
    if (rc == FARM_ENOENT) {
      wg_api_error(c->rs, 404, "no such webhook");
      return;
    }
    json_decref(o);
    json_t *arr = NULL;
    if (rc == 0)
      rc = st_web_deliveries(c->db, id, limit, &arr);
    list_result(c, rc, arr, "deliveries");
    return;
  }
  bool get = method_is(c, "GET"), put = method_is(c, "PUT"), del = method_is(c, "DELETE");
  if (!get && !put && !del) {
    not_allowed(c, "GET, PUT, DELETE");
    return;
  }
  json_t *b = NULL;
  struct st_web_hook h;
  if (put && (!(b = body_json(c)) || !hook_from(c, b, &h, events, sizeof events))) {
    json_decref(b);
    return;
  }
  if (!need_db(c)) {
    json_decref(b);
    return;
  }
  int rc = put ? st_web_hook_update(c->db, id, &h) : del ? st_web_hook_delete(c->db, id) : 0;
  json_decref(b);
  json_t *o = NULL;
  if (rc == 0 && !del)
    rc = st_web_hook(c->db, id, false, &o);
  if (rc == FARM_ENOENT) {
    wg_api_error(c->rs, 404, "no such webhook");
    return;
  }
  if (rc != 0) {
    db_failed(c, rc);
    return;
  }
  if (!get)
    hook_done(c);
  if (del)
    resp_json(c->rs, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
  else
    resp_json(c->rs, 200, o);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */

static void do_openapi(struct ctx *c)
{
  if (!method_is(c, "GET")) {
    not_allowed(c, "GET");
    return;
  }
  if (!c->wg->openapi) {
    wg_api_error(c->rs, 404, "no OpenAPI document installed");
    return;
  }
  c->rs->status = 200;
  c->rs->type = "application/json";
  c->rs->body = c->wg->openapi;
  c->rs->len = c->wg->openapi_len;
  c->rs->static_body = true;
}

static void route(struct ctx *c)
{
  const char *s0 = c->seg[0];
  if (c->nseg == 1 && strcmp(s0, "openapi.json") == 0)
    do_openapi(c);
  else if (c->nseg == 1 && strcmp(s0, "logout") == 0)
    do_logout(c);
  else if (c->nseg == 1 && strcmp(s0, "me") == 0)
    do_me(c);
  else if (c->nseg == 1 && strcmp(s0, "sites") == 0)
    do_sites(c);
  else if (c->nseg == 1 && strcmp(s0, "devices") == 0)
    do_devices(c);
  else if (c->nseg == 2 && strcmp(s0, "devices") == 0)
    do_device(c);
  else if (c->nseg == 3 && strcmp(s0, "devices") == 0 && seg_is(c, 2, "telemetry"))
    do_telemetry(c);
  else if (c->nseg == 3 && strcmp(s0, "devices") == 0 && seg_is(c, 2, "commands"))
    do_device_commands(c);
  else if (c->nseg == 2 && strcmp(s0, "commands") == 0)
    do_command(c);
  else if (c->nseg == 1 && strcmp(s0, "alerts") == 0)
    do_alerts(c);
  else if ((c->nseg == 2 || c->nseg == 3) && strcmp(s0, "alerts") == 0)
    do_alert(c);
  else if (c->nseg == 1 && strcmp(s0, "events") == 0)
    do_events(c);
  else if (strcmp(s0, "rules") == 0)
    do_rules(c);
  else if (strcmp(s0, "users") == 0)
    do_users(c);
  else if (strcmp(s0, "tokens") == 0)
    do_tokens(c);
  else if (strcmp(s0, "webhooks") == 0)
    do_webhooks(c);
  else if (c->nseg == 1 && strcmp(s0, "live") == 0)
    wg_api_error(c->rs, 400, "live is a WebSocket: send an Upgrade request");
  else
    wg_api_error(c->rs, 404, "not found");
}

static void finish(struct ctx *c)
{
  explicit_bzero(c->token, sizeof c->token);
  if (c->db)
    wg_db_put(c->wg, c->db, c->db_broken);
  c->db = NULL;
}

void wg_api_handle(struct wg *wg, const struct wg_req *rq, struct wg_resp *rs)
{
  struct ctx c = {.wg = wg, .rq = rq, .rs = rs};
  if (strcmp(rq->path, "/healthz") == 0 || strcmp(rq->path, "/metrics") == 0) {
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
      not_allowed(&c, "GET, HEAD");
      return;
    }
    if (strcmp(rq->path, "/healthz") == 0) {
      int status;
      json_t *h = wg_health(wg, &status);
      resp_json(rs, status, h);
    } else {
      char *text = wg_metrics_text(wg);
      if (!text) {
        wg_api_error(rs, 500, "out of memory");
        return;
      }
      rs->status = 200;
      rs->type = "text/plain; version=0.0.4; charset=utf-8";
      rs->body = text;
      rs->len = strlen(text);
    }
    return;
  }
  const char *prefix = "/api/v1/";
  if (strncmp(rq->path, prefix, strlen(prefix)) != 0) {
    wg_api_error(rs, 404, "not found");
    return;
  }
  const char *rest = rq->path + strlen(prefix);
  if (strcmp(rest, "login") == 0) {
    do_login(&c);
    finish(&c);
    return;
  }
  /* Every other route needs credentials, even one that does not exist. */
  if (!authenticate(&c, false)) {
    finish(&c);
    return;
  }
  bool write = !(strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0);
  if (write && !csrf_ok(&c)) {
    finish(&c);
    return;
  }
  if (!split_path(&c, rest))
    wg_api_error(rs, 404, "not found");
  else
    route(&c);
  if (write && rs->status >= 200 && rs->status < 300)
    wg_cache_clear(wg);
  finish(&c);
}

bool wg_api_live_allowed(struct wg *wg, const struct wg_req *rq, struct wg_live_filter *f,
                         struct wg_resp *rs)
{
  struct ctx c = {.wg = wg, .rq = rq, .rs = rs};
  bool ok = authenticate(&c, true);
  /* A browser sends the cookie with a cross-site WebSocket too: the
   * origin must be ours (cross-site WebSocket hijacking). */
  if (ok && c.by_cookie && !same_origin(rq)) {
    atomic_fetch_add(&wg->m.csrf_refused, 1);
    wg_api_error(rs, 403, "cross-site WebSocket refused");
    ok = false;
  }
  char why[128];
  if (ok && wg_live_parse_filter(rq->query, f, why, sizeof why) != 0) {
    wg_api_error(rs, 400, why);
    ok = false;
  }
  finish(&c);
  return ok;
}
