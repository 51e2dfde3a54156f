/* SPDX-License-Identifier: MIT */
/*
 * The backlog on SQLite: schema, grouped transactions with an in-memory
 * mirror of the counters that a rollback restores, the size cap, the
 * commit watermark, the integrity check at open and the degraded mode.
 */
#include "backlog.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "farm/error.h"

/* Per-row overhead counted against the cap: the row's integers, the index
 * entries and the page slack, measured as roughly 60 bytes a row. */
#define ROW_OVERHEAD   64
#define SCHEMA_VERSION 1
#define PRUNE_EVERY_MS 60000

/* What a rollback must restore. */
struct state {
  uint64_t depth;
  int64_t bytes;
  int64_t next_edge_seq;
  int64_t max_id;
  int64_t watermark;
  bool wm_seen;
  uint64_t added, duplicates, dropped_oldest, rejected_full, deleted, renumbered, discarded;
};

enum stmt {
  S_INSERT,
  S_SEEN_GET,
  S_SEEN_PUT,
  S_OLDEST,
  S_DELETE_ID,
  S_META_SET,
  S_META_GET,
  S_SCAN,
  S_MIN_EDGE_SEQ,
  S_WM_SUM,
  S_WM_DELETE,
  S_RENUMBER,
  S_PRUNE,
  S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_INSERT] = "INSERT INTO outbox(kind, edge_seq, created_ms, topic, body) VALUES (?,?,?,?,?)",
    [S_SEEN_GET] = "SELECT 1 FROM seen WHERE device = ? AND boot = ? AND seq = ?",
    [S_SEEN_PUT] = "INSERT INTO seen(device, boot, seq, at) VALUES (?,?,?,?)",
    [S_OLDEST] = "SELECT id, created_ms FROM outbox ORDER BY id LIMIT 1",
    [S_DELETE_ID] = "DELETE FROM outbox WHERE id = ? RETURNING length(topic) + length(body)",
    [S_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?",
    [S_SCAN] = "SELECT id, kind, edge_seq, created_ms, topic, body FROM outbox "
               "WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
    [S_MIN_EDGE_SEQ] = "SELECT MIN(edge_seq) FROM outbox WHERE edge_seq IS NOT NULL",
    [S_WM_SUM] = "SELECT COUNT(*), COALESCE(SUM(length(topic) + length(body)), 0) FROM outbox "
                 "WHERE edge_seq IS NOT NULL AND edge_seq <= ?",
    [S_WM_DELETE] = "DELETE FROM outbox WHERE edge_seq IS NOT NULL AND edge_seq <= ?",
    [S_RENUMBER] = "UPDATE outbox SET edge_seq = edge_seq + ? WHERE edge_seq IS NOT NULL",
    [S_PRUNE] = "DELETE FROM seen WHERE at < ?",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS outbox("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind INTEGER NOT NULL,"
    " edge_seq INTEGER,"
    " created_ms INTEGER NOT NULL,"
    " topic BLOB NOT NULL,"
    " body BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_edge_seq ON outbox(edge_seq) WHERE edge_seq IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS seen("
    " device TEXT NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,"
    " PRIMARY KEY(device, boot, seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS seen_at ON seen(at);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;";

struct ea_backlog {
  struct ea_backlog_opts o;
  char *path;
  const struct fd_log *log;
  struct fd_ratelimit rl;
  sqlite3 *db;
  sqlite3_stmt *st[S_COUNT];

  bool in_tx;
  int64_t dirty_since; /* monotonic ms */
  size_t pending_rows;
  struct state cur, saved;

  uint64_t write_errors, commits;
  bool degraded;
  char reason[64];
  int64_t next_probe_ms; /* monotonic */
  int64_t next_prune_ms; /* monotonic */
  bool corrupt_alarm;
  char corrupt_path[640];
};

int64_t ea_backlog_row_bytes(size_t topic_len, size_t body_len)
{
  return (int64_t)(topic_len + body_len) + ROW_OVERHEAD;
}

static void close_db(struct ea_backlog *b)
{
  for (int i = 0; i < S_COUNT; i++) {
    sqlite3_finalize(b->st[i]);
    b->st[i] = NULL;
  }
  if (b->db)
    sqlite3_close_v2(b->db);
  b->db = NULL;
  b->in_tx = false;
  b->pending_rows = 0;
}

static const char *classify(int ext)
{
  switch (ext & 0xff) {
  case SQLITE_FULL:
    return "disk full";
  case SQLITE_READONLY:
    return "read-only";
  case SQLITE_IOERR:
    return "I/O error";
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return "corrupt";
  case SQLITE_CANTOPEN:
    return "cannot open";
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "locked by another process";
  case SQLITE_NOMEM:
    return "out of memory";
  default:
    return "storage error";
  }
}

static void enter_degraded(struct ea_backlog *b, const char *why)
{
  if (!b->degraded || strcmp(b->reason, why) != 0)
    fd_log(b->log, FD_LOG_ERROR, "backlog: %s; new rows are refused until it recovers", why);
  b->degraded = true;
  snprintf(b->reason, sizeof b->reason, "%s", why);
  b->next_probe_ms = fd_mono_ms() + b->o.probe_ms;
}

/* A write failed: undo the open transaction and the mirror. */
static int fail_write(struct ea_backlog *b, int rc, const char *what)
{
  int ext = b->db ? sqlite3_extended_errcode(b->db) : rc;
  fd_log_rl(b->log, &b->rl, FD_LOG_ERROR, "backlog: %s failed: %s (%d)", what,
            b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc), ext);
  if (b->db && b->in_tx && !sqlite3_get_autocommit(b->db))
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
  b->in_tx = false;
  b->pending_rows = 0;
  b->cur = b->saved;
  b->write_errors++;
  const char *why = classify(ext);
  enter_degraded(b, why);
  if ((ext & 0xff) == SQLITE_CORRUPT || (ext & 0xff) == SQLITE_NOTADB) {
    /* Reopening runs the integrity check, which moves the file aside. */
    close_db(b);
  }
  return FARM_EIO;
}

static int begin(struct ea_backlog *b)
{
  if (b->in_tx)
    return 0;
  int rc = sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return fail_write(b, rc, "begin");
  b->in_tx = true;
  b->saved = b->cur;
  b->dirty_since = fd_mono_ms();
  return 0;
}

static int meta_get_raw(struct ea_backlog *b, const char *key, int64_t *v)
{
  sqlite3_stmt *s = b->st[S_META_GET];
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  int out = FARM_ENOENT;
  if (rc == SQLITE_ROW) {
    *v = sqlite3_column_int64(s, 0);
    out = 0;
  } else if (rc != SQLITE_DONE) {
    out = FARM_EIO;
  }
  sqlite3_reset(s);
  return out;
}

static int meta_set_raw(struct ea_backlog *b, const char *key, int64_t v)
{
  sqlite3_stmt *s = b->st[S_META_SET];
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, v);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : rc;
}

