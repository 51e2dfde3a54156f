/* SPDX-License-Identifier: MIT */
/*
 * farm-sim's control commands, one text line each, as they arrive on the
 * control socket (docs/farm-sim.md): pause, resume, unplug, plug,
 * reboot gateway, reboot node <mac>, loss <p>, loss <mac> <p>|default,
 * power <mac> on|off, anomaly <mac> <metric> <delta> [<seconds>], nodes,
 * status, help. Every command ends with one line "ok" or "error: <reason>";
 * nodes, status and help write their lines before it. The socket handling
 * lives in the program; this is the part tests drive directly.
 */
#ifndef FSIM_CONTROL_H
#define FSIM_CONTROL_H

#include <stdbool.h>

#include "fsim/world.h"

/* Longest command line accepted; longer ones are refused. */
#define FSIM_CONTROL_LINE_MAX 256

struct fsim_control {
  struct fsim_world *w;
  bool reader;    /* a host has the serial port open */
  bool unplugged; /* `unplug` holds the cable out whatever the reader does */
};

/* Starts with no reader and the cable not held out. */
void fsim_control_init(struct fsim_control *c, struct fsim_world *w);

/* A host opened (true) or closed the serial port: the simulated cable is
 * plugged while a reader is there and `unplug` is not in force. */
void fsim_control_set_reader(struct fsim_control *c, bool reader);

/*
 * Runs one command line (without its newline; surrounding blanks are
 * ignored) and hands each answer line, without newline, to emit. Returns 0
 * when the answer is "ok", FARM_EINVAL when it is an error.
 */
int fsim_control_exec(struct fsim_control *c, const char *line,
                      void (*emit)(void *ctx, const char *line), void *ctx);

#endif /* FSIM_CONTROL_H */
