/* SPDX-License-Identifier: MIT */
/*
 * civetweb wrapper: worker threads read and authenticate requests, queue
 * them for the program's loop and send back what its handler answered.
 */
#include "farmd/http.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <sys/socket.h>

#include <civetweb.h>

#include "farm/error.h"
#include "farmd/json.h"

#define LIMIT_SLOTS     64
#define AUTH_HEADER_MAX 512

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* A request waiting for the loop; lives on its worker's stack. */
struct job {
  struct job *next;
  struct fd_http_req req;
  struct fd_http_resp resp;
  enum job_state state;
};

struct limit {
  char addr[48];
  int fails;
  int64_t first_ms;
  int64_t blocked_until_ms;
};

struct fd_http {
  struct mg_context *ctx;
  const struct fd_log *log;
  fd_http_handler handler;
  void *ud;
  size_t max_body;
  int handler_timeout_ms;
  int fail_burst, block_ms;
  char *user, *password, *realm;
  char host[64]; /* the listen host, to wake the server at stop */
  int port;
  int pipe_r, pipe_w;

  pthread_mutex_t lock; /* queue, limits, stopping, stats */
  pthread_cond_t done;
  struct job *head, *tail;
  bool stopping;
  struct limit limits[LIMIT_SLOTS];
  struct fd_http_stats st;
  struct fd_ratelimit rl;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
  mg_init_library(0);
}

const char *fd_http_header(const struct fd_http_req *r, const char *name)
{
  const struct mg_request_info *ri = r->priv;
  if (!ri)
    return NULL;
  for (int i = 0; i < ri->num_headers; i++)
    if (strcasecmp(ri->http_headers[i].name, name) == 0)
      return ri->http_headers[i].value;
  return NULL;
}

bool fd_ct_equal(const void *a, size_t la, const void *b, size_t lb)
{
  const unsigned char *x = a, *y = b;
  size_t n = la > lb ? la : lb;
  unsigned diff = la != lb;
  /* Every byte of the longer input is visited whatever the contents. */
  for (size_t i = 0; i < n; i++) {
    unsigned char cx = i < la ? x[i] : 0;
    unsigned char cy = i < lb ? y[i] : 0;
    diff |= (unsigned)(cx ^ cy);
  }
  return diff == 0;
}

static int b64val(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int fd_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
  if (len % 4 != 0)
    return FARM_EMALFORMED;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      char c = in[i + k];
      if (c == '=') {
        /* Padding only at the end, in the last two places (RFC 4648 §4). */
        if (i + 4 != len || k < 2)
          return FARM_EMALFORMED;
        pad++;
        v[k] = 0;
        continue;
      }
      if (pad)
        return FARM_EMALFORMED;
      v[k] = b64val(c);
      if (v[k] < 0)
        return FARM_EMALFORMED;
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    int n = 3 - pad;
    if (o + (size_t)n > cap)
      return FARM_ENOSPC;
    out[o++] = (uint8_t)(w >> 16);
    if (n > 1)
      out[o++] = (uint8_t)(w >> 8);
    if (n > 2)
      out[o++] = (uint8_t)w;
  }
  *out_len = o;
  return 0;
}

