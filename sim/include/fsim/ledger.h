/* SPDX-License-Identifier: MIT */
/*
 * The ground-truth ledger of farm-sim: one JSON object per line (JSON
 * Lines) for every reading a node makes and every command it runs or
 * refuses, plus the messages it had to drop and every board start, so an
 * end-to-end test can check what reached the edge and the cloud against
 * what was really produced. Each line is flushed when written, so a test
 * can follow the file while the simulator runs. Line formats (keys in this
 * order; `sim_ms` is the simulated time):
 *
 *   {"kind":"reading","device":"<12 hex>","boot":B,"seq":S,"up_ms":U,
 *    "sim_ms":T,"syn":false,"v":{"temp_c":21.5,...}}
 *   {"kind":"command","device":…,"id":I,"name":"relay.set",
 *    "args":{"ch":1,"on":true},"ok":true,"sim_ms":T}        ("err" when !ok)
 *   {"kind":"dropped","device":…,"type":"tel","boot":B,"seq":S,"sim_ms":T}
 *   {"kind":"boot","device":…,"role":"node"|"gateway","boot":B,"lost":L,
 *    "sim_ms":T}
 *
 * Host code: it writes through stdio and allocates nothing.
 */
#ifndef FSIM_LEDGER_H
#define FSIM_LEDGER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fsim/world.h"

struct fsim_ledger {
  FILE *f;  /* NULL: a ledger that writes nothing */
  bool own; /* fsim_ledger_close closes f */
  int err;  /* first write error (FARM_EIO), sticky */
  uint64_t lines;
};

/* Opens path for appending (a restarted simulator adds to its ledger).
 * Returns 0 or FARM_EIO. */
int fsim_ledger_open(struct fsim_ledger *l, const char *path);

/* Writes to an open stream the caller keeps (tests use memory streams). */
void fsim_ledger_init_stream(struct fsim_ledger *l, FILE *f);

/* Flushes and, when it opened the file, closes it. Returns 0 or the first
 * write error. */
int fsim_ledger_close(struct fsim_ledger *l);

/* Fills obs with callbacks that write l (obs->ctx = l). */
void fsim_ledger_observer(struct fsim_ledger *l, struct fsim_observer *obs);

/*
 * Writes a finite double as the shortest JSON number that reads back as
 * the same double (integers without a fraction), into buf (cap >= 32).
 * Returns the length.
 */
int fsim_json_number(char *buf, size_t cap, double v);

/* Writes s as a JSON string (quotes included) to f, escaping what RFC 8259
 * §7 requires. */
void fsim_json_string(FILE *f, const char *s);

#endif /* FSIM_LEDGER_H */
