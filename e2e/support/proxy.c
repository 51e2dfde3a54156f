/* SPDX-License-Identifier: MIT */
/*
 * The TCP relay between the edge and the broker (see proxy.h): one thread,
 * one poll loop, a bounded buffer per direction so a slow side slows the
 * other instead of growing memory.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define PX_MAX 32
#define PX_BUF 65536

struct px_dir {
  char buf[PX_BUF];
  size_t len, off;
};

struct px_conn {
  int c, u;               /* client and upstream sockets, -1 once closed */
  bool dark;              /* swallowed by a cut */
  struct px_dir up, down; /* c -> u, u -> c */
};

struct e2e_proxy {
  int lfd, wake[2];
  int port, upstream;
  pthread_t thread;
  pthread_mutex_t lock;
  /* Under lock: the wishes of the test, and the statistics. */
  bool stop, cut;
  struct e2e_proxy_stats st;
  /* The thread's own. */
  bool was_cut;
  struct px_conn *conns[PX_MAX];
};

static void set_nonblock(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void close_fd(int *fd)
{
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static void drop(struct e2e_proxy *p, size_t i)
{
  struct px_conn *k = p->conns[i];
  close_fd(&k->c);
  close_fd(&k->u);
  free(k);
  p->conns[i] = NULL;
}

static void wake(struct e2e_proxy *p)
{
  char b = 1;
  if (write(p->wake[1], &b, 1) < 0) {
    /* the pipe is full: the thread is already awake */
  }
}

/* Moves bytes from fd `from` into d, then from d to fd `to`. Returns false
 * when the connection is over (EOF or an error on either side). */
static bool pump(struct e2e_proxy *p, int from, short rev_from, struct px_dir *d, int to,
                 short rev_to, unsigned long long *count)
{
  if ((rev_from & (POLLIN | POLLHUP | POLLERR)) && d->len == 0) {
    ssize_t n = read(from, d->buf, sizeof d->buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return false;
    if (n > 0) {
      d->len = (size_t)n;
      d->off = 0;
      pthread_mutex_lock(&p->lock);
      *count += (unsigned long long)n;
      pthread_mutex_unlock(&p->lock);
    }
  }
  /* Sockets are non-blocking: try to pass on at once, and again when
   * the other side can take more. */
  if (d->len > d->off) {
    ssize_t n = send(to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return false;
    if (n > 0)
      d->off += (size_t)n;
    if (d->off == d->len)
      d->len = d->off = 0;
  }
  if (rev_to & (POLLHUP | POLLERR))
    return false;
  return true;
}

/* Reads and forgets whatever a dark side sends; closes it at EOF. */
static void swallow(struct e2e_proxy *p, int *fd, short rev)
{
  if (*fd < 0 || !(rev & (POLLIN | POLLHUP | POLLERR)))
    return;
  char b[4096];
  ssize_t n = read(*fd, b, sizeof b);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    close_fd(fd);
    return;
  }
  if (n > 0) {
    pthread_mutex_lock(&p->lock);
    p->st.bytes_swallowed += (unsigned long long)n;
    pthread_mutex_unlock(&p->lock);
  }
}

static void accept_one(struct e2e_proxy *p, bool cut)
{
  int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return;
  pthread_mutex_lock(&p->lock);
  p->st.accepted++;
  pthread_mutex_unlock(&p->lock);
  size_t slot = PX_MAX;
  for (size_t i = 0; i < PX_MAX && slot == PX_MAX; i++)
    if (!p->conns[i])
      slot = i;
  int u = -1;
  if (!cut && slot < PX_MAX) {
    u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->upstream)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (u >= 0 && connect(u, (struct sockaddr *)&sa, sizeof sa) != 0)
      close_fd(&u);
  }
  if (u < 0) {
    /* Nobody answers behind the cut, or the broker is down. */
    close(c);
    pthread_mutex_lock(&p->lock);
    p->st.refused++;
    pthread_mutex_unlock(&p->lock);
    return;
  }
  set_nonblock(c);
  set_nonblock(u);
  struct px_conn *k = calloc(1, sizeof *k);
  if (!k)
    fh_die("proxy: out of memory");
  k->c = c;
  k->u = u;
  p->conns[slot] = k;
}

static void *loop(void *arg)
{
  struct e2e_proxy *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->lock);
    bool stop = p->stop, cut = p->cut;
    pthread_mutex_unlock(&p->lock);
    if (stop)
      break;
    if (cut && !p->was_cut) {
      for (size_t i = 0; i < PX_MAX; i++) {
        struct px_conn *k = p->conns[i];
        if (k) {
          k->dark = true;
          k->up.len = k->up.off = k->down.len = k->down.off = 0;
        }
      }
    } else if (!cut && p->was_cut) {
      for (size_t i = 0; i < PX_MAX; i++)
        if (p->conns[i] && p->conns[i]->dark)
          drop(p, i);
    }
    p->was_cut = cut;

    struct pollfd fds[2 + 2 * PX_MAX];
    size_t idx[2 * PX_MAX];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
    size_t active = 0, dark = 0;
    for (size_t i = 0; i < PX_MAX; i++) {
      struct px_conn *k = p->conns[i];
      if (!k)
        continue;
      if (k->dark) {
        dark++;
        /* -1 descriptors are ignored by poll. */
        idx[n - 2] = i;
        fds[n++] = (struct pollfd){.fd = k->c, .events = POLLIN};
        idx[n - 2] = i;
        fds[n++] = (struct pollfd){.fd = k->u, .events = POLLIN};
        continue;
      }
      active++;
      short ce = 0, ue = 0;
      if (k->up.len == 0)
        ce |= POLLIN;
      if (k->down.len > k->down.off)
        ce |= POLLOUT;
      if (k->down.len == 0)
        ue |= POLLIN;
      if (k->up.len > k->up.off)
        ue |= POLLOUT;
      idx[n - 2] = i;
      fds[n++] = (struct pollfd){.fd = k->c, .events = ce};
      idx[n - 2] = i;
      fds[n++] = (struct pollfd){.fd = k->u, .events = ue};
    }
    pthread_mutex_lock(&p->lock);
    p->st.active = active;
    p->st.dark = dark;
    pthread_mutex_unlock(&p->lock);

    if (poll(fds, n, 200) < 0 && errno != EINTR)
      fh_die("proxy: poll: %s", strerror(errno));
    if (fds[0].revents & POLLIN) {
      char b[64];
      while (read(p->wake[0], b, sizeof b) > 0) {
      }
    }
    if (fds[1].revents & POLLIN)
      accept_one(p, cut);
    for (nfds_t f = 2; f + 1 < n; f += 2) {
      size_t i = idx[f - 2];
      struct px_conn *k = p->conns[i];
      if (!k)
        continue;
      if (k->dark) {
        swallow(p, &k->c, fds[f].revents);
        swallow(p, &k->u, fds[f + 1].revents);
        if (k->c < 0 && k->u < 0)
          drop(p, i);
        continue;
      }
      bool ok =
          pump(p, k->c, fds[f].revents, &k->up, k->u, fds[f + 1].revents, &p->st.bytes_up) &&
          pump(p, k->u, fds[f + 1].revents, &k->down, k->c, fds[f].revents, &p->st.bytes_down);
      if (!ok)
        drop(p, i);
    }
  }
  for (size_t i = 0; i < PX_MAX; i++)
    if (p->conns[i])
      drop(p, i);
  return NULL;
}

