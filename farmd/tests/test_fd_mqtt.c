/* SPDX-License-Identifier: MIT */
/*
 * The MQTT client against a real Mosquitto set up by deploy/mosquitto:
 * TLS with client certificates and passwords, the per-site ACL (an edge
 * publishing into another site is refused with reason 0x87 and nothing is
 * delivered), a wrong password, reconnection and resubscription after a
 * broker restart, shared subscriptions, and back-pressure with a tiny queue.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "farm/error.h"
#include "farmd/mqtt.h"
#include "harness.h"

static char base[FH_PATH];
static struct fh_broker broker;
static struct fd_log quiet;

#define MAX_SEEN 512

struct client {
  struct fd_mqtt *m;
  struct fh_creds creds;
  int connects, refusals, disconnects, last_connect_reason;
  int pub_done, pub_refused, last_pub_reason;
  int nseen;
  char seen[MAX_SEEN][96];
};

static void on_connect(void *ud, int reason)
{
  struct client *c = ud;
  c->last_connect_reason = reason;
  if (reason == 0)
    c->connects++;
  else
    c->refusals++;
}

static void on_disconnect(void *ud, int reason)
{
  (void)reason;
  ((struct client *)ud)->disconnects++;
}

static void on_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct client *c = ud;
  assert_int_equal(((const char *)m->payload)[m->len], '\0');
  if (c->nseen < MAX_SEEN)
    snprintf(c->seen[c->nseen++], sizeof c->seen[0], "%s %.*s", m->topic, (int)m->len,
             (const char *)m->payload);
}

static void on_publish(void *ud, int mid, int reason)
{
  (void)mid;
  struct client *c = ud;
  c->last_pub_reason = reason;
  if (reason >= 0x80)
    c->pub_refused++;
  else
    c->pub_done++;
}

static const struct fd_mqtt_callbacks callbacks = {on_connect, on_disconnect, on_message,
                                                   on_publish};

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the event loop of every client until cond(ud) or the timeout. */
static bool pump(struct client **cs, size_t n, int timeout_ms, bool (*cond)(void *), void *ud)
{
  long long end = now_ms() + timeout_ms;
  for (;;) {
    if (cond && cond(ud))
      return true;
    long long left = end - now_ms();
    if (left <= 0)
      return cond == NULL;
    struct pollfd pfd[8];
    for (size_t i = 0; i < n; i++)
      pfd[i] = (struct pollfd){.fd = fd_mqtt_fd(cs[i]->m), .events = POLLIN};
    poll(pfd, (nfds_t)n, (int)(left < 50 ? left : 50));
    for (size_t i = 0; i < n; i++)
      if (pfd[i].revents & POLLIN)
        fd_mqtt_dispatch(cs[i]->m, 0);
  }
}

static bool is_connected(void *ud)
{
  return ((struct client *)ud)->connects > 0 && fd_mqtt_connected(((struct client *)ud)->m);
}

static void client_open(struct client *c, const char *user, const char *id,
                        size_t queue_max, const char *password_override)
{
  memset(c, 0, sizeof *c);
  struct fd_mqtt_config cfg;
  fh_broker_mqtt_config(&broker, &c->creds, user, id, &cfg);
  cfg.queue_max = queue_max;
  if (password_override)
    cfg.password = password_override;
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, &callbacks, c, &c->m), 0);
  assert_int_equal(fd_mqtt_start(c->m), 0);
}

static void client_connect(struct client *c, const char *user, const char *id)
{
  client_open(c, user, id, 0, NULL);
  struct client *cs[] = {c};
  assert_true(pump(cs, 1, 10000, is_connected, c));
}

struct want {
  struct client *c;
  int n;
};

static bool pub_acked(void *ud)
{
  struct want *w = ud;
  return w->c->pub_done >= w->n;
}

static bool saw_sync(void *ud)
{
  struct client *c = ud;
  for (int i = 0; i < c->nseen; i++)
    if (strstr(c->seen[i], " sync"))
      return true;
  return false;
}

/* Makes sure sub's subscription to topic is active: publishes a marker
 * from pub until sub receives one, then forgets what sub has seen. */
