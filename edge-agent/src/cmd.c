/* SPDX-License-Identifier: MIT */
/*
 * Command manager: the node command catalogue, validation, the command
 * table in SQLite, the state machine driven by gateway acks and timers,
 * and the diagnostics requests.
 */
#include "cmd.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <sqlite3.h>

#include "farm/error.h"
#include "farmd/json.h"
#include "peers.h"

#define ID_MAX      64
#define PAYLOAD_MAX 4096
#define REQ_RING    16
/* Wire ids are reserved in blocks so a restart never reuses one. */
#define WIRE_BLOCK 64

/* ------------------------------------------------------------------ */
/* The catalogue of node commands (firmware node core; DESIGN §1: six    */
/* relays).                                                             */

enum akind { A_INT, A_BOOL, A_FEATURE };

struct argspec {
  const char *key;
  enum akind kind;
  bool required;
  int64_t min, max;
};

struct cmdspec {
  const char *name;
  size_t nargs;
  struct argspec args[3];
};

static const struct cmdspec catalogue[] = {
    {"relay.set",
     3,
     {{"ch", A_INT, true, 1, 6}, {"on", A_BOOL, true, 0, 0}, {"for_s", A_INT, false, 0, 86400}}},
    {"feature.set", 2, {{"name", A_FEATURE, true, 0, 0}, {"on", A_BOOL, true, 0, 0}}},
    {"period.set", 1, {{"ms", A_INT, true, 1000, 3600000}}},
    {"identify", 1, {{"s", A_INT, false, 1, 60}}},
    {"reboot", 0, {{0}}},
};

static const struct cmdspec *find_spec(const char *name)
{
  for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++)
    if (strcmp(catalogue[i].name, name) == 0)
      return &catalogue[i];
  return NULL;
}

