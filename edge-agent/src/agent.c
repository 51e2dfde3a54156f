/* SPDX-License-Identifier: MIT */
/*
 * The agent's loop and the routing between its modules: gateway messages
 * into the backlog, peers and commands; group commits followed by the rx
 * and the publishing they allow; edge, gateway and device states; timers;
 * systemd notification.
 */
#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timex.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "backlog.h"
#include "bridge.h"
#include "farm/error.h"
#include "farmd/json.h"
#include "farmd/topic.h"
#include "peers.h"
#include "uplink.h"
#include "web.h"

#ifndef EA_VERSION
#define EA_VERSION "0.0.0"
#endif

/* Telemetry of nodes goes to one group (DESIGN §6 …/telemetry/{group}). */
#define TEL_GROUP      "env"
#define BODY_MAX       2048
#define TICK_MS        1000
#define CLOCK_CHECK_MS 60000

struct ea_agent {
  const struct ea_config *cfg;
  struct fd_log log;
  struct fd_ratelimit rl;
  struct ea_backlog *bl;
  struct ea_bridge *br;
  struct ea_uplink *up;
  struct ea_cmd *cm;
  struct ea_peers *peers;
  struct ea_web *web;
  int sigfd;
  bool stop;

  int64_t start_mono;
  int64_t next_tick, next_status, next_sync, next_clock_check, next_watchdog;
  uint64_t watchdog_ms; /* 0: no watchdog */
  bool status_due;
  bool clock_synced;
  bool was_degraded;
  bool corrupt_reported;
  bool gw_status_due;

  char edge_status_topic[FD_TOPIC_MAX];
  char edge_event_topic[FD_TOPIC_MAX];

  struct {
    uint64_t tel_stored, tel_duplicates, tel_refused_full, events_stored, events_duplicates;
    uint64_t acks_direct, logs;
  } n;
};

static int64_t wall(void)
{
  return fd_wall_ms();
}

/* Shortest text that reads back as the same double (JSON has no NaN or
 * infinity; the decoder rejected those, protocol §4.6). */
static int put_number(char *buf, size_t cap, double v)
{
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v)
      break;
  }
  return snprintf(buf, cap, "%s", tmp);
}

/* The telemetry body: the payload without edge_seq and hist, which the
 * backlog adds when it publishes (backlog.h). */
static int tel_body(struct ea_agent *a, const struct fp_msg_tel *t, int64_t ts, int64_t rx,
                    char *buf, size_t cap)
{
  int n = snprintf(buf, cap,
                   "\"boot\":%" PRIu32 ",\"seq\":%" PRIu32 ",\"ts\":%" PRId64 ",\"up_ms\":%" PRIu64
                   ",\"rx_ts\":%" PRId64 ",\"rssi\":%d,\"synthetic\":%s%s,\"v\":{",
                   t->boot, t->seq, ts, t->up_ms, rx, t->rssi, t->syn ? "true" : "false",
                   a->clock_synced ? "" : ",\"ts_unsync\":true");
  if (n < 0 || (size_t)n >= cap)
    return FARM_ENOSPC;
  size_t off = (size_t)n;
  for (unsigned i = 0; i < t->n_metrics; i++) {
    n = snprintf(buf + off, cap - off, "%s\"%s\":", i ? "," : "", t->v[i].name);
    if (n < 0 || (size_t)n >= cap - off)
      return FARM_ENOSPC;
    off += (size_t)n;
    n = put_number(buf + off, cap - off, t->v[i].value);
    if (n < 0 || (size_t)n >= cap - off)
      return FARM_ENOSPC;
    off += (size_t)n;
  }
  if (off + 2 > cap)
    return FARM_ENOSPC;
  buf[off++] = '}';
  buf[off] = '\0';
  return (int)off;
}

static json_t *args_json(const struct fp_arg *args, unsigned n)
{
  json_t *o = json_object();
  for (unsigned i = 0; i < n; i++) {
    const struct fp_arg *g = &args[i];
    json_t *v = NULL;
    switch (g->kind) {
    case FP_ARG_INT:
      v = json_integer(g->v.i);
      break;
    case FP_ARG_FLOAT:
      v = json_real(g->v.f);
      break;
    case FP_ARG_BOOL:
      v = json_boolean(g->v.b);
      break;
    case FP_ARG_STR:
      v = json_string(g->v.s);
      break;
    }
    if (v)
      json_object_set_new(o, g->key, v);
  }
  return o;
}

/* A state message directly on the link (latest wins, republished at every
 * connect). */
static void publish_state(struct ea_agent *a, const char *topic, const char *payload)
{
  if (ea_uplink_connected(a->up))
    ea_uplink_publish_state(a->up, topic, payload, true);
}

/* An event of the edge itself: through the backlog when it works. */
static void edge_event(struct ea_agent *a, json_t *o)
{
  json_object_set_new(o, "ts", json_integer(wall()));
  char *text = fd_json_dump(o);
  json_decref(o);
  if (!text)
    return;
  struct ea_row_in r = {.kind = EA_ROW_EVENT, .topic = a->edge_event_topic, .body = text};
  if (ea_backlog_add(a->bl, &r, wall(), NULL) != 0 && ea_uplink_connected(a->up))
    ea_uplink_publish_state(a->up, a->edge_event_topic, text, false);
  free(text);
}

static void send_time_sync(struct ea_agent *a)
{
  struct fp_msg m = {.type = FP_MSG_TIME_SYNC};
  m.u.time_sync.ts = (uint64_t)wall();
  uint32_t id;
  ea_cmd_request(a->cm, &m, wall(), &id);
  a->next_sync = a->cfg->time_sync_interval_s
                     ? fd_mono_ms() + (int64_t)a->cfg->time_sync_interval_s * 1000
                     : INT64_MAX;
}

