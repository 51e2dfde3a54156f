/* SPDX-License-Identifier: MIT */
/*
 * A test rig around one simulated world: it records what the observer
 * reports (the ledger's content, in memory), attaches the tests' edge to
 * the gateway's serial port in process, runs simulated time while moving
 * bytes both ways, and compares what the edge received with what the
 * nodes produced. Test code: it allocates (rig_free releases it all).
 */
#ifndef FSIM_TEST_RIG_H
#define FSIM_TEST_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edge.h"
#include "fsim/world.h"

struct rec_reading {
  uint8_t mac[HAL_MAC_LEN];
  uint32_t boot, seq;
  uint64_t sim_ms;
  bool syn;
  uint8_t n;
  struct fp_metric v[FP_MSG_MAX_METRICS];
};

struct rec_cmd {
  uint8_t mac[HAL_MAC_LEN];
  uint32_t id;
  char name[FP_MSG_NAME_MAX + 1];
  bool ok;
  char err[FP_MSG_ERR_MAX + 1];
};

struct rig {
  struct fsim_world *w;
  struct edge edge;
  struct rec_reading *rd;
  size_t n_rd, cap_rd;
  struct rec_cmd cmds[64];
  size_t n_cmds;
  unsigned dropped;  /* messages nodes dropped from a full outbox */
  unsigned gw_boots; /* gateway starts, the first included */
  unsigned lost;     /* messages lost in restarts (outboxes, uplink store) */
};

/* What the edge got, compared with the ledger. */
struct delivery {
  size_t readings;   /* in the ledger */
  size_t received;   /* tel messages committed by the edge */
  size_t missing;    /* ledger readings the edge never got */
  size_t duplicates; /* tel messages beyond the first for one reading */
  size_t unknown;    /* tel messages of no ledger reading */
  size_t mismatched; /* tel messages whose values differ from the ledger's */
};

/* A world from cfg (its observer is replaced by the rig's), with the
 * edge's cable plugged in. Fails the test if the world does not start. */
struct rig *rig_new(const struct fsim_config *cfg);
void rig_free(struct rig *r);

/* Moves bytes between the gateway and the edge, both ways. */
void rig_pump(struct rig *r);

/* Runs simulated time up to until_ms, pumping after every step. */
void rig_run(struct rig *r, uint64_t until_ms);

/* Sends a request and runs until the gateway has handled it. */
void rig_send(struct rig *r, const struct fp_msg *m);

struct delivery rig_delivery(const struct rig *r);

/* The first committed evt from mac named name, after index from; -1. */
long rig_find_evt(const struct rig *r, size_t from, const uint8_t mac[HAL_MAC_LEN],
                  const char *name);
/* The ack for id at stage, or NULL. */
const struct fp_msg *rig_ack(const struct rig *r, uint32_t id, enum fp_stage stage);
/* The string argument key of an evt ("" when absent). */
const char *rig_evt_str(const struct fp_msg *m, const char *key);

#endif /* FSIM_TEST_RIG_H */
