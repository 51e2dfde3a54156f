/* SPDX-License-Identifier: MIT */
/*
 * The edge agent: one event-driven loop over the serial port, the MQTT
 * link's event descriptor, the HTTP server's request descriptor, signals
 * and timers (DESIGN §8). It owns the modules and routes between them:
 * gateway messages to the backlog, the peer router and the command
 * manager; commands from MQTT and HTTP to the command manager; group
 * commits of the backlog, after which the bridge acknowledges and the MQTT
 * link publishes; the edge and device states; systemd's readiness and
 * watchdog.
 *
 * Ownership: the agent borrows cfg (which must outlive it) and owns every
 * module. JSON views return new references.
 */
#ifndef EA_AGENT_H
#define EA_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cmd.h"
#include "config.h"

struct ea_agent;

/* Creates every module and starts the MQTT link and the HTTP server.
 * Returns 0 and *out, or an error already logged (FARM_EIO: a port in use,
 * a file that cannot be created; FARM_EINVAL, FARM_ENOENT: TLS files). */
int ea_agent_new(const struct ea_config *cfg, struct ea_agent **out);
/* Runs the loop until SIGTERM or SIGINT; tells systemd it is ready and
 * feeds its watchdog. Returns 0. */
int ea_agent_run(struct ea_agent *a);
void ea_agent_free(struct ea_agent *a);

/* Views and actions for the HTTP API (called on the loop's thread). */
json_t *ea_agent_status_json(struct ea_agent *a);
json_t *ea_agent_peers_json(struct ea_agent *a);
json_t *ea_agent_backlog_json(struct ea_agent *a);
json_t *ea_agent_commands_json(struct ea_agent *a);
void ea_agent_command(struct ea_agent *a, const json_t *body, struct ea_cmd_result *res);

enum ea_diag { EA_DIAG_SET_MAC, EA_DIAG_TIME_SYNC, EA_DIAG_PAIR, EA_DIAG_PING };
/* A diagnostics request from the API. Returns 0 and *id, or FARM_EINVAL
 * with err set (bad MAC, duration out of range). */
int ea_agent_diag(struct ea_agent *a, enum ea_diag d, const json_t *body, uint32_t *id, char *err,
                  size_t errlen);

#endif /* EA_AGENT_H */
