/* SPDX-License-Identifier: MIT */
/* Test helpers: see testsupport.h. */
#include "testsupport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ts_shared_path(const char *relative)
{
  static char path[4096];
  const char *dir = getenv("FARM_SHARED_DIR");
  if (dir == NULL || dir[0] == '\0') {
    fprintf(stderr, "FARM_SHARED_DIR is not set: run the tests through ctest\n");
    abort();
  }
  snprintf(path, sizeof path, "%s/%s", dir, relative);
  return path;
}

json_t *ts_load_json(const char *path)
{
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (root == NULL) {
    fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
    abort();
  }
  return root;
}

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

long ts_hex_decode(const char *hex, uint8_t *out, size_t cap)
{
  size_t n = 0;
  int hi = -1;
  for (const char *p = hex; *p != '\0'; p++) {
    if (*p == '-' || *p == ' ' || *p == ':')
      continue;
    int d = hex_digit(*p);
    if (d < 0)
      return -1;
    if (hi < 0) {
      hi = d;
      continue;
    }
    if (n == cap)
      return -1;
    out[n++] = (uint8_t)(hi << 4 | d);
    hi = -1;
  }
  return hi < 0 ? (long)n : -1;
}

const char *ts_hex(const void *p, size_t len)
{
  static char buf[2 * 4096 + 1];
  const uint8_t *b = p;
  if (len > 4096)
    len = 4096;
  for (size_t i = 0; i < len; i++)
    snprintf(buf + 2 * i, 3, "%02x", b[i]);
  buf[2 * len] = '\0';
  return buf;
}

void ts_rng_seed(struct ts_rng *r, uint64_t seed)
{
  r->s = seed ? seed : 0x9e3779b97f4a7c15u;
}

uint64_t ts_rng_next(struct ts_rng *r)
{
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545f4914f6cdd1du;
}

uint64_t ts_rng_below(struct ts_rng *r, uint64_t n)
{
  return ts_rng_next(r) % n;
}
