/* SPDX-License-Identifier: MIT */
/*
 * Sensor-fault checks (see ml/faults.h): the physical range, a run of
 * unchanged values, and a one-reading spike found with one reading of
 * delay; plus their checkpoint.
 */
#include "ml/faults.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"
#include "ml/detector.h" /* ml_crc32 */

static const char *const names[ML_FAULT_KINDS] = {"out_of_range", "stuck", "spike"};

const char *ml_fault_name(enum ml_fault_kind kind)
{
  return (unsigned)kind < ML_FAULT_KINDS ? names[kind] : "?";
}

void ml_fault_config_for_metric(const char *metric, struct ml_fault_config *cfg)
{
  static const struct {
    const char *name;
    double min, max, spike_min, spike_k;
  } known[] = {
      /* docs/protocol.md §4.6; the SHT41 datasheet's operating ranges. A
       * glitch of 5 °C or 15 %RH there and back within one reading is not
       * weather; light does that whenever a cloud passes. */
      {"temp_c", -40.0, 125.0, 5.0, ML_FAULT_DEFAULT_SPIKE_K},
      {"rh_pct", 0.0, 100.0, 15.0, ML_FAULT_DEFAULT_SPIKE_K},
      {"lux", 0.0, 200000.0, 0.0, 0.0},
      {"air_ppm", 0.0, 100000.0, 0.0, ML_FAULT_DEFAULT_SPIKE_K},
  };
  cfg->min = -DBL_MAX;
  cfg->max = DBL_MAX;
  cfg->spike_min = 0.0;
  cfg->spike_k = ML_FAULT_DEFAULT_SPIKE_K;
  cfg->stuck_n = ML_FAULT_DEFAULT_STUCK_N;
  cfg->stuck_s = ML_FAULT_DEFAULT_STUCK_S;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(metric, known[i].name) == 0) {
      cfg->min = known[i].min;
      cfg->max = known[i].max;
      cfg->spike_min = known[i].spike_min;
      cfg->spike_k = known[i].spike_k;
    }
  }
}

bool ml_fault_config_valid(const struct ml_fault_config *cfg)
{
  return isfinite(cfg->min) && isfinite(cfg->max) && cfg->min <= cfg->max &&
         isfinite(cfg->spike_min) && cfg->spike_min >= 0.0 && isfinite(cfg->spike_k) &&
         cfg->spike_k >= 0.0 && cfg->stuck_n >= 2;
}

int ml_faults_init(struct ml_faults *f, const struct ml_fault_config *cfg)
{
  if (!ml_fault_config_valid(cfg))
    return FARM_EINVAL;
  memset(f, 0, sizeof *f);
  f->cfg = *cfg;
  return 0;
}

unsigned ml_faults_active(const struct ml_faults *f)
{
  return f->reported;
}

/* Equal up to the last bits a decimal round trip can change. */
static bool same(double a, double b)
{
  return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b));
}

