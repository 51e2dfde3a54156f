/* SPDX-License-Identifier: MIT */
/*
 * The live feed's clients, filters and sender thread (see live.h).
 */
#include "live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/json.h"

struct item {
  struct item *next;
  json_t *obj;
};

struct wg_live_client {
  struct wg_live_client *next;
  void *conn;
  struct wg_live_filter f;
  bool hello_sent;
  bool dead;
};

struct wg_live {
  pthread_mutex_t lock;
  pthread_cond_t wake, idle;
  pthread_t thread;
  bool running, stopping, busy;
  struct item *head, *tail;
  size_t nitems, queue_max;
  struct wg_live_client *clients;
  size_t nclients;
  wg_live_write_fn write;
  atomic_uint_fast64_t *sent, *dropped;
};

/* Splits a comma-separated list of ids into out. */
static int parse_list(const char *val, char out[][FD_ID_MAX + 1], int *n, const char *name,
                      char *why, size_t cap)
{
  *n = 0;
  for (const char *p = val; *p;) {
    size_t len = strcspn(p, ",");
    if (*n >= WG_LIVE_FILTER_MAX || !fd_id_valid(p, len)) {
      snprintf(why, cap, "%s: at most %d ids of [a-z0-9_-], comma-separated", name,
               WG_LIVE_FILTER_MAX);
      return FARM_EINVAL;
    }
    memcpy(out[*n], p, len);
    out[*n][len] = '\0';
    (*n)++;
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

int wg_live_parse_filter(const char *query, struct wg_live_filter *f, char *why, size_t cap)
{
  memset(f, 0, sizeof *f);
  if (strlen(query) > 4096) {
    snprintf(why, cap, "query too long");
    return FARM_EINVAL;
  }
  for (const char *p = query; *p;) {
    size_t len = strcspn(p, "&");
    const char *eq = memchr(p, '=', len);
    if (eq) {
      size_t kl = (size_t)(eq - p);
      char val[2048];
      size_t vl = len - kl - 1;
      if (vl >= sizeof val) {
        snprintf(why, cap, "filter too long");
        return FARM_EINVAL;
      }
      /* Ids never need escapes: a '%' fails the id check below. */
      memcpy(val, eq + 1, vl);
      val[vl] = '\0';
      int rc = 0;
      if (kl == 4 && strncmp(p, "site", 4) == 0)
        rc = parse_list(val, f->site, &f->nsite, "site", why, cap);
      else if (kl == 6 && strncmp(p, "device", 6) == 0)
        rc = parse_list(val, f->device, &f->ndevice, "device", why, cap);
      else if (kl == 6 && strncmp(p, "metric", 6) == 0)
        rc = parse_list(val, f->metric, &f->nmetric, "metric", why, cap);
      if (rc)
        return rc;
    }
    p += len;
    if (*p == '&')
      p++;
  }
  return 0;
}

static bool in_list(char list[][FD_ID_MAX + 1], int n, const char *s)
{
  if (n == 0)
    return true;
  for (int i = 0; s && i < n; i++)
    if (strcmp(list[i], s) == 0)
      return true;
  return false;
}

bool wg_live_match(const struct wg_live_filter *f, const char *site, const char *device)
{
  struct wg_live_filter *m = (struct wg_live_filter *)f;
  return in_list(m->site, m->nsite, site) && in_list(m->device, m->ndevice, device);
}

static json_t *filter_json(const struct wg_live_filter *f)
{
  json_t *o = json_object();
  const char *names[] = {"site", "device", "metric"};
  const char(*lists[])[FD_ID_MAX + 1] = {f->site, f->device, f->metric};
  const int ns[] = {f->nsite, f->ndevice, f->nmetric};
  for (int k = 0; k < 3; k++) {
    json_t *a = json_array();
    for (int i = 0; i < ns[k]; i++)
      json_array_append_new(a, json_string(lists[k][i]));
    json_object_set_new(o, names[k], a);
  }
  return o;
}

/* The text for client c of item obj, or NULL when it does not match.
 * *shared tells whether the text is the item's common rendering. */
static char *render_for(struct wg_live_client *c, json_t *obj, char *common)
{
  const char *site = json_string_value(json_object_get(obj, "site"));
  const char *device = json_string_value(json_object_get(obj, "device"));
  if (!wg_live_match(&c->f, site, device))
    return NULL;
  json_t *v = json_object_get(obj, "v");
  if (c->f.nmetric == 0 || !json_is_object(v))
    return common;
  json_t *copy = json_copy(obj);
  json_t *nv = json_object();
  const char *k;
  json_t *x;
  json_object_foreach(v, k, x)
  {
    if (in_list(c->f.metric, c->f.nmetric, k))
      json_object_set(nv, k, x);
  }
  char *text = NULL;
  if (json_object_size(nv) > 0) {
    json_object_set_new(copy, "v", nv);
    text = fd_json_dump(copy);
  } else {
    json_decref(nv);
  }
  json_decref(copy);
  return text;
}

static void send_to(struct wg_live *l, struct wg_live_client *c, const char *text)
{
  if (c->dead)
    return;
  if (l->write(c->conn, text, strlen(text)) < 0)
    c->dead = true; /* civetweb closes it; detach follows */
  else if (l->sent)
    atomic_fetch_add(l->sent, 1);
}

static void *sender(void *arg)
{
  struct wg_live *l = arg;
  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (!l->stopping && !l->head) {
      bool pending_hello = false;
      for (struct wg_live_client *c = l->clients; c; c = c->next)
        pending_hello = pending_hello || !c->hello_sent;
      if (pending_hello)
        break;
      pthread_cond_wait(&l->wake, &l->lock);
    }
    if (l->stopping)
      break;
    struct item *it = l->head;
    if (it) {
      l->head = it->next;
      if (!l->head)
        l->tail = NULL;
      l->nitems--;
    }
    /* Write with the lock released, but mark busy so detach waits. */
    l->busy = true;
    for (struct wg_live_client *c = l->clients; c; c = c->next) {
      if (!c->hello_sent) {
        json_t *h = json_pack("{s:s,s:o}", "type", "hello", "filters", filter_json(&c->f));
        char *text = fd_json_dump(h);
        json_decref(h);
        c->hello_sent = true;
        pthread_mutex_unlock(&l->lock);
        if (text)
          send_to(l, c, text);
        free(text);
        pthread_mutex_lock(&l->lock);
      }
    }
    if (it) {
      char *common = fd_json_dump(it->obj);
      for (struct wg_live_client *c = l->clients; c && common; c = c->next) {
        char *text = render_for(c, it->obj, common);
        if (!text)
          continue;
        pthread_mutex_unlock(&l->lock);
        send_to(l, c, text);
        pthread_mutex_lock(&l->lock);
        if (text != common)
          free(text);
      }
      free(common);
      json_decref(it->obj);
      free(it);
    }
    l->busy = false;
    pthread_cond_broadcast(&l->idle);
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

int wg_live_new(size_t queue_max, wg_live_write_fn write, atomic_uint_fast64_t *sent,
                atomic_uint_fast64_t *dropped, struct wg_live **out)
{
  struct wg_live *l = calloc(1, sizeof *l);
  if (!l)
    return FARM_ENOMEM;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->wake, NULL);
  pthread_cond_init(&l->idle, NULL);
  l->queue_max = queue_max ? queue_max : 10000;
  l->write = write;
  l->sent = sent;
  l->dropped = dropped;
  if (pthread_create(&l->thread, NULL, sender, l) != 0) {
    wg_live_free(l);
    return FARM_EIO;
  }
  l->running = true;
  *out = l;
  return 0;
}

void wg_live_free(struct wg_live *l)
{
  if (!l)
    return;
  pthread_mutex_lock(&l->lock);
  l->stopping = true;
  pthread_cond_broadcast(&l->wake);
  pthread_mutex_unlock(&l->lock);
  if (l->running)
    pthread_join(l->thread, NULL);
  while (l->head) {
    struct item *it = l->head;
    l->head = it->next;
    json_decref(it->obj);
    free(it);
  }
  while (l->clients) {
    struct wg_live_client *c = l->clients;
    l->clients = c->next;
    free(c);
  }
  pthread_cond_destroy(&l->idle);
  pthread_cond_destroy(&l->wake);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

struct wg_live_client *wg_live_attach(struct wg_live *l, void *conn,
                                      const struct wg_live_filter *f)
{
  struct wg_live_client *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->conn = conn;
  c->f = *f;
  pthread_mutex_lock(&l->lock);
  c->next = l->clients;
  l->clients = c;
  l->nclients++;
  pthread_cond_broadcast(&l->wake);
  pthread_mutex_unlock(&l->lock);
  return c;
}

void wg_live_detach(struct wg_live *l, struct wg_live_client *c)
{
  pthread_mutex_lock(&l->lock);
  while (l->busy)
    pthread_cond_wait(&l->idle, &l->lock);
  for (struct wg_live_client **pp = &l->clients; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      l->nclients--;
      break;
    }
  }
  pthread_mutex_unlock(&l->lock);
  free(c);
}

void wg_live_push(struct wg_live *l, json_t *obj)
{
  struct item *it = malloc(sizeof *it);
  if (!it) {
    json_decref(obj);
    return;
  }
  it->next = NULL;
  it->obj = obj;
  pthread_mutex_lock(&l->lock);
  if (l->nclients == 0) {
    /* Nobody listens: nothing to keep. */
    pthread_mutex_unlock(&l->lock);
    json_decref(obj);
    free(it);
    return;
  }
  while (l->nitems >= l->queue_max && l->head) {
    struct item *old = l->head;
    l->head = old->next;
    if (!l->head)
      l->tail = NULL;
    l->nitems--;
    json_decref(old->obj);
    free(old);
    if (l->dropped)
      atomic_fetch_add(l->dropped, 1);
  }
  if (l->tail)
    l->tail->next = it;
  else
    l->head = it;
  l->tail = it;
  l->nitems++;
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
}

size_t wg_live_clients(struct wg_live *l)
{
  pthread_mutex_lock(&l->lock);
  size_t n = l->nclients;
  pthread_mutex_unlock(&l->lock);
  return n;
}
