/* SPDX-License-Identifier: MIT */
/*
 * farmctl admin commands against web-gateway (see cmd_admin.h):
 *
 *   farmctl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]
 *     sites | devices [--site S] | device ID
 *     telemetry DEVICE METRIC [--from T] [--to T] [--step MS]
 *     cmd DEVICE NAME [k=v ...] [--expires S] [--wait]
 *     alerts [--state S] [--device D] | ack ALERT_ID
 *     events [--device D] [--type T] [--limit N]
 *     rules | rules add k=v ... | rules delete ID
 *
 * URL and TOKEN also come from FARMCTL_URL and FARMCTL_TOKEN. Output is a
 * table, or the API's JSON with --json. Exit status: 0 done (for cmd
 * --wait: executed), 1 refused or failed (the API's reason is printed),
 * 2 usage.
 */
#include "cmd_admin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "farm/error.h"

#define CMD "admin"

struct admin {
  const char *url, *token;
  bool json;
};

int admin_parse_kv(const char *arg, json_t *obj, char *why, size_t cap)
{
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) {
    snprintf(why, cap, "'%s' is not key=value", arg);
    return FARM_EINVAL;
  }
  char key[64];
  size_t kl = (size_t)(eq - arg);
  if (kl >= sizeof key) {
    snprintf(why, cap, "key too long in '%s'", arg);
    return FARM_EINVAL;
  }
  memcpy(key, arg, kl);
  key[kl] = '\0';
  const char *v = eq + 1;
  json_t *val;
  char *end = NULL;
  bool numeric_start = isdigit((unsigned char)v[0]) ||
                       ((v[0] == '-' || v[0] == '.') && isdigit((unsigned char)v[1]));
  if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
    val = json_boolean(v[0] == 't');
  } else if (numeric_start && (errno = 0, strtoll(v, &end, 10), !*end && errno == 0)) {
    val = json_integer(strtoll(v, NULL, 10));
  } else if (numeric_start && (strtod(v, &end), !*end)) {
    val = json_real(strtod(v, NULL));
  } else {
    val = json_string(v);
  }
  if (!val || json_object_set_new(obj, key, val) != 0) {
    snprintf(why, cap, "'%s' is not valid UTF-8 or memory ran out", arg);
    return FARM_EINVAL;
  }
  return 0;
}

int admin_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
  if (strcmp(s, "now") == 0) {
    *out = now_ms;
    return 0;
  }
  char *end = NULL;
  if (s[0] == '-') {
    long long n = strtoll(s + 1, &end, 10);
    if (end == s + 1 || n < 0 || end[0] == '\0' || end[1] != '\0')
      return FARM_EINVAL;
    int64_t unit;
    switch (*end) {
    case 's': unit = 1000; break;
    case 'm': unit = 60000; break;
    case 'h': unit = 3600000; break;
    case 'd': unit = 86400000; break;
    default: return FARM_EINVAL;
    }
    if (n > INT64_MAX / unit)
      return FARM_EINVAL;
    *out = now_ms - n * unit;
    return 0;
  }
  long long v = strtoll(s, &end, 10);
  if (end == s || *end || v < 0 || !isdigit((unsigned char)s[0]))
    return FARM_EINVAL;
  *out = v;
  return 0;
}

/* A member reached by "a" or "a.b". */
static const json_t *member(const json_t *o, const char *path)
{
  const char *dot = strchr(path, '.');
  if (!dot)
    return json_object_get(o, path);
  char first[64];
  snprintf(first, sizeof first, "%.*s", (int)(dot - path), path);
  return member(json_object_get(o, first), dot + 1);
}

