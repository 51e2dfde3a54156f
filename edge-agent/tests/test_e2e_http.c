/* SPDX-License-Identifier: MIT */
/* The local UI and API of the running agent against the HTTP items of
 * BAD-INPUTS (17-21): Basic Auth with malformed headers and a burst of
 * failures limited, cross-site requests refused, JSON-only state changes,
 * methods, unknown and traversing paths, oversized URLs, headers and
 * bodies; and pages that load nothing from outside the agent. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "farm.h"

/* farmer:correct horse */
#define AUTH "Authorization: Basic ZmFybWVyOmNvcnJlY3QgaG9yc2U=\r\n"

static char out[1 << 16];

static int setup(void **state)
{
  struct et_farm *f = calloc(1, sizeof *f);
  et_farm_setup(f, false);
  char pw[FH_PATH + 32];
  snprintf(pw, sizeof pw, "%s/ui.password", f->base);
  FILE *fp = fopen(pw, "w");
  fputs("correct horse\n", fp);
  fclose(fp);
  et_farm_env(f, "EDGE_BASIC_AUTH_USER=farmer");
  et_farm_env(f, "EDGE_BASIC_AUTH_PASSWORD_FILE=%s", pw);
  et_farm_env(f, "EDGE_HTTP_MAX_BODY=2048");
  /* The fixture's readiness probe has no credentials: a 401 is an answer. */
  et_farm_start(f);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct et_farm *f = *state;
  et_farm_teardown(f);
  free(f);
  return 0;
}

static int req(struct et_farm *f, const char *method, const char *path, const char *headers,
               const char *json, const char **body)
{
  return et_http(f->http_port, method, path, headers, json, out, sizeof out, body);
}

static void test_pages_are_self_contained(void **state)
{
  struct et_farm *f = *state;
  static const char *const pages[] = {"/", "/diag", "/commands"};
  for (size_t i = 0; i < 3; i++) {
    const char *body;
    assert_int_equal(req(f, "GET", pages[i], AUTH, NULL, &body), 200);
    assert_non_null(strstr(out, "Content-Type: text/html; charset=utf-8\r\n"));
    assert_non_null(strstr(out, "Content-Security-Policy: default-src 'none'; script-src 'self'"));
    assert_non_null(strstr(body, "<script src=\"/ui/app.js\""));
    /* Nothing from another host: it must work on a farm without internet. */
    assert_null(strstr(body, "http:"));
    assert_null(strstr(body, "https:"));
    assert_null(strstr(body, "src=\"//"));
    assert_null(strstr(body, "href=\"//"));
  }
  const char *body;
  assert_int_equal(req(f, "GET", "/ui/app.js", AUTH, NULL, &body), 200);
  assert_non_null(strstr(out, "Content-Type: text/javascript; charset=utf-8\r\n"));
  assert_null(strstr(body, "http:"));
  assert_null(strstr(body, "https:"));
  assert_int_equal(req(f, "GET", "/ui/style.css", AUTH, NULL, &body), 200);
  assert_null(strstr(body, "url("));
  assert_null(strstr(body, "@import"));
  /* The API the pages use. */
  json_t *j;
  assert_int_equal(req(f, "GET", "/api/status", AUTH, NULL, &body), 200);
  j = et_json(body, strlen(body));
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "edge"), "site")), "s1");
  json_decref(j);
  assert_int_equal(req(f, "GET", "/api/peers", AUTH, NULL, &body), 200);
  assert_int_equal(req(f, "GET", "/api/backlog", AUTH, NULL, &body), 200);
  assert_int_equal(req(f, "GET", "/api/commands", AUTH, NULL, &body), 200);
}

static void test_auth(void **state)
{
  struct et_farm *f = *state;
  const char *body;
  assert_int_equal(req(f, "GET", "/api/status", NULL, NULL, &body), 401);
  assert_non_null(strstr(out, "WWW-Authenticate: Basic realm=\"farm edge\""));
  assert_int_equal(req(f, "GET", "/", NULL, NULL, &body), 401);
  assert_int_equal(req(f, "POST", "/api/cmd", NULL, "{}", &body), 401);
  assert_int_equal(req(f, "GET", "/api/status", AUTH, NULL, &body), 200);
  /* Malformed (BAD-INPUTS 17): bad base64, no colon, wrong scheme, long. */
  assert_int_equal(req(f, "GET", "/", "Authorization: Basic @@@@\r\n", NULL, &body), 401);
  assert_int_equal(req(f, "GET", "/", "Authorization: Basic ZmFybWVy\r\n", NULL, &body), 401);
  assert_int_equal(
      req(f, "GET", "/", "Authorization: Bearer ZmFybWVyOmNvcnJlY3QgaG9yc2U=\r\n", NULL, &body),
      401);
  char longh[4200] = "Authorization: Basic ";
  memset(longh + strlen(longh), 'A', 4000);
  strcat(longh, "\r\n");
  int st = req(f, "GET", "/", longh, NULL, &body);
  assert_true(st == 401 || st == 413 || st == 431);
  /* The fifth failure from this address: refused for a while, even with
   * the right password. */
  st = req(f, "GET", "/", "Authorization: Basic ZmFybWVyOndyb25n\r\n", NULL, &body);
  assert_int_equal(req(f, "GET", "/api/status", AUTH, NULL, &body), 429);
  assert_non_null(strstr(out, "Retry-After: 60\r\n"));
  assert_true(fh_alive(&f->agent));
}