/* Single-row queries of integers. */
static int query_ints(sqlite3 *db, const char *sql, int64_t *a, int64_t *c)
{
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *a = sqlite3_column_int64(s, 0);
    if (c)
      *c = sqlite3_column_int64(s, 1);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    *a = 0;
    if (c)
      *c = 0;
    rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  return rc;
}

static bool is_corrupt_code(int rc)
{
  rc &= 0xff;
  return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_ERROR || rc == SQLITE_SCHEMA ||
         rc == SQLITE_MISMATCH || rc == SQLITE_RANGE;
}

/* Opens the file and checks it. Returns SQLITE_OK, or an SQLite code;
 * *corrupt says whether the file itself is at fault (then it may be moved
 * aside) rather than the storage under it. */
static int try_open(struct ea_backlog *b, bool *corrupt)
{
  *corrupt = false;
  int rc = sqlite3_open_v2(b->path, &b->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_extended_result_codes(b->db, 1);
  sqlite3_busy_timeout(b->db, 2000);

  /* The first read of the header: a file that is not a database fails here. */
  sqlite3_stmt *s;
  rc = sqlite3_prepare_v2(b->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      const char *mode = (const char *)sqlite3_column_text(s, 0);
      rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
    }
    sqlite3_finalize(s);
  }
  if (rc != SQLITE_OK) {
    *corrupt = is_corrupt_code(sqlite3_extended_errcode(b->db)) && rc != SQLITE_CANTOPEN;
    return rc;
  }
  /* synchronous=FULL: a commit is on the medium when it returns, WAL
   * included (sqlite.org/pragma.html#pragma_synchronous). */
  rc = sqlite3_exec(b->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return rc;

  /* quick_check: O(N) like integrity_check without the index cross-checks,
   * fast enough at every start for a backlog of a few hundred MB. */
  rc = sqlite3_prepare_v2(b->db, "PRAGMA quick_check", -1, &s, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      const char *res = (const char *)sqlite3_column_text(s, 0);
      if (!res || strcmp(res, "ok") != 0) {
        fd_log(b->log, FD_LOG_ERROR, "backlog: integrity check of %s: %s", b->path,
               res ? res : "?");
        *corrupt = true;
        rc = SQLITE_CORRUPT;
      } else {
        rc = SQLITE_OK;
      }
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
  }
  if (rc != SQLITE_OK) {
    *corrupt = *corrupt || is_corrupt_code(sqlite3_extended_errcode(b->db));
    return rc;
  }

  rc = sqlite3_exec(b->db, schema_sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    *corrupt = is_corrupt_code(sqlite3_extended_errcode(b->db));
    return rc;
  }
  for (int i = 0; i < S_COUNT; i++) {
    rc = sqlite3_prepare_v3(b->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &b->st[i], NULL);
    if (rc != SQLITE_OK) {
      /* A table of ours with other columns: someone else's file. */
      fd_log(b->log, FD_LOG_ERROR, "backlog: %s has a foreign schema: %s", b->path,
             sqlite3_errmsg(b->db));
      *corrupt = true;
      return rc;
    }
  }
  if (b->o.max_pages > 0) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%" PRId64, b->o.max_pages);
    sqlite3_exec(b->db, sql, NULL, NULL, NULL);
  }

  int64_t ver = 0;
  int m = meta_get_raw(b, "schema", &ver);
  if (m == FARM_EIO)
    return SQLITE_IOERR;
  if (m == 0 && ver != SCHEMA_VERSION) {
    fd_log(b->log, FD_LOG_ERROR, "backlog: %s has schema version %" PRId64 ", expected %d", b->path,
           ver, SCHEMA_VERSION);
    *corrupt = true;
    return SQLITE_CORRUPT;
  }
  if (m != 0) {
    rc = meta_set_raw(b, "schema", SCHEMA_VERSION);
    if (rc != 0)
      return rc;
  }

  /* The mirror. */
  struct state st = {0};
  int64_t count = 0, bytes = 0, max_es = 0, seqv = 0;
  rc = query_ints(b->db,
                  "SELECT COUNT(*), COALESCE(SUM(length(topic) + length(body)), 0) FROM outbox",
                  &count, &bytes);
  if (rc == SQLITE_OK)
    rc = query_ints(b->db, "SELECT COALESCE(MAX(edge_seq), 0) FROM outbox", &max_es, NULL);
  if (rc == SQLITE_OK)
    rc =
        query_ints(b->db, "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'",
                   &seqv, NULL);
  if (rc != SQLITE_OK) {
    *corrupt = is_corrupt_code(sqlite3_extended_errcode(b->db));
    return rc;
  }
  st.depth = (uint64_t)count;
  st.bytes = bytes + count * ROW_OVERHEAD;
  st.max_id = seqv;
  int64_t v = 0;
  st.next_edge_seq = 1;
  if (meta_get_raw(b, "next_edge_seq", &v) == 0 && v > st.next_edge_seq)
    st.next_edge_seq = v;
  if (max_es + 1 > st.next_edge_seq)
    st.next_edge_seq = max_es + 1;
  if (meta_get_raw(b, "watermark", &v) == 0)
    st.watermark = v;
  if (meta_get_raw(b, "watermark_seen", &v) == 0)
    st.wm_seen = v != 0;
  b->cur = b->saved = st;
  return SQLITE_OK;
}

