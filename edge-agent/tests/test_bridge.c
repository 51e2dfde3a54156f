/* SPDX-License-Identifier: MIT */
/* The serial bridge over a real pseudo-terminal, with the test playing the
 * gateway: rx only after commit, resends and gaps, rejected messages still
 * acknowledged, every kind of bad frame counted, hello restarting the
 * numbering, refused storage and failed commits never acknowledged, the
 * device vanishing and reappearing behind its symlink, and the committed
 * gseq surviving a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backlog.h"
#include "bridge.h"
#include "fakegw.h"
#include "farm/error.h"

static const uint8_t NODE[6] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6};
static const uint8_t GW[6] = {0x24, 0x0a, 0xc4, 0x00, 0x00, 0x01};

struct ctx {
  char dir[64], link[128], db[128];
  struct fd_log lg;
  struct ea_backlog *bl;
  struct ea_bridge *br;
  struct fgw gw;
  enum fp_codec codec;
  bool refuse; /* on_msg answers FARM_EIO */
  unsigned msgs[FP_MSG_TYPE_COUNT];
  unsigned ups, downs;
};

static int on_msg(void *ud, const struct fp_msg *m, int64_t now_ms)
{
  struct ctx *c = ud;
  if (c->refuse)
    return FARM_EIO;
  c->msgs[m->type]++;
  if (m->type != FP_MSG_TEL)
    return 0;
  char dev[13], body[64];
  for (int i = 0; i < 6; i++)
    snprintf(dev + 2 * i, 3, "%02x", m->u.tel.mac[i]);
  snprintf(body, sizeof body, "\"boot\":%u,\"seq\":%u", m->u.tel.boot, m->u.tel.seq);
  struct ea_row_in r = {.kind = EA_ROW_TELEMETRY,
                        .topic = "v1/farm/s/x/telemetry/env",
                        .body = body,
                        .has_key = true,
                        .device = dev,
                        .boot = m->u.tel.boot,
                        .seq = m->u.tel.seq};
  int rc = ea_backlog_add(c->bl, &r, now_ms, NULL);
  if (rc == FARM_EIO || rc == FARM_EEXIST)
    return rc;
  return 0; /* a full backlog is handled: counted there */
}

static void on_link(void *ud, bool up)
{
  struct ctx *c = ud;
  if (up)
    c->ups++;
  else
    c->downs++;
}

static void open_all(struct ctx *c)
{
  struct ea_backlog_opts bo = {
      .path = c->db, .max_bytes = 1 << 20, .dedupe_hours = 1, .probe_ms = 1};
  assert_int_equal(ea_backlog_open(&bo, &c->lg, fd_wall_ms(), &c->bl), 0);
  struct ea_bridge_opts o = {.path = c->link,
                             .baud = 921600,
                             .codec = c->codec,
                             .reopen_min_ms = 10,
                             .reopen_max_ms = 40,
                             .check_ms = 30};
  struct ea_bridge_callbacks cb = {.on_msg = on_msg, .on_link = on_link};
  assert_int_equal(ea_bridge_new(&o, c->bl, &c->lg, &cb, c, &c->br), 0);
}

static void close_all(struct ctx *c)
{
  ea_bridge_free(c->br);
  ea_backlog_close(c->bl);
  c->br = NULL;
  c->bl = NULL;
}

static int setup_codec(void **state, enum fp_codec codec)
{
  struct ctx *c = calloc(1, sizeof *c);
  strcpy(c->dir, "/tmp/eabrXXXXXX");
  if (!mkdtemp(c->dir))
    return -1;
  snprintf(c->link, sizeof c->link, "%s/ttyESP-GW", c->dir);
  snprintf(c->db, sizeof c->db, "%s/backlog.db", c->dir);
  fd_log_init(&c->lg, "test", FD_LOG_ERROR, stderr);
  c->codec = codec;
  fgw_init(&c->gw, c->link, codec);
  open_all(c);
  *state = c;
  return 0;
}

static int setup_mp(void **state)
{
  return setup_codec(state, FP_CODEC_MSGPACK);
}

