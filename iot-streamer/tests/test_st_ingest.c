/* SPDX-License-Identifier: MIT */
/* Payload validation of the streamer: every field's type and range, every
 * refusal class, for telemetry, status, event, edge status and alert acks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "ingest.h"

#define NOW 1700000000000LL

static int tel(const char *json, struct st_telemetry *t, enum st_reject *why, int64_t *es)
{
  char detail[160];
  return st_parse_telemetry(json, strlen(json), 16384, NOW, t, es, why, detail, sizeof detail);
}

static void test_valid_telemetry(void **state)
{
  (void)state;
  struct st_telemetry t;
  enum st_reject why;
  int64_t es;
  assert_int_equal(tel("{\"edge_seq\":7,\"boot\":3,\"seq\":4294967295,\"ts\":1700000000000,"
                       "\"up_ms\":1234,\"rx_ts\":1700000000100,\"rssi\":-61,\"hist\":true,"
                       "\"synthetic\":false,\"v\":{\"temp_c\":21.5,\"rh_pct\":40,"
                       "\"lux\":0,\"air_ppm\":412.25,\"relay_1\":1}}",
                       &t, &why, &es),
                   0);
  assert_int_equal(es, 7);
  assert_int_equal(t.edge_seq, 7);
  assert_int_equal(t.boot, 3);
  assert_int_equal(t.seq, 4294967295LL);
  assert_int_equal(t.ts, 1700000000000LL);
  assert_int_equal(t.up_ms, 1234);
  assert_int_equal(t.rx_ts, 1700000000100LL);
  assert_true(t.has_rssi);
  assert_int_equal(t.rssi, -61);
  assert_true(t.hist);
  assert_false(t.synthetic);
  assert_int_equal(t.nmetrics, 5);
  assert_string_equal(t.m[0].name, "temp_c");
  assert_true(t.m[0].value == 21.5);
  assert_string_equal(t.m[3].name, "air_ppm");
  assert_true(t.m[3].value == 412.25);

  /* Optional fields absent; null counts as absent. */
  assert_int_equal(tel("{\"edge_seq\":1,\"boot\":0,\"seq\":0,\"ts\":946684800000,"
                       "\"rssi\":null,\"v\":{\"x\":-5}}",
                       &t, &why, &es),
                   0);
  assert_int_equal(t.up_ms, -1);
  assert_int_equal(t.rx_ts, -1);
  assert_false(t.has_rssi);
  assert_false(t.hist);
}

struct bad {
  const char *json;
  enum st_reject why;
  int64_t edge_seq; /* readable edge_seq, or 0 */
};

