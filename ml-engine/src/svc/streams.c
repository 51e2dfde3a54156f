/* SPDX-License-Identifier: MIT */
/*
 * The stream table (see streams.h): chained hash tables keyed by FNV-1a of
 * the ids, one for streams and one for devices, and a doubly linked list of
 * streams in order of use for eviction.
 */
#include "streams.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

struct mls_table {
  size_t cap, count, nbuckets; /* nbuckets: a power of two */
  struct mls_stream **sbuckets;
  struct mls_device **dbuckets;
  struct mls_stream *oldest, *newest;
  struct mls_device *devices;
};

/* FNV-1a, 64-bit (Fowler, Noll, Vo): offset basis and prime from the
 * reference. Each id is followed by a '/' so "a/bc" and "ab/c" differ. */
static uint64_t fnv(uint64_t h, const char *s)
{
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ull;
  }
  h ^= '/';
  return h * 0x100000001b3ull;
}

#define FNV_BASIS 0xcbf29ce484222325ull

int mls_table_new(size_t cap, struct mls_table **out)
{
  assert(cap >= 1);
  struct mls_table *t = calloc(1, sizeof *t);
  if (t == NULL)
    return FARM_ENOMEM;
  t->cap = cap;
  t->nbuckets = 16;
  while (t->nbuckets < cap)
    t->nbuckets *= 2;
  t->sbuckets = calloc(t->nbuckets, sizeof *t->sbuckets);
  t->dbuckets = calloc(t->nbuckets, sizeof *t->dbuckets);
  if (t->sbuckets == NULL || t->dbuckets == NULL) {
    mls_table_free(t);
    return FARM_ENOMEM;
  }
  *out = t;
  return 0;
}

void mls_table_free(struct mls_table *t)
{
  if (t == NULL)
    return;
  for (struct mls_stream *s = t->oldest, *n; s != NULL; s = n) {
    n = s->newer;
    free(s);
  }
  for (struct mls_device *d = t->devices, *n; d != NULL; d = n) {
    n = d->next;
    free(d);
  }
  free(t->sbuckets);
  free(t->dbuckets);
  free(t);
}

size_t mls_table_count(const struct mls_table *t)
{
  return t->count;
}

size_t mls_table_cap(const struct mls_table *t)
{
  return t->cap;
}

static struct mls_device *find_device(struct mls_table *t, uint64_t h, const char *site,
                                      const char *device)
{
  for (struct mls_device *d = t->dbuckets[h & (t->nbuckets - 1)]; d != NULL; d = d->hnext)
    if (d->hash == h && strcmp(d->site, site) == 0 && strcmp(d->device, device) == 0)
      return d;
  return NULL;
}

struct mls_stream *mls_table_find(struct mls_table *t, const char *site, const char *device,
                                  const char *metric)
{
  assert(fd_id_valid(site, strlen(site)) && fd_id_valid(device, strlen(device)) &&
         fd_id_valid(metric, strlen(metric)));
  uint64_t hd = fnv(fnv(FNV_BASIS, site), device);
  uint64_t h = fnv(hd, metric);
  for (struct mls_stream *s = t->sbuckets[h & (t->nbuckets - 1)]; s != NULL; s = s->hnext)
    if (s->hash == h && strcmp(s->metric, metric) == 0 && strcmp(s->dev->site, site) == 0 &&
        strcmp(s->dev->device, device) == 0)
      return s;
  return NULL;
}

static void unlink_use(struct mls_table *t, struct mls_stream *s)
{
  if (s->older)
    s->older->newer = s->newer;
  else
    t->oldest = s->newer;
  if (s->newer)
    s->newer->older = s->older;
  else
    t->newest = s->older;
  s->older = s->newer = NULL;
}

static void link_newest(struct mls_table *t, struct mls_stream *s)
{
  s->older = t->newest;
  s->newer = NULL;
  if (t->newest)
    t->newest->newer = s;
  else
    t->oldest = s;
  t->newest = s;
}

