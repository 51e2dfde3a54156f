/* SPDX-License-Identifier: MIT */
/*
 * The service's parts without a broker: the telemetry parser (every
 * refusal class), the stream table (lookup, least-recently-used eviction,
 * devices and their metric cap) and the checkpoint file (a round trip that
 * continues bit for bit, another configuration, damage of every kind).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "farm/error.h"
#include "svc/statefile.h"
#include "svc/streams.h"
#include "svc/telemetry.h"

#define NOW 1710000000000LL

static int parse(const char *p, struct mls_telemetry *t, enum mls_reject *why)
{
  char detail[160] = "";
  int rc = mls_parse_telemetry(p, strlen(p), 4096, NOW, t, why, detail, sizeof detail);
  if (rc != 0)
    assert_true(detail[0] != '\0');
  return rc;
}

static void test_telemetry(void **state)
{
  (void)state;
  static struct mls_telemetry t;
  enum mls_reject why;
  assert_int_equal(parse("{\"edge_seq\":5,\"boot\":1,\"seq\":2,\"ts\":1709999999000,\"hist\":true,"
                         "\"v\":{\"temp_c\":21.5,\"rh_pct\":130,\"x\":-1e300}}",
                         &t, &why),
                   0);
  assert_true(t.ts == 1709999999000LL && t.hist && !t.synthetic);
  assert_int_equal(t.n, 3);
  assert_string_equal(t.m[0].name, "temp_c");
  assert_true(t.m[0].value == 21.5);
  assert_true(t.m[1].value == 130.0); /* out of range is a fault, not malformed */
  assert_true(t.m[2].value == -1e300);
  assert_int_equal(parse("{\"ts\":1709999999000,\"synthetic\":true,\"v\":{\"a\":1}}", &t, &why), 0);
  assert_true(t.synthetic && !t.hist);

  static const struct {
    const char *p;
    int rc;
    enum mls_reject why;
  } bad[] = {
      {"", FARM_EEMPTY, MLS_REJ_JSON},
      {"nope", FARM_EMALFORMED, MLS_REJ_JSON},
      {"[]", FARM_ETYPE, MLS_REJ_JSON},
      {"{\"ts\":1,\"ts\":2}", FARM_EMALFORMED, MLS_REJ_JSON},
      {"{\"v\":{\"a\":1}}", FARM_EMISSING, MLS_REJ_FIELD},
      {"{\"ts\":1.5e12,\"v\":{\"a\":1}}", FARM_ETYPE, MLS_REJ_FIELD},
      {"{\"ts\":946684799999,\"v\":{\"a\":1}}", FARM_ERANGE, MLS_REJ_RANGE},
      {"{\"ts\":1710086400001,\"v\":{\"a\":1}}", FARM_ERANGE, MLS_REJ_RANGE}, /* > now + 1 day */
      {"{\"ts\":1709999999000}", FARM_EMISSING, MLS_REJ_FIELD},
      {"{\"ts\":1709999999000,\"v\":5}", FARM_ETYPE, MLS_REJ_FIELD},
      {"{\"ts\":1709999999000,\"v\":{}}", FARM_ERANGE, MLS_REJ_RANGE},
      {"{\"ts\":1709999999000,\"v\":{\"A\":1}}", FARM_ERANGE, MLS_REJ_RANGE},
      {"{\"ts\":1709999999000,\"v\":{\"a\":true}}", FARM_ETYPE, MLS_REJ_FIELD},
      {"{\"ts\":1709999999000,\"v\":{\"a\":null}}", FARM_ETYPE, MLS_REJ_FIELD},
      {"{\"ts\":1709999999000,\"hist\":1,\"v\":{\"a\":1}}", FARM_ETYPE, MLS_REJ_FIELD},
      {"{\"ts\":1709999999000,\"synthetic\":\"no\",\"v\":{\"a\":1}}", FARM_ETYPE, MLS_REJ_FIELD},
      {"{\"ts\":1709999999000,\"v\":{\"a\":1e999}}", FARM_EMALFORMED, MLS_REJ_JSON},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = MLS_REJ_COUNT;
    assert_int_equal(parse(bad[i].p, &t, &why), bad[i].rc);
    assert_int_equal(why, bad[i].why);
  }
  /* 33 metrics: one too many. */
  char many[1024];
  size_t o = (size_t)snprintf(many, sizeof many, "{\"ts\":1709999999000,\"v\":{");
  for (int i = 0; i < 33; i++)
    o += (size_t)snprintf(many + o, sizeof many - o, "%s\"m%d\":%d", i ? "," : "", i, i);
  snprintf(many + o, sizeof many - o, "}}");
  assert_int_equal(parse(many, &t, &why), FARM_ERANGE);
  assert_int_equal(why, MLS_REJ_RANGE);
  /* Oversize. */
  char detail[160];
  assert_int_equal(
      mls_parse_telemetry(many, strlen(many), 100, NOW, &t, &why, detail, sizeof detail),
      FARM_ETOOBIG);
  assert_int_equal(why, MLS_REJ_OVERSIZE);
  assert_string_equal(mls_reject_name(MLS_REJ_TOPIC), "topic");
  assert_string_equal(mls_reject_name(MLS_REJ_OVERSIZE), "oversize");
  assert_string_equal(mls_reject_name(MLS_REJ_COUNT), "?");
}