static bool key_ok(const char *k)
{
  size_t n = strlen(k);
  if (n < 1 || n > FP_MSG_KEY_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
      return false;
  return true;
}

/* JSON args -> wire args, then the catalogue's rules. Returns 0 or writes
 * the reason to err. */
static int convert_args(const struct cmdspec *spec, const json_t *args, struct fp_arg *out,
                        uint8_t *n, char *err, size_t errlen)
{
  *n = 0;
  if (args && !json_is_null(args)) {
    if (!json_is_object(args)) {
      snprintf(err, errlen, "args must be an object");
      return FARM_ETYPE;
    }
    if (json_object_size(args) > FP_MSG_MAX_ARGS) {
      snprintf(err, errlen, "at most %d arguments", FP_MSG_MAX_ARGS);
      return FARM_ERANGE;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)args, k, v)
    {
      if (!key_ok(k)) {
        snprintf(err, errlen, "argument names are 1-15 of [a-z0-9_]");
        return FARM_EINVAL;
      }
      struct fp_arg *a = &out[(*n)++];
      memset(a, 0, sizeof *a);
      snprintf(a->key, sizeof a->key, "%s", k);
      if (json_is_integer(v)) {
        a->kind = FP_ARG_INT;
        a->v.i = json_integer_value(v);
      } else if (json_is_real(v)) {
        a->kind = FP_ARG_FLOAT;
        a->v.f = json_real_value(v);
      } else if (json_is_boolean(v)) {
        a->kind = FP_ARG_BOOL;
        a->v.b = json_is_true(v);
      } else if (json_is_string(v) && json_string_length(v) <= FP_MSG_ARG_STR_MAX &&
                 !memchr(json_string_value(v), 0, json_string_length(v))) {
        a->kind = FP_ARG_STR;
        snprintf(a->v.s, sizeof a->v.s, "%s", json_string_value(v));
      } else {
        snprintf(err, errlen, "'%s' must be a number, a boolean or a text of at most %d bytes", k,
                 FP_MSG_ARG_STR_MAX);
        return FARM_ETYPE;
      }
    }
  }
  /* Every argument known, every required one present, each in range. */
  for (uint8_t i = 0; i < *n; i++) {
    bool known = false;
    for (size_t s = 0; s < spec->nargs; s++)
      known = known || strcmp(spec->args[s].key, out[i].key) == 0;
    if (!known) {
      snprintf(err, errlen, "unknown argument '%s' for %s", out[i].key, spec->name);
      return FARM_EINVAL;
    }
  }
  for (size_t s = 0; s < spec->nargs; s++) {
    const struct argspec *as = &spec->args[s];
    const struct fp_arg *a = NULL;
    for (uint8_t i = 0; i < *n; i++)
      if (strcmp(out[i].key, as->key) == 0)
        a = &out[i];
    if (!a) {
      if (as->required) {
        snprintf(err, errlen, "missing argument '%s'", as->key);
        return FARM_EMISSING;
      }
      continue;
    }
    switch (as->kind) {
    case A_INT:
      if (a->kind != FP_ARG_INT) {
        snprintf(err, errlen, "'%s' must be an integer", as->key);
        return FARM_ETYPE;
      }
      if (a->v.i < as->min || a->v.i > as->max) {
        snprintf(err, errlen, "'%s' must be %" PRId64 "..%" PRId64, as->key, as->min, as->max);
        return FARM_ERANGE;
      }
      break;
    case A_BOOL:
      if (a->kind != FP_ARG_BOOL) {
        snprintf(err, errlen, "'%s' must be true or false", as->key);
        return FARM_ETYPE;
      }
      break;
    case A_FEATURE: {
      bool ok = a->kind == FP_ARG_STR;
      bool found = false;
      for (int f = 0; ok && f < EA_FEATURES; f++)
        found = found || strcmp(a->v.s, ea_feature_names[f]) == 0;
      if (!found) {
        snprintf(err, errlen, "'%s' must be one of sht41, lux, mq135, relays, synthetic", as->key);
        return FARM_ERANGE;
      }
      break;
    }
    }
  }
  if (strcmp(spec->name, "relay.set") == 0) {
    bool on = false;
    int64_t for_s = 0;
    for (uint8_t i = 0; i < *n; i++) {
      if (strcmp(out[i].key, "on") == 0)
        on = out[i].v.b;
      if (strcmp(out[i].key, "for_s") == 0)
        for_s = out[i].v.i;
    }
    if (!on && for_s != 0) {
      snprintf(err, errlen, "'for_s' needs on");
      return FARM_EINVAL;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ */

struct pending {
  char id[ID_MAX + 1];
  uint32_t wire;
  char device[13];
  struct fp_msg msg;
  enum ea_cmd_state state;
  int64_t expires_ms;
  int64_t deadline_ms; /* next resend (accepted) or node timeout (sent) */
  int attempts;
};

struct request {
  bool used;
  uint32_t wire;
  struct fp_msg msg;
  int64_t created_ms, sent_ms, done_ms;
  int attempts;
  int state; /* 0 waiting, 1 ok, 2 failed */
  char err[FP_MSG_ERR_MAX + 1];
  int64_t rtt_ms; /* ping: until the pong */
  uint64_t up_ms; /* ping: the gateway's uptime */
};

struct ea_cmd {
  struct ea_cmd_opts o;
  const struct fd_log *log;
  struct ea_cmd_callbacks cb;
  void *ud;
  struct fd_ratelimit rl;
  sqlite3 *db;
  uint32_t next_wire, wire_reserved;

  struct pending *act;
  size_t nact, capact;

  struct request req[REQ_RING];
  size_t req_next;

  struct ea_cmd_stats st;
};

const char *ea_cmd_state_name(enum ea_cmd_state s)
{
  static const char *const names[] = {"accepted", "sent", "executed", "failed", "expired"};
  return (unsigned)s < 5 ? names[s] : "?";
}

static int state_parse(const char *s, enum ea_cmd_state *out)
{
  for (int i = 0; i < 5; i++)
    if (s && strcmp(s, ea_cmd_state_name((enum ea_cmd_state)i)) == 0) {
      *out = (enum ea_cmd_state)i;
      return 0;
    }
  return FARM_EINVAL;
}

static bool final(enum ea_cmd_state s)
{
  return s == EA_CMD_EXECUTED || s == EA_CMD_FAILED || s == EA_CMD_EXPIRED;
}

static int exec_sql(struct ea_cmd *cm, const char *sql)
{
  char *msg = NULL;
  int rc = sqlite3_exec(cm->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    fd_log_rl(cm->log, &cm->rl, FD_LOG_ERROR, "commands: %s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return FARM_EIO;
  }
  return 0;
}

/* A wire id never used before, across restarts (protocol §4.3: the
 * gateway treats a repeated id as the same request). */
static uint32_t new_wire(struct ea_cmd *cm)
{
  if (cm->next_wire >= cm->wire_reserved) {
    cm->wire_reserved = cm->next_wire + WIRE_BLOCK;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(cm->db, "INSERT OR REPLACE INTO meta(key, value) VALUES('next_wire', ?)",
                           -1, &s, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(s, 1, cm->wire_reserved);
      if (sqlite3_step(s) != SQLITE_DONE)
        fd_log_rl(cm->log, &cm->rl, FD_LOG_ERROR, "commands: cannot store the id counter: %s",
                  sqlite3_errmsg(cm->db));
      sqlite3_finalize(s);
    }
  }
  uint32_t w = cm->next_wire++;
  if (cm->next_wire == 0)
    cm->next_wire = 1;
  return w;
}

static void publish(struct ea_cmd *cm, const char *id, const char *device, enum ea_cmd_state state,
                    const char *error, int64_t now_ms)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "state", json_string(ea_cmd_state_name(state)));
  json_object_set_new(o, "error", error && error[0] ? json_string(error) : json_null());
  json_object_set_new(o, "ts", json_integer(now_ms));
  char *text = fd_json_dump(o);
  json_decref(o);
  if (text && cm->cb.publish_ack)
    cm->cb.publish_ack(cm->ud, device, text);
  free(text);
}

static void prune(struct ea_cmd *cm)
{
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(cm->db,
                         "DELETE FROM commands WHERE state IN ('executed','failed','expired') AND "
                         "id NOT IN (SELECT id FROM commands ORDER BY created_ms DESC LIMIT ?)",
                         -1, &s, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int(s, 1, cm->o.keep);
  sqlite3_step(s);
  sqlite3_finalize(s);
}

static void store_state(struct ea_cmd *cm, const char *id, enum ea_cmd_state state,
                        const char *error, int attempts, int64_t now_ms)
{
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(cm->db,
                         "UPDATE commands SET state = ?, error = ?, attempts = ?, updated_ms = ? "
                         "WHERE id = ?",
                         -1, &s, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(s, 1, ea_cmd_state_name(state), -1, SQLITE_STATIC);
  if (error && error[0])
    sqlite3_bind_text(s, 2, error, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, 2);
  sqlite3_bind_int(s, 3, attempts);
  sqlite3_bind_int64(s, 4, now_ms);
  sqlite3_bind_text(s, 5, id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s) != SQLITE_DONE)
    fd_log_rl(cm->log, &cm->rl, FD_LOG_ERROR, "commands: cannot store a state: %s",
              sqlite3_errmsg(cm->db));
  sqlite3_finalize(s);
}

static void count_state(struct ea_cmd *cm, enum ea_cmd_state s)
{
  switch (s) {
  case EA_CMD_ACCEPTED:
    cm->st.accepted++;
    break;
  case EA_CMD_SENT:
    cm->st.sent++;
    break;
  case EA_CMD_EXECUTED:
    cm->st.executed++;
    break;
  case EA_CMD_FAILED:
    cm->st.failed++;
    break;
  case EA_CMD_EXPIRED:
    cm->st.expired++;
    break;
  }
}

/* Moves pending command i to state; a final state removes it. */
static void transition(struct ea_cmd *cm, size_t i, enum ea_cmd_state state, const char *error,
                       int64_t now_ms)
{
  struct pending *p = &cm->act[i];
  p->state = state;
  store_state(cm, p->id, state, error, p->attempts, now_ms);
  count_state(cm, state);
  publish(cm, p->id, p->device, state, error, now_ms);
  if (final(state)) {
    fd_log(cm->log, FD_LOG_INFO, "command %s (%s to %s): %s%s%s", p->id, p->msg.u.cmd.name,
           p->device, ea_cmd_state_name(state), error && error[0] ? ": " : "", error ? error : "");
    cm->act[i] = cm->act[--cm->nact];
    prune(cm);
  }
}

static void send_pending(struct ea_cmd *cm, struct pending *p, int64_t now_ms)
{
  int rc = cm->cb.send ? cm->cb.send(cm->ud, &p->msg) : FARM_ECLOSED;
  if (rc == 0) {
    if (p->attempts > 0)
      cm->st.resends++;
    p->attempts++;
  }
  /* A closed port or a full queue is not an attempt: the command waits
   * for the link (until it expires). */
  p->deadline_ms = now_ms + cm->o.timeout_ms;
}

static int open_db(struct ea_cmd *cm)
{
  int rc = sqlite3_open_v2(cm->o.path, &cm->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK)
    return FARM_EIO;
  sqlite3_busy_timeout(cm->db, 2000);
  if (exec_sql(cm, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "CREATE TABLE IF NOT EXISTS commands("
                   " id TEXT PRIMARY KEY, wire INTEGER NOT NULL, device TEXT NOT NULL,"
                   " name TEXT NOT NULL, args TEXT, source TEXT NOT NULL, state TEXT NOT NULL,"
                   " error TEXT, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
                   " updated_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);"
                   "CREATE INDEX IF NOT EXISTS commands_wire ON commands(wire);"
                   "CREATE INDEX IF NOT EXISTS commands_created ON commands(created_ms);"
                   "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER)") != 0)
    return FARM_EIO;
  return 0;
}

static int build_msg(const char *device, const char *name, const json_t *args, struct fp_msg *m,
                     char *err, size_t errlen)
{
  memset(m, 0, sizeof *m);
  m->type = FP_MSG_CMD;
  if (ea_mac_parse(device, m->u.cmd.mac) != 0) {
    snprintf(err, errlen, "device must be a node MAC (12 lowercase hex digits)");
    return FARM_EINVAL;
  }
  const struct cmdspec *spec = find_spec(name);
  if (!spec) {
    snprintf(err, errlen, "unknown command '%.40s'", name);
    return FARM_EUNKNOWN;
  }
  snprintf(m->u.cmd.name, sizeof m->u.cmd.name, "%s", name);
  int rc = convert_args(spec, args, m->u.cmd.args, &m->u.cmd.n_args, err, errlen);
  if (rc != 0)
    return rc;
  struct fp_msg_error e;
  if (fp_msg_validate(m, &e) != 0) {
    char why[100];
    fp_msg_error_format(&e, why, sizeof why);
    snprintf(err, errlen, "not sendable: %.100s", why);
    return FARM_EINVAL;
  }
  return 0;
}

static void resume(struct ea_cmd *cm, int64_t now_ms)
{
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(cm->db,
                         "SELECT id, wire, device, name, args, state, expires_ms, attempts "
                         "FROM commands WHERE state IN ('accepted','sent') ORDER BY created_ms",
                         -1, &s, NULL) != SQLITE_OK)
    return;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(s, 0);
    const char *device = (const char *)sqlite3_column_text(s, 2);
    const char *name = (const char *)sqlite3_column_text(s, 3);
    const char *args = (const char *)sqlite3_column_text(s, 4);
    enum ea_cmd_state state = EA_CMD_ACCEPTED;
    if (!id || !device || !name || state_parse((const char *)sqlite3_column_text(s, 5), &state))
      continue;
    json_t *aj = args ? json_loads(args, 0, NULL) : NULL;
    struct pending p = {0};
    char err[128];
    int rc = build_msg(device, name, aj, &p.msg, err, sizeof err);
    json_decref(aj);
    if (rc != 0)
      continue;
    if (cm->nact == cm->capact) {
      size_t nc = cm->capact ? cm->capact * 2 : 16;
      struct pending *na = realloc(cm->act, nc * sizeof *na);
      if (!na)
        break;
      cm->act = na;
      cm->capact = nc;
    }
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.device, sizeof p.device, "%s", device);
    p.wire = (uint32_t)sqlite3_column_int64(s, 1);
    p.msg.id = p.wire;
    p.state = state;
    p.expires_ms = sqlite3_column_int64(s, 6);
    p.attempts = sqlite3_column_int(s, 7);
    /* Sent at once with the same id: the gateway answers again with what
     * it already did (protocol §4.3). */
    p.deadline_ms = state == EA_CMD_SENT ? now_ms + cm->o.node_timeout_ms : now_ms;
    cm->act[cm->nact++] = p;
  }
  sqlite3_finalize(s);
  if (cm->nact)
    fd_log(cm->log, FD_LOG_INFO, "commands: %zu pending command(s) resumed", cm->nact);
}

