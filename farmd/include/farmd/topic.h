/* SPDX-License-Identifier: MIT */
/*
 * The MQTT topic tree of IoTferme (architecture §6):
 *
 *   v1/farm/{site}/{device}/telemetry/{group}   edge -> cloud
 *   v1/farm/{site}/{device}/status              edge -> cloud, retained
 *   v1/farm/{site}/{device}/event               any  -> cloud
 *   v1/farm/{site}/{device}/cmd                 cloud -> edge
 *   v1/farm/{site}/{device}/ack                 edge -> cloud
 *   v1/farm/{site}/edge/status                  edge -> cloud, retained
 *   v1/farm/{site}/edge/event                   edge -> cloud
 *   v1/farm/{site}/edge/commit                  cloud -> edge, retained
 *
 * Ids (site, device, group) are 1..FD_ID_MAX characters of [a-z0-9_-]; the
 * device id "edge" is reserved for the edge itself. Parsing is strict: a
 * topic that does not match exactly one of these shapes is refused, so no
 * wildcard, empty level, upper-case letter or stray byte reaches storage or
 * a log line unchecked.
 */
#ifndef FARMD_TOPIC_H
#define FARMD_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define FD_ID_MAX 64
#define FD_TOPIC_ROOT "v1/farm"
#define FD_EDGE_DEVICE "edge"
/* Longest topic fd_topic_format() can produce, with its terminator. */
#define FD_TOPIC_MAX (sizeof FD_TOPIC_ROOT + 3 * (FD_ID_MAX + 1) + 16)

enum fd_topic_kind {
  FD_TOPIC_TELEMETRY,   /* device, group */
  FD_TOPIC_STATUS,      /* device (not "edge") */
  FD_TOPIC_EVENT,       /* device (or "edge") */
  FD_TOPIC_CMD,         /* device (not "edge") */
  FD_TOPIC_ACK,         /* device (not "edge") */
  FD_TOPIC_EDGE_STATUS, /* device == "edge" */
  FD_TOPIC_EDGE_COMMIT, /* device == "edge" */
  FD_TOPIC_ML,          /* device (not "edge"): ml-engine's retained model state */
};

struct fd_topic {
  enum fd_topic_kind kind;
  char site[FD_ID_MAX + 1];
  char device[FD_ID_MAX + 1];
  char group[FD_ID_MAX + 1]; /* telemetry only, else "" */
};

/* True when s[0..len) is a valid id: 1..FD_ID_MAX bytes of [a-z0-9_-]. */
bool fd_id_valid(const char *s, size_t len);

/*
 * Parses topic[0..len) (not necessarily terminated). Returns 0 and fills
 * *out, or:
 *   FARM_EMALFORMED  not under v1/farm/, wrong number of levels, an empty
 *                    level, an id with a byte outside [a-z0-9_-] (this
 *                    includes the wildcards '+' and '#') or too long
 *   FARM_EUNKNOWN    well-formed ids but an unknown kind, or a kind not
 *                    allowed for that device ("edge/telemetry/x", "d/commit")
 */
int fd_topic_parse(const char *topic, size_t len, struct fd_topic *out);

/*
 * Writes the topic for t into buf (cap bytes, terminated). The ids must be
 * valid (asserted: callers build them from parsed input or configuration).
 * Returns 0 or FARM_ENOSPC.
 */
int fd_topic_format(const struct fd_topic *t, char *buf, size_t cap);

#endif /* FARMD_TOPIC_H */