static int setup_cbor(void **state)
{
  return setup_codec(state, FP_CODEC_CBOR);
}

static int teardown(void **state)
{
  struct ctx *c = *state;
  close_all(c);
  fgw_free(&c->gw);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
  int rc = system(cmd);
  free(c);
  return rc == 0 ? 0 : -1;
}

/* Runs the bridge like the agent's loop for ms; commits when asked. */
static void pump(struct ctx *c, int ms, bool commit)
{
  int64_t end = fd_mono_ms() + ms;
  while (fd_mono_ms() < end) {
    ea_bridge_tick(c->br, fd_mono_ms());
    struct pollfd p;
    if (ea_bridge_pollfd(c->br, &p)) {
      if (poll(&p, 1, 5) > 0)
        ea_bridge_on_poll(c->br, p.revents, fd_wall_ms());
    } else {
      struct timespec ts = {0, 2000000};
      nanosleep(&ts, NULL);
    }
    if (commit && (ea_backlog_dirty(c->bl) || ea_bridge_uncommitted(c->br)))
      ea_bridge_committed(c->br, ea_backlog_commit(c->bl) == 0);
    /* The gateway side reads what the bridge wrote. */
    fgw_serve(&c->gw, 0, 0);
  }
}

static struct ea_bridge_stats stats(struct ctx *c)
{
  struct ea_bridge_stats st;
  ea_bridge_stats(c->br, &st);
  return st;
}

static uint64_t depth(struct ctx *c)
{
  struct ea_backlog_stats st;
  ea_backlog_stats(c->bl, 0, &st);
  return st.depth;
}

static void send_tels(struct ctx *c, uint32_t from, uint32_t to)
{
  for (uint32_t s = from; s <= to; s++) {
    struct fp_msg m;
    fgw_tel(&m, NODE, 1, s, 20.0 + s);
    fgw_send(&c->gw, &m);
  }
}

static void test_rx_only_after_commit(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, false);
  assert_true(stats(c).open);
  assert_int_equal(c->ups, 1);
  send_tels(c, 1, 5);
  pump(c, 100, false);
  assert_int_equal(c->msgs[FP_MSG_TEL], 5);
  assert_int_equal(stats(c).pending_gseq, 5);
  /* Accepted but not committed: the gateway hears nothing. */
  assert_int_equal(c->gw.rx_count, 0);
  assert_int_equal(c->gw.nkept, 5);
  assert_true(ea_backlog_dirty(c->bl));
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 5);
  assert_int_equal(c->gw.nkept, 0);
  assert_int_equal(depth(c), 5);
  struct ea_bridge_stats st = stats(c);
  assert_int_equal(st.committed_gseq, 5);
  assert_int_equal(st.accepted, 5);
  assert_int_equal(st.frames.frames, 5);
  assert_true(st.last_frame_ms > 0);
}

static void test_resend_and_gap(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  send_tels(c, 1, 3);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 3);
  /* A resend of 2 (its rx was lost): dropped, answered with rx 3. */
  struct fp_msg m;
  fgw_tel(&m, NODE, 1, 2, 22.0);
  c->gw.rx_count = 0;
  fgw_send_as(&c->gw, &m, 2);
  pump(c, 60, true);
  assert_int_equal(stats(c).resends, 1);
  assert_int_equal(c->gw.rx_count, 1);
  assert_int_equal(depth(c), 3);
  /* 5 before 4: a hole is never acknowledged past. */
  fgw_tel(&m, NODE, 1, 5, 25.0);
  fgw_send_as(&c->gw, &m, 5);
  pump(c, 60, true);
  assert_int_equal(stats(c).gaps, 1);
  assert_int_equal(c->gw.acked, 3);
  assert_int_equal(depth(c), 3);
  fgw_tel(&m, NODE, 1, 4, 24.0);
  fgw_send_as(&c->gw, &m, 4);
  fgw_tel(&m, NODE, 1, 5, 25.0);
  fgw_send_as(&c->gw, &m, 5);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 5);
  assert_int_equal(depth(c), 5);
}

