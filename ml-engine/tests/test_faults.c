/* SPDX-License-Identifier: MIT */
/*
 * The sensor-fault checker on constructed temperature readings, one a
 * minute, with bounded noise from a seeded generator: a stuck sensor
 * (reported exactly when its run reaches both limits, once), saturation at
 * a limit (not reported), out-of-range values (one event per episode, the
 * limit named, never released), spikes (reported with their neighbours and
 * dropped; steps and small jumps are not spikes), history that never
 * alerts, the release order, the contract and the checkpoint.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "farm/error.h"
#include "ml/faults.h"

#define T0     1709251200000LL
#define MIN_MS 60000LL

struct rng {
  uint64_t s;
};

/* Uniform in [-1, 1). */
static double noise(struct rng *r)
{
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return (double)((r->s * 2685821657736338717ull) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Everything one checker said over a run. */
struct log {
  int n_ev;
  struct ml_fault_event ev[64];
  int n_rel;
  int64_t rel_ts[4096];
  double rel_v[4096];
  uint8_t rel_flags[4096];
};

static void step(struct ml_faults *f, struct log *lg, int64_t t, double v, uint8_t flags)
{
  struct ml_fault_result r;
  assert_int_equal(ml_faults_update(f, t, v, flags, &r), 0);
  assert_true(r.n <= ML_FAULT_KINDS);
  for (size_t i = 0; i < r.n; i++) {
    assert_true(lg->n_ev < 64);
    lg->ev[lg->n_ev++] = r.ev[i];
  }
  if (r.released) {
    assert_true(lg->n_rel < 4096);
    lg->rel_ts[lg->n_rel] = r.ts_ms;
    lg->rel_v[lg->n_rel] = r.value;
    lg->rel_flags[lg->n_rel] = r.flags;
    lg->n_rel++;
  }
}

static void init_temp(struct ml_faults *f)
{
  struct ml_fault_config c;
  ml_fault_config_for_metric("temp_c", &c);
  assert_int_equal(ml_faults_init(f, &c), 0);
}

/* A greenhouse at 20 °C, drifting 0.5 °C an hour, with ±0.1 °C of noise. */
static double air(int i, struct rng *r)
{
  return 20.0 + 0.5 * sin(i / 120.0) + 0.1 * noise(r);
}

static void test_config_for_metric(void **state)
{
  (void)state;
  struct ml_fault_config c;
  ml_fault_config_for_metric("temp_c", &c);
  assert_true(c.min == -40.0 && c.max == 125.0 && c.spike_min == 5.0);
  ml_fault_config_for_metric("rh_pct", &c);
  assert_true(c.min == 0.0 && c.max == 100.0 && c.spike_min == 15.0);
  ml_fault_config_for_metric("lux", &c);
  assert_true(c.min == 0.0 && c.max == 200000.0 && c.spike_k == 0.0);
  ml_fault_config_for_metric("air_ppm", &c);
  assert_true(c.min == 0.0 && c.max == 100000.0);
  ml_fault_config_for_metric("soil_ms", &c);
  assert_true(c.min == -DBL_MAX && c.max == DBL_MAX && c.spike_min == 0.0);
  assert_true(c.spike_k == ML_FAULT_DEFAULT_SPIKE_K && c.stuck_n == ML_FAULT_DEFAULT_STUCK_N &&
              c.stuck_s == ML_FAULT_DEFAULT_STUCK_S);
  assert_true(ml_fault_config_valid(&c));
  assert_string_equal(ml_fault_name(ML_FAULT_RANGE), "out_of_range");
  assert_string_equal(ml_fault_name(ML_FAULT_STUCK), "stuck");
  assert_string_equal(ml_fault_name(ML_FAULT_SPIKE), "spike");
  assert_string_equal(ml_fault_name(ML_FAULT_KINDS), "?");

  struct ml_faults f;
  struct ml_fault_config bad = c;
  bad.min = 1.0;
  bad.max = 0.0;
  assert_int_equal(ml_faults_init(&f, &bad), FARM_EINVAL);
  bad = c;
  bad.spike_min = -1.0;
  assert_int_equal(ml_faults_init(&f, &bad), FARM_EINVAL);
  bad = c;
  bad.spike_k = NAN;
  assert_int_equal(ml_faults_init(&f, &bad), FARM_EINVAL);
  bad = c;
  bad.stuck_n = 1;
  assert_int_equal(ml_faults_init(&f, &bad), FARM_EINVAL);
  bad = c;
  bad.min = -INFINITY;
  assert_int_equal(ml_faults_init(&f, &bad), FARM_EINVAL);
}

static void test_stuck(void **state)
{
  (void)state;
  static struct ml_faults f;
  static struct log lg;
  struct rng r = {3};
  for (int pass = 0; pass < 2; pass++) {
    /* pass 1: the same readings, but the first 100 minutes of the run are
     * history; the episode is reported at the first live reading. */
    memset(&lg, 0, sizeof lg);
    init_temp(&f);
    int i = 0;
    for (; i < 300; i++)
      step(&f, &lg, T0 + i * MIN_MS, air(i, &r), ML_FAULT_LIVE);
    /* Stuck at 21.37 for three hours from reading 300. The run has 10
     * readings after 9 minutes, but lasts 3600 s only at reading 360. */
    const int start = 300;
    for (; i < 480; i++) {
      uint8_t fl = pass == 1 && i < start + 100 ? 0 : ML_FAULT_LIVE;
      step(&f, &lg, T0 + i * MIN_MS, 21.37, fl);
    }
    for (; i < 600; i++)
      step(&f, &lg, T0 + i * MIN_MS, air(i, &r), ML_FAULT_LIVE);
    /* Stuck again: a second episode. */
    for (; i < 700; i++)
      step(&f, &lg, T0 + i * MIN_MS, 19.5, ML_FAULT_LIVE);
    assert_int_equal(lg.n_ev, 2);
    const struct ml_fault_event *e = &lg.ev[0];
    assert_int_equal(e->kind, ML_FAULT_STUCK);
    int at = pass == 0 ? start + 60 : start + 100;
    assert_true(e->ts_ms == T0 + at * MIN_MS);
    assert_true(e->since_ms == T0 + start * MIN_MS);
    assert_int_equal(e->count, at - start + 1);
    assert_true(e->value == 21.37);
    assert_int_equal(lg.ev[1].kind, ML_FAULT_STUCK);
    assert_true(lg.ev[1].ts_ms == T0 + 660 * MIN_MS);
    assert_true(lg.ev[1].since_ms == T0 + 600 * MIN_MS);
    /* Stuck readings still reach the models: all but the last released. */
    assert_int_equal(lg.n_rel, 699);
    assert_true(ml_faults_active(&f) == 1u << ML_FAULT_STUCK);
  }
}

static void test_stuck_needs_both_limits(void **state)
{
  (void)state;
  static struct ml_faults f;
  static struct log lg;
  struct ml_fault_config c;
  ml_fault_config_for_metric("temp_c", &c);
  /* 10 unchanged readings an hour apart: 9 hours, but 10 readings only at
   * the tenth. A sensor read hourly reports after 10 readings. */
  assert_int_equal(ml_faults_init(&f, &c), 0);
  memset(&lg, 0, sizeof lg);
  for (int i = 0; i < 9; i++)
    step(&f, &lg, T0 + i * 3600000LL, 12.0, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 0);
  step(&f, &lg, T0 + 9 * 3600000LL, 12.0, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 1);
  assert_int_equal(lg.ev[0].count, 10);
  /* stuck_s = 0 turns the check off. */
  c.stuck_s = 0;
  assert_int_equal(ml_faults_init(&f, &c), 0);
  memset(&lg, 0, sizeof lg);
  for (int i = 0; i < 500; i++)
    step(&f, &lg, T0 + i * MIN_MS, 12.0, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 0);
}

static void test_saturation_is_not_stuck(void **state)
{
  (void)state;
  static struct ml_faults f;
  static struct log lg;
  struct ml_fault_config c;
  const struct {
    const char *metric;
    double value;
  } cases[] = {{"lux", 0.0}, {"rh_pct", 100.0}, {"rh_pct", 0.0}, {"air_ppm", 100000.0}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ml_fault_config_for_metric(cases[k].metric, &c);
    assert_int_equal(ml_faults_init(&f, &c), 0);
    memset(&lg, 0, sizeof lg);
    /* Ten hours at the limit: a night without light, a foggy morning. */
    for (int i = 0; i < 600; i++)
      step(&f, &lg, T0 + i * MIN_MS, cases[k].value, ML_FAULT_LIVE);
    assert_int_equal(lg.n_ev, 0);
    assert_int_equal(lg.n_rel, 599);
  }
}

static void test_out_of_range(void **state)
{
  (void)state;
  static struct ml_faults f;
  static struct log lg;
  struct rng r = {5};
  init_temp(&f);
  memset(&lg, 0, sizeof lg);
  int i = 0;
  for (; i < 100; i++)
    step(&f, &lg, T0 + i * MIN_MS, air(i, &r), ML_FAULT_LIVE);
  /* Five readings at 130 °C: one event, none released. */
  for (; i < 105; i++)
    step(&f, &lg, T0 + i * MIN_MS, 130.0, ML_FAULT_LIVE);
  for (; i < 200; i++)
    step(&f, &lg, T0 + i * MIN_MS, air(i, &r), ML_FAULT_LIVE);
  /* One at -41 °C: a new episode. Then 125 and -40 exactly: in range. */
  step(&f, &lg, T0 + 200 * MIN_MS, -41.0, ML_FAULT_LIVE);
  step(&f, &lg, T0 + 201 * MIN_MS, 125.0, ML_FAULT_LIVE);
  step(&f, &lg, T0 + 202 * MIN_MS, -40.0, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 2);
  assert_int_equal(lg.ev[0].kind, ML_FAULT_RANGE);
  assert_true(lg.ev[0].ts_ms == T0 + 100 * MIN_MS);
  assert_true(lg.ev[0].value == 130.0 && lg.ev[0].bound == 125.0);
  assert_int_equal(lg.ev[1].kind, ML_FAULT_RANGE);
  assert_true(lg.ev[1].ts_ms == T0 + 200 * MIN_MS);
  assert_true(lg.ev[1].value == -41.0 && lg.ev[1].bound == -40.0);
  /* 203 readings, 6 out of range, the last one held: 196 released, none
   * of them out of range, in time order (125 °C after 20 °C and -40 °C
   * after it are jumps, but not a return: no spike). */
  assert_int_equal(lg.n_rel, 196);
  for (int k = 0; k < lg.n_rel; k++) {
    assert_true(lg.rel_v[k] >= -40.0 && lg.rel_v[k] <= 125.0);
    if (k > 0)
      assert_true(lg.rel_ts[k] > lg.rel_ts[k - 1]);
  }
  /* An out-of-range history reading is not reported, nor is the episode
   * when it continues live... once it is live it is. */
  init_temp(&f);
  memset(&lg, 0, sizeof lg);
  step(&f, &lg, T0, 200.0, 0);
  step(&f, &lg, T0 + MIN_MS, 200.0, 0);
  assert_int_equal(lg.n_ev, 0);
  step(&f, &lg, T0 + 2 * MIN_MS, 200.0, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 1);
  assert_true(ml_faults_active(&f) == 1u << ML_FAULT_RANGE);
  step(&f, &lg, T0 + 3 * MIN_MS, 20.0, ML_FAULT_LIVE);
  assert_true(ml_faults_active(&f) == 0);
  /* Limits of other metrics. */
  struct ml_fault_config c;
  ml_fault_config_for_metric("rh_pct", &c);
  assert_int_equal(ml_faults_init(&f, &c), 0);
  memset(&lg, 0, sizeof lg);
  step(&f, &lg, T0, 100.5, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 1);
  assert_true(lg.ev[0].bound == 100.0);
}

static void test_spike(void **state)
{
  (void)state;
  static struct ml_faults f;
  static struct log lg;
  struct rng r = {9};
  init_temp(&f);
  memset(&lg, 0, sizeof lg);
  double v[400];
  int i = 0;
  for (; i < 400; i++)
    v[i] = air(i, &r);
  v[100] += 8.0; /* a spike: 8 °C up and back */
  v[200] -= 6.0; /* a dip: 6 °C down and back */
  v[250] += 3.0; /* 3 °C and back: below the 5 °C a spike needs */
  for (int k = 300; k < 400; k++)
    v[k] += 8.0; /* a step of 8 °C that stays: not a spike */
  for (i = 0; i < 400; i++) {
    uint8_t fl = i == 200 ? 0 : ML_FAULT_LIVE; /* the dip is history */
    step(&f, &lg, T0 + i * MIN_MS, v[i], fl);
  }
  /* One event: the live spike, with its neighbours and the jump size
   * (max(10 x mean step, 5 °C) = 5 °C here, the steps being ~0.07 °C). */
  assert_int_equal(lg.n_ev, 1);
  const struct ml_fault_event *e = &lg.ev[0];
  assert_int_equal(e->kind, ML_FAULT_SPIKE);
  assert_true(e->ts_ms == T0 + 100 * MIN_MS);
  assert_true(e->value == v[100] && e->before == v[99] && e->after == v[101]);
  assert_true(e->jump == 5.0);
  /* The spike and the dip are dropped (the dip silently: history); the
   * small jump and the step are released; the last reading is held. */
  assert_int_equal(lg.n_rel, 397);
  for (int k = 0, j = 0; k < 399; k++) {
    if (k == 100 || k == 200)
      continue;
    assert_true(lg.rel_ts[j] == T0 + k * MIN_MS);
    assert_true(lg.rel_v[j] == v[k]);
    assert_int_equal(lg.rel_flags[j], ML_FAULT_LIVE);
    j++;
  }
  /* No spike is looked for before ML_FAULT_WARMUP steps exist. */
  init_temp(&f);
  memset(&lg, 0, sizeof lg);
  for (i = 0; i < 10; i++)
    step(&f, &lg, T0 + i * MIN_MS, i == 5 ? 50.0 : 20.0 + 0.01 * i, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 0);
  assert_int_equal(lg.n_rel, 9);
  /* Relative only (a metric without a minimum): 10 mean steps. */
  struct ml_fault_config c;
  ml_fault_config_for_metric("soil_ms", &c);
  assert_int_equal(ml_faults_init(&f, &c), 0);
  memset(&lg, 0, sizeof lg);
  for (i = 0; i < 100; i++)
    step(&f, &lg, T0 + i * MIN_MS, (i % 2) ? 1.0 : 0.0, ML_FAULT_LIVE); /* steps of 1 */
  step(&f, &lg, T0 + 100 * MIN_MS, 12.0, ML_FAULT_LIVE);                /* 12 steps up ... */
  step(&f, &lg, T0 + 101 * MIN_MS, 1.0, ML_FAULT_LIVE);                 /* ... and 11 back */
  assert_int_equal(lg.n_ev, 1);
  assert_true(lg.ev[0].jump == 10.0);
  /* Lux: a passing cloud is real, never a spike. */
  ml_fault_config_for_metric("lux", &c);
  assert_int_equal(ml_faults_init(&f, &c), 0);
  memset(&lg, 0, sizeof lg);
  for (i = 0; i < 100; i++)
    step(&f, &lg, T0 + i * MIN_MS, i == 50 ? 2000.0 : 40000.0 + i, ML_FAULT_LIVE);
  assert_int_equal(lg.n_ev, 0);
  assert_int_equal(lg.n_rel, 99);
}

static void test_contract(void **state)
{
  (void)state;
  struct ml_faults f, before;
  struct ml_fault_result r;
  init_temp(&f);
  assert_true(ml_faults_accepts(&f, INT64_MIN)); /* anything, before the first */
  assert_int_equal(ml_faults_update(&f, T0, 20.0, ML_FAULT_LIVE, &r), 0);
  assert_false(r.released);
  assert_int_equal(r.n, 0);
  before = f;
  assert_int_equal(ml_faults_update(&f, T0 + 1, NAN, ML_FAULT_LIVE, &r), FARM_EINVAL);
  assert_int_equal(ml_faults_update(&f, T0 + 1, -INFINITY, ML_FAULT_LIVE, &r), FARM_EINVAL);
  assert_int_equal(ml_faults_update(&f, T0, 20.0, ML_FAULT_LIVE, &r), FARM_ERANGE);
  assert_int_equal(ml_faults_update(&f, T0 - 1, 20.0, ML_FAULT_LIVE, &r), FARM_ERANGE);
  assert_memory_equal(&f, &before, sizeof f);
  assert_false(ml_faults_accepts(&f, T0));
  assert_true(ml_faults_accepts(&f, T0 + 1));
  /* Caller flags travel with the reading. */
  assert_int_equal(ml_faults_update(&f, T0 + 1, 20.1, 0x80, &r), 0);
  assert_true(r.released && r.ts_ms == T0 && r.value == 20.0 && r.flags == ML_FAULT_LIVE);
  assert_int_equal(ml_faults_update(&f, T0 + 2, 20.2, 0, &r), 0);
  assert_true(r.released && r.ts_ms == T0 + 1 && r.flags == 0x80);
}

/* ---- checkpoint ---- */

static uint32_t crc32(const uint8_t *p, size_t n)
{
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int b = 0; b < 8; b++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

static void test_checkpoint(void **state)
{
  (void)state;
  static struct ml_faults a, b, keep;
  static struct log la, lb;
  struct ml_fault_config c;
  ml_fault_config_for_metric("temp_c", &c);
  double v[600];
  struct rng r = {21};
  for (int i = 0; i < 600; i++)
    v[i] = air(i, &r);
  v[300] += 9.0;
  for (int i = 400; i < 500; i++)
    v[i] = 18.25;
  const int splits[] = {0, 1, 10, 300, 301, 450};
  uint8_t buf[ML_FAULTS_CHECKPOINT_SIZE + 4];
  for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
    assert_int_equal(ml_faults_init(&a, &c), 0);
    memset(&la, 0, sizeof la);
    memset(&lb, 0, sizeof lb);
    for (int i = 0; i < splits[s]; i++)
      step(&a, &la, T0 + i * MIN_MS, v[i], ML_FAULT_LIVE);
    size_t len;
    assert_int_equal(ml_faults_save(&a, buf, sizeof buf, &len), 0);
    assert_int_equal(len, ML_FAULTS_CHECKPOINT_SIZE);
    memset(&b, 0x3c, sizeof b);
    assert_int_equal(ml_faults_restore(&b, &c, buf, len), 0);
    memset(&la, 0, sizeof la);
    for (int i = splits[s]; i < 600; i++) {
      step(&a, &la, T0 + i * MIN_MS, v[i], ML_FAULT_LIVE);
      step(&b, &lb, T0 + i * MIN_MS, v[i], ML_FAULT_LIVE);
    }
    assert_int_equal(la.n_ev, lb.n_ev);
    assert_int_equal(la.n_rel, lb.n_rel);
    assert_memory_equal(la.rel_v, lb.rel_v, sizeof la.rel_v[0] * (size_t)la.n_rel);
    for (int k = 0; k < la.n_ev; k++)
      assert_true(la.ev[k].kind == lb.ev[k].kind && la.ev[k].ts_ms == lb.ev[k].ts_ms);
    /* The whole run: the spike at 300 and the stuck run from 400. */
    if (splits[s] <= 300)
      assert_int_equal(la.n_ev, 2);
  }
  assert_int_equal(ml_faults_save(&a, buf, ML_FAULTS_CHECKPOINT_SIZE - 1, &(size_t){0}),
                   FARM_ENOSPC);

  size_t len;
  assert_int_equal(ml_faults_save(&a, buf, sizeof buf, &len), 0);
  assert_int_equal(ml_faults_init(&b, &c), 0);
  keep = b;
  uint8_t t[sizeof buf];
#define EXPECT(rc_, n_)                                                                            \
  do {                                                                                             \
    assert_int_equal(ml_faults_restore(&b, &c, t, (n_)), (rc_));                                   \
    assert_memory_equal(&b, &keep, sizeof b);                                                      \
  } while (0)
  memcpy(t, buf, len);
  EXPECT(FARM_ETRUNCATED, 10);
  EXPECT(FARM_ETRUNCATED, len - 1);
  t[len] = 0;
  EXPECT(FARM_ETRAILING, len + 1);
  t[1] = 'X';
  EXPECT(FARM_EMALFORMED, len);
  memcpy(t, buf, len);
  t[4] = 9;
  EXPECT(FARM_EUNSUPPORTED, len);
  memcpy(t, buf, len);
  t[12] = 1;
  EXPECT(FARM_EMALFORMED, len);
  memcpy(t, buf, len);
  t[40] ^= 4;
  EXPECT(FARM_ECRC, len);
  /* Crafted with a valid CRC. Payload at 16: started 16, last_ts 17,
   * has_prev 25, prev 26, prev_ts 34, has_pend 42, pend 43, pend_ts 51,
   * pend_flags 59, step 60, steps 68, run_value 72, run_start 80, run_n 88,
   * reported 92. */
  const struct {
    size_t off;
    uint8_t byte;
  } crafted[] = {
      {16, 3},    /* a boolean of 3 */
      {33, 0x7f}, /* prev: its exponent all ones with the sign bit clear */
      {67, 0xff}, /* step negative or NaN */
      {68, 101},  /* steps beyond the window */
      {92, 4},    /* a spike is never an episode */
      {58, 0x7f}, /* pend_ts far after last_ts */
  };
  struct ml_faults probe;
  for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
    memcpy(t, buf, len);
    t[crafted[i].off] = crafted[i].byte;
    if (crafted[i].off == 33)
      t[32] = 0xf8; /* with the next byte: a quiet NaN */
    uint32_t k = crc32(t, len - 4);
    for (int j = 0; j < 4; j++)
      t[len - 4 + j] = (uint8_t)(k >> (8 * j));
    EXPECT(FARM_ERANGE, len);
  }
  struct ml_fault_config bad = c;
  bad.stuck_n = 0;
  memcpy(t, buf, len);
  assert_int_equal(ml_faults_restore(&probe, &bad, t, len), FARM_EINVAL);
  assert_int_equal(ml_faults_restore(&b, &c, t, len), 0);
#undef EXPECT
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_for_metric),
      cmocka_unit_test(test_stuck),
      cmocka_unit_test(test_stuck_needs_both_limits),
      cmocka_unit_test(test_saturation_is_not_stuck),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_spike),
      cmocka_unit_test(test_contract),
      cmocka_unit_test(test_checkpoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
