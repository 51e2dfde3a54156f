/* SPDX-License-Identifier: MIT */
/*
 * SQLite backend: WAL journal, full fsync at commit (the commit watermark
 * promises durability), a busy timeout so several processes can share a
 * file, a cache of prepared statements, and recovery from a corrupt file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "db_internal.h"
#include "farm/error.h"

#define CACHE_SIZE 48

struct cached {
  char *sql;
  size_t len;
  uint64_t hash;
  sqlite3_stmt *stmt;
  uint64_t used;
};

/* FNV-1a: multi-row statements share long prefixes, so compare hashes and
 * lengths before the text. */
static uint64_t hash_sql(const char *s, size_t *len)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  const char *p = s;
  for (; *p; p++) {
    h ^= (unsigned char)*p;
    h *= 0x100000001b3ULL;
  }
  *len = (size_t)(p - s);
  return h;
}

struct lite {
  sqlite3 *h;
  struct cached cache[CACHE_SIZE];
  uint64_t tick;
};

static void set_error(struct st_db *db, const char *what)
{
  struct lite *l = db->impl;
  snprintf(db->error, sizeof db->error, "%s: %s", what, l && l->h ? sqlite3_errmsg(l->h) : "no handle");
}

/* $N -> ?N: the same numbered parameters in SQLite's spelling. The store's
 * SQL has no '$' inside string literals. */
static char *translate(const char *sql)
{
  char *t = strdup(sql);
  if (!t)
    return NULL;
  for (char *p = t; *p; p++)
    if (*p == '$' && p[1] >= '0' && p[1] <= '9')
      *p = '?';
  return t;
}