int ea_cmd_open(const struct ea_cmd_opts *o, const struct fd_log *log,
                const struct ea_cmd_callbacks *cb, void *ud, int64_t now_ms, struct ea_cmd **out)
{
  *out = NULL;
  struct ea_cmd *cm = calloc(1, sizeof *cm);
  if (!cm)
    return FARM_ENOMEM;
  cm->o = *o;
  cm->log = log;
  if (cb)
    cm->cb = *cb;
  cm->ud = ud;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(10, 10000);
  cm->rl = rl;
  if (open_db(cm) != 0) {
    fd_log(log, FD_LOG_ERROR, "commands: cannot open %s: %s", o->path,
           cm->db ? sqlite3_errmsg(cm->db) : "out of memory");
    ea_cmd_close(cm);
    return FARM_EIO;
  }
  cm->st.available = true;
  sqlite3_stmt *s;
  int64_t next = 1;
  if (sqlite3_prepare_v2(cm->db, "SELECT value FROM meta WHERE key = 'next_wire'", -1, &s, NULL) ==
      SQLITE_OK) {
    if (sqlite3_step(s) == SQLITE_ROW)
      next = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  if (next < 1 || next > UINT32_MAX)
    next = 1;
  cm->next_wire = cm->wire_reserved = (uint32_t)next;
  resume(cm, now_ms);
  *out = cm;
  return 0;
}

void ea_cmd_close(struct ea_cmd *cm)
{
  if (!cm)
    return;
  if (cm->db)
    sqlite3_close_v2(cm->db);
  free(cm->act);
  free(cm);
}

static bool id_ok(const char *id)
{
  size_t n = strlen(id);
  if (n < 1 || n > ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.' || c == ':'))
      return false;
  }
  return true;
}

/* The stored state of id; returns true when known. */
static bool lookup(struct ea_cmd *cm, const char *id, enum ea_cmd_state *state, char *device,
                   char *error, size_t errlen)
{
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(cm->db, "SELECT state, device, error FROM commands WHERE id = ?", -1, &s,
                         NULL) != SQLITE_OK)
    return false;
  sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
  bool found = false;
  if (sqlite3_step(s) == SQLITE_ROW) {
    found = state_parse((const char *)sqlite3_column_text(s, 0), state) == 0;
    const char *d = (const char *)sqlite3_column_text(s, 1);
    const char *e = (const char *)sqlite3_column_text(s, 2);
    snprintf(device, 13, "%s", d ? d : "");
    snprintf(error, errlen, "%s", e ? e : "");
  }
  sqlite3_finalize(s);
  return found;
}