static void test_bad_frames_counted(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  send_tels(c, 1, 1);
  pump(c, 40, true);
  /* Garbage between frames, an empty frame, a frame with a bad CRC, a
   * COBS code pointing past the end, and a run without a delimiter longer
   * than the largest frame (BAD-INPUTS 1-3). */
  uint8_t junk[] = {0x00, 0x03, 0x11, 0x22, 0x00, 0x05, 0x01, 0x02, 0x03, 0x00};
  fgw_write(&c->gw, junk, sizeof junk);
  struct fp_msg m;
  fgw_tel(&m, NODE, 1, 2, 22.0);
  uint8_t payload[FP_MSG_MAX_ENCODED], frame[FP_FRAME_MAX_WIRE];
  size_t plen, flen;
  m.gseq = 2;
  assert_int_equal(fp_msg_encode(&m, c->codec, payload, sizeof payload, &plen), 0);
  assert_int_equal(fp_frame_encode(payload, plen, frame, sizeof frame, &flen), 0);
  frame[flen / 2] ^= 0x40; /* flips a bit: CRC mismatch (or a COBS fault) */
  fgw_write(&c->gw, frame, flen);
  static uint8_t run[3000];
  memset(run, 0x41, sizeof run);
  run[sizeof run - 1] = 0;
  fgw_write(&c->gw, run, sizeof run);
  pump(c, 80, true);
  struct ea_bridge_stats st = stats(c);
  uint32_t bad = st.frames.empty + st.frames.shortf + st.frames.cobs + st.frames.crc;
  assert_true(st.frames.empty >= 1);
  assert_true(bad >= 3);
  assert_int_equal(st.frames.oversize, 1);
  assert_int_equal(st.accepted, 1);
  /* The link resynchronised: the next good frame goes through. */
  send_tels(c, 2, 2);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 2);
  assert_int_equal(depth(c), 2);
}

static void test_rejected_message_still_acknowledged(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  /* Valid frame, message out of range (temp_c 999, protocol §4.6): it can
   * never be accepted, so it is acknowledged and counted (protocol §4.3). */
  struct fp_writer w;
  uint8_t buf[256];
  fp_writer_init(&w, c->codec, buf, sizeof buf);
  fp_write_map(&w, 8);
  fp_write_str(&w, "t", 1);
  fp_write_str(&w, "tel", 3);
  fp_write_str(&w, "gseq", 4);
  fp_write_uint(&w, 1);
  fp_write_str(&w, "mac", 3);
  fp_write_bin(&w, NODE, 6);
  fp_write_str(&w, "rssi", 4);
  fp_write_int(&w, -50);
  fp_write_str(&w, "boot", 4);
  fp_write_uint(&w, 1);
  fp_write_str(&w, "seq", 3);
  fp_write_uint(&w, 1);
  fp_write_str(&w, "up_ms", 5);
  fp_write_uint(&w, 10);
  fp_write_str(&w, "v", 1);
  fp_write_map(&w, 1);
  fp_write_str(&w, "temp_c", 6);
  fp_write_float(&w, 999.0);
  assert_int_equal(fp_writer_error(&w), 0);
  uint8_t frame[FP_FRAME_MAX_WIRE];
  size_t flen;
  assert_int_equal(fp_frame_encode(buf, fp_writer_len(&w), frame, sizeof frame, &flen), 0);
  fgw_write(&c->gw, frame, flen);
  c->gw.gseq = 1;
  /* And a frame that is not even a map: no gseq to acknowledge. */
  uint8_t notmap[] = {0x01};
  assert_int_equal(fp_frame_encode(notmap, 1, frame, sizeof frame, &flen), 0);
  fgw_write(&c->gw, frame, flen);
  send_tels(c, 2, 2);
  pump(c, 80, true);
  struct ea_bridge_stats st = stats(c);
  assert_int_equal(st.decode_errors, 2);
  assert_int_equal(st.by_code[-FARM_ERANGE], 1);
  assert_int_equal(st.by_code[-FARM_ETYPE], 1);
  assert_int_equal(st.unreadable, 1);
  assert_int_equal(c->gw.acked, 2);
  assert_int_equal(depth(c), 1);
  assert_int_equal(c->msgs[FP_MSG_TEL], 1);
}

