/* SPDX-License-Identifier: MIT */
/*
 * The catalogue of node commands as the API accepts them (the node core's
 * commands, which the edge checks again: docs/protocol.md §4): relay.set
 * {ch 1..6, on, for_s 0..86400 only with on}, feature.set {name, on},
 * period.set {ms 1000..3600000}, identify {s 1..60}, reboot {}. Refusing
 * here gives the person an immediate reason instead of a failed ack later.
 */
#ifndef WG_CMDCAT_H
#define WG_CMDCAT_H

#include <stddef.h>

#include <jansson.h>

/*
 * Checks name and args (a JSON object, or NULL/null for none). Returns 0, or
 * writes a reason to why (cap bytes) and returns:
 *   FARM_EUNKNOWN  no such command
 *   FARM_ETYPE     args not an object, or an argument of the wrong type
 *   FARM_EINVAL    an unknown argument, or a forbidden combination
 *   FARM_EMISSING  a required argument is missing
 *   FARM_ERANGE    an argument out of range (relay 7 of 6, negative time)
 */
int wg_cmd_check(const char *name, const json_t *args, char *why, size_t cap);

#endif /* WG_CMDCAT_H */
