/* SPDX-License-Identifier: MIT */
/*
 * Queries of web-gateway on the shared store: reads of the streamer's
 * tables turned into JSON, and the users, tokens, commands and webhooks
 * tables (schema version 2). Portable SQL only, as in store.c.
 */
#include "st/store_web.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

#define COLS_MAX 24

struct colspec {
  char type;
  char name[32];
};

struct jrows {
  struct colspec c[COLS_MAX];
  int n;
  json_t *arr;
  bool oom;
};

static int parse_cols(const char *cols, struct jrows *jr)
{
  jr->n = 0;
  for (const char *p = cols; *p;) {
    assert(jr->n < COLS_MAX && p[1] == ':');
    struct colspec *c = &jr->c[jr->n++];
    c->type = p[0];
    p += 2;
    size_t len = strcspn(p, ",");
    assert(len > 0 && len < sizeof c->name);
    memcpy(c->name, p, len);
    c->name[len] = '\0';
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

static json_t *col_value(char type, const char *v)
{
  if (!v)
    return json_null();
  switch (type) {
  case 'i':
    return json_integer(strtoll(v, NULL, 10));
  case 'f':
    return json_real(strtod(v, NULL));
  case 'b':
    return json_boolean(st_db_bool(v));
  case 'j': {
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    return j ? j : json_string(v);
  }
  default:
    return json_string(v);
  }
}

static int jrow(void *ud, int ncol, const char *const *col)
{
  struct jrows *jr = ud;
  json_t *o = json_object();
  if (!o) {
    jr->oom = true;
    return 1;
  }
  for (int i = 0; i < jr->n && i < ncol; i++)
    json_object_set_new(o, jr->c[i].name, col_value(jr->c[i].type, col[i]));
  json_array_append_new(jr->arr, o);
  return 0;
}

int st_web_query_json(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
                      const char *cols, json_t **out)
{
  *out = NULL;
  struct jrows jr = {0};
  parse_cols(cols, &jr);
  jr.arr = json_array();
  if (!jr.arr)
    return FARM_ENOMEM;
  int rc = st_db_exec(db, sql, p, n, jrow, &jr);
  if (jr.oom)
    rc = FARM_ENOMEM;
  if (rc != 0) {
    json_decref(jr.arr);
    return rc < 0 ? rc : FARM_EIO;
  }
  *out = jr.arr;
  return 0;
}

/* The first object of a one-row query, or FARM_ENOENT. */
static int query_one(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
                     const char *cols, json_t **out)
{
  json_t *arr;
  *out = NULL;
  int rc = st_web_query_json(db, sql, p, n, cols, &arr);
  if (rc != 0)
    return rc;
  if (json_array_size(arr) == 0) {
    json_decref(arr);
    return FARM_ENOENT;
  }
  *out = json_incref(json_array_get(arr, 0));
  json_decref(arr);
  return 0;
}

static int i64_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  *(int64_t *)ud = col[0] ? strtoll(col[0], NULL, 10) : 0;
  return 0;
}

/* Counts returned rows (of RETURNING), to tell "no such row" apart. */
static int count_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  (void)col;
  (*(int64_t *)ud)++;
  return 0;
}

static int exec_count(struct st_db *db, const char *sql, const struct st_param *p, size_t n,
                      int64_t *rows)
{
  *rows = 0;
  return st_db_exec(db, sql, p, n, count_row, rows);
}

static struct st_param text_or_null(const char *s)
{
  return s ? ST_TEXT(s) : ST_NULLP;
}

/* ------------------------------------------------------------------ */
/* Users and credentials                                              */

int st_web_user_count(struct st_db *db, int64_t *n)
{
  *n = 0;
  return st_db_exec(db, "SELECT count(*) FROM users", NULL, 0, i64_row, n);
}

int st_web_user_add(struct st_db *db, const char *username, const char *role, const char *pw_hash,
                    int64_t now, int64_t *id)
{
  int64_t got = 0;
  struct st_param p[] = {ST_TEXT(username), ST_TEXT(role), ST_TEXT(pw_hash), ST_I64(now)};
  int rc = st_db_exec(db,
                      "INSERT INTO users (username, role, pw_hash, created_ts)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id",
                      p, 4, i64_row, &got);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (got == 0)
    return FARM_EEXIST;
  if (id)
    *id = got;
  return 0;
}

struct user_ctx {
  struct st_web_user *u;
  bool found;
};

static int user_row(void *ud, int ncol, const char *const *col)
{
  struct user_ctx *c = ud;
  if (ncol < 5)
    return 0;
  c->found = true;
  c->u->id = strtoll(col[0] ? col[0] : "0", NULL, 10);
  snprintf(c->u->username, sizeof c->u->username, "%s", col[1] ? col[1] : "");
  snprintf(c->u->role, sizeof c->u->role, "%s", col[2] ? col[2] : "");
  snprintf(c->u->pw_hash, sizeof c->u->pw_hash, "%s", col[3] ? col[3] : "");
  c->u->disabled = st_db_bool(col[4]);
  return 1;
}

