/* SPDX-License-Identifier: MIT */
/*
 * The farm-sim program driven as an edge agent would: started with its
 * pseudo-terminal, control socket, ledger and state directory in a fresh
 * temporary directory, it must greet with hello, relay tel frames, take
 * rx, run a relay.set with both acks and a ledger line, stop talking while
 * unplugged (or while nobody has the pty open) and resume after, restart
 * its gateway with a new hello, pause and resume its nodes, answer nodes,
 * clean up on SIGTERM, and keep its state for the next run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "edge.h"
#include "fsim/world.h"

#define NODES 3

struct sim_proc {
  char dir[64];
  char tty[128], ctl[128], ledger[128], state[128], err[128];
  pid_t pid;
  int out; /* its stdout */
  char gw_mac[13];
  char node_mac[NODES][13];
  int pty; /* our end of its serial port, -1 when closed */
  struct edge edge;
};

static struct sim_proc sp;

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One line of the program's stdout (without newline), within timeout_ms. */
static bool read_line(int fd, char *line, size_t cap, int timeout_ms)
{
  size_t n = 0;
  double end = now_ms() + timeout_ms;
  while (now_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r <= 0)
      return false;
    if (c == '\n') {
      line[n] = '\0';
      return true;
    }
    if (n + 1 < cap)
      line[n++] = c;
  }
  return false;
}