static void test_hello_restarts_numbering(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  struct fp_msg m;
  fgw_hello(&m, GW, 7);
  fgw_send(&c->gw, &m);
  send_tels(c, 1, 9);
  pump(c, 80, true);
  assert_int_equal(c->gw.acked, 10);
  /* The gateway restarts: hello is gseq 1 again. */
  c->gw.gseq = 0;
  c->gw.nkept = 0;
  c->gw.acked = 0;
  fgw_hello(&m, GW, 8);
  fgw_send(&c->gw, &m);
  send_tels(c, 10, 11);
  pump(c, 80, true);
  assert_int_equal(c->gw.acked, 3);
  assert_int_equal(c->msgs[FP_MSG_HELLO], 2);
  assert_int_equal(depth(c), 11);
  assert_int_equal(stats(c).numbering_resets, 1);
  /* The same hello again (its rx was lost): a resend, not a restart. */
  fgw_hello(&m, GW, 8);
  fgw_send_as(&c->gw, &m, 1);
  pump(c, 60, true);
  assert_int_equal(c->msgs[FP_MSG_HELLO], 2);
  assert_int_equal(stats(c).numbering_resets, 1);
  assert_int_equal(stats(c).committed_gseq, 3);
  /* A restart whose hello was lost: a new reading under a low gseq is
   * stored, not mistaken for a resend. */
  fgw_tel(&m, NODE, 2, 1, 20.0);
  fgw_send_as(&c->gw, &m, 2);
  pump(c, 60, true);
  assert_int_equal(depth(c), 12);
  assert_int_equal(stats(c).numbering_resets, 2);
}

static void test_storage_refusal_and_failed_commit(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  c->refuse = true;
  send_tels(c, 1, 3);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 0);
  assert_true(stats(c).storage_refusals >= 1);
  assert_int_equal(depth(c), 0);
  c->refuse = false;
  fgw_resend(&c->gw);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 3);
  assert_int_equal(depth(c), 3);

  /* Accepted, then the commit fails (the loop reports it): no rx, and the
   * resends are taken again. */
  send_tels(c, 4, 5);
  pump(c, 60, false);
  assert_int_equal(stats(c).pending_gseq, 5);
  ea_bridge_committed(c->br, false);
  assert_int_equal(stats(c).pending_gseq, 3);
  fgw_resend(&c->gw);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 5);
}

static void test_wrong_direction(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  struct fp_msg m = {.type = FP_MSG_PING, .id = 4};
  uint8_t payload[64], frame[128];
  size_t plen, flen;
  assert_int_equal(fp_msg_encode(&m, c->codec, payload, sizeof payload, &plen), 0);
  assert_int_equal(fp_frame_encode(payload, plen, frame, sizeof frame, &flen), 0);
  fgw_write(&c->gw, frame, flen);
  pump(c, 40, true);
  assert_int_equal(stats(c).wrong_direction, 1);
  assert_int_equal(stats(c).accepted, 0);
}

/* The udev symlink is removed (unplug) and recreated for a new device
 * node (plug): the bridge notices, reopens with backoff, and the gateway,
 * which kept its unacknowledged frames, resends them. */
