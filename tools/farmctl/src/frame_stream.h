/* SPDX-License-Identifier: MIT */
/*
 * Runs stdin through the serial frame stream decoder (fp/frame.h) in chunks,
 * as the edge agent does with the serial port, handing every verified
 * payload to a callback. Shared by `farmctl frame decode` and
 * `farmctl msg decode`, which differ only in what they do with a payload.
 */
#ifndef FARMCTL_FRAME_STREAM_H
#define FARMCTL_FRAME_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "fp/frame.h"

struct frame_stream {
  struct fp_frame_decoder dec;
};

/* Called for each verified payload (valid until it returns). A non-zero
 * return stops the stream with that error. */
typedef int (*frame_stream_fn)(void *ctx, const uint8_t *payload, size_t len);

/*
 * Initialises fs, reads stdin to its end and feeds every byte to the
 * decoder; stdout is flushed after each chunk so output follows a live
 * stream. Rejected frames are only counted. Returns 0, FARM_EIO (reading
 * stdin or flushing stdout failed), or the first non-zero return of fn.
 */
int frame_stream_run(struct frame_stream *fs, frame_stream_fn fn, void *ctx);

/*
 * Prints the counters on one line on stderr:
 *   frames=N empty=N short=N cobs=N crc=N oversize=N bytes=N<extra>
 * extra (may be "") is appended as is, e.g. " messages=3 invalid=1".
 */
void frame_stream_summary(const struct frame_stream *fs, const char *extra);

#endif /* FARMCTL_FRAME_STREAM_H */
