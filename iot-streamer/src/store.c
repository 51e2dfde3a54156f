/* SPDX-License-Identifier: MIT */
/*
 * Schema and queries of the streamer's store, shared by both backends.
 * Portable SQL only: ON CONFLICT upserts, RETURNING, CASE instead of
 * LEAST/GREATEST (SQLite has neither), $N parameters.
 */
#include "st/store.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

/* @ID@ becomes each backend's auto-increment primary key. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS readings ("
    " site TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL,"
    " ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,"
    " boot BIGINT NOT NULL, seq BIGINT NOT NULL, edge_seq BIGINT NOT NULL,"
    " hist BOOLEAN NOT NULL, synthetic BOOLEAN NOT NULL, received_ts BIGINT NOT NULL,"
    " grp TEXT NOT NULL, up_ms BIGINT, rx_ts BIGINT, rssi INTEGER,"
    " PRIMARY KEY (device, boot, seq, metric));"
    "CREATE INDEX IF NOT EXISTS readings_series ON readings (device, metric, ts);"
    "CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts);"
    "CREATE TABLE IF NOT EXISTS rollup_minute ("
    " device TEXT NOT NULL, metric TEXT NOT NULL, bucket BIGINT NOT NULL, site TEXT NOT NULL,"
    " min DOUBLE PRECISION NOT NULL, max DOUBLE PRECISION NOT NULL,"
    " sum DOUBLE PRECISION NOT NULL, count BIGINT NOT NULL,"
    " PRIMARY KEY (device, metric, bucket));"
    "CREATE TABLE IF NOT EXISTS rollup_hour ("
    " device TEXT NOT NULL, metric TEXT NOT NULL, bucket BIGINT NOT NULL, site TEXT NOT NULL,"
    " min DOUBLE PRECISION NOT NULL, max DOUBLE PRECISION NOT NULL,"
    " sum DOUBLE PRECISION NOT NULL, count BIGINT NOT NULL,"
    " PRIMARY KEY (device, metric, bucket));"
    "CREATE INDEX IF NOT EXISTS rollup_minute_bucket ON rollup_minute (bucket);"
    "CREATE INDEX IF NOT EXISTS rollup_hour_bucket ON rollup_hour (bucket);"
    "CREATE TABLE IF NOT EXISTS latest ("
    " device TEXT NOT NULL, metric TEXT NOT NULL, site TEXT NOT NULL,"
    " ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (device, metric));"
    "CREATE TABLE IF NOT EXISTS devices ("
    " device TEXT PRIMARY KEY, site TEXT NOT NULL,"
    " first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
    " online BOOLEAN, interval_ms BIGINT, status TEXT, status_ts BIGINT);"
    "CREATE TABLE IF NOT EXISTS events ("
    " id @ID@, site TEXT NOT NULL, device TEXT NOT NULL, ts BIGINT NOT NULL,"
    " received_ts BIGINT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_device_ts ON events (device, ts);"
    "CREATE TABLE IF NOT EXISTS edges ("
    " site TEXT PRIMARY KEY, watermark BIGINT NOT NULL, status TEXT, status_ts BIGINT);"
    "CREATE TABLE IF NOT EXISTS edge_seqs ("
    " site TEXT NOT NULL, edge_seq BIGINT NOT NULL, PRIMARY KEY (site, edge_seq));"
    "CREATE TABLE IF NOT EXISTS alert_rules ("
    " id @ID@, name TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('threshold', 'offline', 'flatline', 'rate')),"
    " site TEXT, device TEXT, metric TEXT,"
    " op TEXT CHECK (op IS NULL OR op IN ('>', '>=', '<', '<=')),"
    " threshold DOUBLE PRECISION, duration_ms BIGINT NOT NULL DEFAULT 0,"
    " enabled BOOLEAN NOT NULL DEFAULT TRUE);"
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id @ID@, rule_id BIGINT NOT NULL, site TEXT NOT NULL, device TEXT NOT NULL,"
    " metric TEXT, kind TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),"
    " opened_ts BIGINT NOT NULL, ack_ts BIGINT, ack_by TEXT, resolved_ts BIGINT,"
    " value DOUBLE PRECISION, message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state);"
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);";

/* Version 2: what web-gateway keeps (docs/storage.md): users and their
 * credentials, commands and their lifecycle, webhooks and their deliveries.
 * Only additions, so a version-1 database migrates in place. */
