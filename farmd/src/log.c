/* SPDX-License-Identifier: MIT */
/*
 * Log lines, levels, the rate limiter and escaping of untrusted text.
 */
#include "farmd/log.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "farm/error.h"

void fd_log_init(struct fd_log *lg, const char *prog, enum fd_log_level level,
                 FILE *out)
{
  lg->prog = prog;
  lg->level = level;
  lg->out = out ? out : stderr;
  const char *js = getenv("JOURNAL_STREAM");
  lg->journal = js && js[0] != '\0' && lg->out == stderr;
}

int fd_log_level_parse(const char *s, enum fd_log_level *out)
{
  static const struct {
    const char *name;
    enum fd_log_level level;
  } names[] = {{"error", FD_LOG_ERROR}, {"warn", FD_LOG_WARN},
               {"info", FD_LOG_INFO}, {"debug", FD_LOG_DEBUG}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(s, names[i].name) == 0) {
      *out = names[i].level;
      return 0;
    }
  }
  return FARM_EINVAL;
}

static const char *level_name(enum fd_log_level l)
{
  switch (l) {
  case FD_LOG_ERROR:
    return "error";
  case FD_LOG_WARN:
    return "warn";
  case FD_LOG_INFO:
    return "info";
  case FD_LOG_DEBUG:
    return "debug";
  }
  return "?";
}

static void vlog(const struct fd_log *lg, enum fd_log_level level,
                 uint64_t suppressed, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void vlog(const struct fd_log *lg, enum fd_log_level level,
                 uint64_t suppressed, const char *fmt, va_list ap)
{
  if (level > lg->level)
    return;
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  char tail[64] = "";
  if (suppressed)
    snprintf(tail, sizeof tail, " (%llu similar lines suppressed)",
             (unsigned long long)suppressed);
  if (lg->journal) {
    fprintf(lg->out, "<%d>%s%s\n", (int)level, msg, tail);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(lg->out, "%s.%03ldZ %s[%ld] %s: %s%s\n", when, ts.tv_nsec / 1000000L,
          lg->prog, (long)getpid(), level_name(level), msg, tail);
}

void fd_log(const struct fd_log *lg, enum fd_log_level level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(lg, level, 0, fmt, ap);
  va_end(ap);
}

bool fd_ratelimit_allow(struct fd_ratelimit *rl, int64_t now_ms, uint64_t *suppressed)
{
  if (rl->last_ms == 0 || now_ms < rl->last_ms) {
    rl->last_ms = now_ms;
  } else if (rl->interval_ms > 0) {
    double refill = (double)(now_ms - rl->last_ms) * rl->burst / rl->interval_ms;
    rl->tokens += refill;
    if (rl->tokens > rl->burst)
      rl->tokens = rl->burst;
    rl->last_ms = now_ms;
  }
  if (rl->tokens >= 1.0) {
    rl->tokens -= 1.0;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return true;
  }
  rl->suppressed++;
  return false;
}

void fd_log_rl(const struct fd_log *lg, struct fd_ratelimit *rl,
               enum fd_log_level level, const char *fmt, ...)
{
  if (level > lg->level)
    return;
  uint64_t suppressed;
  if (!fd_ratelimit_allow(rl, fd_mono_ms(), &suppressed))
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog(lg, level, suppressed, fmt, ap);
  va_end(ap);
}

static size_t escaped_len(unsigned char c)
{
  if (c == '\\')
    return 2;
  return (c >= 0x20 && c < 0x7f) ? 1 : 4;
}

static size_t put_escaped(char *out, unsigned char c)
{
  static const char hex[] = "0123456789abcdef";
  if (c == '\\') {
    out[0] = '\\';
    out[1] = '\\';
    return 2;
  }
  if (c >= 0x20 && c < 0x7f) {
    out[0] = (char)c;
    return 1;
  }
  out[0] = '\\';
  out[1] = 'x';
  out[2] = hex[c >> 4];
  out[3] = hex[c & 15];
  return 4;
}

char *fd_log_escape(const void *in, size_t len, char *out, size_t cap)
{
  assert(out && cap > 0);
  const unsigned char *p = in;
  size_t limit = cap - 1; /* characters, without the terminator */
  size_t total = 0;
  for (size_t i = 0; i < len; i++)
    total += escaped_len(p[i]);
  size_t o = 0;
  if (total <= limit) {
    for (size_t i = 0; i < len; i++)
      o += put_escaped(out + o, p[i]);
  } else {
    /* Too long: as much as fits before a "..." marker. */
    size_t room = limit >= 3 ? limit - 3 : 0;
    for (size_t i = 0; i < len && o + escaped_len(p[i]) <= room; i++)
      o += put_escaped(out + o, p[i]);
    for (size_t k = 0; k < 3 && o < limit; k++)
      out[o++] = '.';
  }
  out[o] = '\0';
  return out;
}

int64_t fd_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fd_wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
