/* SPDX-License-Identifier: MIT */
/*
 * farm-sim's command line (fsim/options.h): strict parsing of every option
 * and of --anomaly, with a one-line reason for each refusal.
 */
#include "fsim/options.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

const char fsim_usage[] =
    "usage: farm-sim [options]\n"
    "  --nodes N          nodes, 1..64 (4)\n"
    "  --real K           the first K nodes have emulated sensors (half, rounded up)\n"
    "  --seed S           seed of everything random (1)\n"
    "  --period-ms MS     telemetry period, 1000..3600000 (10000)\n"
    "  --loss P           radio loss probability on every link, 0..1 (0)\n"
    "  --latency-ms MS    radio latency (2)\n"
    "  --radius-m M       nodes stand within M metres of the gateway (60)\n"
    "  --channel C        Wi-Fi channel, 1..14 (1)\n"
    "  --encrypt on|off   ESP-NOW encryption, at most 17 nodes paired (off)\n"
    "  --site NAME        site name, [a-z0-9_-]{1,24} (sim)\n"
    "  --codec C          serial codec: msgpack or cbor (msgpack)\n"
    "  --pair-s S         boot pairing window of an empty gateway, 0..3600 (600)\n"
    "  --epoch-ms MS      Unix ms at simulated time 0 (2026-06-01T06:00Z)\n"
    "  --anomaly SPEC     node=I,metric=M,delta=D[,at_ms=T][,for_ms=L] (repeatable)\n"
    "  --serial PATH      symlink to the gateway's pseudo-terminal\n"
    "  --state-dir DIR    NVS files of every board (default: in memory)\n"
    "  --ledger FILE      ground-truth JSON Lines, appended\n"
    "  --control PATH     Unix stream socket for control commands\n"
    "  --speed X          simulated time per real time, > 0 or 'max' (1)\n"
    "  --duration-ms MS   exit after this much simulated time (0: run until signalled)\n"
    "  --log-level L      error, warn, info or debug (warn)\n"
    "  --help\n";

static int bad(char *why, size_t cap, const char *opt, const char *what)
{
  if (why != NULL && cap > 0)
    snprintf(why, cap, "%s: %s", opt, what);
  return FARM_EINVAL;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
  if (s == NULL || *s < '0' || *s > '9')
    return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return false;
  *out = v;
  return true;
}

static bool parse_double(const char *s, double *out)
{
  if (s == NULL || *s == '\0')
    return false;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v))
    return false;
  *out = v;
  return true;
}

