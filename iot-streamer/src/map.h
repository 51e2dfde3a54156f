/* SPDX-License-Identifier: MIT */
/*
 * A string-keyed hash map (open addressing, linear probing) for the
 * streamer's per-device and per-series state. Keys are copied; values are
 * fixed-size blocks owned by the map, zeroed when created.
 */
#ifndef ST_MAP_H
#define ST_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct st_map;

/* A map whose values are value_size bytes. NULL when out of memory. */
struct st_map *st_map_new(size_t value_size);
/* Frees the map, its keys and values. NULL is accepted. */
void st_map_free(struct st_map *m);

/* The value for key, or NULL. */
void *st_map_get(const struct st_map *m, const char *key);
/* The value for key, created zeroed when missing (*created may be NULL).
 * NULL when out of memory. A value keeps its address until st_map_free(). */
void *st_map_put(struct st_map *m, const char *key, bool *created);
size_t st_map_count(const struct st_map *m);

/* Iteration: start with *pos = 0; returns false at the end. The map must
 * not be modified while iterating. */
bool st_map_next(const struct st_map *m, size_t *pos, const char **key, void **value);

#endif /* ST_MAP_H */
