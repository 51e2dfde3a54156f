/* SPDX-License-Identifier: MIT */
/* The store's queries on a SQLite file: idempotent batches (duplicates in
 * one batch and across batches), rollups from new rows only, the commit
 * watermark over gaps and a floor, retention, the schema version guard. */
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

static char dir[64];
static struct fd_log quiet;

static int setup(void **state)
{
  strcpy(dir, "/tmp/ststoreXXXXXX");
  if (!mkdtemp(dir))
    return -1;
  fd_log_init(&quiet, "test", FD_LOG_ERROR, NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/s.db", dir);
  struct st_db *db;
  char err[256];
  if (st_db_open(path, &quiet, &db, NULL, err, sizeof err) != 0)
    return -1;
  if (st_store_init(db) != 0 || st_store_init(db) != 0) /* twice: idempotent */
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

static struct st_reading row(const char *dev, int64_t seq, const char *metric, int64_t ts, double v)
{
  struct st_reading r;
  memset(&r, 0, sizeof r);
  strcpy(r.site, "s");
  strcpy(r.device, dev);
  strcpy(r.metric, metric);
  strcpy(r.group, "g");
  r.ts = ts;
  r.boot = 1;
  r.seq = seq;
  r.edge_seq = seq;
  r.received_ts = ts + 5;
  r.up_ms = -1;
  r.rx_ts = -1;
  r.value = v;
  return r;
}

static void test_batches_are_idempotent(void **state)
{
  struct st_db *db = *state;
  const int64_t T = 1700000040000; /* a minute boundary */
  struct st_reading b1[] = {row("d", 1, "x", T, 1), row("d", 2, "x", T + 1000, 3),
                            row("d", 2, "x", T + 1000, 99), /* same key in one batch */
                            row("d", 3, "x", T + 61000, 10)};
  struct st_edge_seq seqs[] = {{"s", 1}, {"s", 2}, {"s", 3}};
  assert_int_equal(st_store_write_batch(db, b1, 4, seqs, 3), 0);
  assert_true(b1[0].inserted && b1[1].inserted && !b1[2].inserted && b1[3].inserted);
  struct st_reading b2[] = {row("d", 2, "x", T + 1000, 3), row("d", 4, "x", T + 2000, 5)};
  assert_int_equal(st_store_write_batch(db, b2, 2, NULL, 0), 0);
  assert_false(b2[0].inserted);
  assert_true(b2[1].inserted);
  assert_string_equal(q(db, "SELECT count(*) FROM readings"), "4");
  assert_string_equal(q(db, "SELECT value FROM readings WHERE seq = 2"), "3.0");
  /* Minute T: 1, 3, 5; minute T+60 s: 10. */
  assert_string_equal(q(db, "SELECT count || '/' || min || '/' || max || '/' || sum FROM rollup_minute"
                            " WHERE bucket = 1700000040000"),
                      "3/1.0/5.0/9.0");
  assert_string_equal(q(db, "SELECT count FROM rollup_minute WHERE bucket = 1700000100000"), "1");
  assert_string_equal(q(db, "SELECT sum(count) FROM rollup_hour"), "4");
  assert_string_equal(q(db, "SELECT ts FROM latest WHERE device = 'd'"), "1700000101000");
  assert_string_equal(q(db, "SELECT last_seen FROM devices WHERE device = 'd'"), "1700000101005");
}

static void test_watermark(void **state)
{
  struct st_db *db = *state;
  int64_t wm = -1;
  assert_int_equal(st_store_advance_watermark(db, "w", &wm), 0);
  assert_int_equal(wm, 0);
  struct st_edge_seq a[] = {{"w", 1}, {"w", 2}, {"w", 4}, {"w", 2}};
  assert_int_equal(st_store_write_batch(db, NULL, 0, a, 4), 0);
  assert_int_equal(st_store_advance_watermark(db, "w", &wm), 0);
  assert_int_equal(wm, 2);
  struct st_edge_seq b[] = {{"w", 3}};
  assert_int_equal(st_store_write_batch(db, NULL, 0, b, 1), 0);
  assert_int_equal(st_store_advance_watermark(db, "w", &wm), 0);
  assert_int_equal(wm, 4);
  assert_string_equal(q(db, "SELECT count(*) FROM edge_seqs WHERE site = 'w'"), "0");
  /* A floor jumps over what will never come; below it nothing moves back. */
  struct st_edge_seq c[] = {{"w", 12}};
  assert_int_equal(st_store_write_batch(db, NULL, 0, c, 1), 0);
  assert_int_equal(st_store_watermark_floor(db, "w", 10, &wm), 0);
  assert_int_equal(wm, 9);
  struct st_edge_seq d[] = {{"w", 10}, {"w", 11}};
  assert_int_equal(st_store_write_batch(db, NULL, 0, d, 2), 0);
  assert_int_equal(st_store_advance_watermark(db, "w", &wm), 0);
  assert_int_equal(wm, 12);
  assert_int_equal(st_store_watermark_floor(db, "w", 3, &wm), 0);
  assert_int_equal(wm, 12);
  /* Long runs cross the page size of the scan. */
  struct st_edge_seq *many = calloc(4500, sizeof *many);
  for (int i = 0; i < 4500; i++) {
    strcpy(many[i].site, "w");
    many[i].edge_seq = 13 + i;
  }
  assert_int_equal(st_store_write_batch(db, NULL, 0, many, 4500), 0);
  free(many);
  assert_int_equal(st_store_advance_watermark(db, "w", &wm), 0);
  assert_int_equal(wm, 4512);
}

static void test_retention_and_version(void **state)
{
  struct st_db *db = *state;
  const int64_t now = 1700000000000;
  struct st_reading r[] = {row("r", 1, "x", now - 10000, 1), row("r", 2, "x", now - 1000, 1)};
  assert_int_equal(st_store_write_batch(db, r, 2, NULL, 0), 0);
  int64_t deleted = 0;
  assert_int_equal(st_store_retention(db, now, 5000, 0, 0, &deleted), 0);
  assert_int_equal(deleted, 1);
  assert_string_equal(q(db, "SELECT seq FROM readings WHERE device = 'r'"), "2");
  /* A database from a newer program is refused. */
  assert_int_equal(st_db_exec(db, "INSERT INTO schema_version (version) VALUES (99)", NULL, 0, NULL, NULL), 0);
  assert_int_equal(st_store_init(db), FARM_EUNSUPPORTED);
  assert_int_equal(st_db_exec(db, "DELETE FROM schema_version WHERE version = 99", NULL, 0, NULL, NULL), 0);
}

static void test_redact(void **state)
{
  (void)state;
  char out[128];
  st_db_redact("postgresql://farm:s3cret@db.example:5432/farm", out, sizeof out);
  assert_string_equal(out, "postgresql://farm:***@db.example:5432/farm");
  st_db_redact("postgresql://farm@db/farm", out, sizeof out);
  assert_string_equal(out, "postgresql://farm@db/farm");
  st_db_redact("/var/lib/x.db", out, sizeof out);
  assert_string_equal(out, "/var/lib/x.db");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batches_are_idempotent),
      cmocka_unit_test(test_watermark),
      cmocka_unit_test(test_retention_and_version),
      cmocka_unit_test(test_redact),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