static int insert(struct ea_cmd *cm, const char *id, uint32_t wire, const char *device,
                  const char *name, const json_t *args, enum ea_cmd_source src,
                  enum ea_cmd_state state, const char *error, int64_t now_ms, int64_t expires_ms)
{
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(cm->db,
                         "INSERT INTO commands(id, wire, device, name, args, source, state, error,"
                         " created_ms, expires_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         -1, &s, NULL) != SQLITE_OK)
    return FARM_EIO;
  char *aj = args && json_is_object(args) ? fd_json_dump(args) : NULL;
  sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 2, wire);
  sqlite3_bind_text(s, 3, device, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 4, name, -1, SQLITE_TRANSIENT);
  if (aj)
    sqlite3_bind_text(s, 5, aj, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, 5);
  sqlite3_bind_text(s, 6, src == EA_SRC_MQTT ? "mqtt" : "http", -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 7, ea_cmd_state_name(state), -1, SQLITE_STATIC);
  if (error && error[0])
    sqlite3_bind_text(s, 8, error, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(s, 8);
  sqlite3_bind_int64(s, 9, now_ms);
  sqlite3_bind_int64(s, 10, expires_ms);
  sqlite3_bind_int64(s, 11, now_ms);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  free(aj);
  if (rc != SQLITE_DONE) {
    fd_log_rl(cm->log, &cm->rl, FD_LOG_ERROR, "commands: cannot store command %s: %s", id,
              sqlite3_errmsg(cm->db));
    return FARM_EIO;
  }
  return 0;
}

/* The common path of both sources, once an id is known. */
static void submit(struct ea_cmd *cm, enum ea_cmd_source src, const char *id, const char *device,
                   const json_t *name, const json_t *args, const json_t *expires, const json_t *ttl,
                   int64_t now_ms, struct ea_cmd_result *res)
{
  memset(res, 0, sizeof *res);
  snprintf(res->id, sizeof res->id, "%s", id);
  cm->st.received++;

  enum ea_cmd_state prev;
  char pdev[13], perr[128];
  if (lookup(cm, id, &prev, pdev, perr, sizeof perr)) {
    /* BAD-INPUTS 23: the first outcome again, nothing runs twice. */
    cm->st.duplicates++;
    res->duplicate = true;
    res->state = prev;
    res->http_status = 200;
    snprintf(res->error, sizeof res->error, "%s", perr);
    publish(cm, id, pdev, prev, perr, now_ms);
    return;
  }

  char err[128] = "";
  int http = 422;
  const char *nm = json_is_string(name) ? json_string_value(name) : NULL;
  struct fp_msg m;
  int64_t exp = now_ms + (int64_t)cm->o.default_ttl_s * 1000;
  enum ea_cmd_state state = EA_CMD_ACCEPTED;
  if (!nm || json_string_length(name) < 1 || json_string_length(name) > FP_MSG_NAME_MAX) {
    snprintf(err, sizeof err, "name must be a text of 1-%d bytes", FP_MSG_NAME_MAX);
    http = 400;
    state = EA_CMD_FAILED;
  } else if (build_msg(device, nm, args, &m, err, sizeof err) != 0) {
    state = EA_CMD_FAILED;
  } else if (expires && !json_is_null(expires)) {
    if (!json_is_string(expires) || ea_rfc3339_parse(json_string_value(expires), &exp) != 0) {
      snprintf(err, sizeof err, "expires must be an RFC 3339 date-time");
      http = 400;
      state = EA_CMD_FAILED;
    }
  } else if (ttl && !json_is_null(ttl)) {
    if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 || json_integer_value(ttl) > 604800) {
      snprintf(err, sizeof err, "ttl_s must be 1..604800");
      http = 400;
      state = EA_CMD_FAILED;
    } else {
      exp = now_ms + json_integer_value(ttl) * 1000;
    }
  }
  if (state == EA_CMD_ACCEPTED && exp <= now_ms) {
    state = EA_CMD_EXPIRED;
    snprintf(err, sizeof err, "expired before it could be sent");
  }
  if (state == EA_CMD_FAILED)
    cm->st.invalid++;

