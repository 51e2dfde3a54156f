/* SPDX-License-Identifier: MIT */
/*
 * farm-sim's control commands (fsim/control.h): parsing one line and
 * acting on the world, answering "ok" or "error: <reason>".
 */
#include "fsim/control.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

#define MAX_WORDS 6

struct out {
  void (*emit)(void *ctx, const char *line);
  void *ctx;
};

static void say(const struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct out *o, const char *fmt, ...)
{
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->emit(o->ctx, line);
}

static int ok(const struct out *o)
{
  o->emit(o->ctx, "ok");
  return 0;
}

static int error(const struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int error(const struct out *o, const char *fmt, ...)
{
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  say(o, "error: %s", reason);
  return FARM_EINVAL;
}

void fsim_control_init(struct fsim_control *c, struct fsim_world *w)
{
  assert(c != NULL && w != NULL);
  memset(c, 0, sizeof *c);
  c->w = w;
}

static void apply_cable(struct fsim_control *c)
{
  fsim_set_cable(c->w, c->reader && !c->unplugged);
}

void fsim_control_set_reader(struct fsim_control *c, bool reader)
{
  assert(c != NULL);
  c->reader = reader;
  apply_cable(c);
}

/* A node by MAC (12 hex digits, colons allowed) or by index. */
static int find_node(const struct fsim_control *c, const char *s)
{
  uint8_t mac[HAL_MAC_LEN];
  if (fsim_mac_parse(s, mac) == 0)
    return fsim_node_find(c->w, mac);
  char *end;
  errno = 0;
  unsigned long i = strtoul(s, &end, 10);
  if (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && i < fsim_node_count(c->w))
    return (int)i;
  return -1;
}

static bool parse_prob(const char *s, double *p)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= 0.0 && v <= 1.0))
    return false;
  *p = v;
  return true;
}

static void node_line(const struct out *o, struct fsim_world *w, unsigned i)
{
  char hex[2 * HAL_MAC_LEN + 1];
  fsim_mac_hex(fsim_node_mac(w, i), hex);
  struct node *n = fsim_node_core(w, i);
  bool powered = fsim_node_powered(w, i);
  /* A node that never started has a zeroed core: report it as such. */
  say(o,
      "%s index=%u sensors=%s power=%s boot=%" PRIu32 " paired=%s readings=%" PRIu32
      " outbox=%u safe=%s relays=0x%02x features=0x%02x",
      hex, i, fsim_node_real(w, i) ? "real" : "synthetic", powered ? "on" : "off", node_boot(n),
      node_paired(n, NULL) ? "yes" : "no", node_stats(n)->readings, node_outbox_count(n),
      node_safe(n) ? "yes" : "no", (unsigned)relays_state(node_relays(n)),
      (unsigned)node_features(n));
}

static int cmd_nodes(struct fsim_control *c, const struct out *o)
{
  for (unsigned i = 0; i < fsim_node_count(c->w); i++)
    node_line(o, c->w, i);
  return ok(o);
}

static int cmd_status(struct fsim_control *c, const struct out *o)
{
  struct fsim_world *w = c->w;
  char hex[2 * HAL_MAC_LEN + 1];
  fsim_mac_hex(fsim_gateway_mac(w), hex);
  struct gw *g = fsim_gateway_core(w);
  bool up = fsim_gateway_up(w);
  say(o,
      "sim_ms=%" PRIu64 " paused=%s cable=%s reader=%s gateway=%s up=%s boot=%" PRIu32
      " peers=%zu uplink=%zu pairing=%s",
      fsim_now(w), fsim_paused(w) ? "yes" : "no", fsim_cable(w) ? "yes" : "no",
      c->reader ? "yes" : "no", hex, up ? "yes" : "no", up ? gw_boot(g) : 0,
      up ? gw_peer_count(g) : 0, up ? gw_uplink_pending(g) : 0,
      up && gw_pairing_open(g) ? "yes" : "no");
  return ok(o);
}

