/* SPDX-License-Identifier: MIT */
/* Topic tree: every shape of architecture §6 parses, everything else (bad
 * ids, wildcards, empty levels, wrong kinds) is refused; format round-trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "farmd/topic.h"

static int parse(const char *s, struct fd_topic *t)
{
  return fd_topic_parse(s, strlen(s), t);
}

static void test_valid_shapes(void **state)
{
  (void)state;
  struct fd_topic t;
  assert_int_equal(parse("v1/farm/site-1/a1b2c3d4e5f6/telemetry/env", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_TELEMETRY);
  assert_string_equal(t.site, "site-1");
  assert_string_equal(t.device, "a1b2c3d4e5f6");
  assert_string_equal(t.group, "env");

  assert_int_equal(parse("v1/farm/s/d/status", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_STATUS);
  assert_string_equal(t.group, "");
  assert_int_equal(parse("v1/farm/s/d/event", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_EVENT);
  assert_int_equal(parse("v1/farm/s/d/cmd", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_CMD);
  assert_int_equal(parse("v1/farm/s/d/ack", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_ACK);
  assert_int_equal(parse("v1/farm/s/d/ml", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_ML);
  assert_int_equal(parse("v1/farm/s/edge/ml", &t), FARM_EUNKNOWN);
  assert_int_equal(parse("v1/farm/s/edge/status", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_EDGE_STATUS);
  assert_int_equal(parse("v1/farm/s/edge/commit", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_EDGE_COMMIT);
  assert_int_equal(parse("v1/farm/s/edge/event", &t), 0);
  assert_int_equal(t.kind, FD_TOPIC_EVENT);
  assert_string_equal(t.device, "edge");
}

static void test_refused(void **state)
{
  (void)state;
  static const struct {
    const char *topic;
    int err;
  } cases[] = {
      {"", FARM_EMALFORMED},
      {"v1/farm", FARM_EMALFORMED},
      {"v1/farm/", FARM_EMALFORMED},
      {"v2/farm/s/d/status", FARM_EMALFORMED},
      {"/v1/farm/s/d/status", FARM_EMALFORMED},
      {"v1/farm/s/d", FARM_EMALFORMED},
      {"v1/farm/s//status", FARM_EMALFORMED},
      {"v1/farm//d/status", FARM_EMALFORMED},
      {"v1/farm/s/d/status/", FARM_EMALFORMED},
      {"v1/farm/s/d/telemetry/", FARM_EMALFORMED},
      {"v1/farm/+/d/status", FARM_EMALFORMED},
      {"v1/farm/s/#", FARM_EMALFORMED},
      {"v1/farm/s/d/telemetry/#", FARM_EMALFORMED},
      {"v1/farm/Site/d/status", FARM_EMALFORMED},
      {"v1/farm/s/d.x/status", FARM_EMALFORMED},
      {"v1/farm/s/d x/status", FARM_EMALFORMED},
      {"v1/farm/s/d\xc3\xa9/status", FARM_EMALFORMED},
      {"v1/farm/s/d/telemetry/g/extra", FARM_EMALFORMED},
      {"v1/farm/s/d/unknown", FARM_EUNKNOWN},
      {"v1/farm/s/d/status2", FARM_EUNKNOWN},
      {"v1/farm/s/d/commit", FARM_EUNKNOWN},
      {"v1/farm/s/edge/telemetry/g", FARM_EUNKNOWN},
      {"v1/farm/s/edge/cmd", FARM_EUNKNOWN},
      {"v1/farm/s/d/status/x", FARM_EUNKNOWN},
  };
  struct fd_topic t;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = parse(cases[i].topic, &t);
    if (rc != cases[i].err)
      fail_msg("'%s': got %d want %d", cases[i].topic, rc, cases[i].err);
  }
  /* An embedded NUL is just another byte outside the alphabet. */
  assert_int_equal(fd_topic_parse("v1/farm/s\0x/d/status", 20, &t), FARM_EMALFORMED);
}

static void test_id_limits(void **state)
{
  (void)state;
  char id[FD_ID_MAX + 2];
  memset(id, 'a', sizeof id);
  assert_true(fd_id_valid(id, FD_ID_MAX));
  assert_false(fd_id_valid(id, FD_ID_MAX + 1));
  assert_false(fd_id_valid(id, 0));
  assert_true(fd_id_valid("a_b-9", 5));

  char topic[256];
  id[FD_ID_MAX] = '\0';
  snprintf(topic, sizeof topic, "v1/farm/%s/%s/telemetry/%s", id, id, id);
  struct fd_topic t;
  assert_int_equal(parse(topic, &t), 0);
  assert_int_equal(strlen(t.site), FD_ID_MAX);
  snprintf(topic, sizeof topic, "v1/farm/%sa/d/status", id);
  assert_int_equal(parse(topic, &t), FARM_EMALFORMED);
}

static void test_format_roundtrip(void **state)
{
  (void)state;
  const char *topics[] = {"v1/farm/s1/a1b2c3d4e5f6/telemetry/env", "v1/farm/s1/d/status",
                          "v1/farm/s1/d/event", "v1/farm/s1/d/cmd", "v1/farm/s1/d/ack",
                          "v1/farm/s1/d/ml", "v1/farm/s1/edge/status", "v1/farm/s1/edge/commit"};
  for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
    struct fd_topic t;
    char buf[FD_TOPIC_MAX];
    assert_int_equal(parse(topics[i], &t), 0);
    assert_int_equal(fd_topic_format(&t, buf, sizeof buf), 0);
    assert_string_equal(buf, topics[i]);
  }
  struct fd_topic t = {.kind = FD_TOPIC_EDGE_COMMIT, .site = "s1", .device = "edge"};
  char small[10];
  assert_int_equal(fd_topic_format(&t, small, sizeof small), FARM_ENOSPC);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_shapes),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_id_limits),
      cmocka_unit_test(test_format_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
