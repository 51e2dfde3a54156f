/* SPDX-License-Identifier: MIT */
/*
 * web-gateway end to end, one suite for both backends (argv[1] = "sqlite"
 * or "postgres"): the real program against a TLS broker, the real
 * iot-streamer filling the store, and a scripted edge. Covers login,
 * sessions, bearer tokens, CSRF, roles, every route, readings raw and
 * downsampled and as CSV, commands followed through their acks (and the
 * bad ones refused), alert rules and alerts, users and tokens, the live
 * WebSocket with filters, signed webhooks with retries, the HTTP bad
 * inputs of BAD-INPUTS §HTTP, configuration refusals and the login rate
 * limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <civetweb.h>
#include <cmocka.h>
#include <jansson.h>

#include "auth.h"
#include "wgtest.h"

#define DEV "a1b2c3d4e5f6"
#define DEV2 "0a0b0c0d0e0f"

static struct wgt w;
static struct wgt_edge *edge;
static char admin_tok[64];
static long long t0; /* wall ms of the first reading */

/* ---- helpers ---- */

static char auth_hdr[96];

static const char *bearer(const char *tok)
{
  snprintf(auth_hdr, sizeof auth_hdr, "Authorization: Bearer %s", tok);
  return auth_hdr;
}

/* A request with a bearer token; returns the status and the parsed body
 * (NULL when not JSON) in *out. */
static int req(const char *tok, const char *method, const char *path, const char *body,
               json_t **out)
{
  char ah[96];
  snprintf(ah, sizeof ah, "Authorization: Bearer %s", tok ? tok : "");
  const char *h[] = {tok ? ah : "X-None: 1", "Content-Type: application/json", NULL};
  char *text = NULL;
  int st = wgt_http(&w, method, path, h, body, &text, NULL);
  if (out)
    *out = json_loads(text, 0, NULL);
  free(text);
  return st;
}

static json_t *get_ok(const char *path)
{
  json_t *o = NULL;
  int st = req(admin_tok, "GET", path, NULL, &o);
  if (st != 200)
    fail_msg("GET %s: %d", path, st);
  assert_non_null(o);
  return o;
}

static json_t *device_of(const char *dev)
{
  char path[128];
  snprintf(path, sizeof path, "/api/v1/devices/%s", dev);
  json_t *o = NULL;
  return req(admin_tok, "GET", path, NULL, &o) == 200 ? o : (json_decref(o), NULL);
}

/* Waits until the device's latest metric has value v. */
static void wait_latest(const char *dev, const char *metric, double v)
{
  long long end = wgt_now_ms() + 15000;
  while (wgt_now_ms() < end) {
    json_t *d = device_of(dev);
    json_t *x = json_object_get(json_object_get(json_object_get(d, "latest"), metric), "value");
    bool ok = json_is_number(x) && json_number_value(x) == v;
    json_decref(d);
    if (ok)
      return;
    wgt_sleep_ms(50);
  }
  fail_msg("latest %s of %s never became %g", metric, dev, v);
}

static const char *command_state(const char *id, json_t **cmd)
{
  static char state[32];
  char path[160];
  snprintf(path, sizeof path, "/api/v1/commands/%s", id);
  json_t *o = get_ok(path);
  snprintf(state, sizeof state, "%s", json_string_value(json_object_get(o, "state")));
  if (cmd)
    *cmd = o;
  else
    json_decref(o);
  return state;
}

static void wait_command(const char *id, const char *want)
{
  long long end = wgt_now_ms() + 10000;
  while (wgt_now_ms() < end) {
    if (strcmp(command_state(id, NULL), want) == 0)
      return;
    wgt_sleep_ms(50);
  }
  fail_msg("command %s never reached %s (is %s)", id, want, command_state(id, NULL));
}

static long long metric_value(const char *name)
{
  char *text = NULL;
  assert_int_equal(wgt_http(&w, "GET", "/metrics", NULL, NULL, &text, NULL), 200);
  char key[96];
  snprintf(key, sizeof key, "\nweb_gateway_%s ", name);
  const char *p = strstr(text, key);
  long long v = p ? atoll(p + strlen(key)) : -1;
  free(text);
  return v;
}

/* ---- set-up ---- */

static const char *backend = "sqlite";

static int group_setup(void **state)
{
  (void)state;
  mg_init_library(0);
  wgt_start(&w, backend, NULL);
  edge = wgt_edge_start(&w);
  wgt_edge_status(edge, DEV, true);
  wgt_edge_status(edge, DEV2, false);
  /* Readings one minute apart over ten minutes, aligned to a minute. */
  t0 = (wgt_wall_ms() / 600000 - 1) * 600000;
  for (int i = 0; i < 10; i++) {
    char v[96];
    snprintf(v, sizeof v, "\"temp_c\":%d.5,\"rh_pct\":%d", 20 + i, 40 + i);
    wgt_edge_tel(edge, DEV, t0 + i * 60000LL, v);
  }
  wgt_edge_tel(edge, DEV2, t0, "\"lux\":1200");
  if (wgt_login(&w, "admin", WGT_ADMIN_PASSWORD, admin_tok, NULL) != 200)
    fh_die("admin cannot log in");
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  wgt_edge_stop(edge);
  return wgt_stop(&w);
}

/* ---- tests ---- */

static void test_config_refused(void **state)
{
  (void)state;
  char bin[FH_PATH + 32], log[FH_PATH + 64];
  snprintf(bin, sizeof bin, "%s/web-gateway", fh_bin_dir());
  snprintf(log, sizeof log, "%s/refused.log", w.base);
  const char *argv[] = {bin, NULL};
  const char *env1[] = {"WEBGW_NO_SUCH_KEY=1", NULL};
  const char *env2[] = {"WEBGW_HTTP_THREADS=many", NULL};
  struct fh_proc p;
  fh_spawn(&p, argv, env1, log, NULL);
  assert_int_equal(fh_wait(&p, 5000), 2);
  fh_spawn(&p, argv, env2, log, NULL);
  assert_int_equal(fh_wait(&p, 5000), 2);
  char *out = fh_read_file(log);
  assert_non_null(strstr(out, "WEBGW_NO_SUCH_KEY"));
  assert_non_null(strstr(out, "http_threads"));
  free(out);
}

