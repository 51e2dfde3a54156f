/* SPDX-License-Identifier: MIT */
/*
 * The live feed: a bounded ring of JSON items (stored readings, statuses,
 * events, alert transitions), each with a cursor "EPOCH-N" (EPOCH names
 * this process run, N counts items). Clients attach with the cursor of the
 * last item they saw and receive everything after it, then new items as
 * they come; a cursor from another run or older than the ring gets a
 * "reset" item first, telling the client to reload state from the store.
 * One sender thread writes to every client, so a slow client delays only
 * itself; the transport (WebSocket) is a write callback.
 */
#ifndef ST_LIVE_H
#define ST_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct st_live;
struct st_live_client;

/* Writes one text message; returns 0, or < 0 when the connection is gone. */
typedef int (*st_live_write_fn)(void *conn, const char *text, size_t len);

/* A ring of capacity items for run epoch. Returns 0, FARM_ENOMEM. */
int st_live_new(size_t capacity, uint64_t epoch, struct st_live **out);
/* Starts the sender thread. Returns 0 or FARM_EIO. */
int st_live_start(struct st_live *l);
/* Stops the thread (clients must be detached first) and frees. */
void st_live_free(struct st_live *l);

/* Adds an item: "cursor" is set as its first member; obj is not consumed.
 * Returns the item's number (0 when out of memory). Any thread. */
uint64_t st_live_push(struct st_live *l, const json_t *obj);

/* Formats the cursor of item n into buf (cap >= 48). */
void st_live_cursor(const struct st_live *l, uint64_t n, char *buf, size_t cap);

/*
 * Attaches a client that resumes after cursor (NULL or "" = from now). The
 * first message it receives is {"type":"hello","cursor":C,"resumed":bool}
 * or {"type":"reset","cursor":C,"reason":...}. NULL when out of memory.
 */
struct st_live_client *st_live_attach(struct st_live *l, const char *cursor,
                                      st_live_write_fn write, void *conn);
/* Detaches, waiting for a write in progress; the callback is not used
 * after this returns. */
void st_live_detach(struct st_live *l, struct st_live_client *c);

size_t st_live_clients(const struct st_live *l);
uint64_t st_live_sent(const struct st_live *l);

#endif /* ST_LIVE_H */
