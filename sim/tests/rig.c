/* SPDX-License-Identifier: MIT */
/*
 * The test rig (rig.h): observer records, in-process serial pumping and
 * the ledger-to-edge comparison.
 */
#include "rig.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_reading(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                       const struct fp_radio_msg *tel)
{
  struct rig *r = ctx;
  if (r->n_rd == r->cap_rd) {
    r->cap_rd = r->cap_rd ? 2 * r->cap_rd : 256;
    r->rd = realloc(r->rd, r->cap_rd * sizeof *r->rd);
    assert(r->rd != NULL);
  }
  struct rec_reading *x = &r->rd[r->n_rd++];
  memset(x, 0, sizeof *x);
  memcpy(x->mac, mac, HAL_MAC_LEN);
  x->boot = tel->boot;
  x->seq = tel->seq;
  x->sim_ms = sim_ms;
  x->syn = tel->u.tel.syn;
  x->n = tel->u.tel.n_metrics;
  memcpy(x->v, tel->u.tel.v, sizeof x->v);
}

static void on_command(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                       const struct fp_radio_cmd *cmd, bool ok, const char *err)
{
  (void)sim_ms;
  struct rig *r = ctx;
  assert(r->n_cmds < sizeof r->cmds / sizeof r->cmds[0]);
  struct rec_cmd *c = &r->cmds[r->n_cmds++];
  memcpy(c->mac, mac, HAL_MAC_LEN);
  c->id = cmd->id;
  snprintf(c->name, sizeof c->name, "%s", cmd->name);
  c->ok = ok;
  snprintf(c->err, sizeof c->err, "%s", err);
}

static void on_dropped(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN],
                       const struct fp_radio_msg *m)
{
  (void)sim_ms;
  (void)mac;
  (void)m;
  struct rig *r = ctx;
  r->dropped++;
}

static void on_boot(void *ctx, uint64_t sim_ms, const uint8_t mac[HAL_MAC_LEN], bool gateway,
                    uint32_t boot, unsigned lost)
{
  (void)sim_ms;
  (void)mac;
  (void)boot;
  struct rig *r = ctx;
  if (gateway)
    r->gw_boots++;
  r->lost += lost;
}

struct rig *rig_new(const struct fsim_config *cfg)
{
  struct rig *r = calloc(1, sizeof *r);
  assert(r != NULL);
  struct fsim_config c = *cfg;
  c.observer = (struct fsim_observer){on_reading, on_command, on_dropped, on_boot, r};
  char why[256] = "";
  int rc = fsim_world_new(&c, &r->w, why, sizeof why);
  if (rc != 0) {
    fprintf(stderr, "world did not start: %s\n", why);
    abort();
  }
  edge_init(&r->edge, cfg->codec);
  fsim_set_cable(r->w, true);
  return r;
}

void rig_free(struct rig *r)
{
  if (r == NULL)
    return;
  fsim_world_free(r->w);
  edge_free(&r->edge);
  free(r->rd);
  free(r);
}

void rig_pump(struct rig *r)
{
  uint8_t buf[4096];
  size_t got;
  while (fsim_host_read(r->w, buf, sizeof buf, &got) == 0 && got > 0)
    edge_feed(&r->edge, buf, got);
  if (!fsim_cable(r->w)) {
    /* Nobody listens: what the edge wanted to say is lost with the cable. */
    r->edge.out_len = 0;
    return;
  }
  if (r->edge.out_len > 0) {
    size_t written = 0;
    if (fsim_host_write(r->w, r->edge.out, r->edge.out_len, &written) == 0)
      edge_consume(&r->edge, written);
  }
}

void rig_run(struct rig *r, uint64_t until_ms)
{
  rig_pump(r);
  for (;;) {
    uint64_t t = fsim_next_due(r->w);
    if (t > until_ms) {
      fsim_advance(r->w, until_ms);
      rig_pump(r);
      if (fsim_next_due(r->w) > until_ms)
        return;
      continue;
    }
    fsim_advance(r->w, t);
    rig_pump(r);
  }
}

void rig_send(struct rig *r, const struct fp_msg *m)
{
  int rc = edge_send(&r->edge, m);
  assert(rc == 0);
  (void)rc;
  rig_run(r, fsim_now(r->w) + 50);
}

static bool same_key(const uint8_t *mac, uint32_t boot, uint32_t seq, const struct fp_msg *m)
{
  return memcmp(mac, m->u.tel.mac, HAL_MAC_LEN) == 0 && boot == m->u.tel.boot &&
         seq == m->u.tel.seq;
}

static bool same_values(const struct rec_reading *x, const struct fp_msg *m)
{
  if (x->n != m->u.tel.n_metrics || x->syn != m->u.tel.syn)
    return false;
  for (unsigned i = 0; i < x->n; i++) {
    if (strcmp(x->v[i].name, m->u.tel.v[i].name) != 0 || x->v[i].value != m->u.tel.v[i].value)
      return false;
  }
  return true;
}

struct delivery rig_delivery(const struct rig *r)
{
  struct delivery d = {.readings = r->n_rd};
  const struct edge *e = &r->edge;
  for (size_t k = 0; k < e->n_msgs; k++) {
    const struct fp_msg *m = &e->msgs[k];
    if (m->type != FP_MSG_TEL)
      continue;
    d.received++;
    bool known = false;
    for (size_t i = 0; i < r->n_rd && !known; i++) {
      const struct rec_reading *x = &r->rd[i];
      if (same_key(x->mac, x->boot, x->seq, m)) {
        known = true;
        if (!same_values(x, m))
          d.mismatched++;
      }
    }
    if (!known)
      d.unknown++;
  }
  for (size_t i = 0; i < r->n_rd; i++) {
    const struct rec_reading *x = &r->rd[i];
    size_t count = 0;
    for (size_t k = 0; k < e->n_msgs; k++) {
      if (e->msgs[k].type == FP_MSG_TEL && same_key(x->mac, x->boot, x->seq, &e->msgs[k]))
        count++;
    }
    if (count == 0)
      d.missing++;
    else
      d.duplicates += count - 1;
  }
  return d;
}

long rig_find_evt(const struct rig *r, size_t from, const uint8_t mac[HAL_MAC_LEN],
                  const char *name)
{
  const struct edge *e = &r->edge;
  for (size_t k = from; k < e->n_msgs; k++) {
    const struct fp_msg *m = &e->msgs[k];
    if (m->type == FP_MSG_EVT && memcmp(m->u.evt.mac, mac, HAL_MAC_LEN) == 0 &&
        strcmp(m->u.evt.name, name) == 0)
      return (long)k;
  }
  return -1;
}

const struct fp_msg *rig_ack(const struct rig *r, uint32_t id, enum fp_stage stage)
{
  const struct edge *e = &r->edge;
  for (size_t k = 0; k < e->n_msgs; k++) {
    const struct fp_msg *m = &e->msgs[k];
    if (m->type == FP_MSG_ACK && m->id == id && m->u.ack.stage == stage)
      return m;
  }
  return NULL;
}

const char *rig_evt_str(const struct fp_msg *m, const char *key)
{
  for (unsigned i = 0; i < m->u.evt.n_args; i++) {
    const struct fp_arg *a = &m->u.evt.args[i];
    if (a->kind == FP_ARG_STR && strcmp(a->key, key) == 0)
      return a->v.s;
  }
  return "";
}