static const char schema_v2[] =
    "CREATE TABLE IF NOT EXISTS users ("
    " id @ID@, username TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),"
    " pw_hash TEXT NOT NULL, created_ts BIGINT NOT NULL,"
    " disabled BOOLEAN NOT NULL DEFAULT FALSE);"
    "CREATE TABLE IF NOT EXISTS tokens ("
    " id @ID@, user_id BIGINT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('api', 'session')),"
    " name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, csrf TEXT,"
    " created_ts BIGINT NOT NULL, expires_ts BIGINT, last_used_ts BIGINT);"
    "CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id);"
    "CREATE TABLE IF NOT EXISTS commands ("
    " id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, name TEXT NOT NULL,"
    " args TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'sent', 'executed',"
    " 'failed', 'expired')),"
    " error TEXT, created_ts BIGINT NOT NULL, expires_ts BIGINT NOT NULL,"
    " updated_ts BIGINT NOT NULL, created_by TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS commands_device ON commands (device, created_ts);"
    "CREATE TABLE IF NOT EXISTS webhooks ("
    " id @ID@, url TEXT NOT NULL, secret TEXT NOT NULL, events TEXT NOT NULL,"
    " site TEXT, device TEXT, metric TEXT, enabled BOOLEAN NOT NULL DEFAULT TRUE,"
    " created_ts BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS webhook_deliveries ("
    " id @ID@, webhook_id BIGINT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0, http_status INTEGER, error TEXT,"
    " created_ts BIGINT NOT NULL, next_ts BIGINT NOT NULL, done_ts BIGINT);"
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);"
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_ts);";

/* migrations[v - 1] brings a database to version v. */
static const char *const migrations[] = {schema, schema_v2};
_Static_assert(sizeof migrations / sizeof migrations[0] == ST_SCHEMA_VERSION,
               "one migration per schema version");

/* A growable string for building multi-row statements. */
struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
  if (b->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = true;
      return;
    }
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t ncap = b->cap ? b->cap * 2 : 1024;
    while (ncap < b->len + (size_t)n + 1)
      ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
}

/* Appends ",$n" (or "$n" when first): the hot path of statement building. */
static void sb_param(struct sbuf *b, bool first, size_t n)
{
  char tmp[24];
  size_t k = sizeof tmp;
  do {
    tmp[--k] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  tmp[--k] = '$';
  if (!first)
    tmp[--k] = ',';
  size_t len = sizeof tmp - k;
  if (b->oom)
    return;
  if (b->len + len + 1 > b->cap) {
    sb_add(b, "%.*s", (int)len, tmp + k);
    return;
  }
  memcpy(b->p + b->len, tmp + k, len);
  b->len += len;
  b->p[b->len] = '\0';
}

static void sb_reset(struct sbuf *b)
{
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
}

static int schema_version_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  *(long *)ud = col[0] ? atol(col[0]) : 0;
  return 0;
}

/* Appends sql with @ID@ replaced by the backend's auto-increment key. */
static void add_with_ids(struct sbuf *b, const char *sql, const char *id)
{
  for (const char *p = sql; *p;) {
    const char *at = strstr(p, "@ID@");
    if (!at) {
      sb_add(b, "%s", p);
      break;
    }
    sb_add(b, "%.*s%s", (int)(at - p), p, id);
    p = at + 4;
  }
}

