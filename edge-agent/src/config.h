/* SPDX-License-Identifier: MIT */
/*
 * The edge agent's configuration: the key table (every key of
 * docs/configuration.md, overridable by EDGE_<KEY> in the environment), and
 * the checks that turn the loaded text into a typed struct ea_config. Each
 * check that fails names where the bad value came from ("file:line: reason",
 * "environment EDGE_X: reason"), so the agent refuses to start on anything
 * it does not understand instead of running with a guess (BAD-INPUTS 27).
 *
 * Ownership: ea_config_load() fills *cfg, whose strings point into the
 * embedded struct fd_cfg; ea_config_free() releases them.
 */
#ifndef EA_CONFIG_H
#define EA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "farmd/config.h"
#include "farmd/log.h"
#include "fp/codec.h"

/* Environment prefix of every key: serial_port is EDGE_SERIAL_PORT. */
#define EA_ENV_PREFIX "EDGE_"
/* Environment variable naming the configuration file when --config is not
 * given; not a key. */
#define EA_ENV_CONFIG "EDGE_CONFIG"

enum ea_full_policy {
  EA_FULL_DROP_OLDEST, /* delete the oldest rows to make room */
  EA_FULL_REJECT_NEW,  /* refuse the new row (counted) */
};

struct ea_config {
  struct fd_cfg raw; /* owns every string below */
  const char *file;  /* the file loaded, NULL when none */

  /* serial bridge */
  const char *serial_port;
  uint32_t serial_baud;
  enum fp_codec serial_codec;
  int serial_reopen_max_ms;

  const char *site;

  /* MQTT link */
  const char *mqtt_host;
  int mqtt_port;
  bool mqtt_tls;
  const char *mqtt_cafile, *mqtt_certfile, *mqtt_keyfile;
  const char *mqtt_username, *mqtt_password;
  char mqtt_client_id[80];
  int mqtt_keepalive_s;
  uint32_t mqtt_session_expiry_s;
  int mqtt_inflight;
  int mqtt_replay_rate;
  int mqtt_reconnect_max_s;
  int mqtt_resend_s;
  int status_interval_s;

  /* HTTP server; http_host is "" when http_listen is empty (disabled) */
  char http_host[64];
  int http_port;
  int http_threads;
  size_t http_max_body;
  const char *auth_user, *auth_password; /* both NULL, or both set */

  /* backlog */
  const char *backlog_path;
  int64_t backlog_max_bytes;
  enum ea_full_policy backlog_full_policy;
  int backlog_commit_ms;
  int backlog_commit_rows;
  int backlog_dedupe_hours;

  /* commands */
  const char *commands_path;
  int cmd_timeout_ms;
  int cmd_retries;
  int cmd_node_timeout_ms;
  int cmd_default_ttl_s;
  int cmd_keep;

  /* peers and time */
  int peer_offline_factor;
  int peer_default_interval_ms;
  int time_sync_interval_s;

  enum fd_log_level log_level;
};

/* The key table, for --help and the documentation test. */
const struct fd_cfg_key *ea_config_keys(size_t *n);

/*
 * Loads defaults, then the INI file at path (NULL: none), then the EDGE_*
 * variables of envp (EA_ENV_CONFIG is allowed and ignored), then checks
 * every value and the rules between keys. On failure writes one line to err
 * ("file:line: reason", "environment EDGE_X: reason" or "key: reason" for a
 * default that cannot work, such as a missing site), frees what it
 * allocated and returns:
 *   FARM_ENOENT      the file cannot be opened
 *   FARM_EMALFORMED  a syntax error, unknown key, bad value or bad
 *                    combination
 *   FARM_ENOMEM
 */
int ea_config_load(struct ea_config *cfg, const char *path, char *const *envp, char *err,
                   size_t errlen);

/* Releases the strings. cfg may be loaded again afterwards. */
void ea_config_free(struct ea_config *cfg);

/* Writes every key with its value and origin (secrets hidden) to out. */
void ea_config_dump(const struct ea_config *cfg, FILE *out);

/* True when baud is a rate the serial bridge can set (termios B* rates). */
bool ea_config_baud_valid(uint32_t baud);

#endif /* EA_CONFIG_H */
