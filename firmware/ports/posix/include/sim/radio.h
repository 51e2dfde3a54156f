/* SPDX-License-Identifier: MIT */
/*
 * The simulated ESP-NOW medium shared by the boards of one simulation.
 * hal_radio_send queues a frame; sim_radio_run, called by the simulator
 * after it moves the clock, delivers the frames that are due, in the order
 * they were sent: each receiver on the sender's channel gets it through its
 * core's on_radio_rx unless the seeded loss draw drops it or the distance
 * puts it below the receiver's sensitivity, then the sender learns the
 * outcome through on_radio_sent. RSSI follows a log-distance path-loss
 * model from the boards' positions. Everything random comes from one
 * seeded generator, so a run is repeatable. Single-threaded: one thread
 * drives the clock, the radio and every board.
 *
 * Encryption follows ESP-NOW as far as the cores can tell (hal.h,
 * hal_radio_add_peer). A unicast frame to a peer listed encrypted is sent
 * encrypted with the sender's PMK and LMK (sim_board_config); the receiver
 * passes it to its core only if it lists the sender encrypted and has the
 * same keys. An unencrypted unicast frame from a sender the receiver lists
 * encrypted is dropped too. Either way the receiving radio has
 * acknowledged the frame already: an 802.11 acknowledgement goes out as
 * soon as a frame addressed to the radio arrives intact, before anything
 * is decrypted, and ESP-NOW reports a frame it could not decrypt as
 * delivered (ESP-IDF issues 9545 and 8577). Such frames are counted in
 * undecryptable. Broadcast frames are never encrypted, and are passed on
 * whatever the receiver lists: an assumption, since ESP-IDF does not say
 * whether its check of a sender's encryption covers group frames
 * (docs/firmware.md §3.2).
 */
#ifndef SIM_RADIO_H
#define SIM_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "sim/clock.h"

#define SIM_RADIO_MAX_BOARDS 256
#define SIM_RADIO_QUEUE      1024 /* frames in flight, all boards */
#define SIM_RADIO_MAX_LINKS  256  /* per-link loss overrides */
#define SIM_RADIO_KEY_LEN    16   /* ESP-NOW's PMK and LMK (ESP_NOW_KEY_LEN) */

struct sim_radio_config {
  uint64_t seed;
  uint32_t latency_ms; /* from send to delivery and send status */
  double loss;         /* probability a frame is lost on any link, 0..1 */
  /*
   * A unicast frame that arrived is acknowledged by the receiver's radio;
   * the acknowledgement crosses the same link and is lost with the same
   * probability, and then the sender is told "not delivered" although the
   * receiver has the frame, as on real ESP-NOW. This is what makes
   * receivers see duplicates; false makes acknowledgements always arrive.
   */
  bool ack_loss;
  /* Log-distance path loss: RSSI = tx_power - (pl_d0 + 10 n log10(d / 1 m))
   * + N(0, shadowing_sigma), distances under 1 m count as 1 m. */
  double tx_power_dbm;
  double path_loss_d0_db; /* at 1 m */
  double path_loss_exp;   /* n */
  double shadowing_sigma_db;
  double sensitivity_dbm; /* frames received weaker than this are lost */
  uint8_t tx_queue;       /* frames in flight per sender before FARM_EBUSY */
};

/* What happened to the frames so far. A broadcast counts once in sent and
 * once per receiver in the receive-side counters. */
struct sim_radio_stats {
  uint64_t sent;         /* accepted by hal_radio_send */
  uint64_t rx;           /* handed to a receiver's core */
  uint64_t lost;         /* dropped by the loss draw */
  uint64_t out_of_range; /* below the receiver's sensitivity */
  uint64_t no_receiver;  /* unicast to no board listening on that channel */
  uint64_t acks_lost;    /* received, but the sender heard no acknowledgement */
  uint64_t undecryptable; /* received and acknowledged, but dropped by the
                             receiving radio: encryption or keys differ */
  uint64_t sent_ok;      /* on_radio_sent(delivered = true) */
  uint64_t sent_failed;  /* on_radio_sent(delivered = false) */
};

