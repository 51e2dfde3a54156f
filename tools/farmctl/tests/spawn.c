/* SPDX-License-Identifier: MIT */
/* The child-process runner of spawn.h: posix_spawn with three pipes. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct sink {
  char *p;
  size_t len;
  size_t cap;
};

static int sink_read(int fd, struct sink *s)
{
  if (s->cap - s->len < 4096) {
    size_t cap = s->cap ? 2 * s->cap : 8192;
    char *p = realloc(s->p, cap);
    if (p == NULL)
      return -1;
    s->p = p;
    s->cap = cap;
  }
  ssize_t r = read(fd, s->p + s->len, s->cap - s->len - 1);
  if (r < 0)
    return errno == EINTR || errno == EAGAIN ? 1 : -1;
  s->len += (size_t)r;
  s->p[s->len] = '\0';
  return r == 0 ? 0 : 1;
}

int spawn_run(char *const argv[], const void *in, size_t in_len, struct spawn_result *res)
{
  int pin[2], pout[2], perr[2];
  memset(res, 0, sizeof *res);
  /* A child that exits before reading all its input must not kill us. */
  signal(SIGPIPE, SIG_IGN);
  if (pipe(pin) != 0)
    return -1;
  if (pipe(pout) != 0)
    goto close_in;
  if (pipe(perr) != 0)
    goto close_out;

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pin[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, perr[1], STDERR_FILENO);
  int fds[6] = {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1]};
  for (int i = 0; i < 6; i++)
    posix_spawn_file_actions_addclose(&fa, fds[i]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  if (rc != 0) {
    close(pin[1]);
    close(pout[0]);
    close(perr[0]);
    errno = rc;
    return -1;
  }

  struct sink out = {0}, err = {0};
  size_t written = 0;
  int win = pin[1];
  if (in_len == 0) {
    close(win);
    win = -1;
  } else {
    fcntl(win, F_SETFL, fcntl(win, F_GETFL) | O_NONBLOCK);
  }
  int open_out = 1, open_err = 1;
  while (open_out || open_err || win >= 0) {
    struct pollfd pf[3];
    int n = 0;
    int iout = -1, ierr = -1, iin = -1;
    if (open_out)
      pf[iout = n++] = (struct pollfd){.fd = pout[0], .events = POLLIN};
    if (open_err)
      pf[ierr = n++] = (struct pollfd){.fd = perr[0], .events = POLLIN};
    if (win >= 0)
      pf[iin = n++] = (struct pollfd){.fd = win, .events = POLLOUT};
    if (poll(pf, (nfds_t)n, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (iout >= 0 && pf[iout].revents != 0 && sink_read(pout[0], &out) <= 0)
      open_out = 0;
    if (ierr >= 0 && pf[ierr].revents != 0 && sink_read(perr[0], &err) <= 0)
      open_err = 0;
    if (iin >= 0 && pf[iin].revents != 0) {
      ssize_t w = write(win, (const char *)in + written, in_len - written);
      if (w > 0)
        written += (size_t)w;
      /* EPIPE: the child closed its stdin early; stop feeding it. */
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == in_len) {
        close(win);
        win = -1;
      }
    }
  }
  close(pout[0]);
  close(perr[0]);
  if (win >= 0)
    close(win);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  /* Never hand out NULL: an empty output is "". */
  if (out.p == NULL)
    out.p = calloc(1, 1);
  if (err.p == NULL)
    err.p = calloc(1, 1);
  res->out = out.p;
  res->out_len = out.len;
  res->err = err.p;
  res->err_len = err.len;
  return 0;

close_out:
  close(pout[0]);
  close(pout[1]);
close_in:
  close(pin[0]);
  close(pin[1]);
  return -1;
}

void spawn_result_free(struct spawn_result *res)
{
  free(res->out);
  free(res->err);
  memset(res, 0, sizeof *res);
}