static void test_unplug_and_replug(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  send_tels(c, 1, 2);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 2);
  /* Half a frame, then the cable goes. */
  struct fp_msg m;
  fgw_tel(&m, NODE, 1, 3, 23.0);
  uint8_t payload[FP_MSG_MAX_ENCODED], frame[FP_FRAME_MAX_WIRE];
  size_t plen, flen;
  m.gseq = 3;
  assert_int_equal(fp_msg_encode(&m, c->codec, payload, sizeof payload, &plen), 0);
  assert_int_equal(fp_frame_encode(payload, plen, frame, sizeof frame, &flen), 0);
  fgw_write(&c->gw, frame, flen / 2);
  fgw_unplug(&c->gw);
  pump(c, 120, true);
  struct ea_bridge_stats st = stats(c);
  assert_false(st.open);
  assert_int_equal(st.losses, 1);
  assert_true(st.open_failures >= 1);
  assert_int_equal(c->downs, 1);
  /* While unplugged the gateway queued more. */
  fgw_replug(&c->gw);
  c->gw.nkept = 0;
  send_tels(c, 3, 4);
  pump(c, 150, true);
  st = stats(c);
  assert_true(st.open);
  assert_int_equal(st.opens, 2);
  assert_int_equal(c->ups, 2);
  assert_int_equal(c->gw.acked, 4);
  assert_int_equal(depth(c), 4);
  /* The partial frame was not counted as a rejection. */
  assert_int_equal(st.frames.crc + st.frames.cobs + st.frames.shortf, 0);

  /* Replaced without a gap: the link now names another pty while the old
   * one is still there. */
  int old_master = dup(c->gw.master);
  int old_slave = dup(c->gw.slave);
  c->gw.master = c->gw.slave = -1;
  fgw_replug(&c->gw);
  pump(c, 120, true);
  assert_int_equal(stats(c).opens, 3);
  send_tels(c, 5, 5);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 5);
  close(old_master);
  close(old_slave);
}

static void test_committed_gseq_survives_restart(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  send_tels(c, 1, 4);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 4);
  close_all(c);
  open_all(c);
  c->gw.rx_count = 0;
  pump(c, 60, true);
  /* On open it says what it has (signs of life, protocol §4.3). */
  assert_int_equal(c->gw.rx_count, 1);
  assert_int_equal(stats(c).committed_gseq, 4);
  /* An event without (boot, seq) resent after the restart is not taken
   * twice: the numbering says it was committed. */
  struct fp_msg m = {.type = FP_MSG_EVT};
  memcpy(m.u.evt.mac, NODE, 6);
  strcpy(m.u.evt.name, "relay.changed");
  fgw_send_as(&c->gw, &m, 4);
  pump(c, 40, true);
  assert_int_equal(c->msgs[FP_MSG_EVT], 0);
  assert_int_equal(stats(c).resends, 1);
  send_tels(c, 5, 5);
  pump(c, 60, true);
  assert_int_equal(c->gw.acked, 5);
}

static void test_requests_reach_the_gateway(void **state)
{
  struct ctx *c = *state;
  pump(c, 30, true);
  struct fp_msg m = {.type = FP_MSG_CMD, .id = 77};
  memcpy(m.u.cmd.mac, NODE, 6);
  strcpy(m.u.cmd.name, "relay.set");
  m.u.cmd.n_args = 1;
  strcpy(m.u.cmd.args[0].key, "ch");
  m.u.cmd.args[0].kind = FP_ARG_INT;
  m.u.cmd.args[0].v.i = 2;
  assert_int_equal(ea_bridge_send(c->br, &m), 0);
  pump(c, 60, true);
  const struct fgw_cmd *e = fgw_ledger_find(&c->gw, 77);
  assert_non_null(e);
  assert_string_equal(e->name, "relay.set");
  /* Its acks came back numbered, were handed over and acknowledged. */
  assert_int_equal(c->msgs[FP_MSG_ACK], 2);
  assert_int_equal(c->gw.acked, 2);
  fgw_unplug(&c->gw);
  pump(c, 40, true);
  assert_int_equal(ea_bridge_send(c->br, &m), FARM_ECLOSED);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rx_only_after_commit, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_rx_only_after_commit, setup_cbor, teardown),
      cmocka_unit_test_setup_teardown(test_resend_and_gap, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_bad_frames_counted, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_rejected_message_still_acknowledged, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_rejected_message_still_acknowledged, setup_cbor,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hello_restarts_numbering, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_storage_refusal_and_failed_commit, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_direction, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_unplug_and_replug, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_committed_gseq_survives_restart, setup_mp, teardown),
      cmocka_unit_test_setup_teardown(test_requests_reach_the_gateway, setup_cbor, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
