/* SPDX-License-Identifier: MIT */
/*
 * `farmctl frame encode|decode`: serial frames (DESIGN §4) by hand. encode
 * wraps one payload; decode runs a captured byte stream through the same
 * stream decoder as the edge agent, in chunks, and prints what it would
 * accept and how many frames of each kind it would drop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "farm/error.h"
#include "fp/frame.h"
#include "frame_stream.h"

static const char help[] =
    "usage: farmctl frame encode < payload > frame\n"
    "       farmctl frame decode < stream\n"
    "\n"
    "encode: reads a payload of 1..2048 bytes and writes one serial frame,\n"
    "  COBS(payload || crc16_be(payload)) followed by 0x00.\n"
    "decode: reads a byte stream and prints, one line per valid frame, its\n"
    "  payload in lowercase hex. Bad frames are dropped (a normal event on a\n"
    "  serial line) and counted; at the end stderr gets one summary line:\n"
    "  frames=N empty=N short=N cobs=N crc=N oversize=N bytes=N\n"
    "  A partial frame at the end of the input is not counted.\n"
    "\n"
    "Exit status: 0 success, 1 bad payload or I/O error, 2 usage error.\n";

static int frame_encode(void)
{
  uint8_t *payload;
  size_t len;
  int rc = cli_read_all(FP_FRAME_MAX_PAYLOAD, &payload, &len);
  if (rc == FARM_ETOOBIG)
    return cli_fail("payload larger than %d bytes (a frame carries 1..%d)", FP_FRAME_MAX_PAYLOAD,
                    FP_FRAME_MAX_PAYLOAD);
  if (rc != 0)
    return cli_fail("reading stdin failed: %s", farm_strerror(rc));
  int status = EXIT_OK;
  if (len == 0) {
    status = cli_fail("empty payload (a frame carries 1..%d bytes)", FP_FRAME_MAX_PAYLOAD);
    goto free_payload;
  }
  uint8_t wire[FP_FRAME_MAX_WIRE];
  size_t n;
  rc = fp_frame_encode(payload, len, wire, sizeof wire, &n);
  if (rc != 0) {
    status = cli_fail("cannot encode the frame: %s", farm_strerror(rc));
    goto free_payload;
  }
  if (cli_write(wire, n) != 0 || cli_flush() != 0)
    status = cli_fail("writing stdout failed");
free_payload:
  free(payload);
  return status;
}

static int print_payload(void *ctx, const uint8_t *payload, size_t len)
{
  (void)ctx;
  static const char hexd[] = "0123456789abcdef";
  char line[2 * FP_FRAME_MAX_PAYLOAD + 1];
  for (size_t i = 0; i < len; i++) {
    line[2 * i] = hexd[payload[i] >> 4];
    line[2 * i + 1] = hexd[payload[i] & 15];
  }
  line[2 * len] = '\n';
  return cli_write(line, 2 * len + 1);
}

static int frame_decode(void)
{
  struct frame_stream fs;
  int rc = frame_stream_run(&fs, print_payload, NULL);
  frame_stream_summary(&fs, "");
  if (rc == FARM_EIO)
    return cli_fail("reading stdin or writing stdout failed");
  if (rc != 0)
    return cli_fail("frame decoder made no progress (%s)", farm_strerror(rc));
  return EXIT_OK;
}

int cmd_frame(int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("frame", "frame needs a subcommand: encode or decode");
  if (cli_is_help(argv[1])) {
    fputs(help, stdout);
    return EXIT_OK;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "encode") != 0 && strcmp(sub, "decode") != 0)
    return cli_usage_error("frame", "unknown subcommand '%s': use encode or decode", sub);
  if (argc > 2) {
    if (cli_is_help(argv[2])) {
      fputs(help, stdout);
      return EXIT_OK;
    }
    return cli_usage_error("frame", "frame %s takes no argument (got '%s')", sub, argv[2]);
  }
  return strcmp(sub, "encode") == 0 ? frame_encode() : frame_decode();
}
