/* SPDX-License-Identifier: MIT */
/*
 * farmctl's administration commands: a client of web-gateway's REST API
 * (docs/api.md) on libcurl. The pieces here are the ones worth testing on
 * their own: reading k=v command arguments, relative times, and printing
 * rows as an aligned table.
 *
 * Ownership: jansson values passed in are borrowed; admin_table() copies
 * nothing it keeps.
 */
#ifndef FARMCTL_CMD_ADMIN_H
#define FARMCTL_CMD_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* The command group: argv[0] is the command word or a global option
 * (--url, --token, --json). Returns the exit status. */
int cmd_admin(int argc, char **argv);

/*
 * Adds "key=value" to obj: true/false become booleans, a decimal integer
 * an integer, another number a real, anything else a string. Returns 0, or
 * FARM_EINVAL with a reason in why (no '=', an empty key).
 */
int admin_parse_kv(const char *arg, json_t *obj, char *why, size_t cap);

/*
 * A time for --from/--to: Unix milliseconds, "now", or now minus a
 * duration ("-90s", "-30m", "-6h", "-7d"). Returns 0 or FARM_EINVAL.
 */
int admin_parse_time(const char *s, int64_t now_ms, int64_t *out);

/*
 * Prints the objects of rows as a table: one column per entry of cols
 * (member names; "a.b" reaches into a nested object), headed by the
 * upper-cased names, columns padded to their widest cell. Numbers print
 * as integers or with up to 6 significant digits, booleans as yes/no,
 * null and absent as "-", objects as "k=v k=v".
 */
void admin_table(FILE *out, const json_t *rows, const char *const *cols, size_t ncols);

#endif /* FARMCTL_CMD_ADMIN_H */