static struct mls_models models(void)
{
  struct mls_models m;
  ml_detector_config_default(&m.det);
  ml_forecaster_config_default(&m.fc);
  m.stuck_s = 3600;
  return m;
}

static struct mls_stream *add(struct mls_table *t, const char *site, const char *dev,
                              const char *metric, bool *evicted)
{
  struct mls_stream *s;
  assert_int_equal(mls_table_add(t, site, dev, metric, &s, evicted), 0);
  struct mls_models m = models();
  assert_int_equal(mls_stream_init(s, &m), 0);
  return s;
}

static int ndevices(struct mls_table *t)
{
  int n = 0;
  for (struct mls_device *d = mls_table_devices(t); d; d = d->next)
    n++;
  return n;
}

static void test_table(void **state)
{
  (void)state;
  struct mls_table *t;
  assert_int_equal(mls_table_new(3, &t), 0);
  bool ev;
  struct mls_stream *a = add(t, "s1", "d1", "temp_c", &ev);
  assert_false(ev);
  struct mls_stream *b = add(t, "s1", "d1", "rh_pct", &ev);
  struct mls_stream *c = add(t, "s1", "d2", "temp_c", &ev);
  assert_int_equal(mls_table_count(t), 3);
  assert_int_equal(ndevices(t), 2);
  assert_ptr_equal(mls_table_find(t, "s1", "d1", "temp_c"), a);
  assert_ptr_equal(mls_table_find(t, "s1", "d1", "rh_pct"), b);
  assert_null(mls_table_find(t, "s1", "d1", "lux"));
  assert_null(mls_table_find(t, "s2", "d1", "temp_c"));
  /* Ids are separated: "s1"/"d1x" is not "s1d"/"1x". */
  assert_null(mls_table_find(t, "s1d", "1", "temp_c"));
  assert_ptr_equal(a->dev, b->dev);
  assert_string_equal(c->dev->device, "d2");
  /* a is used again: b is now the least recently used and goes first. */
  mls_table_touch(t, a);
  add(t, "s2", "d9", "lux", &ev);
  assert_true(ev);
  assert_int_equal(mls_table_count(t), 3);
  assert_null(mls_table_find(t, "s1", "d1", "rh_pct"));
  assert_ptr_equal(mls_table_find(t, "s1", "d1", "temp_c"), a);
  assert_int_equal(a->dev->n, 1);
  assert_true(a->dev->dirty);
  /* Order of use, oldest first: c, a, lux. */
  struct mls_stream *o = mls_table_oldest(t);
  assert_ptr_equal(o, c);
  assert_ptr_equal(o->newer, a);
  assert_string_equal(o->newer->newer->metric, "lux");
  assert_null(o->newer->newer->newer);
  /* Evicting a device's last stream removes the device. */
  add(t, "s3", "d3", "x", &ev);
  assert_true(ev);
  assert_null(mls_table_find(t, "s1", "d2", "temp_c"));
  assert_int_equal(ndevices(t), 3);
  mls_table_free(t);

  /* A device takes MLS_DEVICE_METRICS streams, then no more. */
  assert_int_equal(mls_table_new(100, &t), 0);
  for (int i = 0; i < MLS_DEVICE_METRICS; i++) {
    char m[16];
    snprintf(m, sizeof m, "m%d", i);
    add(t, "s", "d", m, NULL);
  }
  struct mls_stream *s;
  assert_int_equal(mls_table_add(t, "s", "d", "one_more", &s, NULL), FARM_ENOSPC);
  assert_int_equal(mls_table_count(t), MLS_DEVICE_METRICS);
  add(t, "s", "e", "one_more", NULL);
  mls_table_free(t);
  mls_table_free(NULL);
}