int st_store_init(struct st_db *db)
{
  bool pg = st_db_dialect(db) == ST_POSTGRES;
  const char *id = pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
  /* Two programs starting together must not race on CREATE TABLE or on a
   * migration: one transaction under a lock (PostgreSQL's advisory lock,
   * SQLite's write lock), which reads the version, migrates and records
   * the new version. The version table itself comes first. */
  int rc = st_db_script(db, pg ? "BEGIN; SELECT pg_advisory_xact_lock(7345019);"
                                 "CREATE TABLE IF NOT EXISTS schema_version"
                                 " (version INTEGER NOT NULL);"
                               : "BEGIN IMMEDIATE;"
                                 "CREATE TABLE IF NOT EXISTS schema_version"
                                 " (version INTEGER NOT NULL);");
  long version = -1;
  if (rc == 0)
    rc = st_db_exec(db, "SELECT max(version) FROM schema_version", NULL, 0, schema_version_row,
                    &version);
  if (rc == 0 && version > ST_SCHEMA_VERSION) {
    /* A newer program migrated this database: refuse rather than guess. */
    st_db_rollback(db);
    return FARM_EUNSUPPORTED;
  }
  struct sbuf b = {0};
  for (long v = version < 0 ? 0 : version; rc == 0 && v < ST_SCHEMA_VERSION; v++)
    add_with_ids(&b, migrations[v], id);
  if (rc == 0 && b.oom)
    rc = FARM_ENOMEM;
  if (rc == 0 && b.len)
    rc = st_db_script(db, b.p);
  free(b.p);
  if (rc == 0 && version < ST_SCHEMA_VERSION)
    rc = st_db_exec(db, "INSERT INTO schema_version (version) VALUES ($1)",
                    (struct st_param[]){ST_I64(ST_SCHEMA_VERSION)}, 1, NULL, NULL);
  if (rc == 0)
    rc = st_db_commit(db);
  if (rc != 0) {
    st_db_rollback(db);
    return rc < 0 ? rc : FARM_EIO;
  }
  return 0;
}

/* Rows per statement: 15 parameters each stays far below SQLite's 32766
 * and PostgreSQL's 65535 parameter limits. */
#define CHUNK_ROWS 400

static int insert_edge_seqs(struct st_db *db, const struct st_edge_seq *seqs, size_t n)
{
  struct sbuf b = {0};
  struct st_param *p = malloc(2 * CHUNK_ROWS * sizeof *p);
  int rc = p ? 0 : FARM_ENOMEM;
  for (size_t off = 0; off < n && rc == 0; off += CHUNK_ROWS) {
    size_t k = n - off < CHUNK_ROWS ? n - off : CHUNK_ROWS;
    sb_reset(&b);
    sb_add(&b, "INSERT INTO edge_seqs (site, edge_seq) VALUES ");
    for (size_t i = 0; i < k; i++) {
      sb_add(&b, "%s($%zu,$%zu)", i ? "," : "", 2 * i + 1, 2 * i + 2);
      p[2 * i] = ST_TEXT(seqs[off + i].site);
      p[2 * i + 1] = ST_I64(seqs[off + i].edge_seq);
    }
    sb_add(&b, " ON CONFLICT (site, edge_seq) DO NOTHING");
    rc = b.oom ? FARM_ENOMEM : st_db_exec(db, b.p, p, 2 * k, NULL, NULL);
  }
  /* The watermark row of each site, so advancing it is a plain UPDATE. */
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (i > 0 && strcmp(seqs[i].site, seqs[i - 1].site) == 0)
      continue;
    struct st_param s = ST_TEXT(seqs[i].site);
    rc = st_db_exec(db,
                    "INSERT INTO edges (site, watermark) VALUES ($1, 0)"
                    " ON CONFLICT (site) DO NOTHING",
                    &s, 1, NULL, NULL);
  }
  free(p);
  free(b.p);
  return rc;
}

