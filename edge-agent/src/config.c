/* SPDX-License-Identifier: MIT */
/*
 * The edge agent's key table and the checks from loaded text to typed
 * values. The generic parts (INI syntax, types, ranges, environment,
 * secrets from files) are farmd's; what is here is what only the edge
 * knows: codecs, baud rates, the listen address, policies, and the rules
 * between keys.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/topic.h"

/* Defaults follow docs/configuration.md; keep the two in step. */
static const struct fd_cfg_key keys[] = {
    {"serial_port", FD_CFG_STRING, "/dev/ttyESP-GW", 0, 0,
     "serial device of the gateway (the udev rule's symlink)"},
    {"serial_baud", FD_CFG_INT, "921600", 1200, 4000000, "serial speed in bit/s"},
    {"serial_codec", FD_CFG_STRING, "msgpack", 0, 0, "message codec: msgpack or cbor"},
    {"serial_reopen_max_ms", FD_CFG_INT, "5000", 100, 60000,
     "longest wait between attempts to reopen a vanished port"},
    {"site", FD_CFG_STRING, NULL, 0, 0, "site id, 1-64 of [a-z0-9_-] (required)"},
    {"mqtt_host", FD_CFG_STRING, "localhost", 0, 0, "broker host"},
    {"mqtt_port", FD_CFG_INT, "8883", 1, 65535, "broker port"},
    {"mqtt_tls", FD_CFG_BOOL, "true", 0, 0, "TLS to the broker"},
    {"mqtt_cafile", FD_CFG_STRING, NULL, 0, 0, "CA certificate (required with TLS)"},
    {"mqtt_certfile", FD_CFG_STRING, NULL, 0, 0, "client certificate (optional)"},
    {"mqtt_keyfile", FD_CFG_STRING, NULL, 0, 0, "client key (with mqtt_certfile)"},
    {"mqtt_username", FD_CFG_STRING, NULL, 0, 0, "broker user name"},
    {"mqtt_password", FD_CFG_SECRET, NULL, 0, 0, "broker password"},
    {"mqtt_client_id", FD_CFG_STRING, NULL, 0, 0,
     "stable client id of the persistent session (default edge-SITE)"},
    {"mqtt_keepalive_s", FD_CFG_INT, "30", 5, 3600, "MQTT keepalive"},
    {"mqtt_session_expiry_s", FD_CFG_INT, "604800", 0, 4294967295LL,
     "how long the broker keeps the session while the edge is away"},
    {"mqtt_inflight", FD_CFG_INT, "100", 1, 2000, "QoS 1 publishes awaiting PUBACK at once"},
    {"mqtt_replay_rate", FD_CFG_INT, "1000", 1, 1000000,
     "backlog messages replayed per second after an outage (live data goes first)"},
    {"mqtt_reconnect_max_s", FD_CFG_INT, "30", 1, 3600, "longest reconnect backoff"},
    {"mqtt_resend_s", FD_CFG_INT, "120", 5, 86400,
     "republish unconfirmed rows when the commit watermark stalls this long"},
    {"status_interval_s", FD_CFG_INT, "30", 1, 3600, "edge status publication period"},
    {"http_listen", FD_CFG_STRING, "127.0.0.1:8080", 0, 0,
     "UI and API address host:port; empty disables"},
    {"http_threads", FD_CFG_INT, "4", 1, 64, "HTTP worker threads"},
    {"http_max_body", FD_CFG_INT, "16384", 256, 1048576, "largest request body in bytes"},
    {"basic_auth_user", FD_CFG_STRING, NULL, 0, 0, "HTTP Basic Auth user (optional)"},
    {"basic_auth_password", FD_CFG_SECRET, NULL, 0, 0, "HTTP Basic Auth password"},
    {"backlog_path", FD_CFG_STRING, "/var/lib/edge-agent/backlog.db", 0, 0,
     "SQLite file of the store-and-forward backlog"},
    {"backlog_max_bytes", FD_CFG_INT, "268435456", 65536, 1099511627776LL,
     "cap on the backlog's stored messages"},
    {"backlog_full_policy", FD_CFG_STRING, "drop_oldest", 0, 0,
     "when full: drop_oldest or reject_new"},
    {"backlog_commit_ms", FD_CFG_INT, "20", 0, 1000,
     "longest wait before a group of frames is committed"},
    {"backlog_commit_rows", FD_CFG_INT, "256", 1, 100000, "frames per grouped commit at most"},
    {"backlog_dedupe_hours", FD_CFG_INT, "48", 1, 8760,
     "how long (device, boot, seq) keys are remembered for deduplication"},
    {"commands_path", FD_CFG_STRING, "/var/lib/edge-agent/commands.db", 0, 0,
     "SQLite file of the commands"},
    {"cmd_timeout_ms", FD_CFG_INT, "2000", 50, 60000,
     "wait for the gateway's ack before a command is resent"},
    {"cmd_retries", FD_CFG_INT, "3", 0, 20, "resends of a command the gateway has not taken"},
    {"cmd_node_timeout_ms", FD_CFG_INT, "30000", 100, 3600000,
     "wait for the node's ack once the gateway has taken a command"},
    {"cmd_default_ttl_s", FD_CFG_INT, "300", 1, 604800,
     "expiry of a command that does not give one"},
    {"cmd_keep", FD_CFG_INT, "1000", 10, 1000000, "finished commands kept for ids and the UI"},
    {"peer_offline_factor", FD_CFG_INT, "3", 2, 1000,
     "a peer is offline after this many expected intervals of silence"},
    {"peer_default_interval_ms", FD_CFG_INT, "60000", 100, 86400000,
     "expected interval of a peer that has not announced its own"},
    {"time_sync_interval_s", FD_CFG_INT, "3600", 0, 86400,
     "time_sync period (also sent at every gateway hello); 0: only at hello"},
    {"log_level", FD_CFG_STRING, "info", 0, 0, "error, warn, info or debug"},
};