static void stamp(char *out, size_t cap)
{
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%Y%m%dT%H%M%S", &tm);
}

/* Moves path (and its -wal, -shm) aside. Returns 0 or -1. */
static int move_aside(struct ea_backlog *b)
{
  char ts[32];
  stamp(ts, sizeof ts);
  char to[600];
  snprintf(to, sizeof to, "%s.corrupt-%s", b->path, ts);
  for (int n = 1; n < 100; n++) {
    FILE *f = fopen(to, "r");
    if (!f)
      break;
    fclose(f);
    snprintf(to, sizeof to, "%s.corrupt-%s-%d", b->path, ts, n);
  }
  if (rename(b->path, to) != 0 && errno != ENOENT) {
    fd_log(b->log, FD_LOG_ERROR, "backlog: cannot move %s aside: %s", b->path, strerror(errno));
    return -1;
  }
  static const char *const side[] = {"-wal", "-shm"};
  for (int i = 0; i < 2; i++) {
    char from[600], dst[640];
    snprintf(from, sizeof from, "%s%s", b->path, side[i]);
    snprintf(dst, sizeof dst, "%s%s", to, side[i]);
    if (rename(from, dst) != 0 && errno != ENOENT)
      unlink(from);
  }
  b->corrupt_alarm = true;
  snprintf(b->corrupt_path, sizeof b->corrupt_path, "%s", to);
  fd_log(b->log, FD_LOG_ERROR,
         "backlog: %s was corrupt; moved to %s and started a fresh backlog (alarm raised)", b->path,
         to);
  return 0;
}