/* Feeds n readings (a daily cycle, one every 5 minutes) to a stream the
 * way the service does. */
static void feed(struct mls_stream *s, int from, int n)
{
  for (int i = from; i < from + n; i++) {
    int64_t ts = NOW + (int64_t)i * 300000;
    double v = 10.0 + 5.0 * sin(i * 6.283185307179586 / 288.0) + (i % 7) * 0.05;
    struct ml_fault_result r;
    assert_int_equal(ml_faults_update(&s->flt, ts, v, ML_FAULT_LIVE, &r), 0);
    s->readings++;
    s->last_ts = ts;
    if (!r.released)
      continue;
    double score;
    assert_int_equal(ml_detector_update(&s->det, r.value, &score), 0);
    assert_int_equal(ml_forecaster_update(&s->fc, r.ts_ms, r.value, NULL), 0);
    s->released++;
    s->value = r.value;
    s->value_ts = r.ts_ms;
    s->score = score;
  }
}

/* The three models' checkpoints of a stream, concatenated. */
static size_t snapshot(const struct mls_stream *s, uint8_t *buf)
{
  size_t a, b, c;
  assert_int_equal(ml_detector_save(&s->det, buf, ML_CHECKPOINT_SIZE, &a), 0);
  assert_int_equal(ml_forecaster_save(&s->fc, buf + a, ML_FORECASTER_CHECKPOINT_MAX, &b), 0);
  assert_int_equal(ml_faults_save(&s->flt, buf + a + b, ML_FAULTS_CHECKPOINT_SIZE, &c), 0);
  return a + b + c;
}

#define SNAP_MAX (ML_CHECKPOINT_SIZE + ML_FORECASTER_CHECKPOINT_MAX + ML_FAULTS_CHECKPOINT_SIZE)

static char dir[256], path[300];

static int read_file(struct mls_table *t, const struct mls_models *m, struct mls_state_stats *st,
                     char *err, size_t errlen)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  int rc = mls_state_read(f, t, m, st, err, errlen);
  fclose(f);
  return rc;
}