bool fd_http_is_json(const struct fd_http_req *r)
{
  const char *ct = fd_http_header(r, "Content-Type");
  if (!ct)
    return false;
  size_t n = strlen("application/json");
  if (strncasecmp(ct, "application/json", n) != 0)
    return false;
  return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* True when url is http(s)://host exactly, or followed by '/' when path. */
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

bool fd_http_same_origin(const struct fd_http_req *r)
{
  const char *host = fd_http_header(r, "Host");
  if (!host || !host[0])
    return false;
  const char *sfs = fd_http_header(r, "Sec-Fetch-Site");
  if (sfs && strcasecmp(sfs, "same-origin") != 0 && strcasecmp(sfs, "none") != 0)
    return false;
  const char *origin = fd_http_header(r, "Origin");
  if (origin)
    return names_host(origin, host, false);
  const char *ref = fd_http_header(r, "Referer");
  if (ref)
    return names_host(ref, host, true);
  return true;
}

void fd_http_json(struct fd_http_resp *rs, int status, json_t *v)
{
  char *text = fd_json_dump(v);
  json_decref(v);
  rs->status = text ? status : 500;
  rs->content_type = "application/json";
  rs->static_body = !text;
  rs->body = text ? text : (char *)"{\"error\":\"out of memory\"}";
  rs->len = strlen(rs->body);
}

void fd_http_error(struct fd_http_resp *rs, int status, const char *msg)
{
  json_t *o = json_object();
  json_object_set_new(o, "error", json_string(msg));
  fd_http_json(rs, status, o);
}

static void send_response(struct mg_connection *conn, const struct fd_http_resp *rs,
                          const char *extra)
{
  int status = rs->status ? rs->status : 500;
  const char *ct = rs->content_type ? rs->content_type : "application/json";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "Content-Length: %zu\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "X-Frame-Options: DENY\r\n"
            "Referrer-Policy: same-origin\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "%s%s\r\n",
            status, mg_get_response_code_text(conn, status), ct, rs->len,
            rs->headers ? rs->headers : "", extra ? extra : "");
  if (rs->len)
    mg_write(conn, rs->body, rs->len);
}

static int reply(struct mg_connection *conn, int status, const char *msg, const char *extra)
{
  struct fd_http_resp rs = {0};
  fd_http_error(&rs, status, msg);
  send_response(conn, &rs, extra);
  if (!rs.static_body)
    free(rs.body);
  return status;
}

/* The limiter slot of addr (created when absent); called locked. */
static struct limit *limit_of(struct fd_http *s, const char *addr, int64_t now)
{
  struct limit *free_slot = NULL, *oldest = &s->limits[0];
  for (int i = 0; i < LIMIT_SLOTS; i++) {
    struct limit *l = &s->limits[i];
    if (l->addr[0] && strcmp(l->addr, addr) == 0)
      return l;
    if (!l->addr[0] && !free_slot)
      free_slot = l;
    if (l->first_ms < oldest->first_ms && l->blocked_until_ms < now)
      oldest = l;
  }
  struct limit *l = free_slot ? free_slot : oldest;
  memset(l, 0, sizeof *l);
  snprintf(l->addr, sizeof l->addr, "%s", addr);
  l->first_ms = now;
  return l;
}

/* Returns 0 when the request may proceed, else the status already sent. */
static int check_auth(struct fd_http *s, struct mg_connection *conn,
                      const struct mg_request_info *ri)
{
  if (!s->user)
    return 0;
  int64_t now = fd_mono_ms();
  pthread_mutex_lock(&s->lock);
  struct limit *l = limit_of(s, ri->remote_addr, now);
  bool blocked = l->blocked_until_ms > now;
  if (blocked)
    s->st.auth_limited++;
  pthread_mutex_unlock(&s->lock);
  if (blocked) {
    char extra[64];
    snprintf(extra, sizeof extra, "Retry-After: %d\r\n", s->block_ms / 1000);
    return reply(conn, 429, "too many failed logins; try again later", extra);
  }

  const char *h = mg_get_header(conn, "Authorization");
  bool ok = false;
  if (h && strlen(h) <= AUTH_HEADER_MAX && strncasecmp(h, "Basic ", 6) == 0) {
    const char *b = h + 6;
    while (*b == ' ')
      b++;
    uint8_t dec[AUTH_HEADER_MAX];
    size_t n;
    if (fd_base64_decode(b, strlen(b), dec, sizeof dec - 1, &n) == 0) {
      const uint8_t *colon = memchr(dec, ':', n);
      if (colon) {
        size_t ul = (size_t)(colon - dec);
        /* Both always compared: no early exit on a wrong user. */
        bool u = fd_ct_equal(dec, ul, s->user, strlen(s->user));
        bool p = fd_ct_equal(colon + 1, n - ul - 1, s->password, strlen(s->password));
        ok = u & p;
      }
      explicit_bzero(dec, sizeof dec);
    }
  }
  if (ok)
    return 0;
  bool had = h != NULL;
  pthread_mutex_lock(&s->lock);
  l = limit_of(s, ri->remote_addr, now);
  if (had) {
    /* Only wrong or malformed credentials count; a browser's first request
     * comes without any. */
    s->st.auth_failures++;
    if (now - l->first_ms > s->block_ms) {
      l->fails = 0;
      l->first_ms = now;
    }
    if (++l->fails >= s->fail_burst) {
      l->blocked_until_ms = now + s->block_ms;
      l->fails = 0;
    }
  }
  pthread_mutex_unlock(&s->lock);
  if (had)
    fd_log_rl(s->log, &s->rl, FD_LOG_WARN, "http: failed login from %s", ri->remote_addr);
  char extra[160];
  snprintf(extra, sizeof extra, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n",
           s->realm);
  return reply(conn, 401, "authentication required", extra);
}