static void gateway_status(struct ea_agent *a)
{
  const struct ea_gateway *g = ea_peers_gateway(a->peers);
  if (!g->seen || !ea_uplink_connected(a->up))
    return;
  json_t *o = json_object();
  json_object_set_new(o, "online", json_true());
  json_object_set_new(o, "state", json_string("online"));
  json_object_set_new(o, "role", json_string("gateway"));
  json_object_set_new(o, "fw", json_string(g->fw));
  json_object_set_new(o, "ch", json_integer(g->ch));
  json_object_set_new(o, "peers", json_integer(g->peers));
  json_object_set_new(o, "boot", json_integer(g->boot));
  json_object_set_new(o, "last_seen", json_integer(g->hello_ms));
  char *text = fd_json_dump(o);
  json_decref(o);
  char topic[FD_TOPIC_MAX];
  if (text && ea_topic(topic, sizeof topic, a->cfg->site, g->id, "status") == 0)
    publish_state(a, topic, text);
  free(text);
  a->gw_status_due = false;
}

/* ------------------------------------------------------------------ */
/* Gateway messages                                                    */

static int on_tel(struct ea_agent *a, const struct fp_msg_tel *t, int64_t now)
{
  char dev[13], topic[FD_TOPIC_MAX], body[BODY_MAX];
  ea_mac_id(t->mac, dev);
  int64_t ts = ea_peers_on_tel(a->peers, t, now);
  if (tel_body(a, t, ts, now, body, sizeof body) < 0 ||
      ea_topic(topic, sizeof topic, a->cfg->site, dev, "telemetry/" TEL_GROUP) != 0)
    return 0; /* cannot happen for a decoded message; nothing to store */
  struct ea_row_in r = {.kind = EA_ROW_TELEMETRY,
                        .topic = topic,
                        .body = body,
                        .has_key = true,
                        .device = dev,
                        .boot = t->boot,
                        .seq = t->seq};
  int rc = ea_backlog_add(a->bl, &r, now, NULL);
  switch (rc) {
  case 0:
    a->n.tel_stored++;
    return 0;
  case FARM_EEXIST:
    a->n.tel_duplicates++;
    return FARM_EEXIST;
  case FARM_ENOSPC:
    /* reject_new: the reading is refused (counted in the backlog) and
     * acknowledged like a handled message. */
    a->n.tel_refused_full++;
    fd_log_rl(&a->log, &a->rl, FD_LOG_WARN, "backlog full (reject_new): reading %s/%u/%u refused",
              dev, t->boot, t->seq);
    return 0;
  default:
    return FARM_EIO;
  }
}

static int on_evt(struct ea_agent *a, const struct fp_msg_evt *e, int64_t now)
{
  char dev[13], topic[FD_TOPIC_MAX];
  ea_mac_id(e->mac, dev);
  ea_peers_on_evt(a->peers, e, now);
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string(e->name));
  json_object_set_new(o, "ts", json_integer(now));
  json_object_set_new(o, "rx_ts", json_integer(now));
  if (e->has_boot)
    json_object_set_new(o, "boot", json_integer(e->boot));
  if (e->has_seq)
    json_object_set_new(o, "seq", json_integer(e->seq));
  if (e->n_args)
    json_object_set_new(o, "args", args_json(e->args, e->n_args));
  char *text = fd_json_dump(o);
  json_decref(o);
  if (!text || ea_topic(topic, sizeof topic, a->cfg->site, dev, "event") != 0) {
    free(text);
    return 0;
  }
  struct ea_row_in r = {.kind = EA_ROW_EVENT,
                        .topic = topic,
                        .body = text,
                        .has_key = e->has_boot && e->has_seq,
                        .device = dev,
                        .boot = e->boot,
                        .seq = e->seq};
  int rc = ea_backlog_add(a->bl, &r, now, NULL);
  free(text);
  if (rc == 0)
    a->n.events_stored++;
  else if (rc == FARM_EEXIST)
    a->n.events_duplicates++;
  if (rc == FARM_EIO)
    return FARM_EIO;
  return rc == FARM_EEXIST ? FARM_EEXIST : 0;
}

static int on_msg(void *ud, const struct fp_msg *m, int64_t now)
{
  struct ea_agent *a = ud;
  switch (m->type) {
  case FP_MSG_HELLO:
    ea_peers_on_hello(a->peers, &m->u.hello, now);
    fd_log(&a->log, FD_LOG_INFO, "gateway %s started (firmware %s, channel %u, %u peers, boot %u)",
           ea_peers_gateway(a->peers)->id, m->u.hello.fw, m->u.hello.ch, m->u.hello.peers,
           m->u.hello.boot);
    /* A gateway start: it needs the time now (protocol §4.5). */
    send_time_sync(a);
    a->gw_status_due = true;
    a->status_due = true;
    return 0;
  case FP_MSG_TEL:
    return on_tel(a, &m->u.tel, now);
  case FP_MSG_EVT:
    return on_evt(a, &m->u.evt, now);
  case FP_MSG_PEER:
    ea_peers_on_peer(a->peers, &m->u.peer, now);
    return 0;
  case FP_MSG_ACK:
  case FP_MSG_PONG:
    ea_cmd_on_ack(a->cm, m, now);
    return 0;
  case FP_MSG_LOG: {
    a->n.logs++;
    ea_peers_on_log(a->peers, &m->u.log, now);
    char shown[256];
    fd_log_escape(m->u.log.msg, strlen(m->u.log.msg), shown, sizeof shown);
    fd_log_rl(&a->log, &a->rl, m->u.log.lvl <= 1 ? FD_LOG_WARN : FD_LOG_DEBUG, "gateway: %s",
              shown);
    return 0;
  }
  case FP_MSG_STATS:
    ea_peers_on_stats(a->peers, &m->u.stats, now);
    return 0;
  default:
    return 0;
  }
}

