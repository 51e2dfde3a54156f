/* SPDX-License-Identifier: MIT */
/* The SQLite backlog: edge_seq numbering that survives restarts and
 * deletions, deduplication, grouped commits and rollback, the cap policies,
 * the commit watermark and the PUBACK fallback, renumbering under a foreign
 * watermark, the integrity check with move-aside, and the degraded mode on a
 * full or missing store with its automatic recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "backlog.h"
#include "farm/error.h"

static char dir[64];
static char path[128];
static struct fd_log lg;
static const int64_t T0 = 1732646400000LL;

static int setup(void **state)
{
  (void)state;
  strcpy(dir, "/tmp/eablXXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/backlog.db", dir);
  fd_log_init(&lg, "test", FD_LOG_DEBUG, stderr);
  lg.level = FD_LOG_WARN;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Each test starts from an empty directory. */
static int fresh(void **state)
{
  (void)state;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static struct ea_backlog *open_bl(int64_t max_bytes, enum ea_full_policy pol, int64_t max_pages)
{
  struct ea_backlog_opts o = {.path = path,
                              .max_bytes = max_bytes,
                              .policy = pol,
                              .dedupe_hours = 1,
                              .max_pages = max_pages,
                              .probe_ms = 1};
  struct ea_backlog *b;
  assert_int_equal(ea_backlog_open(&o, &lg, T0, &b), 0);
  return b;
}

static int add_tel(struct ea_backlog *b, const char *dev, uint32_t boot, uint32_t seq, int64_t *es)
{
  char topic[128], body[128];
  snprintf(topic, sizeof topic, "v1/farm/s/%s/telemetry/env", dev);
  snprintf(body, sizeof body, "\"boot\":%u,\"seq\":%u,\"v\":{\"temp_c\":21.5}", boot, seq);
  struct ea_row_in r = {.kind = EA_ROW_TELEMETRY,
                        .topic = topic,
                        .body = body,
                        .has_key = true,
                        .device = dev,
                        .boot = boot,
                        .seq = seq};
  return ea_backlog_add(b, &r, T0 + seq, es);
}

static int add_event(struct ea_backlog *b, const char *body)
{
  struct ea_row_in r = {
      .kind = EA_ROW_EVENT, .topic = "v1/farm/s/a1b2c3d4e5f6/event", .body = body};
  return ea_backlog_add(b, &r, T0, NULL);
}

struct seen {
  size_t n;
  int64_t id[256], es[256];
  enum ea_row_kind kind[256];
  char payload[256][256];
};

static bool collect(void *ud, const struct ea_row *row)
{
  struct seen *s = ud;
  if (s->n >= 256)
    return false;
  s->id[s->n] = row->id;
  s->es[s->n] = row->edge_seq;
  s->kind[s->n] = row->kind;
  if (row->kind == EA_ROW_TELEMETRY)
    ea_backlog_payload(row, false, s->payload[s->n], sizeof s->payload[0]);
  else
    snprintf(s->payload[s->n], sizeof s->payload[0], "%.*s", (int)row->body_len, row->body);
  s->n++;
  return true;
}

static void scan_all(struct ea_backlog *b, struct seen *s)
{
  memset(s, 0, sizeof *s);
  assert_true(ea_backlog_scan(b, 0, INT64_MAX, 256, collect, s) >= 0);
}

static void test_numbering_and_payload(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  int64_t es;
  for (uint32_t i = 1; i <= 3; i++) {
    assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 7, i, &es), 0);
    assert_int_equal(es, i);
  }
  assert_int_equal(add_event(b, "{\"type\":\"boot\"}"), 0);
  assert_true(ea_backlog_dirty(b));
  assert_int_equal(ea_backlog_pending_rows(b), 4);
  /* Nothing is handed out before the commit. */
  struct seen s;
  scan_all(b, &s);
  assert_int_equal(s.n, 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  assert_false(ea_backlog_dirty(b));
  scan_all(b, &s);
  assert_int_equal(s.n, 4);
  assert_string_equal(
      s.payload[0], "{\"edge_seq\":1,\"boot\":7,\"seq\":1,\"v\":{\"temp_c\":21.5},\"hist\":false}");
  assert_int_equal(s.es[2], 3);
  assert_int_equal(s.kind[3], EA_ROW_EVENT);
  assert_int_equal(s.es[3], 0);
  assert_string_equal(s.payload[3], "{\"type\":\"boot\"}");
  assert_true(s.id[0] < s.id[1] && s.id[1] < s.id[2] && s.id[2] < s.id[3]);

  struct ea_row row = {.edge_seq = 42, .body = "\"x\":1", .body_len = 5};
  char buf[64];
  assert_int_equal(ea_backlog_payload(&row, true, buf, sizeof buf), 33);
  assert_string_equal(buf, "{\"edge_seq\":42,\"x\":1,\"hist\":true}");
  assert_int_equal(ea_backlog_payload(&row, true, buf, 20), FARM_ENOSPC);

  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 4);
  assert_int_equal(st.next_edge_seq, 4);
  assert_int_equal(st.first_edge_seq, 1);
  assert_int_equal(st.oldest_ms, T0 + 1);
  assert_true(st.available);
  assert_false(st.degraded);

  /* Everything deleted, then reopened: edge_seq never goes back. */
  bool ren;
  assert_int_equal(ea_backlog_watermark(b, 3, &ren), 0);
  assert_false(ren);
  assert_int_equal(ea_backlog_puback(b, s.id[3], EA_ROW_EVENT, 0), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 0);
  assert_int_equal(st.bytes, 0);
  ea_backlog_close(b);
  b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 7, 4, &es), 0);
  assert_int_equal(es, 4);
  assert_int_equal(ea_backlog_commit(b), 0);
  scan_all(b, &s);
  assert_int_equal(s.n, 1);
  assert_true(s.id[0] > 4); /* row ids are never reused either */
  ea_backlog_stats(b, T0, &st);
  assert_true(st.watermark_seen);
  assert_int_equal(st.watermark, 3);
  ea_backlog_close(b);
}

