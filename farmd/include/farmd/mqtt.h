/* SPDX-License-Identifier: MIT */
/*
 * MQTT v5 client for the daemons, on libmosquitto: TLS (CA, client
 * certificate and key), username/password, clean or persistent sessions, a
 * Last Will, reconnection with exponential backoff, subscriptions restored on
 * every reconnect.
 *
 * Threading: libmosquitto runs the network in its own thread (connect,
 * TLS, keepalive, reconnect backoff). That thread never calls the program:
 * it queues what happened (connected, disconnected, message, publish
 * completed) and makes fd_mqtt_fd() readable. The program polls that
 * descriptor in its own loop and calls fd_mqtt_dispatch(), which runs the
 * callbacks on the program's thread, in arrival order. fd_mqtt_publish() and
 * fd_mqtt_subscribe() may be called from any thread.
 *
 * Flow control: at most queue_max received messages wait for dispatch;
 * beyond that the network thread waits, so a slow consumer slows the
 * broker down (TCP back-pressure) instead of growing memory.
 *
 * Delivery: libmosquitto acknowledges a QoS 1 message (PUBACK) when it is
 * queued, before the program has handled it. A service that must not lose a
 * message therefore confirms durability at the application level (the
 * commit watermark of architecture §3).
 */
#ifndef FARMD_MQTT_H
#define FARMD_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "farmd/log.h"

struct fd_mqtt;

struct fd_mqtt_config {
  const char *host;      /* required */
  int port;              /* 1..65535 */
  const char *client_id; /* required; unique per connection on the broker */
  bool tls;
  const char *ca_file;   /* tls: required */
  const char *cert_file; /* tls: optional client certificate ... */
  const char *key_file;  /* ... and its key, both or neither */
  const char *username;  /* optional */
  const char *password;  /* optional; never logged */
  int keepalive_s;       /* 0 = 30 */
  bool clean_start;      /* false: the broker keeps the session */
  uint32_t session_expiry_s; /* with !clean_start: how long it keeps it */
  const char *will_topic;    /* optional Last Will */
  const char *will_payload;
  bool will_retain;
  int reconnect_min_s;   /* backoff floor, 0 = 1 */
  int reconnect_max_s;   /* backoff ceiling, 0 = 30 */
  size_t queue_max;      /* received messages waiting for dispatch, 0 = 4096 */
};

/* A received message, valid only during the on_message callback. */
struct fd_mqtt_msg {
  const char *topic;   /* terminated */
  const void *payload; /* len bytes, followed by a NUL not counted in len */
  size_t len;
  int qos;
  bool retain;
};

struct fd_mqtt_callbacks {
  /* Session up (reason 0) or refused by the broker (MQTT v5 reason code,
   * e.g. 0x86 bad user name or password, 0x87 not authorised). */
  void (*on_connect)(void *ud, int reason);
  /* Connection lost or closed; reason 0 after fd_mqtt_free(). */
  void (*on_disconnect)(void *ud, int reason);
  void (*on_message)(void *ud, const struct fd_mqtt_msg *m);
  /* A QoS 1 publish completed: reason 0, or the broker's refusal (0x87
   * not authorised when an ACL denies the topic). */
  void (*on_publish)(void *ud, int mid, int reason);
};

/*
 * Creates a client; nothing connects yet. The config strings are copied. cb
 * members may be NULL. log is borrowed and must outlive the client.
 * Returns 0 and *out (free with fd_mqtt_free()), or:
 *   FARM_EINVAL  a required setting is missing or inconsistent
 *   FARM_ENOENT  a CA, certificate or key file cannot be read
 *   FARM_ENOMEM  out of memory
 *   FARM_EIO     libmosquitto refused the settings
 */
int fd_mqtt_new(const struct fd_mqtt_config *cfg, const struct fd_log *log,
                const struct fd_mqtt_callbacks *cb, void *ud, struct fd_mqtt **out);

/* Starts the network thread, which connects and keeps reconnecting.
 * Returns 0 or FARM_EIO. Call once. */
int fd_mqtt_start(struct fd_mqtt *m);

/*
 * Adds a subscription (kept and renewed after every reconnect; sent now if
 * connected). pattern is an MQTT filter, optionally "$share/group/...".
 * no_local: do not receive what this client publishes (MQTT v5).
 * Returns 0, FARM_EINVAL (bad filter) or FARM_ENOMEM.
 */
int fd_mqtt_subscribe(struct fd_mqtt *m, const char *pattern, int qos, bool no_local);

/*
 * Queues a publish. *mid (may be NULL) receives the message id reported by
 * on_publish. Returns 0, or FARM_ECLOSED when not connected (nothing is
 * queued: the caller keeps the data and retries after on_connect),
 * FARM_ETOOBIG, FARM_EINVAL (bad topic) or FARM_EIO.
 */
int fd_mqtt_publish(struct fd_mqtt *m, const char *topic, const void *payload,
                    size_t len, int qos, bool retain, int *mid);

/* Descriptor that is readable while events wait for fd_mqtt_dispatch(). */
int fd_mqtt_fd(const struct fd_mqtt *m);

/* Runs the callbacks of up to max queued events (0 = all) on the calling
 * thread. Returns the number dispatched. */
size_t fd_mqtt_dispatch(struct fd_mqtt *m, size_t max);

/* True between a successful connect and the next disconnect. */
bool fd_mqtt_connected(const struct fd_mqtt *m);

/* Disconnects cleanly (no Last Will), stops the thread, drops undispatched
 * events and frees everything. NULL is accepted. */
void fd_mqtt_free(struct fd_mqtt *m);

/* Counters since creation, for metrics. */
struct fd_mqtt_stats {
  uint64_t connects;
  uint64_t disconnects;
  uint64_t received;
  uint64_t published;
  uint64_t publish_refused; /* on_publish with a reason >= 0x80 */
};
void fd_mqtt_get_stats(const struct fd_mqtt *m, struct fd_mqtt_stats *out);

#endif /* FARMD_MQTT_H */