static void on_link(void *ud, bool up)
{
  struct ea_agent *a = ud;
  a->status_due = true;
  if (up) {
    ea_cmd_link_up(a->cm, wall());
    send_time_sync(a);
  }
}

/* ------------------------------------------------------------------ */
/* Commands and the MQTT link                                          */

static int cmd_send(void *ud, const struct fp_msg *m)
{
  struct ea_agent *a = ud;
  return ea_bridge_send(a->br, m);
}

static void cmd_ack(void *ud, const char *device, const char *json)
{
  struct ea_agent *a = ud;
  char topic[FD_TOPIC_MAX];
  if (ea_topic(topic, sizeof topic, a->cfg->site, device, "ack") != 0)
    return;
  struct ea_row_in r = {.kind = EA_ROW_ACK, .topic = topic, .body = json};
  if (ea_backlog_add(a->bl, &r, wall(), NULL) != 0 && ea_uplink_connected(a->up)) {
    /* No storage: the state still goes out while the link is up. */
    a->n.acks_direct++;
    ea_uplink_publish_state(a->up, topic, json, false);
  }
}

static void on_connected(void *ud)
{
  struct ea_agent *a = ud;
  a->status_due = true;
  a->gw_status_due = true;
  ea_peers_mark_all(a->peers);
}

static void on_cmd(void *ud, const char *device, const char *payload, size_t len)
{
  struct ea_agent *a = ud;
  ea_cmd_from_mqtt(a->cm, device, payload, len, wall());
}

/* ------------------------------------------------------------------ */
/* JSON views                                                          */

json_t *ea_agent_backlog_json(struct ea_agent *a)
{
  struct ea_backlog_stats s;
  int64_t now = wall();
  ea_backlog_stats(a->bl, now, &s);
  json_t *o = json_object();
  json_object_set_new(o, "depth", json_integer((json_int_t)s.depth));
  json_object_set_new(o, "bytes", json_integer(s.bytes));
  json_object_set_new(o, "max_bytes", json_integer(s.max_bytes));
  json_object_set_new(o, "oldest_age_ms", json_integer(s.oldest_ms ? now - s.oldest_ms : 0));
  json_object_set_new(o, "policy",
                      json_string(a->cfg->backlog_full_policy == EA_FULL_DROP_OLDEST
                                      ? "drop_oldest"
                                      : "reject_new"));
  json_object_set_new(o, "next_edge_seq", json_integer(s.next_edge_seq));
  json_object_set_new(o, "first_edge_seq", json_integer(s.first_edge_seq));
  json_object_set_new(o, "watermark", json_integer(s.watermark));
  json_object_set_new(o, "watermark_seen", json_boolean(s.watermark_seen));
  json_object_set_new(o, "added", json_integer((json_int_t)s.added));
  json_object_set_new(o, "duplicates", json_integer((json_int_t)s.duplicates));
  json_object_set_new(o, "dropped_oldest", json_integer((json_int_t)s.dropped_oldest));
  json_object_set_new(o, "rejected_full", json_integer((json_int_t)s.rejected_full));
  json_object_set_new(o, "deleted", json_integer((json_int_t)s.deleted));
  json_object_set_new(o, "renumbered", json_integer((json_int_t)s.renumbered));
  json_object_set_new(o, "discarded", json_integer((json_int_t)s.discarded));
  json_object_set_new(o, "write_errors", json_integer((json_int_t)s.write_errors));
  json_object_set_new(o, "commits", json_integer((json_int_t)s.commits));
  json_object_set_new(o, "available", json_boolean(s.available));
  json_object_set_new(o, "degraded", json_boolean(s.degraded));
  json_object_set_new(o, "reason", json_string(s.reason));
  json_object_set_new(o, "corrupt_alarm", json_boolean(s.corrupt_alarm));
  json_object_set_new(o, "corrupt_path", json_string(s.corrupt_path));
  return o;
}

static json_t *alarms_json(struct ea_agent *a, const struct ea_backlog_stats *s)
{
  (void)a;
  json_t *arr = json_array();
  if (s->corrupt_alarm)
    json_array_append_new(arr, json_string("backlog_corrupt"));
  if (s->degraded)
    json_array_append_new(arr, json_string("backlog_degraded"));
  return arr;
}

/* The retained edge status: health, backlog depth, bytes and oldest age,
 * and the floor of the commit watermark (docs/iot-streamer.md). */