static void test_state_changes_guarded(void **state)
{
  struct et_farm *f = *state;
  const char *body;
  const char *cmd = "{\"device\":\"a1b2c3d4e5f6\",\"name\":\"identify\"}";
  /* Cross-site (BAD-INPUTS 20). */
  assert_int_equal(req(f, "POST", "/api/cmd", AUTH "Origin: http://evil.example\r\n", cmd, &body),
                   403);
  assert_int_equal(req(f, "POST", "/api/cmd", AUTH "Sec-Fetch-Site: cross-site\r\n", cmd, &body),
                   403);
  assert_int_equal(
      req(f, "POST", "/api/cmd", AUTH "Referer: http://evil.example/page\r\n", cmd, &body), 403);
  char same[128];
  snprintf(same, sizeof same, AUTH "Origin: http://127.0.0.1:%d\r\n", f->http_port);
  assert_int_equal(req(f, "POST", "/api/cmd", same, cmd, &body), 202);
  /* Not JSON: a form post from another page cannot pass (BAD-INPUTS 18). */
  char form[512];
  snprintf(
      form, sizeof form,
      "POST /api/cmd HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" AUTH
      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\ndevice=abcd",
      f->http_port);
  assert_int_equal(et_http_raw(f->http_port, form, strlen(form), out, sizeof out, &body), 415);
  assert_int_equal(req(f, "POST", "/api/cmd", AUTH, "{\"device\":", &body), 400);
  assert_int_equal(req(f, "POST", "/api/cmd", AUTH, "\"just a string\"", &body), 400);
  /* Methods (BAD-INPUTS 19): no state change through GET. */
  assert_int_equal(req(f, "GET", "/api/cmd", AUTH, NULL, &body), 405);
  assert_non_null(strstr(out, "Allow: POST\r\n"));
  assert_int_equal(req(f, "GET", "/api/diag/ping", AUTH, NULL, &body), 405);
  assert_int_equal(req(f, "DELETE", "/api/cmd", AUTH, NULL, &body), 405);
  assert_int_equal(req(f, "POST", "/api/status", AUTH, "{}", &body), 405);
  assert_int_equal(req(f, "PUT", "/", AUTH, NULL, &body), 405);
  /* Paths (BAD-INPUTS 21). */
  assert_int_equal(req(f, "GET", "/nope", AUTH, NULL, &body), 404);
  assert_int_equal(req(f, "GET", "/api/status/", AUTH, NULL, &body), 404);
  assert_int_equal(req(f, "GET", "/ui/../diag", AUTH, NULL, &body), 404);
  assert_int_equal(req(f, "GET", "/ui/%2e%2e/%2e%2e/etc/passwd", AUTH, NULL, &body), 404);
  assert_int_equal(req(f, "GET", "/ui/..%2fapp.js", AUTH, NULL, &body), 404);
  assert_int_equal(req(f, "GET", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", AUTH, NULL, &body), 404);
  assert_null(strstr(out, "root:"));
  /* Sizes (BAD-INPUTS 18). */
  static char big[4096];
  memset(big, ' ', sizeof big - 1);
  big[0] = '{';
  big[sizeof big - 2] = '}';
  assert_int_equal(req(f, "POST", "/api/cmd", AUTH, big, &body), 413);
  static char url[12000];
  strcpy(url, "/api/status?");
  memset(url + strlen(url), 'x', 11000);
  int st = req(f, "GET", url, AUTH, NULL, &body);
  assert_true(st == 413 || st == 414 || st == 431 || st == 400 || st == -1);
  static char hdr[12000];
  strcpy(hdr, AUTH "X-Filler: ");
  memset(hdr + strlen(hdr), 'y', 10000);
  strcat(hdr, "\r\n");
  st = req(f, "GET", "/api/status", hdr, NULL, &body);
  assert_true(st == 413 || st == 431 || st == 400 || st == -1);
  /* Still serving. */
  assert_int_equal(req(f, "GET", "/api/status", AUTH, NULL, &body), 200);
  json_t *j = et_json(body, strlen(body));
  json_t *h = json_object_get(j, "http");
  assert_int_equal(json_integer_value(json_object_get(h, "too_large")), 1);
  json_decref(j);
  assert_true(fh_alive(&f->agent));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pages_are_self_contained, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_changes_guarded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
