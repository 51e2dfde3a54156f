/* SPDX-License-Identifier: MIT */
/*
 * farm-sim's text interfaces in process: the control commands and their
 * answers, the command-line options and --anomaly, and the ledger's JSON
 * Lines (exact text for known records, and every line of a real run
 * parsed back with jansson).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "farm/error.h"
#include "fsim/control.h"
#include "fsim/ledger.h"
#include "fsim/options.h"
#include "fsim/world.h"
#include "sim/board.h"

/* ---- Control -------------------------------------------------------------- */

struct answer {
  char lines[80][512];
  int n;
};

static void collect(void *ctx, const char *line)
{
  struct answer *a = ctx;
  assert_true(a->n < 80);
  snprintf(a->lines[a->n++], sizeof a->lines[0], "%s", line);
}

static int exec(struct fsim_control *c, struct answer *a, const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  a->n = 0;
  return fsim_control_exec(c, line, collect, a);
}

static struct fsim_world *world(unsigned nodes)
{
  struct fsim_config cfg;
  fsim_config_default(&cfg);
  cfg.seed = 5;
  cfg.nodes = nodes;
  cfg.real_nodes = 2;
  cfg.log_level = HAL_LOG_ERROR;
  struct fsim_world *w;
  assert_int_equal(fsim_world_new(&cfg, &w, NULL, 0), 0);
  return w;
}

static void expect_ok(struct fsim_control *c, const char *cmd)
{
  struct answer a;
  assert_int_equal(exec(c, &a, "%s", cmd), 0);
  assert_int_equal(a.n, 1);
  assert_string_equal(a.lines[0], "ok");
}

static void expect_error(struct fsim_control *c, const char *cmd, const char *reason)
{
  struct answer a;
  assert_int_equal(exec(c, &a, "%s", cmd), FARM_EINVAL);
  assert_int_equal(a.n, 1);
  if (strncmp(a.lines[0], "error: ", 7) != 0 || strstr(a.lines[0], reason) == NULL)
    fail_msg("\"%s\" answered \"%s\", expected error with \"%s\"", cmd, a.lines[0], reason);
}

static void test_control_nodes_and_status(void **state)
{
  (void)state;
  struct fsim_world *w = world(4);
  struct fsim_control c;
  fsim_control_init(&c, w);
  fsim_advance(w, 30100);
  struct answer a;
  assert_int_equal(exec(&c, &a, "nodes"), 0);
  assert_int_equal(a.n, 5);
  assert_string_equal(a.lines[4], "ok");
  for (unsigned i = 0; i < 4; i++) {
    char hex[13], head[128];
    fsim_mac_hex(fsim_node_mac(w, i), hex);
    snprintf(head, sizeof head, "%s index=%u sensors=%s power=on boot=1 paired=yes ", hex, i,
             i < 2 ? "real" : "synthetic");
    assert_memory_equal(a.lines[i], head, strlen(head));
    if (strstr(a.lines[i], " outbox=0 safe=no relays=0x00 features=0x0f") == NULL)
      fail_msg("%s", a.lines[i]);
  }
  /* 30 s at 10 s: readings at 0, 10, 20 and 30 s. */
  assert_non_null(strstr(a.lines[0], " readings=4 "));

  assert_int_equal(exec(&c, &a, "  status  "), 0);
  assert_int_equal(a.n, 2);
  char hex[13], want[256];
  fsim_mac_hex(fsim_gateway_mac(w), hex);
  snprintf(want, sizeof want,
           "sim_ms=30100 paused=no cable=no reader=no gateway=%s up=yes boot=1 peers=4 ", hex);
  assert_memory_equal(a.lines[0], want, strlen(want));
  assert_string_equal(a.lines[1], "ok");

  assert_int_equal(exec(&c, &a, "help"), 0);
  assert_true(a.n > 3);
  assert_string_equal(a.lines[a.n - 1], "ok");
  fsim_world_free(w);
}