static char *edge_status_text(struct ea_agent *a)
{
  struct ea_backlog_stats s;
  int64_t now = wall();
  ea_backlog_stats(a->bl, now, &s);
  struct ea_bridge_stats bs;
  ea_bridge_stats(a->br, &bs);
  json_t *o = json_object();
  json_object_set_new(o, "online", json_true());
  json_object_set_new(o, "state", json_string("online"));
  json_object_set_new(o, "ts", json_integer(now));
  json_object_set_new(o, "version", json_string(EA_VERSION));
  json_object_set_new(o, "uptime_s", json_integer((fd_mono_ms() - a->start_mono) / 1000));
  json_object_set_new(o, "interval_ms", json_integer((json_int_t)a->cfg->status_interval_s * 1000));
  json_object_set_new(o, "degraded", json_boolean(s.degraded));
  if (s.degraded)
    json_object_set_new(o, "degraded_reason", json_string(s.reason));
  json_object_set_new(o, "alarms", alarms_json(a, &s));
  json_t *b = json_object();
  json_object_set_new(b, "depth", json_integer((json_int_t)s.depth));
  json_object_set_new(b, "bytes", json_integer(s.bytes));
  json_object_set_new(b, "oldest_age_ms", json_integer(s.oldest_ms ? now - s.oldest_ms : 0));
  json_object_set_new(b, "dropped_oldest", json_integer((json_int_t)s.dropped_oldest));
  json_object_set_new(b, "rejected_full", json_integer((json_int_t)s.rejected_full));
  json_object_set_new(o, "backlog", b);
  json_object_set_new(o, "backlog_first_edge_seq", json_integer(s.first_edge_seq));
  json_object_set_new(o, "serial_open", json_boolean(bs.open));
  json_object_set_new(o, "clock_synced", json_boolean(a->clock_synced));
  size_t n = ea_peers_count(a->peers), on = 0;
  for (size_t i = 0; i < n; i++)
    on += ea_peers_at(a->peers, i)->online;
  json_object_set_new(o, "peers", json_integer((json_int_t)n));
  json_object_set_new(o, "peers_online", json_integer((json_int_t)on));
  char *text = fd_json_dump(o);
  json_decref(o);
  return text;
}

