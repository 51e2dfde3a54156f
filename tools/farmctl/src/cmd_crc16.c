/* SPDX-License-Identifier: MIT */
/*
 * `farmctl crc16`: the CRC-16/CCITT-FALSE of stdin (DESIGN §4), the same
 * function that protects every serial frame, for checking a capture by hand.
 * Streams stdin, so any size works.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "fp/crc16.h"

static const char help[] =
    "usage: farmctl crc16 < data\n"
    "\n"
    "Prints the CRC-16/CCITT-FALSE (poly 0x1021, init 0xffff, no reflection,\n"
    "xorout 0) of all of stdin as 4 lowercase hex digits and a newline.\n"
    "The check value of \"123456789\" is 29b1.\n";

int cmd_crc16(int argc, char **argv)
{
  if (argc > 1) {
    if (cli_is_help(argv[1])) {
      fputs(help, stdout);
      return EXIT_OK;
    }
    return cli_usage_error("crc16", "crc16 takes no argument (got '%s')", argv[1]);
  }
  uint16_t crc = FP_CRC16_INIT;
  uint8_t buf[64 * 1024];
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return cli_fail("reading stdin failed");
    if (r == 0)
      break;
    crc = fp_crc16_update(crc, buf, (size_t)r);
  }
  printf("%04x\n", crc);
  if (cli_flush() != 0)
    return cli_fail("writing stdout failed");
  return EXIT_OK;
}