/* Opens the file, moving a corrupt one aside once. Leaves the backlog
 * unavailable and degraded when the storage does not allow it. */
static bool open_db(struct ea_backlog *b)
{
  bool corrupt = false;
  int rc = try_open(b, &corrupt);
  if (rc != SQLITE_OK && corrupt) {
    close_db(b);
    if (move_aside(b) == 0)
      rc = try_open(b, &corrupt);
  }
  if (rc != SQLITE_OK) {
    int ext = b->db ? sqlite3_extended_errcode(b->db) : rc;
    char why[64];
    snprintf(why, sizeof why, "%s", classify(ext));
    fd_log(b->log, FD_LOG_ERROR, "backlog: cannot open %s: %s", b->path,
           b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
    close_db(b);
    enter_degraded(b, why);
    return false;
  }
  b->degraded = false;
  b->reason[0] = '\0';
  return true;
}

int ea_backlog_open(const struct ea_backlog_opts *o, const struct fd_log *log, int64_t now_ms,
                    struct ea_backlog **out)
{
  (void)now_ms;
  assert(o->path && o->max_bytes > 0);
  struct ea_backlog *b = calloc(1, sizeof *b);
  if (!b)
    return FARM_ENOMEM;
  b->o = *o;
  if (b->o.probe_ms <= 0)
    b->o.probe_ms = 2000;
  b->path = strdup(o->path);
  if (!b->path) {
    free(b);
    return FARM_ENOMEM;
  }
  b->o.path = b->path;
  b->log = log;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(5, 10000);
  b->rl = rl;
  b->cur.next_edge_seq = b->saved.next_edge_seq = 1;
  open_db(b);
  *out = b;
  return 0;
}

void ea_backlog_close(struct ea_backlog *b)
{
  if (!b)
    return;
  if (b->db && b->in_tx)
    ea_backlog_commit(b);
  close_db(b);
  free(b->path);
  free(b);
}

static bool writable(struct ea_backlog *b)
{
  return b->db && !b->degraded;
}

/* Deletes the oldest row; returns 0, 1 when there was none, or an SQLite code. */
static int drop_oldest(struct ea_backlog *b)
{
  sqlite3_stmt *s = b->st[S_OLDEST];
  sqlite3_reset(s);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(s);
    return 1;
  }
  if (rc != SQLITE_ROW) {
    sqlite3_reset(s);
    return rc;
  }
  int64_t id = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  sqlite3_stmt *d = b->st[S_DELETE_ID];
  sqlite3_reset(d);
  sqlite3_bind_int64(d, 1, id);
  rc = sqlite3_step(d);
  if (rc == SQLITE_ROW) {
    int64_t len = sqlite3_column_int64(d, 0);
    b->cur.depth--;
    b->cur.bytes -= len + ROW_OVERHEAD;
    b->cur.dropped_oldest++;
    rc = sqlite3_step(d);
  }
  sqlite3_reset(d);
  return rc == SQLITE_DONE ? 0 : rc;
}