json_t *ea_agent_status_json(struct ea_agent *a)
{
  const struct ea_config *c = a->cfg;
  struct ea_backlog_stats s;
  int64_t now = wall();
  ea_backlog_stats(a->bl, now, &s);
  json_t *o = json_object();

  json_t *e = json_object();
  json_object_set_new(e, "site", json_string(c->site));
  json_object_set_new(e, "version", json_string(EA_VERSION));
  json_object_set_new(e, "uptime_s", json_integer((fd_mono_ms() - a->start_mono) / 1000));
  json_object_set_new(e, "degraded", json_boolean(s.degraded));
  json_object_set_new(e, "degraded_reason", json_string(s.reason));
  json_object_set_new(e, "alarms", alarms_json(a, &s));
  json_object_set_new(e, "clock_synced", json_boolean(a->clock_synced));
  json_object_set_new(e, "time", json_integer(now));
  json_object_set_new(o, "edge", e);

  struct ea_bridge_stats bs;
  ea_bridge_stats(a->br, &bs);
  json_t *sr = json_object();
  json_object_set_new(sr, "port", json_string(c->serial_port));
  json_object_set_new(sr, "baud", json_integer(c->serial_baud));
  json_object_set_new(sr, "codec", json_string(fp_codec_name(c->serial_codec)));
  json_object_set_new(sr, "open", json_boolean(bs.open));
  json_object_set_new(sr, "opens", json_integer((json_int_t)bs.opens));
  json_object_set_new(sr, "losses", json_integer((json_int_t)bs.losses));
  json_object_set_new(sr, "bytes", json_integer((json_int_t)bs.frames.bytes));
  json_object_set_new(sr, "frames", json_integer(bs.frames.frames));
  json_object_set_new(sr, "empty", json_integer(bs.frames.empty));
  json_object_set_new(sr, "short", json_integer(bs.frames.shortf));
  json_object_set_new(sr, "cobs", json_integer(bs.frames.cobs));
  json_object_set_new(sr, "crc", json_integer(bs.frames.crc));
  json_object_set_new(sr, "oversize", json_integer(bs.frames.oversize));
  json_object_set_new(sr, "decode_errors", json_integer((json_int_t)bs.decode_errors));
  json_t *codes = json_object();
  for (int i = 1; i < EA_BRIDGE_CODES; i++)
    if (bs.by_code[i])
      json_object_set_new(codes, farm_errname(-i), json_integer((json_int_t)bs.by_code[i]));
  json_object_set_new(sr, "decode_errors_by_code", codes);
  json_object_set_new(sr, "unreadable", json_integer((json_int_t)bs.unreadable));
  json_object_set_new(sr, "wrong_direction", json_integer((json_int_t)bs.wrong_direction));
  json_object_set_new(sr, "resends", json_integer((json_int_t)bs.resends));
  json_object_set_new(sr, "gaps", json_integer((json_int_t)bs.gaps));
  json_object_set_new(sr, "numbering_resets", json_integer((json_int_t)bs.numbering_resets));
  json_object_set_new(sr, "storage_refusals", json_integer((json_int_t)bs.storage_refusals));
  json_object_set_new(sr, "accepted", json_integer((json_int_t)bs.accepted));
  json_object_set_new(sr, "committed_gseq", json_integer(bs.committed_gseq));
  json_object_set_new(sr, "rx_sent", json_integer((json_int_t)bs.rx_sent));
  json_object_set_new(sr, "tx_frames", json_integer((json_int_t)bs.tx_frames));
  json_object_set_new(sr, "tx_dropped", json_integer((json_int_t)bs.tx_dropped));
  json_object_set_new(sr, "last_frame_ms", json_integer(bs.last_frame_ms));
  json_object_set_new(sr, "readings_stored", json_integer((json_int_t)a->n.tel_stored));
  json_object_set_new(sr, "readings_duplicate", json_integer((json_int_t)a->n.tel_duplicates));
  json_object_set_new(sr, "readings_refused_full", json_integer((json_int_t)a->n.tel_refused_full));
  json_object_set_new(sr, "events_stored", json_integer((json_int_t)a->n.events_stored));
  json_object_set_new(o, "serial", sr);

  struct ea_uplink_stats us;
  ea_uplink_stats(a->up, &us);
  json_t *mq = json_object();
  char broker[300];
  snprintf(broker, sizeof broker, "%s:%d", c->mqtt_host, c->mqtt_port);
  json_object_set_new(mq, "broker", json_string(broker));
  json_object_set_new(mq, "tls", json_boolean(c->mqtt_tls));
  json_object_set_new(mq, "client_id", json_string(c->mqtt_client_id));
  json_object_set_new(mq, "connected", json_boolean(us.connected));
  json_object_set_new(mq, "connects", json_integer((json_int_t)us.connects));
  json_object_set_new(mq, "disconnects", json_integer((json_int_t)us.disconnects));
  json_object_set_new(mq, "published", json_integer((json_int_t)us.published));
  json_object_set_new(mq, "acked", json_integer((json_int_t)us.acked));
  json_object_set_new(mq, "refused", json_integer((json_int_t)us.refused));
  json_object_set_new(mq, "inflight", json_integer((json_int_t)us.inflight));
  json_object_set_new(mq, "live_published", json_integer((json_int_t)us.live_published));
  json_object_set_new(mq, "hist_published", json_integer((json_int_t)us.hist_published));
  json_object_set_new(mq, "replaying", json_boolean(us.replaying));
  json_object_set_new(mq, "resends", json_integer((json_int_t)us.resends));
  json_object_set_new(mq, "commits_received", json_integer((json_int_t)us.commits_received));
  json_object_set_new(mq, "bad_topic", json_integer((json_int_t)us.bad_topic));
  json_object_set_new(mq, "bad_payload", json_integer((json_int_t)us.bad_payload));
  json_object_set_new(mq, "foreign_site", json_integer((json_int_t)us.foreign_site));
  json_object_set_new(o, "mqtt", mq);

  json_object_set_new(o, "backlog", ea_agent_backlog_json(a));

  const struct ea_gateway *g = ea_peers_gateway(a->peers);
  json_t *gw = json_object();
  json_object_set_new(gw, "seen", json_boolean(g->seen));
  if (g->seen) {
    json_object_set_new(gw, "id", json_string(g->id));
    json_object_set_new(gw, "fw", json_string(g->fw));
    json_object_set_new(gw, "ch", json_integer(g->ch));
    json_object_set_new(gw, "peers", json_integer(g->peers));
    json_object_set_new(gw, "boot", json_integer(g->boot));
    json_object_set_new(gw, "hello_ms", json_integer(g->hello_ms));
  }
  json_t *cnt = json_object();
  for (unsigned i = 0; i < g->n_counters; i++)
    json_object_set_new(cnt, g->counters[i].name, json_integer((json_int_t)g->counters[i].value));
  json_object_set_new(gw, "counters", cnt);
  json_t *lines = json_array();
  for (size_t k = 0; k < g->log_count; k++) {
    size_t i = (g->log_next + EA_GW_LOG_LINES - 1 - k) % EA_GW_LOG_LINES;
    json_t *l = json_object();
    json_object_set_new(l, "ts", json_integer(g->log[i].ms));
    json_object_set_new(l, "lvl", json_integer(g->log[i].lvl));
    json_object_set_new(l, "msg", json_string(g->log[i].msg));
    json_array_append_new(lines, l);
  }
  json_object_set_new(gw, "log", lines);
  json_object_set_new(o, "gateway", gw);

  struct ea_cmd_stats cs;
  ea_cmd_stats(a->cm, &cs);
  json_t *cj = json_object();
  json_object_set_new(cj, "received", json_integer((json_int_t)cs.received));
  json_object_set_new(cj, "duplicates", json_integer((json_int_t)cs.duplicates));
  json_object_set_new(cj, "invalid", json_integer((json_int_t)cs.invalid));
  json_object_set_new(cj, "accepted", json_integer((json_int_t)cs.accepted));
  json_object_set_new(cj, "sent", json_integer((json_int_t)cs.sent));
  json_object_set_new(cj, "executed", json_integer((json_int_t)cs.executed));
  json_object_set_new(cj, "failed", json_integer((json_int_t)cs.failed));
  json_object_set_new(cj, "expired", json_integer((json_int_t)cs.expired));
  json_object_set_new(cj, "resends", json_integer((json_int_t)cs.resends));
  json_object_set_new(cj, "unknown_acks", json_integer((json_int_t)cs.unknown_acks));
  json_object_set_new(cj, "late_acks", json_integer((json_int_t)cs.late_acks));
  json_object_set_new(cj, "dropped", json_integer((json_int_t)cs.dropped));
  json_object_set_new(cj, "pending", json_integer((json_int_t)cs.pending));
  json_object_set_new(o, "commands", cj);
  json_object_set_new(o, "requests", ea_cmd_requests_json(a->cm));

  json_t *hj = json_object();
  if (a->web) {
    struct fd_http_stats hs;
    ea_web_stats(a->web, &hs);
    json_object_set_new(hj, "requests", json_integer((json_int_t)hs.requests));
    json_object_set_new(hj, "auth_failures", json_integer((json_int_t)hs.auth_failures));
    json_object_set_new(hj, "auth_limited", json_integer((json_int_t)hs.auth_limited));
    json_object_set_new(hj, "too_large", json_integer((json_int_t)hs.too_large));
  }
  json_object_set_new(o, "http", hj);
  return o;
}