static void cell(const json_t *v, char *out, size_t cap)
{
  if (!v || json_is_null(v)) {
    snprintf(out, cap, "-");
  } else if (json_is_string(v)) {
    /* One line per row: control characters never reach the terminal. */
    size_t o = 0;
    for (const char *p = json_string_value(v); *p && o + 1 < cap; p++)
      out[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    out[o] = '\0';
  } else if (json_is_integer(v)) {
    snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  } else if (json_is_real(v)) {
    snprintf(out, cap, "%.6g", json_real_value(v));
  } else if (json_is_boolean(v)) {
    snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no");
  } else if (json_is_object(v)) {
    size_t o = 0;
    const char *k;
    const json_t *x;
    out[0] = '\0';
    json_object_foreach((json_t *)v, k, x)
    {
      char inner[64];
      if (json_is_object(x) && json_object_get(x, "value"))
        x = json_object_get(x, "value"); /* latest values: {metric: {ts, value}} */
      cell(x, inner, sizeof inner);
      int n = snprintf(out + o, cap - o, "%s%s=%s", o ? " " : "", k, inner);
      if (n < 0 || (size_t)n >= cap - o)
        break;
      o += (size_t)n;
    }
  } else {
    char *t = json_dumps(v, JSON_COMPACT);
    snprintf(out, cap, "%s", t ? t : "?");
    free(t);
  }
}

void admin_table(FILE *out, const json_t *rows, const char *const *cols, size_t ncols)
{
  size_t nrows = json_array_size(rows);
  size_t *width = calloc(ncols, sizeof *width);
  if (!width)
    return;
  char buf[256];
  for (size_t c = 0; c < ncols; c++)
    width[c] = strlen(cols[c]);
  for (size_t r = 0; r < nrows; r++) {
    for (size_t c = 0; c < ncols; c++) {
      cell(member(json_array_get(rows, r), cols[c]), buf, sizeof buf);
      if (strlen(buf) > width[c])
        width[c] = strlen(buf);
    }
  }
  for (size_t c = 0; c < ncols; c++) {
    char head[64];
    size_t i = 0;
    for (; cols[c][i] && i + 1 < sizeof head; i++)
      head[i] = (char)toupper((unsigned char)cols[c][i]);
    head[i] = '\0';
    if (c + 1 < ncols)
      fprintf(out, "%-*s  ", (int)width[c], head);
    else
      fprintf(out, "%s\n", head);
  }
  for (size_t r = 0; r < nrows; r++) {
    for (size_t c = 0; c < ncols; c++) {
      cell(member(json_array_get(rows, r), cols[c]), buf, sizeof buf);
      if (c + 1 < ncols)
        fprintf(out, "%-*s  ", (int)width[c], buf);
      else
        fprintf(out, "%s\n", buf);
    }
  }
  free(width);
}

/* ---- HTTP ---- */

struct body {
  char *p;
  size_t n;
};

static size_t collect(char *data, size_t sz, size_t n, void *ud)
{
  struct body *b = ud;
  size_t add = sz * n;
  if (b->n + add > CLI_MAX_INPUT)
    return 0;
  char *np = realloc(b->p, b->n + add + 1);
  if (!np)
    return 0;
  b->p = np;
  memcpy(b->p + b->n, data, add);
  b->n += add;
  b->p[b->n] = '\0';
  return add;
}

/* Runs one request; returns the HTTP status (0: no answer, reason
 * printed) and the parsed JSON body (NULL if none) in *out. */
static long call(const struct admin *a, const char *method, const char *path, const json_t *body,
                 json_t **out)
{
  *out = NULL;
  CURL *c = curl_easy_init();
  if (!c)
    return 0;
  size_t ul = strlen(a->url);
  while (ul && a->url[ul - 1] == '/')
    ul--;
  char *url = malloc(ul + strlen(path) + 16);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  char auth[600];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->token);
  struct curl_slist *h = curl_slist_append(NULL, auth);
  h = curl_slist_append(h, "Accept: application/json");
  if (text)
    h = curl_slist_append(h, "Content-Type: application/json");
  struct body b = {0};
  long status = 0;
  if (url && h) {
    sprintf(url, "%.*s/api/v1%s", (int)ul, a->url, path);
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    if (text)
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    else if (strcmp(method, "POST") == 0)
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
      cli_fail("%s: %s", url, err[0] ? err : curl_easy_strerror(rc));
  }
  if (b.p)
    *out = json_loads(b.p, 0, NULL);
  free(b.p);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  free(url);
  free(text);
  return status;
}