static void test_every_route_needs_credentials(void **state)
{
  (void)state;
  const char *routes[][2] = {
      {"GET", "/api/v1/sites"},           {"GET", "/api/v1/devices"},
      {"GET", "/api/v1/devices/" DEV},    {"GET", "/api/v1/devices/" DEV "/telemetry?metric=temp_c"},
      {"POST", "/api/v1/devices/" DEV "/commands"},
      {"GET", "/api/v1/commands/00000000-0000-4000-8000-000000000000"},
      {"GET", "/api/v1/alerts"},          {"POST", "/api/v1/alerts/1/ack"},
      {"GET", "/api/v1/events"},          {"GET", "/api/v1/rules"},
      {"POST", "/api/v1/rules"},          {"DELETE", "/api/v1/rules/1"},
      {"GET", "/api/v1/users"},           {"GET", "/api/v1/tokens"},
      {"GET", "/api/v1/webhooks"},        {"GET", "/api/v1/openapi.json"},
      {"GET", "/api/v1/me"},              {"POST", "/api/v1/logout"},
      {"GET", "/api/v1/no-such-route"},   {"GET", "/api/v1/live"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    json_t *o = NULL;
    int st = req(NULL, routes[i][0], routes[i][1], "{}", &o);
    if (st != 401)
      fail_msg("%s %s without credentials: %d", routes[i][0], routes[i][1], st);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "authentication required");
    json_decref(o);
  }
  /* Malformed Authorization headers (BAD-INPUTS 17): each one 401. */
  char longh[3000] = "Authorization: Bearer ";
  memset(longh + strlen(longh), 'A', 2000);
  const char *bad[] = {"Authorization: Basic YWRtaW46eA==", "Authorization: Bearer",
                       "Authorization: Bearer fgw_short", "Authorization: Bearer fgw_!!!",
                       "Authorization: bearer fgw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                       longh};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *h[] = {bad[i], NULL};
    int st = wgt_http(&w, "GET", "/api/v1/sites", h, NULL, NULL, NULL);
    /* Five failures from one address, then it is refused for a while. */
    if (st != (i < 5 ? 401 : 429))
      fail_msg("header %.40s: %d", bad[i], st);
  }
  /* Unauthenticated paths: the UI shell, health and metrics. */
  assert_int_equal(wgt_http(&w, "GET", "/healthz", NULL, NULL, NULL, NULL), 200);
  assert_int_equal(wgt_http(&w, "GET", "/metrics", NULL, NULL, NULL, NULL), 200);
  /* Wait out the limiter the bad headers above may have armed. */
  wgt_sleep_ms(2100);
}

static void test_login_session_csrf_logout(void **state)
{
  (void)state;
  char tok[64], csrf[64];
  assert_int_equal(wgt_login(&w, "admin", "wrong-password", tok, NULL), 401);
  assert_int_equal(wgt_login(&w, "nobody", "wrong-password", tok, NULL), 401);
  /* Malformed bodies and content types. */
  const char *jh[] = {"Content-Type: application/json", NULL};
  const char *th[] = {"Content-Type: text/plain", NULL};
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/login", jh, "{\"username\":", NULL, NULL), 400);
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/login", jh, "{\"username\":1}", NULL, NULL), 400);
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/login", th, "{}", NULL, NULL), 415);
  assert_int_equal(wgt_http(&w, "GET", "/api/v1/login", NULL, NULL, NULL, NULL), 405);
  wgt_sleep_ms(2100); /* two failures above count towards the limit */

  char *hdrs = NULL, *body = NULL;
  json_t *lr = json_pack("{s:s,s:s}", "username", "admin", "password", WGT_ADMIN_PASSWORD);
  char *lb = json_dumps(lr, 0);
  json_decref(lr);
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/login", jh, lb, &body, &hdrs), 200);
  free(lb);
  assert_non_null(strstr(hdrs, "HttpOnly"));
  assert_non_null(strstr(hdrs, "SameSite=Strict"));
  json_t *o = json_loads(body, 0, NULL);
  snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(o, "token")));
  snprintf(csrf, sizeof csrf, "%s", json_string_value(json_object_get(o, "csrf")));
  assert_string_equal(json_string_value(json_object_get(json_object_get(o, "user"), "role")),
                      "admin");
  json_decref(o);
  free(body);
  free(hdrs);
  assert_true(wg_token_shape(tok, strlen(tok)));

  /* The cookie authenticates reads ... */
  char cookie[128], xcsrf[128], host[64], origin[96];
  snprintf(cookie, sizeof cookie, "Cookie: farm_session=%s", tok);
  snprintf(xcsrf, sizeof xcsrf, "X-CSRF-Token: %s", csrf);
  snprintf(host, sizeof host, "Host: 127.0.0.1:%d", w.port);
  snprintf(origin, sizeof origin, "Origin: http://127.0.0.1:%d", w.port);
  const char *rd[] = {cookie, NULL};
  assert_int_equal(wgt_http(&w, "GET", "/api/v1/me", rd, NULL, &body, NULL), 200);
  o = json_loads(body, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(o, "csrf")), csrf);
  json_decref(o);
  free(body);
  /* ... but a state change needs the CSRF header and our origin. */
  const char *rule = "{\"name\":\"csrf probe\",\"kind\":\"offline\"}";
  const char *no_csrf[] = {cookie, "Content-Type: application/json", host, origin, NULL};
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/rules", no_csrf, rule, NULL, NULL), 403);
  const char *foreign[] = {cookie, xcsrf, "Content-Type: application/json", host,
                           "Origin: http://evil.example", NULL};
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/rules", foreign, rule, NULL, NULL), 403);
  const char *cross[] = {cookie, xcsrf, "Content-Type: application/json", host,
                         "Sec-Fetch-Site: cross-site", NULL};
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/rules", cross, rule, NULL, NULL), 403);
  const char *wrong[] = {cookie, "X-CSRF-Token: fgw_nope", "Content-Type: application/json",
                         host, origin, NULL};
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/rules", wrong, rule, NULL, NULL), 403);
  const char *good[] = {cookie, xcsrf, "Content-Type: application/json", host, origin, NULL};
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/rules", good, rule, &body, NULL), 201);
  o = json_loads(body, 0, NULL);
  char path[64];
  snprintf(path, sizeof path, "/api/v1/rules/%lld",
           (long long)json_integer_value(json_object_get(o, "id")));
  json_decref(o);
  free(body);
  assert_int_equal(req(admin_tok, "DELETE", path, NULL, NULL), 200);
  assert_true(metric_value("csrf_refused_total") >= 4);

  /* Logout ends the session everywhere. */
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/logout", good, "", NULL, &hdrs), 200);
  assert_non_null(strstr(hdrs, "Max-Age=0"));
  free(hdrs);
  assert_int_equal(req(tok, "GET", "/api/v1/me", NULL, NULL), 401);
  assert_int_equal(wgt_http(&w, "GET", "/api/v1/me", rd, NULL, NULL, NULL), 401);
  wgt_sleep_ms(2100);
}

