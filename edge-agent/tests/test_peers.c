/* SPDX-License-Identifier: MIT */
/* The peer router: reading times rebuilt from uptime with the fastest
 * transit, online/offline from announced or measured intervals, removal,
 * the status payload, MAC ids, and a full table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "peers.h"

static const uint8_t MAC[6] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};

static struct fp_msg_tel tel(uint32_t boot, uint32_t seq, uint64_t up_ms)
{
  struct fp_msg_tel t;
  memset(&t, 0, sizeof t);
  memcpy(t.mac, MAC, 6);
  t.rssi = -70;
  t.boot = boot;
  t.seq = seq;
  t.up_ms = up_ms;
  t.n_metrics = 1;
  strcpy(t.v[0].name, "temp_c");
  t.v[0].value = 20 + seq;
  return t;
}

static void test_reading_time(void **state)
{
  (void)state;
  struct ea_peers *p;
  assert_int_equal(ea_peers_new(3, 60000, &p), 0);
  struct fp_msg_tel t = tel(1, 1, 10000);
  assert_int_equal(ea_peers_on_tel(p, &t, 1000000), 1000000);
  /* 500 ms in transit: dated by the first reading's offset. */
  t = tel(1, 2, 20000);
  assert_int_equal(ea_peers_on_tel(p, &t, 1010500), 1010000);
  /* Resent late by the gateway: still the time it was made. */
  t = tel(1, 3, 15000);
  assert_int_equal(ea_peers_on_tel(p, &t, 1030000), 1005000);
  /* A faster one improves the estimate. */
  t = tel(1, 4, 30000);
  assert_int_equal(ea_peers_on_tel(p, &t, 1019900), 1019900);
  assert_int_equal(ea_peers_time_of(p, MAC, 1, 40000, 0), 1029900);
  /* The latest reading shown is the newest by time, not by arrival. */
  struct ea_peer *e = ea_peers_find(p, "a1b2c3d4e5f6");
  assert_non_null(e);
  assert_true(e->v[0].value == 24);
  /* A new boot starts over. */
  t = tel(2, 1, 500);
  assert_int_equal(ea_peers_on_tel(p, &t, 2000000), 2000000);
  assert_int_equal(ea_peers_time_of(p, MAC, 1, 40000, 77), 77); /* old boot: unknown */
  assert_int_equal(e->readings, 5);
  ea_peers_free(p);
}

static void test_online_offline(void **state)
{
  (void)state;
  struct ea_peers *p;
  assert_int_equal(ea_peers_new(3, 60000, &p), 0);
  struct fp_msg_evt ev;
  memset(&ev, 0, sizeof ev);
  memcpy(ev.mac, MAC, 6);
  strcpy(ev.name, "boot");
  ev.n_args = 2;
  strcpy(ev.args[0].key, "feat");
  ev.args[0].kind = FP_ARG_INT;
  ev.args[0].v.i = 0x19; /* sht41, relays, synthetic */
  strcpy(ev.args[1].key, "period_ms");
  ev.args[1].kind = FP_ARG_INT;
  ev.args[1].v.i = 5000;
  ea_peers_on_evt(p, &ev, 100000);
  struct ea_peer *e = ea_peers_at(p, 0);
  assert_true(e->online);
  assert_int_equal(e->interval_ms, 5000);
  e->dirty = false;
  assert_int_equal(ea_peers_tick(p, 100000 + 15000), 0);
  assert_true(e->online);
  assert_int_equal(ea_peers_tick(p, 100000 + 15001), 1);
  assert_false(e->online);
  char buf[512];
  assert_true(ea_peer_status_json(e, buf, sizeof buf) > 0);
  assert_string_equal(buf,
                      "{\"online\":false,\"state\":\"offline\",\"last_seen\":100000,"
                      "\"interval_ms\":5000,\"features\":[\"sht41\",\"relays\",\"synthetic\"]}");
  e->dirty = false;
  /* Back with a reading. */
  struct fp_msg_tel t = tel(4, 1, 1000);
  ea_peers_on_tel(p, &t, 200000);
  assert_true(e->online);
  assert_true(e->dirty);
  /* The gateway removes it. */
  struct fp_msg_peer pm;
  memset(&pm, 0, sizeof pm);
  memcpy(pm.mac, MAC, 6);
  pm.state = FP_PEER_REMOVED;
  ea_peers_on_peer(p, &pm, 210000);
  assert_true(e->removed);
  assert_false(e->online);
  assert_true(ea_peer_status_json(e, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "\"removed\":true"));
  assert_int_equal(ea_peer_status_json(e, buf, 20), FARM_ENOSPC);
  ea_peers_free(p);
}