static struct ml_fault_event *add(struct ml_fault_result *out, enum ml_fault_kind kind, int64_t ts,
                                  double value)
{
  assert(out->n < ML_FAULT_KINDS);
  struct ml_fault_event *e = &out->ev[out->n++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->ts_ms = ts;
  e->value = value;
  return e;
}

/* Raises an episode fault once: reported only for a live reading. */
static bool raise_once(struct ml_faults *f, enum ml_fault_kind kind, uint8_t flags)
{
  if (!(flags & ML_FAULT_LIVE) || (f->reported & (1u << kind)))
    return false;
  f->reported |= (uint8_t)(1u << kind);
  return true;
}

/* The jump a spike must pass both ways, 0 when spikes are not looked for. */
static double spike_jump(const struct ml_faults *f)
{
  if (f->cfg.spike_k <= 0.0 || f->steps < ML_FAULT_WARMUP)
    return 0.0;
  return fmax(f->cfg.spike_k * f->step, f->cfg.spike_min);
}

bool ml_faults_accepts(const struct ml_faults *f, int64_t ts)
{
  return !f->started || ts > f->last_ts;
}

int ml_faults_update(struct ml_faults *f, int64_t ts, double x, uint8_t flags,
                     struct ml_fault_result *out)
{
  if (!isfinite(x))
    return FARM_EINVAL;
  if (!ml_faults_accepts(f, ts))
    return FARM_ERANGE;
  memset(out, 0, sizeof *out);
  f->started = true;
  f->last_ts = ts;

  if (x < f->cfg.min || x > f->cfg.max) {
    if (raise_once(f, ML_FAULT_RANGE, flags))
      add(out, ML_FAULT_RANGE, ts, x)->bound = x < f->cfg.min ? f->cfg.min : f->cfg.max;
    f->run_n = 0; /* a different value ends a run */
    f->reported &= (uint8_t) ~(1u << ML_FAULT_STUCK);
    return 0;
  }
  f->reported &= (uint8_t) ~(1u << ML_FAULT_RANGE);

  if (f->run_n > 0 && same(x, f->run_value)) {
    if (f->run_n < UINT32_MAX)
      f->run_n++;
  } else {
    f->run_value = x;
    f->run_start = ts;
    f->run_n = 1;
    f->reported &= (uint8_t) ~(1u << ML_FAULT_STUCK);
  }
  bool at_limit = x <= f->cfg.min || x >= f->cfg.max;
  if (f->cfg.stuck_s > 0 && !at_limit && f->run_n >= f->cfg.stuck_n &&
      ts - f->run_start >= (int64_t)f->cfg.stuck_s * 1000 && raise_once(f, ML_FAULT_STUCK, flags)) {
    struct ml_fault_event *e = add(out, ML_FAULT_STUCK, ts, x);
    e->since_ms = f->run_start;
    e->count = f->run_n;
  }

  if (f->has_pend) {
    double jump = spike_jump(f);
    double up = f->pend - f->prev, back = f->pend - x;
    if (f->has_prev && jump > 0.0 && fabs(up) > jump && fabs(back) > jump &&
        (up > 0.0) == (back > 0.0) && fabs(x - f->prev) <= 0.5 * fabs(up)) {
      if (f->pend_flags & ML_FAULT_LIVE) {
        struct ml_fault_event *e = add(out, ML_FAULT_SPIKE, f->pend_ts, f->pend);
        e->before = f->prev;
        e->after = x;
        e->jump = jump;
      }
    } else {
      out->released = true;
      out->ts_ms = f->pend_ts;
      out->value = f->pend;
      out->flags = f->pend_flags;
      if (f->has_prev) {
        /* Big steps are clipped so one step change does not make every
         * later spike look small. */
        double d = fabs(up);
        if (jump > 0.0 && d > jump)
          d = jump;
        if (f->steps < ML_FAULT_STEP_WINDOW)
          f->steps++;
        f->step += (d - f->step) / f->steps;
      }
      f->prev = f->pend;
      f->prev_ts = f->pend_ts;
      f->has_prev = true;
    }
  }
  f->pend = x;
  f->pend_ts = ts;
  f->pend_flags = flags;
  f->has_pend = true;
  return 0;
}

/* ---- checkpoint ---- */

static const uint8_t MAGIC[4] = {'M', 'L', 'F', 'L'};
#define VERSION 1
#define HEADER  16
#define PAYLOAD (ML_FAULTS_CHECKPOINT_SIZE - HEADER - 4)

static void visit(struct ml__cursor *c, struct ml_faults *f)
{
  ml__f_bool(c, &f->started);
  ml__f_i64(c, &f->last_ts);
  ml__f_bool(c, &f->has_prev);
  ml__f_f64(c, &f->prev);
  ml__f_i64(c, &f->prev_ts);
  ml__f_bool(c, &f->has_pend);
  ml__f_f64(c, &f->pend);
  ml__f_i64(c, &f->pend_ts);
  ml__f_u8(c, &f->pend_flags);
  ml__f_f64(c, &f->step);
  ml__f_u32(c, &f->steps);
  ml__f_f64(c, &f->run_value);
  ml__f_i64(c, &f->run_start);
  ml__f_u32(c, &f->run_n);
  ml__f_u8(c, &f->reported);
}

int ml_faults_save(const struct ml_faults *f, uint8_t *buf, size_t cap, size_t *len)
{
  if (cap < ML_FAULTS_CHECKPOINT_SIZE)
    return FARM_ENOSPC;
  memcpy(buf, MAGIC, 4);
  ml__put_le(buf + 4, VERSION, 2);
  ml__put_le(buf + 6, 0, 2);
  ml__put_le(buf + 8, 0, 4);
  ml__put_le(buf + 12, PAYLOAD, 4);
  struct ml_faults copy = *f;
  struct ml__cursor c = {buf, HEADER, true, false};
  visit(&c, &copy);
  assert(c.off == HEADER + PAYLOAD);
  ml__put_le(buf + c.off, ml_crc32(buf, c.off), 4);
  *len = ML_FAULTS_CHECKPOINT_SIZE;
  return 0;
}

static bool plausible(const struct ml_faults *f)
{
  const double v[] = {f->prev, f->pend, f->step, f->run_value};
  if (!ml__finite_all(v, 4) || f->step < 0.0 || f->steps > ML_FAULT_STEP_WINDOW)
    return false;
  if (f->reported & ~((1u << ML_FAULT_RANGE) | (1u << ML_FAULT_STUCK)))
    return false;
  if (!f->started)
    return !f->has_prev && !f->has_pend && f->run_n == 0 && f->reported == 0;
  if (f->has_prev && (!f->has_pend || f->prev_ts >= f->pend_ts))
    return false;
  if (f->has_pend && f->pend_ts > f->last_ts)
    return false;
  if (f->run_n > 0 && f->run_start > f->last_ts)
    return false;
  return true;
}

int ml_faults_restore(struct ml_faults *f, const struct ml_fault_config *cfg, const uint8_t *buf,
                      size_t len)
{
  if (!ml_fault_config_valid(cfg))
    return FARM_EINVAL;
  if (len < HEADER)
    return FARM_ETRUNCATED;
  if (memcmp(buf, MAGIC, 4) != 0)
    return FARM_EMALFORMED;
  if (ml__get_le(buf + 4, 2) != VERSION)
    return FARM_EUNSUPPORTED;
  if (ml__get_le(buf + 6, 2) != 0 || ml__get_le(buf + 8, 4) != 0 ||
      ml__get_le(buf + 12, 4) != PAYLOAD)
    return FARM_EMALFORMED;
  if (len < ML_FAULTS_CHECKPOINT_SIZE)
    return FARM_ETRUNCATED;
  if (len > ML_FAULTS_CHECKPOINT_SIZE)
    return FARM_ETRAILING;
  if (ml_crc32(buf, ML_FAULTS_CHECKPOINT_SIZE - 4) !=
      ml__get_le(buf + ML_FAULTS_CHECKPOINT_SIZE - 4, 4))
    return FARM_ECRC;
  struct ml_faults tmp;
  memset(&tmp, 0, sizeof tmp);
  struct ml__cursor c = {(uint8_t *)(uintptr_t)buf, HEADER, false, false};
  visit(&c, &tmp);
  if (c.bad || !plausible(&tmp))
    return FARM_ERANGE;
  tmp.cfg = *cfg;
  *f = tmp;
  return 0;
}