const struct fd_cfg_key *ea_config_keys(size_t *n)
{
  *n = sizeof keys / sizeof keys[0];
  return keys;
}

bool ea_config_baud_valid(uint32_t baud)
{
  static const uint32_t rates[] = {1200,    2400,    4800,    9600,    19200,  38400,  57600,
                                   115200,  230400,  460800,  500000,  576000, 921600, 1000000,
                                   1152000, 1500000, 2000000, 3000000, 4000000};
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
    if (rates[i] == baud)
      return true;
  return false;
}

static const struct fd_cfg_value *value_of(const struct ea_config *c, const char *name)
{
  for (size_t i = 0; i < c->raw.nkeys; i++)
    if (strcmp(c->raw.keys[i].name, name) == 0)
      return &c->raw.values[i];
  return NULL;
}

/* "file:line: ", "environment EDGE_X: " or "NAME: " for a default. */
static void fail(const struct ea_config *c, const char *key, char *err, size_t errlen,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(const struct ea_config *c, const char *key, char *err, size_t errlen,
                 const char *fmt, ...)
{
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  const struct fd_cfg_value *v = value_of(c, key);
  if (v && v->origin == FD_CFG_FILE) {
    snprintf(err, errlen, "%s:%u: %s", c->file, v->line, why);
  } else if (v && v->origin == FD_CFG_ENV) {
    char var[96];
    size_t k = (size_t)snprintf(var, sizeof var, "%s", EA_ENV_PREFIX);
    for (const char *p = key; *p && k + 1 < sizeof var; p++)
      var[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    var[k] = '\0';
    snprintf(err, errlen, "environment %s: %s", var, why);
  } else {
    snprintf(err, errlen, "%s: %s", key, why);
  }
}

/* "host:port", "[v6]:port"; host an IP literal or a name of [A-Za-z0-9.-]. */
static int parse_listen(const char *s, char *host, size_t hcap, int *port)
{
  const char *colon;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return FARM_EINVAL;
    size_t n = (size_t)(close - s - 1);
    if (n == 0 || n + 3 > hcap)
      return FARM_EINVAL;
    char v6[64];
    if (n >= sizeof v6)
      return FARM_EINVAL;
    memcpy(v6, s + 1, n);
    v6[n] = '\0';
    unsigned char a[16];
    if (inet_pton(AF_INET6, v6, a) != 1)
      return FARM_EINVAL;
    host[0] = '[';
    memcpy(host + 1, v6, n);
    host[n + 1] = ']';
    host[n + 2] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= hcap)
      return FARM_EINVAL;
    size_t n = (size_t)(colon - s);
    for (size_t i = 0; i < n; i++) {
      char ch = s[i];
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '-'))
        return FARM_EINVAL;
    }
    memcpy(host, s, n);
    host[n] = '\0';
  }
  const char *p = colon + 1;
  if (!*p || strlen(p) > 5)
    return FARM_EINVAL;
  long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return FARM_EINVAL;
    v = v * 10 + (*p - '0');
  }
  if (v < 1 || v > 65535)
    return FARM_EINVAL;
  *port = (int)v;
  return 0;
}