struct e2e_proxy *e2e_proxy_start(int upstream_port)
{
  struct e2e_proxy *p = calloc(1, sizeof *p);
  if (!p)
    fh_die("proxy: out of memory");
  p->upstream = upstream_port;
  pthread_mutex_init(&p->lock, NULL);
  if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0)
    fh_die("proxy: pipe: %s", strerror(errno));
  p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(p->lfd, 16) != 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0)
    fh_die("proxy: listen: %s", strerror(errno));
  p->port = ntohs(sa.sin_port);
  if (pthread_create(&p->thread, NULL, loop, p) != 0)
    fh_die("proxy: thread");
  return p;
}

int e2e_proxy_port(const struct e2e_proxy *p)
{
  return p->port;
}

static void set_cut(struct e2e_proxy *p, bool cut)
{
  pthread_mutex_lock(&p->lock);
  p->cut = cut;
  pthread_mutex_unlock(&p->lock);
  wake(p);
}

void e2e_proxy_cut(struct e2e_proxy *p)
{
  set_cut(p, true);
}

void e2e_proxy_restore(struct e2e_proxy *p)
{
  set_cut(p, false);
}

void e2e_proxy_stats(struct e2e_proxy *p, struct e2e_proxy_stats *out)
{
  pthread_mutex_lock(&p->lock);
  *out = p->st;
  pthread_mutex_unlock(&p->lock);
}

void e2e_proxy_stop(struct e2e_proxy *p)
{
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  pthread_mutex_unlock(&p->lock);
  wake(p);
  pthread_join(p->thread, NULL);
  close(p->lfd);
  close(p->wake[0]);
  close(p->wake[1]);
  pthread_mutex_destroy(&p->lock);
  free(p);
}
