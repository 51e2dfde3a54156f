/* SPDX-License-Identifier: MIT */
/*
 * Configuration loader: key table, defaults, INI file through libinih with
 * exact line numbers for every error, environment overrides, secrets read
 * from files. Fails closed on anything it does not understand.
 */
#include "farmd/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "farm/error.h"

#define NAME_MAX_LEN 64

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static bool name_valid(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_LEN)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
      return false;
  return true;
}

static long find_key(const struct fd_cfg *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->nkeys; i++)
    if (strcmp(cfg->keys[i].name, name) == 0)
      return (long)i;
  return -1;
}

int fd_cfg_parse_bool(const char *s, bool *out)
{
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return FARM_EINVAL;
}

/* Checks text against the key's type; fills *iv for INT and BOOL. Writes a
 * reason (without location) to why on failure. */
static int check_value(const struct fd_cfg_key *k, const char *text,
                       int64_t *iv, char *why, size_t whylen)
{
  *iv = 0;
  for (const char *p = text; *p; p++) {
    /* Control characters have no business in a configuration value and
     * would corrupt logs that echo it. */
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      set_err(why, whylen, "control character in value of '%s'", k->name);
      return FARM_EINVAL;
    }
  }
  switch (k->type) {
  case FD_CFG_STRING:
  case FD_CFG_SECRET:
    return 0;
  case FD_CFG_BOOL: {
    bool b;
    if (fd_cfg_parse_bool(text, &b) != 0) {
      set_err(why, whylen, "'%s' expects a boolean (true/false), got '%.40s'",
              k->name, text);
      return FARM_EINVAL;
    }
    *iv = b;
    return 0;
  }
  case FD_CFG_INT: {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE ||
        isspace((unsigned char)text[0])) {
      set_err(why, whylen, "'%s' expects an integer, got '%.40s'", k->name, text);
      return FARM_EINVAL;
    }
    if (v < k->min || v > k->max) {
      set_err(why, whylen, "'%s' = %lld is outside [%lld, %lld]", k->name, v,
              (long long)k->min, (long long)k->max);
      return FARM_ERANGE;
    }
    *iv = v;
    return 0;
  }
  }
  assert(!"unknown key type");
  return FARM_EINVAL;
}

static int store(struct fd_cfg *cfg, size_t idx, const char *text,
                 enum fd_cfg_origin origin, unsigned line, char *why,
                 size_t whylen)
{
  int64_t iv;
  int rc = check_value(&cfg->keys[idx], text, &iv, why, whylen);
  if (rc != 0)
    return rc;
  char *copy = strdup(text);
  if (!copy) {
    set_err(why, whylen, "out of memory");
    return FARM_ENOMEM;
  }
  struct fd_cfg_value *v = &cfg->values[idx];
  if (v->text && cfg->keys[idx].type == FD_CFG_SECRET)
    explicit_bzero(v->text, strlen(v->text));
  free(v->text);
  v->text = copy;
  v->i = iv;
  v->origin = origin;
  v->line = line;
  return 0;
}

int fd_cfg_init(struct fd_cfg *cfg, const struct fd_cfg_key *keys, size_t n)
{
  assert(cfg && keys && n > 0);
  cfg->keys = keys;
  cfg->nkeys = n;
  cfg->values = calloc(n, sizeof(*cfg->values));
  if (!cfg->values)
    return FARM_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    assert(name_valid(keys[i].name));
    for (size_t j = 0; j < i; j++)
      assert(strcmp(keys[i].name, keys[j].name) != 0);
    if (keys[i].type == FD_CFG_INT)
      assert(keys[i].min <= keys[i].max);
    if (keys[i].def) {
      char why[160];
      int rc = store(cfg, i, keys[i].def, FD_CFG_DEFAULT, 0, why, sizeof why);
      assert(rc != FARM_EINVAL && rc != FARM_ERANGE); /* bad default */
      if (rc != 0) {
        fd_cfg_free(cfg);
        return rc;
      }
    }
  }
  return 0;
}

void fd_cfg_free(struct fd_cfg *cfg)
{
  if (!cfg->values)
    return;
  for (size_t i = 0; i < cfg->nkeys; i++) {
    char *t = cfg->values[i].text;
    if (t && cfg->keys[i].type == FD_CFG_SECRET)
      explicit_bzero(t, strlen(t));
    free(t);
  }
  free(cfg->values);
  cfg->values = NULL;
}

