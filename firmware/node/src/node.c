/* SPDX-License-Identifier: MIT */
/*
 * The node core. Everything the node sends goes through one FIFO outbox in
 * the order its seq was given out, and only the head is ever on the air:
 * the gateway rejects (boot, seq) at or below its high-water mark (DESIGN
 * §5), so sending a newer message before an older one is delivered would
 * get the older one dropped as a replay when it is resent. A failed send is
 * retried with the same entry (same boot, seq and bytes) after a doubling
 * backoff. Readings are made on a fixed schedule (the SHT41 in two phases,
 * start then read, so the core never waits), commands run as soon as they
 * arrive and are answered once, and the relays go to their safe state when
 * the gateway has been silent for a configured number of periods.
 */
#include "node/node.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"

#define N_SENSORS 3
enum { S_SHT41, S_LUX, S_MQ135 };

static const char *const feature_names[] = {"sht41", "lux", "mq135", "relays", "synthetic"};
static const char *const metric_names[] = {"temp_c", "rh_pct", "lux", "air_ppm", "relays"};
static const char *const event_names[] = {"boot",      "relay",        "link.lost",
                                          "link.back", "sensor.fault", "sensor.ok"};
static const char *const sensor_names[N_SENSORS] = {"sht41", "lux", "mq135"};
static const char *const cause_names[] = {"command", "lease", "safe"};

