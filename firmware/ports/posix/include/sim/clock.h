/* SPDX-License-Identifier: MIT */
/*
 * The simulated time of a whole simulated farm. One clock is shared by the
 * radio medium and every board, and only the simulator moves it, so a run
 * depends on the seed and the inputs, never on the speed of the host: the
 * same seed replays the same failure.
 */
#ifndef SIM_CLOCK_H
#define SIM_CLOCK_H

#include <assert.h>
#include <stdint.h>

struct sim_clock {
  uint64_t now_ms; /* simulated milliseconds since the simulation began */
};

static inline void sim_clock_init(struct sim_clock *c, uint64_t start_ms)
{
  c->now_ms = start_ms;
}

static inline uint64_t sim_clock_now(const struct sim_clock *c)
{
  return c->now_ms;
}

/* Moves time forward by ms (0 is allowed). */
static inline void sim_clock_advance(struct sim_clock *c, uint64_t ms)
{
  assert(c->now_ms + ms >= c->now_ms);
  c->now_ms += ms;
}

/* Moves time forward to at; time never goes back. */
static inline void sim_clock_advance_to(struct sim_clock *c, uint64_t at_ms)
{
  assert(at_ms >= c->now_ms);
  c->now_ms = at_ms;
}

#endif /* SIM_CLOCK_H */