  uint32_t wire = state == EA_CMD_ACCEPTED ? new_wire(cm) : 0;
  if (insert(cm, id, wire, device, nm ? nm : "", args, src, state, err, now_ms, exp) != 0) {
    /* Not stored, so not run: say so rather than go silent. */
    snprintf(res->error, sizeof res->error, "the command store failed");
    res->state = EA_CMD_FAILED;
    res->http_status = 503;
    count_state(cm, EA_CMD_FAILED);
    publish(cm, id, device, EA_CMD_FAILED, res->error, now_ms);
    return;
  }
  count_state(cm, state);
  publish(cm, id, device, state, err, now_ms);
  res->state = state;
  snprintf(res->error, sizeof res->error, "%s", err);
  if (state != EA_CMD_ACCEPTED) {
    res->http_status = state == EA_CMD_EXPIRED ? 422 : http;
    fd_log_rl(cm->log, &cm->rl, FD_LOG_WARN, "command %s to %s: %s: %s", id, device,
              ea_cmd_state_name(state), err);
    return;
  }
  res->http_status = 202;
  if (cm->nact == cm->capact) {
    size_t nc = cm->capact ? cm->capact * 2 : 16;
    struct pending *na = realloc(cm->act, nc * sizeof *na);
    if (!na) {
      store_state(cm, id, EA_CMD_FAILED, "out of memory", 0, now_ms);
      count_state(cm, EA_CMD_FAILED);
      publish(cm, id, device, EA_CMD_FAILED, "out of memory", now_ms);
      res->state = EA_CMD_FAILED;
      res->http_status = 503;
      return;
    }
    cm->act = na;
    cm->capact = nc;
  }
  struct pending *p = &cm->act[cm->nact++];
  memset(p, 0, sizeof *p);
  snprintf(p->id, sizeof p->id, "%s", id);
  snprintf(p->device, sizeof p->device, "%s", device);
  p->msg = m;
  p->msg.id = wire;
  p->wire = wire;
  p->state = EA_CMD_ACCEPTED;
  p->expires_ms = exp;
  send_pending(cm, p, now_ms);
  fd_log(cm->log, FD_LOG_INFO, "command %s: %s to %s accepted (wire id %u)", id, nm, device, wire);
}

