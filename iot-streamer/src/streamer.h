/* SPDX-License-Identifier: MIT */
/*
 * iot-streamer: the cloud ingest service. It subscribes the farm topic tree,
 * validates every message, stores telemetry in batches (store.h), keeps
 * device state and events, evaluates alert rules (alerts.h), publishes the
 * per-edge commit watermark, and serves the live feed, metrics and health
 * over HTTP (http.h).
 *
 * Threads: one main thread runs everything in this file (MQTT dispatch,
 * database, alerts, watermarks) around a poll() loop; the MQTT network
 * thread, the live-feed sender and civetweb's workers only exchange data
 * with it through the queues and atomics of their modules.
 */
#ifndef ST_STREAMER_H
#define ST_STREAMER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "farmd/config.h"
#include "farmd/log.h"

/* The configuration keys (environment prefix STREAMER_), for the loader
 * and for --help; documented in docs/iot-streamer.md. */
extern const struct fd_cfg_key st_config_keys[];
extern const size_t st_config_nkeys;

/*
 * Runs the service until *stop becomes non-zero (SIGTERM/SIGINT); a non-
 * zero *reload (SIGHUP) reloads the alert rules. cfg must hold validated
 * values of st_config_keys. Returns 0 after a clean stop, or 1 when the
 * service cannot start (database, HTTP port, MQTT settings), after logging
 * why.
 */
int st_run(const struct fd_cfg *cfg, const struct fd_log *log, volatile sig_atomic_t *stop,
           volatile sig_atomic_t *reload);

#endif /* ST_STREAMER_H */
