/* SPDX-License-Identifier: MIT */
/*
 * MQTT link: session set-up, the publishing window over the backlog with
 * its live and replay lanes, PUBACKs, the commit watermark, incoming
 * commands, and the resend of unconfirmed rows when the watermark stalls.
 */
#include "uplink.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "farmd/json.h"
#include "farmd/topic.h"

/* Rows fetched from the backlog per scan. */
#define SCAN_BATCH 64
/* A payload: the largest telemetry row (16 metrics) is under 1 KiB, events
 * and acks under 2 KiB. */
#define PAYLOAD_MAX 8192
/* Longest commit payload accepted ({"edge_seq": N} and some room). */
#define COMMIT_MAX 1024

struct slot {
  bool used;
  int mid;
  int64_t id;
  int64_t edge_seq;
  enum ea_row_kind kind;
};

struct ea_uplink {
  const struct ea_config *cfg;
  struct ea_backlog *bl;
  const struct fd_log *log;
  struct ea_uplink_callbacks cb;
  void *ud;
  struct fd_mqtt *mq;
  struct fd_ratelimit rl;

  char status_topic[FD_TOPIC_MAX];
  char commit_topic[FD_TOPIC_MAX];
  char cmd_filter[FD_TOPIC_MAX];
  char will[64];

  struct slot *slots;
  int window, used;

  bool up;            /* session up, cursors valid */
  int64_t cur_live;   /* last row id published in the live lane */
  int64_t cur_replay; /* last row id published in the replay lane */
  int64_t replay_end; /* rows up to here waited through an outage */
  double tokens;      /* replay pacing */
  int64_t tok_ms;
  int64_t last_wm_mono, last_resend_mono;

  /* rows the broker can never take, deleted after the scan */
  int64_t discard[SCAN_BATCH];
  int ndiscard;

  struct ea_uplink_stats st;
};

int ea_topic(char *buf, size_t cap, const char *site, const char *device, const char *leaf)
{
  int n = snprintf(buf, cap, "%s/%s/%s/%s", FD_TOPIC_ROOT, site, device, leaf);
  return n < 0 || (size_t)n >= cap ? FARM_ENOSPC : 0;
}

static void start_session(struct ea_uplink *u)
{
  int64_t committed = ea_backlog_committed_id(u->bl);
  u->up = true;
  u->used = 0;
  memset(u->slots, 0, (size_t)u->window * sizeof *u->slots);
  /* Everything already stored waited through an outage (or a restart):
   * replayed as history, paced; what comes now is live. */
  u->cur_replay = 0;
  u->replay_end = committed;
  u->cur_live = committed;
  u->tokens = u->cfg->mqtt_replay_rate < u->window ? u->cfg->mqtt_replay_rate : u->window;
  u->tok_ms = fd_mono_ms();
  u->last_wm_mono = u->tok_ms;
}

static void on_connect(void *ud, int reason)
{
  struct ea_uplink *u = ud;
  if (reason != 0)
    return; /* farmd logged the refusal and keeps retrying */
  u->st.connects++;
  start_session(u);
  /* The Last Will says offline; say online first thing (retained). */
  if (u->cb.on_connected)
    u->cb.on_connected(u->ud);
}

static void on_disconnect(void *ud, int reason)
{
  struct ea_uplink *u = ud;
  (void)reason;
  if (!u->up)
    return;
  u->up = false;
  u->used = 0;
  memset(u->slots, 0, (size_t)u->window * sizeof *u->slots);
  u->st.disconnects++;
  if (u->cb.on_disconnected)
    u->cb.on_disconnected(u->ud);
}

static void on_publish(void *ud, int mid, int reason)
{
  struct ea_uplink *u = ud;
  for (int i = 0; i < u->window; i++) {
    struct slot *s = &u->slots[i];
    if (!s->used || s->mid != mid)
      continue;
    s->used = false;
    u->used--;
    if (reason >= 0x80) {
      /* The broker refused it (an ACL, a quota): the row stays and is
       * tried again at the next session or resend. */
      u->st.refused++;
      u->st.last_refusal = reason;
      fd_log_rl(u->log, &u->rl, FD_LOG_ERROR,
                "mqtt: the broker refused a publish (reason 0x%02x); the row is kept", reason);
      return;
    }
    u->st.acked++;
    ea_backlog_puback(u->bl, s->id, s->kind, s->edge_seq);
    return;
  }
  /* Not ours (a state publish) or from a session that ended. */
}