/* Calls and checks: EXIT_OK with *out, or EXIT_FAIL after printing why. */
static int request(const struct admin *a, const char *method, const char *path,
                   const json_t *body, json_t **out)
{
  long st = call(a, method, path, body, out);
  if (st == 0)
    return EXIT_FAIL;
  if (st < 200 || st >= 300) {
    const char *why = json_string_value(json_object_get(*out, "error"));
    cli_fail("HTTP %ld: %s", st, why ? why : "no reason given");
    json_decref(*out);
    *out = NULL;
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

static int print(const struct admin *a, json_t *o, const char *key, const char *const *cols,
                 size_t ncols)
{
  if (a->json || !key) {
    char *t = json_dumps(o, JSON_COMPACT);
    if (t)
      printf("%s\n", t);
    free(t);
  } else {
    /* key "" prints the object itself as one row. */
    json_t *rows = key[0] ? json_object_get(o, key) : o;
    if (json_is_object(rows)) {
      json_t *one = json_array();
      json_array_append(one, rows);
      admin_table(stdout, one, cols, ncols);
      json_decref(one);
    } else {
      admin_table(stdout, rows, cols, ncols);
    }
  }
  json_decref(o);
  return cli_flush() == 0 ? EXIT_OK : EXIT_FAIL;
}

#define COLS(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

/* Appends "&name=value" (value URL-escaped) to q. */
static void add_q(char *q, size_t cap, const char *name, const char *value)
{
  char *esc = curl_easy_escape(NULL, value, 0);
  size_t used = strlen(q);
  snprintf(q + used, cap - used, "%s%s=%s", used ? "&" : "?", name, esc ? esc : "");
  curl_free(esc);
}

/* Options of a subcommand: --name VALUE pairs into q (names listed in
 * allowed); positional words into pos. */
static int sub_opts(int argc, char **argv, const char *const *allowed, char *q, size_t qcap,
                    char **pos, int *npos, int maxpos, int64_t now, const char *cmd)
{
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0) {
      bool ok = false;
      for (size_t k = 0; allowed && allowed[k]; k++)
        ok = ok || strcmp(argv[i] + 2, allowed[k]) == 0;
      if (!ok || i + 1 >= argc)
        return cli_usage_error(cmd, "unknown option or missing value: %s", argv[i]);
      const char *name = argv[i] + 2;
      const char *val = argv[++i];
      char tmp[32];
      if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0) {
        int64_t t;
        if (admin_parse_time(val, now, &t) != 0)
          return cli_usage_error(cmd, "--%s: Unix ms, now, or -N[smhd]", name);
        snprintf(tmp, sizeof tmp, "%" PRId64, t);
        val = tmp;
      }
      add_q(q, qcap, name, val);
    } else if (*npos < maxpos) {
      pos[(*npos)++] = argv[i];
    } else {
      return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
  }
  return EXIT_OK;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool id_ok(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
          s[i] == '-'))
      return false;
  return true;
}

