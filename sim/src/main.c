/* SPDX-License-Identifier: MIT */
/*
 * farm-sim: a whole farm in one process (docs/farm-sim.md). It builds the
 * simulated world (fsim/world.h), paces its simulated clock to real time
 * (times --speed) so a real edge agent can talk to it, bridges the
 * gateway's USB CDC to a pseudo-terminal, serves control commands on a Unix
 * socket, writes the ledger, and on SIGINT or SIGTERM stops cleanly: ledger
 * flushed, symlink and socket removed (NVS is on disk after every commit).
 * Host program: POSIX, one thread, poll(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "farm/error.h"
#include "fsim/control.h"
#include "fsim/ledger.h"
#include "fsim/options.h"
#include "fsim/world.h"

#define MAX_CLIENTS 8
#define IO_CHUNK    4096
/* While nobody has the pty open, how often to look whether someone does
 * (a master reports POLLHUP for as long as no slave is open). */
#define READER_POLL_MS 20

/* One control connection: a line being read and answers being written.
 * out is malloc'd and grows; freed when the client goes. */
struct client {
  int fd;
  char line[FSIM_CONTROL_LINE_MAX + 1];
  size_t len;
  bool overlong; /* dropping the rest of a line that was too long */
  char *out;
  size_t out_len, out_cap;
};

struct app {
  struct fsim_options opt;
  struct fsim_world *w;
  struct fsim_control ctl;
  struct fsim_ledger ledger;
  bool have_ledger;

  int master;
  char pts[128];
  bool linked;

  int listen_fd;
  bool bound;
  struct client clients[MAX_CLIENTS];

  /* bytes between the simulated serial port and the pty */
  uint8_t to_pty[IO_CHUNK];
  size_t to_pty_len, to_pty_off;
  uint8_t from_pty[IO_CHUNK];
  size_t from_pty_len, from_pty_off;
};

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  /* Nothing to do if the pipe is full: a stop is already pending. */
  ssize_t r = write(signal_pipe[1], &b, 1);
  (void)r;
  errno = saved;
}