static const char *str_or_null(const struct fd_cfg *raw, const char *name)
{
  return fd_cfg_isset(raw, name) ? fd_cfg_str(raw, name) : NULL;
}

/* Every check that the key table's types and ranges cannot express. */
static int check(struct ea_config *c, char *err, size_t errlen)
{
  const struct fd_cfg *r = &c->raw;

  c->serial_port = fd_cfg_str(r, "serial_port");
  if (!c->serial_port || !c->serial_port[0]) {
    fail(c, "serial_port", err, errlen, "must not be empty");
    return FARM_EMALFORMED;
  }
  c->serial_baud = (uint32_t)fd_cfg_int(r, "serial_baud");
  if (!ea_config_baud_valid(c->serial_baud)) {
    fail(c, "serial_baud", err, errlen, "%u is not a standard serial speed", c->serial_baud);
    return FARM_EMALFORMED;
  }
  if (fp_codec_parse(fd_cfg_str(r, "serial_codec"), &c->serial_codec) != 0) {
    fail(c, "serial_codec", err, errlen, "expected msgpack or cbor");
    return FARM_EMALFORMED;
  }
  c->serial_reopen_max_ms = (int)fd_cfg_int(r, "serial_reopen_max_ms");

  c->site = str_or_null(r, "site");
  if (!c->site) {
    fail(c, "site", err, errlen, "required (set site in the file or EDGE_SITE)");
    return FARM_EMALFORMED;
  }
  if (!fd_id_valid(c->site, strlen(c->site)) || strcmp(c->site, FD_EDGE_DEVICE) == 0) {
    fail(c, "site", err, errlen, "must be 1-%d characters of [a-z0-9_-], not \"edge\"", FD_ID_MAX);
    return FARM_EMALFORMED;
  }

  c->mqtt_host = fd_cfg_str(r, "mqtt_host");
  if (!c->mqtt_host || !c->mqtt_host[0]) {
    fail(c, "mqtt_host", err, errlen, "must not be empty");
    return FARM_EMALFORMED;
  }
  c->mqtt_port = (int)fd_cfg_int(r, "mqtt_port");
  c->mqtt_tls = fd_cfg_bool(r, "mqtt_tls");
  c->mqtt_cafile = str_or_null(r, "mqtt_cafile");
  c->mqtt_certfile = str_or_null(r, "mqtt_certfile");
  c->mqtt_keyfile = str_or_null(r, "mqtt_keyfile");
  c->mqtt_username = str_or_null(r, "mqtt_username");
  c->mqtt_password = str_or_null(r, "mqtt_password");
  if (c->mqtt_tls && !c->mqtt_cafile) {
    fail(c, "mqtt_tls", err, errlen, "TLS needs mqtt_cafile");
    return FARM_EMALFORMED;
  }
  if (!c->mqtt_tls && (c->mqtt_cafile || c->mqtt_certfile || c->mqtt_keyfile)) {
    /* Certificates without TLS would silently not be used. */
    fail(c,
         c->mqtt_cafile     ? "mqtt_cafile"
         : c->mqtt_certfile ? "mqtt_certfile"
                            : "mqtt_keyfile",
         err, errlen, "set but mqtt_tls is off");
    return FARM_EMALFORMED;
  }
  if (!c->mqtt_certfile != !c->mqtt_keyfile) {
    fail(c, c->mqtt_certfile ? "mqtt_certfile" : "mqtt_keyfile", err, errlen,
         "mqtt_certfile and mqtt_keyfile go together");
    return FARM_EMALFORMED;
  }
  if (c->mqtt_password && !c->mqtt_username) {
    fail(c, "mqtt_password", err, errlen, "a password needs mqtt_username");
    return FARM_EMALFORMED;
  }
  const char *cid = str_or_null(r, "mqtt_client_id");
  if (cid) {
    /* MQTT v5 §3.1.3.1: servers must accept 1-23 of [0-9a-zA-Z]; Mosquitto
     * takes more, so allow ids and a little punctuation, bounded. */
    size_t n = strlen(cid);
    bool ok = n >= 1 && n < sizeof c->mqtt_client_id;
    for (size_t i = 0; ok && i < n; i++) {
      char ch = cid[i];
      ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.';
    }
    if (!ok) {
      fail(c, "mqtt_client_id", err, errlen, "must be 1-%zu of [A-Za-z0-9._-]",
           sizeof c->mqtt_client_id - 1);
      return FARM_EMALFORMED;
    }
    snprintf(c->mqtt_client_id, sizeof c->mqtt_client_id, "%s", cid);
  } else {
    snprintf(c->mqtt_client_id, sizeof c->mqtt_client_id, "edge-%s", c->site);
  }
  c->mqtt_keepalive_s = (int)fd_cfg_int(r, "mqtt_keepalive_s");
  c->mqtt_session_expiry_s = (uint32_t)fd_cfg_int(r, "mqtt_session_expiry_s");
  c->mqtt_inflight = (int)fd_cfg_int(r, "mqtt_inflight");
  c->mqtt_replay_rate = (int)fd_cfg_int(r, "mqtt_replay_rate");
  c->mqtt_reconnect_max_s = (int)fd_cfg_int(r, "mqtt_reconnect_max_s");
  c->mqtt_resend_s = (int)fd_cfg_int(r, "mqtt_resend_s");
  c->status_interval_s = (int)fd_cfg_int(r, "status_interval_s");

  const char *listen = fd_cfg_str(r, "http_listen");
  c->http_host[0] = '\0';
  c->http_port = 0;
  if (listen && listen[0] &&
      parse_listen(listen, c->http_host, sizeof c->http_host, &c->http_port) != 0) {
    fail(c, "http_listen", err, errlen, "expected host:port (port 1-65535) or empty");
    return FARM_EMALFORMED;
  }
  c->http_threads = (int)fd_cfg_int(r, "http_threads");
  c->http_max_body = (size_t)fd_cfg_int(r, "http_max_body");
  c->auth_user = str_or_null(r, "basic_auth_user");
  c->auth_password = str_or_null(r, "basic_auth_password");
  if (!c->auth_user != !c->auth_password) {
    fail(c, c->auth_user ? "basic_auth_user" : "basic_auth_password", err, errlen,
         "basic_auth_user and basic_auth_password go together");
    return FARM_EMALFORMED;
  }
  if (c->auth_user && (strchr(c->auth_user, ':') || strlen(c->auth_user) > 64)) {
    /* RFC 7617 §2: the user-id cannot contain a colon. */
    fail(c, "basic_auth_user", err, errlen, "must be 1-64 characters without ':'");
    return FARM_EMALFORMED;
  }
  if (c->auth_password && strlen(c->auth_password) > 128) {
    fail(c, "basic_auth_password", err, errlen, "longer than 128 characters");
    return FARM_EMALFORMED;
  }

  c->backlog_path = fd_cfg_str(r, "backlog_path");
  if (!c->backlog_path || !c->backlog_path[0]) {
    fail(c, "backlog_path", err, errlen, "must not be empty");
    return FARM_EMALFORMED;
  }
  c->backlog_max_bytes = fd_cfg_int(r, "backlog_max_bytes");
  const char *pol = fd_cfg_str(r, "backlog_full_policy");
  if (pol && strcmp(pol, "drop_oldest") == 0) {
    c->backlog_full_policy = EA_FULL_DROP_OLDEST;
  } else if (pol && strcmp(pol, "reject_new") == 0) {
    c->backlog_full_policy = EA_FULL_REJECT_NEW;
  } else {
    fail(c, "backlog_full_policy", err, errlen, "expected drop_oldest or reject_new");
    return FARM_EMALFORMED;
  }
  c->backlog_commit_ms = (int)fd_cfg_int(r, "backlog_commit_ms");
  c->backlog_commit_rows = (int)fd_cfg_int(r, "backlog_commit_rows");
  c->backlog_dedupe_hours = (int)fd_cfg_int(r, "backlog_dedupe_hours");

  c->commands_path = fd_cfg_str(r, "commands_path");
  if (!c->commands_path || !c->commands_path[0]) {
    fail(c, "commands_path", err, errlen, "must not be empty");
    return FARM_EMALFORMED;
  }
  if (strcmp(c->commands_path, c->backlog_path) == 0) {
    fail(c, "commands_path", err, errlen, "must differ from backlog_path");
    return FARM_EMALFORMED;
  }
  c->cmd_timeout_ms = (int)fd_cfg_int(r, "cmd_timeout_ms");
  c->cmd_retries = (int)fd_cfg_int(r, "cmd_retries");
  c->cmd_node_timeout_ms = (int)fd_cfg_int(r, "cmd_node_timeout_ms");
  c->cmd_default_ttl_s = (int)fd_cfg_int(r, "cmd_default_ttl_s");
  c->cmd_keep = (int)fd_cfg_int(r, "cmd_keep");

  c->peer_offline_factor = (int)fd_cfg_int(r, "peer_offline_factor");
  c->peer_default_interval_ms = (int)fd_cfg_int(r, "peer_default_interval_ms");
  c->time_sync_interval_s = (int)fd_cfg_int(r, "time_sync_interval_s");

  if (fd_log_level_parse(fd_cfg_str(r, "log_level"), &c->log_level) != 0) {
    fail(c, "log_level", err, errlen, "expected error, warn, info or debug");
    return FARM_EMALFORMED;
  }
  return 0;
}

