/* SPDX-License-Identifier: MIT */
/*
 * Serial frames between gateway and edge (DESIGN §4):
 *   COBS(payload ‖ crc16_be(payload)) 0x00
 * with a payload of 1..FP_FRAME_MAX_PAYLOAD bytes. The stream decoder takes
 * bytes in chunks of any size, hands out verified payloads, and after any
 * bad frame resynchronises at the next 0x00, counting every rejection by
 * kind so a flaky cable shows up in the diagnostics instead of in the data.
 */
#ifndef FP_FRAME_H
#define FP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/cobs.h"

#define FP_FRAME_MAX_PAYLOAD 2048
/* Encoded bytes of the largest frame, without and with its delimiter. */
#define FP_FRAME_MAX_COBS FP_COBS_MAX_ENCODED(FP_FRAME_MAX_PAYLOAD + 2)
#define FP_FRAME_MAX_WIRE (FP_FRAME_MAX_COBS + 1)

/*
 * Encodes one frame, delimiter included, into out (cap bytes; 
 * FP_FRAME_MAX_WIRE always suffices). Returns 0 and *out_len, FARM_EINVAL for
 * a payload of 0 or more than FP_FRAME_MAX_PAYLOAD bytes, or FARM_ENOSPC.
 */
int fp_frame_encode(const void *payload, size_t len, uint8_t *out, size_t cap,
                    size_t *out_len);

/* Rejections by kind, and good frames. Counters wrap at 2^32. */
struct fp_frame_counters {
  uint32_t frames;   /* verified payloads handed out */
  uint32_t empty;    /* a delimiter with nothing before it */
  uint32_t shortf;   /* decoded to fewer than 3 bytes: no payload and CRC */
  uint32_t cobs;     /* malformed COBS */
  uint32_t crc;      /* CRC mismatch */
  uint32_t oversize; /* more than FP_FRAME_MAX_COBS bytes without a 0x00 */
  uint64_t bytes;    /* every byte fed */
};

struct fp_frame_decoder {
  struct fp_frame_counters count;
  size_t len;      /* encoded bytes gathered for the current frame */
  bool discarding; /* oversize: drop bytes until the next 0x00 */
  uint8_t buf[FP_FRAME_MAX_COBS];
};

void fp_frame_decoder_init(struct fp_frame_decoder *d);

/*
 * Feeds up to len bytes and stops at the first frame boundary that yields
 * an outcome. *consumed tells how many bytes were used; call again with the
 * rest. Outcomes:
 *   0 with *payload != NULL   a verified payload (*payload_len bytes, inside
 *                             the decoder, valid until the next call)
 *   0 with *payload == NULL   all len bytes consumed, no frame complete yet
 *   FARM_EEMPTY, FARM_ETRUNCATED (decoded frame shorter than payload + CRC),
 *   FARM_EMALFORMED (COBS), FARM_ECRC, FARM_ETOOBIG (oversize)
 *                             a rejected frame, already counted; carry on
 * FARM_ETOOBIG is reported once per oversize run, when it is detected; the
 * rest of the run is then dropped silently up to its 0x00.
 */
int fp_frame_feed(struct fp_frame_decoder *d, const uint8_t *data, size_t len,
                  size_t *consumed, const uint8_t **payload,
                  size_t *payload_len);

/*
 * Drops a partial frame (the link was reset or unplugged): the next byte
 * starts a new frame. A partial frame is not counted as a rejection.
 */
void fp_frame_decoder_reset(struct fp_frame_decoder *d);

#endif /* FP_FRAME_H */
