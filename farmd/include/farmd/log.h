/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemons: one line per message with a level, to a stream
 * (stderr by default). Under systemd (JOURNAL_STREAM set) lines carry the
 * sd-daemon "<N>" priority prefix instead of a timestamp, so journald files
 * them at the right level. Messages about untrusted input go through a rate
 * limiter so a flood of bad packets cannot flood the log; what was held back
 * is counted and reported with the next line that passes.
 *
 * Thread safety: fd_log() may be called from any thread (each line is one
 * stdio call, which locks the stream). A struct fd_ratelimit is not
 * synchronised: use one per thread, or guard it.
 */
#ifndef FARMD_LOG_H
#define FARMD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fd_log_level {
  FD_LOG_ERROR = 3, /* syslog priorities, as journald expects */
  FD_LOG_WARN = 4,
  FD_LOG_INFO = 6,
  FD_LOG_DEBUG = 7,
};

struct fd_log {
  const char *prog;        /* borrowed; shown in every line */
  enum fd_log_level level; /* lines above this level are dropped */
  FILE *out;               /* borrowed */
  bool journal;            /* "<N>" prefixes instead of timestamps */
};

/* Sets up a logger writing to out (stderr when NULL). journal is detected
 * from the environment variable JOURNAL_STREAM. */
void fd_log_init(struct fd_log *lg, const char *prog, enum fd_log_level level,
                 FILE *out);

/* Parses "error", "warn", "info", "debug". Returns 0 or FARM_EINVAL. */
int fd_log_level_parse(const char *s, enum fd_log_level *out);

void fd_log(const struct fd_log *lg, enum fd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Token bucket: up to burst lines, refilled at one line per
 * interval_ms / burst. Initialise with FD_RATELIMIT_INIT(burst, interval).
 */
struct fd_ratelimit {
  uint32_t burst;
  uint32_t interval_ms;
  double tokens;
  int64_t last_ms;     /* time of the last refill; 0 = never */
  uint64_t suppressed; /* lines refused since the last one allowed */
};
#define FD_RATELIMIT_INIT(burst_, interval_ms_) \
  {.burst = (burst_), .interval_ms = (interval_ms_), .tokens = (burst_)}

/*
 * Decides whether a line may be written at time now_ms (any monotonic
 * clock). Returns true and sets *suppressed to the number of lines refused
 * since the last allowed one (then resets it), or returns false and counts.
 */
bool fd_ratelimit_allow(struct fd_ratelimit *rl, int64_t now_ms, uint64_t *suppressed);

/* fd_log() through a rate limiter, on the monotonic clock. */
void fd_log_rl(const struct fd_log *lg, struct fd_ratelimit *rl,
               enum fd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Copies untrusted bytes into out (cap > 0) as printable ASCII for a log
 * line: control and non-ASCII bytes become \xNN, and the result is cut at
 * cap - 1 with "..." when too long. Returns out.
 */
char *fd_log_escape(const void *in, size_t len, char *out, size_t cap);

/* Monotonic and wall clocks in milliseconds. */
int64_t fd_mono_ms(void);
int64_t fd_wall_ms(void);

#endif /* FARMD_LOG_H */
