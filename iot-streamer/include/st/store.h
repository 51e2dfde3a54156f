/* SPDX-License-Identifier: MIT */
/*
 * The streamer's storage: one schema and one set of queries for SQLite and
 * PostgreSQL (docs/storage.md describes the tables for users). Readings
 * are stored idempotently on (device, boot, seq, metric); minute and hour
 * rollups, the latest value per metric and the device's last-seen time are
 * maintained in the same transaction, from the rows that were actually new,
 * so a duplicate never counts twice. Every edge_seq a batch carries is
 * recorded in that transaction too, which is what the commit watermark is
 * computed from.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/db.h"
#include "farmd/topic.h"

/* Version 1: the streamer's tables; 2: web-gateway's (users, tokens,
 * commands, webhooks). */
#define ST_SCHEMA_VERSION 2

/* One row of the readings table. */
struct st_reading {
  char site[FD_ID_MAX + 1], device[FD_ID_MAX + 1], metric[FD_ID_MAX + 1],
      group[FD_ID_MAX + 1];
  int64_t ts, boot, seq, edge_seq, received_ts;
  int64_t up_ms, rx_ts; /* -1 = NULL */
  int rssi;
  bool has_rssi;
  double value;
  bool hist, synthetic;
  bool inserted; /* out: true when this row was new */
};

/* An edge_seq of a site handled by a batch (stored or deliberately refused). */
struct st_edge_seq {
  char site[FD_ID_MAX + 1];
  int64_t edge_seq;
};

/* Creates the tables and indexes when missing and migrates an older
 * database to ST_SCHEMA_VERSION (both backends, concurrent starts
 * serialised). Returns 0, FARM_EIO, or FARM_EUNSUPPORTED when the
 * database is newer than this program. */
int st_store_init(struct st_db *db);

/*
 * Writes a batch in one transaction: the edge_seqs, the readings (marking
 * rows[i].inserted), the rollups, latest values and devices' last_seen
 * (received_ts) for the inserted rows. On error everything is rolled back,
 * no row is marked, and FARM_EIO is returned: the caller keeps the batch.
 */
int st_store_write_batch(struct st_db *db, struct st_reading *rows, size_t n,
                         const struct st_edge_seq *seqs, size_t nseqs);

/*
 * Advances the commit watermark of site over the contiguous run of recorded
 * edge_seqs and returns it in *wm (0 when nothing is committed yet). Safe
 * with several streamers on one database: it only ever moves forward.
 */
int st_store_advance_watermark(struct st_db *db, const char *site, int64_t *wm);

/* Raises site's watermark to at least floor - 1 (the edge says it holds
 * nothing below floor), then advances as above. */
int st_store_watermark_floor(struct st_db *db, const char *site, int64_t floor, int64_t *wm);

/* Device status (retained …/status): stores the JSON text; online is 1, 0
 * or -1 (unchanged); interval_ms 0 = unchanged. */
int st_store_status(struct st_db *db, const char *site, const char *device, const char *json,
                    int online, int64_t interval_ms, int64_t received_ts);

/* Edge status JSON of a site. */
int st_store_edge_status(struct st_db *db, const char *site, const char *json,
                         int64_t received_ts);

/* Appends an event; ts 0 = received_ts. *id (may be NULL) receives its id. */
int st_store_event(struct st_db *db, const char *site, const char *device, int64_t ts,
                   int64_t received_ts, const char *type, const char *json, int64_t *id);

/* Deletes raw readings with ts < now - raw_ms, minute rollups older than
 * minute_ms, hour rollups older than hour_ms and events older than raw_ms;
 * a period of 0 keeps that table forever. *deleted (may be NULL) counts
 * the raw readings removed. */
int st_store_retention(struct st_db *db, int64_t now_ms, int64_t raw_ms, int64_t minute_ms,
                       int64_t hour_ms, int64_t *deleted);

#endif /* ST_STORE_H */
