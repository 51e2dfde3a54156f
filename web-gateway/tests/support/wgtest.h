/* SPDX-License-Identifier: MIT */
/*
 * What web-gateway's integration tests share: a farm on loopback (TLS
 * Mosquitto from deploy/mosquitto, SQLite or a throw-away PostgreSQL, the
 * real iot-streamer and web-gateway programs), a scripted edge for the site
 * "north" that publishes statuses and telemetry and answers commands on its
 * own thread (accepted, sent, then executed; relay 5 fails), and a small
 * HTTP client on libcurl. Everything started dies with the test.
 */
#ifndef WGTEST_H
#define WGTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#define WGT_ADMIN_PASSWORD "correct-horse-battery"

struct wgt {
  char base[FH_PATH];
  char db[FH_PATH + 32];
  bool postgres;
  struct fh_broker broker;
  struct fh_pg pg;
  struct fh_proc streamer, gateway;
  int streamer_port, port;
  char url[64]; /* http://127.0.0.1:PORT */
};

/* Starts broker, database, streamer and gateway (env: extra WEBGW_ lines,
 * NULL-terminated, may be NULL). Dies on failure. */
void wgt_start(struct wgt *w, const char *backend, const char *const *env);
/* Starts only the gateway again (after wgt_stop_gateway), same port. */
void wgt_start_gateway(struct wgt *w, const char *const *env);
void wgt_stop_gateway(struct wgt *w);
/* Stops everything and removes the temporary tree. Returns 0, or -1 when
 * the gateway did not exit cleanly (a crash, a sanitizer report: its log
 * is printed). */
int wgt_stop(struct wgt *w);

/* The scripted edge of site "north". */
struct wgt_edge;
struct wgt_edge *wgt_edge_start(struct wgt *w);
/* Publishes the retained status of device (online, rssi, firmware). */
void wgt_edge_status(struct wgt_edge *e, const char *device, bool online);
/* Publishes one telemetry message; v is the inside of "v". Returns its
 * edge_seq. */
long long wgt_edge_tel(struct wgt_edge *e, const char *device, long long ts, const char *v);
/* Publishes a raw payload on a topic (for acks and bad input). */
void wgt_edge_publish(struct wgt_edge *e, const char *topic, const char *payload);
/* Commands answered so far. */
int wgt_edge_commands(struct wgt_edge *e);
/* Sends telemetry for device every period_ms (0 stops), from its thread. */
void wgt_edge_stream(struct wgt_edge *e, const char *device, int period_ms);
void wgt_edge_stop(struct wgt_edge *e);

/* An HTTP exchange. headers: NULL-terminated "Name: value" lines. Returns
 * the status (0 when no answer); body and the response headers are
 * malloc'd into *out / *hdrs when not NULL. */
int wgt_http(const struct wgt *w, const char *method, const char *path,
             const char *const *headers, const char *body, char **out, char **hdrs);

/* POST /api/v1/login; returns the token into tok (>= 64 bytes) and the
 * csrf value into csrf (may be NULL); the status is returned. */
int wgt_login(const struct wgt *w, const char *user, const char *pw, char *tok, char *csrf);

long long wgt_now_ms(void);
long long wgt_wall_ms(void);
void wgt_sleep_ms(int ms);

#endif /* WGTEST_H */