static void test_sites_devices_telemetry(void **state)
{
  (void)state;
  wait_latest(DEV, "temp_c", 29.5);
  wait_latest(DEV2, "lux", 1200);
  json_t *o = get_ok("/api/v1/sites");
  json_t *s = json_array_get(json_object_get(o, "sites"), 0);
  assert_string_equal(json_string_value(json_object_get(s, "site")), "north");
  assert_int_equal(json_integer_value(json_object_get(s, "devices")), 2);
  json_decref(o);

  o = get_ok("/api/v1/devices?site=north");
  json_t *list = json_object_get(o, "devices");
  assert_int_equal(json_array_size(list), 2);
  json_decref(o);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/devices?site=NORTH", NULL, NULL), 400);

  json_t *d = device_of(DEV);
  assert_string_equal(json_string_value(json_object_get(d, "site")), "north");
  assert_string_equal(json_string_value(json_object_get(d, "firmware")), "1.4.2");
  assert_int_equal(json_integer_value(json_object_get(d, "rssi")), -61);
  assert_true(json_is_true(json_object_get(d, "online")));
  assert_true(json_number_value(json_object_get(
                  json_object_get(json_object_get(d, "latest"), "rh_pct"), "value")) == 49.0);
  json_decref(d);
  d = device_of(DEV2);
  assert_true(json_is_false(json_object_get(d, "online")));
  json_decref(d);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/devices/ffffffffffff", NULL, NULL), 404);

  /* Raw series: the ten readings, in order, exactly. */
  char path[256];
  snprintf(path, sizeof path, "/api/v1/devices/%s/telemetry?metric=temp_c&from=%lld&to=%lld", DEV,
           t0, t0 + 600000);
  o = get_ok(path);
  json_t *pts = json_object_get(o, "points");
  assert_int_equal(json_array_size(pts), 10);
  for (size_t i = 0; i < 10; i++) {
    json_t *pt = json_array_get(pts, i);
    assert_int_equal(json_integer_value(json_array_get(pt, 0)), t0 + (long long)i * 60000);
    assert_true(json_real_value(json_array_get(pt, 1)) == 20.5 + (double)i);
  }
  json_decref(o);
  /* Downsampled by five minutes from the minute rollups: two buckets. */
  snprintf(path, sizeof path,
           "/api/v1/devices/%s/telemetry?metric=temp_c&from=%lld&to=%lld&step=300000", DEV, t0,
           t0 + 600000);
  o = get_ok(path);
  pts = json_object_get(o, "points");
  assert_int_equal(json_array_size(pts), 2);
  json_t *b0 = json_array_get(pts, 0), *b1 = json_array_get(pts, 1);
  assert_int_equal(json_integer_value(json_array_get(b0, 0)), t0);
  assert_true(json_real_value(json_array_get(b0, 1)) == 22.5); /* mean of 20.5..24.5 */
  assert_true(json_real_value(json_array_get(b0, 2)) == 20.5);
  assert_true(json_real_value(json_array_get(b0, 3)) == 24.5);
  assert_int_equal(json_integer_value(json_array_get(b0, 4)), 5);
  assert_true(json_real_value(json_array_get(b1, 1)) == 27.5);
  json_decref(o);
  /* Hourly buckets come from the hour rollups. */
  snprintf(path, sizeof path,
           "/api/v1/devices/%s/telemetry?metric=temp_c&from=%lld&to=%lld&step=3600000", DEV,
           t0 - 3600000, t0 + 7200000);
  o = get_ok(path);
  long long count = 0;
  size_t i;
  json_t *pt;
  json_array_foreach(json_object_get(o, "points"), i, pt)
    count += json_integer_value(json_array_get(pt, 4));
  assert_int_equal(count, 10);
  json_decref(o);

  /* CSV with Accept: text/csv. */
  snprintf(path, sizeof path, "/api/v1/devices/%s/telemetry?metric=rh_pct&from=%lld&to=%lld", DEV,
           t0, t0 + 120000);
  const char *h[] = {bearer(admin_tok), "Accept: text/csv", NULL};
  char *text = NULL, *hdrs = NULL;
  assert_int_equal(wgt_http(&w, "GET", path, h, NULL, &text, &hdrs), 200);
  char want[128];
  snprintf(want, sizeof want, "ts,value\n%lld,40\n%lld,41\n", t0, t0 + 60000);
  assert_string_equal(text, want);
  assert_non_null(strstr(hdrs, "text/csv"));
  free(text);
  free(hdrs);

  /* Bad parameters. */
  const char *badq[] = {"metric=temp_c&step=1000", "metric=temp_c&from=10&to=5",
                        "metric=Temp", "", "metric=temp_c&from=abc",
                        "metric=temp_c&from=1&to=99999999999999"};
  for (size_t k = 0; k < sizeof badq / sizeof badq[0]; k++) {
    snprintf(path, sizeof path, "/api/v1/devices/%s/telemetry?%s", DEV, badq[k]);
    int st = req(admin_tok, "GET", path, NULL, NULL);
    if (st != 400)
      fail_msg("%s: %d", badq[k], st);
  }
  snprintf(path, sizeof path, "/api/v1/devices/ffffffffffff/telemetry?metric=temp_c");
  assert_int_equal(req(admin_tok, "GET", path, NULL, NULL), 404);
}