static void test_dedupe(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 1, NULL), 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 1, NULL), FARM_EEXIST);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 2, 1, NULL), 0); /* another boot */
  assert_int_equal(add_tel(b, "0a0b0c0d0e0f", 1, 1, NULL), 0); /* another device */
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_close(b);
  b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  int64_t es = -1;
  assert_int_equal(add_tel(b, "0a0b0c0d0e0f", 1, 1, &es), FARM_EEXIST);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.duplicates, 1); /* this process's count */
  assert_int_equal(st.depth, 3);
  assert_int_equal(st.next_edge_seq, 4);
  /* Keys older than the window are forgotten (dedupe_hours = 1). */
  ea_backlog_maintain(b, T0 + 2 * 3600000LL);
  assert_int_equal(ea_backlog_commit(b), 0);
  assert_int_equal(add_tel(b, "0a0b0c0d0e0f", 1, 1, &es), 0);
  assert_int_equal(es, 4);
  ea_backlog_close(b);
}

static void test_rollback_restores_everything(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  assert_int_equal(ea_backlog_meta_set(b, "link_gseq", 10), 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 1, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  int64_t committed = ea_backlog_committed_id(b);
  /* An open transaction that is never committed: closing without commit is
   * what a SIGKILL does. */
  assert_int_equal(ea_backlog_meta_set(b, "link_gseq", 11), 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 2, NULL), 0);
  assert_int_equal(ea_backlog_committed_id(b), committed);
  assert_int_equal(ea_backlog_meta_get(b, "link_gseq", 0), 11); /* seen by its own tx */
  /* Copy the files as they are on disk now, as a crash would leave them. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "mkdir %s/crash && cp %s %s-wal %s/crash/ 2>/dev/null; true", dir, path,
           path, dir);
  assert_int_equal(system(cmd), 0);
  ea_backlog_close(b);

  char cpath[160];
  snprintf(cpath, sizeof cpath, "%s/crash/backlog.db", dir);
  struct ea_backlog_opts o = {.path = cpath, .max_bytes = 1 << 20, .dedupe_hours = 1};
  assert_int_equal(ea_backlog_open(&o, &lg, T0, &b), 0);
  assert_int_equal(ea_backlog_meta_get(b, "link_gseq", 0), 10);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 1);
  assert_int_equal(st.next_edge_seq, 2);
  assert_false(st.corrupt_alarm);
  /* The uncommitted reading was never stored, so its resend is not a
   * duplicate. */
  int64_t es;
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 2, &es), 0);
  assert_int_equal(es, 2);
  ea_backlog_close(b);
}