static void handle_commit(struct ea_uplink *u, const struct fd_mqtt_msg *m)
{
  if (m->len == 0)
    return; /* a cleared retained message */
  json_t *o;
  char why[128];
  int rc = fd_json_parse(m->payload, m->len, COMMIT_MAX, &o, why, sizeof why);
  int64_t wm = 0;
  if (rc == 0) {
    rc = fd_json_get_i64(o, "edge_seq", true, 0, FD_JSON_MAX_SAFE_INT, 0, &wm);
    if (rc != 0)
      snprintf(why, sizeof why, "edge_seq: %s", farm_strerror(rc));
    json_decref(o);
  }
  if (rc != 0) {
    u->st.bad_payload++;
    fd_log_rl(u->log, &u->rl, FD_LOG_WARN, "mqtt: commit watermark refused: %s", why);
    return;
  }
  u->st.commits_received++;
  struct ea_backlog_stats before;
  ea_backlog_stats(u->bl, 0, &before);
  bool renumbered = false;
  if (ea_backlog_watermark(u->bl, wm, &renumbered) != 0)
    return;
  struct ea_backlog_stats after;
  ea_backlog_stats(u->bl, 0, &after);
  if (after.watermark != before.watermark || !before.watermark_seen) {
    u->last_wm_mono = fd_mono_ms();
    u->st.watermark = after.watermark;
    u->st.last_watermark_ms = fd_wall_ms();
  }
  if (renumbered && u->up) {
    /* Every held row has a new edge_seq: publish them all again. */
    u->st.renumbered++;
    int64_t committed = ea_backlog_committed_id(u->bl);
    u->cur_replay = 0;
    u->replay_end = committed > u->cur_live ? committed : u->cur_live;
    u->cur_live = u->replay_end;
  }
}

static void on_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct ea_uplink *u = ud;
  struct fd_topic t;
  if (fd_topic_parse(m->topic, strlen(m->topic), &t) != 0) {
    u->st.bad_topic++;
    char shown[96];
    fd_log_rl(u->log, &u->rl, FD_LOG_WARN, "mqtt: message on an unexpected topic '%s' dropped",
              fd_log_escape(m->topic, strlen(m->topic), shown, sizeof shown));
    return;
  }
  if (strcmp(t.site, u->cfg->site) != 0) {
    /* The broker's ACL should never let this through. */
    u->st.foreign_site++;
    fd_log_rl(u->log, &u->rl, FD_LOG_WARN, "mqtt: message for site '%s' dropped", t.site);
    return;
  }
  switch (t.kind) {
  case FD_TOPIC_EDGE_COMMIT:
    handle_commit(u, m);
    break;
  case FD_TOPIC_CMD:
    if (u->cb.on_cmd)
      u->cb.on_cmd(u->ud, t.device, m->payload, m->len);
    break;
  default:
    u->st.bad_topic++;
    break;
  }
}

