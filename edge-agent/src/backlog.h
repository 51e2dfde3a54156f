/* SPDX-License-Identifier: MIT */
/*
 * The store-and-forward backlog (DESIGN §3, §8): every message the edge
 * sends to the cloud is written here first, in a SQLite file in WAL mode
 * with synchronous=FULL, and leaves only once the cloud has it.
 *
 * - Rows are numbered by an AUTOINCREMENT id (the publish order, never
 *   reused). Telemetry rows also get edge_seq, the persistent monotonic
 *   number of the commit watermark: the cloud store publishes on
 *   v1/farm/{site}/edge/commit the highest edge_seq below which it holds
 *   everything, and telemetry rows are deleted only at or below it. Until a
 *   watermark has ever been seen for the site (a cloud that is not
 *   IoTferme's), a row is deleted at its PUBACK. Event and ack rows carry
 *   no edge_seq (the store does not count them in the watermark) and are
 *   deleted at their PUBACK.
 * - Writes go into one open transaction that the owner commits in groups
 *   (ea_backlog_commit), so many frames share one fsync. Only committed
 *   rows are handed out for publishing.
 * - Readings are deduplicated on (device, boot, seq) for
 *   backlog_dedupe_hours, across restarts.
 * - A size cap (payload bytes plus a per-row overhead) with drop_oldest or
 *   reject_new, each counted.
 * - At open, PRAGMA quick_check; a file that is not a database, is corrupt
 *   or has a foreign schema is moved aside (PATH.corrupt-YYYYmmddTHHMMSS,
 *   with its -wal and -shm), a fresh one is made, and an alarm is raised.
 * - A failed write (disk full, read-only file system, I/O error) rolls the
 *   transaction back and enters a degraded mode that refuses new rows
 *   (FARM_EIO) until a periodic probe succeeds again; a file that cannot be
 *   opened at all is retried the same way. The process never stops for it.
 *
 * Single-threaded: every call from the agent's loop. Ownership: the
 * backlog owns its SQLite handle; strings handed to callbacks live for the
 * callback only.
 */
#ifndef EA_BACKLOG_H
#define EA_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "farmd/log.h"

struct ea_backlog;

enum ea_row_kind {
  EA_ROW_TELEMETRY = 0, /* body is the payload tail, see ea_backlog_payload() */
  EA_ROW_EVENT = 1,     /* body is the whole payload */
  EA_ROW_ACK = 2,       /* body is the whole payload */
};

struct ea_backlog_opts {
  const char *path;
  int64_t max_bytes;
  enum ea_full_policy policy;
  int dedupe_hours;
  /* SQLite max_page_count, 0 for none: a hard cap on the file that behaves
   * like a full disk (SQLITE_FULL); used by the tests of the degraded mode. */
  int64_t max_pages;
  int probe_ms; /* how often a degraded backlog retries; 0 = 2000 */
};

/* One row to store. device, boot and seq form the deduplication key when
 * has_key. topic and body are copied. */
struct ea_row_in {
  enum ea_row_kind kind;
  const char *topic;
  const char *body;
  bool has_key;
  const char *device;
  uint32_t boot, seq;
};

/* A stored row, valid during the scan callback only. edge_seq is 0 for
 * rows that have none. */
struct ea_row {
  int64_t id;
  enum ea_row_kind kind;
  int64_t edge_seq;
  int64_t created_ms;
  const char *topic;
  const char *body;
  size_t body_len;
};

struct ea_backlog_stats {
  uint64_t depth; /* rows held */
  int64_t bytes;  /* accounted bytes (the cap's measure) */
  int64_t max_bytes;
  int64_t oldest_ms; /* created_ms of the oldest row, 0 when empty */
  int64_t next_edge_seq;
  int64_t first_edge_seq; /* lowest edge_seq held, next_edge_seq when none */
  int64_t watermark;      /* last commit watermark applied (0: none) */
  bool watermark_seen;
  uint64_t added, duplicates, dropped_oldest, rejected_full, deleted, renumbered, discarded;
  uint64_t write_errors; /* failed transactions */
  uint64_t commits;
  bool available;           /* the file is open */
  bool degraded;            /* refusing new rows until storage works again */
  const char *reason;       /* "" or why: "disk full", "read-only", "I/O error", ... */
  bool corrupt_alarm;       /* a corrupt file was moved aside since start */
  const char *corrupt_path; /* where it went ("" when none) */
};

