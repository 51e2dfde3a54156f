/* SPDX-License-Identifier: MIT */
/*
 * One small SQL interface over SQLite and PostgreSQL, so the store's
 * queries are written once. SQL uses PostgreSQL's numbered parameters
 * ($1, $2, ...), which the SQLite backend maps to its ?NNN form; results
 * come back as text (NULL for SQL NULL), as libpq gives them. Booleans read
 * back as "1"/"0" from SQLite and "t"/"f" from PostgreSQL: use
 * st_db_bool() to read them.
 *
 * A connection is used from one thread at a time.
 */
#ifndef ST_DB_H
#define ST_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "farmd/log.h"

enum st_dialect { ST_SQLITE, ST_POSTGRES };

enum st_ptype { ST_P_NULL, ST_P_I64, ST_P_F64, ST_P_TEXT };

struct st_param {
  enum st_ptype t;
  int64_t i;
  double f;
  const char *s; /* borrowed for the duration of the call */
};

#define ST_NULLP ((struct st_param){.t = ST_P_NULL})
#define ST_I64(v) ((struct st_param){.t = ST_P_I64, .i = (v)})
#define ST_F64(v) ((struct st_param){.t = ST_P_F64, .f = (v)})
#define ST_TEXT(v) ((struct st_param){.t = ST_P_TEXT, .s = (v)})

/* Called once per result row; return 0 to continue, non-zero to stop (that
 * value is then returned by st_db_exec()). col[i] is NULL for SQL NULL. */
typedef int (*st_row_fn)(void *ud, int ncol, const char *const *col);

struct st_db;

/*
 * Opens spec: a "postgresql://" or "postgres://" URL selects PostgreSQL,
 * anything else is a SQLite file path (created if missing, WAL mode).
 * A SQLite file that is not a database or is corrupt is renamed to
 * "PATH.corrupt-<unix time>" and a fresh one is created; *recovered (may be
 * NULL) then holds true and the rename target is logged as an error.
 * On failure err (errlen bytes) gets a one-line reason with any password
 * removed, and the result is FARM_EIO (cannot connect/open) or FARM_ENOMEM.
 */
int st_db_open(const char *spec, const struct fd_log *log, struct st_db **out,
               bool *recovered, char *err, size_t errlen);
void st_db_close(struct st_db *db);

enum st_dialect st_db_dialect(const struct st_db *db);

/*
 * Runs one statement with n parameters. fn (may be NULL) receives every row.
 * Returns 0, fn's non-zero value, or FARM_EIO with st_db_error() set (the
 * connection is reset when it was lost, so a later call can succeed).
 */
int st_db_exec(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
               st_row_fn fn, void *ud);

/* Runs several ';'-separated statements without parameters. */
int st_db_script(struct st_db *db, const char *sql);

int st_db_begin(struct st_db *db);
int st_db_commit(struct st_db *db);
/* Never fails visibly: a rollback error is logged. */
void st_db_rollback(struct st_db *db);

/* The last error message of this connection (never NULL). */
const char *st_db_error(const struct st_db *db);

/* Reads a boolean column as either backend returns it. */
bool st_db_bool(const char *col);

/* Copies spec to out with the password of a URL replaced by "***". */
void st_db_redact(const char *spec, char *out, size_t cap);

#endif /* ST_DB_H */