static sqlite3_stmt *prepare(struct st_db *db, const char *sql)
{
  struct lite *l = db->impl;
  l->tick++;
  size_t len;
  uint64_t h = hash_sql(sql, &len);
  struct cached *victim = &l->cache[0];
  for (size_t i = 0; i < CACHE_SIZE; i++) {
    struct cached *c = &l->cache[i];
    if (c->sql && c->hash == h && c->len == len && memcmp(c->sql, sql, len) == 0) {
      c->used = l->tick;
      sqlite3_reset(c->stmt);
      sqlite3_clear_bindings(c->stmt);
      return c->stmt;
    }
    if (!c->sql || c->used < victim->used)
      victim = c;
  }
  char *t = translate(sql);
  if (!t) {
    snprintf(db->error, sizeof db->error, "out of memory");
    return NULL;
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(l->h, t, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  free(t);
  if (rc != SQLITE_OK) {
    set_error(db, "prepare");
    return NULL;
  }
  if (victim->sql) {
    sqlite3_finalize(victim->stmt);
    free(victim->sql);
  }
  victim->sql = strdup(sql);
  if (!victim->sql) {
    sqlite3_finalize(st);
    victim->stmt = NULL;
    snprintf(db->error, sizeof db->error, "out of memory");
    return NULL;
  }
  victim->stmt = st;
  victim->len = len;
  victim->hash = h;
  victim->used = l->tick;
  return st;
}

static int lite_exec(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
                     st_row_fn fn, void *ud)
{
  struct lite *l = db->impl;
  sqlite3_stmt *st = prepare(db, sql);
  if (!st)
    return FARM_EIO;
  for (size_t i = 0; i < n; i++) {
    int idx = (int)i + 1;
    int rc = SQLITE_OK;
    switch (p[i].t) {
    case ST_P_NULL:
      rc = sqlite3_bind_null(st, idx);
      break;
    case ST_P_I64:
      rc = sqlite3_bind_int64(st, idx, p[i].i);
      break;
    case ST_P_F64:
      rc = sqlite3_bind_double(st, idx, p[i].f);
      break;
    case ST_P_TEXT:
      rc = sqlite3_bind_text(st, idx, p[i].s, -1, SQLITE_STATIC);
      break;
    }
    if (rc != SQLITE_OK) {
      set_error(db, "bind");
      sqlite3_reset(st);
      return FARM_EIO;
    }
  }
  int ncol = sqlite3_column_count(st);
  const char *cols[64];
  if (ncol > 64)
    ncol = 64;
  for (;;) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
      break;
    if (rc != SQLITE_ROW) {
      set_error(db, "step");
      sqlite3_reset(st);
      return FARM_EIO;
    }
    if (fn) {
      for (int c = 0; c < ncol; c++)
        cols[c] = (const char *)sqlite3_column_text(st, c);
      int stop = fn(ud, ncol, cols);
      if (stop) {
        sqlite3_reset(st);
        return stop;
      }
    }
  }
  sqlite3_reset(st);
  /* Bound text is borrowed: drop the bindings before the caller frees it. */
  sqlite3_clear_bindings(st);
  (void)l;
  return 0;
}

static int lite_script(struct st_db *db, const char *sql)
{
  struct lite *l = db->impl;
  char *msg = NULL;
  if (sqlite3_exec(l->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(db->error, sizeof db->error, "%s", msg ? msg : "script failed");
    sqlite3_free(msg);
    return FARM_EIO;
  }
  return 0;
}

static void lite_close(struct st_db *db)
{
  struct lite *l = db->impl;
  if (!l)
    return;
  for (size_t i = 0; i < CACHE_SIZE; i++) {
    if (l->cache[i].sql) {
      sqlite3_finalize(l->cache[i].stmt);
      free(l->cache[i].sql);
    }
  }
  sqlite3_close(l->h);
  free(l);
  db->impl = NULL;
}

static const struct st_db_ops lite_ops = {lite_exec, lite_script, lite_close};

/* Opens and probes: reading the schema fails on a file that is not a
 * database (SQLITE_NOTADB) or whose header/schema pages are damaged. */
static int try_open(struct st_db *db, const char *path, int *sqlite_rc)
{
  struct lite *l = db->impl;
  int rc = sqlite3_open_v2(path, &l->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(l->h, 10000);
    sqlite3_extended_result_codes(l->h, 0);
    rc = sqlite3_exec(l->h,
                      "PRAGMA journal_mode=WAL;"
                      "PRAGMA synchronous=FULL;"
                      "SELECT count(*) FROM sqlite_master;",
                      NULL, NULL, NULL);
  }
  *sqlite_rc = rc;
  if (rc != SQLITE_OK) {
    set_error(db, path);
    sqlite3_close(l->h);
    l->h = NULL;
    return FARM_EIO;
  }
  return 0;
}

int st__sqlite_open(struct st_db *db, const char *path, bool *recovered)
{
  db->ops = &lite_ops;
  db->impl = calloc(1, sizeof(struct lite));
  if (!db->impl) {
    snprintf(db->error, sizeof db->error, "out of memory");
    return FARM_ENOMEM;
  }
  int src;
  if (try_open(db, path, &src) == 0)
    return 0;
  if (src != SQLITE_NOTADB && src != SQLITE_CORRUPT)
    return FARM_EIO;

  /* Keep the damaged file for inspection and start fresh: losing the
   * ingest service is worse than starting a new store (BAD-INPUTS §25). */
  char aside[4096];
  snprintf(aside, sizeof aside, "%s.corrupt-%lld", path, (long long)time(NULL));
  fd_log(db->log, FD_LOG_ERROR, "db: %s is damaged (%s); moved to %s, starting a new database",
         path, db->error, aside);
  if (rename(path, aside) != 0) {
    snprintf(db->error, sizeof db->error, "%s is damaged and cannot be moved aside: %s", path,
             strerror(errno));
    return FARM_EIO;
  }
  const char *suffix[] = {"-wal", "-shm"};
  for (size_t i = 0; i < 2; i++) {
    char from[4096], to[4200];
    snprintf(from, sizeof from, "%s%s", path, suffix[i]);
    snprintf(to, sizeof to, "%s%s", aside, suffix[i]);
    rename(from, to);
  }
  if (recovered)
    *recovered = true;
  return try_open(db, path, &src);
}
