/* SPDX-License-Identifier: MIT */
/*
 * Integration-test harness: processes, ports, directories, Mosquitto and
 * PostgreSQL set up from scratch for each test program.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void fh_die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "harness: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static const char *env_dir(const char *name)
{
  const char *v = getenv(name);
  if (!v || !v[0])
    fh_die("%s is not set (run the test through ctest)", name);
  return v;
}

const char *fh_source_dir(void)
{
  return env_dir("FARM_SOURCE_DIR");
}

const char *fh_bin_dir(void)
{
  return env_dir("FARM_BIN_DIR");
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fh_tmpdir(char *out, const char *tag)
{
  const char *t = getenv("TMPDIR");
  snprintf(out, FH_PATH, "%s/%s-XXXXXX", t && t[0] ? t : "/tmp", tag);
  if (!mkdtemp(out))
    fh_die("mkdtemp %s: %s", out, strerror(errno));
  chmod(out, 0755);
}

void fh_rmtree(const char *path)
{
  if (!path[0])
    return;
  const char *argv[] = {"/bin/rm", "-rf", path, NULL};
  fh_run(argv, NULL, 0);
}

int fh_free_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0)
    fh_die("socket: %s", strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &len) != 0)
    fh_die("bind port 0: %s", strerror(errno));
  close(s);
  return ntohs(a.sin_port);
}

bool fh_wait_port(int port, int timeout_ms)
{
  long long end = now_ms() + timeout_ms;
  do {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    if (rc == 0)
      return true;
    sleep_ms(20);
  } while (now_ms() < end);
  return false;
}

char *fh_read_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len < 2) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf)
    buf[len] = '\0';
  return buf;
}

/* Builds the child's environment before fork: after fork in a threaded
 * program only async-signal-safe calls are allowed. Caller frees the array. */
static char **make_env(const char *const extra[])
{
  size_t n = 0, k = 0;
  for (char **e = environ; *e; e++)
    n++;
  for (const char *const *e = extra; e && *e; e++)
    k++;
  char **env = calloc(n + k + 1, sizeof *env);
  if (!env)
    fh_die("out of memory");
  size_t o = 0;
  for (char **e = environ; *e; e++) {
    /* Drop a variable that extra overrides. */
    const char *eq = strchr(*e, '=');
    size_t nl = eq ? (size_t)(eq - *e) : strlen(*e);
    bool overridden = false;
    for (const char *const *x = extra; x && *x; x++)
      if (strncmp(*x, *e, nl) == 0 && (*x)[nl] == '=')
        overridden = true;
    if (!overridden)
      env[o++] = *e;
  }
  for (const char *const *x = extra; x && *x; x++)
    env[o++] = (char *)*x;
  env[o] = NULL;
  return env;
}

struct ids {
  bool set;
  uid_t uid;
  gid_t gid;
};

static struct ids lookup_user(const char *name)
{
  struct ids r = {0};
  if (!name || !name[0])
    return r;
  struct passwd *pw = getpwnam(name);
  if (!pw)
    fh_die("no user '%s'", name);
  r.set = true;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  return r;
}

