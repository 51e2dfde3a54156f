/* SPDX-License-Identifier: MIT */
/* The store's web queries on a SQLite file: the migration of a version-1
 * database, users (unique names), credentials (expiry, disabled users,
 * sessions ended by a new password), commands (forward-only states, a
 * final state kept, expiry), series raw and from the rollups, webhooks and
 * their deliveries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "farm/error.h"
#include "st/store.h"
#include "st/store_web.h"

static char dir[64];
static struct fd_log quiet;

static int setup(void **state)
{
  strcpy(dir, "/tmp/wgstoreXXXXXX");
  if (!mkdtemp(dir))
    return -1;
  fd_log_init(&quiet, "test", FD_LOG_ERROR, NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/s.db", dir);
  struct st_db *db;
  char err[256];
  if (st_db_open(path, &quiet, &db, NULL, err, sizeof err) != 0 || st_store_init(db) != 0)
    return -1;
  *state = db;
  return 0;
}

static int teardown(void **state)
{
  st_db_close(*state);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int one(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  snprintf(ud, 64, "%s", col[0] ? col[0] : "NULL");
  return 1;
}

static const char *q(struct st_db *db, const char *sql)
{
  static char out[64];
  out[0] = '\0';
  assert_true(st_db_exec(db, sql, NULL, 0, one, out) >= 0);
  return out;
}

static void test_migration_from_v1(void **state)
{
  struct st_db *db = *state;
  assert_string_equal(q(db, "SELECT max(version) FROM schema_version"), "2");
  /* Make it look like a version-1 database, then open it again. */
  assert_int_equal(st_db_script(db, "DROP TABLE users; DROP TABLE commands;"
                                    "DELETE FROM schema_version; INSERT INTO schema_version VALUES (1);"),
                   0);
  assert_int_equal(st_store_init(db), 0);
  assert_string_equal(q(db, "SELECT max(version) FROM schema_version"), "2");
  assert_string_equal(q(db, "SELECT count(*) FROM users"), "0");
  assert_string_equal(q(db, "SELECT count(*) FROM commands"), "0");
  assert_int_equal(st_store_init(db), 0); /* idempotent */
}

static void test_users_and_tokens(void **state)
{
  struct st_db *db = *state;
  int64_t id, n, tid;
  assert_int_equal(st_web_user_add(db, "ann", "admin", "$argon2id$x", 1000, &id), 0);
  assert_int_equal(st_web_user_add(db, "ann", "viewer", "$argon2id$y", 1000, NULL), FARM_EEXIST);
  assert_int_equal(st_web_user_count(db, &n), 0);
  assert_int_equal(n, 1);
  struct st_web_user u;
  assert_int_equal(st_web_user_get(db, 0, "ann", &u), 0);
  assert_string_equal(u.role, "admin");
  assert_int_equal(st_web_user_get(db, 0, "bob", &u), FARM_ENOENT);
  assert_int_equal(st_web_token_add(db, id, "session", "s", "h1", "c1", 1000, 5000, &tid), 0);
  assert_int_equal(st_web_token_add(db, id, "api", "grafana", "h2", NULL, 1000, 0, NULL), 0);
  struct st_web_auth a;
  assert_int_equal(st_web_token_lookup(db, "h1", 2000, &a), 0);
  assert_string_equal(a.kind, "session");
  assert_string_equal(a.csrf, "c1");
  assert_string_equal(a.username, "ann");
  assert_int_equal(st_web_token_lookup(db, "h1", 5000, &a), FARM_ENOENT); /* expired */
  assert_int_equal(st_web_token_lookup(db, "h2", 99999999, &a), 0);      /* never expires */
  assert_int_equal(st_web_token_lookup(db, "nope", 2000, &a), FARM_ENOENT);
  /* A disabled user's credentials stop working. */
  assert_int_equal(st_web_user_update(db, id, NULL, NULL, 1), 0);
  assert_int_equal(st_web_token_lookup(db, "h2", 2000, &a), FARM_ENOENT);
  assert_int_equal(st_web_user_update(db, id, NULL, NULL, 0), 0);
  assert_int_equal(st_web_token_lookup(db, "h2", 2000, &a), 0);
  int64_t others;
  assert_int_equal(st_web_other_admins(db, id, &others), 0);
  assert_int_equal(others, 0);
  /* A new password ends sessions, not API tokens. */
  assert_int_equal(st_web_token_add(db, id, "session", "s2", "h3", "c3", 1000, 0, NULL), 0);
  assert_int_equal(st_web_user_update(db, id, NULL, "$argon2id$new", -1), 0);
  assert_int_equal(st_web_token_lookup(db, "h3", 2000, &a), FARM_ENOENT);
  assert_int_equal(st_web_token_lookup(db, "h2", 2000, &a), 0);
  json_t *list;
  assert_int_equal(st_web_tokens(db, 0, &list), 0);
  assert_int_equal(json_array_size(list), 1); /* API tokens only */
  json_decref(list);
  assert_int_equal(st_web_user_delete(db, id), 0);
  assert_int_equal(st_web_token_lookup(db, "h2", 2000, &a), FARM_ENOENT);
  assert_int_equal(st_web_user_delete(db, id), FARM_ENOENT);
}

