/* SPDX-License-Identifier: MIT */
/* The HTTP wrapper on a loopback port: requests reach the handler on the
 * loop's thread, bodies are capped, Basic Auth with its failures limited
 * per client, the same-origin check, the loop-timeout answer, and the
 * base64 and constant-time helpers against RFC 4648 §10's vectors. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "farm/error.h"
#include "farmd/http.h"

struct server {
  struct fd_http *http;
  struct fd_log log;
  pthread_t loop;
  atomic_bool stop;
  atomic_bool paused; /* the loop does not dispatch */
  pthread_t loop_thread_id;
  atomic_bool wrong_thread;
};

static void handler(void *ud, const struct fd_http_req *rq, struct fd_http_resp *rs)
{
  struct server *s = ud;
  if (!pthread_equal(pthread_self(), s->loop))
    s->wrong_thread = true;
  json_t *o = json_object();
  json_object_set_new(o, "method", json_string(rq->method));
  json_object_set_new(o, "path", json_string(rq->path));
  json_object_set_new(o, "query", json_string(rq->query));
  json_object_set_new(o, "body", json_stringn(rq->body, rq->body_len));
  json_object_set_new(o, "json", json_boolean(fd_http_is_json(rq)));
  json_object_set_new(o, "same_origin", json_boolean(fd_http_same_origin(rq)));
  fd_http_json(rs, 200, o);
}

static void *loop(void *arg)
{
  struct server *s = arg;
  while (!s->stop) {
    struct pollfd p = {.fd = fd_http_fd(s->http), .events = POLLIN};
    poll(&p, 1, 20);
    if (!s->paused)
      fd_http_dispatch(s->http, 0);
  }
  return NULL;
}

static int free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

static struct server *start(const char *user, const char *password, int handler_timeout_ms)
{
  struct server *s = calloc(1, sizeof *s);
  fd_log_init(&s->log, "test", FD_LOG_ERROR, stderr);
  char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
  struct fd_http_config cfg = {.listen = listen,
                               .threads = 4,
                               .max_body = 1024,
                               .auth_user = user,
                               .auth_password = password,
                               .auth_fail_burst = 3,
                               .auth_block_s = 1,
                               .handler_timeout_ms = handler_timeout_ms};
  assert_int_equal(fd_http_new(&cfg, &s->log, handler, s, &s->http), 0);
  assert_true(fd_http_port(s->http) > 0);
  pthread_create(&s->loop, NULL, loop, s);
  return s;
}

static void stop(struct server *s)
{
  s->stop = true;
  pthread_join(s->loop, NULL);
  assert_false(s->wrong_thread);
  fd_http_free(s->http);
  free(s);
}

/* Sends req and returns the status; the answer goes to out. */
static int request(struct server *s, const char *req, char *out, size_t cap)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)fd_http_port(s->http)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  size_t len = strlen(req), off = 0;
  while (off < len) {
    ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  size_t got = 0;
  for (;;) {
    ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
    if (n <= 0 || got + (size_t)n >= cap - 1) {
      if (n > 0)
        got += (size_t)n;
      break;
    }
    got += (size_t)n;
  }
  close(fd);
  out[got] = '\0';
  int status = -1;
  sscanf(out, "HTTP/1.1 %d", &status);
  return status;
}

static int get(struct server *s, const char *path, const char *headers, char *out, size_t cap)
{
  char req[2048];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: farm.local:8080\r\n%s\r\n", path,
           headers ? headers : "");
  return request(s, req, out, cap);
}

