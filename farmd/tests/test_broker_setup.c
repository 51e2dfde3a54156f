/* SPDX-License-Identifier: MIT */
/*
 * The broker set-up fails closed: deploy/mosquitto/check refuses a bad
 * password file, ACL file, configuration or certificate with
 * "file:line: reason" and exit status 1; scripts/add-edge refuses bad site
 * names and duplicates; secrets are files of mode 0600, never printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"

static char base[FH_PATH];
static struct fh_broker broker;
static char check[FH_PATH + 64], add_edge[FH_PATH + 64];

static int group_setup(void **state)
{
  (void)state;
  fh_tmpdir(base, "brokersetup");
  const char *sites[] = {"north-1", NULL};
  fh_broker_setup(&broker, base, sites);
  snprintf(check, sizeof check, "%s/deploy/mosquitto/check", fh_source_dir());
  snprintf(add_edge, sizeof add_edge, "%s/scripts/add-edge", fh_source_dir());
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  fh_broker_stop(&broker);
  fh_rmtree(base);
  return 0;
}

static char *path_of(const char *name)
{
  static char p[FH_PATH + 64];
  snprintf(p, sizeof p, "%s/%s", broker.conf, name);
  return p;
}

static void append(const char *name, const char *text)
{
  FILE *f = fopen(path_of(name), "a");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Runs check; returns its status and output. */
static int run_check(char *out, size_t cap)
{
  const char *argv[] = {check, broker.conf, NULL};
  return fh_run(argv, out, cap);
}

/* Saves a file, applies a damage, expects check to fail with want, restores. */
static void expect_refused(const char *name, const char *damage, const char *want)
{
  char *saved = fh_read_file(path_of(name));
  assert_non_null(saved);
  append(name, damage);
  char out[1024];
  int rc = run_check(out, sizeof out);
  FILE *f = fopen(path_of(name), "w");
  fputs(saved, f);
  fclose(f);
  free(saved);
  if (rc != 1 || !strstr(out, want))
    fail_msg("%s + %s: exit %d, output: %s (want '%s')", name, damage, rc, out, want);
}

static void test_valid_setup_passes(void **state)
{
  (void)state;
  char out[1024];
  assert_int_equal(run_check(out, sizeof out), 0);
  assert_non_null(strstr(out, "is valid (4 users)"));
  char *acl = fh_read_file(path_of("acl"));
  assert_non_null(strstr(acl, "user edge-north-1\ntopic readwrite v1/farm/north-1/#\n"));
  free(acl);
  /* Secrets: private files, and no clear password in the password file. */
  struct stat st;
  assert_int_equal(stat(path_of("secrets/edge-north-1.password"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char *pw = fh_read_file(path_of("secrets/edge-north-1.password"));
  pw[strcspn(pw, "\n")] = '\0';
  assert_int_equal(strlen(pw), 48);
  char *passwd = fh_read_file(path_of("passwd"));
  assert_null(strstr(passwd, pw));
  assert_non_null(strstr(passwd, "edge-north-1:$7$"));
  free(passwd);
  free(pw);
}

static void test_bad_files_are_refused(void **state)
{
  (void)state;
  char passwd_line[32], acl_line[32];
  char *p = fh_read_file(path_of("passwd"));
  int lines = 0;
  for (char *c = p; *c; c++)
    lines += *c == '\n';
  free(p);
  snprintf(passwd_line, sizeof passwd_line, "passwd:%d:", lines + 1);
  expect_refused("passwd", "mallory:plaintext\n", passwd_line);
  expect_refused("passwd", "edge-north-1:$7$101$abc$def\n", "user 'edge-north-1' appears twice");

  p = fh_read_file(path_of("acl"));
  lines = 0;
  for (char *c = p; *c; c++)
    lines += *c == '\n';
  free(p);
  snprintf(acl_line, sizeof acl_line, "acl:%d:", lines + 1);
  expect_refused("acl", "topik read v1/#\n", acl_line);
  expect_refused("acl", "topic read v1/#/x\n", "invalid topic filter 'v1/#/x'");
  expect_refused("acl", "topic read v1/a+/x\n", "invalid topic filter 'v1/a+/x'");
  expect_refused("acl", "topic sometimes v1/#\n", "expected 'user NAME'");
  expect_refused("acl", "user nobody-here\n", "user 'nobody-here' has no entry in the password file");
  expect_refused("mosquitto.conf", "allow_anonymous true\n", "anonymous access is not allowed");
  expect_refused("mosquitto.conf", "cafile /nonexistent/ca.crt\n", "cafile '/nonexistent/ca.crt' is not readable");
  expect_refused("mosquitto.conf", "listener @TLS_PORT@\n", "unrendered placeholder");
}

static void test_rules_before_any_user_are_refused(void **state)
{
  (void)state;
  char *saved = fh_read_file(path_of("acl"));
  FILE *f = fopen(path_of("acl"), "w");
  fputs("topic readwrite #\n", f);
  fputs(saved, f);
  fclose(f);
  char out[1024];
  int rc = run_check(out, sizeof out);
  f = fopen(path_of("acl"), "w");
  fputs(saved, f);
  fclose(f);
  free(saved);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "acl:1: rule before any 'user' line would apply to every client"));
}

static void test_mismatched_key_is_refused(void **state)
{
  (void)state;
  /* Point the server key at a client key: the pair no longer matches. */
  char conf_saved_path[FH_PATH + 64];
  snprintf(conf_saved_path, sizeof conf_saved_path, "%s", path_of("mosquitto.conf"));
  char *conf = fh_read_file(conf_saved_path);
  char wrong[FH_PATH + 64], right[FH_PATH + 64];
  snprintf(right, sizeof right, "keyfile %s/server.key", broker.certs);
  snprintf(wrong, sizeof wrong, "keyfile %s/clients/edge-north-1.key", broker.certs);
  char *at = strstr(conf, right);
  assert_non_null(at);
  FILE *f = fopen(conf_saved_path, "w");
  fprintf(f, "%.*s%s%s", (int)(at - conf), conf, wrong, at + strlen(right));
  fclose(f);
  char out[1024];
  int rc = run_check(out, sizeof out);
  f = fopen(conf_saved_path, "w");
  fputs(conf, f);
  fclose(f);
  free(conf);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "does not match"));
}

static void test_add_edge_refusals(void **state)
{
  (void)state;
  char out[1024];
  const char *bad_name[] = {add_edge, "--dir", broker.conf, "North Farm", NULL};
  assert_int_equal(fh_run(bad_name, out, sizeof out), 1);
  assert_non_null(strstr(out, "must be 1-64 characters of [a-z0-9_-]"));
  const char *dup[] = {add_edge, "--dir", broker.conf, "north-1", NULL};
  assert_int_equal(fh_run(dup, out, sizeof out), 1);
  assert_non_null(strstr(out, "already has an ACL entry"));
  const char *ok[] = {add_edge, "--dir", broker.conf, "--certs", broker.certs, "south", NULL};
  assert_int_equal(fh_run(ok, out, sizeof out), 0);
  /* The password is never printed, only where it is. */
  char *pw = fh_read_file(path_of("secrets/edge-south.password"));
  assert_non_null(pw);
  pw[strcspn(pw, "\n")] = '\0';
  assert_null(strstr(out, pw));
  free(pw);
  assert_int_equal(run_check(out, sizeof out), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_setup_passes),
      cmocka_unit_test(test_bad_files_are_refused),
      cmocka_unit_test(test_rules_before_any_user_are_refused),
      cmocka_unit_test(test_mismatched_key_is_refused),
      cmocka_unit_test(test_add_edge_refusals),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