json_t *ea_agent_peers_json(struct ea_agent *a)
{
  json_t *arr = json_array();
  size_t n = ea_peers_count(a->peers);
  for (size_t i = 0; i < n; i++) {
    const struct ea_peer *p = ea_peers_at(a->peers, i);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(p->id));
    if (p->asset[0])
      json_object_set_new(o, "asset", json_string(p->asset));
    if (p->fw[0])
      json_object_set_new(o, "fw", json_string(p->fw));
    if (p->has_rssi)
      json_object_set_new(o, "rssi", json_integer(p->rssi));
    json_object_set_new(o, "online", json_boolean(p->online));
    json_object_set_new(o, "removed", json_boolean(p->removed));
    json_object_set_new(o, "last_seen", json_integer(p->last_seen_ms));
    json_object_set_new(o, "interval_ms", json_integer(p->interval_ms));
    if (p->has_features) {
      json_t *f = json_array();
      for (int k = 0; k < EA_FEATURES; k++)
        if (p->features & (1u << k))
          json_array_append_new(f, json_string(ea_feature_names[k]));
      json_object_set_new(o, "features", f);
    }
    if (p->has_boot)
      json_object_set_new(o, "boot", json_integer(p->boot));
    json_object_set_new(o, "readings", json_integer((json_int_t)p->readings));
    json_object_set_new(o, "events", json_integer((json_int_t)p->events));
    json_object_set_new(o, "synthetic", json_boolean(p->synthetic));
    if (p->n_metrics) {
      json_t *v = json_object();
      for (unsigned k = 0; k < p->n_metrics; k++)
        json_object_set_new(v, p->v[k].name, json_real(p->v[k].value));
      json_object_set_new(o, "v", v);
      json_object_set_new(o, "ts", json_integer(p->v_ts));
    }
    json_array_append_new(arr, o);
  }
  json_t *o = json_object();
  json_object_set_new(o, "peers", arr);
  return o;
}

json_t *ea_agent_commands_json(struct ea_agent *a)
{
  json_t *o = json_object();
  json_object_set_new(o, "commands", ea_cmd_list_json(a->cm, 100));
  return o;
}

void ea_agent_command(struct ea_agent *a, const json_t *body, struct ea_cmd_result *res)
{
  if (!json_is_object(body)) {
    memset(res, 0, sizeof *res);
    res->http_status = 400;
    res->state = EA_CMD_FAILED;
    snprintf(res->error, sizeof res->error, "the body must be a JSON object");
    return;
  }
  ea_cmd_from_http(a->cm, body, wall(), res);
}

