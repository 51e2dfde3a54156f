/* SPDX-License-Identifier: MIT */
/*
 * The simulated farm (fsim/world.h): building the boards and cores from a
 * seed, the event loop that moves the simulated clock from deadline to
 * deadline, board restarts, the environment that feeds the emulated sensors
 * of the real nodes, and the observer calls that become the ledger.
 */
#include "fsim/world.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"
#include "sim/sht41.h"

#define NO_TIME UINT64_MAX

/* The simulated boards' pinout. */
#define GPIO_IDENTIFY 6
#define ADC_LUX       1
#define ADC_MQ135     2
#define FW_VERSION    "sim-1.0"

/*
 * The light front end of the simulated nodes: a photodiode on a
 * logarithmic-ish divider so one ADC range covers night to full sun
 * (about 120 000 lx). mV strictly rising, lux rising (lux_validate).
 */
static const struct lux_point lux_curve[] = {
    {0, 0}, {300, 50}, {800, 500}, {1500, 5000}, {2300, 30000}, {2800, 80000}, {3100, 120000},
};

/* One node: its board, core, configuration and emulated hardware. */
struct fsim_node {
  struct fsim_world *w;
  unsigned index;
  struct hal_port board;
  struct node core;
  struct node_config cfg;
  char asset[FP_MSG_ASSET_MAX + 1];
  bool real;
  struct sim_sht41 sht;
  bool on;             /* powered (wanted) */
  uint64_t restart_at; /* NO_TIME: no restart scheduled */
  bool core_ok;        /* node_init succeeded since the last start */
  uint64_t ticked_at;  /* simulated time of the last node_tick */
  /* the environment's per-node character */
  double temp_off, rh_off, lux_factor, air_off;
};

struct fsim_world {
  struct fsim_config cfg;
  struct sim_clock clock;
  struct sim_radio radio;
  uint64_t steps_at_now; /* livelock guard */
  uint64_t steps_time;
  bool livelock_logged;

  struct gw_config gw_cfg;
  struct hal_port gw_board;
  struct gw gw;
  bool gw_on;
  bool gw_ok; /* gw_init succeeded since the last start */
  bool gw_poke;
  uint64_t gw_ticked_at;
  uint64_t gw_restart_at;

  bool paused;
  unsigned n;
  struct fsim_node *nodes;
};

static const char *const metric_names[FSIM_METRIC_COUNT] = {"temp_c", "rh_pct", "lux", "air_ppm"};

int fsim_metric_parse(const char *s, enum fsim_metric *out)
{
  for (int m = 0; m < FSIM_METRIC_COUNT; m++) {
    if (s != NULL && strcmp(s, metric_names[m]) == 0) {
      *out = (enum fsim_metric)m;
      return 0;
    }
  }
  return FARM_EINVAL;
}

const char *fsim_metric_name(enum fsim_metric m)
{
  return (unsigned)m < FSIM_METRIC_COUNT ? metric_names[m] : "?";
}