static void test_cap_drop_oldest(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(65536, EA_FULL_DROP_OLDEST, 0);
  const uint32_t total = 1000; /* about twice what fits */
  for (uint32_t i = 1; i <= total; i++)
    assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, i, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_true(st.bytes <= 65536);
  /* Full: one more row of the same size would not fit. */
  assert_true(st.bytes + ea_backlog_row_bytes(35, 45) > 65536);
  assert_true(st.depth > 300 && st.depth < total);
  assert_int_equal(st.dropped_oldest, total - st.depth);
  assert_int_equal(st.first_edge_seq, (int64_t)(total - st.depth) + 1);
  assert_int_equal(st.next_edge_seq, total + 1);
  assert_int_equal(st.rejected_full, 0);
  /* The survivors are the newest, in order. */
  struct seen s;
  scan_all(b, &s);
  assert_int_equal(s.es[0], st.first_edge_seq);
  ea_backlog_close(b);
}

static void test_cap_reject_new(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(65536, EA_FULL_REJECT_NEW, 0);
  uint32_t seq = 0;
  int rc;
  while ((rc = add_tel(b, "a1b2c3d4e5f6", 1, ++seq, NULL)) == 0) {
  }
  assert_int_equal(rc, FARM_ENOSPC);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, seq + 1, NULL), FARM_ENOSPC);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, seq - 1);
  assert_true(st.bytes <= 65536);
  assert_true(st.depth > 300);
  assert_int_equal(st.rejected_full, 2);
  assert_int_equal(st.dropped_oldest, 0);
  assert_int_equal(st.first_edge_seq, 1);
  assert_int_equal(st.next_edge_seq, seq);
  /* A refused reading leaves no deduplication key: once there is room,
   * its resend is stored. */
  struct seen s;
  scan_all(b, &s);
  assert_int_equal(ea_backlog_puback(b, s.id[0], EA_ROW_TELEMETRY, s.es[0]), 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, seq, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  /* A row larger than the whole cap is refused under either policy. */
  static char big[70000];
  memset(big, 'x', sizeof big - 1);
  struct ea_row_in r = {.kind = EA_ROW_EVENT, .topic = "t", .body = big};
  assert_int_equal(ea_backlog_add(b, &r, T0, NULL), FARM_ENOSPC);
  ea_backlog_close(b);
}

static void test_watermark_and_puback(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  for (uint32_t i = 1; i <= 10; i++)
    assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, i, NULL), 0);
  assert_int_equal(add_event(b, "{\"type\":\"x\"}"), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct seen s;
  scan_all(b, &s);
  assert_int_equal(s.n, 11);

  /* No watermark seen yet: the PUBACK deletes (a cloud that publishes none). */
  assert_int_equal(ea_backlog_puback(b, s.id[0], EA_ROW_TELEMETRY, 1), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 10);
  assert_false(st.watermark_seen);

  bool ren;
  assert_int_equal(ea_backlog_watermark(b, 3, &ren), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 8); /* 2 and 3 deleted */
  assert_int_equal(st.first_edge_seq, 4);
  /* From now on a PUBACK is not enough for telemetry... */
  assert_int_equal(ea_backlog_puback(b, s.id[4], EA_ROW_TELEMETRY, 5), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 8);
  /* ...but it is for events, and for telemetry already under the mark. */
  assert_int_equal(ea_backlog_puback(b, s.id[10], EA_ROW_EVENT, 0), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 7);
  /* A stale (lower) watermark changes nothing. */
  assert_int_equal(ea_backlog_watermark(b, 2, &ren), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.watermark, 3);
  assert_int_equal(st.depth, 7);
  assert_int_equal(ea_backlog_watermark(b, 8, &ren), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 2);
  assert_int_equal(st.first_edge_seq, 9);
  assert_int_equal(st.deleted, 9);
  ea_backlog_close(b);

  /* The watermark mode is remembered across restarts. */
  b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  scan_all(b, &s);
  assert_int_equal(s.n, 2);
  assert_int_equal(ea_backlog_puback(b, s.id[0], EA_ROW_TELEMETRY, 9), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.depth, 2);
  assert_true(st.watermark_seen);
  ea_backlog_close(b);
}

