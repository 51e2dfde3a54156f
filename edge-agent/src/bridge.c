/* SPDX-License-Identifier: MIT */
/*
 * Serial bridge: the port (termios, reopen, replaced-device detection), the
 * frame and message decoders, the gseq discipline of protocol §4.3 and the
 * output queue of edge -> gateway frames.
 */
#include "bridge.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "farm/error.h"

#define OUT_CAP    16384
#define READ_CHUNK 4096
/* Backlog metadata key of the committed gseq. */
#define META_GSEQ "link_gseq"

struct ea_bridge {
  struct ea_bridge_opts o;
  char *path;
  struct ea_backlog *backlog;
  const struct fd_log *log;
  struct ea_bridge_callbacks cb;
  void *ud;
  struct fd_ratelimit rl_decode, rl_link;

  int fd;
  dev_t dev; /* st_rdev of the open device */
  ino_t ino;
  int64_t next_open_ms;
  int64_t next_check_ms;
  int backoff_ms;
  bool was_open; /* for logging the first failure only */

  struct fp_frame_decoder dec;
  struct fp_frame_counters frames_before; /* of decoders replaced at reopen */

  /* gseq state: committed is acknowledged and durable; pending is
   * accepted in the open transaction. known: a committed value exists
   * (from this run or the backlog's metadata). */
  bool known;
  uint32_t committed, pending;
  uint32_t rx_sent_for;
  bool rx_due;
  /* The last hello taken, to tell its resend from a new gateway start. */
  bool have_hello;
  uint8_t hello_mac[FP_MAC_LEN];
  uint32_t hello_boot;

  uint8_t out[OUT_CAP];
  size_t out_len;

  struct ea_bridge_stats st;
};

static speed_t speed_of(uint32_t baud)
{
  switch (baud) {
  case 1200:
    return B1200;
  case 2400:
    return B2400;
  case 4800:
    return B4800;
  case 9600:
    return B9600;
  case 19200:
    return B19200;
  case 38400:
    return B38400;
  case 57600:
    return B57600;
  case 115200:
    return B115200;
  case 230400:
    return B230400;
  case 460800:
    return B460800;
  case 500000:
    return B500000;
  case 576000:
    return B576000;
  case 921600:
    return B921600;
  case 1000000:
    return B1000000;
  case 1152000:
    return B1152000;
  case 1500000:
    return B1500000;
  case 2000000:
    return B2000000;
  case 3000000:
    return B3000000;
  case 4000000:
    return B4000000;
  default:
    return 0;
  }
}

int ea_bridge_new(const struct ea_bridge_opts *o, struct ea_backlog *backlog,
                  const struct fd_log *log, const struct ea_bridge_callbacks *cb, void *ud,
                  struct ea_bridge **out)
{
  *out = NULL;
  if (!o->path || !o->path[0] || speed_of(o->baud) == 0 || !cb || !cb->on_msg)
    return FARM_EINVAL;
  struct ea_bridge *br = calloc(1, sizeof *br);
  if (!br)
    return FARM_ENOMEM;
  br->o = *o;
  if (br->o.reopen_min_ms <= 0)
    br->o.reopen_min_ms = 100;
  if (br->o.reopen_max_ms < br->o.reopen_min_ms)
    br->o.reopen_max_ms = br->o.reopen_min_ms;
  if (br->o.check_ms <= 0)
    br->o.check_ms = 1000;
  br->path = strdup(o->path);
  if (!br->path) {
    free(br);
    return FARM_ENOMEM;
  }
  br->o.path = br->path;
  br->backlog = backlog;
  br->log = log;
  br->cb = *cb;
  br->ud = ud;
  struct fd_ratelimit rl = FD_RATELIMIT_INIT(10, 10000);
  br->rl_decode = rl;
  br->rl_link = rl;
  br->fd = -1;
  br->backoff_ms = br->o.reopen_min_ms;
  fp_frame_decoder_init(&br->dec);
  int64_t g = ea_backlog_meta_get(backlog, META_GSEQ, 0);
  if (g > 0 && g <= UINT32_MAX) {
    br->known = true;
    br->committed = br->pending = br->rx_sent_for = (uint32_t)g;
  }
  *out = br;
  return 0;
}

static void add_counters(struct fp_frame_counters *a, const struct fp_frame_counters *b)
{
  a->frames += b->frames;
  a->empty += b->empty;
  a->shortf += b->shortf;
  a->cobs += b->cobs;
  a->crc += b->crc;
  a->oversize += b->oversize;
  a->bytes += b->bytes;
}