void fsim_mac_hex(const uint8_t mac[HAL_MAC_LEN], char out[2 * HAL_MAC_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < HAL_MAC_LEN; i++) {
    out[2 * i] = hex[mac[i] >> 4];
    out[2 * i + 1] = hex[mac[i] & 15];
  }
  out[2 * HAL_MAC_LEN] = '\0';
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int fsim_mac_parse(const char *s, uint8_t mac[HAL_MAC_LEN])
{
  if (s == NULL)
    return FARM_EINVAL;
  size_t len = strlen(s);
  bool colons = len == 17;
  if (len != 12 && !colons)
    return FARM_EINVAL;
  const char *p = s;
  for (int i = 0; i < HAL_MAC_LEN; i++) {
    if (colons && i > 0 && *p++ != ':')
      return FARM_EINVAL;
    int hi = hexval(p[0]), lo = hexval(p[1]);
    if (hi < 0 || lo < 0)
      return FARM_EINVAL;
    mac[i] = (uint8_t)(hi << 4 | lo);
    p += 2;
  }
  return 0;
}

/* ---- Seeded derivations --------------------------------------------------- */

/* SplitMix64 (Steele, Lea, Flood 2014), as the port uses: the same numbers
 * on every platform for a seed. */
static uint64_t mix64(uint64_t z)
{
  z += 0x9e3779b97f4a7c15u;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* A value in [0, 1) that depends only on the seed and the three keys, so
 * nothing depends on the order in which the world asks. */
static double draw(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
  uint64_t z = mix64(seed ^ mix64(a ^ mix64(b ^ mix64(c))));
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Draw keys, so each use has its own stream. */
enum { K_MAC = 1, K_POS, K_CHAR, K_NOISE, K_SERIAL, K_SYNTH };

static void derive_mac(uint64_t seed, uint64_t who, uint64_t attempt, uint8_t mac[HAL_MAC_LEN])
{
  uint64_t z = mix64(seed ^ mix64(K_MAC ^ mix64(who ^ mix64(attempt))));
  for (int i = 0; i < HAL_MAC_LEN; i++)
    mac[i] = (uint8_t)(z >> (8 * i));
  /* Locally administered (bit 1) unicast (bit 0 clear), IEEE 802 §8.2. */
  mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
}

/* ---- Configuration ------------------------------------------------------------ */

void fsim_config_default(struct fsim_config *cfg)
{
  assert(cfg != NULL);
  memset(cfg, 0, sizeof *cfg);
  cfg->seed = 1;
  cfg->nodes = 4;
  cfg->real_nodes = 2;
  cfg->period_ms = 10000;
  cfg->loss = 0.0;
  cfg->latency_ms = 2;
  cfg->radius_m = 60.0;
  cfg->channel = 1;
  cfg->codec = FP_CODEC_MSGPACK;
  cfg->pair_boot_s = 600;
  cfg->boot_ms = 300;
  cfg->epoch_ms = UINT64_C(1780293600000); /* 2026-06-01 06:00:00 UTC */
  strcpy(cfg->site, "sim");
  cfg->log_level = HAL_LOG_WARN;
}

static int fail(char *why, size_t cap, const char *text)
{
  if (why != NULL && cap > 0)
    snprintf(why, cap, "%s", text);
  return FARM_EINVAL;
}

static bool site_ok(const char *s)
{
  size_t len = strnlen(s, FSIM_SITE_MAX + 1);
  if (len == 0 || len > FSIM_SITE_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static bool anomaly_ok(const struct fsim_config *cfg, const struct fsim_anomaly *a)
{
  return a->node < cfg->real_nodes && a->node < cfg->nodes &&
         (unsigned)a->metric < FSIM_METRIC_COUNT && isfinite(a->delta);
}

int fsim_config_check(const struct fsim_config *cfg, char *why, size_t cap)
{
  assert(cfg != NULL);
  if (cfg->nodes < 1 || cfg->nodes > FSIM_MAX_NODES)
    return fail(why, cap, "nodes must be 1..64");
  if (cfg->real_nodes > cfg->nodes)
    return fail(why, cap, "more real nodes than nodes");
  if (cfg->period_ms < NODE_PERIOD_MIN_MS || cfg->period_ms > NODE_PERIOD_MAX_MS)
    return fail(why, cap, "period must be 1000..3600000 ms");
  if (!(cfg->loss >= 0.0 && cfg->loss <= 1.0))
    return fail(why, cap, "loss must be 0..1");
  if (!(cfg->radius_m > 0.0 && cfg->radius_m <= 100000.0))
    return fail(why, cap, "radius must be above 0 m");
  if (cfg->channel < 1 || cfg->channel > 14)
    return fail(why, cap, "channel must be 1..14");
  if (cfg->codec != FP_CODEC_MSGPACK && cfg->codec != FP_CODEC_CBOR)
    return fail(why, cap, "unknown codec");
  if (cfg->pair_boot_s > 3600)
    return fail(why, cap, "boot pairing window must be 0..3600 s");
  if (cfg->boot_ms == 0 || cfg->boot_ms > 60000)
    return fail(why, cap, "restart time must be 1..60000 ms");
  if (!site_ok(cfg->site))
    return fail(why, cap, "site must be 1..24 of [a-z0-9_-]");
  if (cfg->n_anomalies > FSIM_MAX_ANOMALIES)
    return fail(why, cap, "too many anomalies");
  for (unsigned i = 0; i < cfg->n_anomalies; i++) {
    if (!anomaly_ok(cfg, &cfg->anomalies[i]))
      return fail(why, cap, "an anomaly must name a real node, a metric and a finite delta");
  }
  return 0;
}

/* ---- Environment ---------------------------------------------------------- */

static double clampd(double v, double lo, double hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* Uniform in [-1, 1], fixed for (node, metric, second). */
static double env_noise(const struct fsim_world *w, unsigned i, enum fsim_metric m, uint64_t t)
{
  return 2.0 * draw(w->cfg.seed, K_NOISE, ((uint64_t)i << 8) | (uint64_t)m, t / 1000u) - 1.0;
}

double fsim_env_value(const struct fsim_world *w, unsigned i, enum fsim_metric m, uint64_t t_ms)
{
  assert(w != NULL && i < w->n);
  const struct fsim_node *nd = &w->nodes[i];
  const double two_pi = 6.283185307179586;
  const double pi = 3.141592653589793;
  uint64_t unix_ms = w->cfg.epoch_ms + t_ms;
  double h = (double)(unix_ms % UINT64_C(86400000)) / 3600000.0;
  double noise = env_noise(w, i, m, t_ms);
  double v = 0;
  /* The curves of a temperate summer field: air warmest at 15:00, relative
   * humidity opposite to it, daylight 06:00-20:00, CO2 highest before dawn
   * (plants respire at night). */
  switch (m) {
  case FSIM_TEMP_C:
    v = 18.0 + 7.0 * cos(two_pi * (h - 15.0) / 24.0) + nd->temp_off + 0.1 * noise;
    break;
  case FSIM_RH_PCT:
    v = clampd(62.0 - 20.0 * cos(two_pi * (h - 15.0) / 24.0) + nd->rh_off + 0.5 * noise, 1.0, 99.0);
    break;
  case FSIM_LUX: {
    double day = h >= 6.0 && h <= 20.0 ? sin(pi * (h - 6.0) / 14.0) : 0.0;
    v = 60000.0 * day * nd->lux_factor * (1.0 + 0.03 * noise) + 0.5;
    break;
  }
  case FSIM_AIR_PPM:
    v = 440.0 + 50.0 * cos(two_pi * (h - 4.0) / 24.0) + nd->air_off + 5.0 * noise;
    break;
  case FSIM_METRIC_COUNT:
    assert(!"no such metric");
    break;
  }
  for (unsigned k = 0; k < w->cfg.n_anomalies; k++) {
    const struct fsim_anomaly *a = &w->cfg.anomalies[k];
    if (a->node == i && a->metric == m && t_ms >= a->at_ms &&
        (a->for_ms == 0 || t_ms - a->at_ms < a->for_ms))
      v += a->delta;
  }
  return v;
}

/* Millivolts the light front end gives for lux: the inverse of lux_curve. */
static uint32_t lux_to_mv(double lux)
{
  const size_t n = sizeof lux_curve / sizeof lux_curve[0];
  if (lux <= 0)
    return 0;
  for (size_t k = 1; k < n; k++) {
    if (lux <= lux_curve[k].lux) {
      double l0 = lux_curve[k - 1].lux, l1 = lux_curve[k].lux;
      double m0 = lux_curve[k - 1].mv, m1 = lux_curve[k].mv;
      return (uint32_t)lround(m0 + (lux - l0) * (m1 - m0) / (l1 - l0));
    }
  }
  return lux_curve[n - 1].mv;
}

/* Millivolts of the MQ135 divider for ppm: Rs = R0 (ppm / a)^(1/b), the
 * inverse of the driver's power law, then Vout = Vc RL / (Rs + RL). */
static uint32_t ppm_to_mv(const struct mq135_config *c, double ppm)
{
  if (ppm < 1.0)
    ppm = 1.0;
  double rs = (double)c->r0_ohm * pow(ppm / (double)c->a, 1.0 / (double)c->b);
  double mv = (double)c->supply_mv * (double)c->rl_ohm / (rs + (double)c->rl_ohm);
  long r = lround(mv);
  /* Keep it inside the range the driver can invert (0 < mv < Vc). */
  if (r < 1)
    r = 1;
  if (r >= (long)c->supply_mv)
    r = (long)c->supply_mv - 1;
  return (uint32_t)r;
}

/* Sets the emulated sensors of a real node from the environment now. */
static void feed_sensors(struct fsim_world *w, struct fsim_node *nd)
{
  if (!nd->real)
    return;
  uint64_t t = sim_clock_now(&w->clock);
  sim_sht41_set(&nd->sht, fsim_env_value(w, nd->index, FSIM_TEMP_C, t),
                fsim_env_value(w, nd->index, FSIM_RH_PCT, t));
  (void)sim_board_adc_set(&nd->board, ADC_LUX,
                          lux_to_mv(fsim_env_value(w, nd->index, FSIM_LUX, t)));
  (void)sim_board_adc_set(&nd->board, ADC_MQ135,
                          ppm_to_mv(&nd->cfg.mq135, fsim_env_value(w, nd->index, FSIM_AIR_PPM, t)));
}

/* ---- Observer glue -------------------------------------------------------- */

static void hook_reading(void *ctx, const struct fp_radio_msg *tel)
{
  struct fsim_node *nd = ctx;
  const struct fsim_observer *o = &nd->w->cfg.observer;
  if (o->on_reading != NULL)
    o->on_reading(o->ctx, sim_clock_now(&nd->w->clock), sim_board_mac(&nd->board), tel);
}

static void hook_command(void *ctx, const struct fp_radio_cmd *cmd, bool ok, const char *err)
{
  struct fsim_node *nd = ctx;
  const struct fsim_observer *o = &nd->w->cfg.observer;
  if (o->on_command != NULL)
    o->on_command(o->ctx, sim_clock_now(&nd->w->clock), sim_board_mac(&nd->board), cmd, ok, err);
}

static void hook_dropped(void *ctx, const struct fp_radio_msg *m)
{
  struct fsim_node *nd = ctx;
  const struct fsim_observer *o = &nd->w->cfg.observer;
  if (o->on_dropped != NULL)
    o->on_dropped(o->ctx, sim_clock_now(&nd->w->clock), sim_board_mac(&nd->board), m);
}

static void report_boot(struct fsim_world *w, const uint8_t *mac, bool gateway, uint32_t boot,
                        unsigned lost)
{
  const struct fsim_observer *o = &w->cfg.observer;
  if (o->on_boot != NULL)
    o->on_boot(o->ctx, sim_clock_now(&w->clock), mac, gateway, boot, lost);
}

/* ---- Radio glue ---------------------------------------------------------- */

static void node_rx(void *core, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data, size_t len,
                    int8_t rssi)
{
  struct fsim_node *nd = core;
  if (nd->core_ok)
    node_on_radio_rx(&nd->core, mac, data, len, rssi);
}

static void node_sent(void *core, const uint8_t mac[HAL_MAC_LEN], bool delivered)
{
  struct fsim_node *nd = core;
  if (nd->core_ok)
    node_on_radio_sent(&nd->core, mac, delivered);
}

static const struct sim_board_ops node_ops = {node_rx, node_sent};

static void gateway_rx(void *core, const uint8_t mac[HAL_MAC_LEN], const uint8_t *data, size_t len,
                       int8_t rssi)
{
  struct fsim_world *w = core;
  if (w->gw_ok) {
    gw_on_radio_rx(&w->gw, mac, data, len, rssi);
    w->gw_poke = true;
  }
}

static void gateway_sent(void *core, const uint8_t mac[HAL_MAC_LEN], bool delivered)
{
  struct fsim_world *w = core;
  if (w->gw_ok) {
    gw_on_radio_sent(&w->gw, mac, delivered);
    w->gw_poke = true;
  }
}

static const struct sim_board_ops gateway_ops = {gateway_rx, gateway_sent};

/* ---- Boards and cores ------------------------------------------------------ */

static void board_config(struct fsim_world *w, struct sim_board_config *bc,
                         const uint8_t mac[HAL_MAC_LEN])
{
  sim_board_config_default(bc);
  memcpy(bc->mac, mac, HAL_MAC_LEN);
  bc->seed = w->cfg.seed;
  bc->clock = &w->clock;
  bc->radio = &w->radio;
  bc->channel = w->cfg.channel;
  bc->state_dir = w->cfg.state_dir;
  bc->log = w->cfg.log;
  bc->log_ctx = w->cfg.log_ctx;
  bc->log_level = w->cfg.log_level;
}

static void node_config(struct fsim_world *w, struct fsim_node *nd)
{
  struct node_config *c = &nd->cfg;
  node_config_default(c);
  c->fw = FW_VERSION;
  snprintf(nd->asset, sizeof nd->asset, "%s/node-%02u", w->cfg.site, nd->index);
  c->asset = nd->asset;
  c->period_ms = w->cfg.period_ms;
  c->features_built = NODE_F_ALL;
  c->features_default = NODE_F_SHT41 | NODE_F_LUX | NODE_F_MQ135 | NODE_F_RELAYS;
  c->channel = w->cfg.channel;
  c->encrypt = w->cfg.encrypt;
  /* Each node its own repeatable noise (never 0: that means hal_random). */
  c->synthetic_seed = (uint32_t)(draw(w->cfg.seed, K_SYNTH, nd->index, 0) * 4294967295.0) | 1u;
  c->identify_gpio = GPIO_IDENTIFY;
  c->lux.adc_ch = ADC_LUX;
  c->lux.points = lux_curve;
  c->lux.count = (uint8_t)(sizeof lux_curve / sizeof lux_curve[0]);
  c->mq135.adc_ch = ADC_MQ135;
  c->mq135.r0_ohm = 20000.0f; /* nominal for the sensor series, until calibrated */
  c->mq135.warmup_ms = 60000; /* shortened from 24 h preheat: a simulation */
  c->relays.count = FSIM_RELAYS;
  for (uint8_t k = 0; k < FSIM_RELAYS; k++)
    c->relays.gpio[k] = k;
  /* Channels 5 and 6 drive a vent's open and close motor: never together. */
  c->relays.interlock_count = 1;
  c->relays.interlocks[0].a = 4;
  c->relays.interlocks[0].b = 5;
  c->hooks.on_reading = hook_reading;
  c->hooks.on_command = hook_command;
  c->hooks.on_dropped = hook_dropped;
  c->hooks.ctx = nd;
}

static int node_start(struct fsim_world *w, struct fsim_node *nd, unsigned lost, char *why,
                      size_t cap)
{
  feed_sensors(w, nd);
  int rc = node_init(&nd->core, &nd->cfg, &nd->board);
  nd->core_ok = rc == 0;
  if (rc != 0) {
    char hex[13];
    fsim_mac_hex(sim_board_mac(&nd->board), hex);
    if (why != NULL && cap > 0)
      snprintf(why, cap, "node %s did not start: %s", hex, farm_strerror(rc));
    hal_log(&nd->board, HAL_LOG_ERROR, "node core did not start: %s", farm_strerror(rc));
    return rc;
  }
  node_set_paused(&nd->core, w->paused);
  report_boot(w, sim_board_mac(&nd->board), false, node_boot(&nd->core), lost);
  return 0;
}

static int gateway_start(struct fsim_world *w, unsigned lost, char *why, size_t cap)
{
  /* As the ESP-IDF port does before the radio starts: the MAC cfg:set_mac
   * saved becomes the radio's. */
  uint8_t saved[HAL_MAC_LEN];
  if (gw_saved_mac(&w->gw_board, saved) == 0 &&
      memcmp(saved, sim_board_mac(&w->gw_board), HAL_MAC_LEN) != 0) {
    int rc = sim_board_set_mac(&w->gw_board, saved);
    if (rc != 0)
      hal_log(&w->gw_board, HAL_LOG_ERROR, "saved MAC not applied: %s", farm_strerror(rc));
  }
  int rc = gw_init(&w->gw, &w->gw_cfg, &w->gw_board);
  w->gw_ok = rc == 0;
  if (rc != 0) {
    if (why != NULL && cap > 0)
      snprintf(why, cap, "gateway did not start: %s", farm_strerror(rc));
    hal_log(&w->gw_board, HAL_LOG_ERROR, "gateway core did not start: %s", farm_strerror(rc));
    return rc;
  }
  w->gw_poke = true;
  report_boot(w, sim_board_mac(&w->gw_board), true, gw_boot(&w->gw), lost);
  return 0;
}

/* The board has lost power (or the core asked to restart): it hears and
 * sends nothing until it starts again. */
static void board_down(struct hal_port *b)
{
  if (!sim_board_reboot_pending(b))
    hal_reboot(b);
}

static void node_restart(struct fsim_world *w, struct fsim_node *nd)
{
  unsigned lost = nd->core_ok ? node_outbox_count(&nd->core) : 0;
  nd->restart_at = NO_TIME;
  sim_board_restart(&nd->board);
  /* The outbox was in RAM: the boot report says what went with it. */
  (void)node_start(w, nd, lost, NULL, 0);
}

static void gateway_restart(struct fsim_world *w)
{
  unsigned lost = w->gw_ok ? (unsigned)gw_uplink_pending(&w->gw) : 0;
  w->gw_restart_at = NO_TIME;
  sim_board_restart(&w->gw_board);
  (void)gateway_start(w, lost, NULL, 0);
}

/* ---- Building ---------------------------------------------------------------- */

static bool mac_taken(const struct fsim_world *w, const uint8_t mac[HAL_MAC_LEN], unsigned upto)
{
  if (memcmp(mac, sim_board_mac(&w->gw_board), HAL_MAC_LEN) == 0)
    return true;
  for (unsigned k = 0; k < upto; k++) {
    if (memcmp(mac, sim_board_mac(&w->nodes[k].board), HAL_MAC_LEN) == 0)
      return true;
  }
  return false;
}

int fsim_world_new(const struct fsim_config *cfg, struct fsim_world **out, char *why, size_t cap)
{
  assert(cfg != NULL && out != NULL);
  *out = NULL;
  int rc = fsim_config_check(cfg, why, cap);
  if (rc != 0)
    return rc;
  struct fsim_world *w = calloc(1, sizeof *w);
  if (w == NULL)
    return FARM_ENOMEM;
  w->nodes = calloc(cfg->nodes, sizeof *w->nodes);
  if (w->nodes == NULL) {
    free(w);
    return FARM_ENOMEM;
  }
  w->cfg = *cfg;
  w->n = cfg->nodes;
  w->gw_restart_at = NO_TIME;
  w->gw_ticked_at = NO_TIME;
  sim_clock_init(&w->clock, 0);

  struct sim_radio_config rc_cfg;
  sim_radio_config_default(&rc_cfg);
  rc_cfg.seed = mix64(cfg->seed ^ 0x7261646fu);
  rc_cfg.loss = cfg->loss;
  rc_cfg.latency_ms = cfg->latency_ms;
  rc = sim_radio_init(&w->radio, &rc_cfg, &w->clock);
  if (rc != 0) {
    fail(why, cap, "radio configuration refused");
    goto free_world;
  }

  gw_config_default(&w->gw_cfg);
  w->gw_cfg.codec = cfg->codec;
  w->gw_cfg.channel = cfg->channel;
  w->gw_cfg.encrypt = cfg->encrypt;
  w->gw_cfg.fw = FW_VERSION;
  w->gw_cfg.pair_boot_s = cfg->pair_boot_s;

  struct sim_board_config bc;
  uint8_t mac[HAL_MAC_LEN];
  derive_mac(cfg->seed, 0, 0, mac);
  board_config(w, &bc, mac);
  rc = sim_board_init(&w->gw_board, &bc);
  if (rc != 0) {
    if (why != NULL && cap > 0)
      snprintf(why, cap, "gateway board: %s", farm_strerror(rc));
    goto free_world;
  }
  sim_board_set_core(&w->gw_board, &gateway_ops, w);
  w->gw_on = true;

  unsigned built = 0;
  for (unsigned i = 0; i < w->n; i++) {
    struct fsim_node *nd = &w->nodes[i];
    nd->w = w;
    nd->index = i;
    nd->real = i < cfg->real_nodes;
    nd->on = true;
    nd->restart_at = NO_TIME;
    nd->ticked_at = NO_TIME;
    for (uint64_t attempt = 0;; attempt++) {
      derive_mac(cfg->seed, i + 1, attempt, mac);
      if (!mac_taken(w, mac, i))
        break;
    }
    board_config(w, &bc, mac);
    /* Spread over a disc around the gateway (at least 5 m away). */
    double angle = 6.283185307179586 * draw(cfg->seed, K_POS, i, 0);
    double dist = 5.0 + (cfg->radius_m - 5.0 > 0 ? cfg->radius_m - 5.0 : 0.0) *
                            sqrt(draw(cfg->seed, K_POS, i, 1));
    bc.x_m = dist * cos(angle);
    bc.y_m = dist * sin(angle);
    rc = sim_board_init(&nd->board, &bc);
    if (rc != 0) {
      if (why != NULL && cap > 0)
        snprintf(why, cap, "node %u board: %s", i, farm_strerror(rc));
      goto detach;
    }
    built++;
    sim_board_set_core(&nd->board, &node_ops, nd);
    nd->temp_off = 3.0 * draw(cfg->seed, K_CHAR, i, 0) - 1.5;
    nd->rh_off = 10.0 * draw(cfg->seed, K_CHAR, i, 1) - 5.0;
    nd->lux_factor = 0.6 + 0.4 * draw(cfg->seed, K_CHAR, i, 2);
    nd->air_off = 60.0 * draw(cfg->seed, K_CHAR, i, 3) - 30.0;
    node_config(w, nd);
    if (nd->real) {
      uint32_t serial = (uint32_t)mix64(cfg->seed ^ mix64(K_SERIAL ^ mix64(i)));
      sim_sht41_init(&nd->sht, nd->cfg.sht41.addr, serial);
      rc = sim_board_i2c_attach(&nd->board, &nd->sht.dev);
      assert(rc == 0);
    } else {
      /* No sensors fitted: the I2C bus answers nobody (NACK) and the analog
       * inputs fail, so the core runs on synthetic values. */
      (void)sim_board_adc_fail(&nd->board, ADC_LUX, FARM_EIO);
      (void)sim_board_adc_fail(&nd->board, ADC_MQ135, FARM_EIO);
    }
  }

  rc = gateway_start(w, 0, why, cap);
  if (rc != 0)
    goto detach;
  for (unsigned i = 0; i < w->n; i++) {
    rc = node_start(w, &w->nodes[i], 0, why, cap);
    if (rc != 0)
      goto detach;
  }
  *out = w;
  return 0;

detach:
  for (unsigned i = 0; i < built; i++)
    sim_board_detach(&w->nodes[i].board);
  sim_board_detach(&w->gw_board);
free_world:
  free(w->nodes);
  free(w);
  return rc;
}

void fsim_world_free(struct fsim_world *w)
{
  if (w == NULL)
    return;
  for (unsigned i = 0; i < w->n; i++)
    sim_board_detach(&w->nodes[i].board);
  sim_board_detach(&w->gw_board);
  free(w->nodes);
  free(w);
}

/* ---- Time ---------------------------------------------------------------- */

uint64_t fsim_now(const struct fsim_world *w)
{
  return sim_clock_now(&w->clock);
}

/* A core's deadline (on its board's uptime) in simulated time. */
static uint64_t to_sim(const struct fsim_world *w, struct hal_port *b, uint64_t deadline)
{
  if (deadline == UINT64_MAX)
    return NO_TIME;
  uint64_t base = sim_clock_now(&w->clock) - hal_clock_ms(b);
  return deadline > NO_TIME - base ? NO_TIME : base + deadline;
}

/*
 * When a core is due in simulated time: its deadline, but a core already
 * ticked at this instant waits for the next millisecond (its clock's
 * resolution). A core whose deadline does not move when it runs is then
 * polled every millisecond instead of hanging the simulation.
 */
static uint64_t due_at(const struct fsim_world *w, struct hal_port *b, uint64_t deadline,
                       uint64_t ticked_at)
{
  uint64_t t = to_sim(w, b, deadline);
  return ticked_at != NO_TIME && t <= ticked_at ? ticked_at + 1 : t;
}

static void earliest(uint64_t *t, uint64_t at)
{
  if (at < *t)
    *t = at;
}

static bool gateway_running(const struct fsim_world *w)
{
  return w->gw_on && w->gw_ok && !sim_board_reboot_pending(&w->gw_board);
}

static bool node_running(const struct fsim_node *nd)
{
  return nd->on && nd->core_ok && !sim_board_reboot_pending(&nd->board);
}

uint64_t fsim_next_due(const struct fsim_world *w)
{
  assert(w != NULL);
  struct fsim_world *mw = (struct fsim_world *)w; /* hal_clock_ms takes a mutable board */
  uint64_t now = sim_clock_now(&w->clock);
  uint64_t t = NO_TIME;
  uint64_t at;
  if (sim_radio_next_due(&w->radio, &at))
    earliest(&t, at);
  if (w->gw_on && sim_board_reboot_pending(&w->gw_board))
    earliest(&t, w->gw_restart_at == NO_TIME ? now : w->gw_restart_at);
  else if (gateway_running(w)) {
    earliest(&t, w->gw_poke ? now
                            : due_at(w, &mw->gw_board, gw_next_deadline(&w->gw), w->gw_ticked_at));
  }
  for (unsigned i = 0; i < w->n; i++) {
    const struct fsim_node *nd = &w->nodes[i];
    if (nd->on && sim_board_reboot_pending(&nd->board))
      earliest(&t, nd->restart_at == NO_TIME ? now : nd->restart_at);
    else if (node_running(nd))
      earliest(&t, due_at(w, &mw->nodes[i].board, node_next_deadline(&nd->core), nd->ticked_at));
  }
  return t < now ? now : t;
}

/* Everything due at the current simulated time, once. */
static void step(struct fsim_world *w)
{
  uint64_t now = sim_clock_now(&w->clock);

  /* Restarts: a board that asked (hal_reboot) gets its restart scheduled
   * boot_ms later; one whose time has come starts again. */
  if (w->gw_on && sim_board_reboot_pending(&w->gw_board)) {
    if (w->gw_restart_at == NO_TIME)
      w->gw_restart_at = now + w->cfg.boot_ms;
    else if (now >= w->gw_restart_at)
      gateway_restart(w);
  }
  for (unsigned i = 0; i < w->n; i++) {
    struct fsim_node *nd = &w->nodes[i];
    if (nd->on && sim_board_reboot_pending(&nd->board)) {
      if (nd->restart_at == NO_TIME)
        nd->restart_at = now + w->cfg.boot_ms;
      else if (now >= nd->restart_at)
        node_restart(w, nd);
    }
  }

  sim_radio_run(&w->radio);

  for (unsigned i = 0; i < w->n; i++) {
    struct fsim_node *nd = &w->nodes[i];
    if (!node_running(nd))
      continue;
    if (due_at(w, &nd->board, node_next_deadline(&nd->core), nd->ticked_at) <= now) {
      nd->ticked_at = now;
      feed_sensors(w, nd);
      node_tick(&nd->core);
    }
  }

  if (gateway_running(w) &&
      (w->gw_poke || due_at(w, &w->gw_board, gw_next_deadline(&w->gw), w->gw_ticked_at) <= now)) {
    w->gw_poke = false;
    w->gw_ticked_at = now;
    gw_tick(&w->gw);
  }
}

void fsim_advance(struct fsim_world *w, uint64_t to_ms)
{
  assert(w != NULL);
  for (;;) {
    uint64_t t = fsim_next_due(w);
    if (t > to_ms)
      break;
    if (t != w->steps_time) {
      w->steps_time = t;
      w->steps_at_now = 0;
    }
    if (++w->steps_at_now > FSIM_MAX_STEPS_PER_MS) {
      /* Something stays due however often it runs: move on rather than
       * hang, and say so. */
      if (!w->livelock_logged)
        hal_log(&w->gw_board, HAL_LOG_ERROR, "livelock at %llu ms: clock moved on",
                (unsigned long long)t);
      w->livelock_logged = true;
      t++;
      w->steps_time = t;
      w->steps_at_now = 0;
      if (t > to_ms)
        break;
    }
    sim_clock_advance_to(&w->clock, t);
    step(w);
  }
  if (to_ms > sim_clock_now(&w->clock))
    sim_clock_advance_to(&w->clock, to_ms);
}

/* ---- Serial ---------------------------------------------------------------- */

void fsim_set_cable(struct fsim_world *w, bool connected)
{
  assert(w != NULL);
  if (sim_serial_is_connected(&w->gw_board) == connected)
    return;
  sim_serial_set_connected(&w->gw_board, connected);
  w->gw_poke = true;
}

bool fsim_cable(const struct fsim_world *w)
{
  return sim_serial_is_connected(&w->gw_board);
}

int fsim_host_write(struct fsim_world *w, const void *data, size_t len, size_t *written)
{
  assert(w != NULL);
  int rc = sim_serial_host_write(&w->gw_board, data, len, written);
  if (rc == 0 && *written > 0)
    w->gw_poke = true;
  return rc;
}

int fsim_host_read(struct fsim_world *w, void *buf, size_t cap, size_t *got)
{
  assert(w != NULL);
  return sim_serial_host_read(&w->gw_board, buf, cap, got);
}

/* ---- Control ------------------------------------------------------------------ */

void fsim_set_paused(struct fsim_world *w, bool paused)
{
  assert(w != NULL);
  w->paused = paused;
  for (unsigned i = 0; i < w->n; i++) {
    if (w->nodes[i].core_ok)
      node_set_paused(&w->nodes[i].core, paused);
  }
}

bool fsim_paused(const struct fsim_world *w)
{
  return w->paused;
}

int fsim_set_loss(struct fsim_world *w, double loss)
{
  assert(w != NULL);
  return sim_radio_set_loss(&w->radio, loss);
}

int fsim_set_link_loss(struct fsim_world *w, unsigned i, double loss)
{
  assert(w != NULL);
  if (i >= w->n || isnan(loss))
    return FARM_EINVAL;
  return sim_radio_set_link_loss(&w->radio, sim_board_mac(&w->nodes[i].board),
                                 sim_board_mac(&w->gw_board), loss);
}

void fsim_reboot_gateway(struct fsim_world *w)
{
  assert(w != NULL);
  if (!w->gw_on)
    return;
  board_down(&w->gw_board);
  w->gw_restart_at = sim_clock_now(&w->clock) + w->cfg.boot_ms;
}

void fsim_reboot_node(struct fsim_world *w, unsigned i)
{
  assert(w != NULL && i < w->n);
  struct fsim_node *nd = &w->nodes[i];
  if (!nd->on)
    return;
  board_down(&nd->board);
  nd->restart_at = sim_clock_now(&w->clock) + w->cfg.boot_ms;
}

void fsim_power_node(struct fsim_world *w, unsigned i, bool on)
{
  assert(w != NULL && i < w->n);
  struct fsim_node *nd = &w->nodes[i];
  if (on == nd->on)
    return;
  nd->on = on;
  if (!on) {
    board_down(&nd->board);
    nd->restart_at = NO_TIME;
  } else {
    nd->restart_at = sim_clock_now(&w->clock) + w->cfg.boot_ms;
  }
}

bool fsim_node_powered(const struct fsim_world *w, unsigned i)
{
  assert(w != NULL && i < w->n);
  return w->nodes[i].on;
}

int fsim_add_anomaly(struct fsim_world *w, const struct fsim_anomaly *a)
{
  assert(w != NULL && a != NULL);
  if (!anomaly_ok(&w->cfg, a))
    return FARM_EINVAL;
  if (w->cfg.n_anomalies == FSIM_MAX_ANOMALIES)
    return FARM_ENOSPC;
  w->cfg.anomalies[w->cfg.n_anomalies++] = *a;
  return 0;
}

/* ---- Inspection ----------------------------------------------------------------- */

unsigned fsim_node_count(const struct fsim_world *w)
{
  return w->n;
}

int fsim_node_find(const struct fsim_world *w, const uint8_t mac[HAL_MAC_LEN])
{
  for (unsigned i = 0; i < w->n; i++) {
    if (memcmp(sim_board_mac(&w->nodes[i].board), mac, HAL_MAC_LEN) == 0)
      return (int)i;
  }
  return -1;
}

const uint8_t *fsim_node_mac(const struct fsim_world *w, unsigned i)
{
  assert(i < w->n);
  return sim_board_mac(&w->nodes[i].board);
}

bool fsim_node_real(const struct fsim_world *w, unsigned i)
{
  assert(i < w->n);
  return w->nodes[i].real;
}

struct node *fsim_node_core(struct fsim_world *w, unsigned i)
{
  assert(i < w->n);
  return &w->nodes[i].core;
}

struct hal_port *fsim_node_board(struct fsim_world *w, unsigned i)
{
  assert(i < w->n);
  return &w->nodes[i].board;
}

const uint8_t *fsim_gateway_mac(const struct fsim_world *w)
{
  return sim_board_mac(&w->gw_board);
}

bool fsim_gateway_up(const struct fsim_world *w)
{
  return gateway_running(w);
}

struct gw *fsim_gateway_core(struct fsim_world *w)
{
  return &w->gw;
}

struct hal_port *fsim_gateway_board(struct fsim_world *w)
{
  return &w->gw_board;
}

struct sim_radio *fsim_radio(struct fsim_world *w)
{
  return &w->radio;
}

struct sim_clock *fsim_clock(struct fsim_world *w)
{
  return &w->clock;
}