void ea_cmd_from_mqtt(struct ea_cmd *cm, const char *device, const char *payload, size_t len,
                      int64_t now_ms)
{
  json_t *o;
  char why[128];
  if (fd_json_parse(payload, len, PAYLOAD_MAX, &o, why, sizeof why) != 0) {
    cm->st.dropped++;
    fd_log_rl(cm->log, &cm->rl, FD_LOG_WARN, "command for %s dropped: %s", device, why);
    return;
  }
  const char *id = NULL;
  if (fd_json_get_str(o, "id", true, ID_MAX, NULL, &id) != 0 || !id_ok(id)) {
    cm->st.dropped++;
    fd_log_rl(cm->log, &cm->rl, FD_LOG_WARN,
              "command for %s dropped: no usable id (1-64 of [A-Za-z0-9._:-])", device);
    json_decref(o);
    return;
  }
  struct ea_cmd_result res;
  submit(cm, EA_SRC_MQTT, id, device, json_object_get(o, "name"), json_object_get(o, "args"),
         json_object_get(o, "expires"), NULL, now_ms, &res);
  json_decref(o);
}

static void make_id(char *out, size_t cap)
{
  uint8_t r[12];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
    uint64_t t = (uint64_t)fd_mono_ms() ^ (uint64_t)fd_wall_ms() << 20;
    memcpy(r, &t, 8);
    memset(r + 8, 0x5a, 4);
  }
  size_t o = (size_t)snprintf(out, cap, "edge-");
  for (size_t i = 0; i < sizeof r && o + 2 < cap; i++, o += 2)
    snprintf(out + o, cap - o, "%02x", r[i]);
}

void ea_cmd_from_http(struct ea_cmd *cm, const json_t *body, int64_t now_ms,
                      struct ea_cmd_result *res)
{
  memset(res, 0, sizeof *res);
  const char *device = NULL, *id = NULL;
  uint8_t mac[FP_MAC_LEN];
  if (fd_json_get_str(body, "device", true, 12, NULL, &device) != 0 ||
      ea_mac_parse(device, mac) != 0) {
    snprintf(res->error, sizeof res->error, "device must be a node MAC (12 lowercase hex digits)");
    res->http_status = 400;
    res->state = EA_CMD_FAILED;
    cm->st.invalid++;
    return;
  }
  char gen[ID_MAX + 1];
  json_t *jid = json_object_get(body, "id");
  if (jid && !json_is_null(jid)) {
    if (fd_json_get_str(body, "id", true, ID_MAX, NULL, &id) != 0 || !id_ok(id)) {
      snprintf(res->error, sizeof res->error, "id must be 1-64 of [A-Za-z0-9._:-]");
      res->http_status = 400;
      res->state = EA_CMD_FAILED;
      cm->st.invalid++;
      return;
    }
  } else {
    make_id(gen, sizeof gen);
    id = gen;
  }
  submit(cm, EA_SRC_HTTP, id, device, json_object_get(body, "name"), json_object_get(body, "args"),
         json_object_get(body, "expires"), json_object_get(body, "ttl_s"), now_ms, res);
}

int ea_cmd_request(struct ea_cmd *cm, struct fp_msg *m, int64_t now_ms, uint32_t *id)
{
  switch (m->type) {
  case FP_MSG_SET_MAC:
  case FP_MSG_TIME_SYNC:
  case FP_MSG_PAIR_BEGIN:
  case FP_MSG_PAIR_END:
  case FP_MSG_PING:
    break;
  default:
    return FARM_EINVAL;
  }
  m->id = new_wire(cm);
  if (fp_msg_validate(m, NULL) != 0)
    return FARM_EINVAL;
  struct request *r = &cm->req[cm->req_next];
  cm->req_next = (cm->req_next + 1) % REQ_RING;
  memset(r, 0, sizeof *r);
  r->used = true;
  r->wire = m->id;
  r->msg = *m;
  r->created_ms = now_ms;
  r->sent_ms = now_ms;
  if (cm->cb.send && cm->cb.send(cm->ud, m) == 0)
    r->attempts = 1;
  *id = m->id;
  return 0;
}

