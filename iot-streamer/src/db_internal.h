/* SPDX-License-Identifier: MIT */
/*
 * What a database backend provides to db.c: a table of operations behind
 * the common struct st_db.
 */
#ifndef ST_DB_INTERNAL_H
#define ST_DB_INTERNAL_H

#include "st/db.h"

struct st_db_ops {
  int (*exec)(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
              st_row_fn fn, void *ud);
  int (*script)(struct st_db *db, const char *sql);
  void (*close)(struct st_db *db);
};

struct st_db {
  const struct st_db_ops *ops;
  enum st_dialect dialect;
  const struct fd_log *log;
  char error[512];
  void *impl; /* backend state */
};

int st__sqlite_open(struct st_db *db, const char *path, bool *recovered);
int st__pg_open(struct st_db *db, const char *url);

#endif /* ST_DB_INTERNAL_H */