static void test_commands(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "/api/v1/devices/%s/commands", DEV);
  json_t *o = NULL;
  assert_int_equal(req(admin_tok, "POST", path,
                       "{\"name\":\"relay.set\",\"args\":{\"ch\":2,\"on\":true},\"expires_in_s\":60}",
                       &o),
                   202);
  char id[64];
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(o, "id")));
  assert_int_equal(strlen(id), 36);
  assert_string_equal(json_string_value(json_object_get(o, "state")), "pending");
  json_decref(o);
  wait_command(id, "executed");
  json_t *cmd;
  command_state(id, &cmd);
  assert_string_equal(json_string_value(json_object_get(cmd, "created_by")), "admin");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(cmd, "args"), "ch")), 2);
  json_decref(cmd);

  /* A failure reported by the edge is kept with its reason. */
  assert_int_equal(req(admin_tok, "POST", path,
                       "{\"name\":\"relay.set\",\"args\":{\"ch\":5,\"on\":false}}", &o),
                   202);
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(o, "id")));
  json_decref(o);
  wait_command(id, "failed");
  command_state(id, &cmd);
  assert_string_equal(json_string_value(json_object_get(cmd, "error")), "relay 5 does not answer");
  json_decref(cmd);

  /* A late or repeated ack never moves a final state back (BAD-INPUTS 24). */
  char topic[128], payload[160];
  snprintf(topic, sizeof topic, "v1/farm/north/%s/ack", DEV);
  snprintf(payload, sizeof payload, "{\"id\":\"%s\",\"state\":\"sent\"}", id);
  long long unknown = metric_value("acks_unknown_total");
  wgt_edge_publish(edge, topic, payload);
  wgt_edge_publish(edge, topic, "{\"id\":\"11111111-2222-4333-8444-555555555555\",\"state\":\"executed\"}");
  wgt_edge_publish(edge, topic, "{\"state\":\"executed\"}");
  wgt_edge_publish(edge, topic, "not json");
  long long end = wgt_now_ms() + 5000;
  while (metric_value("acks_unknown_total") < unknown + 1 && wgt_now_ms() < end)
    wgt_sleep_ms(50);
  assert_int_equal(metric_value("acks_unknown_total"), unknown + 1);
  assert_true(metric_value("acks_invalid_total") >= 2);
  assert_string_equal(command_state(id, NULL), "failed");

  /* Refusals (BAD-INPUTS 22): 422 with the reason, nothing sent. */
  int before = wgt_edge_commands(edge);
  struct {
    const char *body;
    int status;
    const char *reason;
  } bad[] = {
      {"{\"name\":\"relay.toggle\",\"args\":{}}", 422, "unknown command"},
      {"{\"name\":\"relay.set\",\"args\":{\"ch\":7,\"on\":true}}", 422, "'ch' must be 1..6"},
      {"{\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":true,\"for_s\":-5}}", 422,
       "'for_s' must be 0..86400"},
      {"{\"name\":\"relay.set\",\"args\":{\"ch\":1}}", 422, "missing argument 'on'"},
      {"{\"name\":\"relay.set\",\"args\":{\"ch\":1,\"on\":\"yes\"}}", 422, "must be true or false"},
      {"{\"name\":\"relay.set\",\"args\":[1]}", 400, "args must be an object"},
      {"{\"name\":\"reboot\",\"expires_in_s\":0}", 400, "body must be"},
      {"{\"name\":\"reboot\",\"id\":\"../../x\"}", 400, "body must be"},
      {"{\"name\":", 400, "body:"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int st = req(admin_tok, "POST", path, bad[i].body, &o);
    const char *err = json_string_value(json_object_get(o, "error"));
    if (st != bad[i].status || !err || !strstr(err, bad[i].reason))
      fail_msg("%s: %d %s", bad[i].body, st, err ? err : "(no error)");
    json_decref(o);
  }
  const char *th[] = {bearer(admin_tok), "Content-Type: text/plain", NULL};
  assert_int_equal(wgt_http(&w, "POST", path, th, "{\"name\":\"reboot\"}", NULL, NULL), 415);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/devices/ffffffffffff/commands",
                       "{\"name\":\"reboot\"}", NULL),
                   404);

  /* A repeated id reports the first command and sends nothing again
   * (BAD-INPUTS 23). */
  const char *idem = "{\"name\":\"identify\",\"args\":{\"s\":5},\"id\":\"ui-click-0001\"}";
  assert_int_equal(req(admin_tok, "POST", path, idem, NULL), 202);
  wait_command("ui-click-0001", "executed");
  assert_int_equal(req(admin_tok, "POST", path, idem, &o), 200);
  assert_string_equal(json_string_value(json_object_get(o, "state")), "executed");
  json_decref(o);
  wgt_sleep_ms(300);
  assert_int_equal(wgt_edge_commands(edge), before + 1);

  /* The device's command list, newest first. */
  o = get_ok(path);
  json_t *list = json_object_get(o, "commands");
  assert_true(json_array_size(list) >= 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
                      "ui-click-0001");
  json_decref(o);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/commands/no-such-command-id", NULL, NULL), 404);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/commands/..%2f..%2fetc", NULL, NULL), 404);
}