int ea_backlog_add(struct ea_backlog *b, const struct ea_row_in *r, int64_t now_ms,
                   int64_t *edge_seq)
{
  assert(r->topic && r->body);
  if (!writable(b))
    return FARM_EIO;
  int err = begin(b);
  if (err)
    return err;
  int rc;
  if (r->has_key) {
    assert(r->device);
    sqlite3_stmt *s = b->st[S_SEEN_GET];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, r->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, r->boot);
    sqlite3_bind_int64(s, 3, r->seq);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) {
      b->cur.duplicates++;
      return FARM_EEXIST;
    }
    if (rc != SQLITE_DONE)
      return fail_write(b, rc, "dedupe lookup");
  }
  size_t tl = strlen(r->topic), bl = strlen(r->body);
  int64_t need = ea_backlog_row_bytes(tl, bl);
  if (need > b->o.max_bytes) {
    b->cur.rejected_full++;
    return FARM_ENOSPC;
  }
  while (b->cur.bytes + need > b->o.max_bytes) {
    if (b->o.policy == EA_FULL_REJECT_NEW) {
      b->cur.rejected_full++;
      return FARM_ENOSPC;
    }
    rc = drop_oldest(b);
    if (rc == 1)
      break;
    if (rc != 0)
      return fail_write(b, rc, "drop oldest");
  }

  sqlite3_stmt *s = b->st[S_INSERT];
  sqlite3_reset(s);
  int64_t es = 0;
  sqlite3_bind_int(s, 1, (int)r->kind);
  if (r->kind == EA_ROW_TELEMETRY) {
    es = b->cur.next_edge_seq;
    sqlite3_bind_int64(s, 2, es);
  } else {
    sqlite3_bind_null(s, 2);
  }
  sqlite3_bind_int64(s, 3, now_ms);
  sqlite3_bind_blob(s, 4, r->topic, (int)tl, SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, r->body, (int)bl, SQLITE_STATIC);
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE)
    return fail_write(b, rc, "insert");
  if (r->has_key) {
    s = b->st[S_SEEN_PUT];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, r->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, r->boot);
    sqlite3_bind_int64(s, 3, r->seq);
    sqlite3_bind_int64(s, 4, now_ms);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
      return fail_write(b, rc, "dedupe insert");
  }
  if (r->kind == EA_ROW_TELEMETRY)
    b->cur.next_edge_seq++;
  b->cur.max_id = sqlite3_last_insert_rowid(b->db);
  b->cur.depth++;
  b->cur.bytes += need;
  b->cur.added++;
  b->pending_rows++;
  if (edge_seq)
    *edge_seq = es;
  return 0;
}

int ea_backlog_meta_set(struct ea_backlog *b, const char *key, int64_t v)
{
  if (!writable(b))
    return FARM_EIO;
  int err = begin(b);
  if (err)
    return err;
  int rc = meta_set_raw(b, key, v);
  if (rc != 0)
    return fail_write(b, rc, "metadata");
  return 0;
}

int64_t ea_backlog_meta_get(struct ea_backlog *b, const char *key, int64_t def)
{
  if (!b->db)
    return def;
  int64_t v;
  return meta_get_raw(b, key, &v) == 0 ? v : def;
}

bool ea_backlog_dirty(const struct ea_backlog *b)
{
  return b->in_tx;
}

int64_t ea_backlog_dirty_since(const struct ea_backlog *b)
{
  return b->dirty_since;
}

size_t ea_backlog_pending_rows(const struct ea_backlog *b)
{
  return b->pending_rows;
}

int ea_backlog_commit(struct ea_backlog *b)
{
  if (!b->in_tx)
    return 0;
  int rc = 0;
  if (b->cur.next_edge_seq != b->saved.next_edge_seq)
    rc = meta_set_raw(b, "next_edge_seq", b->cur.next_edge_seq);
  if (!rc && b->cur.watermark != b->saved.watermark)
    rc = meta_set_raw(b, "watermark", b->cur.watermark);
  if (!rc && b->cur.wm_seen != b->saved.wm_seen)
    rc = meta_set_raw(b, "watermark_seen", b->cur.wm_seen ? 1 : 0);
  if (rc)
    return fail_write(b, rc, "metadata");
  rc = sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return fail_write(b, rc, "commit");
  b->in_tx = false;
  b->pending_rows = 0;
  b->saved = b->cur;
  b->commits++;
  return 0;
}

int64_t ea_backlog_committed_id(const struct ea_backlog *b)
{
  return b->saved.max_id;
}