/* Reads the first line of a secret file (without its newline). */
static int read_secret_file(const char *path, char **out, char *why,
                            size_t whylen)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    set_err(why, whylen, "cannot open secret file '%s': %s", path, strerror(errno));
    return FARM_EMALFORMED;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, f);
  fclose(f);
  if (n < 0) {
    free(line);
    set_err(why, whylen, "secret file '%s' is empty", path);
    return FARM_EMALFORMED;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  if (n == 0) {
    free(line);
    set_err(why, whylen, "secret file '%s' is empty", path);
    return FARM_EMALFORMED;
  }
  *out = line;
  return 0;
}

/* Applies name=value from either source. name may be a secret's "k_file". */
static int apply(struct fd_cfg *cfg, const char *name, const char *value,
                 enum fd_cfg_origin origin, unsigned line, char *why,
                 size_t whylen)
{
  long idx = find_key(cfg, name);
  if (idx >= 0)
    return store(cfg, (size_t)idx, value, origin, line, why, whylen);
  size_t n = strlen(name);
  if (n > 5 && strcmp(name + n - 5, "_file") == 0) {
    char base[NAME_MAX_LEN + 1];
    if (n - 5 <= NAME_MAX_LEN) {
      memcpy(base, name, n - 5);
      base[n - 5] = '\0';
      idx = find_key(cfg, base);
      if (idx >= 0 && cfg->keys[idx].type == FD_CFG_SECRET) {
        char *secret;
        int rc = read_secret_file(value, &secret, why, whylen);
        if (rc != 0)
          return rc;
        rc = store(cfg, (size_t)idx, secret, origin, line, why, whylen);
        explicit_bzero(secret, strlen(secret));
        free(secret);
        return rc;
      }
    }
  }
  char shown[NAME_MAX_LEN + 1];
  size_t k = 0;
  for (const char *p = name; *p && k < NAME_MAX_LEN; p++)
    shown[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
  shown[k] = '\0';
  set_err(why, whylen, "unknown key '%s'", shown);
  return FARM_EMALFORMED;
}

struct file_state {
  struct fd_cfg *cfg;
  FILE *f;
  unsigned line;        /* lines handed to inih so far */
  bool too_long;        /* the reader met an over-long line */
  unsigned err_line;    /* first handler error */
  char why[200];
  bool *seen;           /* per key: already set by this file */
};

/* inih reader: one whole line per call, so the count is exact; a line that
 * does not fit inih's buffer stops the parse instead of being split. */
static char *reader(char *str, int num, void *stream)
{
  struct file_state *st = stream;
  if (st->too_long || st->err_line)
    return NULL;
  int i = 0;
  int c;
  while ((c = fgetc(st->f)) != EOF) {
    if (i >= num - 1 || i >= FD_CFG_MAX_LINE) {
      st->too_long = true;
      st->line++;
      return NULL;
    }
    str[i++] = (char)c;
    if (c == '\n')
      break;
  }
  if (i == 0)
    return NULL;
  str[i] = '\0';
  st->line++;
  return str;
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
  struct file_state *st = user;
  if (st->err_line)
    return 0;
  char full[2 * NAME_MAX_LEN + 2];
  if (section[0] != '\0')
    snprintf(full, sizeof full, "%s_%s", section, name);
  else
    snprintf(full, sizeof full, "%s", name);
  if (strlen(section) > NAME_MAX_LEN || strlen(name) > NAME_MAX_LEN) {
    snprintf(st->why, sizeof st->why, "key name longer than %d characters", NAME_MAX_LEN);
    st->err_line = st->line;
    return 0;
  }
  /* Duplicates are refused: with two values, which one wins is a guess. */
  long idx = find_key(st->cfg, full);
  if (idx < 0) {
    size_t n = strlen(full);
    if (n > 5 && strcmp(full + n - 5, "_file") == 0) {
      full[n - 5] = '\0';
      idx = find_key(st->cfg, full);
      full[n - 5] = '_';
    }
  }
  if (idx >= 0) {
    if (st->seen[idx]) {
      snprintf(st->why, sizeof st->why, "'%s' is set twice", st->cfg->keys[idx].name);
      st->err_line = st->line;
      return 0;
    }
    st->seen[idx] = true;
  }
  if (apply(st->cfg, full, value, FD_CFG_FILE, st->line, st->why, sizeof st->why) != 0) {
    st->err_line = st->line;
    return 0;
  }
  return 1;
}

int fd_cfg_load_file(struct fd_cfg *cfg, const char *path, char *err,
                     size_t errlen)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return FARM_ENOENT;
  }
  struct file_state st = {.cfg = cfg, .f = f};
  st.seen = calloc(cfg->nkeys, sizeof(bool));
  if (!st.seen) {
    fclose(f);
    set_err(err, errlen, "%s: out of memory", path);
    return FARM_ENOMEM;
  }
  int rc = ini_parse_stream(reader, &st, handler, &st);
  bool read_error = ferror(f) != 0;
  fclose(f);
  free(st.seen);

  if (read_error) {
    set_err(err, errlen, "%s:%u: read error", path, st.line);
    return FARM_EMALFORMED;
  }
  /* The earliest problem wins: inih reports its first syntax error line,
   * the handler and reader record their own. */
  unsigned syntax_line = rc > 0 ? (unsigned)rc : 0;
  if (st.too_long && (!syntax_line || st.line <= syntax_line)) {
    set_err(err, errlen, "%s:%u: line longer than %d characters", path, st.line,
            FD_CFG_MAX_LINE);
    return FARM_EMALFORMED;
  }
  if (st.err_line && (!syntax_line || st.err_line <= syntax_line)) {
    set_err(err, errlen, "%s:%u: %s", path, st.err_line, st.why);
    return FARM_EMALFORMED;
  }
  if (syntax_line) {
    set_err(err, errlen, "%s:%u: syntax error (expected '[section]' or 'key = value')",
            path, syntax_line);
    return FARM_EMALFORMED;
  }
  if (rc != 0) {
    set_err(err, errlen, "%s: cannot parse", path);
    return FARM_EMALFORMED;
  }
  return 0;
}

