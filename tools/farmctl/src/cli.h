/* SPDX-License-Identifier: MIT */
/*
 * What every farmctl command shares: the exit codes, the entry point of
 * each command group (one file each), and the small helpers for options,
 * messages and whole-stream I/O, so each command file holds only its own
 * logic.
 */
#ifndef FARMCTL_CLI_H
#define FARMCTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp/codec.h"

enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,  /* bad input, I/O error */
  EXIT_USAGE = 2, /* bad command line */
};

/* Largest input a command reads as a whole (codec encode/decode). */
#define CLI_MAX_INPUT (16u * 1024u * 1024u)

/*
 * Command groups. Each gets the arguments after "farmctl", argv[0] being
 * the group's name, and returns the process exit status.
 */
int cmd_crc16(int argc, char **argv);
int cmd_frame(int argc, char **argv);
int cmd_codec(int argc, char **argv);
int cmd_msg(int argc, char **argv);

/* True for "-h" and "--help". */
bool cli_is_help(const char *arg);

/* Prints "farmctl: <message>" and a line saying where to get help on
 * stderr; returns EXIT_USAGE. cmd names the command for that line. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "farmctl: <message>" on stderr; returns EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parses the options of a command that takes only --help and --format
 * (msgpack|cbor), starting at argv[first]. Returns -1 after setting *help
 * (print help, exit 0), or an exit status: EXIT_OK with *codec and
 * *have_format set, or EXIT_USAGE after printing why.
 */
int cli_format_opts(const char *cmd, int argc, char **argv, int first, enum fp_codec *codec,
                    bool *have_format, bool *help);

/*
 * Reads all of stdin into *out (malloc'd, the caller frees it, never NULL
 * on success even when empty). Returns 0, FARM_ETOOBIG when more than max
 * bytes arrive (stops reading there), FARM_EIO or FARM_ENOMEM.
 */
int cli_read_all(size_t max, uint8_t **out, size_t *len);

/* Writes len bytes to stdout. Returns 0 or FARM_EIO. */
int cli_write(const void *p, size_t len);

/* Flushes stdout. Returns 0 or FARM_EIO (a closed pipe, a full disk). */
int cli_flush(void);

#endif /* FARMCTL_CLI_H */
