/* SPDX-License-Identifier: MIT */
/* The stdin frame loop of frame_stream.h. */
#include "frame_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "farm/error.h"

/* Feeds one chunk, calling fn for each payload it completes. */
static int feed_chunk(struct frame_stream *fs, const uint8_t *p, size_t n, frame_stream_fn fn,
                      void *ctx)
{
  size_t off = 0;
  unsigned stalls = 0;
  while (off < n) {
    size_t used = 0;
    const uint8_t *payload = NULL;
    size_t len = 0;
    int rc = fp_frame_feed(&fs->dec, p + off, n - off, &used, &payload, &len);
    /* An outcome may be reported before the byte that caused it is used,
     * but two calls in a row without progress would loop for ever. */
    stalls = used == 0 ? stalls + 1 : 0;
    if (stalls > 1)
      return FARM_EINVAL;
    off += used;
    if (rc == 0 && payload != NULL) {
      int frc = fn(ctx, payload, len);
      if (frc != 0)
        return frc;
    }
  }
  return 0;
}

int frame_stream_run(struct frame_stream *fs, frame_stream_fn fn, void *ctx)
{
  fp_frame_decoder_init(&fs->dec);
  uint8_t buf[4096];
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return FARM_EIO;
    if (r == 0)
      return 0;
    int rc = feed_chunk(fs, buf, (size_t)r, fn, ctx);
    if (rc == 0)
      rc = cli_flush();
    if (rc != 0)
      return rc;
  }
}

void frame_stream_summary(const struct frame_stream *fs, const char *extra)
{
  const struct fp_frame_counters *c = &fs->dec.count;
  fprintf(stderr,
          "frames=%" PRIu32 " empty=%" PRIu32 " short=%" PRIu32 " cobs=%" PRIu32 " crc=%" PRIu32
          " oversize=%" PRIu32 " bytes=%" PRIu64 "%s\n",
          c->frames, c->empty, c->shortf, c->cobs, c->crc, c->oversize, c->bytes, extra);
}