int fd_cfg_load_env(struct fd_cfg *cfg, const char *prefix,
                    char *const *envp, const char *const *allow, char *err,
                    size_t errlen)
{
  size_t plen = strlen(prefix);
  for (char *const *e = envp; e && *e; e++) {
    const char *kv = *e;
    if (strncmp(kv, prefix, plen) != 0)
      continue;
    const char *eq = strchr(kv, '=');
    if (!eq)
      continue;
    size_t nlen = (size_t)(eq - kv);
    char var[128];
    if (nlen >= sizeof var) {
      set_err(err, errlen, "environment %.60s...: name too long", kv);
      return FARM_EMALFORMED;
    }
    memcpy(var, kv, nlen);
    var[nlen] = '\0';
    bool allowed = false;
    for (const char *const *a = allow; a && *a; a++)
      if (strcmp(*a, var) == 0)
        allowed = true;
    if (allowed)
      continue;
    char name[128];
    size_t k = 0;
    for (const char *p = var + plen; *p && k + 1 < sizeof name; p++)
      name[k++] = (char)tolower((unsigned char)*p);
    name[k] = '\0';
    char why[200];
    if (apply(cfg, name, eq + 1, FD_CFG_ENV, 0, why, sizeof why) != 0) {
      set_err(err, errlen, "environment %s: %s", var, why);
      return FARM_EMALFORMED;
    }
  }
  return 0;
}

static const struct fd_cfg_value *get(const struct fd_cfg *cfg, const char *name,
                                      enum fd_cfg_type t1, enum fd_cfg_type t2)
{
  long idx = find_key(cfg, name);
  assert(idx >= 0 && "configuration key not in the table");
  assert(cfg->keys[idx].type == t1 || cfg->keys[idx].type == t2);
  (void)t1;
  (void)t2;
  return &cfg->values[idx];
}

const char *fd_cfg_str(const struct fd_cfg *cfg, const char *name)
{
  return get(cfg, name, FD_CFG_STRING, FD_CFG_SECRET)->text;
}

int64_t fd_cfg_int(const struct fd_cfg *cfg, const char *name)
{
  return get(cfg, name, FD_CFG_INT, FD_CFG_INT)->i;
}

bool fd_cfg_bool(const struct fd_cfg *cfg, const char *name)
{
  return get(cfg, name, FD_CFG_BOOL, FD_CFG_BOOL)->i != 0;
}

bool fd_cfg_isset(const struct fd_cfg *cfg, const char *name)
{
  long idx = find_key(cfg, name);
  assert(idx >= 0);
  const char *t = cfg->values[idx].text;
  return t && t[0] != '\0';
}

void fd_cfg_dump(const struct fd_cfg *cfg, FILE *out)
{
  static const char *const origin[] = {"unset", "default", "file", "environment"};
  for (size_t i = 0; i < cfg->nkeys; i++) {
    const struct fd_cfg_value *v = &cfg->values[i];
    const char *shown = v->text ? v->text : "";
    if (cfg->keys[i].type == FD_CFG_SECRET)
      shown = (v->text && v->text[0]) ? "(set)" : "(unset)";
    if (v->origin == FD_CFG_FILE)
      fprintf(out, "%s = %s  # file, line %u\n", cfg->keys[i].name, shown, v->line);
    else
      fprintf(out, "%s = %s  # %s\n", cfg->keys[i].name, shown, origin[v->origin]);
  }
}
