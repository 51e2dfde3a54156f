/* SPDX-License-Identifier: MIT */
/*
 * The ml-engine service (`ml-engine run`): subscribes to telemetry, runs
 * the fault checker, detector and forecaster of every (device, metric),
 * publishes anomalies, sensor faults and frost risks as events and each
 * device's model state on a retained topic, and checkpoints every stream
 * periodically and at shutdown. docs/ml.md, "The service", describes the
 * topics, payloads and configuration.
 */
#ifndef MLS_SERVICE_H
#define MLS_SERVICE_H

#include <signal.h>
#include <stddef.h>

#include "farmd/config.h"
#include "farmd/log.h"
#include "farmd/topic.h"
#include "streams.h"

/* The configuration keys (environment prefix ML_). */
extern const struct fd_cfg_key mls_config_keys[];
extern const size_t mls_config_nkeys;

/* What the keys mean once checked together. */
struct mls_settings {
  struct mls_models models;
  double frost_c;
  char frost_metric[FD_ID_MAX + 1];
  char state_path[4096]; /* "" without a state directory */
};

/*
 * Checks the rules between keys and the keys the loader cannot type
 * (decimal numbers), and fills *out. On failure writes one line to err
 * ("threshold: must be ... (environment ML_THRESHOLD)") and returns
 * FARM_EINVAL.
 */
int mls_settings_load(const struct fd_cfg *cfg, struct mls_settings *out, char *err, size_t errlen);

/*
 * Runs the service until *stop is set (by a signal handler), then saves the
 * checkpoint. Returns the process exit status: 0 after a clean stop, 1 when
 * it could not start (broker settings refused, state directory unusable).
 */
int mls_run(const struct fd_cfg *cfg, const struct mls_settings *set, const struct fd_log *log,
            volatile sig_atomic_t *stop);

#endif /* MLS_SERVICE_H */