static void test_measured_interval_and_peer_fields(void **state)
{
  (void)state;
  struct ea_peers *p;
  assert_int_equal(ea_peers_new(2, 60000, &p), 0);
  for (uint32_t i = 0; i < 10; i++) {
    struct fp_msg_tel t = tel(1, i + 1, 1000 * (i + 1));
    ea_peers_on_tel(p, &t, 1000000 + 2000 * i);
  }
  struct ea_peer *e = ea_peers_at(p, 0);
  assert_int_equal(e->interval_ms, 2000);
  ea_peers_tick(p, 1000000 + 18000 + 4000);
  assert_true(e->online);
  ea_peers_tick(p, 1000000 + 18000 + 4001);
  assert_false(e->online);
  struct fp_msg_peer pm;
  memset(&pm, 0, sizeof pm);
  memcpy(pm.mac, MAC, 6);
  pm.state = FP_PEER_UPDATED;
  strcpy(pm.asset, "barn \"B\"");
  strcpy(pm.fw, "2.0.1");
  pm.has_rssi = true;
  pm.rssi = -80;
  ea_peers_on_peer(p, &pm, 1030000);
  char buf[512];
  assert_true(ea_peer_status_json(e, buf, sizeof buf) > 0);
  assert_string_equal(buf, "{\"online\":true,\"state\":\"online\",\"last_seen\":1030000,"
                           "\"interval_ms\":2000,\"rssi\":-80,\"fw\":\"2.0.1\","
                           "\"asset\":\"barn \\\"B\\\"\",\"boot\":1}");
  ea_peers_free(p);
}

static void test_ids_and_full_table(void **state)
{
  (void)state;
  char id[13];
  ea_mac_id(MAC, id);
  assert_string_equal(id, "a1b2c3d4e5f6");
  uint8_t m[6];
  assert_int_equal(ea_mac_parse("a1b2c3d4e5f6", m), 0);
  assert_memory_equal(m, MAC, 6);
  assert_int_equal(ea_mac_parse("A1B2C3D4E5F6", m), FARM_EINVAL);
  assert_int_equal(ea_mac_parse("a1b2c3d4e5f", m), FARM_EINVAL);
  assert_int_equal(ea_mac_parse("a1b2c3d4e5fg", m), FARM_EINVAL);
  assert_int_equal(ea_mac_parse(NULL, m), FARM_EINVAL);

  struct ea_peers *p;
  assert_int_equal(ea_peers_new(3, 1000, &p), 0);
  for (unsigned i = 0; i <= EA_PEERS_MAX; i++) {
    struct fp_msg_tel t = tel(1, 1, 10);
    t.mac[4] = (uint8_t)(i >> 8);
    t.mac[5] = (uint8_t)i;
    ea_peers_on_tel(p, &t, 1000 + i);
    if (i == 10)
      ea_peers_tick(p, 1000 + 10); /* nobody offline yet */
  }
  /* Full: the least recently seen made room. */
  assert_int_equal(ea_peers_count(p), EA_PEERS_MAX);
  assert_null(ea_peers_find(p, "a1b2c3d40000"));
  assert_non_null(ea_peers_find(p, "a1b2c3d40001"));
  assert_non_null(ea_peers_find(p, "a1b2c3d40200"));
  ea_peers_free(p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reading_time),
      cmocka_unit_test(test_online_offline),
      cmocka_unit_test(test_measured_interval_and_peer_fields),
      cmocka_unit_test(test_ids_and_full_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