static void test_statefile_round_trip(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "%s/mlsvc-parts-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/streams.ckpt", dir);
  struct mls_table *t, *u;
  assert_int_equal(mls_table_new(10, &t), 0);
  struct mls_stream *s1 = add(t, "s1", "d1", "temp_c", NULL);
  struct mls_stream *s2 = add(t, "s1", "d1", "rh_pct", NULL);
  struct mls_stream *s3 = add(t, "s2", "d7", "temp_c", NULL);
  feed(s1, 0, 700); /* past the detector's learning and the first day */
  feed(s2, 0, 50);
  mls_table_touch(t, s1); /* order of use: s2, s3, s1 */
  char err[256];
  assert_int_equal(mls_state_save(t, path, err, sizeof err), 0);
  assert_int_equal(access(path, F_OK), 0);
  char tmp[320];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  assert_int_not_equal(access(tmp, F_OK), 0);

  struct mls_models m = models();
  struct mls_state_stats st;
  assert_int_equal(mls_table_new(10, &u), 0);
  assert_int_equal(read_file(u, &m, &st, err, sizeof err), 0);
  assert_int_equal(st.restored, 3);
  assert_int_equal(st.reset, 0);
  assert_int_equal(st.dropped, 0);
  /* Same order of use, same counters, the same model bytes. */
  const char *order[] = {"rh_pct", "temp_c", "temp_c"};
  const char *devs[] = {"d1", "d7", "d1"};
  struct mls_stream *o = mls_table_oldest(u);
  const struct mls_stream *orig[] = {s2, s3, s1};
  static uint8_t x[SNAP_MAX], y[SNAP_MAX];
  for (int i = 0; i < 3; i++, o = o->newer) {
    assert_string_equal(o->metric, order[i]);
    assert_string_equal(o->dev->device, devs[i]);
    assert_true(o->readings == orig[i]->readings && o->released == orig[i]->released &&
                o->last_ts == orig[i]->last_ts && o->value_ts == orig[i]->value_ts &&
                o->value == orig[i]->value && o->score == orig[i]->score);
    size_t a = snapshot(orig[i], x), b = snapshot(o, y);
    assert_int_equal(a, b);
    assert_memory_equal(x, y, a);
  }
  /* And they continue identically. */
  struct mls_stream *r1 = mls_table_find(u, "s1", "d1", "temp_c");
  feed(s1, 700, 300);
  feed(r1, 700, 300);
  size_t a = snapshot(s1, x), b = snapshot(r1, y);
  assert_int_equal(a, b);
  assert_memory_equal(x, y, a);
  mls_table_free(u);

  /* Another configuration: the new threshold is taken, a forecaster of
   * another grid starts afresh, a smaller table drops the newest. */
  struct mls_models m2 = m;
  m2.det.threshold = 0.8;
  m2.fc.step_s = 600;
  m2.fc.horizon = 72;
  assert_int_equal(mls_table_new(2, &u), 0);
  assert_int_equal(read_file(u, &m2, &st, err, sizeof err), 0);
  assert_int_equal(st.restored, 2);
  assert_int_equal(st.reset, 2);
  assert_int_equal(st.dropped, 1);
  r1 = mls_table_find(u, "s2", "d7", "temp_c");
  assert_non_null(r1);
  assert_true(r1->det.cfg.threshold == 0.8);
  assert_int_equal(r1->fc.cfg.step_s, 600);
  assert_null(mls_table_find(u, "s1", "d1", "temp_c"));
  mls_table_free(u);
  mls_table_free(t);
}

static void test_statefile_damage(void **state)
{
  (void)state;
  /* The file of the previous test: header 16 bytes, then three records. */
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static uint8_t good[64 * 1024];
  size_t len = fread(good, 1, sizeof good, f);
  fclose(f);
  assert_true(len > 16 && len < sizeof good);
  struct mls_models m = models();
  struct mls_state_stats st;
  char err[256];
  struct mls_table *u;

#define TRY(bytes_, n_, rc_, restored_, what_)                                                     \
  do {                                                                                             \
    f = fopen(path, "wb");                                                                         \
    assert_non_null(f);                                                                            \
    assert_int_equal(fwrite((bytes_), 1, (n_), f), (n_));                                          \
    fclose(f);                                                                                     \
    assert_int_equal(mls_table_new(10, &u), 0);                                                    \
    assert_int_equal(read_file(u, &m, &st, err, sizeof err), (rc_));                               \
    assert_int_equal(st.restored, (restored_));                                                    \
    assert_int_equal(mls_table_count(u), (restored_));                                             \
    assert_non_null(strstr(err, (what_)));                                                         \
    mls_table_free(u);                                                                             \
  } while (0)

  static uint8_t t[sizeof good + 8];
  memcpy(t, good, len);
  TRY(t, 10, FARM_EMALFORMED, 0, "header");
  t[0] = 'X';
  TRY(t, len, FARM_EMALFORMED, 0, "header");
  memcpy(t, good, len);
  t[8] = 4; /* four records announced, three there */
  t[12] ^= 0xff;
  TRY(t, len, FARM_EMALFORMED, 0, "header"); /* the header's CRC catches it */
  memcpy(t, good, len);
  t[len - 10] ^= 1; /* in the last record */
  TRY(t, len, FARM_EMALFORMED, 2, "record 3");
  TRY(good, len - 1, FARM_EMALFORMED, 2, "record 3");
  memcpy(t, good, len);
  t[len] = 0;
  TRY(t, len + 1, FARM_EMALFORMED, 3, "bytes after");
  memcpy(t, good, len);
  t[16 + 2] = 0xff; /* the first record's length: impossible */
  TRY(t, len, FARM_EMALFORMED, 0, "record 1");
#undef TRY
  remove(path);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_telemetry),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_statefile_round_trip),
      cmocka_unit_test(test_statefile_damage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
