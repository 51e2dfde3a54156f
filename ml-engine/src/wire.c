/* SPDX-License-Identifier: MIT */
/*
 * The little-endian field cursor shared by the library's checkpoint
 * formats (detector, forecaster, fault checker): fixed-width integers and
 * IEEE 754 doubles in a byte order that does not depend on the host, so a
 * checkpoint written on one machine restores on any other.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

void ml__put_le(uint8_t *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t ml__get_le(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void field(struct ml__cursor *c, uint64_t *v, int n)
{
  if (c->writing)
    ml__put_le(c->buf + c->off, *v, n);
  else
    *v = ml__get_le(c->buf + c->off, n);
  c->off += (size_t)n;
}

void ml__f_u8(struct ml__cursor *c, uint8_t *v)
{
  uint64_t t = *v;
  field(c, &t, 1);
  *v = (uint8_t)t;
}

void ml__f_u16(struct ml__cursor *c, uint16_t *v)
{
  uint64_t t = *v;
  field(c, &t, 2);
  *v = (uint16_t)t;
}

void ml__f_u32(struct ml__cursor *c, uint32_t *v)
{
  uint64_t t = *v;
  field(c, &t, 4);
  *v = (uint32_t)t;
}

void ml__f_u64(struct ml__cursor *c, uint64_t *v)
{
  field(c, v, 8);
}

void ml__f_i64(struct ml__cursor *c, int64_t *v)
{
  uint64_t t = (uint64_t)*v;
  field(c, &t, 8);
  /* Two's complement both ways: the conversion back is by bits. */
  memcpy(v, &t, sizeof t);
}

void ml__f_f64(struct ml__cursor *c, double *v)
{
  uint64_t t;
  memcpy(&t, v, sizeof t);
  field(c, &t, 8);
  memcpy(v, &t, sizeof t);
}

void ml__f_bool(struct ml__cursor *c, bool *v)
{
  uint8_t t = *v ? 1 : 0;
  ml__f_u8(c, &t);
  *v = t != 0;
  if (t > 1)
    c->bad = true; /* only 0 and 1 are written: the input is damaged */
}

bool ml__finite_all(const double *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i]))
      return false;
  return true;
}