int ea_backlog_scan(struct ea_backlog *b, int64_t after, int64_t upto, size_t max,
                    ea_backlog_scan_fn fn, void *ud)
{
  if (!b->db)
    return FARM_EIO;
  if (upto > b->saved.max_id)
    upto = b->saved.max_id;
  if (after >= upto || max == 0)
    return 0;
  sqlite3_stmt *s = b->st[S_SCAN];
  sqlite3_reset(s);
  sqlite3_bind_int64(s, 1, after);
  sqlite3_bind_int64(s, 2, upto);
  sqlite3_bind_int64(s, 3, (int64_t)max);
  int n = 0, rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    struct ea_row row = {
        .id = sqlite3_column_int64(s, 0),
        .kind = (enum ea_row_kind)sqlite3_column_int(s, 1),
        .edge_seq = sqlite3_column_int64(s, 2),
        .created_ms = sqlite3_column_int64(s, 3),
    };
    /* Blobs are not terminated: copy the topic, hand the body with its
     * length. */
    char topic[512];
    int tl = sqlite3_column_bytes(s, 4);
    const void *tp = sqlite3_column_blob(s, 4);
    if (tl <= 0 || (size_t)tl >= sizeof topic || !tp)
      continue;
    memcpy(topic, tp, (size_t)tl);
    topic[tl] = '\0';
    row.topic = topic;
    row.body = sqlite3_column_blob(s, 5);
    row.body_len = (size_t)sqlite3_column_bytes(s, 5);
    if (!row.body)
      row.body = "";
    n++;
    if (!fn(ud, &row))
      break;
  }
  bool failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
  sqlite3_reset(s);
  if (failed) {
    fd_log_rl(b->log, &b->rl, FD_LOG_ERROR, "backlog: read failed: %s", sqlite3_errmsg(b->db));
    return FARM_EIO;
  }
  return n;
}

static int delete_id(struct ea_backlog *b, int64_t id)
{
  sqlite3_stmt *d = b->st[S_DELETE_ID];
  sqlite3_reset(d);
  sqlite3_bind_int64(d, 1, id);
  int rc = sqlite3_step(d);
  if (rc == SQLITE_ROW) {
    int64_t len = sqlite3_column_int64(d, 0);
    b->cur.depth--;
    b->cur.bytes -= len + ROW_OVERHEAD;
    b->cur.deleted++;
    rc = sqlite3_step(d);
  }
  sqlite3_reset(d);
  return rc == SQLITE_DONE ? 0 : rc;
}

int ea_backlog_puback(struct ea_backlog *b, int64_t id, enum ea_row_kind kind, int64_t edge_seq)
{
  if (kind == EA_ROW_TELEMETRY && b->cur.wm_seen && edge_seq > b->cur.watermark)
    return 0; /* kept until the cloud store says it is committed */
  /* Deletes free space, so they run in a degraded mode too. */
  if (!b->db)
    return FARM_EIO;
  int err = begin(b);
  if (err)
    return err;
  int rc = delete_id(b, id);
  if (rc != 0)
    return fail_write(b, rc, "delete");
  return 0;
}

int ea_backlog_discard(struct ea_backlog *b, int64_t id)
{
  if (!b->db)
    return FARM_EIO;
  int err = begin(b);
  if (err)
    return err;
  uint64_t before = b->cur.deleted;
  int rc = delete_id(b, id);
  if (rc != 0)
    return fail_write(b, rc, "discard");
  if (b->cur.deleted != before) {
    b->cur.deleted = before;
    b->cur.discarded++;
  }
  return 0;
}

int ea_backlog_watermark(struct ea_backlog *b, int64_t wm, bool *renumbered)
{
  *renumbered = false;
  if (wm < 0)
    return FARM_EINVAL;
  if (!b->db)
    return FARM_EIO;
  if (b->cur.wm_seen && wm <= b->cur.watermark)
    return 0;
  int err = begin(b);
  if (err)
    return err;
  int rc;
  if (wm >= b->cur.next_edge_seq) {
    int64_t min = 0;
    sqlite3_stmt *s = b->st[S_MIN_EDGE_SEQ];
    sqlite3_reset(s);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
      min = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
      return fail_write(b, rc, "renumber");
    int64_t offset = wm + 1 - (min ? min : b->cur.next_edge_seq);
    if (min) {
      s = b->st[S_RENUMBER];
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, offset);
      rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE)
        return fail_write(b, rc, "renumber");
      *renumbered = true;
      b->cur.renumbered++;
    }
    fd_log(b->log, FD_LOG_WARN,
           "backlog: commit watermark %" PRId64 " is ahead of this backlog (next edge_seq %" PRId64
           "): it was replaced; numbering continues above the watermark",
           wm, b->cur.next_edge_seq);
    b->cur.next_edge_seq += offset;
  } else {
    sqlite3_stmt *s = b->st[S_WM_SUM];
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, wm);
    rc = sqlite3_step(s);
    int64_t count = 0, bytes = 0;
    if (rc == SQLITE_ROW) {
      count = sqlite3_column_int64(s, 0);
      bytes = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
      return fail_write(b, rc, "watermark");
    if (count > 0) {
      s = b->st[S_WM_DELETE];
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, wm);
      rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE)
        return fail_write(b, rc, "watermark");
      b->cur.depth -= (uint64_t)count;
      b->cur.bytes -= bytes + count * ROW_OVERHEAD;
      b->cur.deleted += (uint64_t)count;
    }
  }
  b->cur.watermark = wm;
  b->cur.wm_seen = true;
  return 0;
}