static void close_port(struct ea_bridge *br, const char *why)
{
  if (br->fd < 0)
    return;
  close(br->fd);
  br->fd = -1;
  br->out_len = 0;
  /* A partial frame at unplug is not a rejection (BAD-INPUTS 5). */
  fp_frame_decoder_reset(&br->dec);
  br->st.losses++;
  br->st.open = false;
  br->next_open_ms = fd_mono_ms() + br->backoff_ms;
  fd_log(br->log, FD_LOG_WARN, "serial: %s lost (%s); reopening", br->path, why);
  if (br->cb.on_link)
    br->cb.on_link(br->ud, false);
}

void ea_bridge_free(struct ea_bridge *br)
{
  if (!br)
    return;
  if (br->fd >= 0)
    close(br->fd);
  free(br->path);
  free(br);
}

static int open_port(struct ea_bridge *br)
{
  int fd = open(br->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct termios t;
  if (tcgetattr(fd, &t) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  /* Raw 8N1, no flow control, no echo, no line discipline: the link is
   * binary COBS frames (DESIGN §4). */
  cfmakeraw(&t);
  t.c_cflag |= CLOCAL | CREAD;
  t.c_cflag &= ~(CRTSCTS | CSTOPB | PARENB);
  t.c_iflag &= ~(IXON | IXOFF | IXANY);
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  speed_t sp = speed_of(br->o.baud);
  if (cfsetispeed(&t, sp) != 0 || cfsetospeed(&t, sp) != 0 || tcsetattr(fd, TCSANOW, &t) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  /* One reader: a second program on the port would steal frames. */
  ioctl(fd, TIOCEXCL);
  /* No flush of what waits in the input queue: those are frames the
   * gateway sent while the port was closed, and a partial one is dropped
   * by the decoder's resynchronisation at the next 0x00. */
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  br->fd = fd;
  br->dev = sb.st_rdev;
  br->ino = sb.st_ino;
  return 0;
}

static void flush_out(struct ea_bridge *br)
{
  while (br->fd >= 0 && br->out_len > 0) {
    ssize_t n = write(br->fd, br->out, br->out_len);
    if (n > 0) {
      memmove(br->out, br->out + n, br->out_len - (size_t)n);
      br->out_len -= (size_t)n;
      br->st.tx_bytes += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    close_port(br, n < 0 ? strerror(errno) : "write returned 0");
    return;
  }
}

static int queue_msg(struct ea_bridge *br, const struct fp_msg *m)
{
  if (br->fd < 0)
    return FARM_ECLOSED;
  uint8_t payload[FP_MSG_MAX_ENCODED];
  size_t plen;
  int rc = fp_msg_encode(m, br->o.codec, payload, sizeof payload, &plen);
  if (rc != 0)
    return rc;
  uint8_t frame[FP_FRAME_MAX_WIRE];
  size_t flen;
  rc = fp_frame_encode(payload, plen, frame, sizeof frame, &flen);
  if (rc != 0)
    return rc;
  if (br->out_len + flen > OUT_CAP) {
    br->st.tx_dropped++;
    return FARM_ENOSPC;
  }
  memcpy(br->out + br->out_len, frame, flen);
  br->out_len += flen;
  br->st.tx_frames++;
  flush_out(br);
  return 0;
}

int ea_bridge_send(struct ea_bridge *br, const struct fp_msg *m)
{
  assert(!fp_msg_is_uplink(m->type) && m->type != FP_MSG_RX);
  return queue_msg(br, m);
}

static void send_rx(struct ea_bridge *br, uint32_t g)
{
  if (g == 0 || br->fd < 0)
    return;
  struct fp_msg m = {.type = FP_MSG_RX, .gseq = g};
  if (queue_msg(br, &m) == 0) {
    br->st.rx_sent++;
    br->rx_sent_for = g;
  }
}

bool ea_bridge_uncommitted(const struct ea_bridge *br)
{
  return br->pending != br->committed;
}

void ea_bridge_committed(struct ea_bridge *br, bool ok)
{
  if (!ok) {
    /* The accepted messages are gone with the transaction: take their
     * resends again. */
    br->pending = br->committed;
    return;
  }
  if (br->pending != br->committed) {
    br->committed = br->pending;
    br->known = true;
    send_rx(br, br->committed);
  }
}

/* Accepts gseq g as processed: pending moves, the metadata follows in the
 * open transaction (once per read, see on_poll). */
static void advance(struct ea_bridge *br, uint32_t g)
{
  br->pending = g;
}

/* One verified frame payload. */
static void handle_payload(struct ea_bridge *br, const uint8_t *p, size_t len, int64_t now_ms,
                           bool *stop)
{
  struct fp_msg m;
  struct fp_msg_error err;
  int rc = fp_msg_decode(p, len, br->o.codec, &m, &err);
  br->st.last_frame_ms = now_ms;
  uint32_t g = 0;
  if (rc != 0) {
    br->st.decode_errors++;
    if (-rc > 0 && -rc < EA_BRIDGE_CODES)
      br->st.by_code[-rc]++;
    char why[160];
    fp_msg_error_format(&err, why, sizeof why);
    if (fp_msg_peek_gseq(p, len, br->o.codec, &g) != 0) {
      br->st.unreadable++;
      fd_log_rl(br->log, &br->rl_decode, FD_LOG_WARN,
                "serial: dropped a message that does not decode (%s: %s) and has no gseq",
                farm_errname(rc), why);
      return;
    }
    fd_log_rl(br->log, &br->rl_decode, FD_LOG_WARN,
              "serial: rejected message gseq %u (%s: %s); acknowledged so it is not resent", g,
              farm_errname(rc), why);
  } else if (!fp_msg_is_uplink(m.type)) {
    br->st.wrong_direction++;
    fd_log_rl(br->log, &br->rl_decode, FD_LOG_WARN,
              "serial: dropped '%s' from the gateway (an edge -> gateway type)",
              fp_msg_type_name(m.type));
    return;
  } else {
    g = m.gseq;
  }
  if (*stop)
    return;

  bool is_hello = rc == 0 && m.type == FP_MSG_HELLO;
  bool first = !br->known && br->pending == 0;
  if (is_hello && br->have_hello && g <= br->pending && m.u.hello.boot == br->hello_boot &&
      memcmp(m.u.hello.mac, br->hello_mac, FP_MAC_LEN) == 0) {
    /* The same start's hello again: its rx was lost. */
    br->st.resends++;
    br->rx_due = true;
    return;
  }
  if (is_hello) {
    /* protocol §4.3: hello restarts the numbering. */
    if (br->known || br->pending)
      br->st.numbering_resets++;
    fd_log(br->log, FD_LOG_INFO, "serial: gateway hello (gseq %u): numbering restarts", g);
  } else if (first) {
    /* No numbering known (first run): take the first message as the base. */
  } else if (g <= br->pending) {
    /* A resend, unless it is a reading never stored: then the gateway
     * restarted and its hello was lost. The backlog's deduplication
     * decides which. */
    if (rc == 0 && m.type == FP_MSG_TEL) {
      int hrc = br->cb.on_msg(br->ud, &m, now_ms);
      if (hrc == FARM_EIO) {
        br->st.storage_refusals++;
        *stop = true;
        return;
      }
      if (hrc != FARM_EEXIST) {
        br->st.numbering_resets++;
        br->st.accepted++;
        fd_log_rl(br->log, &br->rl_link, FD_LOG_WARN,
                  "serial: new reading under gseq %u <= %u: the gateway restarted unseen", g,
                  br->pending);
        advance(br, g);
        return;
      }
    }
    br->st.resends++;
    br->rx_due = true;
    return;
  } else if (g != br->pending + 1) {
    br->st.gaps++;
    fd_log_rl(br->log, &br->rl_link, FD_LOG_WARN,
              "serial: gseq %u after %u: a frame was lost; waiting for the resend", g, br->pending);
    br->rx_due = true;
    return;
  }

  if (rc == 0) {
    int hrc = br->cb.on_msg(br->ud, &m, now_ms);
    if (hrc == FARM_EIO) {
      br->st.storage_refusals++;
      *stop = true;
      return;
    }
    br->st.accepted++;
  }
  if (is_hello) {
    br->have_hello = true;
    br->hello_boot = m.u.hello.boot;
    memcpy(br->hello_mac, m.u.hello.mac, FP_MAC_LEN);
  }
  advance(br, g);
}

void ea_bridge_on_poll(struct ea_bridge *br, short revents, int64_t now_ms)
{
  if (br->fd < 0)
    return;
  if (revents & POLLOUT)
    flush_out(br);
  if (br->fd < 0)
    return;
  uint32_t before = br->pending;
  bool stop = false;
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    uint8_t buf[READ_CHUNK];
    /* Bounded work per call so timers and the other sources get a turn. */
    for (int rounds = 0; rounds < 16; rounds++) {
      ssize_t n = read(br->fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n <= 0) {
        /* EOF or EIO: a pty whose other end went away, or a USB device
         * that was unplugged. */
        close_port(br, n == 0 ? "end of file" : strerror(errno));
        break;
      }
      size_t off = 0;
      while (off < (size_t)n) {
        size_t used;
        const uint8_t *payload;
        size_t plen;
        int rc = fp_frame_feed(&br->dec, buf + off, (size_t)n - off, &used, &payload, &plen);
        off += used;
        if (rc == 0 && payload)
          handle_payload(br, payload, plen, now_ms, &stop);
        else if (rc != 0)
          fd_log_rl(br->log, &br->rl_decode, FD_LOG_WARN, "serial: bad frame dropped (%s)",
                    farm_strerror(rc));
      }
      if ((size_t)n < sizeof buf)
        break;
    }
  }
  if (stop) {
    /* Storage refused: nothing of this transaction will be acknowledged. */
    br->pending = br->committed;
  } else if (br->pending != before) {
    if (ea_backlog_meta_set(br->backlog, META_GSEQ, br->pending) != 0) {
      br->st.storage_refusals++;
      br->pending = br->committed;
    }
  }
  if (br->rx_due && br->pending == br->committed) {
    /* Resends and gaps: answer with what is committed so the gateway
     * forgets what we have and resends from the hole. */
    br->rx_due = false;
    send_rx(br, br->committed);
  }
  if (br->fd >= 0 && (revents & (POLLHUP | POLLERR)) && !(revents & POLLIN))
    close_port(br, "hang-up");
}

int ea_bridge_tick(struct ea_bridge *br, int64_t mono_ms)
{
  if (br->fd < 0) {
    if (mono_ms < br->next_open_ms)
      return (int)(br->next_open_ms - mono_ms);
    int rc = open_port(br);
    if (rc != 0) {
      br->st.open_failures++;
      if (br->was_open || br->st.open_failures == 1)
        fd_log(br->log, FD_LOG_WARN, "serial: cannot open %s: %s (retrying)", br->path,
               strerror(-rc));
      br->was_open = false;
      br->next_open_ms = mono_ms + br->backoff_ms;
      br->backoff_ms =
          br->backoff_ms * 2 > br->o.reopen_max_ms ? br->o.reopen_max_ms : br->backoff_ms * 2;
      return (int)(br->next_open_ms - mono_ms);
    }
    add_counters(&br->frames_before, &br->dec.count);
    fp_frame_decoder_init(&br->dec);
    br->backoff_ms = br->o.reopen_min_ms;
    br->was_open = true;
    br->st.opens++;
    br->st.open = true;
    br->next_check_ms = mono_ms + br->o.check_ms;
    fd_log(br->log, FD_LOG_INFO, "serial: opened %s at %u bit/s (%s)", br->path, br->o.baud,
           fp_codec_name(br->o.codec));
    /* Signs of life (protocol §4.3): the gateway resends what it kept. */
    if (br->known)
      send_rx(br, br->committed);
    if (br->cb.on_link)
      br->cb.on_link(br->ud, true);
    return br->o.check_ms;
  }
  if (mono_ms >= br->next_check_ms) {
    br->next_check_ms = mono_ms + br->o.check_ms;
    struct stat sb;
    /* The udev symlink was removed or now names another device. */
    if (stat(br->path, &sb) != 0)
      close_port(br, "the device path is gone");
    else if (sb.st_rdev != br->dev || sb.st_ino != br->ino)
      close_port(br, "the device path names another device");
    if (br->fd < 0)
      return 0;
  }
  return (int)(br->next_check_ms - mono_ms);
}

bool ea_bridge_pollfd(const struct ea_bridge *br, struct pollfd *pfd)
{
  if (br->fd < 0)
    return false;
  pfd->fd = br->fd;
  pfd->events = POLLIN | (br->out_len ? POLLOUT : 0);
  pfd->revents = 0;
  return true;
}

void ea_bridge_stats(const struct ea_bridge *br, struct ea_bridge_stats *st)
{
  *st = br->st;
  st->frames = br->frames_before;
  add_counters(&st->frames, &br->dec.count);
  st->committed_gseq = br->committed;
  st->pending_gseq = br->pending;
  st->open = br->fd >= 0;
}
