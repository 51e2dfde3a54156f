/* SPDX-License-Identifier: MIT */
/*
 * farmctl: the operator's command-line tool. main() only picks the command
 * group by its first word and hands over the remaining arguments; each group
 * lives in its own cmd_*.c file.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_admin.h"

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"crc16", cmd_crc16},
    {"frame", cmd_frame},
    {"codec", cmd_codec},
    {"msg", cmd_msg},
    {"sites", cmd_admin},     {"devices", cmd_admin}, {"device", cmd_admin},
    {"telemetry", cmd_admin}, {"cmd", cmd_admin},     {"alerts", cmd_admin},
    {"ack", cmd_admin},       {"events", cmd_admin},  {"rules", cmd_admin},
};

static const char usage[] =
    "usage: farmctl <command> [options]\n"
    "\n"
    "Commands (input on stdin, output on stdout):\n"
    "  crc16                     CRC-16/CCITT-FALSE of stdin, 4 hex digits\n"
    "  frame encode              wrap the payload on stdin (1..2048 bytes) in one\n"
    "                            serial frame: COBS(payload || crc16_be) 0x00\n"
    "  frame decode              print the payload of every valid frame of a\n"
    "                            byte stream in hex, counters on stderr\n"
    "  codec encode --format F   one JSON value -> MessagePack or CBOR (F is\n"
    "                            msgpack or cbor)\n"
    "  codec decode --format F   one MessagePack or CBOR value -> JSON\n"
    "  msg decode [--format F]   frame stream -> one JSON line per valid\n"
    "                            message (default format msgpack)\n"
    "\n"
    "Administration through web-gateway's API ('farmctl devices --help'):\n"
    "  [--url URL] [--token TOKEN] [--json] sites | devices | device | telemetry |\n"
    "  cmd | alerts | ack | events | rules\n"
    "\n"
    "Run 'farmctl <command> --help' for the details of a command.\n"
    "Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n";

int main(int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error(NULL, "missing command");
  if (cli_is_help(argv[1])) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  /* Global options of the admin commands come before the command word. */
  if (strncmp(argv[1], "--", 2) == 0)
    return cmd_admin(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