static pid_t start_child(const char *const argv[], char **env, int outfd, struct ids ids)
{
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    fh_die("fork: %s", strerror(errno));
  if (pid == 0) {
    if (ids.set) {
      if (setgroups(0, NULL) != 0 || setgid(ids.gid) != 0 || setuid(ids.uid) != 0)
        _exit(126);
    }
    /* After the credential change, which clears the death signal. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    if (outfd >= 0) {
      dup2(outfd, 1);
      dup2(outfd, 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    execve(argv[0], (char *const *)argv, env);
    _exit(127);
  }
  return pid;
}

int fh_run(const char *const argv[], char *out, size_t cap)
{
  char tmpl[] = "/tmp/fh-run-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0)
    fh_die("mkstemp: %s", strerror(errno));
  unlink(tmpl);
  char **env = make_env(NULL);
  struct ids none = {0};
  pid_t pid = start_child(argv, env, fd, none);
  free(env);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out && cap) {
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
  }
  close(fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void fh_spawn(struct fh_proc *p, const char *const argv[], const char *const env[],
              const char *logpath, const char *run_as)
{
  snprintf(p->log, sizeof p->log, "%s", logpath);
  int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    fh_die("open %s: %s", logpath, strerror(errno));
  struct ids ids = lookup_user(run_as);
  if (ids.set && fchown(fd, ids.uid, ids.gid) != 0)
    fh_die("chown %s: %s", logpath, strerror(errno));
  char **e = make_env(env);
  p->pid = start_child(argv, e, fd, ids);
  free(e);
  close(fd);
}

int fh_wait(struct fh_proc *p, int timeout_ms)
{
  if (p->pid <= 0)
    return -1;
  long long end = now_ms() + timeout_ms;
  int status;
  for (;;) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid)
      break;
    if (now_ms() > end) {
      fh_stop(p, SIGKILL, 1000);
      return -1;
    }
    sleep_ms(10);
  }
  p->pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool fh_alive(struct fh_proc *p)
{
  if (p->pid <= 0)
    return false;
  int status;
  pid_t r = waitpid(p->pid, &status, WNOHANG);
  if (r == p->pid) {
    p->pid = 0;
    return false;
  }
  return true;
}

int fh_stop(struct fh_proc *p, int sig, int timeout_ms)
{
  if (p->pid <= 0)
    return -1;
  kill(p->pid, sig);
  long long end = now_ms() + timeout_ms;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid)
      break;
    if (now_ms() > end) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &status, 0);
      break;
    }
    sleep_ms(10);
  }
  p->pid = 0;
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void fh_dump_log(const struct fh_proc *p, size_t max_bytes)
{
  char *s = fh_read_file(p->log);
  if (!s)
    return;
  size_t n = strlen(s);
  fprintf(stderr, "---- %s (last %zu bytes) ----\n%s\n----\n", p->log,
          n > max_bytes ? max_bytes : n, n > max_bytes ? s + n - max_bytes : s);
  free(s);
}

static void run_or_die(const char *const argv[])
{
  char out[4096];
  int rc = fh_run(argv, out, sizeof out);
  if (rc != 0)
    fh_die("%s exited with %d:\n%s", argv[0], rc, out);
}

void fh_broker_setup(struct fh_broker *b, const char *base, const char *const sites[])
{
  memset(b, 0, sizeof *b);
  snprintf(b->base, sizeof b->base, "%s", base);
  snprintf(b->certs, sizeof b->certs, "%s/certs", base);
  snprintf(b->conf, sizeof b->conf, "%s/broker", base);
  b->tls_port = fh_free_port();

  char script[FH_PATH], port[16], runas[64];
  snprintf(port, sizeof port, "%d", b->tls_port);
  struct passwd *pw = getpwuid(getuid());
  snprintf(runas, sizeof runas, "%s", pw ? pw->pw_name : "root");

  snprintf(script, sizeof script, "%s/scripts/make-certs", fh_source_dir());
  const char *mk[] = {script, "-d", b->certs, NULL};
  run_or_die(mk);

  snprintf(script, sizeof script, "%s/deploy/mosquitto/setup", fh_source_dir());
  const char *setup[] = {script, "--dir", b->conf, "--certs", b->certs, "--tls-port", port,
                         "--tls-bind", "127.0.0.1", "--run-as", runas, NULL};
  run_or_die(setup);

  snprintf(script, sizeof script, "%s/scripts/add-edge", fh_source_dir());
  for (const char *const *s = sites; s && *s; s++) {
    const char *add[] = {script, "--dir", b->conf, "--certs", b->certs, *s, NULL};
    run_or_die(add);
  }
  fh_broker_start(b);
}

static const char *mosquitto_path(void)
{
  static const char *const candidates[] = {"/usr/sbin/mosquitto", "/usr/bin/mosquitto",
                                           "/usr/local/sbin/mosquitto"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (access(candidates[i], X_OK) == 0)
      return candidates[i];
  fh_die("mosquitto is not installed (scripts/install-deps)");
}

void fh_broker_start(struct fh_broker *b)
{
  char conf[FH_PATH + 32], log[FH_PATH + 32];
  snprintf(conf, sizeof conf, "%s/mosquitto.conf", b->conf);
  snprintf(log, sizeof log, "%s/mosquitto.log", b->base);
  const char *argv[] = {mosquitto_path(), "-c", conf, NULL};
  /* A restart right after a stop can race the kernel releasing the port. */
  for (int attempt = 0; attempt < 50; attempt++) {
    fh_spawn(&b->proc, argv, NULL, log, NULL);
    long long end = now_ms() + 3000;
    while (now_ms() < end && fh_alive(&b->proc)) {
      if (fh_wait_port(b->tls_port, 20))
        return;
    }
    if (fh_alive(&b->proc))
      break;
    sleep_ms(100);
  }
  fh_dump_log(&b->proc, 2000);
  fh_die("mosquitto did not start on port %d", b->tls_port);
}

void fh_broker_stop(struct fh_broker *b)
{
  fh_stop(&b->proc, SIGTERM, 5000);
}

void fh_broker_creds(const struct fh_broker *b, const char *user, struct fh_creds *c)
{
  memset(c, 0, sizeof *c);
  snprintf(c->user, sizeof c->user, "%s", user);
  snprintf(c->ca, sizeof c->ca, "%s/ca.crt", b->certs);
  snprintf(c->cert, sizeof c->cert, "%s/clients/%s.crt", b->certs, user);
  snprintf(c->key, sizeof c->key, "%s/clients/%s.key", b->certs, user);
  char path[FH_PATH + 64];
  snprintf(path, sizeof path, "%s/secrets/%s.password", b->conf, user);
  char *pw = fh_read_file(path);
  if (!pw)
    fh_die("no password for %s", user);
  pw[strcspn(pw, "\r\n")] = '\0';
  snprintf(c->password, sizeof c->password, "%s", pw);
  free(pw);
}

void fh_broker_mqtt_config(const struct fh_broker *b, struct fh_creds *c,
                           const char *user, const char *id,
                           struct fd_mqtt_config *cfg)
{
  fh_broker_creds(b, user, c);
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "localhost";
  cfg->port = b->tls_port;
  cfg->client_id = id;
  cfg->tls = true;
  cfg->ca_file = c->ca;
  cfg->cert_file = c->cert;
  cfg->key_file = c->key;
  cfg->username = c->user;
  cfg->password = c->password;
  cfg->clean_start = true;
  cfg->reconnect_min_s = 1;
  cfg->reconnect_max_s = 2;
}

static void pg_bindir(char *out)
{
  glob_t g;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0)
    fh_die("PostgreSQL server binaries not found under /usr/lib/postgresql (scripts/install-deps)");
  /* glob sorts: the last entry is the highest version for equal digit counts. */
  snprintf(out, FH_PATH, "%s", g.gl_pathv[g.gl_pathc - 1]);
  out[strlen(out) - strlen("/initdb")] = '\0';
  globfree(&g);
}

