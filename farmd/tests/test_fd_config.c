/* SPDX-License-Identifier: MIT */
/* Configuration loader: defaults, file, sections, environment, secrets, and
 * the exact "file:line: reason" of every way a file can be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "farm/error.h"
#include "farmd/config.h"

static const struct fd_cfg_key keys[] = {
    {"mqtt_host", FD_CFG_STRING, "localhost", 0, 0, "broker host"},
    {"mqtt_port", FD_CFG_INT, "8883", 1, 65535, "broker port"},
    {"mqtt_tls", FD_CFG_BOOL, "true", 0, 0, "use TLS"},
    {"mqtt_password", FD_CFG_SECRET, NULL, 0, 0, "broker password"},
    {"db", FD_CFG_STRING, "farm.db", 0, 0, "database"},
    {"batch_max", FD_CFG_INT, "500", 1, 10000, "rows per batch"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static char tmpdir[64];

static int setup(void **state)
{
  (void)state;
  strcpy(tmpdir, "/tmp/fdcfgXXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

/* Loads text as a file and returns the error line with the directory cut. */
static int load_text(struct fd_cfg *cfg, const char *text, char *err, size_t errlen)
{
  const char *path = write_file("t.ini", text);
  char raw[512];
  int rc = fd_cfg_load_file(cfg, path, raw, sizeof raw);
  if (rc != 0) {
    size_t dl = strlen(tmpdir) + 1;
    assert_true(strncmp(raw, tmpdir, dl - 1) == 0);
    snprintf(err, errlen, "%s", raw + dl);
  }
  return rc;
}

static void test_defaults(void **state)
{
  (void)state;
  struct fd_cfg cfg;
  assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
  assert_string_equal(fd_cfg_str(&cfg, "mqtt_host"), "localhost");
  assert_int_equal(fd_cfg_int(&cfg, "mqtt_port"), 8883);
  assert_true(fd_cfg_bool(&cfg, "mqtt_tls"));
  assert_null(fd_cfg_str(&cfg, "mqtt_password"));
  assert_false(fd_cfg_isset(&cfg, "mqtt_password"));
  fd_cfg_free(&cfg);
}

static void test_file_and_sections(void **state)
{
  (void)state;
  struct fd_cfg cfg;
  char err[256] = "";
  assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
  assert_int_equal(load_text(&cfg,
                             "; comment\n"
                             "# another\n"
                             "db = /var/lib/x.db\n"
                             "\n"
                             "[mqtt]\n"
                             "host = broker.example\n"
                             "port = 1883\n"
                             "tls = off\n",
                             err, sizeof err),
                   0);
  assert_string_equal(fd_cfg_str(&cfg, "db"), "/var/lib/x.db");
  assert_string_equal(fd_cfg_str(&cfg, "mqtt_host"), "broker.example");
  assert_int_equal(fd_cfg_int(&cfg, "mqtt_port"), 1883);
  assert_false(fd_cfg_bool(&cfg, "mqtt_tls"));
  fd_cfg_free(&cfg);
}

struct bad_case {
  const char *text;
  const char *err;
};

