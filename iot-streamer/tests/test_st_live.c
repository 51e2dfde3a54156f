/* SPDX-License-Identifier: MIT */
/* The live feed's ring and cursors with a fake transport: greeting, resume
 * after a cursor, every kind of unusable cursor, clients too slow for the
 * ring, and a transport that fails. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "live.h"

struct sink {
  pthread_mutex_t lock;
  int n;
  char msg[64][256];
  bool fail;
};

static int sink_write(void *conn, const char *text, size_t len)
{
  struct sink *s = conn;
  pthread_mutex_lock(&s->lock);
  if (s->fail) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  if (s->n < 64)
    snprintf(s->msg[s->n++], sizeof s->msg[0], "%.*s", (int)len, text);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static int count(struct sink *s)
{
  pthread_mutex_lock(&s->lock);
  int n = s->n;
  pthread_mutex_unlock(&s->lock);
  return n;
}

static bool wait_count(struct sink *s, int n)
{
  for (int i = 0; i < 300; i++) {
    if (count(s) >= n)
      return true;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  return count(s) >= n;
}

static void push_n(struct st_live *l, int from, int to)
{
  for (int i = from; i <= to; i++) {
    json_t *o = json_pack("{s:s, s:i}", "type", "telemetry", "seq", i);
    assert_true(st_live_push(l, o) > 0);
    json_decref(o);
  }
}

static void sink_init(struct sink *s)
{
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
}

static void test_hello_then_items_in_order(void **state)
{
  (void)state;
  struct st_live *l;
  assert_int_equal(st_live_new(8, 77, &l), 0);
  assert_int_equal(st_live_start(l), 0);
  struct sink s;
  sink_init(&s);
  struct st_live_client *c = st_live_attach(l, NULL, sink_write, &s);
  assert_non_null(c);
  push_n(l, 1, 3);
  assert_true(wait_count(&s, 4));
  assert_string_equal(s.msg[0], "{\"type\":\"hello\",\"cursor\":\"77-0\",\"resumed\":false}");
  assert_string_equal(s.msg[1], "{\"cursor\":\"77-1\",\"type\":\"telemetry\",\"seq\":1}");
  assert_string_equal(s.msg[3], "{\"cursor\":\"77-3\",\"type\":\"telemetry\",\"seq\":3}");
  assert_int_equal(st_live_clients(l), 1);
  st_live_detach(l, c);
  assert_int_equal(st_live_clients(l), 0);

  /* Resume after item 1: hello(resumed) then 2 and 3, nothing else. */
  struct sink r;
  sink_init(&r);
  c = st_live_attach(l, "77-1", sink_write, &r);
  assert_true(wait_count(&r, 3));
  assert_string_equal(r.msg[0], "{\"type\":\"hello\",\"cursor\":\"77-1\",\"resumed\":true}");
  assert_string_equal(r.msg[1], "{\"cursor\":\"77-2\",\"type\":\"telemetry\",\"seq\":2}");
  assert_string_equal(r.msg[2], "{\"cursor\":\"77-3\",\"type\":\"telemetry\",\"seq\":3}");
  push_n(l, 4, 4);
  assert_true(wait_count(&r, 4));
  assert_string_equal(r.msg[3], "{\"cursor\":\"77-4\",\"type\":\"telemetry\",\"seq\":4}");
  st_live_detach(l, c);
  /* The last cursor: nothing to replay, hello only. */
  struct sink q;
  sink_init(&q);
  c = st_live_attach(l, "77-4", sink_write, &q);
  assert_true(wait_count(&q, 1));
  struct timespec ts = {0, 50000000};
  nanosleep(&ts, NULL);
  assert_int_equal(count(&q), 1);
  st_live_detach(l, c);
  st_live_free(l);
}

static void test_unusable_cursors_reset(void **state)
{
  (void)state;
  struct st_live *l;
  assert_int_equal(st_live_new(4, 5, &l), 0);
  assert_int_equal(st_live_start(l), 0);
  push_n(l, 1, 10); /* ring holds 7..10 */
  static const struct {
    const char *cursor, *reason;
  } cases[] = {{"6-3", "cursor from another run"}, {"5-11", "cursor from the future"},
               {"5-5", "cursor older than the buffer"}, {"5-x", "malformed cursor"},
               {"5-3-1", "malformed cursor"}, {"abc", "malformed cursor"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct sink s;
    sink_init(&s);
    struct st_live_client *c = st_live_attach(l, cases[i].cursor, sink_write, &s);
    assert_true(wait_count(&s, 1));
    char want[160];
    snprintf(want, sizeof want, "{\"type\":\"reset\",\"cursor\":\"5-10\",\"reason\":\"%s\"}",
             cases[i].reason);
    assert_string_equal(s.msg[0], want);
    st_live_detach(l, c);
  }
  /* 5-6 is the newest cursor whose successor (7) is still held. */
  struct sink s;
  sink_init(&s);
  struct st_live_client *c = st_live_attach(l, "5-6", sink_write, &s);
  assert_true(wait_count(&s, 5));
  assert_non_null(strstr(s.msg[0], "\"resumed\":true"));
  assert_non_null(strstr(s.msg[1], "\"seq\":7"));
  assert_non_null(strstr(s.msg[4], "\"seq\":10"));
  st_live_detach(l, c);
  st_live_free(l);
}

static void test_failing_transport_is_dropped(void **state)
{
  (void)state;
  struct st_live *l;
  assert_int_equal(st_live_new(16, 9, &l), 0);
  assert_int_equal(st_live_start(l), 0);
  struct sink bad, good;
  sink_init(&bad);
  sink_init(&good);
  bad.fail = true;
  struct st_live_client *cb = st_live_attach(l, NULL, sink_write, &bad);
  struct st_live_client *cg = st_live_attach(l, NULL, sink_write, &good);
  push_n(l, 1, 5);
  assert_true(wait_count(&good, 6));
  assert_int_equal(count(&bad), 0);
  st_live_detach(l, cb);
  st_live_detach(l, cg);
  assert_true(st_live_sent(l) >= 6);
  st_live_free(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_then_items_in_order),
      cmocka_unit_test(test_unusable_cursors_reset),
      cmocka_unit_test(test_failing_transport_is_dropped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
