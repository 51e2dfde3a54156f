/* SPDX-License-Identifier: MIT */
/*
 * Runs a program as a child process with a given stdin and collects its
 * stdout, stderr and exit status, for tests that drive the real farmctl
 * binary. Input is written and output read at the same time (poll), so a
 * child that writes a lot before reading all its input cannot deadlock.
 */
#ifndef FARMCTL_TEST_SPAWN_H
#define FARMCTL_TEST_SPAWN_H

#include <stddef.h>

struct spawn_result {
  int status; /* exit code, or 128 + signal number if killed */
  char *out;  /* malloc'd, NUL-terminated; spawn_result_free frees it */
  size_t out_len;
  char *err; /* same for stderr */
  size_t err_len;
};

/*
 * Runs argv[0] (a path) with argv (NULL-terminated), feeding in_len bytes
 * of in on its stdin and then closing it. Returns 0 with *res filled, or -1
 * if the program could not be started (errno set).
 */
int spawn_run(char *const argv[], const void *in, size_t in_len, struct spawn_result *res);

void spawn_result_free(struct spawn_result *res);

#endif /* FARMCTL_TEST_SPAWN_H */