static void test_foreign_watermark_renumbers(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  for (uint32_t i = 1; i <= 3; i++)
    assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, i, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  bool ren = false;
  assert_int_equal(ea_backlog_watermark(b, 100, &ren), 0);
  assert_true(ren);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct seen s;
  scan_all(b, &s);
  assert_int_equal(s.n, 3);
  assert_int_equal(s.es[0], 101);
  assert_int_equal(s.es[2], 103);
  int64_t es;
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 4, &es), 0);
  assert_int_equal(es, 104);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_int_equal(st.renumbered, 1);
  assert_int_equal(st.depth, 4);
  ea_backlog_close(b);
}

static void write_bytes(const char *p, const char *bytes, size_t n, long at)
{
  FILE *f = fopen(p, at < 0 ? "wb" : "r+b");
  assert_non_null(f);
  if (at >= 0)
    fseek(f, at, SEEK_SET);
  assert_int_equal(fwrite(bytes, 1, n, f), n);
  fclose(f);
}

static size_t count_aside(void)
{
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls %s | grep -c '^backlog.db.corrupt-[0-9T]*$'", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int n = 0;
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return (size_t)n;
}

static void check_fresh_after_corruption(size_t aside)
{
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_true(st.corrupt_alarm);
  assert_true(st.available);
  assert_false(st.degraded);
  assert_non_null(strstr(st.corrupt_path, "backlog.db.corrupt-"));
  assert_int_equal(st.depth, 0);
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 1, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_close(b);
  assert_int_equal(count_aside(), aside);
}

static void test_not_a_database(void **state)
{
  (void)state;
  static const char junk[] = "this is not an SQLite file, it is what a bad SD card gives back";
  write_bytes(path, junk, sizeof junk, -1);
  check_fresh_after_corruption(1);
  /* The moved file is kept as it was, for a post-mortem. */
  char aside[256];
  snprintf(aside, sizeof aside, "ls %s/backlog.db.corrupt-* | head -1", dir);
  FILE *p = popen(aside, "r");
  char name[256] = "";
  assert_non_null(fgets(name, sizeof name, p));
  pclose(p);
  name[strcspn(name, "\n")] = '\0';
  FILE *f = fopen(name, "rb");
  assert_non_null(f);
  char back[sizeof junk];
  assert_int_equal(fread(back, 1, sizeof back, f), sizeof junk);
  fclose(f);
  assert_memory_equal(back, junk, sizeof junk);
}

static void test_corrupt_pages(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  for (uint32_t i = 1; i <= 300; i++)
    assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, i, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_close(b); /* checkpoints the WAL into the file */
  /* Garbage over the b-tree pages after the first (page size 4096). */
  static char junk[8192];
  memset(junk, 0x5a, sizeof junk);
  write_bytes(path, junk, sizeof junk, 4096);
  check_fresh_after_corruption(1);
}

static void test_truncated(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1 << 20, EA_FULL_DROP_OLDEST, 0);
  for (uint32_t i = 1; i <= 300; i++)
    assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, i, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_close(b);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(truncate(path, sb.st_size / 2), 0);
  check_fresh_after_corruption(1);
}

static void test_foreign_schema(void **state)
{
  (void)state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE outbox(x TEXT); INSERT INTO outbox VALUES('y')",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  check_fresh_after_corruption(1);
}

/* A store that fills up (SQLite's page cap stands in for the disk): the
 * transaction is rolled back, new rows are refused, deletions still run,
 * and the backlog recovers by itself once there is room. */