static void test_control_actions(void **state)
{
  (void)state;
  struct fsim_world *w = world(3);
  struct fsim_control c;
  fsim_control_init(&c, w);
  char m0[13], m2[13], cmd[128];
  fsim_mac_hex(fsim_node_mac(w, 0), m0);
  fsim_mac_hex(fsim_node_mac(w, 2), m2);

  expect_ok(&c, "pause");
  assert_true(fsim_paused(w));
  expect_ok(&c, "resume");
  assert_false(fsim_paused(w));

  /* The cable follows the reader unless held out. */
  assert_false(fsim_cable(w));
  fsim_control_set_reader(&c, true);
  assert_true(fsim_cable(w));
  expect_ok(&c, "unplug");
  assert_false(fsim_cable(w));
  fsim_control_set_reader(&c, false);
  fsim_control_set_reader(&c, true);
  assert_false(fsim_cable(w));
  expect_ok(&c, "plug");
  assert_true(fsim_cable(w));
  fsim_control_set_reader(&c, false);
  expect_ok(&c, "plug");
  assert_false(fsim_cable(w));

  expect_ok(&c, "reboot gateway");
  fsim_advance(w, 1000);
  assert_int_equal(gw_boot(fsim_gateway_core(w)), 2);
  snprintf(cmd, sizeof cmd, "reboot node %s", m0);
  expect_ok(&c, cmd);
  expect_ok(&c, "reboot node 2"); /* by index */
  fsim_advance(w, 2000);
  assert_int_equal(node_boot(fsim_node_core(w, 0)), 2);
  assert_int_equal(node_boot(fsim_node_core(w, 1)), 1);
  assert_int_equal(node_boot(fsim_node_core(w, 2)), 2);
  expect_error(&c, "reboot node 02:00:00:00:00:99", "no node");
  expect_error(&c, "reboot node 7", "no node");
  expect_error(&c, "reboot", "usage");

  expect_ok(&c, "loss 0.25");
  const uint8_t *g = fsim_gateway_mac(w);
  assert_true(sim_radio_link_loss(fsim_radio(w), fsim_node_mac(w, 1), g) == 0.25);
  snprintf(cmd, sizeof cmd, "loss %s 1", m2);
  expect_ok(&c, cmd);
  assert_true(sim_radio_link_loss(fsim_radio(w), fsim_node_mac(w, 2), g) == 1.0);
  snprintf(cmd, sizeof cmd, "loss %s default", m2);
  expect_ok(&c, cmd);
  expect_ok(&c, cmd); /* already at the default */
  assert_true(sim_radio_link_loss(fsim_radio(w), fsim_node_mac(w, 2), g) == 0.25);
  expect_error(&c, "loss 1.5", "0..1");
  expect_error(&c, "loss -0.1", "0..1");
  expect_error(&c, "loss x", "0..1");

  snprintf(cmd, sizeof cmd, "power %s off", m2);
  expect_ok(&c, cmd);
  assert_false(fsim_node_powered(w, 2));
  snprintf(cmd, sizeof cmd, "reboot node %s", m2);
  expect_error(&c, cmd, "powered off");
  snprintf(cmd, sizeof cmd, "power %s on", m2);
  expect_ok(&c, cmd);
  fsim_advance(w, 3000);
  assert_true(fsim_node_powered(w, 2));
  assert_int_equal(node_boot(fsim_node_core(w, 2)), 3);
  expect_error(&c, "power 0 sideways", "usage");

  snprintf(cmd, sizeof cmd, "anomaly %s temp_c 8.5 60", m0);
  expect_ok(&c, cmd);
  double during = fsim_env_value(w, 0, FSIM_TEMP_C, 3500);
  double after = fsim_env_value(w, 0, FSIM_TEMP_C, 63500);
  fsim_advance(w, 70000);
  struct fsim_world *w2 = world(3);
  assert_true(fabs(during - fsim_env_value(w2, 0, FSIM_TEMP_C, 3500) - 8.5) < 1e-9);
  assert_true(after == fsim_env_value(w2, 0, FSIM_TEMP_C, 63500));
  fsim_world_free(w2);
  snprintf(cmd, sizeof cmd, "anomaly %s lux 100", m2);
  expect_error(&c, cmd, "synthetic");
  snprintf(cmd, sizeof cmd, "anomaly %s dew 1", m0);
  expect_error(&c, cmd, "metric");
  snprintf(cmd, sizeof cmd, "anomaly %s temp_c nan", m0);
  expect_error(&c, cmd, "finite");

  expect_error(&c, "", "empty");
  expect_error(&c, "fly away", "unknown command");
  expect_error(&c, "pause now", "no argument");
  char big[400];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  expect_error(&c, big, "too long");
  fsim_world_free(w);
}