static void test_file_errors(void **state)
{
  (void)state;
  char longline[400];
  memset(longline, 'a', sizeof longline);
  memcpy(longline, "db = ", 5);
  longline[250] = '\n';
  longline[251] = '\0';
  char longtext[500];
  snprintf(longtext, sizeof longtext, "mqtt_port = 1\n%s", longline);

  const struct bad_case cases[] = {
      {"db = a\nmqtt_hots = x\n", "t.ini:2: unknown key 'mqtt_hots'"},
      {"db = a\n\n[mqtt]\nhost = h\nport\n", "t.ini:5: syntax error (expected '[section]' or 'key = value')"},
      {"[mqtt\nhost = h\n", "t.ini:1: syntax error (expected '[section]' or 'key = value')"},
      {"db = a\ndb = b\n", "t.ini:2: 'db' is set twice"},
      {"mqtt_host = a\n[mqtt]\nhost = b\n", "t.ini:3: 'mqtt_host' is set twice"},
      {"mqtt_port = 80x\n", "t.ini:1: 'mqtt_port' expects an integer, got '80x'"},
      {"mqtt_port = 70000\n", "t.ini:1: 'mqtt_port' = 70000 is outside [1, 65535]"},
      {"mqtt_port = 99999999999999999999\n", "t.ini:1: 'mqtt_port' expects an integer, got '99999999999999999999'"},
      {"mqtt_port =\n", "t.ini:1: 'mqtt_port' expects an integer, got ''"},
      {"mqtt_tls = maybe\n", "t.ini:1: 'mqtt_tls' expects a boolean (true/false), got 'maybe'"},
      {"[db]\nx = 1\n", "t.ini:2: unknown key 'db_x'"},
      {longtext, "t.ini:2: line longer than 199 characters"},
      {"db = a\n\x01 = b\n", "t.ini:2: unknown key '?'"},
      {"mqtt_password_file = /nonexistent/secret\n",
       "t.ini:1: cannot open secret file '/nonexistent/secret': No such file or directory"},
      {"db_file = /etc/hostname\n", "t.ini:1: unknown key 'db_file'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fd_cfg cfg;
    char err[256] = "";
    assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
    int rc = load_text(&cfg, cases[i].text, err, sizeof err);
    if (rc != FARM_EMALFORMED || strcmp(err, cases[i].err) != 0)
      fail_msg("case %zu: rc %d, got \"%s\", want \"%s\"", i, rc, err, cases[i].err);
    fd_cfg_free(&cfg);
  }
}

static void test_missing_file(void **state)
{
  (void)state;
  struct fd_cfg cfg;
  char err[256];
  assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
  assert_int_equal(fd_cfg_load_file(&cfg, "/nonexistent/farm.ini", err, sizeof err),
                   FARM_ENOENT);
  assert_string_equal(err, "/nonexistent/farm.ini: No such file or directory");
  fd_cfg_free(&cfg);
}

static void test_env_overrides_file(void **state)
{
  (void)state;
  struct fd_cfg cfg;
  char err[256] = "";
  assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
  assert_int_equal(load_text(&cfg, "[mqtt]\nport = 1883\nhost = a\n", err, sizeof err), 0);
  char *env[] = {"PATH=/bin", "STREAMER_MQTT_PORT=8884", "STREAMER_DB=postgresql://x",
                 "STREAMER_CONFIG=/etc/s.ini", "OTHER_DB=1", NULL};
  const char *allow[] = {"STREAMER_CONFIG", NULL};
  assert_int_equal(fd_cfg_load_env(&cfg, "STREAMER_", env, allow, err, sizeof err), 0);
  assert_int_equal(fd_cfg_int(&cfg, "mqtt_port"), 8884);
  assert_string_equal(fd_cfg_str(&cfg, "mqtt_host"), "a");
  assert_string_equal(fd_cfg_str(&cfg, "db"), "postgresql://x");
  fd_cfg_free(&cfg);
}

static void test_env_errors(void **state)
{
  (void)state;
  struct fd_cfg cfg;
  char err[256] = "";
  assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
  char *env1[] = {"STREAMER_MQTT_HOTS=x", NULL};
  assert_int_equal(fd_cfg_load_env(&cfg, "STREAMER_", env1, NULL, err, sizeof err),
                   FARM_EMALFORMED);
  assert_string_equal(err, "environment STREAMER_MQTT_HOTS: unknown key 'mqtt_hots'");
  char *env2[] = {"STREAMER_BATCH_MAX=0", NULL};
  assert_int_equal(fd_cfg_load_env(&cfg, "STREAMER_", env2, NULL, err, sizeof err),
                   FARM_EMALFORMED);
  assert_string_equal(err, "environment STREAMER_BATCH_MAX: 'batch_max' = 0 is outside [1, 10000]");
  char *env3[] = {"STREAMER_DB=a\nb", NULL};
  assert_int_equal(fd_cfg_load_env(&cfg, "STREAMER_", env3, NULL, err, sizeof err),
                   FARM_EMALFORMED);
  assert_string_equal(err, "environment STREAMER_DB: control character in value of 'db'");
  fd_cfg_free(&cfg);
}

static void test_secret_file_and_dump(void **state)
{
  (void)state;
  const char *sp = write_file("pw", "s3cr3t-value\nignored second line\n");
  char spath[128];
  snprintf(spath, sizeof spath, "%s", sp);
  struct fd_cfg cfg;
  char err[256] = "";
  assert_int_equal(fd_cfg_init(&cfg, keys, NKEYS), 0);
  char envline[200];
  snprintf(envline, sizeof envline, "STREAMER_MQTT_PASSWORD_FILE=%s", spath);
  char *env[] = {envline, NULL};
  assert_int_equal(fd_cfg_load_env(&cfg, "STREAMER_", env, NULL, err, sizeof err), 0);
  assert_string_equal(fd_cfg_str(&cfg, "mqtt_password"), "s3cr3t-value");
  assert_true(fd_cfg_isset(&cfg, "mqtt_password"));

  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  assert_non_null(mem);
  fd_cfg_dump(&cfg, mem);
  fclose(mem);
  assert_null(strstr(buf, "s3cr3t"));
  assert_non_null(strstr(buf, "mqtt_password = (set)  # environment\n"));
  assert_non_null(strstr(buf, "mqtt_port = 8883  # default\n"));
  free(buf);
  fd_cfg_free(&cfg);
}

static void test_parse_bool(void **state)
{
  (void)state;
  bool b;
  assert_int_equal(fd_cfg_parse_bool("YES", &b), 0);
  assert_true(b);
  assert_int_equal(fd_cfg_parse_bool("0", &b), 0);
  assert_false(b);
  assert_int_equal(fd_cfg_parse_bool("", &b), FARM_EINVAL);
  assert_int_equal(fd_cfg_parse_bool("truee", &b), FARM_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_file_and_sections),
      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_env_overrides_file),
      cmocka_unit_test(test_env_errors),
      cmocka_unit_test(test_secret_file_and_dump),
      cmocka_unit_test(test_parse_bool),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