static void test_full_store_degrades_and_recovers(void **state)
{
  (void)state;
  struct ea_backlog *b = open_bl(1LL << 30, EA_FULL_DROP_OLDEST, 12);
  uint32_t seq = 0;
  int rc = 0;
  int64_t last_ok_commit_id = 0;
  while (seq < 100000) {
    rc = add_tel(b, "a1b2c3d4e5f6", 1, ++seq, NULL);
    if (rc != 0)
      break;
    if (seq % 10 == 0) {
      rc = ea_backlog_commit(b);
      if (rc != 0)
        break;
      last_ok_commit_id = ea_backlog_committed_id(b);
    }
  }
  assert_int_equal(rc, FARM_EIO);
  assert_true(last_ok_commit_id > 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_true(st.degraded);
  assert_string_equal(st.reason, "disk full");
  assert_int_equal(st.write_errors, 1);
  assert_int_equal(ea_backlog_committed_id(b), last_ok_commit_id);
  struct seen s;
  scan_all(b, &s);
  assert_int_equal(s.n, st.depth); /* only committed rows remain */
  assert_int_equal(s.id[s.n - 1], last_ok_commit_id);
  /* Refused while degraded, without touching the file. */
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, seq + 1000, NULL), FARM_EIO);
  /* The broker takes the oldest rows (no watermark: PUBACK deletes). */
  for (size_t i = 0; i < s.n; i++)
    assert_int_equal(ea_backlog_puback(b, s.id[i], EA_ROW_TELEMETRY, s.es[i]), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, NULL);
  assert_true(ea_backlog_maintain(b, T0));
  ea_backlog_stats(b, T0, &st);
  assert_false(st.degraded);
  assert_string_equal(st.reason, "");
  int64_t es;
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, seq, &es), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_close(b);
}

/* A directory that is not there (an unmounted data partition): the
 * backlog exists, refuses rows, and opens once the directory appears. */
static void test_unavailable_then_opens(void **state)
{
  (void)state;
  char sub[160], p2[200];
  snprintf(sub, sizeof sub, "%s/later", dir);
  snprintf(p2, sizeof p2, "%s/backlog.db", sub);
  struct ea_backlog_opts o = {.path = p2, .max_bytes = 1 << 20, .dedupe_hours = 1, .probe_ms = 1};
  struct ea_backlog *b;
  assert_int_equal(ea_backlog_open(&o, &lg, T0, &b), 0);
  struct ea_backlog_stats st;
  ea_backlog_stats(b, T0, &st);
  assert_false(st.available);
  assert_true(st.degraded);
  assert_string_equal(st.reason, "cannot open");
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 1, NULL), FARM_EIO);
  struct seen s;
  memset(&s, 0, sizeof s);
  assert_int_equal(ea_backlog_scan(b, 0, INT64_MAX, 10, collect, &s), FARM_EIO);
  struct timespec ts = {0, 3000000};
  nanosleep(&ts, NULL);
  assert_false(ea_backlog_maintain(b, T0));
  assert_int_equal(mkdir(sub, 0755), 0);
  nanosleep(&ts, NULL);
  assert_true(ea_backlog_maintain(b, T0));
  assert_int_equal(add_tel(b, "a1b2c3d4e5f6", 1, 1, NULL), 0);
  assert_int_equal(ea_backlog_commit(b), 0);
  ea_backlog_stats(b, T0, &st);
  assert_true(st.available);
  assert_int_equal(st.depth, 1);
  ea_backlog_close(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_numbering_and_payload, fresh),
      cmocka_unit_test_setup(test_dedupe, fresh),
      cmocka_unit_test_setup(test_rollback_restores_everything, fresh),
      cmocka_unit_test_setup(test_cap_drop_oldest, fresh),
      cmocka_unit_test_setup(test_cap_reject_new, fresh),
      cmocka_unit_test_setup(test_watermark_and_puback, fresh),
      cmocka_unit_test_setup(test_foreign_watermark_renumbers, fresh),
      cmocka_unit_test_setup(test_not_a_database, fresh),
      cmocka_unit_test_setup(test_corrupt_pages, fresh),
      cmocka_unit_test_setup(test_truncated, fresh),
      cmocka_unit_test_setup(test_foreign_schema, fresh),
      cmocka_unit_test_setup(test_full_store_degrades_and_recovers, fresh),
      cmocka_unit_test_setup(test_unavailable_then_opens, fresh),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