void fh_pg_start(struct fh_pg *pg, const char *base)
{
  memset(pg, 0, sizeof *pg);
  pg_bindir(pg->bindir);
  if (getuid() == 0)
    snprintf(pg->user, sizeof pg->user, "%s", getpwnam("postgres") ? "postgres" : "nobody");
  struct ids ids = lookup_user(pg->user);

  snprintf(pg->dir, sizeof pg->dir, "%s/pg", base);
  char data[FH_PATH + 8], sock[FH_PATH + 8], pwfile[FH_PATH + 8], log[FH_PATH + 16];
  snprintf(data, sizeof data, "%s/data", pg->dir);
  snprintf(sock, sizeof sock, "%s/sock", pg->dir);
  snprintf(pwfile, sizeof pwfile, "%s/pw", pg->dir);
  snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
  if (mkdir(pg->dir, 0755) != 0 || mkdir(sock, 0755) != 0)
    fh_die("mkdir %s: %s", pg->dir, strerror(errno));

  /* A random password: the cluster uses SCRAM even on loopback. */
  FILE *r = fopen("/dev/urandom", "rb");
  unsigned char rnd[16];
  if (!r || fread(rnd, 1, sizeof rnd, r) != sizeof rnd)
    fh_die("/dev/urandom: %s", strerror(errno));
  fclose(r);
  for (size_t i = 0; i < sizeof rnd; i++)
    snprintf(pg->password + 2 * i, 3, "%02x", rnd[i]);
  FILE *f = fopen(pwfile, "w");
  if (!f)
    fh_die("%s: %s", pwfile, strerror(errno));
  fprintf(f, "%s\n", pg->password);
  fclose(f);
  if (ids.set && (chown(pwfile, ids.uid, ids.gid) != 0 || chown(sock, ids.uid, ids.gid) != 0 ||
                  chown(pg->dir, ids.uid, ids.gid) != 0))
    fh_die("chown %s: %s", pg->dir, strerror(errno));

  char initdb[FH_PATH + 16];
  snprintf(initdb, sizeof initdb, "%s/initdb", pg->bindir);
  char pwopt[FH_PATH + 32];
  snprintf(pwopt, sizeof pwopt, "--pwfile=%s", pwfile);
  const char *init_argv[] = {initdb, "-D", data, "-U", "farm", pwopt, "-A", "scram-sha-256",
                             "-E", "UTF8", "--locale=C", "--no-sync", NULL};
  struct fh_proc init;
  fh_spawn(&init, init_argv, NULL, log, pg->user);
  int st = -1;
  for (int i = 0; i < 6000 && fh_alive(&init); i++)
    sleep_ms(10);
  if (init.pid) {
    st = fh_stop(&init, SIGKILL, 100);
  } else {
    st = 0;
  }
  char pgdata_check[FH_PATH + 32];
  snprintf(pgdata_check, sizeof pgdata_check, "%s/PG_VERSION", data);
  if (st != 0 || access(pgdata_check, F_OK) != 0) {
    fh_dump_log(&init, 3000);
    fh_die("initdb failed");
  }

  pg->port = fh_free_port();
  snprintf(pg->url, sizeof pg->url, "postgresql://farm:%s@127.0.0.1:%d/postgres", pg->password,
           pg->port);
  fh_pg_restart(pg);
}