static void start(const char *speed)
{
  const char *bin = getenv("FARM_BIN_DIR");
  assert_non_null(bin);
  char exe[256];
  snprintf(exe, sizeof exe, "%s/farm-sim", bin);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  sp.pid = fork();
  assert_true(sp.pid >= 0);
  if (sp.pid == 0) {
    dup2(fds[1], 1);
    int e = open(sp.err, O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(e, 2);
    close(fds[0]);
    execl(exe, "farm-sim", "--nodes", "3", "--real", "2", "--seed", "9", "--period-ms", "2000",
          "--speed", speed, "--serial", sp.tty, "--control", sp.ctl, "--ledger", sp.ledger,
          "--state-dir", sp.state, "--site", "itest", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  sp.out = fds[0];
  char line[256];
  int nodes = 0;
  for (;;) {
    if (!read_line(sp.out, line, sizeof line, 10000))
      fail_msg("farm-sim did not say it was ready (see %s)", sp.err);
    unsigned i;
    char mac[13];
    if (sscanf(line, "farm-sim: gateway %12s", mac) == 1)
      strcpy(sp.gw_mac, mac);
    else if (sscanf(line, "farm-sim: node %u %12s", &i, mac) == 2 && i < NODES) {
      strcpy(sp.node_mac[i], mac);
      nodes++;
    } else if (strcmp(line, "farm-sim: ready") == 0)
      break;
  }
  assert_int_equal(nodes, NODES);
  assert_int_equal(strlen(sp.gw_mac), 12);
}

/* Waits for the process to end; returns its exit status (-1: killed). */
static int stop(int sig)
{
  kill(sp.pid, sig);
  double end = now_ms() + 10000;
  int status = 0;
  while (now_ms() < end) {
    pid_t r = waitpid(sp.pid, &status, WNOHANG);
    if (r == sp.pid) {
      close(sp.out);
      sp.pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    usleep(10000);
  }
  kill(sp.pid, SIGKILL);
  waitpid(sp.pid, &status, 0);
  sp.pid = 0;
  fail_msg("farm-sim did not stop on signal %d", sig);
  return -1;
}

static void pty_open(void)
{
  sp.pty = open(sp.tty, O_RDWR | O_NOCTTY | O_NONBLOCK);
  assert_true(sp.pty >= 0);
  struct termios t;
  assert_int_equal(tcgetattr(sp.pty, &t), 0);
  cfmakeraw(&t);
  assert_int_equal(tcsetattr(sp.pty, TCSANOW, &t), 0);
}

static void pty_close(void)
{
  close(sp.pty);
  sp.pty = -1;
  /* Whatever was half read is gone with the cable. */
  fp_frame_decoder_reset(&sp.edge.dec);
  sp.edge.out_len = 0;
}

/* Moves bytes both ways for ms, or until done() holds. */
static bool pump(int ms, bool (*done)(void *), void *arg)
{
  double end = now_ms() + ms;
  while (now_ms() < end) {
    if (done != NULL && done(arg))
      return true;
    struct pollfd p = {sp.pty, POLLIN, 0};
    poll(&p, 1, 10);
    uint8_t buf[4096];
    ssize_t r;
    while ((r = read(sp.pty, buf, sizeof buf)) > 0)
      edge_feed(&sp.edge, buf, (size_t)r);
    if (sp.edge.out_len > 0) {
      r = write(sp.pty, sp.edge.out, sp.edge.out_len);
      if (r > 0)
        edge_consume(&sp.edge, (size_t)r);
    }
  }
  return done != NULL && done(arg);
}

/* One control command; the answer lines joined with '\n', the last one
 * "ok" or "error: ..." included. */
static void control(const char *cmd, char *answer, size_t cap)
{
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(sp.ctl) < sizeof sa.sun_path);
  memcpy(sa.sun_path, sp.ctl, strlen(sp.ctl) + 1);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  char line[300];
  snprintf(line, sizeof line, "%s\n", cmd);
  assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
  size_t n = 0;
  answer[0] = '\0';
  double end = now_ms() + 5000;
  while (now_ms() < end && n + 1 < cap) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) {
      pump(0, NULL, NULL); /* keep the serial side moving */
      continue;
    }
    ssize_t r = read(fd, answer + n, cap - 1 - n);
    if (r <= 0)
      break;
    n += (size_t)r;
    answer[n] = '\0';
    const char *last = n >= 2 ? answer + n - 2 : answer;
    while (last > answer && last[-1] != '\n')
      last--;
    if (answer[n - 1] == '\n' && (strncmp(last, "ok", 2) == 0 || strncmp(last, "error:", 6) == 0))
      break;
  }
  close(fd);
  if (n > 0 && answer[n - 1] == '\n')
    answer[n - 1] = '\0';
}

static void control_ok(const char *cmd)
{
  char answer[4096];
  control(cmd, answer, sizeof answer);
  if (strcmp(answer, "ok") != 0)
    fail_msg("%s: \"%s\"", cmd, answer);
}

static void hex_of(const uint8_t *mac, char out[13])
{
  fsim_mac_hex(mac, out);
}

/* ---- Predicates for pump ------------------------------------------------------- */

static bool have_count(void *arg)
{
  const size_t *want = arg; /* {type, count} */
  return edge_count(&sp.edge, (enum fp_msg_type)want[0]) >= want[1];
}

static bool have_node_ack(void *arg)
{
  uint32_t id = *(const uint32_t *)arg;
  for (size_t k = 0; k < sp.edge.n_msgs; k++) {
    const struct fp_msg *m = &sp.edge.msgs[k];
    if (m->type == FP_MSG_ACK && m->id == id && m->u.ack.stage == FP_STAGE_NODE)
      return true;
  }
  return false;
}

static size_t ledger_count(const char *kind)
{
  FILE *f = fopen(sp.ledger, "r");
  if (f == NULL)
    return 0;
  char line[2048];
  size_t n = 0;
  while (fgets(line, sizeof line, f)) {
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    if (j == NULL)
      fail_msg("ledger line is not JSON: %s", line);
    if (strcmp(json_string_value(json_object_get(j, "kind")), kind) == 0)
      n++;
    json_decref(j);
  }
  fclose(f);
  return n;
}

/* ---- Tests ---------------------------------------------------------------------- */

static int group_setup(void **state)
{
  (void)state;
  memset(&sp, 0, sizeof sp);
  sp.pty = -1;
  strcpy(sp.dir, "/tmp/farm-sim-test-XXXXXX");
  if (mkdtemp(sp.dir) == NULL)
    return -1;
  snprintf(sp.tty, sizeof sp.tty, "%s/ttyGW", sp.dir);
  snprintf(sp.ctl, sizeof sp.ctl, "%s/control.sock", sp.dir);
  snprintf(sp.ledger, sizeof sp.ledger, "%s/ledger.jsonl", sp.dir);
  snprintf(sp.state, sizeof sp.state, "%s/state", sp.dir);
  snprintf(sp.err, sizeof sp.err, "%s/stderr.log", sp.dir);
  edge_init(&sp.edge, FP_CODEC_MSGPACK);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  if (sp.pid > 0) {
    kill(sp.pid, SIGKILL);
    waitpid(sp.pid, NULL, 0);
  }
  if (sp.pty >= 0)
    close(sp.pty);
  edge_free(&sp.edge);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", sp.dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_bad_option(void **state)
{
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s/farm-sim' --nodes 0 2>'%s/bad.txt'", getenv("FARM_BIN_DIR"),
           sp.dir);
  int status = system(cmd);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 2);
}