static void wake(struct fd_http *s)
{
  char b = 1;
  ssize_t n = write(s->pipe_w, &b, 1);
  (void)n;
}

static int begin_request(struct mg_connection *conn)
{
  const struct mg_request_info *ri = mg_get_request_info(conn);
  struct fd_http *s = ri->user_data;
  int rc = check_auth(s, conn, ri);
  if (rc)
    return rc;

  if (ri->content_length > 0 && (unsigned long long)ri->content_length > s->max_body) {
    pthread_mutex_lock(&s->lock);
    s->st.too_large++;
    pthread_mutex_unlock(&s->lock);
    return reply(conn, 413, "request body too large", NULL);
  }
  size_t cap = s->max_body + 1;
  char *body = malloc(cap + 1);
  if (!body)
    return reply(conn, 503, "out of memory", NULL);
  size_t len = 0;
  for (;;) {
    int n = mg_read(conn, body + len, cap - len);
    if (n <= 0)
      break;
    len += (size_t)n;
    if (len >= cap)
      break;
  }
  if (len > s->max_body) {
    free(body);
    pthread_mutex_lock(&s->lock);
    s->st.too_large++;
    pthread_mutex_unlock(&s->lock);
    return reply(conn, 413, "request body too large", NULL);
  }
  body[len] = '\0';

  struct job j = {0};
  j.req.method = ri->request_method;
  j.req.path = ri->local_uri_raw ? ri->local_uri_raw : (ri->local_uri ? ri->local_uri : "");
  j.req.query = ri->query_string ? ri->query_string : "";
  j.req.remote = ri->remote_addr;
  j.req.body = body;
  j.req.body_len = len;
  j.req.priv = ri;

  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += s->handler_timeout_ms / 1000;
  until.tv_nsec += (long)(s->handler_timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->lock);
  if (s->stopping) {
    pthread_mutex_unlock(&s->lock);
    free(body);
    return reply(conn, 503, "shutting down", NULL);
  }
  j.state = JOB_QUEUED;
  if (s->tail)
    s->tail->next = &j;
  else
    s->head = &j;
  s->tail = &j;
  wake(s);
  bool timed_out = false;
  while (j.state != JOB_DONE) {
    if (s->stopping && j.state == JOB_QUEUED)
      break;
    int w = pthread_cond_timedwait(&s->done, &s->lock, &until);
    if (w == ETIMEDOUT && j.state == JOB_QUEUED) {
      timed_out = true;
      break;
    }
  }
  if (j.state == JOB_QUEUED) {
    /* Still waiting: take it out of the queue (it lives on this stack). */
    struct job **pp = &s->head;
    while (*pp && *pp != &j)
      pp = &(*pp)->next;
    if (*pp) {
      *pp = j.next;
      if (s->tail == &j) {
        s->tail = NULL;
        for (struct job *q = s->head; q; q = q->next)
          s->tail = q;
      }
    }
    if (timed_out)
      s->st.timeouts++;
  }
  enum job_state st = j.state;
  pthread_mutex_unlock(&s->lock);
  free(body);
  if (st != JOB_DONE)
    return reply(conn, 503, timed_out ? "the service is busy" : "shutting down", NULL);
  send_response(conn, &j.resp, NULL);
  if (!j.resp.static_body)
    free(j.resp.body);
  return j.resp.status ? j.resp.status : 500;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
  const struct mg_request_info *ri = mg_get_request_info(conn);
  struct fd_http *s = ri ? ri->user_data : NULL;
  if (s)
    fd_log_rl(s->log, &s->rl, FD_LOG_WARN, "http: %s", message);
  return 1;
}