static double real_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int set_nonblock(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -1;
  return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- Pseudo-terminal -------------------------------------------------------- */

static int pty_open(struct app *a)
{
  int slave;
  if (openpty(&a->master, &slave, a->pts, NULL, NULL) != 0) {
    fprintf(stderr, "farm-sim: openpty: %s\n", strerror(errno));
    return -1;
  }
  /* Raw: no echo (it would loop frames back into the gateway), no line
   * editing, no CR/LF translation, 8-bit bytes. The setting belongs to the
   * pty pair and survives readers opening and closing it. */
  struct termios t;
  if (tcgetattr(slave, &t) == 0) {
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
  }
  /* Our own slave descriptor would hide whether a reader has the port
   * open: close it, so POLLHUP on the master means "no reader". */
  close(slave);
  if (set_nonblock(a->master) != 0) {
    fprintf(stderr, "farm-sim: pty: %s\n", strerror(errno));
    return -1;
  }
  if (a->opt.serial != NULL) {
    struct stat st;
    if (lstat(a->opt.serial, &st) == 0) {
      if (!S_ISLNK(st.st_mode)) {
        fprintf(stderr, "farm-sim: %s exists and is not a symlink\n", a->opt.serial);
        return -1;
      }
      unlink(a->opt.serial); /* left by an earlier run */
    }
    if (symlink(a->pts, a->opt.serial) != 0) {
      fprintf(stderr, "farm-sim: symlink %s: %s\n", a->opt.serial, strerror(errno));
      return -1;
    }
    a->linked = true;
  }
  return 0;
}

/* True while some process has the slave side open. */
static bool pty_has_reader(int master)
{
  struct pollfd p = {master, 0, 0};
  return poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
}

/* The reader is gone: whatever it had not read is lost with the cable, so
 * the next reader does not get stale bytes. The slave's input queue is
 * flushed through a short-lived descriptor of our own. */
static void pty_forget(struct app *a)
{
  int fd = open(a->pts, O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (fd >= 0) {
    tcflush(fd, TCIOFLUSH);
    close(fd);
  }
  uint8_t junk[IO_CHUNK];
  while (read(a->master, junk, sizeof junk) > 0) {
  }
  a->to_pty_len = a->to_pty_off = 0;
  a->from_pty_len = a->from_pty_off = 0;
}

/* Bytes from the reader into the gateway. */
static void pty_input(struct app *a)
{
  if (a->from_pty_off == a->from_pty_len) {
    ssize_t r = read(a->master, a->from_pty, sizeof a->from_pty);
    if (r <= 0)
      return; /* EAGAIN, or EIO once the reader is gone: seen by the HUP check */
    a->from_pty_len = (size_t)r;
    a->from_pty_off = 0;
  }
  if (!fsim_cable(a->w)) {
    /* The cable is held out (control `unplug`): the bytes go nowhere. */
    a->from_pty_len = a->from_pty_off = 0;
    return;
  }
  size_t written = 0;
  if (fsim_host_write(a->w, a->from_pty + a->from_pty_off, a->from_pty_len - a->from_pty_off,
                      &written) == 0)
    a->from_pty_off += written;
}

/* Bytes from the gateway to the reader. */
static void pty_output(struct app *a)
{
  for (;;) {
    if (a->to_pty_off == a->to_pty_len) {
      size_t got = 0;
      a->to_pty_len = a->to_pty_off = 0;
      if (fsim_host_read(a->w, a->to_pty, sizeof a->to_pty, &got) != 0 || got == 0)
        return;
      a->to_pty_len = got;
    }
    ssize_t r = write(a->master, a->to_pty + a->to_pty_off, a->to_pty_len - a->to_pty_off);
    if (r <= 0)
      return; /* full: the gateway's own buffer holds the rest */
    a->to_pty_off += (size_t)r;
  }
}

/* ---- Control socket ----------------------------------------------------------- */

static int control_open(struct app *a)
{
  const char *path = a->opt.control;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "farm-sim: control path too long: %s\n", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      fprintf(stderr, "farm-sim: %s exists and is not a socket\n", path);
      return -1;
    }
    unlink(path); /* left by an earlier run */
  }
  a->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (a->listen_fd < 0 || set_nonblock(a->listen_fd) != 0 ||
      bind(a->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "farm-sim: control socket %s: %s\n", path, strerror(errno));
    return -1;
  }
  a->bound = true;
  if (listen(a->listen_fd, MAX_CLIENTS) != 0) {
    fprintf(stderr, "farm-sim: listen %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static void client_close(struct client *c)
{
  close(c->fd);
  free(c->out);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

static void client_emit(void *ctx, const char *line)
{
  struct client *c = ctx;
  size_t need = c->out_len + strlen(line) + 1;
  if (need > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 1024;
    while (cap < need)
      cap *= 2;
    char *p = realloc(c->out, cap);
    if (p == NULL)
      return; /* the client gets a short answer; the simulation goes on */
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, line, strlen(line));
  c->out_len += strlen(line);
  c->out[c->out_len++] = '\n';
}

static void client_flush(struct client *c)
{
  while (c->out_len > 0) {
    ssize_t r = write(c->fd, c->out, c->out_len);
    if (r <= 0) {
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        client_close(c);
      return;
    }
    memmove(c->out, c->out + r, c->out_len - (size_t)r);
    c->out_len -= (size_t)r;
  }
}

static void client_input(struct app *a, struct client *c)
{
  char buf[512];
  ssize_t r = read(c->fd, buf, sizeof buf);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    client_close(c);
    return;
  }
  for (ssize_t i = 0; i < r; i++) {
    char ch = buf[i];
    if (ch == '\n') {
      if (c->overlong)
        client_emit(c, "error: line too long");
      else {
        c->line[c->len] = '\0';
        fsim_control_exec(&a->ctl, c->line, client_emit, c);
      }
      c->len = 0;
      c->overlong = false;
    } else if (c->len < FSIM_CONTROL_LINE_MAX) {
      c->line[c->len++] = ch;
    } else {
      c->overlong = true;
    }
  }
  client_flush(c);
}

static void control_accept(struct app *a)
{
  int fd = accept(a->listen_fd, NULL, NULL);
  if (fd < 0)
    return;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (a->clients[i].fd < 0) {
      set_nonblock(fd);
      a->clients[i].fd = fd;
      return;
    }
  }
  static const char full[] = "error: too many control connections\n";
  ssize_t r = write(fd, full, sizeof full - 1);
  (void)r;
  close(fd);
}

/* ---- Log and announcements ---------------------------------------------------- */

static void announce(struct app *a)
{
  char hex[2 * HAL_MAC_LEN + 1];
  printf("farm-sim: pty %s\n", a->pts);
  if (a->linked)
    printf("farm-sim: serial %s -> %s\n", a->opt.serial, a->pts);
  if (a->opt.control != NULL)
    printf("farm-sim: control %s\n", a->opt.control);
  fsim_mac_hex(fsim_gateway_mac(a->w), hex);
  printf("farm-sim: gateway %s codec %s channel %u\n", hex, fp_codec_name(a->opt.cfg.codec),
         (unsigned)a->opt.cfg.channel);
  for (unsigned i = 0; i < fsim_node_count(a->w); i++) {
    fsim_mac_hex(fsim_node_mac(a->w, i), hex);
    printf("farm-sim: node %u %s %s\n", i, hex, fsim_node_real(a->w, i) ? "real" : "synthetic");
  }
  printf("farm-sim: ready\n");
  fflush(stdout);
}

/* ---- Main loop ------------------------------------------------------------------- */

static void run(struct app *a)
{
  const double speed = a->opt.speed;
  const double t0 = real_ms();
  bool reader = false;

  for (;;) {
    uint64_t due = fsim_next_due(a->w);
    if (a->opt.duration_ms > 0 && due > a->opt.duration_ms)
      due = a->opt.duration_ms;
    int timeout = 0;
    if (!isinf(speed)) {
      double wait = t0 + (double)due / speed - real_ms();
      timeout = wait <= 0 ? 0 : wait > 1000 ? 1000 : (int)ceil(wait);
    }
    if (!reader && timeout > READER_POLL_MS)
      timeout = READER_POLL_MS;

    struct pollfd fds[3 + MAX_CLIENTS];
    int nfds = 0;
    fds[nfds++] = (struct pollfd){signal_pipe[0], POLLIN, 0};
    int pty_at = -1;
    if (reader) {
      short ev = 0;
      if (a->from_pty_off == a->from_pty_len)
        ev |= POLLIN;
      if (a->to_pty_off < a->to_pty_len)
        ev |= POLLOUT;
      pty_at = nfds;
      fds[nfds++] = (struct pollfd){a->master, ev, 0};
    }
    int listen_at = -1;
    if (a->bound) {
      listen_at = nfds;
      fds[nfds++] = (struct pollfd){a->listen_fd, POLLIN, 0};
    }
    int client_at[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++) {
      client_at[i] = -1;
      if (a->clients[i].fd >= 0) {
        client_at[i] = nfds;
        fds[nfds++] = (struct pollfd){a->clients[i].fd,
                                      (short)(POLLIN | (a->clients[i].out_len ? POLLOUT : 0)), 0};
      }
    }
    if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
      fprintf(stderr, "farm-sim: poll: %s\n", strerror(errno));
      return;
    }
    if (fds[0].revents & POLLIN)
      return; /* SIGINT or SIGTERM */

    /* Simulated time follows real time, but never skips an event: advance
     * runs everything due up to the target in order. */
    uint64_t target = due;
    if (!isinf(speed)) {
      double s = (real_ms() - t0) * speed;
      target = s < 0 ? 0 : s > 9e15 ? (uint64_t)9e15 : (uint64_t)s;
      if (a->opt.duration_ms > 0 && target > a->opt.duration_ms)
        target = a->opt.duration_ms;
    }
    fsim_advance(a->w, target);

    bool now_reader = pty_has_reader(a->master);
    if (now_reader != reader) {
      reader = now_reader;
      if (!reader)
        pty_forget(a);
      fsim_control_set_reader(&a->ctl, reader);
    }
    if (reader) {
      if (pty_at >= 0 && (fds[pty_at].revents & POLLIN))
        pty_input(a);
      else if (a->from_pty_off < a->from_pty_len)
        pty_input(a); /* the rest of what the gateway had no room for */
    }

    if (listen_at >= 0 && (fds[listen_at].revents & POLLIN))
      control_accept(a);
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (client_at[i] < 0 || a->clients[i].fd < 0)
        continue;
      short re = fds[client_at[i]].revents;
      if (re & (POLLIN | POLLHUP | POLLERR))
        client_input(a, &a->clients[i]);
      if (a->clients[i].fd >= 0 && (re & POLLOUT))
        client_flush(&a->clients[i]);
    }

    if (!fsim_cable(a->w))
      a->to_pty_len = a->to_pty_off = 0; /* in the cable when it was pulled */
    else if (reader)
      pty_output(a);

    if (a->opt.duration_ms > 0 && fsim_now(a->w) >= a->opt.duration_ms)
      return;
  }
}