static const uint8_t broadcast[HAL_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The identify indicator toggles at 2 Hz: visible, not mistaken for a
 * relay clicking. */
#define IDENTIFY_TOGGLE_MS 250u

/* ------------------------------------------------------------------ */
/* Small text builder for command errors (no printf in the core: it is */
/* the largest thing a small image would otherwise link).              */

struct text {
  char *buf;
  size_t cap;
  size_t len;
};

static void text_init(struct text *t, char *buf, size_t cap)
{
  t->buf = buf;
  t->cap = cap;
  t->len = 0;
  buf[0] = '\0';
}

static void text_str(struct text *t, const char *s)
{
  while (*s != '\0' && t->len + 1 < t->cap)
    t->buf[t->len++] = *s++;
  t->buf[t->len] = '\0';
}

static void text_u32(struct text *t, uint32_t v)
{
  char digits[11];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  char s[12];
  for (size_t i = 0; i < n; i++)
    s[i] = digits[n - 1 - i];
  s[n] = '\0';
  text_str(t, s);
}

/* "<key> out of range (lo..hi)" */
static void text_range(struct text *t, const char *key, uint32_t lo, uint32_t hi)
{
  text_str(t, key);
  text_str(t, " out of range (");
  text_u32(t, lo);
  text_str(t, "..");
  text_u32(t, hi);
  text_str(t, ")");
}

/* ------------------------------------------------------------------ */
/* Outbox                                                             */

static struct node_out *out_at(struct node *n, unsigned i)
{
  return &n->outbox[(n->out_head + i) % NODE_OUTBOX_MAX];
}

static void out_pop(struct node *n)
{
  assert(n->out_count > 0);
  n->out_head = (uint8_t)((n->out_head + 1) % NODE_OUTBOX_MAX);
  n->out_count--;
}

/*
 * Makes room by dropping the oldest message that is not on the air: the
 * head, or the one after it while the head is in flight (its send status
 * will still come for it).
 */
static void out_to_msg(const struct node *n, const struct node_out *e, struct fp_radio_msg *m);

/* Counts a message that will never be sent and tells the ledger. */
static void report_drop(struct node *n, const struct node_out *e)
{
  n->stats.dropped++;
  if (n->cfg->hooks.on_dropped != NULL) {
    struct fp_radio_msg m;
    out_to_msg(n, e, &m);
    n->cfg->hooks.on_dropped(n->cfg->hooks.ctx, &m);
  }
}

static void out_drop_oldest(struct node *n)
{
  report_drop(n, out_at(n, n->in_flight ? 1 : 0));
  if (!n->in_flight) {
    out_pop(n);
  } else {
    /* Move the head one slot on, over the victim. */
    unsigned next = (n->out_head + 1u) % NODE_OUTBOX_MAX;
    n->outbox[next] = n->outbox[n->out_head];
    out_pop(n);
  }
  hal_log(n->port, HAL_LOG_WARN, "outbox full: dropped a message (%u so far)",
          (unsigned)n->stats.dropped);
}

/* Appends a message, giving it the next seq. */
static struct node_out *out_push(struct node *n, enum node_msg_kind kind)
{
  if (n->out_count == NODE_OUTBOX_MAX)
    out_drop_oldest(n);
  struct node_out *e = out_at(n, n->out_count);
  n->out_count++;
  memset(e, 0, sizeof *e);
  e->kind = (uint8_t)kind;
  e->seq = ++n->seq;
  return e;
}

static void push_event(struct node *n, enum node_event code, int64_t a0, int64_t a1, int64_t a2)
{
  struct node_out *e = out_push(n, NODE_MSG_EVT);
  e->u.evt.code = (uint8_t)code;
  e->u.evt.a[0] = a0;
  e->u.evt.a[1] = a1;
  e->u.evt.a[2] = a2;
}

static struct fp_arg *arg_int(struct fp_radio_evt *e, const char *key, int64_t v)
{
  struct fp_arg *a = &e->args[e->n_args++];
  strcpy(a->key, key);
  a->kind = FP_ARG_INT;
  a->v.i = v;
  return a;
}

static void arg_bool(struct fp_radio_evt *e, const char *key, bool v)
{
  struct fp_arg *a = &e->args[e->n_args++];
  strcpy(a->key, key);
  a->kind = FP_ARG_BOOL;
  a->v.b = v;
}

static void arg_str(struct fp_radio_evt *e, const char *key, const char *v)
{
  struct fp_arg *a = &e->args[e->n_args++];
  strcpy(a->key, key);
  a->kind = FP_ARG_STR;
  strcpy(a->v.s, v);
}

static const char *sensor_name(int64_t i)
{
  return i >= 0 && i < N_SENSORS ? sensor_names[i] : "?";
}

/* The wire form of an outbox entry. */
static void out_to_msg(const struct node *n, const struct node_out *e, struct fp_radio_msg *m)
{
  memset(m, 0, sizeof *m);
  m->boot = n->boot;
  m->seq = e->seq;
  switch ((enum node_msg_kind)e->kind) {
  case NODE_MSG_TEL:
    m->type = FP_RADIO_TEL;
    m->u.tel.up_ms = e->u.tel.up_ms;
    m->u.tel.syn = e->u.tel.syn;
    m->u.tel.n_metrics = e->u.tel.n;
    for (unsigned i = 0; i < e->u.tel.n; i++) {
      strcpy(m->u.tel.v[i].name, metric_names[e->u.tel.id[i]]);
      m->u.tel.v[i].value = e->u.tel.value[i];
    }
    break;
  case NODE_MSG_EVT: {
    struct fp_radio_evt *ev = &m->u.evt;
    const int64_t *a = e->u.evt.a;
    m->type = FP_RADIO_EVT;
    strcpy(ev->name, event_names[e->u.evt.code]);
    switch ((enum node_event)e->u.evt.code) {
    case NODE_EV_BOOT:
      arg_int(ev, "feat", a[0]);
      arg_int(ev, "period_ms", a[1]);
      break;
    case NODE_EV_RELAY:
      arg_int(ev, "ch", a[0]);
      arg_bool(ev, "on", a[1] != 0);
      arg_str(ev, "cause", cause_names[a[2]]);
      break;
    case NODE_EV_LINK_LOST:
    case NODE_EV_LINK_BACK:
      arg_int(ev, "silent_ms", a[0]);
      break;
    case NODE_EV_SENSOR_FAULT:
      arg_str(ev, "sensor", sensor_name(a[0]));
      arg_int(ev, "err", a[1]);
      break;
    case NODE_EV_SENSOR_OK:
      arg_str(ev, "sensor", sensor_name(a[0]));
      break;
    }
    break;
  }
  case NODE_MSG_ACK:
    m->type = FP_RADIO_CMD_ACK;
    m->u.cmd_ack.id = e->u.ack.id;
    m->u.cmd_ack.ok = e->u.ack.ok;
    strcpy(m->u.cmd_ack.err, e->u.ack.err);
    break;
  }
}

/* ------------------------------------------------------------------ */
/* Radio                                                              */

static bool same_mac(const uint8_t *a, const uint8_t *b)
{
  return memcmp(a, b, HAL_MAC_LEN) == 0;
}

static void do_reboot(struct node *n)
{
  hal_log(n->port, HAL_LOG_WARN, "rebooting on command");
  n->halted = true;
  hal_reboot(n->port);
}

/* Sends the outbox head when nothing is on the air and its time has come. */
static void pump(struct node *n, uint64_t now)
{
  while (n->gw_keyed && !n->in_flight && n->out_count > 0 && now >= n->retry_at_ms && !n->halted) {
    struct node_out *e = out_at(n, 0);
    struct fp_radio_msg m;
    uint8_t buf[FP_RADIO_MTU];
    size_t len = 0;
    out_to_msg(n, e, &m);
    int rc = fp_radio_encode(&m, buf, sizeof buf, &len);
    if (rc != 0) {
      /* Every entry is validated when it is made; should one still not
       * encode, it must not block the queue for ever. */
      hal_log(n->port, HAL_LOG_ERROR, "seq %u does not encode (%d): dropped", (unsigned)e->seq, rc);
      report_drop(n, e);
      out_pop(n);
      continue;
    }
    rc = hal_radio_send(n->port, n->gw_mac, buf, len);
    if (rc != 0) {
      n->stats.busy++;
      if (rc == FARM_EINVAL) /* the peer fell out of the hardware list */
        (void)hal_radio_add_peer(n->port, n->gw_mac, n->cfg->encrypt);
      n->retry_at_ms = now + n->cfg->retry_ms;
      return;
    }
    n->in_flight = true;
    n->in_flight_since = now;
    n->stats.sent++;
  }
}

/* The gateway answered (a delivered send or a frame from it). */
static void heard(struct node *n, uint64_t now)
{
  uint64_t silent = now - n->last_heard_ms;
  n->last_heard_ms = now;
  if (n->safe) {
    n->safe = false;
    hal_log(n->port, HAL_LOG_INFO, "gateway back after %u ms", (unsigned)silent);
    push_event(n, NODE_EV_LINK_BACK, (int64_t)silent, 0, 0);
  }
}

static void send_failed(struct node *n, uint64_t now)
{
  n->in_flight = false;
  n->stats.failed++;
  n->retry_at_ms = now + n->retry_delay_ms;
  n->retry_delay_ms =
      n->retry_delay_ms >= n->cfg->retry_max_ms / 2 ? n->cfg->retry_max_ms : n->retry_delay_ms * 2;
}

void node_on_radio_sent(struct node *n, const uint8_t mac[HAL_MAC_LEN], bool delivered)
{
  assert(n != NULL && mac != NULL);
  if (n->halted || !n->paired || !same_mac(mac, n->gw_mac) || !n->in_flight)
    return; /* a JOIN broadcast, or a send already given up on */
  uint64_t now = hal_clock_ms(n->port);
  if (!delivered) {
    send_failed(n, now);
    return;
  }
  n->in_flight = false;
  n->stats.delivered++;
  uint32_t seq = out_at(n, 0)->seq;
  out_pop(n);
  n->retry_at_ms = 0;
  n->retry_delay_ms = n->cfg->retry_ms;
  heard(n, now);
  if (n->reboot_pending && seq == n->reboot_seq) {
    do_reboot(n);
    return;
  }
  pump(n, now);
}

/* ------------------------------------------------------------------ */
/* Synthetic values                                                   */

static uint32_t rng_next(struct node *n)
{
  /* xorshift32 (Marsaglia 2003): deterministic for a seed, so a simulated
   * farm replays exactly. */
  uint32_t x = n->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  n->rng = x;
  return x;
}

/* Uniform in [-1, 1]. */
static double noise(struct node *n)
{
  return (double)rng_next(n) / 2147483647.5 - 1.0;
}

static double round_to(double v, double step)
{
  return floor(v / step + 0.5) * step;
}

/* Hour of day: from the wall clock when set (UTC), else from uptime as if
 * the node had started at 06:00. */
static double hour_of_day(struct node *n, uint64_t up_ms)
{
  uint64_t unix_ms;
  uint64_t ms =
      hal_wall_clock_get(n->port, &unix_ms) == 0 ? unix_ms : up_ms + UINT64_C(6) * 3600000u;
  return (double)(ms % UINT64_C(86400000)) / 3600000.0;
}

/*
 * Plausible diurnal curves: air temperature peaking mid-afternoon, relative
 * humidity moving opposite to it, daylight from 06:00 to 20:00, CO2 highest
 * before dawn (plants respire at night) — each with a little noise.
 */
static double synth(struct node *n, enum node_metric m, double h)
{
  const double two_pi = 6.283185307179586;
  const double pi = 3.141592653589793;
  switch (m) {
  case NODE_M_TEMP_C:
    return round_to(17.0 + 8.0 * cos(two_pi * (h - 15.0) / 24.0) + 0.3 * noise(n), 0.01);
  case NODE_M_RH_PCT: {
    double rh = 60.0 - 25.0 * cos(two_pi * (h - 15.0) / 24.0) + 1.5 * noise(n);
    return round_to(rh < 5 ? 5 : rh > 99 ? 99 : rh, 0.01);
  }
  case NODE_M_LUX: {
    double day = h >= 6.0 && h <= 20.0 ? sin(pi * (h - 6.0) / 14.0) : 0.0;
    double lux = 40000.0 * day * (1.0 + 0.05 * noise(n)) + 2.0 + 2.0 * noise(n);
    return round_to(lux < 0 ? 0 : lux, 1.0);
  }
  case NODE_M_AIR_PPM:
    return round_to(450.0 + 60.0 * cos(two_pi * (h - 4.0) / 24.0) + 10.0 * noise(n), 0.1);
  case NODE_M_RELAYS:
    break;
  }
  assert(!"no synthetic relays");
  return 0;
}

/* ------------------------------------------------------------------ */
/* Readings                                                           */

static void sensor_failed(struct node *n, int s, int err)
{
  n->stats.sensor_errors++;
  struct node_sensor_state *st = &n->sensors[s];
  st->last_err = err;
  if (!st->failing) {
    st->failing = true;
    hal_log(n->port, HAL_LOG_WARN, "%s failed (%d): synthetic values", sensor_names[s], err);
    push_event(n, NODE_EV_SENSOR_FAULT, s, err, 0);
  }
}

static void sensor_worked(struct node *n, int s)
{
  struct node_sensor_state *st = &n->sensors[s];
  if (st->failing) {
    st->failing = false;
    hal_log(n->port, HAL_LOG_INFO, "%s works again", sensor_names[s]);
    push_event(n, NODE_EV_SENSOR_OK, s, 0, 0);
  }
}

struct reading {
  uint8_t n;
  bool syn;
  uint8_t id[NODE_METRICS_MAX];
  double value[NODE_METRICS_MAX];
};

static void add(struct reading *r, enum node_metric id, double v)
{
  assert(r->n < NODE_METRICS_MAX);
  r->id[r->n] = (uint8_t)id;
  r->value[r->n] = v;
  r->n++;
}

static void add_synth(struct node *n, struct reading *r, enum node_metric id, double h)
{
  add(r, id, synth(n, id, h));
  r->syn = true;
}

static void reading_to_msg(const struct node *n, const struct reading *r, uint64_t up_ms,
                           uint32_t seq, struct fp_radio_msg *m)
{
  memset(m, 0, sizeof *m);
  m->type = FP_RADIO_TEL;
  m->boot = n->boot;
  m->seq = seq;
  m->u.tel.up_ms = up_ms;
  m->u.tel.syn = r->syn;
  m->u.tel.n_metrics = r->n;
  for (unsigned i = 0; i < r->n; i++) {
    strcpy(m->u.tel.v[i].name, metric_names[r->id[i]]);
    m->u.tel.v[i].value = r->value[i];
  }
}

/*
 * Drops metrics the protocol refuses (a sensor reading outside its
 * physical range is a fault, not a value to forward): the message rules
 * live in the protocol library, so ask it rather than repeat them.
 */
static void drop_invalid(struct node *n, struct reading *r, uint64_t up_ms)
{
  struct fp_radio_msg m;
  struct fp_msg_error err;
  while (r->n > 0) {
    reading_to_msg(n, r, up_ms, 1, &m);
    if (fp_radio_validate(&m, &err) == 0)
      return;
    unsigned i = 0;
    while (i < r->n && strcmp(metric_names[r->id[i]], err.key) != 0)
      i++;
    if (i == r->n)
      i = r->n - 1; /* not a metric's fault: cannot happen, stay bounded */
    hal_log(n->port, HAL_LOG_WARN, "%s = %f refused: dropped", metric_names[r->id[i]], r->value[i]);
    n->stats.sensor_errors++;
    for (unsigned j = i; j + 1 < r->n; j++) {
      r->id[j] = r->id[j + 1];
      r->value[j] = r->value[j + 1];
    }
    r->n--;
  }
}

static void finish_reading(struct node *n)
{
  const uint8_t f = n->features;
  const bool forced = (f & NODE_F_SYNTHETIC) != 0;
  const uint64_t up_ms = n->reading_up_ms;
  const double h = hour_of_day(n, up_ms);
  struct reading r = {0};
  n->reading_pending = false;

  if (f & NODE_F_SHT41) {
    struct sht41_reading s = {0};
    int rc = FARM_EIO;
    if (n->sht41_started) {
      rc = sht41_read(&n->sht41, &s);
      if (rc != 0)
        sensor_failed(n, S_SHT41, rc);
      else
        sensor_worked(n, S_SHT41);
    }
    if (rc == 0 && !forced) {
      add(&r, NODE_M_TEMP_C, (double)s.t_mc / 1000.0);
      add(&r, NODE_M_RH_PCT, (double)s.rh_mpct / 1000.0);
    } else {
      add_synth(n, &r, NODE_M_TEMP_C, h);
      add_synth(n, &r, NODE_M_RH_PCT, h);
    }
  } else if (n->sht41_started) {
    /* Switched off while measuring: collect the result so the chip is
     * free for the next start, and forget it. */
    struct sht41_reading s;
    (void)sht41_read(&n->sht41, &s);
  }

  if (f & NODE_F_LUX) {
    struct lux_reading l = {0};
    int rc = forced || !n->lux_ok ? FARM_EIO : lux_read(&n->lux, &l);
    if (!forced && n->lux_ok) {
      if (rc != 0)
        sensor_failed(n, S_LUX, rc);
      else
        sensor_worked(n, S_LUX);
    }
    if (rc == 0)
      add(&r, NODE_M_LUX, (double)l.lux);
    else
      add_synth(n, &r, NODE_M_LUX, h);
  }

  if (f & NODE_F_MQ135) {
    struct mq135_reading q = {0};
    int rc = forced || !n->mq135_ok ? FARM_EIO : mq135_read(&n->mq135, &q);
    if (!forced && n->mq135_ok) {
      if (rc != 0)
        sensor_failed(n, S_MQ135, rc);
      else
        sensor_worked(n, S_MQ135);
    }
    if (rc != 0)
      add_synth(n, &r, NODE_M_AIR_PPM, h);
    else if (q.state == MQ135_READY)
      add(&r, NODE_M_AIR_PPM, round_to((double)q.ppm, 0.1));
    /* Warming up or without R0, the sensor works but has no value yet:
     * nothing is reported rather than a guess. */
  }

  if ((f & NODE_F_RELAYS) && n->relays_ok)
    add(&r, NODE_M_RELAYS, (double)relays_state(&n->relays));

  drop_invalid(n, &r, up_ms);
  if (r.n == 0) {
    n->stats.empty++;
    return;
  }
  struct node_out *e = out_push(n, NODE_MSG_TEL);
  e->u.tel.up_ms = up_ms;
  e->u.tel.syn = r.syn;
  e->u.tel.n = r.n;
  memcpy(e->u.tel.id, r.id, sizeof r.id);
  memcpy(e->u.tel.value, r.value, sizeof r.value);
  n->stats.readings++;
  if (r.syn)
    n->stats.synthetic++;
  if (n->cfg->hooks.on_reading != NULL) {
    struct fp_radio_msg m;
    out_to_msg(n, e, &m);
    n->cfg->hooks.on_reading(n->cfg->hooks.ctx, &m);
  }
}

static void start_reading(struct node *n, uint64_t now)
{
  n->reading_up_ms = now;
  /* Keep the phase (no drift), but never catch up a burst of missed
   * periods after a stall. */
  n->next_reading_ms += n->period_ms;
  if (n->next_reading_ms <= now)
    n->next_reading_ms = now + n->period_ms;
  n->sht41_started = false;
  if ((n->features & NODE_F_SHT41) && !(n->features & NODE_F_SYNTHETIC)) {
    int rc = sht41_measure_start(&n->sht41);
    if (rc == 0) {
      n->sht41_started = true;
      n->reading_pending = true;
      return;
    }
    sensor_failed(n, S_SHT41, rc);
  }
  finish_reading(n);
}

/* ------------------------------------------------------------------ */
/* Persistence                                                        */

static int nvs_put_u32(struct node *n, const char *key, uint32_t v)
{
  int rc = hal_nvs_set_u32(n->port, key, v);
  return rc != 0 ? rc : hal_nvs_commit(n->port);
}

static uint32_t nvs_u32_or(struct node *n, const char *key, uint32_t dflt, bool *found)
{
  uint32_t v;
  bool ok = hal_nvs_get_u32(n->port, key, &v) == 0;
  if (found != NULL)
    *found = ok;
  return ok ? v : dflt;
}

/* Records the gateway's (boot, seq) mark; its boot goes to NVS when it
 * changes, so after a node restart old-boot replays are still refused. */
static void set_mark(struct node *n, uint32_t boot, uint32_t seq)
{
  bool changed = !n->gw_mark_valid || boot != n->gw_boot;
  n->gw_mark_valid = true;
  n->gw_boot = boot;
  n->gw_seq = seq;
  if (changed && nvs_put_u32(n, NODE_NVS_GW_BOOT, boot) != 0)
    hal_log(n->port, HAL_LOG_WARN, "gateway boot not persisted");
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */

static const struct fp_arg *find_arg(const struct fp_radio_cmd *c, const char *key)
{
  for (unsigned i = 0; i < c->n_args; i++) {
    if (strcmp(c->args[i].key, key) == 0)
      return &c->args[i];
  }
  return NULL;
}

/* Refuses arguments the command does not take (a misspelt for_s must not
 * turn a timed relay into a permanent one). */
static bool only_args(const struct fp_radio_cmd *c, const char *const *keys, unsigned n_keys,
                      struct text *err)
{
  for (unsigned i = 0; i < c->n_args; i++) {
    unsigned k = 0;
    while (k < n_keys && strcmp(keys[k], c->args[i].key) != 0)
      k++;
    if (k == n_keys) {
      text_str(err, "unknown argument ");
      text_str(err, c->args[i].key);
      return false;
    }
  }
  return true;
}

/* A required or optional integer argument in lo..hi. */
static bool get_int(const struct fp_radio_cmd *c, const char *key, bool required, int64_t lo,
                    int64_t hi, int64_t *out, struct text *err)
{
  const struct fp_arg *a = find_arg(c, key);
  if (a == NULL) {
    if (required) {
      text_str(err, "missing ");
      text_str(err, key);
    }
    return !required;
  }
  if (a->kind != FP_ARG_INT) {
    text_str(err, key);
    text_str(err, " must be an integer");
    return false;
  }
  if (a->v.i < lo || a->v.i > hi) {
    text_range(err, key, (uint32_t)lo, (uint32_t)hi);
    return false;
  }
  *out = a->v.i;
  return true;
}

static bool get_bool(const struct fp_radio_cmd *c, const char *key, bool *out, struct text *err)
{
  const struct fp_arg *a = find_arg(c, key);
  if (a == NULL) {
    text_str(err, "missing ");
    text_str(err, key);
    return false;
  }
  if (a->kind != FP_ARG_BOOL) {
    text_str(err, key);
    text_str(err, " must be a boolean");
    return false;
  }
  *out = a->v.b;
  return true;
}

static bool cmd_relay_set(struct node *n, const struct fp_radio_cmd *c, struct text *err)
{
  static const char *const keys[] = {"ch", "on", "for_s"};
  if (!(n->cfg->features_built & NODE_F_RELAYS) || !n->relays_ok) {
    text_str(err, "no relays");
    return false;
  }
  if (!(n->features & NODE_F_RELAYS)) {
    text_str(err, "feature relays is off");
    return false;
  }
  int64_t ch = 0, for_s = 0;
  bool on = false;
  if (!only_args(c, keys, 3, err) || !get_int(c, "ch", true, 1, n->cfg->relays.count, &ch, err) ||
      !get_bool(c, "on", &on, err) || !get_int(c, "for_s", false, 0, NODE_LEASE_MAX_S, &for_s, err))
    return false;
  if (!on && for_s != 0) {
    text_str(err, "for_s needs on");
    return false;
  }
  int rc = relays_set(&n->relays, (uint8_t)(ch - 1), on, (uint32_t)for_s * 1000u);
  if (rc == FARM_EBUSY) {
    text_str(err, "interlocked with a channel that is on");
    return false;
  }
  if (rc != 0) {
    text_str(err, "relay output failed");
    return false;
  }
  return true;
}

static bool cmd_feature_set(struct node *n, const struct fp_radio_cmd *c, struct text *err)
{
  static const char *const keys[] = {"name", "on"};
  if (!only_args(c, keys, 2, err))
    return false;
  const struct fp_arg *a = find_arg(c, "name");
  if (a == NULL) {
    text_str(err, "missing name");
    return false;
  }
  if (a->kind != FP_ARG_STR) {
    text_str(err, "name must be text");
    return false;
  }
  uint8_t bit = node_feature_bit(a->v.s);
  if (bit == 0) {
    text_str(err, "unknown feature ");
    text_str(err, a->v.s);
    return false;
  }
  bool on = false;
  if (!get_bool(c, "on", &on, err))
    return false;
  if (on && !(n->cfg->features_built & bit)) {
    text_str(err, "feature ");
    text_str(err, a->v.s);
    text_str(err, " is not built in");
    return false;
  }
  uint8_t was = n->features;
  uint8_t now_f = on ? (uint8_t)(was | bit) : (uint8_t)(was & ~bit);
  if (now_f != was && nvs_put_u32(n, NODE_NVS_FEAT, now_f) != 0) {
    text_str(err, "cannot store the setting");
    return false;
  }
  n->features = now_f;
  if (bit == NODE_F_RELAYS && !on && (was & bit) && n->relays_ok)
    (void)relays_safe(&n->relays);
  for (int s = 0; s < N_SENSORS; s++) {
    if (!(now_f & (1u << s)))
      n->sensors[s].failing = false; /* a fresh start when re-enabled */
  }
  return true;
}

static bool cmd_period_set(struct node *n, const struct fp_radio_cmd *c, struct text *err,
                           uint64_t now)
{
  static const char *const keys[] = {"ms"};
  int64_t ms = 0;
  if (!only_args(c, keys, 1, err) ||
      !get_int(c, "ms", true, NODE_PERIOD_MIN_MS, NODE_PERIOD_MAX_MS, &ms, err))
    return false;
  if ((uint32_t)ms != n->period_ms && nvs_put_u32(n, NODE_NVS_PERIOD, (uint32_t)ms) != 0) {
    text_str(err, "cannot store the setting");
    return false;
  }
  n->period_ms = (uint32_t)ms;
  n->next_reading_ms = now + n->period_ms;
  return true;
}

static bool cmd_identify(struct node *n, const struct fp_radio_cmd *c, struct text *err,
                         uint64_t now)
{
  static const char *const keys[] = {"s"};
  int64_t s = NODE_IDENTIFY_DEFAULT_S;
  if (!only_args(c, keys, 1, err) || !get_int(c, "s", false, 1, NODE_IDENTIFY_MAX_S, &s, err))
    return false;
  hal_log(n->port, HAL_LOG_INFO, "identify for %d s", (int)s);
  if (n->cfg->identify_gpio != NODE_NO_GPIO) {
    n->identify_until_ms = now + (uint64_t)s * 1000u;
    n->identify_next_ms = now;
  }
  return true;
}

static bool cmd_reboot(struct node *n, const struct fp_radio_cmd *c, struct text *err)
{
  if (!only_args(c, NULL, 0, err))
    return false;
  /* Remembered across the restart, so a retry of this very command after
   * it is answered without restarting again. */
  if (nvs_put_u32(n, NODE_NVS_RB_ID, c->id) != 0) {
    text_str(err, "cannot store the command id");
    return false;
  }
  return true;
}

static const struct node_cmd_outcome *history_find(const struct node *n, uint32_t id)
{
  for (unsigned i = 0; i < n->history_count; i++) {
    if (n->history[i].id == id)
      return &n->history[i];
  }
  return NULL;
}

static void history_add(struct node *n, uint32_t id, bool ok, const char *err)
{
  struct node_cmd_outcome *h = &n->history[n->history_next];
  h->id = id;
  h->ok = ok;
  strcpy(h->err, err);
  n->history_next = (uint8_t)((n->history_next + 1) % NODE_CMD_HISTORY);
  if (n->history_count < NODE_CMD_HISTORY)
    n->history_count++;
}

static void push_ack(struct node *n, uint32_t id, bool ok, const char *err)
{
  struct node_out *e = out_push(n, NODE_MSG_ACK);
  e->u.ack.id = id;
  e->u.ack.ok = ok;
  strcpy(e->u.ack.err, err);
}

static bool ack_queued(struct node *n, uint32_t id)
{
  for (unsigned i = 0; i < n->out_count; i++) {
    const struct node_out *e = out_at(n, i);
    if (e->kind == NODE_MSG_ACK && e->u.ack.id == id)
      return true;
  }
  return false;
}

static void run_command(struct node *n, const struct fp_radio_cmd *c, uint64_t now)
{
  /* A duplicate id is answered with the first outcome and not run again
   * (BAD-INPUTS 23); an answer still waiting in the outbox is enough. */
  const struct node_cmd_outcome *h = history_find(n, c->id);
  bool rebooted_for_it =
      n->reboot_id_valid && c->id == n->reboot_id && strcmp(c->name, "reboot") == 0;
  if (h != NULL || rebooted_for_it) {
    n->stats.duplicates++;
    if (!ack_queued(n, c->id))
      push_ack(n, c->id, h != NULL ? h->ok : true, h != NULL ? h->err : "");
    return;
  }

  char err_buf[FP_MSG_ERR_MAX + 1];
  struct text err;
  text_init(&err, err_buf, sizeof err_buf);
  bool ok;
  if (strcmp(c->name, "relay.set") == 0)
    ok = cmd_relay_set(n, c, &err);
  else if (strcmp(c->name, "feature.set") == 0)
    ok = cmd_feature_set(n, c, &err);
  else if (strcmp(c->name, "period.set") == 0)
    ok = cmd_period_set(n, c, &err, now);
  else if (strcmp(c->name, "identify") == 0)
    ok = cmd_identify(n, c, &err, now);
  else if (strcmp(c->name, "reboot") == 0)
    ok = cmd_reboot(n, c, &err);
  else {
    text_str(&err, "unknown command ");
    text_str(&err, c->name);
    ok = false;
  }
  if (ok)
    err_buf[0] = '\0';
  else if (err_buf[0] == '\0')
    text_str(&err, "failed");

  n->stats.commands++;
  history_add(n, c->id, ok, err_buf);
  if (n->cfg->hooks.on_command != NULL)
    n->cfg->hooks.on_command(n->cfg->hooks.ctx, c, ok, err_buf);
  push_ack(n, c->id, ok, err_buf);
  if (ok && strcmp(c->name, "reboot") == 0) {
    /* Restart once the answer is delivered, or after the grace time. */
    n->reboot_pending = true;
    n->reboot_seq = n->seq;
    n->reboot_at_ms = now + n->cfg->reboot_grace_ms;
  }
}

/* ------------------------------------------------------------------ */
/* Receiving                                                          */

static void pair_with(struct node *n, const uint8_t mac[HAL_MAC_LEN], uint8_t ch)
{
  int rc = hal_nvs_set_blob(n->port, NODE_NVS_GW_MAC, mac, HAL_MAC_LEN);
  if (rc == 0)
    rc = hal_nvs_set_u32(n->port, NODE_NVS_GW_CH, ch);
  if (rc == 0)
    rc = hal_nvs_commit(n->port);
  if (rc != 0)
    hal_log(n->port, HAL_LOG_WARN, "pairing not persisted (%d)", rc);
  (void)hal_radio_set_channel(n->port, ch);
  if (!n->paired || !same_mac(mac, n->gw_mac)) {
    rc = hal_radio_add_peer(n->port, mac, n->cfg->encrypt);
    if (rc != 0)
      hal_log(n->port, HAL_LOG_ERROR, "gateway peer not added (%d)", rc);
  }
  memcpy(n->gw_mac, mac, HAL_MAC_LEN);
  n->gw_ch = ch;
  n->paired = true;
  n->gw_keyed = !n->cfg->encrypt;
  n->retry_at_ms = 0;
  hal_log(n->port, HAL_LOG_INFO, "paired with %02x%02x%02x%02x%02x%02x on channel %u", mac[0],
          mac[1], mac[2], mac[3], mac[4], mac[5], (unsigned)ch);
}

void node_on_radio_rx(struct node *n, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data,
                      size_t len, int8_t rssi)
{
  assert(n != NULL && mac != NULL && (data != NULL || len == 0));
  (void)rssi;
  if (n->halted)
    return;
  struct fp_radio_header h;
  if (fp_radio_peek_header(data, len, &h) != 0) {
    n->stats.rx_bad++;
    return;
  }
  /* Only the paired gateway speaks to us; before pairing, only a gateway
   * answering our JOIN. */
  bool from_gw = n->paired && same_mac(mac, n->gw_mac);
  if (!from_gw && !(!n->paired && h.type == FP_RADIO_JOIN_ACK)) {
    n->stats.rx_foreign++;
    return;
  }
  if (!fp_radio_is_downlink(h.type)) {
    n->stats.rx_unexpected++;
    return;
  }
  if (from_gw && n->gw_mark_valid &&
      (h.boot < n->gw_boot || (h.boot == n->gw_boot && h.seq <= n->gw_seq))) {
    n->stats.rx_replay++;
    return;
  }
  struct fp_radio_msg m;
  struct fp_msg_error err;
  if (fp_radio_decode(data, len, &m, &err) != 0) {
    n->stats.rx_bad++;
    return;
  }
  uint64_t now = hal_clock_ms(n->port);
  n->stats.rx++;
  if (m.type == FP_RADIO_JOIN_ACK)
    pair_with(n, mac, m.u.join_ack.ch);
  n->gw_keyed |= from_gw;
  set_mark(n, h.boot, h.seq);
  heard(n, now);
  switch (m.type) {
  case FP_RADIO_JOIN_ACK:
    if (m.u.join_ack.has_ts)
      (void)hal_wall_clock_set(n->port, m.u.join_ack.ts);
    break;
  case FP_RADIO_CMD:
    run_command(n, &m.u.cmd, now);
    break;
  case FP_RADIO_TIME:
    (void)hal_wall_clock_set(n->port, m.u.time.ts);
    break;
  default:
    break;
  }
  pump(n, now);
}

/* ------------------------------------------------------------------ */
/* Periodic work                                                      */

static void send_join(struct node *n, uint64_t now)
{
  uint8_t ch = n->cfg->channel;
  if (ch == 0) {
    ch = n->scan_ch;
    n->scan_ch = (uint8_t)(n->scan_ch % 13u + 1u);
  }
  (void)hal_radio_set_channel(n->port, ch);
  struct fp_radio_msg m;
  memset(&m, 0, sizeof m);
  m.type = FP_RADIO_JOIN;
  m.boot = n->boot;
  m.seq = 0; /* takes no number: see fp/radio.h */
  strcpy(m.u.join.fw, n->cfg->fw);
  if (n->cfg->asset != NULL)
    strcpy(m.u.join.asset, n->cfg->asset);
  uint8_t buf[FP_RADIO_MTU];
  size_t len = 0;
  if (fp_radio_encode(&m, buf, sizeof buf, &len) == 0 &&
      hal_radio_send(n->port, broadcast, buf, len) == 0)
    n->stats.joins++;
  n->next_join_ms = now + n->cfg->join_interval_ms;
}

static uint64_t silence_limit_ms(const struct node *n)
{
  return (uint64_t)n->cfg->silence_periods * n->period_ms;
}

static void check_silence(struct node *n, uint64_t now)
{
  if (!n->paired || n->safe || n->cfg->silence_periods == 0)
    return;
  uint64_t silent = now - n->last_heard_ms;
  if (silent < silence_limit_ms(n))
    return;
  n->safe = true;
  hal_log(n->port, HAL_LOG_WARN, "gateway silent for %u ms: relays safe", (unsigned)silent);
  if (n->relays_ok)
    (void)relays_safe(&n->relays);
  push_event(n, NODE_EV_LINK_LOST, (int64_t)silent, 0, 0);
}

void node_tick(struct node *n)
{
  assert(n != NULL);
  if (n->halted)
    return;
  uint64_t now = hal_clock_ms(n->port);

  if (n->relays_ok)
    (void)relays_tick(&n->relays, now);

  if (n->identify_until_ms != 0) {
    if (now >= n->identify_until_ms) {
      n->identify_until_ms = 0;
      n->identify_level = false;
      (void)hal_gpio_write(n->port, n->cfg->identify_gpio, false);
    } else if (now >= n->identify_next_ms) {
      n->identify_level = !n->identify_level;
      (void)hal_gpio_write(n->port, n->cfg->identify_gpio, n->identify_level);
      n->identify_next_ms = now + IDENTIFY_TOGGLE_MS;
    }
  }

  if (n->reading_pending && now >= sht41_ready_at(&n->sht41))
    finish_reading(n);
  if (!n->reading_pending && !n->paused && now >= n->next_reading_ms)
    start_reading(n, now);

  if (!n->paired && now >= n->next_join_ms)
    send_join(n, now);

  check_silence(n, now);

  if (n->in_flight && now - n->in_flight_since >= n->cfg->send_timeout_ms) {
    hal_log(n->port, HAL_LOG_WARN, "no send status for seq %u: resending",
            (unsigned)out_at(n, 0)->seq);
    send_failed(n, now);
  }
  if (n->reboot_pending && now >= n->reboot_at_ms) {
    do_reboot(n);
    return;
  }
  pump(n, now);
}

static void earliest(uint64_t *at, uint64_t t)
{
  if (t < *at)
    *at = t;
}

uint64_t node_next_deadline(const struct node *n)
{
  uint64_t at = UINT64_MAX;
  if (n->halted)
    return at;
  if (n->reading_pending)
    earliest(&at, sht41_ready_at(&n->sht41));
  else if (!n->paused)
    earliest(&at, n->next_reading_ms);
  if (!n->paired)
    earliest(&at, n->next_join_ms);
  if (n->gw_keyed && n->out_count > 0 && !n->in_flight)
    earliest(&at, n->retry_at_ms);
  if (n->in_flight)
    earliest(&at, n->in_flight_since + n->cfg->send_timeout_ms);
  if (n->paired && !n->safe && n->cfg->silence_periods != 0)
    earliest(&at, n->last_heard_ms + silence_limit_ms(n));
  uint64_t lease;
  if (n->relays_ok && relays_next_deadline(&n->relays, &lease))
    earliest(&at, lease);
  if (n->identify_until_ms != 0)
    earliest(&at, n->identify_next_ms < n->identify_until_ms ? n->identify_next_ms
                                                             : n->identify_until_ms);
  if (n->reboot_pending)
    earliest(&at, n->reboot_at_ms);
  return at;
}

/* ------------------------------------------------------------------ */
/* Start                                                              */

static void on_relay_change(void *ctx, uint8_t ch, bool on, enum relays_cause cause)
{
  struct node *n = ctx;
  push_event(n, NODE_EV_RELAY, ch + 1, on, cause);
}

static bool config_ok(const struct node_config *c)
{
  if (c->fw == NULL || c->fw[0] == '\0' || strlen(c->fw) > FP_MSG_FW_MAX)
    return false;
  if (c->asset != NULL && strlen(c->asset) > FP_MSG_ASSET_MAX)
    return false;
  return c->period_ms >= NODE_PERIOD_MIN_MS && c->period_ms <= NODE_PERIOD_MAX_MS &&
         (c->features_built & ~NODE_F_ALL) == 0 &&
         (c->features_default & ~c->features_built) == 0 && c->channel <= FP_MSG_CH_MAX &&
         c->join_interval_ms > 0 && c->retry_ms > 0 && c->retry_max_ms >= c->retry_ms &&
         c->send_timeout_ms > 0 && c->reboot_grace_ms > 0;
}

static void load_pairing(struct node *n)
{
  uint8_t mac[HAL_MAC_LEN];
  size_t len = 0;
  bool found;
  uint32_t ch = nvs_u32_or(n, NODE_NVS_GW_CH, 0, &found);
  if (hal_nvs_get_blob(n->port, NODE_NVS_GW_MAC, mac, sizeof mac, &len) != 0 ||
      len != HAL_MAC_LEN || !found || ch < FP_MSG_CH_MIN || ch > FP_MSG_CH_MAX)
    return;
  memcpy(n->gw_mac, mac, HAL_MAC_LEN);
  n->gw_ch = (uint8_t)ch;
  n->paired = n->gw_keyed = true;
  (void)hal_radio_set_channel(n->port, n->gw_ch);
  int rc = hal_radio_add_peer(n->port, n->gw_mac, n->cfg->encrypt);
  if (rc != 0)
    hal_log(n->port, HAL_LOG_ERROR, "gateway peer not added (%d)", rc);
  uint32_t gw_boot = nvs_u32_or(n, NODE_NVS_GW_BOOT, 0, &found);
  if (found) {
    /* Frames of the gateway's last known boot are accepted from seq 1. */
    n->gw_mark_valid = true;
    n->gw_boot = gw_boot;
    n->gw_seq = 0;
  }
}

int node_init(struct node *n, const struct node_config *cfg, struct hal_port *port)
{
  assert(n != NULL && cfg != NULL);
  memset(n, 0, sizeof *n);
  if (!config_ok(cfg))
    return FARM_EINVAL;
  n->cfg = cfg;
  n->port = port;

  /* (boot, seq) must never repeat: count this start durably first. */
  uint32_t boot = 0;
  int rc = hal_nvs_get_u32(port, NODE_NVS_BOOT, &boot);
  if (rc != 0 && rc != FARM_ENOENT && rc != FARM_ETYPE)
    return rc;
  boot = rc == 0 ? boot + 1 : 1;
  if (boot == 0)
    boot = 1;
  rc = nvs_put_u32(n, NODE_NVS_BOOT, boot);
  if (rc != 0)
    return rc;
  n->boot = boot;

  n->features =
      (uint8_t)(nvs_u32_or(n, NODE_NVS_FEAT, cfg->features_default, NULL) & cfg->features_built);
  uint32_t period = nvs_u32_or(n, NODE_NVS_PERIOD, cfg->period_ms, NULL);
  n->period_ms =
      period >= NODE_PERIOD_MIN_MS && period <= NODE_PERIOD_MAX_MS ? period : cfg->period_ms;
  bool found;
  n->reboot_id = nvs_u32_or(n, NODE_NVS_RB_ID, 0, &found);
  n->reboot_id_valid = found;
  load_pairing(n);

  uint64_t now = hal_clock_ms(port);
  n->next_reading_ms = now;
  n->next_join_ms = now;
  n->last_heard_ms = now;
  n->scan_ch = 1;
  n->retry_delay_ms = cfg->retry_ms;
  uint32_t seed = cfg->synthetic_seed;
  if (seed != 0)
    seed ^= boot * 0x9e3779b9u; /* each boot its own noise, repeatably */
  else
    hal_random(port, &seed, sizeof seed);
  n->rng = seed != 0 ? seed : 1;

  push_event(n, NODE_EV_BOOT, n->features, n->period_ms, 0);

  if (cfg->features_built & NODE_F_SHT41) {
    rc = sht41_init(&n->sht41, port, &cfg->sht41);
    if (rc != 0)
      return rc;
  }
  if (cfg->features_built & NODE_F_LUX) {
    rc = lux_init(&n->lux, port, &cfg->lux);
    if (rc != 0)
      return rc;
    n->lux_ok = true;
  }
  if (cfg->features_built & NODE_F_MQ135) {
    rc = mq135_init(&n->mq135, port, &cfg->mq135);
    if (rc == FARM_EINVAL)
      return rc;
    n->mq135_ok = rc == 0;
    if (rc != 0 && (n->features & NODE_F_MQ135))
      sensor_failed(n, S_MQ135, rc);
  }
  if (cfg->features_built & NODE_F_RELAYS) {
    rc = relays_init(&n->relays, port, &cfg->relays, on_relay_change, n);
    if (rc != 0)
      return rc;
    n->relays_ok = true;
    if (!(n->features & NODE_F_RELAYS))
      (void)relays_safe(&n->relays);
  }
  hal_log(port, HAL_LOG_INFO, "node boot %u, period %u ms, features 0x%02x%s", (unsigned)boot,
          (unsigned)n->period_ms, (unsigned)n->features, n->paired ? "" : ", unpaired");
  return 0;
}

/* ------------------------------------------------------------------ */
/* Accessors and defaults                                             */

void node_config_default(struct node_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->fw = "0.0.0";
  cfg->asset = NULL;
  cfg->period_ms = 60000;
  /* The lux curve and the relay bank are board-specific: a board that has
   * them adds NODE_F_LUX and NODE_F_RELAYS with their configuration. */
  cfg->features_built = NODE_F_SHT41 | NODE_F_MQ135 | NODE_F_SYNTHETIC;
  cfg->features_default = NODE_F_SHT41 | NODE_F_MQ135;
  cfg->channel = 0;
  cfg->silence_periods = 3;
  cfg->join_interval_ms = 5000;
  cfg->retry_ms = 100;
  cfg->retry_max_ms = 5000;
  cfg->send_timeout_ms = 1000;
  cfg->reboot_grace_ms = 2000;
  cfg->identify_gpio = NODE_NO_GPIO;
  sht41_config_default(&cfg->sht41);
  mq135_config_default(&cfg->mq135);
}

void node_set_paused(struct node *n, bool paused)
{
  assert(n != NULL);
  n->paused = paused;
}

const struct node_stats *node_stats(const struct node *n)
{
  return &n->stats;
}

uint32_t node_boot(const struct node *n)
{
  return n->boot;
}

uint8_t node_features(const struct node *n)
{
  return n->features;
}

uint32_t node_period_ms(const struct node *n)
{
  return n->period_ms;
}

bool node_paired(const struct node *n, uint8_t mac[HAL_MAC_LEN])
{
  if (n->paired && mac != NULL)
    memcpy(mac, n->gw_mac, HAL_MAC_LEN);
  return n->paired;
}

unsigned node_outbox_count(const struct node *n)
{
  return n->out_count;
}

bool node_safe(const struct node *n)
{
  return n->safe;
}

struct relays *node_relays(struct node *n)
{
  return n->relays_ok ? &n->relays : NULL;
}

uint8_t node_feature_bit(const char *name)
{
  for (unsigned i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++) {
    if (strcmp(feature_names[i], name) == 0)
      return (uint8_t)(1u << i);
  }
  return 0;
}