static void test_refused_telemetry(void **state)
{
  (void)state;
  char many[2048] = "{\"edge_seq\":9,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{";
  for (int i = 0; i < 33; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"m%d\":1", i ? "," : "", i);
  strcat(many, "}}");
  const struct bad cases[] = {
      {"", ST_REJ_JSON, 0},
      {"not json", ST_REJ_JSON, 0},
      {"[1,2,3]", ST_REJ_JSON, 0},
      {"{\"edge_seq\":1,\"edge_seq\":2}", ST_REJ_JSON, 0},
      {"{\"edge_seq\":1,\"boot\":\"\xff\"}", ST_REJ_JSON, 0},
      {"{\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_FIELD, 0},
      {"{\"edge_seq\":\"1\",\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_FIELD, 0},
      {"{\"edge_seq\":0,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_RANGE, 0},
      {"{\"edge_seq\":2,\"boot\":\"1\",\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":-1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":4294967296,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1.5,\"ts\":1700000000000,\"v\":{\"t\":1}}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"v\":{\"t\":1}}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":0,\"v\":{\"t\":1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700086400001,\"v\":{\"t\":1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"rssi\":50,\"v\":{\"t\":1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"hist\":\"yes\",\"v\":{\"t\":1}}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":[1]}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":\"hot\"}}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"t\":true}}", ST_REJ_FIELD, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"Temp\":1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"temp_c\":500}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"rh_pct\":-0.1}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"x\":1e10}}", ST_REJ_RANGE, 2},
      {"{\"edge_seq\":2,\"boot\":1,\"seq\":1,\"ts\":1700000000000,\"v\":{\"x\":1e999}}", ST_REJ_JSON, 0},
      {many, ST_REJ_RANGE, 9},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct st_telemetry t;
    enum st_reject why = ST_REJ_COUNT;
    int64_t es = -1;
    int rc = tel(cases[i].json, &t, &why, &es);
    if (rc == 0 || why != cases[i].why || es != cases[i].edge_seq)
      fail_msg("case %zu: rc %d why %s (want %s) edge_seq %lld (want %lld)", i, rc,
               st_reject_name(why), st_reject_name(cases[i].why), (long long)es,
               (long long)cases[i].edge_seq);
  }
}

static void test_oversize(void **state)
{
  (void)state;
  static char big[20000];
  memset(big, ' ', sizeof big);
  struct st_telemetry t;
  enum st_reject why;
  int64_t es;
  char detail[160];
  assert_int_equal(st_parse_telemetry(big, sizeof big, 16384, NOW, &t, &es, &why, detail,
                                      sizeof detail),
                   FARM_ETOOBIG);
  assert_int_equal(why, ST_REJ_OVERSIZE);
}

static void test_status_event_edge_ack(void **state)
{
  (void)state;
  char d[160];
  enum st_reject why;
  struct st_status st;
  const char *s1 = "{\"online\":true,\"interval_ms\":5000,\"fw\":\"1.2\"}";
  assert_int_equal(st_parse_status(s1, strlen(s1), 4096, &st, &why, d, sizeof d), 0);
  assert_int_equal(st.online, 1);
  assert_int_equal(st.interval_ms, 5000);
  const char *s2 = "{\"state\":\"offline\"}";
  assert_int_equal(st_parse_status(s2, strlen(s2), 4096, &st, &why, d, sizeof d), 0);
  assert_int_equal(st.online, 0);
  assert_int_equal(st.interval_ms, 0);
  const char *s3 = "{\"rssi\":-50}";
  assert_int_equal(st_parse_status(s3, strlen(s3), 4096, &st, &why, d, sizeof d), 0);
  assert_int_equal(st.online, -1);
  const char *bad_status[] = {"{\"online\":\"yes\"}", "{\"state\":\"asleep\"}",
                              "{\"interval_ms\":5}", "online", "[]"};
  for (size_t i = 0; i < 5; i++)
    assert_int_not_equal(st_parse_status(bad_status[i], strlen(bad_status[i]), 4096, &st, &why, d,
                                         sizeof d),
                         0);

  struct st_event ev;
  const char *e1 = "{\"type\":\"relay.changed\",\"ts\":1700000000000,\"relay\":2}";
  assert_int_equal(st_parse_event(e1, strlen(e1), 4096, &ev, &why, d, sizeof d), 0);
  assert_string_equal(ev.type, "relay.changed");
  assert_int_equal(ev.ts, 1700000000000LL);
  const char *bad_event[] = {"{}", "{\"type\":\"Bad Type\"}", "{\"type\":7}", "{\"type\":\"\"}"};
  for (size_t i = 0; i < 4; i++)
    assert_int_not_equal(st_parse_event(bad_event[i], strlen(bad_event[i]), 4096, &ev, &why, d,
                                        sizeof d),
                         0);

  int64_t floor;
  const char *es1 = "{\"backlog\":{\"depth\":3},\"backlog_first_edge_seq\":42}";
  assert_int_equal(st_parse_edge_status(es1, strlen(es1), 4096, &floor, &why, d, sizeof d), 0);
  assert_int_equal(floor, 42);
  const char *es2 = "{\"online\":false}";
  assert_int_equal(st_parse_edge_status(es2, strlen(es2), 4096, &floor, &why, d, sizeof d), 0);
  assert_int_equal(floor, 0);
  const char *es3 = "{\"backlog_first_edge_seq\":-1}";
  assert_int_equal(st_parse_edge_status(es3, strlen(es3), 4096, &floor, &why, d, sizeof d),
                   FARM_ERANGE);

  struct st_alert_ack ack;
  const char *a1 = "{\"id\":12,\"by\":\"alice\"}";
  assert_int_equal(st_parse_alert_ack(a1, strlen(a1), &ack, &why, d, sizeof d), 0);
  assert_int_equal(ack.id, 12);
  assert_string_equal(ack.by, "alice");
  const char *a2 = "{\"id\":0}";
  assert_int_equal(st_parse_alert_ack(a2, strlen(a2), &ack, &why, d, sizeof d), FARM_ERANGE);
}

static void test_metric_ranges(void **state)
{
  (void)state;
  double lo, hi;
  st_metric_range("temp_c", &lo, &hi);
  assert_true(lo == -40.0 && hi == 125.0);
  st_metric_range("rh_pct", &lo, &hi);
  assert_true(lo == 0.0 && hi == 100.0);
  st_metric_range("anything", &lo, &hi);
  assert_true(lo == -1e9 && hi == 1e9);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_telemetry),
      cmocka_unit_test(test_refused_telemetry),
      cmocka_unit_test(test_oversize),
      cmocka_unit_test(test_status_event_edge_ack),
      cmocka_unit_test(test_metric_ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
