/* SPDX-License-Identifier: MIT */
/*
 * The MQTT link to the cloud (DESIGN §6): one persistent MQTT v5 session
 * with a stable client id, TLS and credentials as configured, a Last Will
 * that marks v1/farm/{site}/edge/status offline (retained), QoS 1
 * everywhere. It publishes the backlog in row order within a window of
 * in-flight messages; after an outage the rows that waited are replayed
 * with `hist: true`, paced by a token bucket while live rows go first. A
 * PUBACK goes to the backlog (which deletes or keeps the row, see
 * backlog.h); the commit watermark on v1/farm/{site}/edge/commit deletes
 * what the cloud store holds. It subscribes to its site's command topics
 * and hands commands to the agent.
 *
 * The network runs in farmd's MQTT thread; every callback here runs on the
 * agent's loop (fd_mqtt_dispatch). Ownership: the link owns its client;
 * the backlog and the log are borrowed.
 */
#ifndef EA_UPLINK_H
#define EA_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backlog.h"
#include "config.h"
#include "farmd/log.h"
#include "farmd/mqtt.h"

struct ea_uplink;

struct ea_uplink_callbacks {
  /* The session is up: publish the states that are retained (edge and
   * device status). May be NULL. */
  void (*on_connected)(void *ud);
  void (*on_disconnected)(void *ud);
  /* A message on v1/farm/{site}/{device}/cmd (device checked as an id,
   * payload not yet). */
  void (*on_cmd)(void *ud, const char *device, const char *payload, size_t len);
};

struct ea_uplink_stats {
  bool connected;
  uint64_t connects, disconnects;
  uint64_t published, acked, refused, inflight;
  uint64_t live_published, hist_published;
  uint64_t commits_received, renumbered, resends;
  uint64_t bad_topic, bad_payload, foreign_site; /* refused incoming (BAD-INPUTS 14-16) */
  int64_t watermark;                             /* last applied, 0 = none */
  int64_t last_watermark_ms;                     /* wall clock of the last advance */
  bool replaying;                                /* hist rows remain in this session */
  int last_refusal; /* broker reason code of the last refused publish */
};

/*
 * Creates the link for cfg (borrowed for the link's life: it keeps
 * pointers to its strings) and starts connecting. Returns 0 and *out, or
 * an fd_mqtt_new / fd_mqtt_start error.
 */
int ea_uplink_new(const struct ea_config *cfg, struct ea_backlog *backlog, const struct fd_log *log,
                  const struct ea_uplink_callbacks *cb, void *ud, struct ea_uplink **out);
/* Disconnects cleanly (no Last Will) and frees. NULL is accepted. */
void ea_uplink_free(struct ea_uplink *u);

/* Descriptor to poll for events; then call ea_uplink_dispatch(). */
int ea_uplink_fd(const struct ea_uplink *u);
void ea_uplink_dispatch(struct ea_uplink *u);

/*
 * Publishes committed backlog rows while the window and the replay pacing
 * allow. Call after every commit, dispatch and timer. Returns milliseconds
 * until pacing allows more (0 when nothing waits on pacing, -1 when idle).
 */
int ea_uplink_pump(struct ea_uplink *u, int64_t mono_ms);

/* Publishes a state message directly (not through the backlog): the latest
 * value is what matters, and retained ones are published again at every
 * connect. Returns 0, FARM_ECLOSED when not connected, or an fd_mqtt
 * error. */
int ea_uplink_publish_state(struct ea_uplink *u, const char *topic, const char *payload,
                            bool retain);

bool ea_uplink_connected(const struct ea_uplink *u);
void ea_uplink_stats(const struct ea_uplink *u, struct ea_uplink_stats *st);

/* The topic v1/farm/{site}/{device}/{leaf} (leaf "status", "event", "ack",
 * "telemetry/GROUP", or device "edge" with "status"); into buf. Returns 0
 * or FARM_ENOSPC. */
int ea_topic(char *buf, size_t cap, const char *site, const char *device, const char *leaf);

#endif /* EA_UPLINK_H */