void fh_pg_restart(struct fh_pg *pg)
{
  char data[FH_PATH + 8], sock[FH_PATH + 8], log[FH_PATH + 16];
  snprintf(data, sizeof data, "%s/data", pg->dir);
  snprintf(sock, sizeof sock, "%s/sock", pg->dir);
  snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
  char postgres[FH_PATH + 16], isready[FH_PATH + 16];
  snprintf(postgres, sizeof postgres, "%s/postgres", pg->bindir);
  snprintf(isready, sizeof isready, "%s/pg_isready", pg->bindir);
  char port[16], sockopt[FH_PATH + 40];
  snprintf(port, sizeof port, "%d", pg->port);
  snprintf(sockopt, sizeof sockopt, "unix_socket_directories=%s", sock);
  /* fsync off: a test cluster trades crash safety for speed. */
  const char *pg_argv[] = {postgres, "-D", data, "-p", port, "-c", "listen_addresses=127.0.0.1",
                           "-c", sockopt, "-c", "fsync=off", "-c", "full_page_writes=off",
                           "-c", "max_connections=40", NULL};
  const char *ready_argv[] = {isready, "-q", "-h", "127.0.0.1", "-p", port, "-t", "1", NULL};
  /* A restart right after a stop can race the kernel releasing the port. */
  for (int attempt = 0; attempt < 20; attempt++) {
    fh_spawn(&pg->proc, pg_argv, NULL, log, pg->user);
    long long end = now_ms() + 20000;
    while (now_ms() < end && fh_alive(&pg->proc)) {
      if (fh_run(ready_argv, NULL, 0) == 0)
        return;
      sleep_ms(50);
    }
    if (fh_alive(&pg->proc))
      break;
    sleep_ms(200);
  }
  fh_dump_log(&pg->proc, 3000);
  fh_die("postgres did not become ready on port %d", pg->port);
}

void fh_pg_stop(struct fh_pg *pg)
{
  /* SIGINT is PostgreSQL's "fast shutdown": roll back and exit now. */
  fh_stop(&pg->proc, SIGINT, 10000);
}
