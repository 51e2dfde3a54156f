/* SPDX-License-Identifier: MIT */
/*
 * Strict parser and formatter for the v1/farm topic tree.
 */
#include "farmd/topic.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "farm/error.h"

bool fd_id_valid(const char *s, size_t len)
{
  if (len == 0 || len > FD_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* Levels after the root: site, device, kind[, group]. */
#define MAX_LEVELS 4

int fd_topic_parse(const char *topic, size_t len, struct fd_topic *out)
{
  static const char root[] = FD_TOPIC_ROOT "/";
  const size_t rlen = sizeof root - 1;
  if (len <= rlen || memcmp(topic, root, rlen) != 0)
    return FARM_EMALFORMED;

  const char *lv[MAX_LEVELS];
  size_t ll[MAX_LEVELS];
  size_t n = 0;
  const char *p = topic + rlen;
  const char *end = topic + len;
  for (;;) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *stop = slash ? slash : end;
    if (n == MAX_LEVELS)
      return FARM_EMALFORMED;
    lv[n] = p;
    ll[n] = (size_t)(stop - p);
    /* Every level, the kind included, uses the id alphabet: this refuses
     * empty levels, wildcards, NUL and anything non-ASCII in one test. */
    if (!fd_id_valid(lv[n], ll[n]))
      return FARM_EMALFORMED;
    n++;
    if (!slash)
      break;
    p = slash + 1;
  }
  if (n < 3)
    return FARM_EMALFORMED;

  memset(out, 0, sizeof *out);
  memcpy(out->site, lv[0], ll[0]);
  memcpy(out->device, lv[1], ll[1]);
  bool is_edge = ll[1] == strlen(FD_EDGE_DEVICE) &&
                 memcmp(lv[1], FD_EDGE_DEVICE, ll[1]) == 0;

#define KIND_IS(s) (ll[2] == sizeof(s) - 1 && memcmp(lv[2], s, ll[2]) == 0)
  if (n == 4) {
    if (!KIND_IS("telemetry") || is_edge)
      return FARM_EUNKNOWN;
    out->kind = FD_TOPIC_TELEMETRY;
    memcpy(out->group, lv[3], ll[3]);
    return 0;
  }
  if (KIND_IS("status")) {
    out->kind = is_edge ? FD_TOPIC_EDGE_STATUS : FD_TOPIC_STATUS;
    return 0;
  }
  if (KIND_IS("event")) {
    out->kind = FD_TOPIC_EVENT;
    return 0;
  }
  if (KIND_IS("commit") && is_edge) {
    out->kind = FD_TOPIC_EDGE_COMMIT;
    return 0;
  }
  if (KIND_IS("cmd") && !is_edge) {
    out->kind = FD_TOPIC_CMD;
    return 0;
  }
  if (KIND_IS("ack") && !is_edge) {
    out->kind = FD_TOPIC_ACK;
    return 0;
  }
  if (KIND_IS("ml") && !is_edge) {
    out->kind = FD_TOPIC_ML;
    return 0;
  }
#undef KIND_IS
  return FARM_EUNKNOWN;
}

int fd_topic_format(const struct fd_topic *t, char *buf, size_t cap)
{
  assert(fd_id_valid(t->site, strlen(t->site)));
  assert(fd_id_valid(t->device, strlen(t->device)));
  const char *kind = NULL;
  switch (t->kind) {
  case FD_TOPIC_TELEMETRY:
    assert(fd_id_valid(t->group, strlen(t->group)));
    kind = "telemetry";
    break;
  case FD_TOPIC_STATUS:
  case FD_TOPIC_EDGE_STATUS:
    kind = "status";
    break;
  case FD_TOPIC_EVENT:
    kind = "event";
    break;
  case FD_TOPIC_CMD:
    kind = "cmd";
    break;
  case FD_TOPIC_ACK:
    kind = "ack";
    break;
  case FD_TOPIC_EDGE_COMMIT:
    kind = "commit";
    break;
  case FD_TOPIC_ML:
    kind = "ml";
    break;
  }
  assert(kind);
  const char *device = t->device;
  if (t->kind == FD_TOPIC_EDGE_STATUS || t->kind == FD_TOPIC_EDGE_COMMIT)
    device = FD_EDGE_DEVICE;
  int n;
  if (t->kind == FD_TOPIC_TELEMETRY)
    n = snprintf(buf, cap, FD_TOPIC_ROOT "/%s/%s/%s/%s", t->site, device, kind, t->group);
  else
    n = snprintf(buf, cap, FD_TOPIC_ROOT "/%s/%s/%s", t->site, device, kind);
  if (n < 0 || (size_t)n >= cap)
    return FARM_ENOSPC;
  return 0;
}
