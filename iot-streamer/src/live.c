/* SPDX-License-Identifier: MIT */
/*
 * Live feed ring buffer, resumable cursors and the sender thread.
 */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "farm/error.h"

/* Items sent to one client per turn, so others are not starved. */
#define TURN_ITEMS 64

struct st_live_client {
  struct st_live_client *next;
  st_live_write_fn write;
  void *conn;
  uint64_t next_item; /* next item number to send */
  char *greeting;     /* sent first, then freed */
  bool busy, gone;
};

struct st_live {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  uint64_t epoch;
  uint64_t head; /* number of the newest item; 0 = none yet */
  size_t cap;
  char **ring;   /* item n lives at ring[n % cap] */
  struct st_live_client *clients;
  size_t nclients;
  uint64_t sent;
  bool running, stopping;
  pthread_t thread;
};

int st_live_new(size_t capacity, uint64_t epoch, struct st_live **out)
{
  struct st_live *l = calloc(1, sizeof *l);
  if (!l)
    return FARM_ENOMEM;
  l->cap = capacity ? capacity : 1;
  l->ring = calloc(l->cap, sizeof *l->ring);
  if (!l->ring) {
    free(l);
    return FARM_ENOMEM;
  }
  l->epoch = epoch;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->cond, NULL);
  *out = l;
  return 0;
}

void st_live_cursor(const struct st_live *l, uint64_t n, char *buf, size_t cap)
{
  snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, l->epoch, n);
}

uint64_t st_live_push(struct st_live *l, const json_t *obj)
{
  json_t *item = json_object();
  if (!item)
    return 0;
  pthread_mutex_lock(&l->lock);
  uint64_t n = l->head + 1;
  char cur[48];
  st_live_cursor(l, n, cur, sizeof cur);
  json_object_set_new(item, "cursor", json_string(cur));
  json_object_update(item, (json_t *)obj);
  char *text = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(item);
  if (!text) {
    pthread_mutex_unlock(&l->lock);
    return 0;
  }
  free(l->ring[n % l->cap]);
  l->ring[n % l->cap] = text;
  l->head = n;
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&l->lock);
  return n;
}

static uint64_t oldest_locked(const struct st_live *l)
{
  return l->head >= l->cap ? l->head - l->cap + 1 : 1;
}

static char *greeting(const struct st_live *l, const char *type, uint64_t at, const char *extra)
{
  char cur[48], buf[256];
  st_live_cursor(l, at, cur, sizeof cur);
  snprintf(buf, sizeof buf, "{\"type\":\"%s\",\"cursor\":\"%s\"%s}", type, cur, extra);
  return strdup(buf);
}

struct st_live_client *st_live_attach(struct st_live *l, const char *cursor,
                                      st_live_write_fn write, void *conn)
{
  struct st_live_client *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->write = write;
  c->conn = conn;
  pthread_mutex_lock(&l->lock);
  if (!cursor || !cursor[0]) {
    c->next_item = l->head + 1;
    c->greeting = greeting(l, "hello", l->head, ",\"resumed\":false");
  } else {
    uint64_t epoch, n;
    char tail;
    bool parsed = sscanf(cursor, "%" SCNu64 "-%" SCNu64 "%c", &epoch, &n, &tail) == 2;
    const char *why = NULL;
    if (!parsed)
      why = "malformed cursor";
    else if (epoch != l->epoch)
      why = "cursor from another run";
    else if (n > l->head)
      why = "cursor from the future";
    else if (n + 1 < oldest_locked(l))
      why = "cursor older than the buffer";
    if (why) {
      char extra[96];
      snprintf(extra, sizeof extra, ",\"reason\":\"%s\"", why);
      c->next_item = l->head + 1;
      c->greeting = greeting(l, "reset", l->head, extra);
    } else {
      c->next_item = n + 1;
      c->greeting = greeting(l, "hello", n, ",\"resumed\":true");
    }
  }
  if (!c->greeting) {
    pthread_mutex_unlock(&l->lock);
    free(c);
    return NULL;
  }
  c->next = l->clients;
  l->clients = c;
  l->nclients++;
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&l->lock);
  return c;
}

void st_live_detach(struct st_live *l, struct st_live_client *c)
{
  pthread_mutex_lock(&l->lock);
  c->gone = true;
  while (c->busy)
    pthread_cond_wait(&l->cond, &l->lock);
  for (struct st_live_client **p = &l->clients; *p; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      l->nclients--;
      break;
    }
  }
  pthread_mutex_unlock(&l->lock);
  free(c->greeting);
  free(c);
}

/* One turn for client c; called and returns with the lock held. Returns
 * true when something was sent. */
static bool serve(struct st_live *l, struct st_live_client *c)
{
  char *batch[TURN_ITEMS + 1];
  size_t n = 0;
  if (c->next_item < oldest_locked(l) && c->next_item <= l->head) {
    /* Fell behind the ring while connected: say so and skip ahead. */
    free(c->greeting);
    c->greeting = greeting(l, "reset", l->head, ",\"reason\":\"client too slow\"");
    c->next_item = l->head + 1;
  }
  if (c->greeting) {
    batch[n++] = c->greeting;
    c->greeting = NULL;
  }
  while (n < TURN_ITEMS + 1 && c->next_item <= l->head) {
    char *dup = strdup(l->ring[c->next_item % l->cap]);
    if (!dup)
      break;
    batch[n++] = dup;
    c->next_item++;
  }
  if (n == 0)
    return false;
  c->busy = true;
  pthread_mutex_unlock(&l->lock);
  bool ok = true;
  size_t sent = 0;
  for (size_t i = 0; i < n; i++) {
    if (ok && c->write(c->conn, batch[i], strlen(batch[i])) < 0)
      ok = false;
    else if (ok)
      sent++;
    free(batch[i]);
  }
  pthread_mutex_lock(&l->lock);
  c->busy = false;
  l->sent += sent;
  if (!ok)
    c->gone = true; /* the transport will detach it */
  pthread_cond_broadcast(&l->cond);
  return true;
}

static void *sender(void *arg)
{
  struct st_live *l = arg;
  pthread_mutex_lock(&l->lock);
  while (!l->stopping) {
    bool any = false;
    for (struct st_live_client *c = l->clients; c; c = c->next) {
      if (c->gone)
        continue;
      /* serve() unlocks while writing; c stays linked (detach waits for
       * busy), so c->next read under the lock again is current. */
      if (serve(l, c))
        any = true;
    }
    if (!any) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1;
      pthread_cond_timedwait(&l->cond, &l->lock, &until);
    }
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

int st_live_start(struct st_live *l)
{
  if (pthread_create(&l->thread, NULL, sender, l) != 0)
    return FARM_EIO;
  l->running = true;
  return 0;
}

void st_live_free(struct st_live *l)
{
  if (!l)
    return;
  if (l->running) {
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
  }
  for (size_t i = 0; i < l->cap; i++)
    free(l->ring[i]);
  free(l->ring);
  while (l->clients) {
    struct st_live_client *c = l->clients;
    l->clients = c->next;
    free(c->greeting);
    free(c);
  }
  pthread_cond_destroy(&l->cond);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

size_t st_live_clients(const struct st_live *l)
{
  struct st_live *m = (struct st_live *)l;
  pthread_mutex_lock(&m->lock);
  size_t n = m->nclients;
  pthread_mutex_unlock(&m->lock);
  return n;
}

uint64_t st_live_sent(const struct st_live *l)
{
  struct st_live *m = (struct st_live *)l;
  pthread_mutex_lock(&m->lock);
  uint64_t n = m->sent;
  pthread_mutex_unlock(&m->lock);
  return n;
}
