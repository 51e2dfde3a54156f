/* SPDX-License-Identifier: MIT */
/*
 * Driver for a bank of relays on GPIO outputs (the T-RelayS3 has six).
 * Besides on/off it enforces the safety rules of the installation: pairs of
 * channels that must never be on together (a pump's forward and reverse, a
 * vent's open and close), an on-lease that switches a channel off by itself
 * when its duration ends (so a lost command link cannot leave a valve
 * open), and a safe state applied on link loss. Every change is reported to
 * the owner through a callback, so the node can emit an event.
 */
#ifndef DRIVERS_RELAYS_H
#define DRIVERS_RELAYS_H

#include <stdbool.h>
#include <stdint.h>

struct hal_port;

#define RELAYS_MAX            8
#define RELAYS_MAX_INTERLOCKS 8

/* Two channels that are never on at the same time. */
struct relays_interlock {
  uint8_t a;
  uint8_t b;
};

/* Masks have bit ch for channel ch. */
struct relays_config {
  uint8_t count;            /* channels, 1..RELAYS_MAX */
  uint8_t gpio[RELAYS_MAX]; /* hal_gpio_write output of each channel */
  uint8_t active_low;       /* the relay is on when its output is low */
  uint8_t boot_on;          /* on after relays_init */
  uint8_t safe_on;          /* on in the safe state (0: all off) */
  uint8_t interlock_count;  /* 0..RELAYS_MAX_INTERLOCKS */
  struct relays_interlock interlocks[RELAYS_MAX_INTERLOCKS];
};

/* Why a channel changed. */
enum relays_cause {
  RELAYS_CAUSE_COMMAND, /* relays_set */
  RELAYS_CAUSE_LEASE,   /* its on-lease ended (relays_tick) */
  RELAYS_CAUSE_SAFE,    /* relays_safe */
};

/* The config is not copied: it must outlive the context. */
struct relays {
  const struct relays_config *cfg;
  struct hal_port *port;
  /* Called after each channel's output actually changed, from inside
   * relays_set, relays_tick or relays_safe. It may read the state
   * (relays_is_on, relays_state) but must not change it. */
  void (*on_change)(void *ctx, uint8_t ch, bool on, enum relays_cause cause);
  void *ctx;
  uint8_t on;                     /* mask of channels on */
  uint64_t lease_end[RELAYS_MAX]; /* hal_clock_ms() of the end; 0 = none */
  bool in_callback;
};

/*
 * Returns 0 or FARM_EINVAL: count out of range, a GPIO listed twice, a mask
 * with bits beyond count, an interlock naming a channel beyond count or the
 * same channel twice, or a boot or safe state that violates an interlock.
 */
int relays_validate(const struct relays_config *cfg);

/*
 * Validates cfg, then drives every output to its boot state (channels going
 * off first, then those going on, so interlocked channels never overlap).
 * on_change may be NULL; it is not called for the boot state. Returns 0,
 * FARM_EINVAL, or the first GPIO error (outputs already written stay).
 */
int relays_init(struct relays *r, struct hal_port *port, const struct relays_config *cfg,
                void (*on_change)(void *ctx, uint8_t ch, bool on, enum relays_cause cause),
                void *ctx);

/*
 * Switches channel ch. on with lease_ms > 0 switches it off by itself
 * lease_ms after now (hal_clock_ms) at the first relays_tick at or past the
 * end; lease_ms == 0 means until told otherwise. A new command replaces any
 * lease. Off clears the lease; off with lease_ms > 0 is FARM_EINVAL.
 * Returns 0; FARM_ERANGE (ch >= count); FARM_EINVAL; FARM_EBUSY (on while an
 * interlocked partner is on: nothing changes); a GPIO error (nothing
 * changes).
 */
int relays_set(struct relays *r, uint8_t ch, bool on, uint32_t lease_ms);

/*
 * Ends the leases due at now_ms (hal_clock_ms): each such channel goes off
 * with cause RELAYS_CAUSE_LEASE. Returns 0 or the first GPIO error (that
 * channel keeps its lease and is retried at the next tick).
 */
int relays_tick(struct relays *r, uint64_t now_ms);

/*
 * Applies the safe state: every lease cleared, channels not in safe_on off
 * first, then those in safe_on on, cause RELAYS_CAUSE_SAFE. Tries every
 * channel even after a failure; returns 0 or the first GPIO error.
 */
int relays_safe(struct relays *r);

bool relays_is_on(const struct relays *r, uint8_t ch);
uint8_t relays_state(const struct relays *r); /* mask of channels on */

/* The end of ch's lease (hal_clock_ms), or 0 when it has none. */
uint64_t relays_lease_end(const struct relays *r, uint8_t ch);

/* The earliest lease end, for scheduling relays_tick; false when none. */
bool relays_next_deadline(const struct relays *r, uint64_t *at_ms);

#endif /* DRIVERS_RELAYS_H */
