/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL backend over libpq: text parameters, text results, and a
 * reset of the connection when it was lost so the next call reconnects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_internal.h"
#include "farm/error.h"

static void set_error(struct st_db *db, const char *msg)
{
  snprintf(db->error, sizeof db->error, "%s", msg ? msg : "unknown error");
  size_t n = strlen(db->error);
  while (n > 0 && (db->error[n - 1] == '\n' || db->error[n - 1] == ' '))
    db->error[--n] = '\0';
}

static void check_connection(struct st_db *db)
{
  PGconn *c = db->impl;
  if (PQstatus(c) == CONNECTION_BAD) {
    fd_log(db->log, FD_LOG_WARN, "db: connection lost, reconnecting");
    PQreset(c);
  }
}

/* Number formatting in fixed buffers: 17 significant digits round-trip an
 * IEEE 754 double exactly. */
#define NUMBUF 32

static int pg_exec(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
                   st_row_fn fn, void *ud)
{
  PGconn *c = db->impl;
  const char **values = NULL;
  char (*nums)[NUMBUF] = NULL;
  if (n) {
    values = calloc(n, sizeof *values);
    nums = calloc(n, sizeof *nums);
    if (!values || !nums) {
      free(values);
      free(nums);
      snprintf(db->error, sizeof db->error, "out of memory");
      return FARM_ENOMEM;
    }
  }
  for (size_t i = 0; i < n; i++) {
    switch (p[i].t) {
    case ST_P_NULL:
      values[i] = NULL;
      break;
    case ST_P_I64:
      snprintf(nums[i], NUMBUF, "%lld", (long long)p[i].i);
      values[i] = nums[i];
      break;
    case ST_P_F64:
      snprintf(nums[i], NUMBUF, "%.17g", p[i].f);
      values[i] = nums[i];
      break;
    case ST_P_TEXT:
      values[i] = p[i].s;
      break;
    }
  }
  PGresult *r = PQexecParams(c, sql, (int)n, NULL, values, NULL, NULL, 0);
  free(values);
  free(nums);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    set_error(db, PQresultErrorMessage(r));
    PQclear(r);
    check_connection(db);
    return FARM_EIO;
  }
  int ret = 0;
  if (fn && st == PGRES_TUPLES_OK) {
    int rows = PQntuples(r), ncol = PQnfields(r);
    const char *cols[64];
    if (ncol > 64)
      ncol = 64;
    for (int i = 0; i < rows && !ret; i++) {
      for (int k = 0; k < ncol; k++)
        cols[k] = PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k);
      ret = fn(ud, ncol, cols);
    }
  }
  PQclear(r);
  return ret;
}

static int pg_script(struct st_db *db, const char *sql)
{
  PGconn *c = db->impl;
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  int rc = 0;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    set_error(db, PQresultErrorMessage(r));
    rc = FARM_EIO;
  }
  PQclear(r);
  if (rc)
    check_connection(db);
  return rc;
}

static void pg_close(struct st_db *db)
{
  if (db->impl)
    PQfinish(db->impl);
  db->impl = NULL;
}

static const struct st_db_ops pg_ops = {pg_exec, pg_script, pg_close};

static void notice_sink(void *arg, const char *msg)
{
  /* "relation already exists, skipping" and the like: debug only. */
  struct st_db *db = arg;
  fd_log(db->log, FD_LOG_DEBUG, "db: %.*s", (int)strcspn(msg, "\n"), msg);
}

int st__pg_open(struct st_db *db, const char *url)
{
  db->ops = &pg_ops;
  PGconn *c = PQconnectdb(url);
  db->impl = c;
  if (!c) {
    snprintf(db->error, sizeof db->error, "out of memory");
    return FARM_ENOMEM;
  }
  if (PQstatus(c) != CONNECTION_OK) {
    /* libpq's messages name host and user, never the password. */
    set_error(db, PQerrorMessage(c));
    return FARM_EIO;
  }
  PQsetNoticeProcessor(c, notice_sink, db);
  return 0;
}