static struct request *find_req(struct ea_cmd *cm, uint32_t wire)
{
  for (size_t i = 0; i < REQ_RING; i++)
    if (cm->req[i].used && cm->req[i].wire == wire)
      return &cm->req[i];
  return NULL;
}

void ea_cmd_on_ack(struct ea_cmd *cm, const struct fp_msg *m, int64_t now_ms)
{
  if (m->type == FP_MSG_PONG) {
    struct request *r = find_req(cm, m->id);
    if (r) {
      r->rtt_ms = now_ms - r->sent_ms;
      r->up_ms = m->u.pong.up_ms;
    }
    return;
  }
  if (m->type != FP_MSG_ACK)
    return;
  for (size_t i = 0; i < cm->nact; i++) {
    struct pending *p = &cm->act[i];
    if (p->wire != m->id)
      continue;
    const struct fp_msg_ack *a = &m->u.ack;
    if (!a->ok) {
      transition(cm, i, EA_CMD_FAILED, a->err[0] ? a->err : "refused", now_ms);
    } else if (a->stage == FP_STAGE_NODE) {
      transition(cm, i, EA_CMD_EXECUTED, NULL, now_ms);
    } else if (p->state == EA_CMD_ACCEPTED) {
      p->deadline_ms = now_ms + cm->o.node_timeout_ms;
      transition(cm, i, EA_CMD_SENT, NULL, now_ms);
    }
    return;
  }
  struct request *r = find_req(cm, m->id);
  if (r) {
    if (r->state == 0) {
      r->state = m->u.ack.ok ? 1 : 2;
      snprintf(r->err, sizeof r->err, "%s", m->u.ack.err);
      r->done_ms = now_ms;
    }
    return;
  }
  /* BAD-INPUTS 24: an ack after the outcome, or for nothing we sent. */
  sqlite3_stmt *s;
  bool known = false;
  if (sqlite3_prepare_v2(cm->db, "SELECT 1 FROM commands WHERE wire = ? AND wire != 0", -1, &s,
                         NULL) == SQLITE_OK) {
    sqlite3_bind_int64(s, 1, m->id);
    known = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
  }
  if (known)
    cm->st.late_acks++;
  else
    cm->st.unknown_acks++;
  fd_log_rl(cm->log, &cm->rl, FD_LOG_WARN, "commands: %s ack for id %u ignored",
            known ? "late" : "unknown", m->id);
}

void ea_cmd_link_up(struct ea_cmd *cm, int64_t now_ms)
{
  for (size_t i = 0; i < cm->nact; i++)
    if (cm->act[i].state == EA_CMD_ACCEPTED)
      cm->act[i].deadline_ms = now_ms;
  ea_cmd_tick(cm, now_ms);
}

int ea_cmd_tick(struct ea_cmd *cm, int64_t now_ms)
{
  int64_t next = -1;
  for (size_t i = 0; i < cm->nact;) {
    struct pending *p = &cm->act[i];
    if (p->state == EA_CMD_ACCEPTED) {
      if (now_ms >= p->expires_ms) {
        /* Not yet taken by the gateway: it never will be. */
        transition(cm, i, EA_CMD_EXPIRED, "expired before the gateway took it", now_ms);
        continue;
      }
      if (now_ms >= p->deadline_ms) {
        if (p->attempts > cm->o.retries) {
          transition(cm, i, EA_CMD_FAILED, "the gateway did not answer", now_ms);
          continue;
        }
        send_pending(cm, p, now_ms);
      }
    } else if (p->state == EA_CMD_SENT && now_ms >= p->deadline_ms) {
      transition(cm, i, EA_CMD_FAILED, "the node did not answer in time", now_ms);
      continue;
    }
    int64_t d = p->deadline_ms;
    if (p->state == EA_CMD_ACCEPTED && p->expires_ms < d)
      d = p->expires_ms;
    if (next < 0 || d < next)
      next = d;
    i++;
  }
  /* Gateway requests: resent like commands, failed when unanswered. */
  for (size_t i = 0; i < REQ_RING; i++) {
    struct request *r = &cm->req[i];
    if (!r->used || r->state != 0)
      continue;
    if (now_ms - r->sent_ms >= cm->o.timeout_ms) {
      if (r->attempts > cm->o.retries) {
        r->state = 2;
        snprintf(r->err, sizeof r->err, "the gateway did not answer");
        r->done_ms = now_ms;
        continue;
      }
      if (cm->cb.send && cm->cb.send(cm->ud, &r->msg) == 0)
        r->attempts++;
      r->sent_ms = now_ms;
    }
    int64_t d = r->sent_ms + cm->o.timeout_ms;
    if (next < 0 || d < next)
      next = d;
  }
  cm->st.pending = cm->nact;
  if (next < 0)
    return -1;
  return next <= now_ms ? 0 : (int)(next - now_ms > 60000 ? 60000 : next - now_ms);
}

