/* SPDX-License-Identifier: MIT */
/* Option, message and stream helpers shared by the farmctl commands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm/error.h"

bool cli_is_help(const char *arg)
{
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fputs("farmctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nrun 'farmctl %s%s--help' for usage\n", cmd ? cmd : "", cmd ? " " : "");
  return EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
  va_list ap;
  fputs("farmctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return EXIT_FAIL;
}

int cli_format_opts(const char *cmd, int argc, char **argv, int first, enum fp_codec *codec,
                    bool *have_format, bool *help)
{
  *have_format = false;
  *help = false;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    const char *value = NULL;
    if (cli_is_help(a)) {
      *help = true;
      return -1;
    }
    if (strcmp(a, "--format") == 0) {
      if (i + 1 == argc)
        return cli_usage_error(cmd, "--format needs a value: msgpack or cbor");
      value = argv[++i];
    } else if (strncmp(a, "--format=", 9) == 0) {
      value = a + 9;
    } else if (a[0] == '-') {
      return cli_usage_error(cmd, "unknown option '%s'", a);
    } else {
      return cli_usage_error(cmd, "unexpected argument '%s'", a);
    }
    if (fp_codec_parse(value, codec) != 0)
      return cli_usage_error(cmd, "unknown format '%s': use msgpack or cbor", value);
    *have_format = true;
  }
  return EXIT_OK;
}

int cli_read_all(size_t max, uint8_t **out, size_t *len)
{
  size_t cap = 64 * 1024;
  size_t n = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL)
    return FARM_ENOMEM;
  for (;;) {
    if (n == cap) {
      if (n > max) /* one byte past the limit is enough to know */
        break;
      uint8_t *b = realloc(buf, 2 * cap);
      if (b == NULL) {
        free(buf);
        return FARM_ENOMEM;
      }
      buf = b;
      cap *= 2;
    }
    size_t want = cap - n;
    if (want > max + 1 - n)
      want = max + 1 - n;
    ssize_t r = read(STDIN_FILENO, buf + n, want);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free(buf);
      return FARM_EIO;
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n > max)
      break;
  }
  if (n > max) {
    free(buf);
    return FARM_ETOOBIG;
  }
  *out = buf;
  *len = n;
  return 0;
}

int cli_write(const void *p, size_t len)
{
  if (len > 0 && fwrite(p, 1, len, stdout) != len)
    return FARM_EIO;
  return 0;
}

int cli_flush(void)
{
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : FARM_EIO;
}