/* Order of the batch by primary key, to find the rows RETURNING names. */
static int cmp_key(const void *a, const void *b)
{
  const struct st_reading *x = *(struct st_reading *const *)a, *y = *(struct st_reading *const *)b;
  int c = strcmp(x->device, y->device);
  if (c)
    return c;
  if (x->boot != y->boot)
    return x->boot < y->boot ? -1 : 1;
  if (x->seq != y->seq)
    return x->seq < y->seq ? -1 : 1;
  return strcmp(x->metric, y->metric);
}

struct mark_ctx {
  struct st_reading **sorted;
  size_t n;
};

static int mark_row(void *ud, int ncol, const char *const *col)
{
  struct mark_ctx *m = ud;
  if (ncol < 4 || !col[0] || !col[1] || !col[2] || !col[3])
    return 0;
  struct st_reading key;
  snprintf(key.device, sizeof key.device, "%s", col[0]);
  key.boot = strtoll(col[1], NULL, 10);
  key.seq = strtoll(col[2], NULL, 10);
  snprintf(key.metric, sizeof key.metric, "%s", col[3]);
  struct st_reading *kp = &key;
  struct st_reading **hit = bsearch(&kp, m->sorted, m->n, sizeof *m->sorted, cmp_key);
  if (!hit)
    return 0;
  /* Equal keys inside one batch: the first unmarked one was the insert. */
  while (hit > m->sorted && cmp_key(hit - 1, &kp) == 0)
    hit--;
  for (; hit < m->sorted + m->n && cmp_key(hit, &kp) == 0; hit++) {
    if (!(*hit)->inserted) {
      (*hit)->inserted = true;
      break;
    }
  }
  return 0;
}

static int insert_readings(struct st_db *db, struct st_reading *rows, size_t n,
                           struct st_reading **sorted)
{
  struct mark_ctx mc = {sorted, n};
  struct sbuf b = {0};
  enum { NCOL = 15 };
  struct st_param *p = malloc(NCOL * CHUNK_ROWS * sizeof *p);
  int rc = p ? 0 : FARM_ENOMEM;
  for (size_t off = 0; off < n && rc == 0; off += CHUNK_ROWS) {
    size_t k = n - off < CHUNK_ROWS ? n - off : CHUNK_ROWS;
    sb_reset(&b);
    sb_add(&b, "INSERT INTO readings (site, device, metric, ts, value, boot, seq, edge_seq,"
               " hist, synthetic, received_ts, grp, up_ms, rx_ts, rssi) VALUES ");
    for (size_t i = 0; i < k; i++) {
      const struct st_reading *r = &rows[off + i];
      sb_add(&b, "%s(", i ? "," : "");
      for (size_t c = 0; c < NCOL; c++)
        sb_param(&b, c == 0, i * NCOL + c + 1);
      sb_add(&b, ")");
      struct st_param *q = &p[i * NCOL];
      q[0] = ST_TEXT(r->site);
      q[1] = ST_TEXT(r->device);
      q[2] = ST_TEXT(r->metric);
      q[3] = ST_I64(r->ts);
      q[4] = ST_F64(r->value);
      q[5] = ST_I64(r->boot);
      q[6] = ST_I64(r->seq);
      q[7] = ST_I64(r->edge_seq);
      /* Booleans as 1/0: PostgreSQL casts the text to the column type. */
      q[8] = ST_I64(r->hist);
      q[9] = ST_I64(r->synthetic);
      q[10] = ST_I64(r->received_ts);
      q[11] = ST_TEXT(r->group);
      q[12] = r->up_ms >= 0 ? ST_I64(r->up_ms) : ST_NULLP;
      q[13] = r->rx_ts >= 0 ? ST_I64(r->rx_ts) : ST_NULLP;
      q[14] = r->has_rssi ? ST_I64(r->rssi) : ST_NULLP;
    }
    sb_add(&b, " ON CONFLICT (device, boot, seq, metric) DO NOTHING"
               " RETURNING device, boot, seq, metric");
    rc = b.oom ? FARM_ENOMEM : st_db_exec(db, b.p, p, NCOL * k, mark_row, &mc);
  }
  free(p);
  free(b.p);
  return rc;
}