static int do_cmd(const struct admin *a, int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("cmd", "usage: cmd DEVICE NAME [k=v ...] [--expires S] [--wait]");
  if (!id_ok(argv[0]))
    return cli_usage_error("cmd", "'%s' is not a device id", argv[0]);
  json_t *args = json_object();
  json_t *body = json_pack("{s:s}", "name", argv[1]);
  bool wait = false;
  for (int i = 2; i < argc; i++) {
    char why[160];
    if (strcmp(argv[i], "--wait") == 0) {
      wait = true;
    } else if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
      char *end;
      long long s = strtoll(argv[++i], &end, 10);
      if (*end || s < 1 || s > 86400) {
        json_decref(args);
        json_decref(body);
        return cli_usage_error("cmd", "--expires takes 1..86400 seconds");
      }
      json_object_set_new(body, "expires_in_s", json_integer(s));
    } else if (admin_parse_kv(argv[i], args, why, sizeof why) != 0) {
      json_decref(args);
      json_decref(body);
      return cli_usage_error("cmd", "%s", why);
    }
  }
  json_object_set_new(body, "args", args);
  char path[160];
  snprintf(path, sizeof path, "/devices/%s/commands", argv[0]);
  json_t *r;
  int rc = request(a, "POST", path, body, &r);
  json_decref(body);
  if (rc != EXIT_OK)
    return rc;
  if (!wait)
    return print(a, r, "", COLS("id", "state", "name", "expires"));
  char id[80];
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "id")));
  int64_t until = json_integer_value(json_object_get(r, "expires_ts")) + 10000;
  json_decref(r);
  snprintf(path, sizeof path, "/commands/%s", id);
  const char *state = "pending";
  json_t *c = NULL;
  while (now_ms() < until) {
    json_decref(c);
    c = NULL;
    if (request(a, "GET", path, NULL, &c) != EXIT_OK)
      return EXIT_FAIL;
    state = json_string_value(json_object_get(c, "state"));
    if (strcmp(state, "executed") == 0 || strcmp(state, "failed") == 0 ||
        strcmp(state, "expired") == 0)
      break;
    struct timespec pause = {0, 250000000L};
    nanosleep(&pause, NULL);
  }
  bool ok = c && strcmp(json_string_value(json_object_get(c, "state")), "executed") == 0;
  const char *err = json_string_value(json_object_get(c, "error"));
  if (!ok && c && !a->json)
    cli_fail("command %s %s%s%s", id, json_string_value(json_object_get(c, "state")),
             err ? ": " : "", err ? err : "");
  int prc = c ? print(a, c, "", COLS("id", "state", "name", "error")) : EXIT_FAIL;
  return ok && prc == EXIT_OK ? EXIT_OK : EXIT_FAIL;
}