static void sync_sub(struct client **cs, size_t n, struct client *sub, struct client *pub,
                     const char *topic)
{
  int base_done = pub->pub_done, sent = 0;
  for (int i = 0; i < 50 && !saw_sync(sub); i++) {
    assert_int_equal(fd_mqtt_publish(pub->m, topic, "sync", 4, 1, false, NULL), 0);
    sent++;
    pump(cs, n, 200, saw_sync, sub);
  }
  assert_true(saw_sync(sub));
  /* Every marker acknowledged, and its copies delivered, before the reset. */
  struct want w = {pub, base_done + sent};
  assert_true(pump(cs, n, 5000, pub_acked, &w));
  pump(cs, n, 200, NULL, NULL);
  sub->nseen = 0;
  pub->pub_done = pub->pub_refused = 0;
}

static int group_setup(void **state)
{
  (void)state;
  fd_log_init(&quiet, "test", FD_LOG_ERROR, NULL);
  fh_tmpdir(base, "fdmqtt");
  const char *sites[] = {"s1", "s2", NULL};
  fh_broker_setup(&broker, base, sites);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  fh_broker_stop(&broker);
  fh_rmtree(base);
  return 0;
}

static bool seen_n(void *ud)
{
  struct want *w = ud;
  return w->c->nseen >= w->n;
}

static bool pub_settled(void *ud)
{
  struct want *w = ud;
  return w->c->pub_done + w->c->pub_refused >= w->n;
}

static void test_tls_publish_subscribe_and_acl(void **state)
{
  (void)state;
  struct client *cloud = calloc(1, sizeof *cloud), *edge = calloc(1, sizeof *edge);
  client_connect(cloud, "iot-streamer", "t-cloud");
  assert_int_equal(fd_mqtt_subscribe(cloud->m, "v1/farm/+/+/#", 1, false), 0);
  client_connect(edge, "edge-s1", "t-edge-s1");
  struct client *cs[] = {cloud, edge};
  sync_sub(cs, 2, cloud, edge, "v1/farm/s1/sync/event");

  /* Into its own site: delivered. Into another site: PUBACK 0x87. */
  assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s2/d1/status", "intruder", 8, 1, false, NULL), 0);
  assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s1/d1/status", "{\"online\":true}", 15, 1, false, NULL), 0);
  struct want w = {edge, 2};
  assert_true(pump(cs, 2, 5000, pub_settled, &w));
  assert_int_equal(edge->pub_refused, 1);
  assert_int_equal(edge->pub_done, 1);
  struct want ws = {cloud, 1};
  assert_true(pump(cs, 2, 5000, seen_n, &ws));
  pump(cs, 2, 300, NULL, NULL);
  assert_int_equal(cloud->nseen, 1);
  assert_string_equal(cloud->seen[0], "v1/farm/s1/d1/status {\"online\":true}");

  /* An edge cannot read another site either: it subscribes everything and
   * only its own site arrives. */
  assert_int_equal(fd_mqtt_subscribe(edge->m, "v1/farm/#", 1, false), 0);
  struct client *edge2 = calloc(1, sizeof *edge2);
  client_connect(edge2, "edge-s2", "t-edge-s2");
  struct client *cs3[] = {cloud, edge, edge2};
  sync_sub(cs3, 3, edge, edge, "v1/farm/s1/sync2/event");
  cloud->nseen = 1; /* keep the status seen above; the markers do not count */
  pump(cs3, 3, 300, NULL, NULL);
  cloud->nseen = 1;
  assert_int_equal(fd_mqtt_publish(edge2->m, "v1/farm/s2/d9/event", "{\"type\":\"x\"}", 12, 1, false, NULL), 0);
  assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s1/d2/event", "{\"type\":\"y\"}", 12, 1, false, NULL), 0);
  struct want w3 = {cloud, 3};
  assert_true(pump(cs3, 3, 5000, seen_n, &w3));
  pump(cs3, 3, 300, NULL, NULL);
  assert_int_equal(edge->nseen, 1);
  assert_string_equal(edge->seen[0], "v1/farm/s1/d2/event {\"type\":\"y\"}");

  /* The wildcard-free publish check happens before anything is sent. */
  assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s1/+/event", "x", 1, 1, false, NULL), FARM_EINVAL);
  assert_int_equal(fd_mqtt_subscribe(edge->m, "v1/#/x", 1, false), FARM_EINVAL);
  assert_int_equal(fd_mqtt_subscribe(edge->m, "$share//v1/#", 1, false), FARM_EINVAL);

  struct fd_mqtt_stats st;
  fd_mqtt_get_stats(edge->m, &st);
  assert_int_equal(st.publish_refused, 1);
  fd_mqtt_free(edge2->m);
  fd_mqtt_free(edge->m);
  fd_mqtt_free(cloud->m);
  free(edge2);
  free(edge);
  free(cloud);
}