static int cmd_help(const struct out *o)
{
  static const char *const lines[] = {
      "pause | resume                  nodes stop / start making readings",
      "unplug | plug                   pull / reinsert the gateway's USB cable",
      "reboot gateway | reboot node <mac>",
      "loss <p> | loss <mac> <p>|default",
      "power <mac> on|off",
      "anomaly <mac> <metric> <delta> [<seconds>]",
      "nodes | status | help",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    o->emit(o->ctx, lines[i]);
  return ok(o);
}

static int cmd_anomaly(struct fsim_control *c, const struct out *o, char **word, int n)
{
  if (n != 4 && n != 5)
    return error(o, "usage: anomaly <mac> <metric> <delta> [<seconds>]");
  int i = find_node(c, word[1]);
  if (i < 0)
    return error(o, "no node %s", word[1]);
  if (!fsim_node_real(c->w, (unsigned)i))
    return error(o, "node %s has no sensors: its values are synthetic", word[1]);
  struct fsim_anomaly a = {.node = (unsigned)i, .at_ms = fsim_now(c->w)};
  if (fsim_metric_parse(word[2], &a.metric) != 0)
    return error(o, "metric must be temp_c, rh_pct, lux or air_ppm");
  char *end;
  errno = 0;
  a.delta = strtod(word[3], &end);
  if (*end != '\0' || errno != 0 || !isfinite(a.delta))
    return error(o, "delta must be a finite number");
  if (n == 5) {
    double s = strtod(word[4], &end);
    if (*end != '\0' || !(s > 0.0 && s < 1e9))
      return error(o, "seconds must be above 0");
    a.for_ms = (uint64_t)llround(s * 1000.0);
  }
  int rc = fsim_add_anomaly(c->w, &a);
  if (rc != 0)
    return error(o, "%s", rc == FARM_ENOSPC ? "too many anomalies" : "anomaly refused");
  return ok(o);
}

static int cmd_loss(struct fsim_control *c, const struct out *o, char **word, int n)
{
  double p;
  if (n == 2) {
    if (!parse_prob(word[1], &p))
      return error(o, "loss must be 0..1");
    (void)fsim_set_loss(c->w, p);
    return ok(o);
  }
  if (n != 3)
    return error(o, "usage: loss <p> | loss <mac> <p>|default");
  int i = find_node(c, word[1]);
  if (i < 0)
    return error(o, "no node %s", word[1]);
  if (strcmp(word[2], "default") == 0)
    p = -1.0;
  else if (!parse_prob(word[2], &p))
    return error(o, "loss must be 0..1 or default");
  int rc = fsim_set_link_loss(c->w, (unsigned)i, p);
  if (rc == FARM_ENOENT)
    return ok(o); /* already at the default */
  if (rc != 0)
    return error(o, "%s", farm_strerror(rc));
  return ok(o);
}

int fsim_control_exec(struct fsim_control *c, const char *line,
                      void (*emit)(void *ctx, const char *line), void *ctx)
{
  assert(c != NULL && line != NULL && emit != NULL);
  const struct out o = {emit, ctx};
  if (strlen(line) >= FSIM_CONTROL_LINE_MAX)
    return error(&o, "line too long");
  char buf[FSIM_CONTROL_LINE_MAX];
  strcpy(buf, line);
  char *word[MAX_WORDS + 1];
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, " \t\r\n", &save); t != NULL; t = strtok_r(NULL, " \t\r\n", &save)) {
    if (n == MAX_WORDS + 1)
      return error(&o, "too many words");
    word[n++] = t;
  }
  if (n == 0)
    return error(&o, "empty command");
  const char *cmd = word[0];
  struct fsim_world *w = c->w;

  if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
    if (n != 1)
      return error(&o, "%s takes no argument", cmd);
    fsim_set_paused(w, cmd[0] == 'p');
    return ok(&o);
  }
  if (strcmp(cmd, "unplug") == 0 || strcmp(cmd, "plug") == 0) {
    if (n != 1)
      return error(&o, "%s takes no argument", cmd);
    c->unplugged = cmd[0] == 'u';
    apply_cable(c);
    return ok(&o);
  }
  if (strcmp(cmd, "reboot") == 0) {
    if (n == 2 && strcmp(word[1], "gateway") == 0) {
      fsim_reboot_gateway(w);
      return ok(&o);
    }
    if (n == 3 && strcmp(word[1], "node") == 0) {
      int i = find_node(c, word[2]);
      if (i < 0)
        return error(&o, "no node %s", word[2]);
      if (!fsim_node_powered(w, (unsigned)i))
        return error(&o, "node %s is powered off", word[2]);
      fsim_reboot_node(w, (unsigned)i);
      return ok(&o);
    }
    return error(&o, "usage: reboot gateway | reboot node <mac>");
  }
  if (strcmp(cmd, "loss") == 0)
    return cmd_loss(c, &o, word, n);
  if (strcmp(cmd, "power") == 0) {
    if (n != 3 || (strcmp(word[2], "on") != 0 && strcmp(word[2], "off") != 0))
      return error(&o, "usage: power <mac> on|off");
    int i = find_node(c, word[1]);
    if (i < 0)
      return error(&o, "no node %s", word[1]);
    fsim_power_node(w, (unsigned)i, strcmp(word[2], "on") == 0);
    return ok(&o);
  }
  if (strcmp(cmd, "anomaly") == 0)
    return cmd_anomaly(c, &o, word, n);
  if (strcmp(cmd, "nodes") == 0 && n == 1)
    return cmd_nodes(c, &o);
  if (strcmp(cmd, "status") == 0 && n == 1)
    return cmd_status(c, &o);
  if (strcmp(cmd, "help") == 0 && n == 1)
    return cmd_help(&o);
  return error(&o, "unknown command \"%.40s\" (try help)", cmd);
}
