/* SPDX-License-Identifier: MIT */
/*
 * Backend selection, transactions and helpers common to both databases.
 */
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "farm/error.h"

static bool is_pg_url(const char *spec)
{
  return strncmp(spec, "postgresql://", 13) == 0 || strncmp(spec, "postgres://", 11) == 0;
}

void st_db_redact(const char *spec, char *out, size_t cap)
{
  /* scheme://user:password@host... -> scheme://user:***@host... */
  const char *scheme = strstr(spec, "://");
  const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
  const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
  if (!colon) {
    snprintf(out, cap, "%s", spec);
    return;
  }
  snprintf(out, cap, "%.*s:***%s", (int)(colon - spec), spec, at);
}

int st_db_open(const char *spec, const struct fd_log *log, struct st_db **out,
               bool *recovered, char *err, size_t errlen)
{
  *out = NULL;
  if (recovered)
    *recovered = false;
  struct st_db *db = calloc(1, sizeof *db);
  if (!db) {
    snprintf(err, errlen, "out of memory");
    return FARM_ENOMEM;
  }
  db->log = log;
  int rc;
  if (is_pg_url(spec)) {
    db->dialect = ST_POSTGRES;
    rc = st__pg_open(db, spec);
  } else {
    db->dialect = ST_SQLITE;
    rc = st__sqlite_open(db, spec, recovered);
  }
  if (rc != 0) {
    snprintf(err, errlen, "%s", db->error);
    if (db->ops)
      db->ops->close(db);
    free(db);
    return rc;
  }
  *out = db;
  return 0;
}

void st_db_close(struct st_db *db)
{
  if (!db)
    return;
  db->ops->close(db);
  free(db);
}

enum st_dialect st_db_dialect(const struct st_db *db)
{
  return db->dialect;
}

int st_db_exec(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
               st_row_fn fn, void *ud)
{
  return db->ops->exec(db, sql, p, n, fn, ud);
}

int st_db_script(struct st_db *db, const char *sql)
{
  return db->ops->script(db, sql);
}

int st_db_begin(struct st_db *db)
{
  /* IMMEDIATE: take SQLite's write lock now, so two writers wait on
   * busy_timeout at BEGIN instead of failing at COMMIT. */
  return st_db_exec(db, db->dialect == ST_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", NULL, 0,
                    NULL, NULL);
}

int st_db_commit(struct st_db *db)
{
  return st_db_exec(db, "COMMIT", NULL, 0, NULL, NULL);
}

void st_db_rollback(struct st_db *db)
{
  if (st_db_exec(db, "ROLLBACK", NULL, 0, NULL, NULL) != 0)
    fd_log(db->log, FD_LOG_DEBUG, "db: rollback: %s", db->error);
}

const char *st_db_error(const struct st_db *db)
{
  return db->error;
}

bool st_db_bool(const char *col)
{
  return col && (col[0] == '1' || col[0] == 't' || col[0] == 'T');
}