/* Internal: one frame in flight. */
struct sim_radio_frame {
  struct hal_port *src; /* NULL once cancelled (sender rebooted or detached) */
  uint8_t dst[HAL_MAC_LEN];
  uint8_t channel;
  bool encrypted;
  uint16_t len;
  uint64_t deliver_at_ms;
  uint8_t key[2 * SIM_RADIO_KEY_LEN]; /* the sender's PMK and LMK, if encrypted */
  uint8_t data[HAL_RADIO_MTU];
};

/* Internal: a per-link loss override (unordered pair). */
struct sim_radio_link {
  uint8_t a[HAL_MAC_LEN];
  uint8_t b[HAL_MAC_LEN];
  double loss;
};

/* The medium. Large (about 300 KB): allocate it statically or on the heap.
 * Fields are private to the port. */
struct sim_radio {
  struct sim_radio_config cfg;
  struct sim_clock *clock;
  uint64_t rng;
  struct sim_radio_stats stats;
  size_t nboards;
  struct hal_port *boards[SIM_RADIO_MAX_BOARDS];
  size_t nlinks;
  struct sim_radio_link links[SIM_RADIO_MAX_LINKS];
  size_t head;
  size_t count;
  struct sim_radio_frame queue[SIM_RADIO_QUEUE];
};

/* Defaults: seed 1, 2 ms latency, no loss, acknowledgement loss on, 20 dBm
 * transmit power, 40 dB at 1 m (free space at 2.44 GHz), exponent 2.7
 * (open field with crops and buildings), no shadowing, sensitivity -98 dBm
 * (802.11b 1 Mbit/s, ESP-NOW's default rate), 8 frames queued per sender. */
void sim_radio_config_default(struct sim_radio_config *cfg);

/* Initialises an empty medium on clock (which must outlive it). Returns 0 or
 * FARM_EINVAL (loss outside 0..1, exponent <= 0, negative sigma, tx_queue
 * 0). Boards join through sim_board_init. */
int sim_radio_init(struct sim_radio *r, const struct sim_radio_config *cfg,
                   struct sim_clock *clock);

/* Sets the loss probability of every link without an override. Returns 0 or
 * FARM_EINVAL (outside 0..1). */
int sim_radio_set_loss(struct sim_radio *r, double loss);

/* Overrides the loss of the link between a and b (both directions); a
 * negative loss removes the override. Returns 0, FARM_EINVAL (loss > 1, a
 * equal to b), FARM_ENOSPC (SIM_RADIO_MAX_LINKS overrides), FARM_ENOENT
 * (removing an override that does not exist). */
int sim_radio_set_link_loss(struct sim_radio *r, const uint8_t a[HAL_MAC_LEN],
                            const uint8_t b[HAL_MAC_LEN], double loss);

/* The loss probability in force between a and b. */
double sim_radio_link_loss(const struct sim_radio *r, const uint8_t a[HAL_MAC_LEN],
                           const uint8_t b[HAL_MAC_LEN]);

/* Sets the latency of frames sent from now on. Frames in flight keep theirs,
 * and delivery stays in send order. */
void sim_radio_set_latency(struct sim_radio *r, uint32_t latency_ms);

/*
 * Delivers every frame sent before this call whose time has come (frames
 * sent from inside the callbacks wait for the next call, so a zero latency
 * cannot loop). Returns the number of frames processed.
 */
size_t sim_radio_run(struct sim_radio *r);

/* When the next frame is due, for a simulator that jumps its clock; false
 * when nothing is in flight. */
bool sim_radio_next_due(const struct sim_radio *r, uint64_t *at_ms);

/* Frames in flight (cancelled ones excluded). */
size_t sim_radio_in_flight(const struct sim_radio *r);

const struct sim_radio_stats *sim_radio_stats(const struct sim_radio *r);

/* The mean RSSI (no shadowing) from a to b by the path-loss model, in dBm,
 * before clamping to int8_t. */
double sim_radio_mean_rssi(const struct sim_radio *r, const struct hal_port *a,
                           const struct hal_port *b);

#endif /* SIM_RADIO_H */