int ea_agent_diag(struct ea_agent *a, enum ea_diag d, const json_t *body, uint32_t *id, char *err,
                  size_t errlen)
{
  struct fp_msg m = {0};
  switch (d) {
  case EA_DIAG_SET_MAC: {
    const char *mac = NULL;
    if (fd_json_get_str(body, "mac", true, 12, NULL, &mac) != 0 ||
        ea_mac_parse(mac, m.u.set_mac.mac) != 0) {
      snprintf(err, errlen, "mac must be 12 lowercase hex digits");
      return FARM_EINVAL;
    }
    m.type = FP_MSG_SET_MAC;
    if (fp_msg_validate(&m, NULL) != 0) {
      snprintf(err, errlen, "mac must be a unicast address and not all zero");
      return FARM_EINVAL;
    }
    break;
  }
  case EA_DIAG_TIME_SYNC:
    m.type = FP_MSG_TIME_SYNC;
    m.u.time_sync.ts = (uint64_t)wall();
    break;
  case EA_DIAG_PAIR: {
    int64_t dur = 0;
    if (fd_json_get_i64(body, "duration_s", false, 0, FP_MSG_PAIR_MAX_S, 120, &dur) != 0) {
      snprintf(err, errlen, "duration_s must be 0 (close) or 1..%d", FP_MSG_PAIR_MAX_S);
      return FARM_EINVAL;
    }
    if (dur == 0) {
      m.type = FP_MSG_PAIR_END;
    } else {
      m.type = FP_MSG_PAIR_BEGIN;
      m.u.pair_begin.duration_s = (uint16_t)dur;
    }
    break;
  }
  case EA_DIAG_PING:
    m.type = FP_MSG_PING;
    break;
  }
  if (ea_cmd_request(a->cm, &m, wall(), id) != 0) {
    snprintf(err, errlen, "the request cannot be encoded");
    return FARM_EINVAL;
  }
  fd_log(&a->log, FD_LOG_INFO, "diagnostics: %s sent (id %u)", fp_msg_type_name(m.type), *id);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Set-up and loop                                                     */

static void check_clock(struct ea_agent *a)
{
  struct timex tx = {0};
  int st = adjtimex(&tx);
  /* TIME_ERROR: the kernel says the clock is not synchronised (no NTP, no
   * RTC). A refused call (a sandbox) tells nothing: assume synchronised. */
  bool synced = !(st == TIME_ERROR || (st >= 0 && (tx.status & STA_UNSYNC)));
  if (st < 0)
    synced = true;
  if (synced != a->clock_synced)
    fd_log(&a->log, synced ? FD_LOG_INFO : FD_LOG_WARN, "clock %s",
           synced ? "synchronised" : "not synchronised: readings are flagged ts_unsync");
  a->clock_synced = synced;
}

int ea_agent_new(const struct ea_config *cfg, struct ea_agent **out)
{
  *out = NULL;
  struct ea_agent *a = calloc(1, sizeof *a);
  if (!a)
    return FARM_ENOMEM;
  a->cfg = cfg;
  a->sigfd = -1;
  fd_log_init(&a->log, "edge-agent", cfg->log_level, NULL);
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(10, 10000);
  a->rl = rl;
  a->start_mono = fd_mono_ms();
  a->clock_synced = true;
  ea_topic(a->edge_status_topic, sizeof a->edge_status_topic, cfg->site, FD_EDGE_DEVICE, "status");
  ea_topic(a->edge_event_topic, sizeof a->edge_event_topic, cfg->site, FD_EDGE_DEVICE, "event");

  /* Signals go to the loop through a descriptor; blocked before any
   * library starts a thread, which inherits the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* A file-size limit must surface as a write error (the degraded mode),
   * not kill the process. */
  signal(SIGXFSZ, SIG_IGN);
  a->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int rc = FARM_EIO;
  if (a->sigfd < 0)
    goto fail;

  struct ea_backlog_opts bo = {.path = cfg->backlog_path,
                               .max_bytes = cfg->backlog_max_bytes,
                               .policy = cfg->backlog_full_policy,
                               .dedupe_hours = cfg->backlog_dedupe_hours};
  rc = ea_backlog_open(&bo, &a->log, wall(), &a->bl);
  if (rc)
    goto fail;
  rc = ea_peers_new(cfg->peer_offline_factor, cfg->peer_default_interval_ms, &a->peers);
  if (rc)
    goto fail;
  struct ea_cmd_opts co = {.path = cfg->commands_path,
                           .timeout_ms = cfg->cmd_timeout_ms,
                           .retries = cfg->cmd_retries,
                           .node_timeout_ms = cfg->cmd_node_timeout_ms,
                           .default_ttl_s = cfg->cmd_default_ttl_s,
                           .keep = cfg->cmd_keep};
  struct ea_cmd_callbacks ccb = {.send = cmd_send, .publish_ack = cmd_ack};
  rc = ea_cmd_open(&co, &a->log, &ccb, a, wall(), &a->cm);
  if (rc)
    goto fail;
  struct ea_bridge_opts bro = {.path = cfg->serial_port,
                               .baud = cfg->serial_baud,
                               .codec = cfg->serial_codec,
                               .reopen_max_ms = cfg->serial_reopen_max_ms};
  struct ea_bridge_callbacks bcb = {.on_msg = on_msg, .on_link = on_link};
  rc = ea_bridge_new(&bro, a->bl, &a->log, &bcb, a, &a->br);
  if (rc)
    goto fail;
  struct ea_uplink_callbacks ucb = {.on_connected = on_connected, .on_cmd = on_cmd};
  rc = ea_uplink_new(cfg, a->bl, &a->log, &ucb, a, &a->up);
  if (rc) {
    fd_log(&a->log, FD_LOG_ERROR, "mqtt: cannot set up the client: %s", farm_strerror(rc));
    goto fail;
  }
  rc = ea_web_new(cfg, a, &a->log, &a->web);
  if (rc) {
    fd_log(&a->log, FD_LOG_ERROR, "http: cannot start: %s", farm_strerror(rc));
    goto fail;
  }
  check_clock(a);
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    a->watchdog_ms = usec / 2000; /* half the period, as sd_watchdog_enabled(3) advises */
  *out = a;
  return 0;

fail:
  ea_agent_free(a);
  return rc;
}

void ea_agent_free(struct ea_agent *a)
{
  if (!a)
    return;
  /* The HTTP server first: its handler uses everything else. */
  ea_web_free(a->web);
  /* A clean stop sends no Last Will: say offline ourselves (retained),
   * queued before the DISCONNECT. */
  if (a->up && ea_uplink_connected(a->up))
    ea_uplink_publish_state(a->up, a->edge_status_topic, "{\"online\":false,\"state\":\"offline\"}",
                            true);
  ea_uplink_free(a->up);
  if (a->bl && ea_backlog_dirty(a->bl)) {
    int rc = ea_backlog_commit(a->bl);
    if (a->br)
      ea_bridge_committed(a->br, rc == 0);
  }
  ea_bridge_free(a->br);
  ea_cmd_close(a->cm);
  ea_peers_free(a->peers);
  ea_backlog_close(a->bl);
  if (a->sigfd >= 0)
    close(a->sigfd);
  free(a);
}

static void publish_statuses(struct ea_agent *a)
{
  if (!ea_uplink_connected(a->up))
    return;
  size_t n = ea_peers_count(a->peers);
  for (size_t i = 0; i < n; i++) {
    struct ea_peer *p = ea_peers_at(a->peers, i);
    if (!p->dirty)
      continue;
    char topic[FD_TOPIC_MAX], body[1024];
    if (ea_topic(topic, sizeof topic, a->cfg->site, p->id, "status") != 0 ||
        ea_peer_status_json(p, body, sizeof body) < 0)
      continue;
    if (ea_uplink_publish_state(a->up, topic, body, true) == 0)
      p->dirty = false;
  }
  if (a->gw_status_due)
    gateway_status(a);
}

static void publish_edge_status(struct ea_agent *a)
{
  a->status_due = false;
  a->next_status = fd_mono_ms() + (int64_t)a->cfg->status_interval_s * 1000;
  if (!ea_uplink_connected(a->up))
    return;
  char *text = edge_status_text(a);
  if (text)
    ea_uplink_publish_state(a->up, a->edge_status_topic, text, true);
  free(text);
}

/* Once a second: peers, storage health, the clock. */
static void tick(struct ea_agent *a, int64_t mono)
{
  a->next_tick = mono + TICK_MS;
  ea_peers_tick(a->peers, wall());
  publish_statuses(a);
  if (ea_backlog_maintain(a->bl, wall())) {
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("backlog.recovered"));
    edge_event(a, o);
  }
  struct ea_backlog_stats s;
  ea_backlog_stats(a->bl, wall(), &s);
  if (s.degraded != a->was_degraded) {
    a->was_degraded = s.degraded;
    a->status_due = true;
    if (s.degraded) {
      json_t *o = json_object();
      json_object_set_new(o, "type", json_string("backlog.degraded"));
      json_object_set_new(o, "reason", json_string(s.reason));
      edge_event(a, o);
    }
  }
  if (s.corrupt_alarm && !a->corrupt_reported) {
    a->corrupt_reported = true;
    a->status_due = true;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("backlog.corrupt"));
    json_object_set_new(o, "moved_to", json_string(s.corrupt_path));
    edge_event(a, o);
  }
  if (mono >= a->next_clock_check) {
    a->next_clock_check = mono + CLOCK_CHECK_MS;
    check_clock(a);
  }
}