static void test_users_tokens_roles(void **state)
{
  (void)state;
  json_t *o = NULL;
  assert_int_equal(req(admin_tok, "POST", "/api/v1/users",
                       "{\"username\":\"vera\",\"password\":\"viewer-password\",\"role\":\"viewer\"}",
                       &o),
                   201);
  long long vera = json_integer_value(json_object_get(o, "id"));
  json_decref(o);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/users",
                       "{\"username\":\"vera\",\"password\":\"another-pass\"}", NULL),
                   409);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/users",
                       "{\"username\":\"Bad Name\",\"password\":\"another-pass\"}", NULL),
                   422);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/users",
                       "{\"username\":\"shorty\",\"password\":\"short\"}", NULL),
                   422);
  o = get_ok("/api/v1/users");
  assert_int_equal(json_array_size(json_object_get(o, "users")), 2);
  char *dump = json_dumps(o, 0);
  assert_null(strstr(dump, "argon2")); /* never the hash */
  free(dump);
  json_decref(o);

  char vtok[64];
  assert_int_equal(wgt_login(&w, "vera", "viewer-password", vtok, NULL), 200);
  assert_int_equal(req(vtok, "GET", "/api/v1/devices", NULL, NULL), 200);
  char path[128];
  snprintf(path, sizeof path, "/api/v1/devices/%s/commands", DEV);
  assert_int_equal(req(vtok, "POST", path, "{\"name\":\"reboot\"}", NULL), 403);
  assert_int_equal(req(vtok, "POST", "/api/v1/rules", "{\"name\":\"x\",\"kind\":\"offline\"}", NULL),
                   403);
  assert_int_equal(req(vtok, "GET", "/api/v1/users", NULL, NULL), 403);
  assert_int_equal(req(vtok, "GET", "/api/v1/webhooks", NULL, NULL), 403);

  /* Promote to operator: commands allowed, users still not. */
  char upath[64];
  snprintf(upath, sizeof upath, "/api/v1/users/%lld", vera);
  assert_int_equal(req(admin_tok, "PATCH", upath, "{\"role\":\"operator\"}", NULL), 200);
  assert_int_equal(req(vtok, "POST", path, "{\"name\":\"identify\"}", NULL), 202);
  assert_int_equal(req(vtok, "GET", "/api/v1/users", NULL, NULL), 403);
  /* A new password ends her sessions. */
  assert_int_equal(req(admin_tok, "PATCH", upath, "{\"password\":\"new-password-1\"}", NULL), 200);
  assert_int_equal(req(vtok, "GET", "/api/v1/devices", NULL, NULL), 401);
  wgt_sleep_ms(2100);

  /* API tokens: made by an admin, shown once, revocable. */
  assert_int_equal(req(admin_tok, "POST", "/api/v1/tokens",
                       "{\"name\":\"grafana\",\"user\":\"vera\",\"expires_in_s\":3600}", &o),
                   201);
  char api_tok[64];
  snprintf(api_tok, sizeof api_tok, "%s", json_string_value(json_object_get(o, "token")));
  long long tid = json_integer_value(json_object_get(o, "id"));
  json_decref(o);
  assert_int_equal(req(api_tok, "GET", "/api/v1/sites", NULL, NULL), 200);
  o = get_ok("/api/v1/tokens");
  json_t *t = json_array_get(json_object_get(o, "tokens"), 0);
  assert_string_equal(json_string_value(json_object_get(t, "name")), "grafana");
  assert_null(json_object_get(t, "token"));
  json_decref(o);
  char tpath[64];
  snprintf(tpath, sizeof tpath, "/api/v1/tokens/%lld", tid);
  assert_int_equal(req(admin_tok, "DELETE", tpath, NULL, NULL), 200);
  assert_int_equal(req(api_tok, "GET", "/api/v1/sites", NULL, NULL), 401);
  assert_int_equal(req(admin_tok, "DELETE", tpath, NULL, NULL), 404);

  /* The last administrator stays. */
  assert_int_equal(req(admin_tok, "PATCH", "/api/v1/users/1", "{\"role\":\"viewer\"}", NULL), 409);
  assert_int_equal(req(admin_tok, "DELETE", "/api/v1/users/1", NULL, NULL), 409);
  assert_int_equal(req(admin_tok, "DELETE", upath, NULL, NULL), 200);
  assert_int_equal(req(admin_tok, "GET", upath, NULL, NULL), 404);
  wgt_sleep_ms(2100);
}

