/* SPDX-License-Identifier: MIT */
/*
 * The service's checkpoint file (format in statefile.h): writing it
 * atomically, and reading it back as untrusted input.
 */
#include "statefile.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm/error.h"

static const uint8_t MAGIC[4] = {'M', 'L', 'S', 'V'};
#define VERSION 1
#define HEADER  16
/* Fixed part of a record after its length: three ids with their lengths,
 * counters and last reading, three model lengths; then the CRC. */
#define RECORD_MAX                                                                                 \
  (4 + 3 * (1 + FD_ID_MAX) + 8 + 8 + 8 + 8 + 8 + 8 + 4 + ML_CHECKPOINT_SIZE + 4 +                  \
   ML_FORECASTER_CHECKPOINT_MAX + 4 + ML_FAULTS_CHECKPOINT_SIZE + 4)

static void put(uint8_t *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static size_t put_id(uint8_t *p, const char *id)
{
  size_t n = strlen(id);
  p[0] = (uint8_t)n;
  memcpy(p + 1, id, n);
  return n + 1;
}

static size_t put_f64(uint8_t *p, double v)
{
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  put(p, b, 8);
  return 8;
}

/* Serialises one stream into rec; returns its length. */
static size_t build_record(const struct mls_stream *s, uint8_t *rec)
{
  size_t o = 4;
  o += put_id(rec + o, s->dev->site);
  o += put_id(rec + o, s->dev->device);
  o += put_id(rec + o, s->metric);
  put(rec + o, s->readings, 8);
  put(rec + o + 8, s->released, 8);
  put(rec + o + 16, (uint64_t)s->last_ts, 8);
  put(rec + o + 24, (uint64_t)s->value_ts, 8);
  o += 32;
  o += put_f64(rec + o, s->value);
  o += put_f64(rec + o, s->score);
  size_t n;
  /* The buffer has room for the largest of each: these cannot fail. */
  int rc = ml_detector_save(&s->det, rec + o + 4, ML_CHECKPOINT_SIZE, &n);
  assert(rc == 0);
  put(rec + o, n, 4);
  o += 4 + n;
  rc = ml_forecaster_save(&s->fc, rec + o + 4, ML_FORECASTER_CHECKPOINT_MAX, &n);
  assert(rc == 0);
  put(rec + o, n, 4);
  o += 4 + n;
  rc = ml_faults_save(&s->flt, rec + o + 4, ML_FAULTS_CHECKPOINT_SIZE, &n);
  assert(rc == 0);
  (void)rc;
  put(rec + o, n, 4);
  o += 4 + n;
  put(rec, o - 4, 4);
  put(rec + o, ml_crc32(rec, o), 4);
  return o + 4;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static int sync_dir(const char *path)
{
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int mls_state_save(struct mls_table *t, const char *path, char *err, size_t errlen)
{
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    snprintf(err, errlen, "%s: path too long", path);
    return FARM_EIO;
  }
  uint8_t *rec = malloc(RECORD_MAX);
  if (rec == NULL) {
    snprintf(err, errlen, "out of memory");
    return FARM_ENOMEM;
  }
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    free(rec);
    return FARM_EIO;
  }
  uint8_t head[HEADER];
  memcpy(head, MAGIC, 4);
  put(head + 4, VERSION, 2);
  put(head + 6, 0, 2);
  put(head + 8, mls_table_count(t), 4);
  put(head + 12, ml_crc32(head, 12), 4);
  bool ok = fwrite(head, 1, HEADER, f) == HEADER;
  for (struct mls_stream *s = mls_table_oldest(t); ok && s != NULL; s = s->newer) {
    size_t n = build_record(s, rec);
    ok = fwrite(rec, 1, n, f) == n;
  }
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int saved = errno;
  ok = fclose(f) == 0 && ok;
  free(rec);
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(ok ? errno : saved));
    remove(tmp);
    return FARM_EIO;
  }
  /* The data is safe either way; a failed directory sync only risks the
   * rename being undone by a crash, i.e. the previous checkpoint. */
  (void)sync_dir(path);
  return 0;
}