static int do_rules(const struct admin *a, int argc, char **argv)
{
  json_t *r;
  if (argc == 0 || strcmp(argv[0], "list") == 0) {
    if (request(a, "GET", "/rules", NULL, &r) != EXIT_OK)
      return EXIT_FAIL;
    return print(a, r, "rules",
                 COLS("id", "name", "kind", "site", "device", "metric", "op", "threshold",
                      "duration_ms", "enabled"));
  }
  if (strcmp(argv[0], "add") == 0) {
    json_t *body = json_object();
    for (int i = 1; i < argc; i++) {
      char why[160];
      if (admin_parse_kv(argv[i], body, why, sizeof why) != 0) {
        json_decref(body);
        return cli_usage_error("rules", "%s", why);
      }
    }
    /* A name of digits is still a name. */
    json_t *n = json_object_get(body, "name");
    if (json_is_number(n)) {
      char t[32];
      snprintf(t, sizeof t, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
      json_object_set_new(body, "name", json_string(t));
    }
    int rc = request(a, "POST", "/rules", body, &r);
    json_decref(body);
    if (rc != EXIT_OK)
      return rc;
    json_t *wrap = json_pack("{s:o}", "rule", r);
    return print(a, a->json ? json_incref(r) : wrap, a->json ? NULL : "rule",
                 COLS("id", "name", "kind", "metric", "op", "threshold"));
  }
  if (strcmp(argv[0], "delete") == 0 && argc == 2) {
    char path[64];
    char *end;
    long long id = strtoll(argv[1], &end, 10);
    if (*end || id <= 0)
      return cli_usage_error("rules", "delete takes a rule id");
    snprintf(path, sizeof path, "/rules/%lld", id);
    if (request(a, "DELETE", path, NULL, &r) != EXIT_OK)
      return EXIT_FAIL;
    return print(a, r, NULL, NULL, 0);
  }
  return cli_usage_error("rules", "usage: rules [list] | rules add k=v ... | rules delete ID");
}

static const char usage[] =
    "usage: farmctl [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]\n"
    "\n"
    "Administration through web-gateway's API (URL and TOKEN also from\n"
    "FARMCTL_URL and FARMCTL_TOKEN; a token comes from an admin's\n"
    "POST /api/v1/tokens or from POST /api/v1/login):\n"
    "  sites                              sites and their devices\n"
    "  devices [--site S]                 devices, state and latest values\n"
    "  device ID                          one device\n"
    "  telemetry DEVICE METRIC [--from T] [--to T] [--step MS]\n"
    "                                     a series; T is Unix ms, now or -N[smhd];\n"
    "                                     step 0 = raw, else a multiple of 60000\n"
    "  cmd DEVICE NAME [k=v ...] [--expires S] [--wait]\n"
    "                                     send a command (e.g. relay.set ch=2 on=true);\n"
    "                                     --wait follows it and exits 0 only if executed\n"
    "  alerts [--state S] [--device D]    alerts (S: open, acknowledged, resolved, active)\n"
    "  ack ALERT_ID                       acknowledge an alert\n"
    "  events [--device D] [--type T] [--limit N]\n"
    "  rules | rules add k=v ... | rules delete ID\n"
    "                                     alert rules (add: name= kind= metric= op= threshold=)\n"
    "Output: aligned tables, or the API's JSON with --json.\n"
    "Exit status: 0 done, 1 refused or failed (the reason is printed), 2 usage.\n";

int cmd_admin(int argc, char **argv)
{
  struct admin a = {getenv("FARMCTL_URL"), getenv("FARMCTL_TOKEN"), false};
  /* Global options, then the command word; what follows is the command's. */
  int i = 0;
  for (; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(usage, stdout);
      return EXIT_OK;
    }
    if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
      a.url = argv[++i];
    else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
      a.token = argv[++i];
    else if (strcmp(argv[i], "--json") == 0)
      a.json = true;
    else if (strncmp(argv[i], "--", 2) == 0)
      return cli_usage_error(NULL, "unknown option %s", argv[i]);
    else
      break;
  }
  if (i >= argc)
    return cli_usage_error(NULL, "missing command");
  const char *cmd = argv[i++];
  int n = argc - i;
  char **rest = argv + i;
  /* --json may follow the command too. */
  int k = 0;
  for (int j = 0; j < n; j++) {
    if (strcmp(rest[j], "--json") == 0)
      a.json = true;
    else
      rest[k++] = rest[j];
  }
  n = k;
  if (!a.url || !a.url[0])
    return cli_usage_error(NULL, "no gateway: pass --url or set FARMCTL_URL");
  if (!a.token || !a.token[0])
    return cli_usage_error(NULL, "no token: pass --token or set FARMCTL_TOKEN");
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
    return cli_fail("cannot initialise libcurl");

  int rc;
  json_t *r = NULL;
  char q[1024] = "", path[1200];
  char *pos[4];
  int npos;
  int64_t now = now_ms();
  if (strcmp(cmd, "sites") == 0 && n == 0) {
    rc = request(&a, "GET", "/sites", NULL, &r);
    if (rc == EXIT_OK)
      rc = print(&a, r, "sites", COLS("site", "devices", "online", "last_seen", "watermark"));
  } else if (strcmp(cmd, "devices") == 0) {
    rc = sub_opts(n, rest, (const char *const[]){"site", NULL}, q, sizeof q, pos, &npos, 0, now,
                  cmd);
    snprintf(path, sizeof path, "/devices%s", q);
    if (rc == EXIT_OK)
      rc = request(&a, "GET", path, NULL, &r);
    if (rc == EXIT_OK)
      rc = print(&a, r, "devices",
                 COLS("device", "site", "online", "rssi", "firmware", "last_seen", "latest"));
  } else if (strcmp(cmd, "device") == 0 && n == 1 && id_ok(rest[0])) {
    snprintf(path, sizeof path, "/devices/%s", rest[0]);
    rc = request(&a, "GET", path, NULL, &r);
    if (rc == EXIT_OK) {
      json_t *wrap = a.json ? r : json_pack("{s:o}", "device", r);
      rc = print(&a, wrap, a.json ? NULL : "device",
                 COLS("device", "site", "online", "rssi", "firmware", "last_seen", "latest"));
    }
  } else if (strcmp(cmd, "telemetry") == 0) {
    rc = sub_opts(n, rest, (const char *const[]){"from", "to", "step", NULL}, q, sizeof q, pos,
                  &npos, 2, now, cmd);
    if (rc == EXIT_OK && (npos != 2 || !id_ok(pos[0]) || !id_ok(pos[1])))
      rc = cli_usage_error(cmd, "usage: telemetry DEVICE METRIC [--from T] [--to T] [--step MS]");
    if (rc == EXIT_OK) {
      add_q(q, sizeof q, "metric", pos[1]);
      snprintf(path, sizeof path, "/devices/%s/telemetry%s", pos[0], q);
      rc = request(&a, "GET", path, NULL, &r);
    }
    if (rc == EXIT_OK && a.json) {
      rc = print(&a, r, NULL, NULL, 0);
    } else if (rc == EXIT_OK) {
      /* Points are arrays: turn them into rows. */
      bool raw = json_integer_value(json_object_get(r, "step")) == 0;
      json_t *rows = json_array();
      size_t j;
      json_t *pt;
      json_array_foreach(json_object_get(r, "points"), j, pt)
      {
        time_t s = (time_t)(json_integer_value(json_array_get(pt, 0)) / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&s, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *row = raw ? json_pack("{s:O,s:s,s:O}", "ts", json_array_get(pt, 0), "time",
                                      when, "value", json_array_get(pt, 1))
                          : json_pack("{s:O,s:s,s:O,s:O,s:O,s:O}", "ts", json_array_get(pt, 0),
                                      "time", when, "mean", json_array_get(pt, 1), "min",
                                      json_array_get(pt, 2), "max", json_array_get(pt, 3),
                                      "count", json_array_get(pt, 4));
        json_array_append_new(rows, row);
      }
      json_decref(r);
      r = json_pack("{s:o}", "points", rows);
      rc = raw ? print(&a, r, "points", COLS("ts", "time", "value"))
               : print(&a, r, "points", COLS("ts", "time", "mean", "min", "max", "count"));
    }
  } else if (strcmp(cmd, "cmd") == 0) {
    rc = do_cmd(&a, n, rest);
  } else if (strcmp(cmd, "alerts") == 0) {
    rc = sub_opts(n, rest, (const char *const[]){"state", "device", "limit", NULL}, q, sizeof q,
                  pos, &npos, 0, now, cmd);
    snprintf(path, sizeof path, "/alerts%s", q);
    if (rc == EXIT_OK)
      rc = request(&a, "GET", path, NULL, &r);
    if (rc == EXIT_OK)
      rc = print(&a, r, "alerts",
                 COLS("id", "state", "site", "device", "kind", "metric", "value", "opened_ts",
                      "message"));
  } else if (strcmp(cmd, "ack") == 0 && n == 1) {
    char *end;
    long long id = strtoll(rest[0], &end, 10);
    if (*end || id <= 0) {
      rc = cli_usage_error(cmd, "ack takes an alert id");
    } else {
      snprintf(path, sizeof path, "/alerts/%lld/ack", id);
      rc = request(&a, "POST", path, NULL, &r);
      if (rc == EXIT_OK)
        rc = print(&a, r, NULL, NULL, 0);
    }
  } else if (strcmp(cmd, "events") == 0) {
    rc = sub_opts(n, rest, (const char *const[]){"device", "site", "type", "limit", "from", "to", NULL},
                  q, sizeof q, pos, &npos, 0, now, cmd);
    snprintf(path, sizeof path, "/events%s", q);
    if (rc == EXIT_OK)
      rc = request(&a, "GET", path, NULL, &r);
    if (rc == EXIT_OK)
      rc = print(&a, r, "events", COLS("id", "ts", "site", "device", "type", "body"));
  } else if (strcmp(cmd, "rules") == 0) {
    rc = do_rules(&a, n, rest);
  } else {
    rc = cli_usage_error(NULL, "unknown command or arguments: %s", cmd);
  }
  curl_global_cleanup();
  return rc;
}