int fsim_anomaly_parse(const char *spec, struct fsim_anomaly *a, char *why, size_t cap)
{
  assert(spec != NULL && a != NULL);
  memset(a, 0, sizeof *a);
  char buf[256];
  if (strlen(spec) >= sizeof buf)
    return bad(why, cap, "--anomaly", "too long");
  strcpy(buf, spec);
  bool have_node = false, have_metric = false, have_delta = false;
  char *save = NULL;
  for (char *kv = strtok_r(buf, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (eq == NULL)
      return bad(why, cap, "--anomaly", "expected key=value pairs");
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    uint64_t u;
    if (strcmp(k, "node") == 0) {
      if (!parse_u64(v, FSIM_MAX_NODES - 1, &u))
        return bad(why, cap, "--anomaly", "node must be an index 0..63");
      a->node = (unsigned)u;
      have_node = true;
    } else if (strcmp(k, "metric") == 0) {
      if (fsim_metric_parse(v, &a->metric) != 0)
        return bad(why, cap, "--anomaly", "metric must be temp_c, rh_pct, lux or air_ppm");
      have_metric = true;
    } else if (strcmp(k, "delta") == 0) {
      if (!parse_double(v, &a->delta))
        return bad(why, cap, "--anomaly", "delta must be a finite number");
      have_delta = true;
    } else if (strcmp(k, "at_ms") == 0) {
      if (!parse_u64(v, UINT64_MAX / 2, &a->at_ms))
        return bad(why, cap, "--anomaly", "at_ms must be a number of milliseconds");
    } else if (strcmp(k, "for_ms") == 0) {
      if (!parse_u64(v, UINT64_MAX / 2, &a->for_ms))
        return bad(why, cap, "--anomaly", "for_ms must be a number of milliseconds");
    } else {
      return bad(why, cap, "--anomaly", "unknown key (node, metric, delta, at_ms, for_ms)");
    }
  }
  if (!have_node || !have_metric || !have_delta)
    return bad(why, cap, "--anomaly", "node, metric and delta are required");
  return 0;
}

int fsim_options_parse(int argc, char *const argv[], struct fsim_options *o, char *why, size_t cap)
{
  assert(o != NULL && (argc == 0 || argv != NULL));
  memset(o, 0, sizeof *o);
  fsim_config_default(&o->cfg);
  o->speed = 1.0;
  bool real_given = false;

  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i];
    if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
      o->help = true;
      continue;
    }
    if (strncmp(opt, "--", 2) != 0)
      return bad(why, cap, opt, "not an option");
    if (i + 1 >= argc)
      return bad(why, cap, opt, "needs a value");
    const char *v = argv[++i];
    uint64_t u;
    double d;
    if (strcmp(opt, "--nodes") == 0) {
      if (!parse_u64(v, FSIM_MAX_NODES, &u) || u == 0)
        return bad(why, cap, opt, "must be 1..64");
      o->cfg.nodes = (unsigned)u;
    } else if (strcmp(opt, "--real") == 0) {
      if (!parse_u64(v, FSIM_MAX_NODES, &u))
        return bad(why, cap, opt, "must be 0..64");
      o->cfg.real_nodes = (unsigned)u;
      real_given = true;
    } else if (strcmp(opt, "--seed") == 0) {
      if (!parse_u64(v, UINT64_MAX, &u))
        return bad(why, cap, opt, "must be an unsigned integer");
      o->cfg.seed = u;
    } else if (strcmp(opt, "--period-ms") == 0) {
      if (!parse_u64(v, NODE_PERIOD_MAX_MS, &u) || u < NODE_PERIOD_MIN_MS)
        return bad(why, cap, opt, "must be 1000..3600000");
      o->cfg.period_ms = (uint32_t)u;
    } else if (strcmp(opt, "--loss") == 0) {
      if (!parse_double(v, &d) || d < 0.0 || d > 1.0)
        return bad(why, cap, opt, "must be 0..1");
      o->cfg.loss = d;
    } else if (strcmp(opt, "--latency-ms") == 0) {
      if (!parse_u64(v, 60000, &u))
        return bad(why, cap, opt, "must be 0..60000");
      o->cfg.latency_ms = (uint32_t)u;
    } else if (strcmp(opt, "--radius-m") == 0) {
      if (!parse_double(v, &d) || d <= 0.0 || d > 100000.0)
        return bad(why, cap, opt, "must be above 0 and at most 100000");
      o->cfg.radius_m = d;
    } else if (strcmp(opt, "--channel") == 0) {
      if (!parse_u64(v, 14, &u) || u < 1)
        return bad(why, cap, opt, "must be 1..14");
      o->cfg.channel = (uint8_t)u;
    } else if (strcmp(opt, "--encrypt") == 0) {
      if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
        return bad(why, cap, opt, "must be on or off");
      o->cfg.encrypt = strcmp(v, "on") == 0;
    } else if (strcmp(opt, "--site") == 0) {
      if (strlen(v) > FSIM_SITE_MAX)
        return bad(why, cap, opt, "must be 1..24 of [a-z0-9_-]");
      strcpy(o->cfg.site, v);
    } else if (strcmp(opt, "--codec") == 0) {
      if (fp_codec_parse(v, &o->cfg.codec) != 0)
        return bad(why, cap, opt, "must be msgpack or cbor");
    } else if (strcmp(opt, "--pair-s") == 0) {
      if (!parse_u64(v, 3600, &u))
        return bad(why, cap, opt, "must be 0..3600");
      o->cfg.pair_boot_s = (uint16_t)u;
    } else if (strcmp(opt, "--epoch-ms") == 0) {
      /* Up to year 9999, like the boards' wall clock. */
      if (!parse_u64(v, UINT64_C(253402300799999), &u))
        return bad(why, cap, opt, "must be Unix milliseconds");
      o->cfg.epoch_ms = u;
    } else if (strcmp(opt, "--anomaly") == 0) {
      if (o->cfg.n_anomalies == FSIM_MAX_ANOMALIES)
        return bad(why, cap, opt, "at most 16");
      int rc = fsim_anomaly_parse(v, &o->cfg.anomalies[o->cfg.n_anomalies], why, cap);
      if (rc != 0)
        return rc;
      o->cfg.n_anomalies++;
    } else if (strcmp(opt, "--serial") == 0) {
      o->serial = v;
    } else if (strcmp(opt, "--state-dir") == 0) {
      o->cfg.state_dir = v;
    } else if (strcmp(opt, "--ledger") == 0) {
      o->ledger = v;
    } else if (strcmp(opt, "--control") == 0) {
      o->control = v;
    } else if (strcmp(opt, "--speed") == 0) {
      if (strcmp(v, "max") == 0)
        o->speed = INFINITY;
      else if (!parse_double(v, &d) || !(d > 0.0))
        return bad(why, cap, opt, "must be a number above 0, or max");
      else
        o->speed = d;
    } else if (strcmp(opt, "--duration-ms") == 0) {
      if (!parse_u64(v, UINT64_MAX / 2, &u))
        return bad(why, cap, opt, "must be a number of milliseconds");
      o->duration_ms = u;
    } else if (strcmp(opt, "--log-level") == 0) {
      static const char *const levels[] = {"error", "warn", "info", "debug"};
      int k = 0;
      while (k < 4 && strcmp(v, levels[k]) != 0)
        k++;
      if (k == 4)
        return bad(why, cap, opt, "must be error, warn, info or debug");
      o->cfg.log_level = (enum hal_log_level)k;
    } else {
      return bad(why, cap, opt, "unknown option");
    }
  }
  if (!real_given)
    o->cfg.real_nodes = (o->cfg.nodes + 1) / 2;
  return fsim_config_check(&o->cfg, why, cap);
}