int main(int argc, char **argv)
{
  struct app app;
  struct app *a = &app;
  memset(a, 0, sizeof *a);
  a->master = -1;
  a->listen_fd = -1;
  for (int i = 0; i < MAX_CLIENTS; i++)
    a->clients[i].fd = -1;
  int status = 1;

  char why[256];
  if (fsim_options_parse(argc, argv, &a->opt, why, sizeof why) != 0) {
    fprintf(stderr, "farm-sim: %s\n%s", why, fsim_usage);
    return 2;
  }
  if (a->opt.help) {
    fputs(fsim_usage, stdout);
    return 0;
  }

  if (pipe(signal_pipe) != 0 || set_nonblock(signal_pipe[0]) != 0 ||
      set_nonblock(signal_pipe[1]) != 0) {
    fprintf(stderr, "farm-sim: pipe: %s\n", strerror(errno));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL); /* a control client that left: write fails instead */

  if (a->opt.cfg.state_dir != NULL && mkdir(a->opt.cfg.state_dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "farm-sim: state dir %s: %s\n", a->opt.cfg.state_dir, strerror(errno));
    return 1;
  }
  if (a->opt.ledger != NULL) {
    if (fsim_ledger_open(&a->ledger, a->opt.ledger) != 0) {
      fprintf(stderr, "farm-sim: ledger %s: %s\n", a->opt.ledger, strerror(errno));
      return 1;
    }
    a->have_ledger = true;
    fsim_ledger_observer(&a->ledger, &a->opt.cfg.observer);
  }
  int rc = fsim_world_new(&a->opt.cfg, &a->w, why, sizeof why);
  if (rc != 0) {
    fprintf(stderr, "farm-sim: %s\n", why);
    goto close_ledger;
  }
  fsim_control_init(&a->ctl, a->w);
  if (pty_open(a) != 0)
    goto close_pty;
  if (a->opt.control != NULL && control_open(a) != 0)
    goto close_control;

  announce(a);
  run(a);
  status = 0;
  printf("farm-sim: stopped at sim_ms=%" PRIu64 "\n", fsim_now(a->w));
  fflush(stdout);

close_control:
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (a->clients[i].fd >= 0)
      client_close(&a->clients[i]);
  }
  if (a->listen_fd >= 0)
    close(a->listen_fd);
  if (a->bound)
    unlink(a->opt.control);
close_pty:
  if (a->linked) {
    /* Only our own link: another run may have replaced it meanwhile. */
    char target[sizeof a->pts];
    ssize_t n = readlink(a->opt.serial, target, sizeof target - 1);
    if (n >= 0) {
      target[n] = '\0';
      if (strcmp(target, a->pts) == 0)
        unlink(a->opt.serial);
    }
  }
  if (a->master >= 0)
    close(a->master);
  fsim_world_free(a->w);
close_ledger:
  if (a->have_ledger && fsim_ledger_close(&a->ledger) != 0) {
    fprintf(stderr, "farm-sim: ledger %s: write error\n", a->opt.ledger);
    status = 1;
  }
  close(signal_pipe[0]);
  close(signal_pipe[1]);
  return status;
}