/* A reader over one record's bytes: every take checks the bounds. */
struct rd {
  const uint8_t *p;
  size_t len, off;
};

static bool take(struct rd *r, size_t n, const uint8_t **out)
{
  if (r->len - r->off < n)
    return false;
  *out = r->p + r->off;
  r->off += n;
  return true;
}

static bool take_id(struct rd *r, char *id)
{
  const uint8_t *p;
  if (!take(r, 1, &p))
    return false;
  size_t n = p[0];
  if (!take(r, n, &p) || !fd_id_valid((const char *)p, n))
    return false;
  memcpy(id, p, n);
  id[n] = '\0';
  return true;
}

static bool take_u64(struct rd *r, uint64_t *v)
{
  const uint8_t *p;
  if (!take(r, 8, &p))
    return false;
  *v = get(p, 8);
  return true;
}

static bool take_blob(struct rd *r, const uint8_t **p, size_t *n)
{
  const uint8_t *q;
  if (!take(r, 4, &q))
    return false;
  *n = get(q, 4);
  return take(r, *n, p);
}

static double as_f64(uint64_t b)
{
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

/* Restores one verified record (rec[0..len), its CRC checked) into t.
 * Returns 0, 1 when the table is full (record dropped), or -1 when the
 * record is malformed (detail in err). */
static int restore_record(const uint8_t *rec, size_t len, struct mls_table *t,
                          const struct mls_models *m, struct mls_state_stats *st, char *err,
                          size_t errlen)
{
  struct rd r = {rec, len, 4};
  char site[FD_ID_MAX + 1], device[FD_ID_MAX + 1], metric[FD_ID_MAX + 1];
  uint64_t readings, released, last_ts, value_ts, value, score;
  const uint8_t *det, *fc, *flt;
  size_t ndet, nfc, nflt;
  if (!take_id(&r, site) || !take_id(&r, device) || !take_id(&r, metric) ||
      !take_u64(&r, &readings) || !take_u64(&r, &released) || !take_u64(&r, &last_ts) ||
      !take_u64(&r, &value_ts) || !take_u64(&r, &value) || !take_u64(&r, &score) ||
      !take_blob(&r, &det, &ndet) || !take_blob(&r, &fc, &nfc) || !take_blob(&r, &flt, &nflt) ||
      r.off != len) {
    snprintf(err, errlen, "a record's fields do not fit its length");
    return -1;
  }
  if (released > readings || !isfinite(as_f64(value)) || !isfinite(as_f64(score)) ||
      (int64_t)last_ts < 0 || (int64_t)value_ts < 0 || (int64_t)value_ts > (int64_t)last_ts) {
    snprintf(err, errlen, "%s/%s/%s: counters out of range", site, device, metric);
    return -1;
  }
  if (mls_table_find(t, site, device, metric) != NULL) {
    snprintf(err, errlen, "%s/%s/%s: stream saved twice", site, device, metric);
    return -1;
  }
  if (mls_table_count(t) >= mls_table_cap(t)) {
    st->dropped++;
    return 1;
  }
  struct mls_stream *s;
  int rc = mls_table_add(t, site, device, metric, &s, NULL);
  if (rc == FARM_ENOSPC) {
    st->dropped++;
    return 1;
  }
  if (rc != 0) {
    snprintf(err, errlen, "out of memory");
    return -2;
  }
  rc = mls_stream_init(s, m);
  assert(rc == 0);
  bool reset = false;
  if (ml_detector_restore(&s->det, det, ndet) == 0)
    ml_detector_set_threshold(&s->det, m->det.threshold);
  else
    reset = true;
  /* A forecaster of another grid cannot continue on this one. */
  struct ml_forecaster tmp;
  if (ml_forecaster_restore(&tmp, fc, nfc) == 0 && tmp.cfg.step_s == m->fc.step_s &&
      tmp.cfg.horizon == m->fc.horizon)
    s->fc = tmp;
  else
    reset = true;
  struct ml_fault_config fcfg;
  mls_fault_config(metric, m, &fcfg);
  if (ml_faults_restore(&s->flt, &fcfg, flt, nflt) != 0)
    reset = true;
  /* Each model must accept the stream's next reading: none may be ahead of
   * the stream's last one (the record's parts are checked one by one, so
   * this can only fail for a crafted file). */
  if (!ml_faults_accepts(&s->flt, (int64_t)last_ts + 1)) {
    ml_faults_init(&s->flt, &fcfg);
    reset = true;
  }
  if (!ml_forecaster_accepts(&s->fc, (int64_t)last_ts)) {
    ml_forecaster_init(&s->fc, &m->fc);
    reset = true;
  }
  s->readings = readings;
  s->released = released;
  s->last_ts = (int64_t)last_ts;
  s->value_ts = (int64_t)value_ts;
  s->value = as_f64(value);
  s->score = as_f64(score);
  st->restored++;
  st->reset += reset;
  return 0;
}

int mls_state_read(FILE *f, struct mls_table *t, const struct mls_models *m,
                   struct mls_state_stats *st, char *err, size_t errlen)
{
  memset(st, 0, sizeof *st);
  uint8_t head[HEADER];
  size_t got = fread(head, 1, HEADER, f);
  if (got != HEADER) {
    snprintf(err, errlen, ferror(f) ? "read error" : "shorter than its header");
    return ferror(f) ? FARM_EIO : FARM_EMALFORMED;
  }
  if (memcmp(head, MAGIC, 4) != 0 || get(head + 4, 2) != VERSION || get(head + 6, 2) != 0 ||
      ml_crc32(head, 12) != get(head + 12, 4)) {
    snprintf(err, errlen, "not a checkpoint of this version (header)");
    return FARM_EMALFORMED;
  }
  uint64_t count = get(head + 8, 4);
  uint8_t *rec = malloc(RECORD_MAX);
  if (rec == NULL) {
    snprintf(err, errlen, "out of memory");
    return FARM_ENOMEM;
  }
  int result = 0;
  for (uint64_t i = 0; i < count; i++) {
    long at = ftell(f);
    if (fread(rec, 1, 4, f) != 4) {
      snprintf(err, errlen, "record %llu of %llu missing at byte %ld", (unsigned long long)i + 1,
               (unsigned long long)count, at);
      result = ferror(f) ? FARM_EIO : FARM_EMALFORMED;
      goto out;
    }
    uint64_t len = get(rec, 4);
    if (len < 4 || len + 4 + 4 > RECORD_MAX) {
      snprintf(err, errlen, "record %llu at byte %ld: impossible length %llu",
               (unsigned long long)i + 1, at, (unsigned long long)len);
      result = FARM_EMALFORMED;
      goto out;
    }
    size_t total = (size_t)len + 4;
    if (fread(rec + 4, 1, total, f) != total) {
      snprintf(err, errlen, "record %llu at byte %ld: truncated", (unsigned long long)i + 1, at);
      result = ferror(f) ? FARM_EIO : FARM_EMALFORMED;
      goto out;
    }
    if (ml_crc32(rec, (size_t)len + 4) != get(rec + len + 4, 4)) {
      snprintf(err, errlen, "record %llu at byte %ld: CRC mismatch", (unsigned long long)i + 1, at);
      result = FARM_EMALFORMED;
      goto out;
    }
    char why[320];
    int rc = restore_record(rec, (size_t)len + 4, t, m, st, why, sizeof why);
    if (rc == -2) {
      snprintf(err, errlen, "%s", why);
      result = FARM_ENOMEM;
      goto out;
    }
    if (rc < 0) {
      snprintf(err, errlen, "record %llu at byte %ld: %s", (unsigned long long)i + 1, at, why);
      result = FARM_EMALFORMED;
      goto out;
    }
  }
  if (fgetc(f) != EOF) {
    snprintf(err, errlen, "bytes after the last of %llu records", (unsigned long long)count);
    result = FARM_EMALFORMED;
  }
out:
  free(rec);
  return result;
}
