/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the edge agent's integration tests, on top of farmd's
 * harness: a plain Mosquitto on a free loopback port, an MQTT observer that
 * records what the agent publishes, and small HTTP and JSON helpers.
 */
#ifndef EA_EDGETEST_H
#define EA_EDGETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "farmd/mqtt.h"
#include "harness.h"

/* Mosquitto without TLS or passwords on 127.0.0.1 (the development
 * listener of deploy/mosquitto), persistence in base/plain. */
void et_plain_broker(struct fh_broker *b, const char *base);

struct et_msg {
  char *topic;
  char *payload;
  size_t len;
  bool retain;
  int64_t at_ms; /* monotonic arrival time */
};

/* An observer subscribed to a filter, recording every message. */
struct et_sub {
  struct fd_mqtt *mq;
  struct fd_log log;
  struct et_msg *msgs;
  size_t n, cap;
  bool connected;
};

/* Connects with cfg (client id, TLS, credentials filled by the caller) and
 * subscribes to filter; waits until connected. */
void et_sub_start(struct et_sub *s, struct fd_mqtt_config *cfg, const char *filter);
void et_sub_stop(struct et_sub *s);
/* Dispatches events for ms. */
void et_sub_pump(struct et_sub *s, int ms);
/* Messages received on topic (exact) so far. */
size_t et_sub_count(const struct et_sub *s, const char *topic);
/* Messages whose topic starts with prefix. */
size_t et_sub_count_prefix(const struct et_sub *s, const char *prefix);
/* The last message on topic, or NULL. */
const struct et_msg *et_sub_last(const struct et_sub *s, const char *topic);
/* Pumps until count_prefix(prefix) >= n or timeout; returns the count. */
size_t et_sub_wait_prefix(struct et_sub *s, const char *prefix, size_t n, int timeout_ms);
/* Pumps until a message on topic contains needle, or timeout. */
const struct et_msg *et_sub_wait_text(struct et_sub *s, const char *topic, const char *needle,
                                      int timeout_ms);
/* Publishes from the observer (QoS 1). */
void et_sub_publish(struct et_sub *s, const char *topic, const char *payload, bool retain);
/* Forgets the recorded messages. */
void et_sub_clear(struct et_sub *s);

/* Parses a JSON payload (dies on failure); the caller json_decref()s. */
json_t *et_json(const char *text, size_t len);

/* A tiny HTTP/1.1 client on 127.0.0.1:port: sends req verbatim (request
 * line, headers and body, the caller writes it all), reads the whole
 * answer into out (cap). Returns the status code, or -1. *body points into
 * out at the body. */
int et_http_raw(int port, const char *req, size_t req_len, char *out, size_t cap,
                const char **body);
/* GET or POST with a JSON body and optional extra headers ("K: v\r\n"...). */
int et_http(int port, const char *method, const char *path, const char *headers, const char *json,
            char *out, size_t cap, const char **body);

void et_sleep_ms(int ms);
int64_t et_now_ms(void);

#endif /* EA_EDGETEST_H */