int fd_http_new(const struct fd_http_config *cfg, const struct fd_log *log, fd_http_handler h,
                void *ud, struct fd_http **out)
{
  *out = NULL;
  if (!cfg->listen || !cfg->listen[0] || !h || !cfg->auth_user != !cfg->auth_password)
    return FARM_EINVAL;
  if (cfg->auth_user && (!cfg->auth_user[0] || strchr(cfg->auth_user, ':')))
    return FARM_EINVAL;
  pthread_once(&lib_once, lib_init);
  struct fd_http *s = calloc(1, sizeof *s);
  if (!s)
    return FARM_ENOMEM;
  s->log = log;
  s->handler = h;
  s->ud = ud;
  s->max_body = cfg->max_body ? cfg->max_body : 16384;
  s->handler_timeout_ms = cfg->handler_timeout_ms > 0 ? cfg->handler_timeout_ms : 10000;
  s->fail_burst = cfg->auth_fail_burst > 0 ? cfg->auth_fail_burst : 5;
  s->block_ms = (cfg->auth_block_s > 0 ? cfg->auth_block_s : 60) * 1000;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(10, 10000);
  s->rl = rl;
  s->pipe_r = s->pipe_w = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->done, NULL);
  int rc = FARM_ENOMEM;
  s->realm = strdup(cfg->realm ? cfg->realm : "farm");
  if (!s->realm)
    goto fail;
  if (cfg->auth_user) {
    s->user = strdup(cfg->auth_user);
    s->password = strdup(cfg->auth_password);
    if (!s->user || !s->password)
      goto fail;
  }
  int fds[2];
  if (pipe(fds) != 0) {
    rc = FARM_EIO;
    goto fail;
  }
  s->pipe_r = fds[0];
  s->pipe_w = fds[1];
  for (int i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  }

  char threads[16], timeout[16];
  snprintf(threads, sizeof threads, "%d", cfg->threads > 0 ? cfg->threads : 4);
  snprintf(timeout, sizeof timeout, "%d",
           cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 10000);
  /* No document_root: civetweb serves no file; every request goes to the
   * handler, which routes on exact paths (BAD-INPUTS 21). */
  const char *options[] = {"listening_ports",
                           cfg->listen,
                           "num_threads",
                           threads,
                           "request_timeout_ms",
                           timeout,
                           "max_request_size",
                           "8192",
                           "enable_keep_alive",
                           "no",
                           NULL};
  struct mg_callbacks cb = {0};
  cb.begin_request = begin_request;
  cb.log_message = log_message;
  s->ctx = mg_start(&cb, s, options);
  if (!s->ctx) {
    fd_log(log, FD_LOG_ERROR, "http: cannot listen on %s", cfg->listen);
    rc = FARM_EIO;
    goto fail;
  }
  struct mg_server_port ports[4];
  int np = mg_get_server_ports(s->ctx, 4, ports);
  s->port = np > 0 ? ports[0].port : 0;
  /* The host part of listen, with wildcards replaced by loopback. */
  const char *colon = strrchr(cfg->listen, ':');
  size_t hl = colon ? (size_t)(colon - cfg->listen) : 0;
  if (hl >= sizeof s->host)
    hl = 0;
  memcpy(s->host, cfg->listen, hl);
  s->host[hl] = '\0';
  if (s->host[0] == '[') {
    memmove(s->host, s->host + 1, strlen(s->host));
    s->host[strcspn(s->host, "]")] = '\0';
  }
  if (!s->host[0] || strcmp(s->host, "0.0.0.0") == 0)
    snprintf(s->host, sizeof s->host, "127.0.0.1");
  else if (strcmp(s->host, "::") == 0)
    snprintf(s->host, sizeof s->host, "::1");
  *out = s;
  return 0;