static void test_hello_and_tel(void **state)
{
  (void)state;
  start("10");
  struct stat st;
  assert_int_equal(lstat(sp.tty, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(lstat(sp.ctl, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  pty_open();
  size_t want[2] = {FP_MSG_TEL, 6};
  assert_true(pump(10000, have_count, want));
  const struct fp_msg *hello = &sp.edge.msgs[0];
  assert_int_equal(hello->type, FP_MSG_HELLO);
  assert_int_equal(hello->gseq, 1);
  assert_int_equal(hello->u.hello.boot, 1);
  char hex[13];
  hex_of(hello->u.hello.mac, hex);
  assert_string_equal(hex, sp.gw_mac);
  /* Each tel comes from one of the announced nodes. */
  for (size_t k = 0; k < sp.edge.n_msgs; k++) {
    const struct fp_msg *m = &sp.edge.msgs[k];
    if (m->type != FP_MSG_TEL)
      continue;
    hex_of(m->u.tel.mac, hex);
    bool known = false;
    for (int i = 0; i < NODES; i++)
      known |= strcmp(hex, sp.node_mac[i]) == 0;
    assert_true(known);
  }
  /* rx was taken: nothing stays pending in the gateway. */
  char answer[512];
  pump(300, NULL, NULL);
  control("status", answer, sizeof answer);
  assert_non_null(strstr(answer, " uplink=0 "));
  assert_non_null(strstr(answer, " cable=yes reader=yes "));
}

static void test_relay_command(void **state)
{
  (void)state;
  struct fp_msg m;
  uint8_t mac[FP_MAC_LEN];
  assert_int_equal(fsim_mac_parse(sp.node_mac[0], mac), 0);
  edge_msg_cmd(&m, 501, mac, "relay.set");
  edge_arg_int(&m, "ch", 1);
  edge_arg_bool(&m, "on", true);
  assert_int_equal(edge_send(&sp.edge, &m), 0);
  uint32_t id = 501;
  assert_true(pump(10000, have_node_ack, &id));
  bool gw_ok = false, node_ok = false;
  for (size_t k = 0; k < sp.edge.n_msgs; k++) {
    const struct fp_msg *a = &sp.edge.msgs[k];
    if (a->type == FP_MSG_ACK && a->id == 501) {
      if (a->u.ack.stage == FP_STAGE_GW)
        gw_ok = a->u.ack.ok;
      else
        node_ok = a->u.ack.ok;
    }
  }
  assert_true(gw_ok);
  assert_true(node_ok);

  /* The ledger has the command, as the node ran it. */
  FILE *f = fopen(sp.ledger, "r");
  assert_non_null(f);
  char line[2048];
  bool found = false;
  while (fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    if (strcmp(json_string_value(json_object_get(j, "kind")), "command") == 0 &&
        json_integer_value(json_object_get(j, "id")) == 501) {
      found = true;
      assert_string_equal(json_string_value(json_object_get(j, "device")), sp.node_mac[0]);
      assert_string_equal(json_string_value(json_object_get(j, "name")), "relay.set");
      assert_true(json_is_true(json_object_get(j, "ok")));
      json_t *args = json_object_get(j, "args");
      assert_int_equal(json_integer_value(json_object_get(args, "ch")), 1);
      assert_true(json_is_true(json_object_get(args, "on")));
    }
    json_decref(j);
  }
  fclose(f);
  assert_true(found);
  char answer[2048];
  control("nodes", answer, sizeof answer);
  char *l0 = strstr(answer, sp.node_mac[0]);
  assert_non_null(l0);
  assert_non_null(strstr(l0, " relays=0x01 "));
}

static void test_unplug_and_reopen(void **state)
{
  (void)state;
  control_ok("unplug");
  pump(200, NULL, NULL);
  unsigned frames = sp.edge.frames;
  pump(800, NULL, NULL); /* 8 s simulated: 12 readings made meanwhile */
  assert_int_equal(sp.edge.frames, frames);
  char answer[512];
  control("status", answer, sizeof answer);
  assert_non_null(strstr(answer, " cable=no reader=yes "));
  control_ok("plug");
  size_t want[2] = {FP_MSG_TEL, edge_count(&sp.edge, FP_MSG_TEL) + 12};
  assert_true(pump(5000, have_count, want));

  /* Closing the port is pulling the cable too. */
  pty_close();
  usleep(300000);
  control("status", answer, sizeof answer);
  assert_non_null(strstr(answer, " cable=no reader=no "));
  pty_open();
  want[1] = edge_count(&sp.edge, FP_MSG_TEL) + 6;
  assert_true(pump(5000, have_count, want));
  /* The same gateway start throughout. */
  assert_int_equal(sp.edge.hellos, 1);
  assert_int_equal(sp.edge.gaps, 0);
}

static void test_reboot_gateway(void **state)
{
  (void)state;
  control_ok("reboot gateway");
  size_t want[2] = {FP_MSG_HELLO, 2};
  assert_true(pump(5000, have_count, want));
  long k = edge_find(&sp.edge, 1, FP_MSG_HELLO, UINT32_MAX);
  assert_true(k > 0);
  assert_int_equal(sp.edge.msgs[k].u.hello.boot, 2);
  assert_int_equal(sp.edge.msgs[k].gseq, 1);
  assert_int_equal(sp.edge.hellos, 2);
  /* Its peers came back from NVS. */
  assert_int_equal(sp.edge.msgs[k].u.hello.peers, NODES);
  size_t tel_want[2] = {FP_MSG_TEL, edge_count(&sp.edge, FP_MSG_TEL) + 3};
  assert_true(pump(5000, have_count, tel_want));
}

static void test_pause_resume(void **state)
{
  (void)state;
  control_ok("pause");
  pump(300, NULL, NULL); /* a reading in flight lands */
  size_t before = ledger_count("reading");
  pump(1000, NULL, NULL); /* 10 s simulated, 5 periods */
  assert_int_equal(ledger_count("reading"), before);
  control_ok("resume");
  pump(1000, NULL, NULL);
  assert_true(ledger_count("reading") >= before + NODES);
}

static void test_nodes_and_errors(void **state)
{
  (void)state;
  char answer[4096];
  control("nodes", answer, sizeof answer);
  int lines = 0;
  for (char *p = answer; (p = strchr(p, '\n')) != NULL; p++)
    lines++;
  assert_int_equal(lines, NODES); /* NODES lines, then "ok" */
  assert_non_null(strstr(answer, "\nok"));
  for (int i = 0; i < NODES; i++)
    assert_non_null(strstr(answer, sp.node_mac[i]));
  control("reboot node 020000000099", answer, sizeof answer);
  assert_string_equal(answer, "error: no node 020000000099");
  control("dance", answer, sizeof answer);
  assert_memory_equal(answer, "error: unknown command", 22);
}

static void test_sigterm_cleanup(void **state)
{
  (void)state;
  assert_int_equal(stop(SIGTERM), 0);
  struct stat st;
  assert_int_equal(lstat(sp.tty, &st), -1);
  assert_int_equal(lstat(sp.ctl, &st), -1);
  /* The ledger ends with a whole line; every board has its NVS file. */
  FILE *f = fopen(sp.ledger, "r");
  assert_non_null(f);
  fseek(f, -1, SEEK_END);
  assert_int_equal(fgetc(f), '\n');
  fclose(f);
  char path[256];
  snprintf(path, sizeof path, "%s/%s.nvs", sp.state, sp.gw_mac);
  assert_int_equal(access(path, R_OK), 0);
  for (int i = 0; i < NODES; i++) {
    snprintf(path, sizeof path, "%s/%s.nvs", sp.state, sp.node_mac[i]);
    assert_int_equal(access(path, R_OK), 0);
  }
  pty_close();
}

/* A second run on the same state: the boot counters went on, the nodes are
 * still paired (their readings flow at once), the ledger grew. */
static void test_state_kept(void **state)
{
  (void)state;
  size_t boots = ledger_count("boot");
  edge_free(&sp.edge);
  edge_init(&sp.edge, FP_CODEC_MSGPACK);
  start("10");
  pty_open();
  size_t want[2] = {FP_MSG_TEL, 3};
  assert_true(pump(5000, have_count, want));
  assert_int_equal(sp.edge.msgs[0].type, FP_MSG_HELLO);
  assert_int_equal(sp.edge.msgs[0].u.hello.boot, 3);
  assert_int_equal(sp.edge.msgs[0].u.hello.peers, NODES);
  assert_int_equal(ledger_count("boot"), boots + 1 + NODES);
  assert_int_equal(stop(SIGINT), 0);
  pty_close();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_option),       cmocka_unit_test(test_hello_and_tel),
      cmocka_unit_test(test_relay_command),    cmocka_unit_test(test_unplug_and_reopen),
      cmocka_unit_test(test_reboot_gateway),   cmocka_unit_test(test_pause_resume),
      cmocka_unit_test(test_nodes_and_errors), cmocka_unit_test(test_sigterm_cleanup),
      cmocka_unit_test(test_state_kept),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