/* Order of inserted rows by series and time, for rollups and latest. */
static int cmp_series(const void *a, const void *b)
{
  const struct st_reading *x = *(struct st_reading *const *)a, *y = *(struct st_reading *const *)b;
  int c = strcmp(x->device, y->device);
  if (c)
    return c;
  c = strcmp(x->metric, y->metric);
  if (c)
    return c;
  return x->ts < y->ts ? -1 : x->ts > y->ts;
}

struct agg {
  const struct st_reading *r; /* device, metric, site */
  int64_t bucket;
  double min, max, sum;
  int64_t count;
};

/* floor(ts / width) * width, also for the (rejected anyway) negative ts. */
static int64_t bucket_of(int64_t ts, int64_t width)
{
  int64_t q = ts / width;
  if (ts % width < 0)
    q--;
  return q * width;
}

static int upsert_rollup(struct st_db *db, const char *table, int64_t width,
                         struct st_reading **ins, size_t n)
{
  struct agg *a = malloc(n * sizeof *a);
  if (!a)
    return FARM_ENOMEM;
  size_t na = 0;
  for (size_t i = 0; i < n; i++) {
    const struct st_reading *r = ins[i];
    int64_t bk = bucket_of(r->ts, width);
    struct agg *last = na ? &a[na - 1] : NULL;
    if (last && last->bucket == bk && strcmp(last->r->device, r->device) == 0 &&
        strcmp(last->r->metric, r->metric) == 0) {
      if (r->value < last->min)
        last->min = r->value;
      if (r->value > last->max)
        last->max = r->value;
      last->sum += r->value;
      last->count++;
      continue;
    }
    a[na++] = (struct agg){r, bk, r->value, r->value, r->value, 1};
  }
  struct sbuf b = {0};
  enum { NCOL = 8 };
  struct st_param *p = malloc(NCOL * CHUNK_ROWS * sizeof *p);
  int rc = p ? 0 : FARM_ENOMEM;
  for (size_t off = 0; off < na && rc == 0; off += CHUNK_ROWS) {
    size_t k = na - off < CHUNK_ROWS ? na - off : CHUNK_ROWS;
    sb_reset(&b);
    sb_add(&b, "INSERT INTO %s (device, metric, bucket, site, min, max, sum, count) VALUES ",
           table);
    for (size_t i = 0; i < k; i++) {
      const struct agg *g = &a[off + i];
      sb_add(&b, "%s(", i ? "," : "");
      for (size_t c = 0; c < NCOL; c++)
        sb_param(&b, c == 0, i * NCOL + c + 1);
      sb_add(&b, ")");
      struct st_param *q = &p[i * NCOL];
      q[0] = ST_TEXT(g->r->device);
      q[1] = ST_TEXT(g->r->metric);
      q[2] = ST_I64(g->bucket);
      q[3] = ST_TEXT(g->r->site);
      q[4] = ST_F64(g->min);
      q[5] = ST_F64(g->max);
      q[6] = ST_F64(g->sum);
      q[7] = ST_I64(g->count);
    }
    sb_add(&b,
           " ON CONFLICT (device, metric, bucket) DO UPDATE SET"
           " min = CASE WHEN excluded.min < %1$s.min THEN excluded.min ELSE %1$s.min END,"
           " max = CASE WHEN excluded.max > %1$s.max THEN excluded.max ELSE %1$s.max END,"
           " sum = %1$s.sum + excluded.sum, count = %1$s.count + excluded.count",
           table);
    rc = b.oom ? FARM_ENOMEM : st_db_exec(db, b.p, p, NCOL * k, NULL, NULL);
  }
  free(p);
  free(b.p);
  free(a);
  return rc;
}

/* Latest value per series and last_seen per device, from the sorted rows:
 * one multi-row upsert each (keys are unique within a statement, as
 * PostgreSQL requires for DO UPDATE). */
