/* SPDX-License-Identifier: MIT */
/* The edge agent's configuration: defaults plus environment suffice, every
 * key the issue names is an EDGE_ variable, every refusal says where the
 * bad value came from, and docs/configuration.md lists every key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "farm/error.h"

static char tmpdir[64];

static int setup(void **state)
{
  (void)state;
  strcpy(tmpdir, "/tmp/eacfgXXXXXX");
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

/* Loads with envp; returns the code and the error line with tmpdir cut. */
static int load(struct ea_config *c, const char *file_text, char *const *envp, char *err,
                size_t errlen)
{
  const char *path = file_text ? write_file("edge.ini", file_text) : NULL;
  char raw[512] = "";
  int rc = ea_config_load(c, path, envp, raw, sizeof raw);
  size_t dl = strlen(tmpdir);
  if (strncmp(raw, tmpdir, dl) == 0)
    snprintf(err, errlen, "%s", raw + dl + 1);
  else
    snprintf(err, errlen, "%s", raw);
  return rc;
}

static char *const minimal_env[] = {"EDGE_SITE=farm-1", "EDGE_MQTT_CAFILE=/etc/ca.crt",
                                    "PATH=/usr/bin", NULL};

static void test_defaults_plus_environment(void **state)
{
  (void)state;
  struct ea_config c;
  char err[256];
  assert_int_equal(load(&c, NULL, minimal_env, err, sizeof err), 0);
  assert_string_equal(c.site, "farm-1");
  assert_string_equal(c.serial_port, "/dev/ttyESP-GW");
  assert_int_equal(c.serial_baud, 921600);
  assert_int_equal(c.serial_codec, FP_CODEC_MSGPACK);
  assert_string_equal(c.mqtt_host, "localhost");
  assert_int_equal(c.mqtt_port, 8883);
  assert_true(c.mqtt_tls);
  assert_string_equal(c.mqtt_cafile, "/etc/ca.crt");
  assert_null(c.mqtt_certfile);
  assert_string_equal(c.mqtt_client_id, "edge-farm-1");
  assert_string_equal(c.http_host, "127.0.0.1");
  assert_int_equal(c.http_port, 8080);
  assert_null(c.auth_user);
  assert_string_equal(c.backlog_path, "/var/lib/edge-agent/backlog.db");
  assert_int_equal(c.backlog_max_bytes, 268435456);
  assert_int_equal(c.backlog_full_policy, EA_FULL_DROP_OLDEST);
  assert_int_equal(c.cmd_timeout_ms, 2000);
  assert_int_equal(c.cmd_retries, 3);
  assert_int_equal(c.log_level, FD_LOG_INFO);
  ea_config_free(&c);
}

/* Every variable the issue names, each with a non-default value. */
static void test_every_named_variable(void **state)
{
  (void)state;
  const char *certs = write_file("pw", "s3cret\n");
  char pwfile[200];
  snprintf(pwfile, sizeof pwfile, "EDGE_BASIC_AUTH_PASSWORD_FILE=%s", certs);
  char *env[] = {"EDGE_SERIAL_PORT=/dev/ttyACM3",
                 "EDGE_SERIAL_BAUD=115200",
                 "EDGE_SERIAL_CODEC=cbor",
                 "EDGE_SITE=north",
                 "EDGE_MQTT_HOST=broker.example",
                 "EDGE_MQTT_PORT=1883",
                 "EDGE_MQTT_TLS=1",
                 "EDGE_MQTT_CAFILE=/c/ca.crt",
                 "EDGE_MQTT_CERTFILE=/c/edge.crt",
                 "EDGE_MQTT_KEYFILE=/c/edge.key",
                 "EDGE_MQTT_USERNAME=edge-north",
                 "EDGE_MQTT_PASSWORD=pw",
                 "EDGE_HTTP_LISTEN=0.0.0.0:8443",
                 "EDGE_BASIC_AUTH_USER=farmer",
                 pwfile,
                 "EDGE_BACKLOG_PATH=/data/b.db",
                 "EDGE_BACKLOG_MAX_BYTES=1048576",
                 "EDGE_BACKLOG_FULL_POLICY=reject_new",
                 "EDGE_CMD_TIMEOUT_MS=750",
                 "EDGE_CMD_RETRIES=5",
                 "EDGE_LOG_LEVEL=debug",
                 "EDGE_CONFIG=/ignored/here.ini",
                 NULL};
  struct ea_config c;
  char err[256];
  assert_int_equal(load(&c, NULL, env, err, sizeof err), 0);
  assert_string_equal(c.serial_port, "/dev/ttyACM3");
  assert_int_equal(c.serial_baud, 115200);
  assert_int_equal(c.serial_codec, FP_CODEC_CBOR);
  assert_string_equal(c.site, "north");
  assert_string_equal(c.mqtt_host, "broker.example");
  assert_int_equal(c.mqtt_port, 1883);
  assert_true(c.mqtt_tls);
  assert_string_equal(c.mqtt_cafile, "/c/ca.crt");
  assert_string_equal(c.mqtt_certfile, "/c/edge.crt");
  assert_string_equal(c.mqtt_keyfile, "/c/edge.key");
  assert_string_equal(c.mqtt_username, "edge-north");
  assert_string_equal(c.mqtt_password, "pw");
  assert_string_equal(c.http_host, "0.0.0.0");
  assert_int_equal(c.http_port, 8443);
  assert_string_equal(c.auth_user, "farmer");
  assert_string_equal(c.auth_password, "s3cret");
  assert_string_equal(c.backlog_path, "/data/b.db");
  assert_int_equal(c.backlog_max_bytes, 1048576);
  assert_int_equal(c.backlog_full_policy, EA_FULL_REJECT_NEW);
  assert_int_equal(c.cmd_timeout_ms, 750);
  assert_int_equal(c.cmd_retries, 5);
  assert_int_equal(c.log_level, FD_LOG_DEBUG);
  ea_config_free(&c);
}