static bool refused(void *ud)
{
  return ((struct client *)ud)->refusals > 0;
}

static void test_wrong_password_is_refused(void **state)
{
  (void)state;
  struct client *c = calloc(1, sizeof *c);
  client_open(c, "edge-s1", "t-badpw", 0, "not-the-password");
  struct client *cs[] = {c};
  assert_true(pump(cs, 1, 10000, refused, c));
  assert_true(c->last_connect_reason >= 0x80);
  assert_int_equal(c->connects, 0);
  assert_false(fd_mqtt_connected(c->m));
  assert_int_equal(fd_mqtt_publish(c->m, "v1/farm/s1/d/event", "x", 1, 1, false, NULL),
                   FARM_ECLOSED);
  fd_mqtt_free(c->m);
  free(c);
}

static bool reconnected(void *ud)
{
  struct client *c = ud;
  return c->connects >= 2 && fd_mqtt_connected(c->m);
}

static bool disconnected(void *ud)
{
  return ((struct client *)ud)->disconnects >= 1;
}

static void test_reconnect_restores_subscriptions(void **state)
{
  (void)state;
  struct client *cloud = calloc(1, sizeof *cloud), *edge = calloc(1, sizeof *edge);
  client_connect(cloud, "iot-streamer", "t-cloud-rc");
  assert_int_equal(fd_mqtt_subscribe(cloud->m, "v1/farm/s1/+/event", 1, false), 0);
  client_connect(edge, "edge-s1", "t-edge-rc");
  struct client *cs[] = {cloud, edge};

  fh_broker_stop(&broker);
  assert_true(pump(cs, 2, 5000, disconnected, cloud));
  assert_false(fd_mqtt_connected(cloud->m));
  fh_broker_start(&broker);
  assert_true(pump(cs, 2, 15000, reconnected, cloud));
  assert_true(pump(cs, 2, 15000, reconnected, edge));
  sync_sub(cs, 2, cloud, edge, "v1/farm/s1/sync/event");
  assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s1/d1/event", "after", 5, 1, false, NULL), 0);
  struct want w = {cloud, 1};
  assert_true(pump(cs, 2, 5000, seen_n, &w));
  assert_string_equal(cloud->seen[0], "v1/farm/s1/d1/event after");
  fd_mqtt_free(edge->m);
  fd_mqtt_free(cloud->m);
  free(edge);
  free(cloud);
}

struct both {
  struct client *a, *b;
  int n;
};

static bool both_seen(void *ud)
{
  struct both *w = ud;
  return w->a->nseen + w->b->nseen >= w->n;
}