int ea_uplink_new(const struct ea_config *cfg, struct ea_backlog *backlog, const struct fd_log *log,
                  const struct ea_uplink_callbacks *cb, void *ud, struct ea_uplink **out)
{
  *out = NULL;
  struct ea_uplink *u = calloc(1, sizeof *u);
  if (!u)
    return FARM_ENOMEM;
  u->cfg = cfg;
  u->bl = backlog;
  u->log = log;
  if (cb)
    u->cb = *cb;
  u->ud = ud;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(10, 10000);
  u->rl = rl;
  u->window = cfg->mqtt_inflight;
  u->slots = calloc((size_t)u->window, sizeof *u->slots);
  if (!u->slots) {
    free(u);
    return FARM_ENOMEM;
  }
  ea_topic(u->status_topic, sizeof u->status_topic, cfg->site, FD_EDGE_DEVICE, "status");
  ea_topic(u->commit_topic, sizeof u->commit_topic, cfg->site, FD_EDGE_DEVICE, "commit");
  ea_topic(u->cmd_filter, sizeof u->cmd_filter, cfg->site, "+", "cmd");
  snprintf(u->will, sizeof u->will, "{\"online\":false,\"state\":\"offline\"}");

  struct fd_mqtt_config mc = {
      .host = cfg->mqtt_host,
      .port = cfg->mqtt_port,
      .client_id = cfg->mqtt_client_id,
      .tls = cfg->mqtt_tls,
      .ca_file = cfg->mqtt_cafile,
      .cert_file = cfg->mqtt_certfile,
      .key_file = cfg->mqtt_keyfile,
      .username = cfg->mqtt_username,
      .password = cfg->mqtt_password,
      .keepalive_s = cfg->mqtt_keepalive_s,
      /* A persistent session: commands published while the edge is away
       * wait for it at the broker. */
      .clean_start = false,
      .session_expiry_s = cfg->mqtt_session_expiry_s,
      .will_topic = u->status_topic,
      .will_payload = u->will,
      .will_retain = true,
      .reconnect_min_s = 1,
      .reconnect_max_s = cfg->mqtt_reconnect_max_s,
      .queue_max = 1024,
  };
  struct fd_mqtt_callbacks mcb = {.on_connect = on_connect,
                                  .on_disconnect = on_disconnect,
                                  .on_message = on_message,
                                  .on_publish = on_publish};
  int rc = fd_mqtt_new(&mc, log, &mcb, u, &u->mq);
  if (rc == 0)
    rc = fd_mqtt_subscribe(u->mq, u->cmd_filter, 1, false);
  if (rc == 0)
    rc = fd_mqtt_subscribe(u->mq, u->commit_topic, 1, false);
  if (rc == 0)
    rc = fd_mqtt_start(u->mq);
  if (rc != 0) {
    ea_uplink_free(u);
    return rc;
  }
  *out = u;
  return 0;
}

void ea_uplink_free(struct ea_uplink *u)
{
  if (!u)
    return;
  fd_mqtt_free(u->mq);
  free(u->slots);
  free(u);
}

int ea_uplink_fd(const struct ea_uplink *u)
{
  return fd_mqtt_fd(u->mq);
}

void ea_uplink_dispatch(struct ea_uplink *u)
{
  fd_mqtt_dispatch(u->mq, 0);
}

bool ea_uplink_connected(const struct ea_uplink *u)
{
  return u->up;
}

int ea_uplink_publish_state(struct ea_uplink *u, const char *topic, const char *payload,
                            bool retain)
{
  if (!u->up)
    return FARM_ECLOSED;
  return fd_mqtt_publish(u->mq, topic, payload, strlen(payload), 1, retain, NULL);
}

struct scan_ctx {
  struct ea_uplink *u;
  int64_t *cursor;
  bool hist;
  bool stop;
  int budget; /* rows this scan may publish */
};

static struct slot *free_slot(struct ea_uplink *u)
{
  for (int i = 0; i < u->window; i++)
    if (!u->slots[i].used)
      return &u->slots[i];
  return NULL;
}

static bool publish_row(void *ud, const struct ea_row *row)
{
  struct scan_ctx *c = ud;
  struct ea_uplink *u = c->u;
  if (c->budget <= 0 || u->used >= u->window)
    return false;
  static char payload[PAYLOAD_MAX]; /* one loop thread */
  const char *data;
  size_t len;
  if (row->kind == EA_ROW_TELEMETRY) {
    int n = ea_backlog_payload(row, c->hist, payload, sizeof payload);
    if (n < 0) {
      if (u->ndiscard < SCAN_BATCH)
        u->discard[u->ndiscard++] = row->id;
      *c->cursor = row->id;
      return true;
    }
    data = payload;
    len = (size_t)n;
  } else {
    data = row->body;
    len = row->body_len;
  }
  int mid = 0;
  int rc = fd_mqtt_publish(u->mq, row->topic, data, len, 1, false, &mid);
  if (rc == FARM_ECLOSED || rc == FARM_ENOMEM || rc == FARM_EIO) {
    c->stop = true;
    return false;
  }
  *c->cursor = row->id;
  if (rc != 0) {
    /* A topic or size the broker would never take. */
    fd_log_rl(u->log, &u->rl, FD_LOG_ERROR,
              "mqtt: row %" PRId64 " cannot be published (%s); "
              "discarded",
              row->id, farm_strerror(rc));
    if (u->ndiscard < SCAN_BATCH)
      u->discard[u->ndiscard++] = row->id;
    return true;
  }
  struct slot *s = free_slot(u);
  assert(s);
  s->used = true;
  s->mid = mid;
  s->id = row->id;
  s->edge_seq = row->edge_seq;
  s->kind = row->kind;
  u->used++;
  c->budget--;
  u->st.published++;
  if (c->hist)
    u->st.hist_published++;
  else
    u->st.live_published++;
  return true;
}