static void test_rules_alerts_events(void **state)
{
  (void)state;
  json_t *o = NULL;
  const char *bad[] = {
      "{\"name\":\"x\",\"kind\":\"spike\",\"metric\":\"temp_c\"}",
      "{\"name\":\"x\",\"kind\":\"threshold\",\"metric\":\"temp_c\",\"op\":\">\"}",
      "{\"name\":\"x\",\"kind\":\"threshold\",\"metric\":\"temp_c\",\"op\":\"=\",\"threshold\":1}",
      "{\"name\":\"x\",\"kind\":\"threshold\",\"threshold\":1,\"op\":\">\"}",
      "{\"name\":\"x\",\"kind\":\"offline\",\"device\":\"AB\"}",
      "{\"name\":\"x\",\"kind\":\"flatline\",\"metric\":\"temp_c\",\"duration_ms\":-1}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int st = req(admin_tok, "POST", "/api/v1/rules", bad[i], NULL);
    if (st != 422)
      fail_msg("%s: %d", bad[i], st);
  }
  assert_int_equal(req(admin_tok, "POST", "/api/v1/rules",
                       "{\"name\":\"hot\",\"kind\":\"threshold\",\"device\":\"" DEV
                       "\",\"metric\":\"temp_c\",\"op\":\">=\",\"threshold\":40,\"duration_ms\":0}",
                       &o),
                   201);
  long long rid = json_integer_value(json_object_get(o, "id"));
  assert_true(json_is_true(json_object_get(o, "enabled")));
  json_decref(o);
  char rpath[64];
  snprintf(rpath, sizeof rpath, "/api/v1/rules/%lld", rid);
  assert_int_equal(req(admin_tok, "PUT", rpath,
                       "{\"name\":\"hot\",\"kind\":\"threshold\",\"device\":\"" DEV
                       "\",\"metric\":\"temp_c\",\"op\":\">=\",\"threshold\":35}",
                       &o),
                   200);
  assert_true(json_real_value(json_object_get(o, "threshold")) == 35.0);
  json_decref(o);
  assert_int_equal(req(admin_tok, "PATCH", rpath, "{}", NULL), 405);

  /* The streamer loads it and fires on a live reading. */
  wgt_sleep_ms(1500);
  wgt_edge_tel(edge, DEV, wgt_wall_ms(), "\"temp_c\":41.0");
  long long aid = 0, end = wgt_now_ms() + 15000;
  while (!aid && wgt_now_ms() < end) {
    o = get_ok("/api/v1/alerts?state=open&device=" DEV);
    json_t *a = json_array_get(json_object_get(o, "alerts"), 0);
    if (a && json_integer_value(json_object_get(a, "rule_id")) == rid)
      aid = json_integer_value(json_object_get(a, "id"));
    json_decref(o);
    if (!aid)
      wgt_sleep_ms(100);
  }
  assert_true(aid > 0);
  char apath[64];
  snprintf(apath, sizeof apath, "/api/v1/alerts/%lld/ack", aid);
  assert_int_equal(req(admin_tok, "POST", apath, "", &o), 202);
  json_decref(o);
  end = wgt_now_ms() + 10000;
  bool acked = false;
  while (!acked && wgt_now_ms() < end) {
    snprintf(apath, sizeof apath, "/api/v1/alerts/%lld", aid);
    o = get_ok(apath);
    acked = strcmp(json_string_value(json_object_get(o, "state")), "acknowledged") == 0;
    if (acked)
      assert_string_equal(json_string_value(json_object_get(o, "ack_by")), "admin");
    json_decref(o);
    if (!acked)
      wgt_sleep_ms(100);
  }
  assert_true(acked);
  snprintf(apath, sizeof apath, "/api/v1/alerts/%lld/ack", aid);
  assert_int_equal(req(admin_tok, "POST", apath, "", NULL), 409);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/alerts/999999/ack", "", NULL), 404);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/alerts?state=bogus", NULL, NULL), 400);

  /* The alert is an event too. */
  o = get_ok("/api/v1/events?type=alert&device=" DEV);
  assert_true(json_array_size(json_object_get(o, "events")) >= 1);
  json_t *e = json_array_get(json_object_get(o, "events"), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(e, "body"), "type")),
                      "alert");
  json_decref(o);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/events?type=A%20B", NULL, NULL), 400);

  assert_int_equal(req(admin_tok, "DELETE", rpath, NULL, NULL), 200);
  assert_int_equal(req(admin_tok, "GET", rpath, NULL, NULL), 404);
}

/* ---- live WebSocket ---- */

struct ws {
  pthread_mutex_t lock;
  int n;
  char msg[64][1024];
  bool closed;
};

static int ws_data(struct mg_connection *c, int flags, char *data, size_t len, void *ud)
{
  (void)c;
  struct ws *s = ud;
  if ((flags & 0xf) != MG_WEBSOCKET_OPCODE_TEXT)
    return 1;
  pthread_mutex_lock(&s->lock);
  if (s->n < 64)
    snprintf(s->msg[s->n++], sizeof s->msg[0], "%.*s", (int)len, data);
  pthread_mutex_unlock(&s->lock);
  return 1;
}

static void ws_close(const struct mg_connection *c, void *ud)
{
  (void)c;
  struct ws *s = ud;
  pthread_mutex_lock(&s->lock);
  s->closed = true;
  pthread_mutex_unlock(&s->lock);
}

/* Waits for a frame containing needle; returns its index or -1. */
static int ws_wait(struct ws *s, const char *needle, int timeout_ms)
{
  long long end = wgt_now_ms() + timeout_ms;
  do {
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n; i++) {
      if (strstr(s->msg[i], needle)) {
        pthread_mutex_unlock(&s->lock);
        return i;
      }
    }
    pthread_mutex_unlock(&s->lock);
    wgt_sleep_ms(20);
  } while (wgt_now_ms() < end);
  return -1;
}

static void test_live_websocket(void **state)
{
  (void)state;
  char err[256], path[256];
  /* Refused without a token, with a bad one, and with a bad filter. */
  struct ws none = {.lock = PTHREAD_MUTEX_INITIALIZER};
  struct mg_connection *c = mg_connect_websocket_client("127.0.0.1", w.port, 0, err, sizeof err,
                                                        "/api/v1/live", NULL, ws_data, ws_close,
                                                        &none);
  assert_null(c);
  snprintf(path, sizeof path, "/api/v1/live?token=%s&device=NOT-AN-ID", admin_tok);
  c = mg_connect_websocket_client("127.0.0.1", w.port, 0, err, sizeof err, path, NULL, ws_data,
                                  ws_close, &none);
  assert_null(c);

  struct ws s = {.lock = PTHREAD_MUTEX_INITIALIZER};
  snprintf(path, sizeof path, "/api/v1/live?token=%s&device=%s&metric=rh_pct", admin_tok, DEV);
  c = mg_connect_websocket_client("127.0.0.1", w.port, 0, err, sizeof err, path, NULL, ws_data,
                                  ws_close, &s);
  if (!c)
    fail_msg("websocket: %s", err);
  assert_true(ws_wait(&s, "\"type\":\"hello\"", 5000) >= 0);
  /* Another device's reading is filtered out; ours arrives with only the
   * metric asked for. */
  wgt_edge_tel(edge, DEV2, wgt_wall_ms(), "\"lux\":99");
  wgt_edge_tel(edge, DEV, wgt_wall_ms(), "\"temp_c\":21.25,\"rh_pct\":55.5");
  int i = ws_wait(&s, "\"rh_pct\":55.5", 5000);
  assert_true(i >= 0);
  assert_null(strstr(s.msg[i], "temp_c"));
  assert_true(ws_wait(&s, DEV2, 300) < 0);
  /* Command states follow. */
  char cpath[128];
  snprintf(cpath, sizeof cpath, "/api/v1/devices/%s/commands", DEV);
  json_t *o = NULL;
  assert_int_equal(req(admin_tok, "POST", cpath, "{\"name\":\"relay.set\",\"args\":{\"ch\":3,\"on\":true}}", &o), 202);
  char needle[96];
  snprintf(needle, sizeof needle, "\"id\":\"%s\",\"name\":\"relay.set\",\"state\":\"executed\"",
           json_string_value(json_object_get(o, "id")));
  json_decref(o);
  assert_true(ws_wait(&s, needle, 8000) >= 0);
  assert_true(metric_value("live_clients") == 1);
  mg_close_connection(c);
  long long end = wgt_now_ms() + 5000;
  while (metric_value("live_clients") != 0 && wgt_now_ms() < end)
    wgt_sleep_ms(50);
  assert_int_equal(metric_value("live_clients"), 0);
}

