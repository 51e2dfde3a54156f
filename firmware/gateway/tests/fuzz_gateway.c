/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the gateway core's untrusted inputs: the radio (any
 * sender, any bytes) and the serial link (any bytes from the host), mixed
 * with the clock, send outcomes and cable pulls, against the fake HAL. The
 * input is a script of records: one op byte, then its data. A pairing
 * window is open and one peer known from the start, so frames reach the
 * deep paths (replay checks, relaying, commands). Every run checks the
 * core's invariants: what it writes is always valid frames of valid
 * messages, no more than radio_inflight frames are on the air, the
 * hardware peer list never exceeds its slots, and with encryption (bit 1
 * of the first byte) no peer ever loses its slot.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_hal.h"
#include "farm/error.h"
#include "fp/frame.h"
#include "fp/msg.h"
#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz {
  struct hal_port port;
  struct gw gw;
  struct gw_config cfg;
  struct fp_frame_decoder host;
  size_t host_off;
  struct fp_msg m;
};

/* The host side: every frame the gateway wrote must decode. */
static void check_output(struct fuzz *f)
{
  while (f->host_off < f->port.to_host_len) {
    size_t used, plen;
    const uint8_t *payload;
    int rc = fp_frame_feed(&f->host, f->port.to_host + f->host_off,
                           f->port.to_host_len - f->host_off, &used, &payload, &plen);
    f->host_off += used;
    if (rc == 0 && payload != NULL) {
      rc = fp_msg_decode(payload, plen, f->cfg.codec, &f->m, NULL);
      assert(rc == 0 && fp_msg_is_uplink(f->m.type) && f->m.gseq >= 1);
    }
  }
  /* Keep the capture buffers bounded over long inputs. */
  if (f->port.to_host_len > FAKE_TO_HOST / 2) {
    fp_frame_decoder_reset(&f->host);
    f->port.to_host_len = f->host_off = 0;
  }
  if (f->port.nsent > FAKE_SENDS / 2)
    f->port.nsent = 0;
  assert(f->port.nhw <= HAL_RADIO_HW_PEERS);
  assert(!f->cfg.encrypt || f->port.dels == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const uint8_t known[HAL_MAC_LEN] = {0x30, 0xae, 0xa4, 0x00, 0x00, 0x01};
  static struct fuzz f; /* large: kept off the stack */
  memset(&f, 0, sizeof f);
  fake_init(&f.port);
  f.port.quiet = true;
  gw_config_default(&f.cfg);
  f.cfg.codec = size > 0 && (data[0] & 1) ? FP_CODEC_CBOR : FP_CODEC_MSGPACK;
  f.cfg.encrypt = size > 0 && (data[0] & 2);
  f.cfg.pair_boot_s = 600;
  f.cfg.stats_ms = 5000;
  fp_frame_decoder_init(&f.host);
  if (gw_init(&f.gw, &f.cfg, &f.port) != 0)
    abort();
  /* One node joined (boot 1), so its frames pass the sender check. */
  const uint8_t join[] = {1, 0x03, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0xa2, 'f', 'w', 0xa1, '1'};
  gw_on_radio_rx(&f.gw, known, join, sizeof join, -50);

  size_t i = size > 0 ? 1 : 0;
  while (i + 2 <= size && !gw_halted(&f.gw)) {
    uint8_t op = data[i++];
    size_t len = data[i++];
    if (len > size - i)
      len = size - i;
    const uint8_t *d = data + i;
    i += len;
    switch (op % 8) {
    case 0: /* radio frame from the known peer */
      gw_on_radio_rx(&f.gw, known, d, len, (int8_t)(len > 0 ? d[0] : 0));
      break;
    case 1: { /* radio frame from a sender named by the first 6 bytes */
      uint8_t mac[HAL_MAC_LEN] = {0};
      size_t k = len < HAL_MAC_LEN ? len : HAL_MAC_LEN;
      memcpy(mac, d, k);
      gw_on_radio_rx(&f.gw, mac, d + k, len - k, -70);
      break;
    }
    case 2: /* bytes from the host */
      fake_host_write(&f.port, d, len);
      gw_tick(&f.gw);
      break;
    case 3: /* a well-framed payload from the host */
      if (len > 0) {
        static uint8_t wire[FP_FRAME_MAX_WIRE];
        size_t n;
        if (fp_frame_encode(d, len, wire, sizeof wire, &n) == 0)
          fake_host_write(&f.port, wire, n);
      }
      gw_tick(&f.gw);
      break;
    case 4: /* time passes */
      fake_advance(&f.port, len > 0 ? (uint64_t)d[0] * 50 : 1);
      gw_tick(&f.gw);
      break;
    case 5: /* a send outcome */
      gw_on_radio_sent(&f.gw, known, len > 0 && (d[0] & 1));
      break;
    case 6: /* cable */
      f.port.connected = !f.port.connected;
      gw_tick(&f.gw);
      break;
    default: /* the host stops reading, or writes take a few bytes */
      f.port.write_blocked = len > 0 && (d[0] & 1);
      f.port.write_limit = len > 1 ? d[1] : 0;
      f.port.send_rc = len > 2 && (d[2] & 1) ? FARM_EBUSY : 0;
      gw_tick(&f.gw);
      break;
    }
    check_output(&f);
  }
  return 0;
}