static void test_shared_subscription_splits_load(void **state)
{
  (void)state;
  struct client *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *edge = calloc(1, sizeof *edge);
  client_connect(a, "iot-streamer", "t-share-a");
  client_connect(b, "iot-streamer", "t-share-b");
  assert_int_equal(fd_mqtt_subscribe(a->m, "$share/ingest/v1/farm/+/+/#", 1, true), 0);
  assert_int_equal(fd_mqtt_subscribe(b->m, "$share/ingest/v1/farm/+/+/#", 1, true), 0);
  client_connect(edge, "edge-s1", "t-share-edge");
  struct client *cs[] = {a, b, edge};
  pump(cs, 3, 1000, NULL, NULL); /* both SUBSCRIBEs land (no marker: it reaches one member) */
  const int n = 100;
  for (int i = 0; i < n; i++) {
    char p[16];
    int len = snprintf(p, sizeof p, "%d", i);
    assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s1/d/event", p, (size_t)len, 1, false, NULL), 0);
  }
  struct both w = {a, b, n};
  assert_true(pump(cs, 3, 10000, both_seen, &w));
  pump(cs, 3, 300, NULL, NULL);
  assert_int_equal(a->nseen + b->nseen, n);
  assert_true(a->nseen > 0);
  assert_true(b->nseen > 0);
  /* Each message exactly once across the group. */
  int count[100] = {0};
  struct client *both_c[] = {a, b};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < both_c[k]->nseen; i++)
      count[atoi(both_c[k]->seen[i] + strlen("v1/farm/s1/d/event "))]++;
  for (int i = 0; i < n; i++)
    assert_int_equal(count[i], 1);
  fd_mqtt_free(edge->m);
  fd_mqtt_free(b->m);
  fd_mqtt_free(a->m);
  free(edge);
  free(b);
  free(a);
}

static void test_backpressure_keeps_everything_in_order(void **state)
{
  (void)state;
  struct client *cloud = calloc(1, sizeof *cloud), *edge = calloc(1, sizeof *edge);
  client_open(cloud, "iot-streamer", "t-bp-cloud", 4, NULL);
  struct client *c1[] = {cloud};
  assert_true(pump(c1, 1, 10000, is_connected, cloud));
  assert_int_equal(fd_mqtt_subscribe(cloud->m, "v1/farm/s1/bp/event", 1, false), 0);
  client_connect(edge, "edge-s1", "t-bp-edge");
  struct client *c2[] = {cloud, edge};
  sync_sub(c2, 2, cloud, edge, "v1/farm/s1/bp/event");
  const int n = 300;
  for (int i = 0; i < n; i++) {
    char p[16];
    int len = snprintf(p, sizeof p, "%d", i);
    assert_int_equal(fd_mqtt_publish(edge->m, "v1/farm/s1/bp/event", p, (size_t)len, 1, false, NULL), 0);
  }
  /* Dispatch one event at a time, slowly at first: the network thread must
   * wait rather than drop or reorder. */
  long long end = now_ms() + 15000;
  while (cloud->nseen < n && now_ms() < end) {
    struct pollfd pfd = {.fd = fd_mqtt_fd(cloud->m), .events = POLLIN};
    poll(&pfd, 1, 50);
    fd_mqtt_dispatch(cloud->m, 1);
    fd_mqtt_dispatch(edge->m, 0);
  }
  assert_int_equal(cloud->nseen, n);
  for (int i = 0; i < n; i++) {
    char want[64];
    snprintf(want, sizeof want, "v1/farm/s1/bp/event %d", i);
    assert_string_equal(cloud->seen[i], want);
  }
  fd_mqtt_free(edge->m);
  fd_mqtt_free(cloud->m);
  free(edge);
  free(cloud);
}

static void test_config_errors(void **state)
{
  (void)state;
  struct fd_mqtt *m;
  struct fd_mqtt_config cfg = {.host = "localhost", .port = 8883, .client_id = "x", .tls = true};
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, NULL, NULL, &m), FARM_EINVAL); /* no CA */
  cfg.ca_file = "/nonexistent/ca.crt";
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, NULL, NULL, &m), FARM_ENOENT);
  cfg.tls = false;
  cfg.cert_file = "/etc/hostname";
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, NULL, NULL, &m), FARM_EINVAL); /* cert without key */
  cfg.cert_file = NULL;
  cfg.port = 0;
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, NULL, NULL, &m), FARM_EINVAL);
  cfg.port = 1883;
  cfg.client_id = "";
  assert_int_equal(fd_mqtt_new(&cfg, &quiet, NULL, NULL, &m), FARM_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_tls_publish_subscribe_and_acl),
      cmocka_unit_test(test_wrong_password_is_refused),
      cmocka_unit_test(test_shared_subscription_splits_load),
      cmocka_unit_test(test_backpressure_keeps_everything_in_order),
      cmocka_unit_test(test_reconnect_restores_subscriptions),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