static void flush_discards(struct ea_uplink *u)
{
  for (int i = 0; i < u->ndiscard; i++)
    ea_backlog_discard(u->bl, u->discard[i]);
  u->ndiscard = 0;
}

/* Publishes from one lane; returns false when the link stopped. */
static bool lane(struct ea_uplink *u, int64_t *cursor, int64_t upto, bool hist, int budget)
{
  while (u->used < u->window && *cursor < upto && budget > 0) {
    int room = u->window - u->used;
    int n = room < budget ? room : budget;
    if (n > SCAN_BATCH)
      n = SCAN_BATCH;
    struct scan_ctx c = {.u = u, .cursor = cursor, .hist = hist, .budget = n};
    int64_t before = *cursor;
    int rc = ea_backlog_scan(u->bl, *cursor, upto, (size_t)n, publish_row, &c);
    flush_discards(u);
    if (c.stop || rc < 0)
      return false;
    budget -= n - c.budget;
    if (rc == 0 || *cursor == before) {
      /* Nothing left below upto (deleted rows leave holes in the ids). */
      *cursor = upto;
      break;
    }
  }
  return true;
}

int ea_uplink_pump(struct ea_uplink *u, int64_t mono_ms)
{
  if (!u->up)
    return -1;
  int64_t committed = ea_backlog_committed_id(u->bl);
  if (u->cur_live < u->replay_end)
    u->cur_live = u->replay_end;

  /* The watermark stalls while rows wait for it: the cloud lost some
   * (a broker that crashed after its PUBACK). Publish them again. */
  int64_t resend_ms = (int64_t)u->cfg->mqtt_resend_s * 1000;
  if (u->used == 0 && u->cur_replay >= u->replay_end && u->cur_live >= committed &&
      mono_ms - u->last_wm_mono > resend_ms && mono_ms - u->last_resend_mono > resend_ms) {
    struct ea_backlog_stats bs;
    ea_backlog_stats(u->bl, 0, &bs);
    /* Looked at: not again before the next period, whatever it found. */
    u->last_resend_mono = mono_ms;
    if (bs.watermark_seen && bs.depth > 0) {
      u->st.resends++;
      u->cur_replay = 0;
      u->replay_end = committed;
      u->cur_live = committed;
      fd_log(u->log, FD_LOG_WARN,
             "mqtt: commit watermark stalled at %" PRId64 " for %d s with %" PRIu64
             " rows held; publishing them again",
             bs.watermark, u->cfg->mqtt_resend_s, bs.depth);
    }
  }

  /* Live rows first: a replay never delays what is happening now. */
  if (!lane(u, &u->cur_live, committed, false, INT32_MAX))
    return -1;

  int wait = -1;
  if (u->cur_replay < u->replay_end) {
    double rate = u->cfg->mqtt_replay_rate;
    double burst = rate < u->window ? rate : u->window;
    if (burst < 1)
      burst = 1;
    u->tokens += (double)(mono_ms - u->tok_ms) * rate / 1000.0;
    if (u->tokens > burst)
      u->tokens = burst;
    u->tok_ms = mono_ms;
    int budget = (int)u->tokens;
    if (budget > 0) {
      int64_t before_pub = (int64_t)u->st.hist_published;
      if (!lane(u, &u->cur_replay, u->replay_end, true, budget))
        return -1;
      u->tokens -= (double)((int64_t)u->st.hist_published - before_pub);
    }
    if (u->cur_replay < u->replay_end) {
      wait = u->tokens >= 1 ? 0 : (int)((1.0 - u->tokens) * 1000.0 / rate) + 1;
      if (u->used >= u->window)
        wait = -1; /* a PUBACK will wake the loop */
    }
  }
  u->st.replaying = u->cur_replay < u->replay_end;
  return wait;
}

void ea_uplink_stats(const struct ea_uplink *u, struct ea_uplink_stats *st)
{
  *st = u->st;
  st->connected = u->up;
  st->inflight = (uint64_t)u->used;
  st->replaying = u->up && u->cur_replay < u->replay_end;
}