static int upsert_latest_and_devices(struct st_db *db, struct st_reading **ins, size_t n)
{
  struct sbuf b = {0};
  struct st_param *p = malloc(5 * CHUNK_ROWS * sizeof *p);
  int rc = p ? 0 : FARM_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const struct st_reading *r = ins[i];
    bool last_of_series = i + 1 == n || strcmp(ins[i + 1]->device, r->device) != 0 ||
                          strcmp(ins[i + 1]->metric, r->metric) != 0;
    if (last_of_series) {
      if (k == 0) {
        sb_reset(&b);
        sb_add(&b, "INSERT INTO latest (device, metric, site, ts, value) VALUES ");
      }
      sb_add(&b, "%s(", k ? "," : "");
      for (size_t c = 0; c < 5; c++)
        sb_param(&b, c == 0, k * 5 + c + 1);
      sb_add(&b, ")");
      p[k * 5] = ST_TEXT(r->device);
      p[k * 5 + 1] = ST_TEXT(r->metric);
      p[k * 5 + 2] = ST_TEXT(r->site);
      p[k * 5 + 3] = ST_I64(r->ts);
      p[k * 5 + 4] = ST_F64(r->value);
      k++;
    }
    if (k && (k == CHUNK_ROWS || i + 1 == n)) {
      sb_add(&b, " ON CONFLICT (device, metric) DO UPDATE SET"
                 " site = excluded.site, ts = excluded.ts, value = excluded.value"
                 " WHERE excluded.ts >= latest.ts");
      rc = b.oom ? FARM_ENOMEM : st_db_exec(db, b.p, p, 5 * k, NULL, NULL);
      k = 0;
    }
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    const struct st_reading *r = ins[i];
    bool last_of_device = i + 1 == n || strcmp(ins[i + 1]->device, r->device) != 0;
    if (last_of_device) {
      int64_t seen = 0;
      for (size_t j = i + 1; j-- > 0 && strcmp(ins[j]->device, r->device) == 0;)
        if (ins[j]->received_ts > seen)
          seen = ins[j]->received_ts;
      if (k == 0) {
        sb_reset(&b);
        sb_add(&b, "INSERT INTO devices (device, site, first_seen, last_seen) VALUES ");
      }
      sb_add(&b, "%s(", k ? "," : "");
      sb_param(&b, true, k * 3 + 1);
      sb_param(&b, false, k * 3 + 2);
      sb_param(&b, false, k * 3 + 3);
      sb_param(&b, false, k * 3 + 3);
      sb_add(&b, ")");
      p[k * 3] = ST_TEXT(r->device);
      p[k * 3 + 1] = ST_TEXT(r->site);
      p[k * 3 + 2] = ST_I64(seen);
      k++;
    }
    if (k && (k == CHUNK_ROWS || i + 1 == n)) {
      sb_add(&b, " ON CONFLICT (device) DO UPDATE SET site = excluded.site,"
                 " last_seen = CASE WHEN excluded.last_seen > devices.last_seen"
                 " THEN excluded.last_seen ELSE devices.last_seen END");
      rc = b.oom ? FARM_ENOMEM : st_db_exec(db, b.p, p, 3 * k, NULL, NULL);
      k = 0;
    }
  }
  free(p);
  free(b.p);
  return rc;
}