/* A small write that proves the storage takes writes again. */
static bool probe(struct ea_backlog *b)
{
  /* A full disk may be full of WAL: fold it back into the database first. */
  sqlite3_exec(b->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  int rc = sqlite3_exec(b->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = meta_set_raw(b, "probe", fd_wall_ms());
  if (rc == SQLITE_OK || rc == SQLITE_DONE)
    rc = sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK && !sqlite3_get_autocommit(b->db))
    sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
  return rc == SQLITE_OK;
}

bool ea_backlog_maintain(struct ea_backlog *b, int64_t now_ms)
{
  int64_t mono = fd_mono_ms();
  bool recovered = false;
  if ((!b->db || b->degraded) && mono >= b->next_probe_ms) {
    bool ok;
    if (!b->db) {
      ok = open_db(b);
    } else {
      ok = !b->in_tx && probe(b);
    }
    if (ok) {
      fd_log(b->log, FD_LOG_INFO, "backlog: storage works again; accepting new rows");
      b->degraded = false;
      b->reason[0] = '\0';
      recovered = true;
    } else {
      b->next_probe_ms = mono + b->o.probe_ms;
    }
  }
  if (writable(b) && mono >= b->next_prune_ms) {
    b->next_prune_ms = mono + PRUNE_EVERY_MS;
    if (begin(b) == 0) {
      sqlite3_stmt *s = b->st[S_PRUNE];
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, now_ms - (int64_t)b->o.dedupe_hours * 3600000);
      int rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE)
        fail_write(b, rc, "dedupe pruning");
    }
  }
  return recovered;
}

void ea_backlog_stats(struct ea_backlog *b, int64_t now_ms, struct ea_backlog_stats *st)
{
  (void)now_ms;
  memset(st, 0, sizeof *st);
  const struct state *c = &b->cur;
  st->depth = c->depth;
  st->bytes = c->bytes;
  st->max_bytes = b->o.max_bytes;
  st->next_edge_seq = c->next_edge_seq;
  st->first_edge_seq = c->next_edge_seq;
  st->watermark = c->watermark;
  st->watermark_seen = c->wm_seen;
  st->added = c->added;
  st->duplicates = c->duplicates;
  st->dropped_oldest = c->dropped_oldest;
  st->rejected_full = c->rejected_full;
  st->deleted = c->deleted;
  st->renumbered = c->renumbered;
  st->discarded = c->discarded;
  st->write_errors = b->write_errors;
  st->commits = b->commits;
  st->available = b->db != NULL;
  st->degraded = b->degraded;
  st->reason = b->reason;
  st->corrupt_alarm = b->corrupt_alarm;
  st->corrupt_path = b->corrupt_path;
  if (!b->db)
    return;
  sqlite3_stmt *s = b->st[S_OLDEST];
  sqlite3_reset(s);
  if (sqlite3_step(s) == SQLITE_ROW)
    st->oldest_ms = sqlite3_column_int64(s, 1);
  sqlite3_reset(s);
  s = b->st[S_MIN_EDGE_SEQ];
  sqlite3_reset(s);
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
    st->first_edge_seq = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
}

int ea_backlog_payload(const struct ea_row *row, bool hist, char *buf, size_t cap)
{
  int n = snprintf(buf, cap, "{\"edge_seq\":%" PRId64 ",%.*s,\"hist\":%s}", row->edge_seq,
                   (int)row->body_len, row->body, hist ? "true" : "false");
  if (n < 0 || (size_t)n >= cap)
    return FARM_ENOSPC;
  return n;
}