static void test_commands_forward_only(void **state)
{
  struct st_db *db = *state;
  struct st_web_command c = {.id = "c-0001-xyz", .site = "north", .device = "a1b2c3d4e5f6",
                             .name = "relay.set", .args_json = "{\"ch\":1,\"on\":true}",
                             .created_by = "ann", .created_ts = 1000, .expires_ts = 61000};
  assert_int_equal(st_web_command_add(db, &c), 0);
  assert_int_equal(st_web_command_add(db, &c), FARM_EEXIST);
  bool ch;
  assert_int_equal(st_web_command_update(db, "c-0001-xyz", "a1b2c3d4e5f6", "sent", NULL, 2000, &ch), 0);
  assert_true(ch);
  /* Late "accepted" after "sent": ignored. */
  assert_int_equal(st_web_command_update(db, "c-0001-xyz", "a1b2c3d4e5f6", "accepted", NULL, 2100, &ch), 0);
  assert_false(ch);
  assert_int_equal(st_web_command_update(db, "c-0001-xyz", "a1b2c3d4e5f6", "executed", NULL, 2200, &ch), 0);
  assert_true(ch);
  assert_int_equal(st_web_command_update(db, "c-0001-xyz", "a1b2c3d4e5f6", "failed", "late", 2300, &ch), 0);
  assert_false(ch);
  /* Another device cannot move it; an unknown id is reported. */
  assert_int_equal(st_web_command_update(db, "c-0001-xyz", "000000000000", "failed", NULL, 2300, &ch), FARM_ENOENT);
  assert_int_equal(st_web_command_update(db, "nope-nope", "a1b2c3d4e5f6", "sent", NULL, 2300, &ch), FARM_ENOENT);
  json_t *o;
  assert_int_equal(st_web_command(db, "c-0001-xyz", &o), 0);
  assert_string_equal(json_string_value(json_object_get(o, "state")), "executed");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "args"), "ch")), 1);
  json_decref(o);
  /* A pending command past its expiry becomes expired. */
  c.id = "c-0002-xyz";
  assert_int_equal(st_web_command_add(db, &c), 0);
  json_t *ex;
  assert_int_equal(st_web_commands_expire(db, 61001, &ex), 0);
  assert_int_equal(json_array_size(ex), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(ex, 0), "id")), "c-0002-xyz");
  json_decref(ex);
  assert_int_equal(st_web_command(db, "c-0002-xyz", &o), 0);
  assert_string_equal(json_string_value(json_object_get(o, "state")), "expired");
  json_decref(o);
}