int st_store_write_batch(struct st_db *db, struct st_reading *rows, size_t n,
                         const struct st_edge_seq *seqs, size_t nseqs)
{
  for (size_t i = 0; i < n; i++)
    rows[i].inserted = false;
  struct st_reading **sorted = n ? malloc(n * sizeof *sorted) : NULL;
  if (n && !sorted)
    return FARM_ENOMEM;
  for (size_t i = 0; i < n; i++)
    sorted[i] = &rows[i];
  if (n)
    qsort(sorted, n, sizeof *sorted, cmp_key);

  int rc = st_db_begin(db);
  if (rc == 0 && nseqs)
    rc = insert_edge_seqs(db, seqs, nseqs);
  if (rc == 0 && n)
    rc = insert_readings(db, rows, n, sorted);
  size_t ni = 0;
  if (rc == 0) {
    for (size_t i = 0; i < n; i++)
      if (rows[i].inserted)
        sorted[ni++] = &rows[i];
    if (ni)
      qsort(sorted, ni, sizeof *sorted, cmp_series);
  }
  if (rc == 0 && ni)
    rc = upsert_rollup(db, "rollup_minute", 60000, sorted, ni);
  if (rc == 0 && ni)
    rc = upsert_rollup(db, "rollup_hour", 3600000, sorted, ni);
  if (rc == 0 && ni)
    rc = upsert_latest_and_devices(db, sorted, ni);
  if (rc == 0)
    rc = st_db_commit(db);
  free(sorted);
  if (rc != 0) {
    st_db_rollback(db);
    for (size_t i = 0; i < n; i++)
      rows[i].inserted = false;
    return rc < 0 ? rc : FARM_EIO;
  }
  return 0;
}

static int i64_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  *(int64_t *)ud = col[0] ? strtoll(col[0], NULL, 10) : 0;
  return 0;
}

struct run {
  int64_t next; /* the edge_seq that would extend the run */
  size_t rows;
  bool broken;
};

static int run_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  struct run *r = ud;
  r->rows++;
  int64_t s = col[0] ? strtoll(col[0], NULL, 10) : 0;
  if (s == r->next)
    r->next++;
  else if (s > r->next)
    r->broken = true;
  return r->broken ? 1 : 0;
}

#define RUN_PAGE 2000

int st_store_advance_watermark(struct st_db *db, const char *site, int64_t *wm)
{
  int64_t start = 0;
  struct st_param s = ST_TEXT(site);
  int rc = st_db_exec(db, "SELECT watermark FROM edges WHERE site = $1", &s, 1, i64_row, &start);
  if (rc != 0)
    return rc;
  struct run r = {.next = start + 1};
  for (;;) {
    r.rows = 0;
    int64_t from = r.next - 1;
    struct st_param p[] = {ST_TEXT(site), ST_I64(from), ST_I64(RUN_PAGE)};
    rc = st_db_exec(db,
                    "SELECT edge_seq FROM edge_seqs WHERE site = $1 AND edge_seq > $2"
                    " ORDER BY edge_seq LIMIT $3",
                    p, 3, run_row, &r);
    if (rc < 0)
      return rc;
    if (r.broken || r.rows < RUN_PAGE)
      break;
  }
  int64_t reached = r.next - 1;
  if (reached > start) {
    struct st_param p[] = {ST_TEXT(site), ST_I64(reached)};
    /* Monotonic: another streamer may already have gone further. */
    rc = st_db_exec(db, "UPDATE edges SET watermark = $2 WHERE site = $1 AND watermark < $2", p,
                    2, NULL, NULL);
    if (rc == 0)
      rc = st_db_exec(db, "DELETE FROM edge_seqs WHERE site = $1 AND edge_seq <= $2", p, 2,
                      NULL, NULL);
    if (rc != 0)
      return rc;
  }
  *wm = reached;
  return st_db_exec(db, "SELECT watermark FROM edges WHERE site = $1", &s, 1, i64_row, wm);
}

int st_store_watermark_floor(struct st_db *db, const char *site, int64_t floor, int64_t *wm)
{
  struct st_param p[] = {ST_TEXT(site), ST_I64(floor - 1)};
  int rc = st_db_exec(db,
                      "INSERT INTO edges (site, watermark) VALUES ($1, $2)"
                      " ON CONFLICT (site) DO UPDATE SET watermark = excluded.watermark"
                      " WHERE edges.watermark < excluded.watermark",
                      p, 2, NULL, NULL);
  if (rc == 0)
    rc = st_db_exec(db, "DELETE FROM edge_seqs WHERE site = $1 AND edge_seq <= $2", p, 2, NULL,
                    NULL);
  if (rc != 0)
    return rc;
  return st_store_advance_watermark(db, site, wm);
}