/* ---- Options -------------------------------------------------------------- */

static int parse(struct fsim_options *o, char *why, const char *first, ...)
{
  char *argv[64] = {"farm-sim"};
  int argc = 1;
  va_list ap;
  va_start(ap, first);
  for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
    argv[argc++] = (char *)s;
  va_end(ap);
  return fsim_options_parse(argc, argv, o, why, 256);
}

static void test_options(void **state)
{
  (void)state;
  struct fsim_options o;
  char why[256];
  assert_int_equal(parse(&o, why, NULL), 0);
  assert_int_equal(o.cfg.nodes, 4);
  assert_int_equal(o.cfg.real_nodes, 2);
  assert_true(o.speed == 1.0);
  assert_null(o.serial);
  assert_null(o.cfg.state_dir);
  assert_false(o.cfg.encrypt);

  assert_int_equal(parse(&o, why, "--nodes", "5", "--seed", "42", "--period-ms", "2000", "--loss",
                         "0.3", "--site", "farm-7", "--serial", "/tmp/x", "--state-dir", "/tmp/s",
                         "--ledger", "/tmp/l", "--control", "/tmp/c", "--codec", "cbor", "--speed",
                         "max", "--channel", "6", "--pair-s", "0", "--epoch-ms", "1700000000000",
                         "--anomaly", "node=1,metric=lux,delta=-500,at_ms=1000,for_ms=2000",
                         "--anomaly", "node=0,metric=temp_c,delta=3", "--duration-ms", "9000",
                         "--log-level", "debug", "--latency-ms", "5", "--radius-m", "250",
                         "--encrypt", "on", NULL),
                   0);
  assert_true(o.cfg.encrypt);
  assert_int_equal(o.cfg.nodes, 5);
  assert_int_equal(o.cfg.real_nodes, 3);
  assert_int_equal(o.cfg.seed, 42);
  assert_int_equal(o.cfg.period_ms, 2000);
  assert_true(o.cfg.loss == 0.3);
  assert_string_equal(o.cfg.site, "farm-7");
  assert_string_equal(o.serial, "/tmp/x");
  assert_string_equal(o.cfg.state_dir, "/tmp/s");
  assert_string_equal(o.ledger, "/tmp/l");
  assert_string_equal(o.control, "/tmp/c");
  assert_int_equal(o.cfg.codec, FP_CODEC_CBOR);
  assert_true(isinf(o.speed));
  assert_int_equal(o.cfg.channel, 6);
  assert_int_equal(o.cfg.pair_boot_s, 0);
  assert_int_equal(o.cfg.epoch_ms, 1700000000000ull);
  assert_int_equal(o.cfg.n_anomalies, 2);
  assert_int_equal(o.cfg.anomalies[0].node, 1);
  assert_int_equal(o.cfg.anomalies[0].metric, FSIM_LUX);
  assert_true(o.cfg.anomalies[0].delta == -500.0);
  assert_int_equal(o.cfg.anomalies[0].at_ms, 1000);
  assert_int_equal(o.cfg.anomalies[0].for_ms, 2000);
  assert_int_equal(o.cfg.anomalies[1].at_ms, 0);
  assert_int_equal(o.cfg.anomalies[1].for_ms, 0);
  assert_int_equal(o.duration_ms, 9000);
  assert_int_equal(o.cfg.log_level, HAL_LOG_DEBUG);
  assert_int_equal(o.cfg.latency_ms, 5);
  assert_true(o.cfg.radius_m == 250.0);

  assert_int_equal(parse(&o, why, "--speed", "60", "--real", "0", "--encrypt", "off", NULL), 0);
  assert_false(o.cfg.encrypt);
  assert_true(o.speed == 60.0);
  assert_int_equal(o.cfg.real_nodes, 0);
  assert_int_equal(parse(&o, why, "--help", NULL), 0);
  assert_true(o.help);

  static const struct {
    const char *opt, *val, *reason;
  } bad[] = {
      {"--nodes", "0", "1..64"},
      {"--nodes", "65", "1..64"},
      {"--nodes", "4x", "1..64"},
      {"--real", "5", "more real nodes"},
      {"--loss", "1.5", "0..1"},
      {"--loss", "nan", "0..1"},
      {"--period-ms", "999", "1000..3600000"},
      {"--codec", "json", "msgpack or cbor"},
      {"--speed", "0", "above 0"},
      {"--speed", "-2", "above 0"},
      {"--channel", "15", "1..14"},
      {"--site", "Farm!", "[a-z0-9_-]"},
      {"--site", "", "[a-z0-9_-]"},
      {"--seed", "-1", "unsigned"},
      {"--pair-s", "3601", "0..3600"},
      {"--log-level", "loud", "error, warn"},
      {"--encrypt", "yes", "on or off"},
      {"--anomaly", "node=0,metric=temp_c", "required"},
      {"--anomaly", "node=0,metric=dew,delta=1", "metric"},
      {"--anomaly", "node=0,metric=lux,delta=1,color=red", "unknown key"},
      {"--anomaly", "node=3,metric=lux,delta=1", "anomaly must name a real node"},
      {"--anomaly", "node", "key=value"},
      {"--bogus", "1", "unknown option"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why[0] = '\0';
    if (parse(&o, why, bad[i].opt, bad[i].val, NULL) != FARM_EINVAL ||
        strstr(why, bad[i].reason) == NULL)
      fail_msg("%s %s: \"%s\"", bad[i].opt, bad[i].val, why);
  }
  assert_int_equal(parse(&o, why, "--nodes", NULL), FARM_EINVAL);
  assert_non_null(strstr(why, "needs a value"));
  assert_int_equal(parse(&o, why, "stray", NULL), FARM_EINVAL);
  assert_non_null(strstr(why, "not an option"));
}

/* ---- Ledger ------------------------------------------------------------------ */

static void test_json_numbers(void **state)
{
  (void)state;
  static const struct {
    double v;
    const char *text;
  } cases[] = {
      {0.0, "0"},
      {100.0, "100"},
      {21.5, "21.5"},
      {0.1, "0.1"},
      {-40.25, "-40.25"},
      {1e21, "1e+21"},
      {79.399, "79.399"},
      {468.40000000000003, "468.40000000000003"},
      {1.0 / 3.0, "0.3333333333333333"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[40];
    fsim_json_number(buf, sizeof buf, cases[i].v);
    assert_string_equal(buf, cases[i].text);
    assert_true(strtod(buf, NULL) == cases[i].v);
  }
}

static void capture(void (*fill)(struct fsim_observer *o), char **buf, size_t *len)
{
  FILE *f = open_memstream(buf, len);
  struct fsim_ledger l;
  fsim_ledger_init_stream(&l, f);
  struct fsim_observer o;
  fsim_ledger_observer(&l, &o);
  fill(&o);
  assert_int_equal(fsim_ledger_close(&l), 0);
  fclose(f);
}

static const uint8_t mac[HAL_MAC_LEN] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};

static void fill_records(struct fsim_observer *o)
{
  struct fp_radio_msg tel;
  memset(&tel, 0, sizeof tel);
  tel.type = FP_RADIO_TEL;
  tel.boot = 3;
  tel.seq = 42;
  tel.u.tel.up_ms = 123456;
  tel.u.tel.n_metrics = 2;
  strcpy(tel.u.tel.v[0].name, "temp_c");
  tel.u.tel.v[0].value = 21.5;
  strcpy(tel.u.tel.v[1].name, "rh_pct");
  tel.u.tel.v[1].value = 55;
  o->on_reading(o->ctx, 130000, mac, &tel);

  struct fp_radio_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.id = 7;
  strcpy(cmd.name, "relay.set");
  cmd.n_args = 4;
  strcpy(cmd.args[0].key, "ch");
  cmd.args[0].kind = FP_ARG_INT;
  cmd.args[0].v.i = -3;
  strcpy(cmd.args[1].key, "on");
  cmd.args[1].kind = FP_ARG_BOOL;
  cmd.args[1].v.b = true;
  strcpy(cmd.args[2].key, "x");
  cmd.args[2].kind = FP_ARG_FLOAT;
  cmd.args[2].v.f = 0.5;
  strcpy(cmd.args[3].key, "s");
  cmd.args[3].kind = FP_ARG_STR;
  strcpy(cmd.args[3].v.s, "a\"b\\c\n");
  o->on_command(o->ctx, 130500, mac, &cmd, false, "ch out of range (1..6)");
  cmd.n_args = 0;
  o->on_command(o->ctx, 130600, mac, &cmd, true, "");

  tel.type = FP_RADIO_EVT;
  tel.seq = 43;
  o->on_dropped(o->ctx, 131000, mac, &tel);
  o->on_boot(o->ctx, 132000, mac, true, 9, 4);
}

static void test_ledger_lines(void **state)
{
  (void)state;
  size_t len;
  char *text = NULL;
  capture(fill_records, &text, &len);
  const char *want =
      "{\"kind\":\"reading\",\"device\":\"a1b2c3d4e5f6\",\"boot\":3,\"seq\":42,\"up_ms\":123456,"
      "\"syn\":false,\"v\":{\"temp_c\":21.5,\"rh_pct\":55},\"sim_ms\":130000}\n"
      "{\"kind\":\"command\",\"device\":\"a1b2c3d4e5f6\",\"id\":7,\"name\":\"relay.set\","
      "\"args\":{\"ch\":-3,\"on\":true,\"x\":0.5,\"s\":\"a\\\"b\\\\c\\u000a\"},\"ok\":false,"
      "\"err\":\"ch out of range (1..6)\",\"sim_ms\":130500}\n"
      "{\"kind\":\"command\",\"device\":\"a1b2c3d4e5f6\",\"id\":7,\"name\":\"relay.set\","
      "\"args\":{},\"ok\":true,\"sim_ms\":130600}\n"
      "{\"kind\":\"dropped\",\"device\":\"a1b2c3d4e5f6\",\"type\":\"evt\",\"boot\":3,\"seq\":43,"
      "\"sim_ms\":131000}\n"
      "{\"kind\":\"boot\",\"device\":\"a1b2c3d4e5f6\",\"role\":\"gateway\",\"boot\":9,\"lost\":4,"
      "\"sim_ms\":132000}\n";
  assert_string_equal(text, want);
  /* And a JSON parser agrees, string escapes included. */
  json_error_t err;
  const char *second = strchr(text, '\n') + 1;
  json_t *j = json_loadb(second, strcspn(second, "\n"), 0, &err);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "args"), "s")),
                      "a\"b\\c\n");
  json_decref(j);
  free(text);
}

