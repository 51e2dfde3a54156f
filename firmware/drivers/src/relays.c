/* SPDX-License-Identifier: MIT */
/*
 * Relay bank: output levels, interlocks, leases and the safe state. The
 * state mask changes only after the GPIO write succeeded, so it always
 * tells what the outputs are.
 */
#include "drivers/relays.h"

#include <assert.h>

#include "farm/error.h"
#include "hal/hal.h"

#define BIT(ch) ((uint8_t)(1u << (ch)))

/* True when mask turns on both channels of an interlocked pair. */
static bool violates_interlock(const struct relays_config *cfg, uint8_t mask)
{
  for (uint8_t i = 0; i < cfg->interlock_count; i++) {
    const struct relays_interlock *il = &cfg->interlocks[i];
    if ((mask & BIT(il->a)) && (mask & BIT(il->b)))
      return true;
  }
  return false;
}

int relays_validate(const struct relays_config *cfg)
{
  assert(cfg);
  if (cfg->count < 1 || cfg->count > RELAYS_MAX)
    return FARM_EINVAL;
  uint8_t beyond = (uint8_t) ~((1u << cfg->count) - 1u);
  if ((cfg->active_low | cfg->boot_on | cfg->safe_on) & beyond)
    return FARM_EINVAL;
  for (uint8_t i = 0; i < cfg->count; i++)
    for (uint8_t j = (uint8_t)(i + 1); j < cfg->count; j++)
      if (cfg->gpio[i] == cfg->gpio[j])
        return FARM_EINVAL;
  if (cfg->interlock_count > RELAYS_MAX_INTERLOCKS)
    return FARM_EINVAL;
  for (uint8_t i = 0; i < cfg->interlock_count; i++) {
    const struct relays_interlock *il = &cfg->interlocks[i];
    if (il->a >= cfg->count || il->b >= cfg->count || il->a == il->b)
      return FARM_EINVAL;
  }
  if (violates_interlock(cfg, cfg->boot_on) || violates_interlock(cfg, cfg->safe_on))
    return FARM_EINVAL;
  return 0;
}

/* Drives ch's output and records the new state. */
static int drive(struct relays *r, uint8_t ch, bool on)
{
  bool level = on != ((r->cfg->active_low & BIT(ch)) != 0);
  int err = hal_gpio_write(r->port, r->cfg->gpio[ch], level);
  if (err)
    return err;
  if (on)
    r->on |= BIT(ch);
  else
    r->on &= (uint8_t)~BIT(ch);
  return 0;
}

static void notify(struct relays *r, uint8_t ch, bool on, enum relays_cause cause)
{
  if (!r->on_change)
    return;
  r->in_callback = true;
  r->on_change(r->ctx, ch, on, cause);
  r->in_callback = false;
}

/*
 * Moves every channel to target: offs first, then ons, so two interlocked
 * channels are never on together even for the time between two writes.
 * Every channel is tried; the first error is returned.
 */
static int apply_mask(struct relays *r, uint8_t target, bool report, enum relays_cause cause)
{
  int first = 0;
  for (int pass = 0; pass < 2; pass++) {
    bool want = pass == 1;
    for (uint8_t ch = 0; ch < r->cfg->count; ch++) {
      bool target_on = (target & BIT(ch)) != 0;
      if (target_on != want)
        continue;
      bool was_on = (r->on & BIT(ch)) != 0;
      /* At init the current level is unknown: write every output. */
      if (report && was_on == want)
        continue;
      /* A channel that failed to go off in the first pass is still on: its
       * partner stays off rather than break the interlock. */
      if (want && violates_interlock(r->cfg, (uint8_t)(r->on | BIT(ch)))) {
        if (!first)
          first = FARM_EBUSY;
        continue;
      }
      int err = drive(r, ch, want);
      if (err) {
        if (!first)
          first = err;
        continue;
      }
      if (report && was_on != want)
        notify(r, ch, want, cause);
    }
  }
  return first;
}

int relays_init(struct relays *r, struct hal_port *port, const struct relays_config *cfg,
                void (*on_change)(void *ctx, uint8_t ch, bool on, enum relays_cause cause),
                void *ctx)
{
  assert(r && port && cfg);
  int err = relays_validate(cfg);
  if (err)
    return err;
  r->cfg = cfg;
  r->port = port;
  r->on_change = on_change;
  r->ctx = ctx;
  r->on = 0;
  r->in_callback = false;
  for (uint8_t ch = 0; ch < RELAYS_MAX; ch++)
    r->lease_end[ch] = 0;
  return apply_mask(r, cfg->boot_on, false, RELAYS_CAUSE_COMMAND);
}

int relays_set(struct relays *r, uint8_t ch, bool on, uint32_t lease_ms)
{
  assert(r && r->cfg);
  assert(!r->in_callback);
  if (ch >= r->cfg->count)
    return FARM_ERANGE;
  if (!on && lease_ms > 0)
    return FARM_EINVAL;
  if (on) {
    for (uint8_t i = 0; i < r->cfg->interlock_count; i++) {
      const struct relays_interlock *il = &r->cfg->interlocks[i];
      uint8_t partner = il->a == ch ? il->b : il->b == ch ? il->a : ch;
      if (partner != ch && (r->on & BIT(partner)))
        return FARM_EBUSY;
    }
  }
  bool was_on = (r->on & BIT(ch)) != 0;
  if (was_on != on) {
    int err = drive(r, ch, on);
    if (err)
      return err;
  }
  r->lease_end[ch] = on && lease_ms > 0 ? hal_clock_ms(r->port) + lease_ms : 0;
  if (was_on != on)
    notify(r, ch, on, RELAYS_CAUSE_COMMAND);
  return 0;
}

int relays_tick(struct relays *r, uint64_t now_ms)
{
  assert(r && r->cfg);
  assert(!r->in_callback);
  int first = 0;
  for (uint8_t ch = 0; ch < r->cfg->count; ch++) {
    if (r->lease_end[ch] == 0 || now_ms < r->lease_end[ch])
      continue;
    int err = drive(r, ch, false);
    if (err) {
      if (!first)
        first = err;
      continue;
    }
    r->lease_end[ch] = 0;
    notify(r, ch, false, RELAYS_CAUSE_LEASE);
  }
  return first;
}

int relays_safe(struct relays *r)
{
  assert(r && r->cfg);
  assert(!r->in_callback);
  for (uint8_t ch = 0; ch < RELAYS_MAX; ch++)
    r->lease_end[ch] = 0;
  return apply_mask(r, r->cfg->safe_on, true, RELAYS_CAUSE_SAFE);
}

bool relays_is_on(const struct relays *r, uint8_t ch)
{
  assert(r && r->cfg);
  return ch < r->cfg->count && (r->on & BIT(ch)) != 0;
}

uint8_t relays_state(const struct relays *r)
{
  assert(r);
  return r->on;
}

uint64_t relays_lease_end(const struct relays *r, uint8_t ch)
{
  assert(r && r->cfg);
  return ch < r->cfg->count ? r->lease_end[ch] : 0;
}

bool relays_next_deadline(const struct relays *r, uint64_t *at_ms)
{
  assert(r && r->cfg && at_ms);
  bool any = false;
  for (uint8_t ch = 0; ch < r->cfg->count; ch++) {
    uint64_t end = r->lease_end[ch];
    if (end != 0 && (!any || end < *at_ms)) {
      *at_ms = end;
      any = true;
    }
  }
  return any;
}