json_t *ea_cmd_list_json(struct ea_cmd *cm, size_t max)
{
  json_t *arr = json_array();
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(cm->db,
                         "SELECT id, device, name, args, source, state, error, created_ms,"
                         " updated_ms, expires_ms, attempts FROM commands"
                         " ORDER BY created_ms DESC, rowid DESC LIMIT ?",
                         -1, &s, NULL) != SQLITE_OK)
    return arr;
  sqlite3_bind_int64(s, 1, (int64_t)max);
  while (sqlite3_step(s) == SQLITE_ROW) {
    json_t *o = json_object();
    static const char *const cols[] = {"id", "device", "name", NULL, "source", "state", "error"};
    for (int c = 0; c < 7; c++) {
      if (!cols[c])
        continue;
      const char *v = (const char *)sqlite3_column_text(s, c);
      json_object_set_new(o, cols[c], v ? json_string(v) : json_null());
    }
    const char *args = (const char *)sqlite3_column_text(s, 3);
    json_t *aj = args ? json_loads(args, 0, NULL) : NULL;
    json_object_set_new(o, "args", aj ? aj : json_object());
    json_object_set_new(o, "created", json_integer(sqlite3_column_int64(s, 7)));
    json_object_set_new(o, "updated", json_integer(sqlite3_column_int64(s, 8)));
    json_object_set_new(o, "expires", json_integer(sqlite3_column_int64(s, 9)));
    json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(s, 10)));
    json_array_append_new(arr, o);
  }
  sqlite3_finalize(s);
  return arr;
}

json_t *ea_cmd_get_json(struct ea_cmd *cm, const char *id)
{
  enum ea_cmd_state st;
  char dev[13], err[128];
  if (!lookup(cm, id, &st, dev, err, sizeof err))
    return NULL;
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "device", json_string(dev));
  json_object_set_new(o, "state", json_string(ea_cmd_state_name(st)));
  json_object_set_new(o, "error", err[0] ? json_string(err) : json_null());
  return o;
}

json_t *ea_cmd_requests_json(const struct ea_cmd *cm)
{
  json_t *arr = json_array();
  for (size_t k = 0; k < REQ_RING; k++) {
    /* newest first */
    const struct request *r = &cm->req[(cm->req_next + REQ_RING - 1 - k) % REQ_RING];
    if (!r->used)
      continue;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->wire));
    json_object_set_new(o, "type", json_string(fp_msg_type_name(r->msg.type)));
    json_object_set_new(o, "state",
                        json_string(r->state == 0   ? "waiting"
                                    : r->state == 1 ? "ok"
                                                    : "failed"));
    json_object_set_new(o, "error", r->err[0] ? json_string(r->err) : json_null());
    json_object_set_new(o, "created", json_integer(r->created_ms));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    if (r->msg.type == FP_MSG_PING && r->rtt_ms) {
      json_object_set_new(o, "rtt_ms", json_integer(r->rtt_ms));
      json_object_set_new(o, "gateway_up_ms", json_integer((json_int_t)r->up_ms));
    }
    json_array_append_new(arr, o);
  }
  return arr;
}

void ea_cmd_stats(const struct ea_cmd *cm, struct ea_cmd_stats *st)
{
  *st = cm->st;
  st->pending = cm->nact;
}

/* ------------------------------------------------------------------ */

static bool digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int ea_rfc3339_parse(const char *s, int64_t *ms)
{
  /* RFC 3339 §5.6: full-date "T" full-time; time-offset "Z" or +hh:mm. */
  int Y, M, D, h, m, sec;
  if (!s || strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
      s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
      !digits(s + 17, 2, &sec))
    return FARM_EINVAL;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
    return FARM_EINVAL;
  bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M == 2 && D == 29 && !leap)
    return FARM_EINVAL;
  const char *p = s + 19;
  int frac_ms = 0;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (nd < 3)
        frac_ms = frac_ms * 10 + (*p - '0');
      nd++;
      p++;
    }
    if (nd == 0)
      return FARM_EINVAL;
    for (int k = nd; k < 3; k++)
      frac_ms *= 10;
  }
  int off_min = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
      return FARM_EINVAL;
    off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return FARM_EINVAL;
  }
  if (*p)
    return FARM_EINVAL;
  struct tm tm = {.tm_year = Y - 1900,
                  .tm_mon = M - 1,
                  .tm_mday = D,
                  .tm_hour = h,
                  .tm_min = m,
                  .tm_sec = sec > 59 ? 59 : sec};
  time_t t = timegm(&tm);
  *ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac_ms;
  return 0;
}
