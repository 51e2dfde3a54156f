/* SPDX-License-Identifier: MIT */
/*
 * Open-addressing string map with FNV-1a hashing; grows at 70 % load.
 */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
  char *key; /* NULL = empty */
  void *value;
};

struct st_map {
  struct slot *slots;
  size_t cap, count, vsize;
};

static uint64_t fnv1a(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64-bit offset basis */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL; /* FNV 64-bit prime */
  }
  return h;
}

struct st_map *st_map_new(size_t value_size)
{
  struct st_map *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->cap = 16;
  m->vsize = value_size;
  m->slots = calloc(m->cap, sizeof *m->slots);
  if (!m->slots) {
    free(m);
    return NULL;
  }
  return m;
}

void st_map_free(struct st_map *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->cap; i++) {
    free(m->slots[i].key);
    free(m->slots[i].value);
  }
  free(m->slots);
  free(m);
}

static struct slot *find(const struct st_map *m, const char *key)
{
  size_t i = (size_t)(fnv1a(key) & (m->cap - 1));
  while (m->slots[i].key) {
    if (strcmp(m->slots[i].key, key) == 0)
      return &m->slots[i];
    i = (i + 1) & (m->cap - 1);
  }
  return &m->slots[i];
}

void *st_map_get(const struct st_map *m, const char *key)
{
  struct slot *s = find(m, key);
  return s->key ? s->value : NULL;
}

static bool grow(struct st_map *m)
{
  struct st_map bigger = *m;
  bigger.cap = m->cap * 2;
  bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
  if (!bigger.slots)
    return false;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i].key)
      *find(&bigger, m->slots[i].key) = m->slots[i];
  }
  free(m->slots);
  m->slots = bigger.slots;
  m->cap = bigger.cap;
  return true;
}

void *st_map_put(struct st_map *m, const char *key, bool *created)
{
  if (created)
    *created = false;
  struct slot *s = find(m, key);
  if (s->key)
    return s->value;
  if ((m->count + 1) * 10 > m->cap * 7) {
    if (!grow(m))
      return NULL;
    s = find(m, key);
  }
  char *k = strdup(key);
  void *v = calloc(1, m->vsize ? m->vsize : 1);
  if (!k || !v) {
    free(k);
    free(v);
    return NULL;
  }
  s->key = k;
  s->value = v;
  m->count++;
  if (created)
    *created = true;
  return v;
}

size_t st_map_count(const struct st_map *m)
{
  return m->count;
}

bool st_map_next(const struct st_map *m, size_t *pos, const char **key, void **value)
{
  while (*pos < m->cap) {
    struct slot *s = &m->slots[(*pos)++];
    if (s->key) {
      *key = s->key;
      *value = s->value;
      return true;
    }
  }
  return false;
}
