/* SPDX-License-Identifier: MIT */
/*
 * farm-sim's command line: the options, their defaults and checks, and the
 * --anomaly specification. Kept apart from main so every rule is tested.
 */
#ifndef FSIM_OPTIONS_H
#define FSIM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsim/world.h"

struct fsim_options {
  struct fsim_config cfg; /* cfg.state_dir points into argv */
  const char *serial;     /* --serial: symlink to the pty; NULL: none */
  const char *ledger;     /* --ledger FILE; NULL: none */
  const char *control;    /* --control socket path; NULL: none */
  double speed;           /* simulated ms per real ms; INFINITY: unpaced */
  uint64_t duration_ms;   /* --duration-ms: stop after this simulated time; 0: never */
  bool help;
};

/*
 * Parses argv[1..argc) into o (defaults first: fsim_config_default, speed
 * 1, no files). Options take their value as the next argument. Returns 0,
 * or FARM_EINVAL with a one-line reason in why (cap bytes): an unknown
 * option, a missing or malformed value, a value out of range, or a
 * configuration fsim_config_check refuses. The strings in o point into
 * argv.
 */
int fsim_options_parse(int argc, char *const argv[], struct fsim_options *o, char *why, size_t cap);

/*
 * Parses one anomaly: comma-separated key=value pairs
 * node=<index>,metric=<name>,delta=<number>[,at_ms=<ms>][,for_ms=<ms>]
 * (at_ms 0 and for_ms 0 — for ever — by default). Returns 0 or
 * FARM_EINVAL (why says what).
 */
int fsim_anomaly_parse(const char *spec, struct fsim_anomaly *a, char *why, size_t cap);

/* The usage text, for --help and errors. */
extern const char fsim_usage[];

#endif /* FSIM_OPTIONS_H */