static void test_file_sections_and_env_override(void **state)
{
  (void)state;
  const char *ini = "site = east\n"
                    "[serial]\n"
                    "port = /dev/ttyUSB0\n"
                    "codec = cbor\n"
                    "[mqtt]\n"
                    "host = 10.0.0.2\n"
                    "tls = false\n"
                    "port = 1883\n"
                    "[http]\n"
                    "listen = [::1]:9000\n";
  char *env[] = {"EDGE_MQTT_PORT=1884", NULL};
  struct ea_config c;
  char err[256];
  assert_int_equal(load(&c, ini, env, err, sizeof err), 0);
  assert_string_equal(c.site, "east");
  assert_string_equal(c.serial_port, "/dev/ttyUSB0");
  assert_int_equal(c.serial_codec, FP_CODEC_CBOR);
  assert_false(c.mqtt_tls);
  assert_int_equal(c.mqtt_port, 1884); /* the environment wins */
  assert_string_equal(c.http_host, "[::1]");
  assert_int_equal(c.http_port, 9000);
  ea_config_free(&c);
}

struct refusal {
  const char *file;   /* NULL: no file */
  const char *env[4]; /* added to minimal_env */
  const char *error;  /* exact message, tmpdir cut */
};

static void test_refusals(void **state)
{
  (void)state;
  static const struct refusal cases[] = {
      {"site = a\nmqtt_cafile = /ca\nbogus = 1\n", {NULL}, "edge.ini:3: unknown key 'bogus'"},
      {"site = a\n[mqtt]\ncafile = /ca\nport = 70000\n",
       {NULL},
       "edge.ini:4: 'mqtt_port' = 70000 is outside [1, 65535]"},
      {"site = a\nmqtt_cafile = /ca\nthis is not ini\n",
       {NULL},
       "edge.ini:3: syntax error (expected '[section]' or 'key = value')"},
      {"site = a\nmqtt_cafile = /ca\nserial_baud = 12345\n",
       {NULL},
       "edge.ini:3: 12345 is not a standard serial speed"},
      {"site = a\nmqtt_cafile = /ca\n\nserial_codec = json\n",
       {NULL},
       "edge.ini:4: expected msgpack or cbor"},
      {NULL, {"EDGE_SERIAL_CODEC=JSON"}, "environment EDGE_SERIAL_CODEC: expected msgpack or cbor"},
      {NULL, {"EDGE_NOPE=1"}, "environment EDGE_NOPE: unknown key 'nope'"},
      {"mqtt_cafile = /ca\n", {NULL}, "site: required (set site in the file or EDGE_SITE)"},
      {"site = Farm\nmqtt_cafile = /ca\n",
       {NULL},
       "edge.ini:1: must be 1-64 characters of [a-z0-9_-], not \"edge\""},
      {"site = edge\nmqtt_cafile = /ca\n",
       {NULL},
       "edge.ini:1: must be 1-64 characters of [a-z0-9_-], not \"edge\""},
      {"site = a\n", {"EDGE_MQTT_CAFILE="}, "mqtt_tls: TLS needs mqtt_cafile"},
      {"site = a\nmqtt_tls = no\nmqtt_cafile = /ca\n",
       {NULL},
       "edge.ini:3: set but mqtt_tls is off"},
      {"site = a\nmqtt_cafile = /ca\nmqtt_certfile = /c\n",
       {NULL},
       "edge.ini:3: mqtt_certfile and mqtt_keyfile go together"},
      {"site = a\nmqtt_cafile = /ca\nhttp_listen = 8080\n",
       {NULL},
       "edge.ini:3: expected host:port (port 1-65535) or empty"},
      {NULL,
       {"EDGE_HTTP_LISTEN=evil host:80"},
       "environment EDGE_HTTP_LISTEN: expected host:port (port 1-65535) or empty"},
      {"site = a\nmqtt_cafile = /ca\nbasic_auth_user = admin\n",
       {NULL},
       "edge.ini:3: basic_auth_user and basic_auth_password go together"},
      {NULL,
       {"EDGE_BASIC_AUTH_USER=a:b", "EDGE_BASIC_AUTH_PASSWORD=x"},
       "environment EDGE_BASIC_AUTH_USER: must be 1-64 characters without ':'"},
      {"site = a\nmqtt_cafile = /ca\nbacklog_full_policy = drop_newest\n",
       {NULL},
       "edge.ini:3: expected drop_oldest or reject_new"},
      {"site = a\nmqtt_cafile = /ca\nlog_level = loud\n",
       {NULL},
       "edge.ini:3: expected error, warn, info or debug"},
      {"site = a\nmqtt_cafile = /ca\ncommands_path = /var/lib/edge-agent/backlog.db\n",
       {NULL},
       "edge.ini:3: must differ from backlog_path"},
      {"site = a\nmqtt_cafile = /ca\nsite = b\n", {NULL}, "edge.ini:3: 'site' is set twice"},
      {"site = a\nmqtt_cafile = /ca\nmqtt_password = x\n",
       {NULL},
       "edge.ini:3: a password needs mqtt_username"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct refusal *t = &cases[i];
    char *env[16];
    size_t n = 0;
    if (!t->file) {
      env[n++] = "EDGE_SITE=a";
      env[n++] = "EDGE_MQTT_CAFILE=/ca";
    }
    for (size_t k = 0; k < 4 && t->env[k]; k++)
      env[n++] = (char *)t->env[k];
    env[n] = NULL;
    struct ea_config c;
    char err[256];
    int rc = load(&c, t->file, env, err, sizeof err);
    if (rc != FARM_EMALFORMED || strcmp(err, t->error) != 0)
      fail_msg("case %zu: rc %d, error \"%s\", expected \"%s\"", i, rc, err, t->error);
  }
}

static void test_missing_file(void **state)
{
  (void)state;
  struct ea_config c;
  char err[256];
  int rc = ea_config_load(&c, "/nonexistent/edge.ini", minimal_env, err, sizeof err);
  assert_int_equal(rc, FARM_ENOENT);
  assert_string_equal(err, "/nonexistent/edge.ini: No such file or directory");
}

/* docs/configuration.md has a row for every key, with its default. */
static void test_documented(void **state)
{
  (void)state;
  const char *src = getenv("FARM_SOURCE_DIR");
  assert_non_null(src);
  char path[512];
  snprintf(path, sizeof path, "%s/docs/configuration.md", src);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char doc[65536];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  fclose(f);
  doc[n] = '\0';
  size_t nk;
  const struct fd_cfg_key *k = ea_config_keys(&nk);
  for (size_t i = 0; i < nk; i++) {
    char var[96], row[256];
    size_t v = (size_t)snprintf(var, sizeof var, "EDGE_");
    for (const char *p = k[i].name; *p; p++)
      var[v++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    var[v] = '\0';
    snprintf(row, sizeof row, "| `%s` | `%s` | %s%s%s |", k[i].name, var,
             k[i].def && k[i].def[0] ? "`" : "", k[i].def && k[i].def[0] ? k[i].def : "—",
             k[i].def && k[i].def[0] ? "`" : "");
    if (!strstr(doc, row))
      fail_msg("docs/configuration.md lacks the row: %s", row);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_plus_environment),
      cmocka_unit_test(test_every_named_variable),
      cmocka_unit_test(test_file_sections_and_env_override),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_documented),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