/* Every line of a real run is one JSON object, and the readings in it are
 * those the nodes counted. */
static void test_ledger_of_a_run(void **state)
{
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  struct fsim_ledger l;
  fsim_ledger_init_stream(&l, f);
  struct fsim_config cfg;
  fsim_config_default(&cfg);
  cfg.nodes = 4;
  cfg.log_level = HAL_LOG_ERROR;
  fsim_ledger_observer(&l, &cfg.observer);
  struct fsim_world *w;
  assert_int_equal(fsim_world_new(&cfg, &w, NULL, 0), 0);
  fsim_advance(w, 120000);
  uint32_t made = node_stats(fsim_node_core(w, 3))->readings; /* before its restart */
  fsim_reboot_node(w, 3);
  fsim_advance(w, 180000);
  for (unsigned i = 0; i < 4; i++)
    made += node_stats(fsim_node_core(w, i))->readings;
  assert_int_equal(fsim_ledger_close(&l), 0);
  fclose(f);

  size_t readings = 0, boots = 0, lines = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    if (j == NULL)
      fail_msg("not JSON: %s (%s)", line, err.text);
    lines++;
    const char *kind = json_string_value(json_object_get(j, "kind"));
    const char *dev = json_string_value(json_object_get(j, "device"));
    assert_non_null(kind);
    assert_non_null(dev);
    assert_int_equal(strlen(dev), 12);
    if (strcmp(kind, "reading") == 0) {
      readings++;
      assert_true(json_is_integer(json_object_get(j, "boot")));
      assert_true(json_is_integer(json_object_get(j, "seq")));
      json_t *v = json_object_get(j, "v");
      assert_true(json_is_object(v));
      assert_true(json_is_number(json_object_get(v, "temp_c")));
    } else if (strcmp(kind, "boot") == 0) {
      boots++;
    }
    json_decref(j);
  }
  /* 5 starts at 0 and the node's restart. */
  assert_int_equal(boots, 6);
  assert_int_equal(readings, made);
  assert_true(readings >= 4 * 18);
  assert_int_equal(lines, l.lines);
  fsim_world_free(w);
  free(buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_control_nodes_and_status),
      cmocka_unit_test(test_control_actions),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_json_numbers),
      cmocka_unit_test(test_ledger_lines),
      cmocka_unit_test(test_ledger_of_a_run),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