int st_store_status(struct st_db *db, const char *site, const char *device, const char *json,
                    int online, int64_t interval_ms, int64_t received_ts)
{
  struct st_param p[] = {ST_TEXT(device),
                         ST_TEXT(site),
                         ST_I64(received_ts),
                         online < 0 ? ST_NULLP : ST_I64(online),
                         interval_ms > 0 ? ST_I64(interval_ms) : ST_NULLP,
                         ST_TEXT(json)};
  return st_db_exec(db,
                    "INSERT INTO devices (device, site, first_seen, last_seen, online, interval_ms,"
                    " status, status_ts) VALUES ($1, $2, $3, $3, $4, $5, $6, $3)"
                    " ON CONFLICT (device) DO UPDATE SET site = excluded.site,"
                    " last_seen = CASE WHEN excluded.last_seen > devices.last_seen"
                    " THEN excluded.last_seen ELSE devices.last_seen END,"
                    " online = COALESCE(excluded.online, devices.online),"
                    " interval_ms = COALESCE(excluded.interval_ms, devices.interval_ms),"
                    " status = excluded.status, status_ts = excluded.status_ts",
                    p, 6, NULL, NULL);
}

int st_store_edge_status(struct st_db *db, const char *site, const char *json,
                         int64_t received_ts)
{
  struct st_param p[] = {ST_TEXT(site), ST_TEXT(json), ST_I64(received_ts)};
  return st_db_exec(db,
                    "INSERT INTO edges (site, watermark, status, status_ts) VALUES ($1, 0, $2, $3)"
                    " ON CONFLICT (site) DO UPDATE SET status = excluded.status,"
                    " status_ts = excluded.status_ts",
                    p, 3, NULL, NULL);
}

int st_store_event(struct st_db *db, const char *site, const char *device, int64_t ts,
                   int64_t received_ts, const char *type, const char *json, int64_t *id)
{
  int64_t got = 0;
  struct st_param p[] = {ST_TEXT(site),        ST_TEXT(device), ST_I64(ts ? ts : received_ts),
                         ST_I64(received_ts), ST_TEXT(type),   ST_TEXT(json)};
  int rc = st_db_exec(db,
                      "INSERT INTO events (site, device, ts, received_ts, type, body)"
                      " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                      p, 6, i64_row, &got);
  if (id)
    *id = got;
  return rc;
}

struct count_ctx {
  int64_t n;
};

static int count_row(void *ud, int ncol, const char *const *col)
{
  (void)ncol;
  (void)col;
  ((struct count_ctx *)ud)->n++;
  return 0;
}

int st_store_retention(struct st_db *db, int64_t now_ms, int64_t raw_ms, int64_t minute_ms,
                       int64_t hour_ms, int64_t *deleted)
{
  struct count_ctx cc = {0};
  int rc = 0;
  if (raw_ms > 0) {
    struct st_param p = ST_I64(now_ms - raw_ms);
    rc = st_db_exec(db, "DELETE FROM readings WHERE ts < $1 RETURNING ts", &p, 1, count_row, &cc);
    if (rc == 0)
      rc = st_db_exec(db, "DELETE FROM events WHERE ts < $1", &p, 1, NULL, NULL);
  }
  if (rc == 0 && minute_ms > 0) {
    struct st_param p = ST_I64(now_ms - minute_ms);
    rc = st_db_exec(db, "DELETE FROM rollup_minute WHERE bucket < $1", &p, 1, NULL, NULL);
  }
  if (rc == 0 && hour_ms > 0) {
    struct st_param p = ST_I64(now_ms - hour_ms);
    rc = st_db_exec(db, "DELETE FROM rollup_hour WHERE bucket < $1", &p, 1, NULL, NULL);
  }
  if (deleted)
    *deleted = cc.n;
  return rc;
}