static void test_roundtrip(void **state)
{
  (void)state;
  struct server *s = start(NULL, NULL, 0);
  char out[4096];
  assert_int_equal(get(s, "/api/status?x=1", NULL, out, sizeof out), 200);
  assert_non_null(strstr(out, "\"method\":\"GET\""));
  assert_non_null(strstr(out, "\"path\":\"/api/status\""));
  assert_non_null(strstr(out, "\"query\":\"x=1\""));
  assert_non_null(strstr(out, "X-Content-Type-Options: nosniff\r\n"));
  assert_non_null(strstr(out, "X-Frame-Options: DENY\r\n"));
  assert_non_null(strstr(out, "Content-Type: application/json\r\n"));
  /* Paths are handed over decoded but not normalised: a router on exact
   * paths never matches a traversal. */
  assert_int_equal(get(s, "/static/%2e%2e/%2e%2e/etc/passwd", NULL, out, sizeof out), 200);
  assert_non_null(strstr(out, "\"path\":\"/static/../../etc/passwd\""));

  const char *post = "POST /api/cmd HTTP/1.1\r\nHost: farm.local:8080\r\n"
                     "Content-Type: application/json; charset=utf-8\r\n"
                     "Content-Length: 11\r\n\r\n{\"a\":\"b c\"}";
  assert_int_equal(request(s, post, out, sizeof out), 200);
  assert_non_null(strstr(out, "\"body\":\"{\\\"a\\\":\\\"b c\\\"}\""));
  assert_non_null(strstr(out, "\"json\":true"));

  /* A body over the cap: 413 without reaching the handler. */
  char big[3000];
  snprintf(big, sizeof big, "POST /api/cmd HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n");
  size_t l = strlen(big);
  memset(big + l, 'x', 2000);
  big[l + 2000] = '\0';
  assert_int_equal(request(s, big, out, sizeof out), 413);
  struct fd_http_stats st;
  fd_http_get_stats(s->http, &st);
  assert_int_equal(st.too_large, 1);
  assert_int_equal(st.requests, 3);
  stop(s);
}