void mls_table_touch(struct mls_table *t, struct mls_stream *s)
{
  if (t->newest == s)
    return;
  unlink_use(t, s);
  link_newest(t, s);
}

static void remove_device(struct mls_table *t, struct mls_device *d)
{
  struct mls_device **p = &t->dbuckets[d->hash & (t->nbuckets - 1)];
  while (*p != d)
    p = &(*p)->hnext;
  *p = d->hnext;
  if (d->prev)
    d->prev->next = d->next;
  else
    t->devices = d->next;
  if (d->next)
    d->next->prev = d->prev;
  free(d);
}

static void evict(struct mls_table *t, struct mls_stream *s)
{
  struct mls_stream **p = &t->sbuckets[s->hash & (t->nbuckets - 1)];
  while (*p != s)
    p = &(*p)->hnext;
  *p = s->hnext;
  unlink_use(t, s);
  struct mls_device *d = s->dev;
  for (size_t i = 0; i < d->n; i++) {
    if (d->streams[i] == s) {
      d->streams[i] = d->streams[--d->n];
      break;
    }
  }
  if (d->n == 0)
    remove_device(t, d);
  else
    d->dirty = true;
  t->count--;
  free(s);
}

int mls_table_add(struct mls_table *t, const char *site, const char *device, const char *metric,
                  struct mls_stream **out, bool *evicted)
{
  assert(mls_table_find(t, site, device, metric) == NULL);
  uint64_t hd = fnv(fnv(FNV_BASIS, site), device);
  struct mls_device *d = find_device(t, hd, site, device);
  if (d != NULL && d->n >= MLS_DEVICE_METRICS)
    return FARM_ENOSPC;
  struct mls_stream *s = calloc(1, sizeof *s);
  if (s == NULL)
    return FARM_ENOMEM;
  if (evicted)
    *evicted = false;
  if (t->count >= t->cap) {
    /* The device may be the evicted stream's: look it up again after. */
    evict(t, t->oldest);
    if (evicted)
      *evicted = true;
    d = find_device(t, hd, site, device);
  }
  if (d == NULL) {
    d = calloc(1, sizeof *d);
    if (d == NULL) {
      free(s);
      return FARM_ENOMEM;
    }
    memcpy(d->site, site, strlen(site) + 1);
    memcpy(d->device, device, strlen(device) + 1);
    d->hash = hd;
    size_t b = hd & (t->nbuckets - 1);
    d->hnext = t->dbuckets[b];
    t->dbuckets[b] = d;
    d->next = t->devices;
    if (t->devices)
      t->devices->prev = d;
    t->devices = d;
  }
  memcpy(s->metric, metric, strlen(metric) + 1);
  s->dev = d;
  s->hash = fnv(hd, metric);
  size_t b = s->hash & (t->nbuckets - 1);
  s->hnext = t->sbuckets[b];
  t->sbuckets[b] = s;
  link_newest(t, s);
  d->streams[d->n++] = s;
  d->dirty = true;
  t->count++;
  *out = s;
  return 0;
}

struct mls_stream *mls_table_oldest(struct mls_table *t)
{
  return t->oldest;
}

struct mls_device *mls_table_devices(struct mls_table *t)
{
  return t->devices;
}

void mls_fault_config(const char *metric, const struct mls_models *m, struct ml_fault_config *out)
{
  ml_fault_config_for_metric(metric, out);
  out->stuck_s = m->stuck_s;
}

int mls_stream_init(struct mls_stream *s, const struct mls_models *m)
{
  struct ml_fault_config fc;
  mls_fault_config(s->metric, m, &fc);
  int rc = ml_detector_init(&s->det, &m->det);
  if (rc == 0)
    rc = ml_forecaster_init(&s->fc, &m->fc);
  if (rc == 0)
    rc = ml_faults_init(&s->flt, &fc);
  s->readings = s->released = 0;
  s->last_ts = s->value_ts = 0;
  s->value = s->score = 0.0;
  return rc;
}