static int min_timeout(int a, int b)
{
  if (a < 0)
    return b;
  if (b < 0)
    return a;
  return a < b ? a : b;
}

/* Commits the group when it is due; then the bridge acknowledges. */
static int group_commit(struct ea_agent *a, int64_t mono, bool force)
{
  if (!ea_backlog_dirty(a->bl) && !ea_bridge_uncommitted(a->br))
    return -1;
  int64_t due = ea_backlog_dirty_since(a->bl) + a->cfg->backlog_commit_ms;
  if (!force && ea_backlog_dirty(a->bl) && mono < due &&
      ea_backlog_pending_rows(a->bl) < (size_t)a->cfg->backlog_commit_rows)
    return (int)(due - mono);
  int rc = ea_backlog_commit(a->bl);
  ea_bridge_committed(a->br, rc == 0);
  return -1;
}

int ea_agent_run(struct ea_agent *a)
{
  char ready[256];
  snprintf(ready, sizeof ready, "READY=1\nSTATUS=site %s, gateway on %s, broker %s:%d",
           a->cfg->site, a->cfg->serial_port, a->cfg->mqtt_host, a->cfg->mqtt_port);
  sd_notify(0, ready);
  fd_log(&a->log, FD_LOG_INFO, "edge-agent %s running for site %s", EA_VERSION, a->cfg->site);
  int64_t mono = fd_mono_ms();
  a->next_tick = mono;
  a->next_status = mono;
  a->next_clock_check = mono + CLOCK_CHECK_MS;
  a->next_sync = a->cfg->time_sync_interval_s ? mono + (int64_t)a->cfg->time_sync_interval_s * 1000
                                              : INT64_MAX;
  while (!a->stop) {
    mono = fd_mono_ms();
    int timeout = (int)(a->next_tick - mono);
    if (timeout < 0)
      timeout = 0;
    timeout = min_timeout(timeout, ea_bridge_tick(a->br, mono));
    timeout = min_timeout(timeout, ea_cmd_tick(a->cm, wall()));
    timeout = min_timeout(timeout, group_commit(a, mono, false));
    timeout = min_timeout(timeout, ea_uplink_pump(a->up, mono));
    if (a->status_due || mono >= a->next_status)
      publish_edge_status(a);
    timeout = min_timeout(timeout, (int)(a->next_status - mono));
    if (a->watchdog_ms) {
      if (mono >= a->next_watchdog) {
        sd_notify(0, "WATCHDOG=1");
        a->next_watchdog = mono + (int64_t)a->watchdog_ms;
      }
      timeout = min_timeout(timeout, (int)(a->next_watchdog - mono));
    }

    struct pollfd p[4];
    int np = 0, i_br = -1, i_web = -1;
    p[np++] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = ea_uplink_fd(a->up), .events = POLLIN};
    if (ea_bridge_pollfd(a->br, &p[np]))
      i_br = np++;
    if (a->web) {
      p[np] = (struct pollfd){.fd = ea_web_fd(a->web), .events = POLLIN};
      i_web = np++;
    }
    int n = poll(p, (nfds_t)np, timeout < 0 ? 1000 : timeout);
    if (n < 0 && errno != EINTR) {
      fd_log(&a->log, FD_LOG_ERROR, "poll: %s", strerror(errno));
      break;
    }
    int64_t now = wall();
    if (n > 0 && (p[0].revents & POLLIN)) {
      struct signalfd_siginfo si;
      while (read(a->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          fd_log(&a->log, FD_LOG_INFO, "SIGHUP: configuration changes need a restart");
          continue;
        }
        fd_log(&a->log, FD_LOG_INFO, "signal %u: stopping", si.ssi_signo);
        a->stop = true;
      }
    }
    if (i_br >= 0 && p[i_br].revents)
      ea_bridge_on_poll(a->br, p[i_br].revents, now);
    if (n > 0 && (p[1].revents & POLLIN))
      ea_uplink_dispatch(a->up);
    if (i_web >= 0 && (p[i_web].revents & POLLIN))
      ea_web_dispatch(a->web);
    mono = fd_mono_ms();
    if (mono >= a->next_tick)
      tick(a, mono);
    if (mono >= a->next_sync)
      send_time_sync(a);
    group_commit(a, mono, false);
    ea_uplink_pump(a->up, mono);
  }
  sd_notify(0, "STOPPING=1");
  /* What was accepted is committed (and acknowledged) before leaving. */
  group_commit(a, fd_mono_ms(), true);
  return 0;
}