static void test_same_origin(void **state)
{
  (void)state;
  struct server *s = start(NULL, NULL, 0);
  char out[4096];
  static const struct {
    const char *headers;
    bool same;
  } cases[] = {
      {"", true}, /* no Origin, no Referer: not a browser */
      {"Origin: http://farm.local:8080\r\n", true},
      {"Origin: https://farm.local:8080\r\n", true},
      {"Origin: http://evil.example\r\n", false},
      {"Origin: http://farm.local:8080.evil.example\r\n", false},
      {"Origin: null\r\n", false},
      {"Referer: http://farm.local:8080/commands\r\n", true},
      {"Referer: http://farm.local:8080\r\n", true},
      {"Referer: http://farm.local:80800/x\r\n", false},
      {"Referer: http://evil.example/farm.local:8080/\r\n", false},
      {"Sec-Fetch-Site: cross-site\r\n", false},
      {"Sec-Fetch-Site: same-site\r\nOrigin: http://farm.local:8080\r\n", false},
      {"Sec-Fetch-Site: same-origin\r\nOrigin: http://farm.local:8080\r\n", true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(get(s, "/", cases[i].headers, out, sizeof out), 200);
    const char *want = cases[i].same ? "\"same_origin\":true" : "\"same_origin\":false";
    if (!strstr(out, want))
      fail_msg("case %zu (%s): %s", i, cases[i].headers, out);
  }
  /* Without Host nothing can be compared: refused. */
  assert_int_equal(request(s, "GET / HTTP/1.0\r\n\r\n", out, sizeof out), 200);
  assert_non_null(strstr(out, "\"same_origin\":false"));
  stop(s);
}

static void test_basic_auth(void **state)
{
  (void)state;
  struct server *s = start("farmer", "s3cret pass", 0);
  char out[4096];
  /* farmer:s3cret pass */
  const char *good = "Authorization: Basic ZmFybWVyOnMzY3JldCBwYXNz\r\n";
  assert_int_equal(get(s, "/", NULL, out, sizeof out), 401);
  assert_non_null(strstr(out, "WWW-Authenticate: Basic realm=\"farm\""));
  assert_int_equal(get(s, "/", good, out, sizeof out), 200);
  /* Malformed headers (BAD-INPUTS 17): bad base64, no colon, too long. */
  assert_int_equal(get(s, "/", "Authorization: Basic ZmFybWVy!!!\r\n", out, sizeof out), 401);
  assert_int_equal(get(s, "/", "Authorization: Basic ZmFybWVy\r\n", out, sizeof out), 401);
  /* Three failures from one address: refused for a while, even with the
   * right password. */
  assert_int_equal(get(s, "/", "Authorization: Basic ZmFybWVyOndyb25n\r\n", out, sizeof out), 401);
  assert_int_equal(get(s, "/", good, out, sizeof out), 429);
  assert_non_null(strstr(out, "Retry-After: 1\r\n"));
  struct fd_http_stats st;
  fd_http_get_stats(s->http, &st);
  assert_int_equal(st.auth_failures, 3);
  assert_int_equal(st.auth_limited, 1);
  struct timespec wait = {1, 100000000};
  nanosleep(&wait, NULL);
  assert_int_equal(get(s, "/", good, out, sizeof out), 200);
  char longh[1200];
  strcpy(longh, "Authorization: Basic ");
  memset(longh + strlen(longh), 'Q', 600);
  longh[21 + 600] = '\0';
  strcat(longh, "\r\n");
  assert_int_equal(get(s, "/", longh, out, sizeof out), 401);
  /* The wrong user with the right password fails too. */
  assert_int_equal(
      get(s, "/", "Authorization: Basic ZmFybWVyMjpzM2NyZXQgcGFzcw==\r\n", out, sizeof out), 401);
  stop(s);
}

static void test_loop_timeout(void **state)
{
  (void)state;
  struct server *s = start(NULL, NULL, 300);
  s->paused = true;
  char out[4096];
  assert_int_equal(get(s, "/", NULL, out, sizeof out), 503);
  struct fd_http_stats st;
  fd_http_get_stats(s->http, &st);
  assert_int_equal(st.timeouts, 1);
  assert_int_equal(st.requests, 0);
  s->paused = false;
  assert_int_equal(get(s, "/", NULL, out, sizeof out), 200);
  stop(s);
}

static void test_base64_and_compare(void **state)
{
  (void)state;
  /* RFC 4648 §10. */
  static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  for (size_t i = 0; i < 7; i++) {
    uint8_t out[16];
    size_t n = 99;
    assert_int_equal(fd_base64_decode(enc[i], strlen(enc[i]), out, sizeof out, &n), 0);
    assert_int_equal(n, strlen(dec[i]));
    assert_memory_equal(out, dec[i], n);
  }
  uint8_t out[16];
  size_t n;
  assert_int_equal(fd_base64_decode("Zm9", 3, out, sizeof out, &n), FARM_EMALFORMED);
  assert_int_equal(fd_base64_decode("Z===", 4, out, sizeof out, &n), FARM_EMALFORMED);
  assert_int_equal(fd_base64_decode("Zg==Zg==", 8, out, sizeof out, &n), FARM_EMALFORMED);
  assert_int_equal(fd_base64_decode("Zm9v YmFy", 9, out, sizeof out, &n), FARM_EMALFORMED);
  assert_int_equal(fd_base64_decode("Zm9vYmFy", 8, out, 5, &n), FARM_ENOSPC);

  assert_true(fd_ct_equal("abc", 3, "abc", 3));
  assert_false(fd_ct_equal("abc", 3, "abd", 3));
  assert_false(fd_ct_equal("abc", 3, "abcd", 4));
  assert_false(fd_ct_equal("abc\0", 4, "abc", 3));
  assert_true(fd_ct_equal("", 0, "", 0));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),          cmocka_unit_test(test_same_origin),
      cmocka_unit_test(test_basic_auth),         cmocka_unit_test(test_loop_timeout),
      cmocka_unit_test(test_base64_and_compare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