fail:
  fd_http_free(s);
  return rc;
}

int fd_http_fd(const struct fd_http *s)
{
  return s->pipe_r;
}

int fd_http_port(const struct fd_http *s)
{
  return s->port;
}

size_t fd_http_dispatch(struct fd_http *s, size_t max)
{
  char buf[64];
  while (read(s->pipe_r, buf, sizeof buf) > 0) {
  }
  size_t done = 0;
  while (max == 0 || done < max) {
    pthread_mutex_lock(&s->lock);
    struct job *j = s->head;
    if (j) {
      s->head = j->next;
      if (!s->head)
        s->tail = NULL;
      j->state = JOB_RUNNING;
      s->st.requests++;
    }
    pthread_mutex_unlock(&s->lock);
    if (!j)
      break;
    memset(&j->resp, 0, sizeof j->resp);
    s->handler(s->ud, &j->req, &j->resp);
    pthread_mutex_lock(&s->lock);
    j->state = JOB_DONE;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->lock);
    done++;
  }
  pthread_mutex_lock(&s->lock);
  if (s->head)
    wake(s);
  pthread_mutex_unlock(&s->lock);
  return done;
}

void fd_http_get_stats(const struct fd_http *s, struct fd_http_stats *out)
{
  struct fd_http *m = (struct fd_http *)s;
  pthread_mutex_lock(&m->lock);
  *out = m->st;
  pthread_mutex_unlock(&m->lock);
}

struct poker {
  struct fd_http *s;
  atomic_bool done;
};

/* civetweb's listener polls with a 2 s quantum and sees the stop flag only
 * when it wakes: connections make it wake now. */
static void *poke(void *arg)
{
  struct poker *pk = arg;
  char port[16];
  snprintf(port, sizeof port, "%d", pk->s->port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(pk->s->host, port, &hints, &ai) != 0)
    return NULL;
  while (!atomic_load(&pk->done)) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      connect(fd, ai->ai_addr, ai->ai_addrlen);
      close(fd);
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  freeaddrinfo(ai);
  return NULL;
}

void fd_http_free(struct fd_http *s)
{
  if (!s)
    return;
  pthread_mutex_lock(&s->lock);
  s->stopping = true;
  pthread_cond_broadcast(&s->done);
  pthread_mutex_unlock(&s->lock);
  if (s->ctx) {
    struct poker pk = {.s = s};
    pthread_t t;
    bool poking = s->port > 0 && pthread_create(&t, NULL, poke, &pk) == 0;
    mg_stop(s->ctx);
    if (poking) {
      atomic_store(&pk.done, true);
      pthread_join(t, NULL);
    }
  }
  if (s->pipe_r >= 0)
    close(s->pipe_r);
  if (s->pipe_w >= 0)
    close(s->pipe_w);
  pthread_cond_destroy(&s->done);
  pthread_mutex_destroy(&s->lock);
  if (s->password)
    explicit_bzero(s->password, strlen(s->password));
  free(s->user);
  free(s->password);
  free(s->realm);
  free(s);
}
