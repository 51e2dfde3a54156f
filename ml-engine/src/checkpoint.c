/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint of a detector: its configuration and state in a versioned,
 * little-endian byte format with a CRC-32 (layout in ml/detector.h). One
 * field list, visit(), drives both directions (through the cursor of
 * wire.c) so saving and restoring can never disagree on the order;
 * restoring decodes into a scratch detector, checks every field that could
 * make the detector misbehave, and only then overwrites the caller's.
 */
#include <math.h>
#include <string.h>

#include "farm/error.h"
#include "internal.h"
#include "ml/detector.h"

static const uint8_t MAGIC[4] = {'M', 'L', 'D', 'T'};
#define VERSION 1
#define HEADER 16
#define PAYLOAD (ML_CHECKPOINT_SIZE - HEADER - 4)

uint32_t ml_crc32(const void *data, size_t len)
{
  const uint8_t *p = data;
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int b = 0; b < 8; b++)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

/* The payload, in order. Changing it means a new VERSION. */
static void visit(struct ml__cursor *c, struct ml_detector *d)
{
  ml__f_f64(c, &d->cfg.threshold);
  ml__f_u32(c, &d->cfg.learn);
  ml__f_u32(c, &d->cfg.rest);
  ml__f_u64(c, &d->n);
  ml__f_f64(c, &d->lo);
  ml__f_f64(c, &d->hi);
  ml__f_f64(c, &d->grid0);
  ml__f_f64(c, &d->grid_step);
  ml__f_f64(c, &d->m_fast);
  ml__f_f64(c, &d->v_fast);
  ml__f_f64(c, &d->m_slow);
  ml__f_f64(c, &d->v_slow);
  for (int i = 0; i < ML_CTX_ORDER; i++)
    ml__f_u16(c, &d->sym[i]);
  for (int i = 0; i < ML_CTX_SLOTS; i++)
    ml__f_u32(c, &d->ctx[i]);
  for (int i = 0; i < ML_NCOMP; i++) {
    ml__f_f64(c, &d->cal[i].mean);
    ml__f_f64(c, &d->cal[i].var);
    ml__f_f64(c, &d->cal[i].avg);
  }
  ml__f_u32(c, &d->rest_left);
}

int ml_detector_save(const struct ml_detector *d, uint8_t *buf, size_t cap,
                     size_t *len)
{
  if (cap < ML_CHECKPOINT_SIZE)
    return FARM_ENOSPC;
  memcpy(buf, MAGIC, 4);
  ml__put_le(buf + 4, VERSION, 2);
  ml__put_le(buf + 6, ML_CTX_ORDER, 2);
  ml__put_le(buf + 8, ML_CTX_SLOTS, 4);
  ml__put_le(buf + 12, PAYLOAD, 4);
  struct ml_detector copy = *d; /* visit() takes a mutable detector */
  struct ml__cursor c = {buf, HEADER, true, false};
  visit(&c, &copy);
  ml__put_le(buf + c.off, ml_crc32(buf, c.off), 4);
  *len = c.off + 4;
  return 0;
}

/* The invariants ml_detector_update relies on. */
static bool plausible(const struct ml_detector *d)
{
  const double fields[] = {d->lo,     d->hi,     d->grid0,  d->grid_step,
                           d->m_fast, d->v_fast, d->m_slow, d->v_slow};
  if (!ml__finite_all(fields, sizeof fields / sizeof fields[0]))
    return false;
  if (!(d->cfg.threshold > 0.0 && d->cfg.threshold <= 1.0))
    return false;
  if (d->v_fast < 0.0 || d->v_slow < 0.0 || d->lo > d->hi)
    return false;
  if (d->n > ML__GRID_FREEZE && !(d->grid_step > 0.0))
    return false;
  if (d->rest_left > d->cfg.rest)
    return false;
  for (int i = 0; i < ML_CTX_ORDER; i++)
    if (d->sym[i] > ML__SYM_MAX)
      return false;
  for (int i = 0; i < ML_NCOMP; i++) {
    const double cal[] = {d->cal[i].mean, d->cal[i].var, d->cal[i].avg};
    if (!ml__finite_all(cal, 3) || cal[1] < 0.0)
      return false;
  }
  return true;
}

int ml_detector_restore(struct ml_detector *d, const uint8_t *buf, size_t len)
{
  if (len < HEADER)
    return FARM_ETRUNCATED;
  if (memcmp(buf, MAGIC, 4) != 0)
    return FARM_EMALFORMED;
  if (ml__get_le(buf + 4, 2) != VERSION)
    return FARM_EUNSUPPORTED;
  /* Same version, other table sizes: a build with other limits. */
  if (ml__get_le(buf + 6, 2) != ML_CTX_ORDER || ml__get_le(buf + 8, 4) != ML_CTX_SLOTS ||
      ml__get_le(buf + 12, 4) != PAYLOAD)
    return FARM_EMALFORMED;
  if (len < ML_CHECKPOINT_SIZE)
    return FARM_ETRUNCATED;
  if (len > ML_CHECKPOINT_SIZE)
    return FARM_ETRAILING;
  if (ml_crc32(buf, ML_CHECKPOINT_SIZE - 4) != ml__get_le(buf + ML_CHECKPOINT_SIZE - 4, 4))
    return FARM_ECRC;

  struct ml_detector tmp;
  memset(&tmp, 0, sizeof tmp);
  /* Reading never writes through buf; the cursor type is shared. */
  struct ml__cursor c = {(uint8_t *)(uintptr_t)buf, HEADER, false, false};
  visit(&c, &tmp);
  if (!plausible(&tmp))
    return FARM_ERANGE;
  *d = tmp;
  return 0;
}