/* ---- webhooks against a receiver of our own ---- */

struct delivery {
  char body[2048], sig[128], ts[32], event[32];
};

struct receiver {
  pthread_mutex_t lock;
  int hits;
  int fail_first; /* answer 500 to this many */
  int n;          /* deliveries answered 200 */
  struct delivery d[16];
};

static int receive(struct mg_connection *conn, void *ud)
{
  struct receiver *r = ud;
  char body[4096];
  int n = mg_read(conn, body, sizeof body - 1);
  body[n > 0 ? n : 0] = '\0';
  pthread_mutex_lock(&r->lock);
  int hit = ++r->hits;
  if (hit > r->fail_first && r->n < 16) {
    struct delivery *d = &r->d[r->n++];
    snprintf(d->body, sizeof d->body, "%.2000s", body);
    const char *s = mg_get_header(conn, "X-Farm-Signature");
    const char *t = mg_get_header(conn, "X-Farm-Timestamp");
    const char *e = mg_get_header(conn, "X-Farm-Event");
    snprintf(d->sig, sizeof d->sig, "%s", s ? s : "");
    snprintf(d->ts, sizeof d->ts, "%s", t ? t : "");
    snprintf(d->event, sizeof d->event, "%s", e ? e : "");
  }
  pthread_mutex_unlock(&r->lock);
  int status = hit > r->fail_first ? 200 : 500;
  mg_printf(conn, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
  return status;
}

static void test_webhooks(void **state)
{
  (void)state;
  struct receiver r = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_first = 2};
  int port = fh_free_port();
  char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  const char *opts[] = {"listening_ports", listen, "num_threads", "2", NULL};
  struct mg_callbacks cb = {0};
  struct mg_context *ctx = mg_start(&cb, NULL, opts);
  assert_non_null(ctx);
  mg_set_request_handler(ctx, "/hook", receive, &r);

  json_t *o = NULL;
  assert_int_equal(req(admin_tok, "POST", "/api/v1/webhooks", "{\"url\":\"ftp://x\",\"events\":[\"alert\"]}", NULL), 422);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/webhooks", "{\"url\":\"http://x\",\"events\":[\"weather\"]}", NULL), 422);
  char body[256];
  snprintf(body, sizeof body,
           "{\"url\":\"http://127.0.0.1:%d/hook\",\"events\":[\"command\"],\"device\":\"%s\","
           "\"secret\":\"0123456789abcdef-secret\"}",
           port, DEV);
  assert_int_equal(req(admin_tok, "POST", "/api/v1/webhooks", body, &o), 201);
  long long hid = json_integer_value(json_object_get(o, "id"));
  json_decref(o);
  o = get_ok("/api/v1/webhooks");
  assert_null(json_object_get(json_array_get(json_object_get(o, "webhooks"), 0), "secret"));
  json_decref(o);
  wgt_sleep_ms(1500); /* the service reloads hooks each second */

  char cpath[128];
  snprintf(cpath, sizeof cpath, "/api/v1/devices/%s/commands", DEV);
  assert_int_equal(req(admin_tok, "POST", cpath, "{\"name\":\"reboot\",\"id\":\"hook-probe-01\"}", NULL), 202);
  wait_command("hook-probe-01", "executed");
  /* accepted, sent, executed: three deliveries; the first two attempts
   * are answered 500 and retried. */
  long long end = wgt_now_ms() + 15000;
  struct delivery *got = NULL;
  while (!got && wgt_now_ms() < end) {
    pthread_mutex_lock(&r.lock);
    for (int i = 0; i < r.n; i++)
      if (strstr(r.d[i].body, "\"state\":\"executed\""))
        got = &r.d[i];
    pthread_mutex_unlock(&r.lock);
    if (!got)
      wgt_sleep_ms(50);
  }
  assert_non_null(got);
  pthread_mutex_lock(&r.lock);
  char want[80];
  char *signed_text = malloc(strlen(got->body) + 40);
  sprintf(signed_text, "%s.%s", got->ts, got->body);
  char hex[72];
  wg_hmac_sha256_hex("0123456789abcdef-secret", 23, signed_text, strlen(signed_text), hex);
  free(signed_text);
  snprintf(want, sizeof want, "sha256=%s", hex);
  assert_string_equal(got->sig, want);
  assert_string_equal(got->event, "command");
  assert_non_null(strstr(got->body, "\"id\":\"hook-probe-01\""));
  pthread_mutex_unlock(&r.lock);

  char dpath[96];
  snprintf(dpath, sizeof dpath, "/api/v1/webhooks/%lld/deliveries", hid);
  end = wgt_now_ms() + 10000;
  json_t *list = NULL;
  size_t delivered = 0, retried = 0;
  while (wgt_now_ms() < end) {
    o = get_ok(dpath);
    list = json_object_get(o, "deliveries");
    delivered = retried = 0;
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
      if (strcmp(json_string_value(json_object_get(d, "state")), "delivered") == 0)
        delivered++;
      if (json_integer_value(json_object_get(d, "attempts")) > 1)
        retried++;
    }
    json_decref(o);
    if (delivered == 3)
      break;
    wgt_sleep_ms(100);
  }
  assert_int_equal(delivered, 3);
  assert_true(retried >= 1);
  assert_true(metric_value("webhook_retries_total") >= 2);
  char hpath[64];
  snprintf(hpath, sizeof hpath, "/api/v1/webhooks/%lld", hid);
  assert_int_equal(req(admin_tok, "DELETE", hpath, NULL, NULL), 200);
  assert_int_equal(req(admin_tok, "GET", dpath, NULL, NULL), 404);
  mg_stop(ctx);
}