static void test_series_and_devices(void **state)
{
  struct st_db *db = *state;
  struct st_reading r[6];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 6; i++) {
    strcpy(r[i].site, "north");
    strcpy(r[i].device, "a1b2c3d4e5f6");
    strcpy(r[i].metric, "temp_c");
    strcpy(r[i].group, "env");
    r[i].ts = 3600000 + i * 30000; /* two per minute */
    r[i].value = 10 + i;
    r[i].boot = 1;
    r[i].seq = i;
    r[i].edge_seq = i + 1;
    r[i].received_ts = 5000;
    r[i].up_ms = r[i].rx_ts = -1;
  }
  assert_int_equal(st_store_write_batch(db, r, 6, NULL, 0), 0);
  json_t *pts;
  assert_int_equal(st_web_series(db, "a1b2c3d4e5f6", "temp_c", 0, 1LL << 40, 0, 100, &pts), 0);
  assert_int_equal(json_array_size(pts), 6);
  json_decref(pts);
  assert_int_equal(st_web_series(db, "a1b2c3d4e5f6", "temp_c", 0, 1LL << 40, 0, 5, &pts), FARM_ETOOBIG);
  assert_int_equal(st_web_series(db, "a1b2c3d4e5f6", "temp_c", 0, 1LL << 40, 120000, 100, &pts), 0);
  assert_int_equal(json_array_size(pts), 2); /* minutes 0-1 and 2 */
  json_t *b = json_array_get(pts, 0);
  assert_int_equal(json_integer_value(json_array_get(b, 0)), 3600000);
  assert_true(json_real_value(json_array_get(b, 1)) == 11.5);
  assert_int_equal(json_integer_value(json_array_get(b, 4)), 4);
  json_decref(pts);
  assert_int_equal(st_web_series(db, "a1b2c3d4e5f6", "temp_c", 0, 1LL << 40, 3600000, 100, &pts), 0);
  assert_int_equal(json_array_size(pts), 1);
  assert_true(json_real_value(json_array_get(json_array_get(pts, 0), 1)) == 12.5);
  json_decref(pts);
  /* A range starting inside a bucket still gets that bucket. */
  assert_int_equal(st_web_series(db, "a1b2c3d4e5f6", "temp_c", 3600000 + 90000, 1LL << 40, 3600000, 100, &pts), 0);
  assert_int_equal(json_array_size(pts), 1);
  assert_int_equal(json_integer_value(json_array_get(json_array_get(pts, 0), 4)), 6);
  json_decref(pts);
  assert_int_equal(st_web_series(db, "a1b2c3d4e5f6", "temp_c", 3600000 + 90000, 1LL << 40, 0, 100, &pts), 0);
  assert_int_equal(json_array_size(pts), 3); /* raw: only readings in the range */
  json_decref(pts);
  assert_int_equal(st_store_status(db, "north", "a1b2c3d4e5f6", "{\"online\":true,\"rssi\":-70,\"fw\":\"2.0\"}", 1, 10000, 6000), 0);
  json_t *d;
  assert_int_equal(st_web_device(db, "a1b2c3d4e5f6", 20000, &d), 0);
  assert_true(json_is_true(json_object_get(d, "online")));
  assert_int_equal(json_integer_value(json_object_get(d, "rssi")), -70);
  assert_string_equal(json_string_value(json_object_get(d, "firmware")), "2.0");
  assert_true(json_real_value(json_object_get(json_object_get(json_object_get(d, "latest"), "temp_c"), "value")) == 15.0);
  json_decref(d);
  /* Silent for more than three intervals: not online any more. */
  assert_int_equal(st_web_device(db, "a1b2c3d4e5f6", 36001, &d), 0);
  assert_true(json_is_false(json_object_get(d, "online")));
  json_decref(d);
  assert_int_equal(st_web_device(db, "ffffffffffff", 0, &d), FARM_ENOENT);
  char site[65];
  assert_int_equal(st_web_device_site(db, "a1b2c3d4e5f6", site, sizeof site), 0);
  assert_string_equal(site, "north");
}

static void test_webhooks_and_deliveries(void **state)
{
  struct st_db *db = *state;
  struct st_web_hook h = {.url = "http://127.0.0.1:1/x", .secret = "0123456789abcdef",
                          .events = "alert,command", .enabled = true};
  int64_t id, did;
  assert_int_equal(st_web_hook_add(db, &h, 1000, &id), 0);
  json_t *o;
  assert_int_equal(st_web_hook(db, id, false, &o), 0);
  assert_null(json_object_get(o, "secret"));
  json_decref(o);
  assert_int_equal(st_web_delivery_add(db, id, "alert", "{\"x\":1}", 1000, &did), 0);
  json_t *due;
  assert_int_equal(st_web_deliveries_due(db, 1000, 10, &due), 0);
  assert_int_equal(json_array_size(due), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(due, 0), "secret")), "0123456789abcdef");
  json_decref(due);
  assert_int_equal(st_web_delivery_result(db, did, "pending", 1, 500, "HTTP 500", 3000, 1100), 0);
  assert_int_equal(st_web_deliveries_due(db, 2000, 10, &due), 0);
  assert_int_equal(json_array_size(due), 0); /* not before its retry time */
  json_decref(due);
  assert_int_equal(st_web_delivery_result(db, did, "delivered", 2, 200, NULL, 0, 3100), 0);
  json_t *log;
  assert_int_equal(st_web_deliveries(db, id, 10, &log), 0);
  assert_string_equal(json_string_value(json_object_get(json_array_get(log, 0), "state")), "delivered");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(log, 0), "attempts")), 2);
  json_decref(log);
  h.secret = NULL;
  h.events = "telemetry";
  assert_int_equal(st_web_hook_update(db, id, &h), 0);
  assert_int_equal(st_web_hook(db, id, true, &o), 0);
  assert_string_equal(json_string_value(json_object_get(o, "secret")), "0123456789abcdef");
  json_decref(o);
  assert_int_equal(st_web_hook_delete(db, id), 0);
  assert_int_equal(st_web_hook_delete(db, id), FARM_ENOENT);
  assert_string_equal(q(db, "SELECT count(*) FROM webhook_deliveries"), "0");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_users_and_tokens, setup, teardown),
      cmocka_unit_test_setup_teardown(test_commands_forward_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_series_and_devices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_webhooks_and_deliveries, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
