/* SPDX-License-Identifier: MIT */
/*
 * The browser test's farm: broker, streamer, web-gateway with the built UI,
 * and a scripted edge for site "north" (two nodes with an hour of readings,
 * one streaming a reading a second, commands answered), then the command
 * given on the command line (the node script driving Chromium), with
 * UITEST_URL, UITEST_USER, UITEST_PASSWORD and UITEST_DEVICE in its
 * environment. Exits with the script's status; everything started dies
 * with this program, on success, failure or a crash.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wgtest.h"

#define DEV "a1b2c3d4e5f6"
#define DEV2 "0a0b0c0d0e0f"

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: webgw_ui_fixture COMMAND [ARG...]\n");
    return 2;
  }
  static struct wgt w;
  wgt_start(&w, "sqlite", NULL);
  struct wgt_edge *e = wgt_edge_start(&w);
  wgt_edge_status(e, DEV, true);
  wgt_edge_status(e, DEV2, true);
  long long now = wgt_wall_ms();
  for (int i = 60; i > 0; i--) {
    char v[96];
    snprintf(v, sizeof v, "\"temp_c\":%.2f,\"rh_pct\":%d", 18.0 + (i % 20) * 0.25, 40 + i % 15);
    wgt_edge_tel(e, DEV, now - i * 60000LL, v);
    snprintf(v, sizeof v, "\"lux\":%d", 1000 + i * 10);
    wgt_edge_tel(e, DEV2, now - i * 60000LL, v);
  }
  wgt_edge_stream(e, DEV, 1000);
  /* Wait until the store has the history. */
  long long end = wgt_now_ms() + 15000;
  char tok[64];
  if (wgt_login(&w, "admin", WGT_ADMIN_PASSWORD, tok, NULL) != 200)
    fh_die("cannot log in");
  char auth[96];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  const char *h[] = {auth, NULL};
  for (;;) {
    char *body = NULL;
    int st = wgt_http(&w, "GET", "/api/v1/devices/" DEV2, h, NULL, &body, NULL);
    bool ok = st == 200 && strstr(body, "\"lux\"");
    free(body);
    if (ok)
      break;
    if (wgt_now_ms() > end)
      fh_die("the readings never reached the store");
    wgt_sleep_ms(100);
  }

  setenv("UITEST_URL", w.url, 1);
  setenv("UITEST_USER", "admin", 1);
  setenv("UITEST_PASSWORD", WGT_ADMIN_PASSWORD, 1);
  setenv("UITEST_DEVICE", DEV, 1);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(argv[1], argv + 1);
    perror("exec");
    _exit(127);
  }
  int status = 1;
  end = wgt_now_ms() + 100000;
  for (;;) {
    int ws;
    pid_t r = waitpid(pid, &ws, WNOHANG);
    if (r == pid) {
      status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
      break;
    }
    if (wgt_now_ms() > end) {
      fprintf(stderr, "ui test: timed out\n");
      kill(pid, SIGKILL);
      waitpid(pid, &ws, 0);
      status = 1;
      break;
    }
    wgt_sleep_ms(50);
  }
  if (status != 0)
    fh_dump_log(&w.gateway, 3000);
  printf("ui test: commands answered by the edge: %d\n", wgt_edge_commands(e));
  wgt_edge_stop(e);
  if (wgt_stop(&w) != 0 && status == 0)
    status = 1;
  return status;
}