/* ---- HTTP bad inputs, UI files ---- */

static void test_http_bad_inputs(void **state)
{
  (void)state;
  /* Oversized body (413), URL and headers (refused by the parser). */
  size_t big = 70000;
  char *body = malloc(big + 1);
  memset(body, ' ', big);
  body[big] = '\0';
  body[0] = '{';
  body[big - 1] = '}';
  assert_int_equal(req(admin_tok, "POST", "/api/v1/rules", body, NULL), 413);
  free(body);
  char *url = malloc(20000);
  strcpy(url, "/api/v1/devices?site=");
  memset(url + strlen(url), 'a', 19000);
  url[19021] = '\0';
  int st = req(admin_tok, "GET", url, NULL, NULL);
  assert_true(st >= 400 && st < 500);
  free(url);
  /* Methods (BAD-INPUTS 19): no state change through GET. */
  assert_int_equal(req(admin_tok, "GET", "/api/v1/logout", NULL, NULL), 405);
  assert_int_equal(req(admin_tok, "DELETE", "/api/v1/devices", NULL, NULL), 405);
  assert_int_equal(req(admin_tok, "PUT", "/api/v1/sites", "{}", NULL), 405);
  assert_int_equal(wgt_http(&w, "POST", "/index.html", NULL, "x", NULL, NULL), 405);
  /* Path traversal in static and API routes (BAD-INPUTS 21). */
  const char *trav[] = {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                        "/vendor/../../CMakeLists.txt", "/api/v1/devices/..%2f..", "/.env",
                        "/api/v1/devices/" DEV "/../" DEV};
  for (size_t i = 0; i < sizeof trav / sizeof trav[0]; i++) {
    char *text = NULL;
    st = wgt_http(&w, "GET", trav[i], (const char *[]){bearer(admin_tok), NULL}, NULL, &text, NULL);
    if (st != 404 && st != 400)
      fail_msg("%s: %d", trav[i], st);
    assert_null(strstr(text, "root:"));
    free(text);
  }
  /* Malformed JSON, wrong types, trailing garbage: 400 with a reason. */
  const char *bodies[] = {"{\"name\":\"x\",\"kind\":\"offline\"} trailing", "[1,2]",
                          "{\"name\":\"x\",\"name\":\"y\",\"kind\":\"offline\"}", "\"text\"", ""};
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    json_t *o = NULL;
    st = req(admin_tok, "POST", "/api/v1/rules", bodies[i], &o);
    if (st != 400)
      fail_msg("%s: %d", bodies[i], st);
    assert_non_null(json_string_value(json_object_get(o, "error")));
    json_decref(o);
  }
  /* The OpenAPI document is served and parses. */
  json_t *api = get_ok("/api/v1/openapi.json");
  assert_non_null(json_object_get(json_object_get(api, "paths"), "/devices/{id}/telemetry"));
  json_decref(api);
  /* The UI shell is served at / without credentials. */
  char *page = NULL;
  assert_int_equal(wgt_http(&w, "GET", "/", NULL, NULL, &page, NULL), 200);
  assert_non_null(strstr(page, "<!doctype html>"));
  free(page);
  assert_int_equal(wgt_http(&w, "GET", "/vendor/uPlot.iife.min.js", NULL, NULL, NULL, NULL), 200);
  /* Security headers on every answer. */
  char *hdrs = NULL;
  assert_int_equal(wgt_http(&w, "GET", "/healthz", NULL, NULL, NULL, &hdrs), 200);
  assert_non_null(strstr(hdrs, "X-Content-Type-Options: nosniff"));
  assert_non_null(strstr(hdrs, "Content-Security-Policy: default-src 'self'"));
  free(hdrs);
}

/* Last: it leaves 127.0.0.1 blocked for a while. */
static void test_login_rate_limit(void **state)
{
  (void)state;
  char tok[64];
  for (int i = 0; i < 5; i++)
    assert_int_equal(wgt_login(&w, "admin", "not-the-password", tok, NULL), 401);
  char *hdrs = NULL;
  json_t *lr = json_pack("{s:s,s:s}", "username", "admin", "password", WGT_ADMIN_PASSWORD);
  char *lb = json_dumps(lr, 0);
  json_decref(lr);
  const char *jh[] = {"Content-Type: application/json", NULL};
  /* Even the right password waits now. */
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/login", jh, lb, NULL, &hdrs), 429);
  assert_non_null(strstr(hdrs, "Retry-After:"));
  free(hdrs);
  assert_int_equal(req(admin_tok, "GET", "/api/v1/sites", NULL, NULL), 429);
  assert_true(metric_value("auth_rate_limited_total") >= 2);
  wgt_sleep_ms(2100);
  assert_int_equal(wgt_http(&w, "POST", "/api/v1/login", jh, lb, NULL, NULL), 200);
  free(lb);
}

int main(int argc, char **argv)
{
  if (argc > 1)
    backend = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_refused),
      cmocka_unit_test(test_every_route_needs_credentials),
      cmocka_unit_test(test_login_session_csrf_logout),
      cmocka_unit_test(test_sites_devices_telemetry),
      cmocka_unit_test(test_commands),
      cmocka_unit_test(test_users_tokens_roles),
      cmocka_unit_test(test_rules_alerts_events),
      cmocka_unit_test(test_live_websocket),
      cmocka_unit_test(test_webhooks),
      cmocka_unit_test(test_http_bad_inputs),
      cmocka_unit_test(test_login_rate_limit),
  };
  return cmocka_run_group_tests_name(backend, tests, group_setup, group_teardown);
}