/*
 * Opens (or creates) the backlog. Always yields a backlog unless memory
 * runs out: a file that cannot be opened leaves it unavailable and
 * degraded, retried by ea_backlog_maintain(). log is borrowed. Returns 0
 * and *out (free with ea_backlog_close), or FARM_ENOMEM.
 */
int ea_backlog_open(const struct ea_backlog_opts *o, const struct fd_log *log, int64_t now_ms,
                    struct ea_backlog **out);

/* Commits what is pending (best effort) and closes. NULL is accepted. */
void ea_backlog_close(struct ea_backlog *b);

/*
 * Adds a row to the open transaction. Telemetry rows get the next edge_seq
 * (*edge_seq, may be NULL). Returns 0 or:
 *   FARM_EEXIST  has_key and (device, boot, seq) was seen before: nothing
 *                stored (counted as a duplicate)
 *   FARM_ENOSPC  the cap is reached and the policy is reject_new, or the
 *                row alone is larger than the cap (counted)
 *   FARM_EIO     storage failed or is degraded: the open transaction was
 *                rolled back (every add since the last commit is gone)
 */
int ea_backlog_add(struct ea_backlog *b, const struct ea_row_in *r, int64_t now_ms,
                   int64_t *edge_seq);

/* Stores an integer in the metadata, in the open transaction (the serial
 * link's committed gseq goes with the rows it covers). FARM_EIO as above. */
int ea_backlog_meta_set(struct ea_backlog *b, const char *key, int64_t v);
/* The committed (or pending) value of a metadata key, def when absent. */
int64_t ea_backlog_meta_get(struct ea_backlog *b, const char *key, int64_t def);

/* True when the open transaction holds changes. */
bool ea_backlog_dirty(const struct ea_backlog *b);
/* Monotonic time of the first change of the open transaction, and its
 * number of added rows. */
int64_t ea_backlog_dirty_since(const struct ea_backlog *b);
size_t ea_backlog_pending_rows(const struct ea_backlog *b);

/* Commits the open transaction (synchronous=FULL: durable on return).
 * Returns 0 (also when nothing was pending) or FARM_EIO (rolled back,
 * degraded). */
int ea_backlog_commit(struct ea_backlog *b);

/* Highest row id that is committed: rows up to it may be published. */
int64_t ea_backlog_committed_id(const struct ea_backlog *b);

/*
 * Calls fn for up to max committed rows with after < id <= upto, in id
 * order. Stops early when fn returns false. Returns the number of rows
 * visited, or FARM_EIO.
 */
typedef bool (*ea_backlog_scan_fn)(void *ud, const struct ea_row *row);
int ea_backlog_scan(struct ea_backlog *b, int64_t after, int64_t upto, size_t max,
                    ea_backlog_scan_fn fn, void *ud);

/* The broker acknowledged row id (kind and edge_seq as scanned). Deletes it
 * when it has no edge_seq, when no watermark was ever seen, or when its
 * edge_seq is at or below the last watermark. FARM_EIO as above. */
int ea_backlog_puback(struct ea_backlog *b, int64_t id, enum ea_row_kind kind, int64_t edge_seq);

/* Deletes row id whatever its kind: a row the broker can never take (a
 * topic or size it refuses), counted as discarded. FARM_EIO as above. */
int ea_backlog_discard(struct ea_backlog *b, int64_t id);

/*
 * Applies a commit watermark: deletes the telemetry rows with edge_seq <=
 * wm. A watermark at or above next_edge_seq cannot be about rows of this
 * backlog (the file was replaced, e.g. moved aside when corrupt): then the
 * held telemetry rows are renumbered above it, *renumbered is set, and every
 * held row must be published again. A watermark below the last one is
 * ignored (a stale retained message). Returns 0 or FARM_EIO.
 */
int ea_backlog_watermark(struct ea_backlog *b, int64_t wm, bool *renumbered);

/* Periodic work: forgets old deduplication keys, retries a degraded or
 * unavailable backlog. Returns true when the backlog just recovered. */
bool ea_backlog_maintain(struct ea_backlog *b, int64_t now_ms);

void ea_backlog_stats(struct ea_backlog *b, int64_t now_ms, struct ea_backlog_stats *st);

/*
 * Writes the MQTT payload of a telemetry row into buf (cap bytes):
 * {"edge_seq":N,<body>,"hist":true|false}. Returns the length, or
 * FARM_ENOSPC.
 */
int ea_backlog_payload(const struct ea_row *row, bool hist, char *buf, size_t cap);

/* Accounted size of a row: what the cap measures. */
int64_t ea_backlog_row_bytes(size_t topic_len, size_t body_len);

#endif /* EA_BACKLOG_H */