int ea_config_load(struct ea_config *cfg, const char *path, char *const *envp, char *err,
                   size_t errlen)
{
  memset(cfg, 0, sizeof *cfg);
  size_t n;
  const struct fd_cfg_key *k = ea_config_keys(&n);
  int rc = fd_cfg_init(&cfg->raw, k, n);
  if (rc != 0) {
    snprintf(err, errlen, "out of memory");
    return rc;
  }
  if (path) {
    cfg->file = path;
    rc = fd_cfg_load_file(&cfg->raw, path, err, errlen);
    if (rc != 0)
      goto fail;
  }
  static const char *const allow[] = {EA_ENV_CONFIG, NULL};
  rc = fd_cfg_load_env(&cfg->raw, EA_ENV_PREFIX, envp, allow, err, errlen);
  if (rc != 0)
    goto fail;
  rc = check(cfg, err, errlen);
  if (rc != 0)
    goto fail;
  return 0;

fail:
  fd_cfg_free(&cfg->raw);
  memset(cfg, 0, sizeof *cfg);
  return rc;
}

void ea_config_free(struct ea_config *cfg)
{
  fd_cfg_free(&cfg->raw);
  memset(cfg, 0, sizeof *cfg);
}

void ea_config_dump(const struct ea_config *cfg, FILE *out)
{
  fd_cfg_dump(&cfg->raw, out);
}