int st_web_user_get(struct st_db *db, int64_t id, const char *username, struct st_web_user *out)
{
  memset(out, 0, sizeof *out);
  struct user_ctx c = {out, false};
  struct st_param p = id > 0 ? ST_I64(id) : ST_TEXT(username);
  int rc = st_db_exec(db,
                      id > 0 ? "SELECT id, username, role, pw_hash, disabled FROM users WHERE id = $1"
                             : "SELECT id, username, role, pw_hash, disabled FROM users"
                               " WHERE username = $1",
                      &p, 1, user_row, &c);
  if (rc < 0)
    return rc;
  return c.found ? 0 : FARM_ENOENT;
}

int st_web_users(struct st_db *db, json_t **out)
{
  return st_web_query_json(db,
                           "SELECT id, username, role, created_ts, disabled FROM users ORDER BY id",
                           NULL, 0, "i:id,s:username,s:role,i:created_ts,b:disabled", out);
}

int st_web_user_update(struct st_db *db, int64_t id, const char *role, const char *pw_hash,
                       int disabled)
{
  struct st_param p[] = {ST_I64(id), text_or_null(role), text_or_null(pw_hash),
                         disabled < 0 ? ST_NULLP : ST_I64(disabled)};
  int64_t rows;
  int rc = exec_count(db,
                      "UPDATE users SET role = COALESCE($2, role), pw_hash = COALESCE($3, pw_hash),"
                      " disabled = COALESCE($4, disabled) WHERE id = $1 RETURNING id",
                      p, 4, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (rows == 0)
    return FARM_ENOENT;
  if (pw_hash || disabled == 1) {
    /* A new password or a disabled account ends the sessions in use. */
    rc = st_db_exec(db, "DELETE FROM tokens WHERE user_id = $1 AND kind = 'session'", p, 1, NULL,
                    NULL);
  }
  return rc;
}

int st_web_user_delete(struct st_db *db, int64_t id)
{
  struct st_param p = ST_I64(id);
  int64_t rows;
  int rc = st_db_begin(db);
  if (rc == 0)
    rc = exec_count(db, "DELETE FROM users WHERE id = $1 RETURNING id", &p, 1, &rows);
  if (rc == 0)
    rc = st_db_exec(db, "DELETE FROM tokens WHERE user_id = $1", &p, 1, NULL, NULL);
  if (rc == 0)
    rc = st_db_commit(db);
  if (rc != 0) {
    st_db_rollback(db);
    return rc < 0 ? rc : FARM_EIO;
  }
  return rows ? 0 : FARM_ENOENT;
}

int st_web_other_admins(struct st_db *db, int64_t id, int64_t *n)
{
  struct st_param p = ST_I64(id);
  *n = 0;
  return st_db_exec(db,
                    "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> $1",
                    &p, 1, i64_row, n);
}

int st_web_token_add(struct st_db *db, int64_t user_id, const char *kind, const char *name,
                     const char *hash_hex, const char *csrf, int64_t now, int64_t expires_ts,
                     int64_t *id)
{
  int64_t got = 0;
  struct st_param p[] = {ST_I64(user_id), ST_TEXT(kind),    ST_TEXT(name),
                         ST_TEXT(hash_hex), text_or_null(csrf), ST_I64(now),
                         expires_ts > 0 ? ST_I64(expires_ts) : ST_NULLP};
  int rc = st_db_exec(db,
                      "INSERT INTO tokens (user_id, kind, name, hash, csrf, created_ts, expires_ts)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                      p, 7, i64_row, &got);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (id)
    *id = got;
  return 0;
}

struct auth_ctx {
  struct st_web_auth *a;
  bool found;
};

static int auth_row(void *ud, int ncol, const char *const *col)
{
  struct auth_ctx *c = ud;
  if (ncol < 7)
    return 0;
  c->found = true;
  struct st_web_auth *a = c->a;
  a->token_id = strtoll(col[0] ? col[0] : "0", NULL, 10);
  a->user_id = strtoll(col[1] ? col[1] : "0", NULL, 10);
  snprintf(a->username, sizeof a->username, "%s", col[2] ? col[2] : "");
  snprintf(a->role, sizeof a->role, "%s", col[3] ? col[3] : "");
  snprintf(a->kind, sizeof a->kind, "%s", col[4] ? col[4] : "");
  snprintf(a->csrf, sizeof a->csrf, "%s", col[5] ? col[5] : "");
  a->expires_ts = col[6] ? strtoll(col[6], NULL, 10) : 0;
  return 1;
}

int st_web_token_lookup(struct st_db *db, const char *hash_hex, int64_t now,
                        struct st_web_auth *out)
{
  memset(out, 0, sizeof *out);
  struct auth_ctx c = {out, false};
  struct st_param p[] = {ST_TEXT(hash_hex), ST_I64(now)};
  int rc = st_db_exec(db,
                      "SELECT t.id, u.id, u.username, u.role, t.kind, t.csrf, t.expires_ts"
                      " FROM tokens t JOIN users u ON u.id = t.user_id"
                      " WHERE t.hash = $1 AND NOT u.disabled"
                      " AND (t.expires_ts IS NULL OR t.expires_ts > $2)",
                      p, 2, auth_row, &c);
  if (rc < 0)
    return rc;
  if (!c.found)
    return FARM_ENOENT;
  /* One write a minute per credential at most: reads stay reads. */
  struct st_param q[] = {ST_I64(out->token_id), ST_I64(now), ST_I64(now - 60000)};
  return st_db_exec(db,
                    "UPDATE tokens SET last_used_ts = $2 WHERE id = $1"
                    " AND (last_used_ts IS NULL OR last_used_ts < $3)",
                    q, 3, NULL, NULL);
}

int st_web_tokens(struct st_db *db, int64_t user_id, json_t **out)
{
  struct st_param p = ST_I64(user_id);
  return st_web_query_json(db,
                           "SELECT t.id, t.name, u.username, t.created_ts, t.expires_ts,"
                           " t.last_used_ts FROM tokens t JOIN users u ON u.id = t.user_id"
                           " WHERE t.kind = 'api' AND ($1 = 0 OR t.user_id = $1) ORDER BY t.id",
                           &p, 1, "i:id,s:name,s:user,i:created_ts,i:expires_ts,i:last_used_ts",
                           out);
}

int st_web_token_delete(struct st_db *db, int64_t id, int64_t user_id)
{
  struct st_param p[] = {ST_I64(id), ST_I64(user_id)};
  int64_t rows;
  int rc = exec_count(db,
                      "DELETE FROM tokens WHERE id = $1 AND kind = 'api'"
                      " AND ($2 = 0 OR user_id = $2) RETURNING id",
                      p, 2, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  return rows ? 0 : FARM_ENOENT;
}

int st_web_token_delete_hash(struct st_db *db, const char *hash_hex)
{
  struct st_param p = ST_TEXT(hash_hex);
  return st_db_exec(db, "DELETE FROM tokens WHERE hash = $1", &p, 1, NULL, NULL);
}

int st_web_tokens_purge(struct st_db *db, int64_t now)
{
  struct st_param p = ST_I64(now);
  return st_db_exec(db, "DELETE FROM tokens WHERE expires_ts IS NOT NULL AND expires_ts <= $1",
                    &p, 1, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Sites, devices, series, events, alerts, rules                       */

/* online: said online, and heard within three intervals (architecture §7
 * offline rules use the same multiple by default). */
#define DEVICE_SELECT                                                                            \
  "SELECT d.device, d.site, d.first_seen, d.last_seen,"                                          \
  " CASE WHEN d.online IS NULL THEN NULL"                                                        \
  " WHEN d.online AND d.last_seen >= CAST($1 AS BIGINT) - 3 * COALESCE(d.interval_ms, 60000) THEN 1 ELSE 0 END," \
  " d.interval_ms, d.status, d.status_ts FROM devices d"
#define DEVICE_COLS \
  "s:device,s:site,i:first_seen,i:last_seen,b:online,i:interval_ms,j:status,i:status_ts"

struct latest_ctx {
  json_t *by_device; /* device -> {metric: {ts, value}} */
  bool oom;
};

static int latest_row(void *ud, int ncol, const char *const *col)
{
  struct latest_ctx *c = ud;
  if (ncol < 4 || !col[0] || !col[1] || !col[2] || !col[3])
    return 0;
  json_t *m = json_object_get(c->by_device, col[0]);
  if (!m) {
    m = json_object();
    if (!m || json_object_set_new(c->by_device, col[0], m) != 0) {
      c->oom = true;
      return 1;
    }
  }
  json_t *v = json_pack("{s:I,s:f}", "ts", (json_int_t)strtoll(col[2], NULL, 10), "value",
                        strtod(col[3], NULL));
  if (!v) {
    c->oom = true;
    return 1;
  }
  json_object_set_new(m, col[1], v);
  return 0;
}

/* Adds latest, rssi and firmware to every device object of arr. */
static int decorate_devices(struct st_db *db, json_t *arr, const char *only_device)
{
  struct latest_ctx c = {json_object(), false};
  if (!c.by_device)
    return FARM_ENOMEM;
  struct st_param p = text_or_null(only_device);
  int rc = st_db_exec(db,
                      "SELECT device, metric, ts, value FROM latest"
                      " WHERE CAST($1 AS TEXT) IS NULL OR device = $1 ORDER BY device, metric",
                      &p, 1, latest_row, &c);
  if (c.oom)
    rc = FARM_ENOMEM;
  if (rc != 0) {
    json_decref(c.by_device);
    return rc < 0 ? rc : FARM_EIO;
  }
  size_t i;
  json_t *d;
  json_array_foreach(arr, i, d)
  {
    const char *dev = json_string_value(json_object_get(d, "device"));
    json_t *l = dev ? json_object_get(c.by_device, dev) : NULL;
    json_object_set_new(d, "latest", l ? json_incref(l) : json_object());
    json_t *st = json_object_get(d, "status");
    json_t *rssi = json_is_object(st) ? json_object_get(st, "rssi") : NULL;
    json_t *fw = json_is_object(st) ? json_object_get(st, "fw") : NULL;
    if (!fw && json_is_object(st))
      fw = json_object_get(st, "firmware");
    json_object_set_new(d, "rssi", json_is_integer(rssi) ? json_incref(rssi) : json_null());
    json_object_set_new(d, "firmware", json_is_string(fw) ? json_incref(fw) : json_null());
  }
  json_decref(c.by_device);
  return 0;
}

int st_web_devices(struct st_db *db, const char *site, int64_t now, json_t **out)
{
  struct st_param p[] = {ST_I64(now), text_or_null(site)};
  int rc = st_web_query_json(db, DEVICE_SELECT " WHERE CAST($2 AS TEXT) IS NULL OR d.site = $2 ORDER BY d.site, d.device",
                             p, 2, DEVICE_COLS, out);
  if (rc == 0)
    rc = decorate_devices(db, *out, NULL);
  if (rc != 0) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

int st_web_device(struct st_db *db, const char *device, int64_t now, json_t **out)
{
  struct st_param p[] = {ST_I64(now), ST_TEXT(device)};
  json_t *arr;
  *out = NULL;
  int rc = st_web_query_json(db, DEVICE_SELECT " WHERE d.device = $2", p, 2, DEVICE_COLS, &arr);
  if (rc != 0)
    return rc;
  if (json_array_size(arr) == 0) {
    json_decref(arr);
    return FARM_ENOENT;
  }
  rc = decorate_devices(db, arr, device);
  if (rc == 0)
    *out = json_incref(json_array_get(arr, 0));
  json_decref(arr);
  return rc;
}

struct text_ctx {
  char *buf;
  size_t cap;
  bool found;
};

static int text_row(void *ud, int ncol, const char *const *col)
{
  struct text_ctx *c = ud;
  if (ncol < 1 || !col[0])
    return 0;
  snprintf(c->buf, c->cap, "%s", col[0]);
  c->found = true;
  return 1;
}

int st_web_device_site(struct st_db *db, const char *device, char *site, size_t cap)
{
  struct text_ctx c = {site, cap, false};
  struct st_param p = ST_TEXT(device);
  int rc = st_db_exec(db, "SELECT site FROM devices WHERE device = $1", &p, 1, text_row, &c);
  if (rc < 0)
    return rc;
  return c.found ? 0 : FARM_ENOENT;
}

int st_web_sites(struct st_db *db, int64_t now, json_t **out)
{
  struct st_param p = ST_I64(now);
  json_t *sites, *edges;
  int rc = st_web_query_json(
      db,
      "SELECT d.site, count(*),"
      " sum(CASE WHEN d.online AND d.last_seen >= CAST($1 AS BIGINT) - 3 * COALESCE(d.interval_ms, 60000)"
      " THEN 1 ELSE 0 END), max(d.last_seen) FROM devices d GROUP BY d.site ORDER BY d.site",
      &p, 1, "s:site,i:devices,i:online,i:last_seen", &sites);
  if (rc != 0)
    return rc;
  rc = st_web_query_json(db, "SELECT site, watermark, status, status_ts FROM edges ORDER BY site",
                         NULL, 0, "s:site,i:watermark,j:edge_status,i:edge_status_ts", &edges);
  if (rc != 0) {
    json_decref(sites);
    return rc;
  }
  /* Merge the edges into the sites; a site with an edge but no device yet
   * is listed too. */
  size_t i;
  json_t *e;
  json_array_foreach(edges, i, e)
  {
    const char *name = json_string_value(json_object_get(e, "site"));
    json_t *s = NULL;
    size_t j;
    json_t *cand;
    json_array_foreach(sites, j, cand)
    {
      if (name && strcmp(json_string_value(json_object_get(cand, "site")), name) == 0)
        s = cand;
    }
    if (!s) {
      s = json_pack("{s:s?,s:i,s:i,s:n}", "site", name, "devices", 0, "online", 0, "last_seen");
      if (!s)
        continue;
      json_array_append_new(sites, s);
    }
    json_object_set(s, "watermark", json_object_get(e, "watermark"));
    json_object_set(s, "edge_status", json_object_get(e, "edge_status"));
    json_object_set(s, "edge_status_ts", json_object_get(e, "edge_status_ts"));
  }
  json_decref(edges);
  json_array_foreach(sites, i, e)
  {
    if (!json_object_get(e, "watermark")) {
      json_object_set_new(e, "watermark", json_null());
      json_object_set_new(e, "edge_status", json_null());
      json_object_set_new(e, "edge_status_ts", json_null());
    }
  }
  *out = sites;
  return 0;
}

struct series_ctx {
  json_t *pts;
  size_t max, n;
  bool raw, oom, over;
};

static int series_row(void *ud, int ncol, const char *const *col)
{
  struct series_ctx *c = ud;
  if (++c->n > c->max) {
    c->over = true;
    return 1;
  }
  json_t *pt;
  if (c->raw) {
    if (ncol < 2 || !col[0] || !col[1])
      return 0;
    pt = json_pack("[I,f]", (json_int_t)strtoll(col[0], NULL, 10), strtod(col[1], NULL));
  } else {
    if (ncol < 5 || !col[0] || !col[1] || !col[2] || !col[3] || !col[4])
      return 0;
    double sum = strtod(col[3], NULL);
    long long count = strtoll(col[4], NULL, 10);
    pt = json_pack("[I,f,f,f,I]", (json_int_t)strtoll(col[0], NULL, 10),
                   count ? sum / (double)count : 0.0, strtod(col[1], NULL), strtod(col[2], NULL),
                   (json_int_t)count);
  }
  if (!pt || json_array_append_new(c->pts, pt) != 0) {
    c->oom = true;
    return 1;
  }
  return 0;
}

int st_web_series(struct st_db *db, const char *device, const char *metric, int64_t from,
                  int64_t to, int64_t step, size_t max, json_t **out)
{
  *out = NULL;
  assert(step == 0 || step % 60000 == 0);
  struct series_ctx c = {json_array(), max, 0, step == 0, false, false};
  if (!c.pts)
    return FARM_ENOMEM;
  int rc;
  if (step == 0) {
    struct st_param p[] = {ST_TEXT(device), ST_TEXT(metric), ST_I64(from), ST_I64(to),
                           ST_I64((int64_t)max + 1)};
    rc = st_db_exec(db,
                    "SELECT ts, value FROM readings WHERE device = $1 AND metric = $2"
                    " AND ts >= $3 AND ts < $4 ORDER BY ts LIMIT $5",
                    p, 5, series_row, &c);
  } else {
    /* Every bucket that overlaps [from, to): from goes down to its
     * bucket's start. Buckets of step come from the finest rollup that
     * divides it; integer division on BIGINT floors in both dialects
     * (bucket >= 0). */
    from -= from % step;
    const char *sql = step % 3600000 == 0
                          ? "SELECT (bucket / $5) * $5 AS b, min(min), max(max), sum(sum),"
                            " sum(count) FROM rollup_hour WHERE device = $1 AND metric = $2"
                            " AND bucket >= $3 AND bucket < $4 GROUP BY b ORDER BY b LIMIT $6"
                          : "SELECT (bucket / $5) * $5 AS b, min(min), max(max), sum(sum),"
                            " sum(count) FROM rollup_minute WHERE device = $1 AND metric = $2"
                            " AND bucket >= $3 AND bucket < $4 GROUP BY b ORDER BY b LIMIT $6";
    struct st_param p[] = {ST_TEXT(device), ST_TEXT(metric), ST_I64(from), ST_I64(to),
                           ST_I64(step),    ST_I64((int64_t)max + 1)};
    rc = st_db_exec(db, sql, p, 6, series_row, &c);
  }
  if (c.oom)
    rc = FARM_ENOMEM;
  else if (c.over)
    rc = FARM_ETOOBIG;
  if (rc != 0) {
    json_decref(c.pts);
    return rc < 0 ? rc : FARM_EIO;
  }
  *out = c.pts;
  return 0;
}

int st_web_events(struct st_db *db, const char *site, const char *device, const char *type,
                  int64_t from, int64_t to, int64_t limit, json_t **out)
{
  struct st_param p[] = {text_or_null(site), text_or_null(device), text_or_null(type),
                         ST_I64(from),       ST_I64(to),           ST_I64(limit)};
  return st_web_query_json(db,
                           "SELECT id, site, device, ts, received_ts, type, body FROM events"
                           " WHERE (CAST($1 AS TEXT) IS NULL OR site = $1) AND (CAST($2 AS TEXT) IS NULL OR device = $2)"
                           " AND (CAST($3 AS TEXT) IS NULL OR type = $3) AND ts >= $4 AND ts < $5"
                           " ORDER BY ts DESC, id DESC LIMIT $6",
                           p, 6, "i:id,s:site,s:device,i:ts,i:received_ts,s:type,j:body", out);
}

#define ALERT_SELECT                                                                   \
  "SELECT id, rule_id, site, device, metric, kind, state, opened_ts, ack_ts, ack_by," \
  " resolved_ts, value, message FROM alerts"
#define ALERT_COLS                                                                        \
  "i:id,i:rule_id,s:site,s:device,s:metric,s:kind,s:state,i:opened_ts,i:ack_ts,s:ack_by," \
  "i:resolved_ts,f:value,s:message"

int st_web_alerts(struct st_db *db, const char *state, const char *device, int64_t limit,
                  json_t **out)
{
  bool active = state && strcmp(state, "active") == 0;
  struct st_param p[] = {active ? ST_NULLP : text_or_null(state), ST_I64(active),
                         text_or_null(device), ST_I64(limit)};
  return st_web_query_json(db,
                           ALERT_SELECT " WHERE (CAST($1 AS TEXT) IS NULL OR state = $1)"
                                        " AND ($2 = 0 OR state <> 'resolved')"
                                        " AND (CAST($3 AS TEXT) IS NULL OR device = $3)"
                                        " ORDER BY id DESC LIMIT $4",
                           p, 4, ALERT_COLS, out);
}

int st_web_alert(struct st_db *db, int64_t id, json_t **out)
{
  struct st_param p = ST_I64(id);
  return query_one(db, ALERT_SELECT " WHERE id = $1", &p, 1, ALERT_COLS, out);
}

#define RULE_SELECT \
  "SELECT id, name, kind, site, device, metric, op, threshold, duration_ms, enabled FROM alert_rules"
#define RULE_COLS \
  "i:id,s:name,s:kind,s:site,s:device,s:metric,s:op,f:threshold,i:duration_ms,b:enabled"

int st_web_rules(struct st_db *db, json_t **out)
{
  return st_web_query_json(db, RULE_SELECT " ORDER BY id", NULL, 0, RULE_COLS, out);
}

int st_web_rule(struct st_db *db, int64_t id, json_t **out)
{
  struct st_param p = ST_I64(id);
  return query_one(db, RULE_SELECT " WHERE id = $1", &p, 1, RULE_COLS, out);
}

static void rule_params(const struct st_web_rule *r, struct st_param *p)
{
  p[0] = ST_TEXT(r->name);
  p[1] = ST_TEXT(r->kind);
  p[2] = text_or_null(r->site);
  p[3] = text_or_null(r->device);
  p[4] = text_or_null(r->metric);
  p[5] = text_or_null(r->op);
  p[6] = r->has_threshold ? ST_F64(r->threshold) : ST_NULLP;
  p[7] = ST_I64(r->duration_ms);
  p[8] = ST_I64(r->enabled);
}

int st_web_rule_add(struct st_db *db, const struct st_web_rule *r, int64_t *id)
{
  struct st_param p[9];
  rule_params(r, p);
  int64_t got = 0;
  int rc = st_db_exec(db,
                      "INSERT INTO alert_rules (name, kind, site, device, metric, op, threshold,"
                      " duration_ms, enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                      " RETURNING id",
                      p, 9, i64_row, &got);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (id)
    *id = got;
  return 0;
}

int st_web_rule_update(struct st_db *db, int64_t id, const struct st_web_rule *r)
{
  struct st_param p[10];
  rule_params(r, p);
  p[9] = ST_I64(id);
  int64_t rows;
  int rc = exec_count(db,
                      "UPDATE alert_rules SET name = $1, kind = $2, site = $3, device = $4,"
                      " metric = $5, op = $6, threshold = $7, duration_ms = $8, enabled = $9"
                      " WHERE id = $10 RETURNING id",
                      p, 10, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  return rows ? 0 : FARM_ENOENT;
}

int st_web_rule_delete(struct st_db *db, int64_t id)
{
  struct st_param p = ST_I64(id);
  int64_t rows;
  int rc = exec_count(db, "DELETE FROM alert_rules WHERE id = $1 RETURNING id", &p, 1, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  return rows ? 0 : FARM_ENOENT;
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */

static const char *const cmd_states[] = {"pending", "accepted", "sent",
                                         "executed", "failed",   "expired"};

/* pending 0 < accepted 1 < sent 2 < the final states 3. */
static int state_rank(const char *s)
{
  for (int i = 0; i < 6; i++)
    if (strcmp(s, cmd_states[i]) == 0)
      return i < 3 ? i : 3;
  return -1;
}

bool st_web_command_state_valid(const char *state)
{
  return state && state_rank(state) >= 0;
}

int st_web_command_add(struct st_db *db, const struct st_web_command *c)
{
  struct st_param p[] = {ST_TEXT(c->id),         ST_TEXT(c->site),       ST_TEXT(c->device),
                         ST_TEXT(c->name),       ST_TEXT(c->args_json),  ST_I64(c->created_ts),
                         ST_I64(c->expires_ts),  ST_TEXT(c->created_by)};
  int64_t rows;
  int rc = exec_count(db,
                      "INSERT INTO commands (id, site, device, name, args, state, created_ts,"
                      " expires_ts, updated_ts, created_by)"
                      " VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $6, $8)"
                      " ON CONFLICT (id) DO NOTHING RETURNING id",
                      p, 8, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  return rows ? 0 : FARM_EEXIST;
}

#define CMD_SELECT                                                                        \
  "SELECT id, site, device, name, args, state, error, created_ts, expires_ts, updated_ts," \
  " created_by FROM commands"
#define CMD_COLS                                                                      \
  "s:id,s:site,s:device,s:name,j:args,s:state,s:error,i:created_ts,i:expires_ts," \
  "i:updated_ts,s:created_by"

int st_web_command(struct st_db *db, const char *id, json_t **out)
{
  struct st_param p = ST_TEXT(id);
  return query_one(db, CMD_SELECT " WHERE id = $1", &p, 1, CMD_COLS, out);
}

int st_web_commands(struct st_db *db, const char *device, int64_t limit, json_t **out)
{
  struct st_param p[] = {text_or_null(device), ST_I64(limit)};
  return st_web_query_json(db,
                           CMD_SELECT " WHERE CAST($1 AS TEXT) IS NULL OR device = $1"
                                      " ORDER BY created_ts DESC, id LIMIT $2",
                           p, 2, CMD_COLS, out);
}

int st_web_command_update(struct st_db *db, const char *id, const char *device,
                          const char *state, const char *error, int64_t now, bool *changed)
{
  *changed = false;
  int rank = state_rank(state);
  if (rank < 0)
    return FARM_EINVAL;
  /* The rank of the stored state, computed in SQL so the check and the
   * update are one statement (two programs may race on one ack). */
  struct st_param p[] = {ST_TEXT(id),          ST_TEXT(device), ST_TEXT(state),
                         text_or_null(error), ST_I64(now),     ST_I64(rank)};
  int64_t rows;
  int rc = exec_count(db,
                      "UPDATE commands SET state = $3, error = $4, updated_ts = $5"
                      " WHERE id = $1 AND device = $2 AND $6 >"
                      " CASE state WHEN 'pending' THEN 0 WHEN 'accepted' THEN 1"
                      " WHEN 'sent' THEN 2 ELSE 3 END RETURNING id",
                      p, 6, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (rows) {
    *changed = true;
    return 0;
  }
  char site[80];
  struct text_ctx c = {site, sizeof site, false};
  rc = st_db_exec(db, "SELECT site FROM commands WHERE id = $1 AND device = $2", p, 2, text_row,
                  &c);
  if (rc < 0)
    return rc;
  return c.found ? 0 : FARM_ENOENT;
}

int st_web_commands_expire(struct st_db *db, int64_t now, json_t **out)
{
  struct st_param p = ST_I64(now);
  json_t *ids;
  int rc = st_web_query_json(db,
                             "UPDATE commands SET state = 'expired',"
                             " error = 'no answer from the edge before expiry', updated_ts = $1"
                             " WHERE state = 'pending' AND expires_ts < $1"
                             " RETURNING id, site, device",
                             &p, 1, "s:id,s:site,s:device", &ids);
  if (rc != 0)
    return rc;
  if (out)
    *out = ids;
  else
    json_decref(ids);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Webhooks                                                           */

#define HOOK_COLS "i:id,s:url,s:events,s:site,s:device,s:metric,b:enabled,i:created_ts"

int st_web_hooks(struct st_db *db, json_t **out)
{
  return st_web_query_json(db,
                           "SELECT id, url, events, site, device, metric, enabled, created_ts"
                           " FROM webhooks ORDER BY id",
                           NULL, 0, HOOK_COLS, out);
}

int st_web_hook(struct st_db *db, int64_t id, bool with_secret, json_t **out)
{
  struct st_param p = ST_I64(id);
  return query_one(db,
                   with_secret ? "SELECT id, url, events, site, device, metric, enabled,"
                                 " created_ts, secret FROM webhooks WHERE id = $1"
                               : "SELECT id, url, events, site, device, metric, enabled,"
                                 " created_ts FROM webhooks WHERE id = $1",
                   &p, 1, with_secret ? HOOK_COLS ",s:secret" : HOOK_COLS, out);
}

int st_web_hook_add(struct st_db *db, const struct st_web_hook *h, int64_t now, int64_t *id)
{
  struct st_param p[] = {ST_TEXT(h->url),        ST_TEXT(h->secret),     ST_TEXT(h->events),
                         text_or_null(h->site),  text_or_null(h->device), text_or_null(h->metric),
                         ST_I64(h->enabled),     ST_I64(now)};
  int64_t got = 0;
  int rc = st_db_exec(db,
                      "INSERT INTO webhooks (url, secret, events, site, device, metric, enabled,"
                      " created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                      p, 8, i64_row, &got);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (id)
    *id = got;
  return 0;
}

int st_web_hook_update(struct st_db *db, int64_t id, const struct st_web_hook *h)
{
  struct st_param p[] = {ST_TEXT(h->url),       text_or_null(h->secret), ST_TEXT(h->events),
                         text_or_null(h->site), text_or_null(h->device), text_or_null(h->metric),
                         ST_I64(h->enabled),    ST_I64(id)};
  int64_t rows;
  int rc = exec_count(db,
                      "UPDATE webhooks SET url = $1, secret = COALESCE($2, secret), events = $3,"
                      " site = $4, device = $5, metric = $6, enabled = $7 WHERE id = $8"
                      " RETURNING id",
                      p, 8, &rows);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  return rows ? 0 : FARM_ENOENT;
}

int st_web_hook_delete(struct st_db *db, int64_t id)
{
  struct st_param p = ST_I64(id);
  int64_t rows = 0;
  int rc = st_db_begin(db);
  if (rc == 0)
    rc = exec_count(db, "DELETE FROM webhooks WHERE id = $1 RETURNING id", &p, 1, &rows);
  if (rc == 0)
    rc = st_db_exec(db, "DELETE FROM webhook_deliveries WHERE webhook_id = $1", &p, 1, NULL,
                    NULL);
  if (rc == 0)
    rc = st_db_commit(db);
  if (rc != 0) {
    st_db_rollback(db);
    return rc < 0 ? rc : FARM_EIO;
  }
  return rows ? 0 : FARM_ENOENT;
}

int st_web_delivery_add(struct st_db *db, int64_t hook_id, const char *event,
                        const char *payload, int64_t now, int64_t *id)
{
  struct st_param p[] = {ST_I64(hook_id), ST_TEXT(event), ST_TEXT(payload), ST_I64(now)};
  int64_t got = 0;
  int rc = st_db_exec(db,
                      "INSERT INTO webhook_deliveries (webhook_id, event, payload, state,"
                      " created_ts, next_ts) VALUES ($1, $2, $3, 'pending', $4, $4) RETURNING id",
                      p, 4, i64_row, &got);
  if (rc != 0)
    return rc < 0 ? rc : FARM_EIO;
  if (id)
    *id = got;
  return 0;
}

int st_web_deliveries_due(struct st_db *db, int64_t now, int64_t limit, json_t **out)
{
  struct st_param p[] = {ST_I64(now), ST_I64(limit)};
  return st_web_query_json(db,
                           "SELECT d.id, d.webhook_id, d.event, d.payload, d.attempts, w.url,"
                           " w.secret FROM webhook_deliveries d"
                           " JOIN webhooks w ON w.id = d.webhook_id"
                           " WHERE d.state = 'pending' AND d.next_ts <= $1"
                           " ORDER BY d.next_ts, d.id LIMIT $2",
                           p, 2, "i:id,i:webhook_id,s:event,s:payload,i:attempts,s:url,s:secret",
                           out);
}

int st_web_delivery_result(struct st_db *db, int64_t id, const char *state, int attempts,
                           int http_status, const char *error, int64_t next_ts, int64_t now)
{
  bool done = strcmp(state, "pending") != 0;
  struct st_param p[] = {ST_I64(id),
                         ST_TEXT(state),
                         ST_I64(attempts),
                         http_status > 0 ? ST_I64(http_status) : ST_NULLP,
                         text_or_null(error),
                         ST_I64(next_ts),
                         done ? ST_I64(now) : ST_NULLP};
  return st_db_exec(db,
                    "UPDATE webhook_deliveries SET state = $2, attempts = $3, http_status = $4,"
                    " error = $5, next_ts = $6, done_ts = $7 WHERE id = $1",
                    p, 7, NULL, NULL);
}

int st_web_deliveries(struct st_db *db, int64_t hook_id, int64_t limit, json_t **out)
{
  struct st_param p[] = {ST_I64(hook_id), ST_I64(limit)};
  return st_web_query_json(db,
                           "SELECT id, event, state, attempts, http_status, error, created_ts,"
                           " next_ts, done_ts, payload FROM webhook_deliveries"
                           " WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
                           p, 2,
                           "i:id,s:event,s:state,i:attempts,i:http_status,s:error,i:created_ts,"
                           "i:next_ts,i:done_ts,j:payload",
                           out);
}

int st_web_deliveries_purge(struct st_db *db, int64_t before)
{
  struct st_param p = ST_I64(before);
  return st_db_exec(db,
                    "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_ts < $1",
                    &p, 1, NULL, NULL);
}
