/* SPDX-License-Identifier: MIT */
/*
 * Integration-test harness for the daemons: temporary directories, free
 * loopback ports, child processes that die with the test (even when it
 * crashes), a real Mosquitto set up exactly as deploy/mosquitto does it (TLS,
 * passwords, ACLs), and a throw-away PostgreSQL cluster made with initdb on a
 * free port. Nothing here assumes a service is already running.
 *
 * Paths come from the environment set by CTest: FARM_SOURCE_DIR (scripts,
 * deploy files) and FARM_BIN_DIR (built programs). Failures abort the test
 * program with a message (fh_die), since nothing meaningful can follow.
 */
#ifndef FARMD_HARNESS_H
#define FARMD_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "farmd/mqtt.h"

#define FH_PATH 512

/* Prints "harness: ..." to stderr and exits with status 2. */
void fh_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Environment directories; fh_die() when unset. */
const char *fh_source_dir(void);
const char *fh_bin_dir(void);

/* Makes a fresh directory (mode 0755, so unprivileged servers started by
 * the test can enter it) under $TMPDIR or /tmp; out has FH_PATH bytes. */
void fh_tmpdir(char *out, const char *tag);
/* Removes a tree (rm -rf). */
void fh_rmtree(const char *path);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * read back); the tiny window until the server binds it is accepted. */
int fh_free_port(void);

/* True once something accepts TCP connections on 127.0.0.1:port. */
bool fh_wait_port(int port, int timeout_ms);

/* Runs argv to completion with stdout and stderr captured into out (cap
 * bytes, may be NULL). Returns the exit status, or -1 if it did not exit. */
int fh_run(const char *const argv[], char *out, size_t cap);

/* Reads a whole file into a malloc'd, NUL-terminated buffer (NULL on error). */
char *fh_read_file(const char *path);

struct fh_proc {
  pid_t pid; /* 0 when not running */
  char log[FH_PATH];
};

/*
 * Starts argv[0] (a path) with the test's environment plus env (NULL-
 * terminated "KEY=VALUE" strings, may be NULL), stdout and stderr appended
 * to logpath. run_as (may be NULL) names a user to switch to first (the
 * test must be root then). The child receives SIGKILL if the test dies.
 */
void fh_spawn(struct fh_proc *p, const char *const argv[], const char *const env[],
              const char *logpath, const char *run_as);
/* Sends sig and waits up to timeout_ms, then SIGKILL. Returns the exit
 * status (128 + signal when killed). No-op returning -1 when not running. */
int fh_stop(struct fh_proc *p, int sig, int timeout_ms);
/* Waits up to timeout_ms for the process to exit by itself and returns its
 * exit status (128 + signal if killed); kills it and returns -1 on timeout. */
int fh_wait(struct fh_proc *p, int timeout_ms);
/* True while the process has not exited (reaps it when it has). */
bool fh_alive(struct fh_proc *p);
/* Prints the last lines of the process log to stderr (for failures). */
void fh_dump_log(const struct fh_proc *p, size_t max_bytes);

/* Mosquitto with the repository's deploy/mosquitto set-up. */
struct fh_broker {
  char base[FH_PATH];  /* working directory (owned by the caller) */
  char certs[FH_PATH]; /* base/certs: make-certs output */
  char conf[FH_PATH];  /* base/broker: setup output */
  int tls_port;
  struct fh_proc proc;
};

/*
 * Makes certificates, runs deploy/mosquitto/setup and scripts/add-edge for
 * each of sites (NULL-terminated) in base (which must exist), on a free
 * TLS port on 127.0.0.1, client certificates required. Then starts it.
 */
void fh_broker_setup(struct fh_broker *b, const char *base, const char *const sites[]);
/* Starts (or restarts) mosquitto on the same port; waits until it listens. */
void fh_broker_start(struct fh_broker *b);
void fh_broker_stop(struct fh_broker *b);

/* Everything a client needs to log in as user ("iot-streamer", "edge-s1"). */
struct fh_creds {
  char ca[FH_PATH + 16], cert[FH_PATH + 96], key[FH_PATH + 96];
  char password[128];
  char user[64];
};
void fh_broker_creds(const struct fh_broker *b, const char *user, struct fh_creds *c);
/* Fills an fd_mqtt_config for user with client id id; strings point into c. */
void fh_broker_mqtt_config(const struct fh_broker *b, struct fh_creds *c,
                           const char *user, const char *id,
                           struct fd_mqtt_config *cfg);

/* A PostgreSQL cluster made by initdb in base/pg, listening on 127.0.0.1 on
 * a free port with SCRAM password authentication. Run as the "postgres"
 * user (or "nobody") when the test runs as root, since PostgreSQL refuses
 * to run as root. */
struct fh_pg {
  char dir[FH_PATH];
  int port;
  char password[64];
  char url[FH_PATH];  /* postgresql://farm:PASSWORD@127.0.0.1:PORT/postgres */
  char user[32];      /* system user running the server, "" for ourselves */
  char bindir[FH_PATH];
  struct fh_proc proc;
};
void fh_pg_start(struct fh_pg *pg, const char *base);
/* Starts the stopped cluster again, same port and data; waits until ready. */
void fh_pg_restart(struct fh_pg *pg);
void fh_pg_stop(struct fh_pg *pg);

#endif /* FARMD_HARNESS_H */
