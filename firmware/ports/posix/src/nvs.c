/* SPDX-License-Identifier: MIT */
/*
 * Simulated NVS: typed entries over one byte pool sized like a small NVS
 * partition (so "storage full" happens as on the chip), a staged copy the
 * core works on and a committed copy that survives a restart, and, with a
 * state directory, one text file per board replaced atomically (write a
 * temporary file, fsync, rename) at each commit so a killed simulator never
 * leaves half a file. The text format keeps the state readable:
 *
 *   iotferme-nvs 1
 *   u32 <key> <decimal>
 *   blob <key> <lowercase hex, or - when empty>
 *
 * Keys are 1..HAL_NVS_KEY_MAX printable ASCII characters other than space;
 * the port refuses others so the format needs no quoting.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm/error.h"
#include "internal.h"

enum { NVS_U32 = 1, NVS_BLOB = 2 };

#define NVS_MAGIC "iotferme-nvs 1"
/* Largest file this port can write: every pool byte as two hex digits plus
 * a line per entry. Anything bigger was not written by us. */
#define NVS_FILE_MAX (SIM_NVS_BYTES * 2 + SIM_NVS_ENTRIES * 40 + 64)

static bool key_valid(const char *key)
{
  size_t n = 0;
  for (; key[n]; n++) {
    if (n >= HAL_NVS_KEY_MAX || key[n] <= ' ' || key[n] > '~')
      return false;
  }
  return n >= 1;
}

static int find(const struct sim_nvs *s, const char *key)
{
  for (int i = 0; i < s->count; i++)
    if (strcmp(s->entries[i].key, key) == 0)
      return i;
  return -1;
}

/* Removes entry i and closes the gap it leaves in the pool. */
static void remove_at(struct sim_nvs *s, int i)
{
  struct sim_nvs_entry gone = s->entries[i];
  memmove(s->pool + gone.off, s->pool + gone.off + gone.len, s->used - gone.off - gone.len);
  s->used = (uint16_t)(s->used - gone.len);
  memmove(&s->entries[i], &s->entries[i + 1], (size_t)(s->count - i - 1) * sizeof s->entries[0]);
  s->count--;
  for (int k = 0; k < s->count; k++)
    if (s->entries[k].off > gone.off)
      s->entries[k].off = (uint16_t)(s->entries[k].off - gone.len);
}

static int put(struct sim_nvs *s, const char *key, uint8_t type, const void *data, size_t len)
{
  int i = find(s, key);
  size_t old = i >= 0 ? s->entries[i].len : 0;
  if (i < 0 && s->count == SIM_NVS_ENTRIES)
    return FARM_ENOSPC;
  if (len > SIM_NVS_BYTES || s->used - old + len > SIM_NVS_BYTES)
    return FARM_ENOSPC;
  /* A key holds one value of one type: a set of another type replaces it,
   * as ESP-IDF does. */
  if (i >= 0)
    remove_at(s, i);
  struct sim_nvs_entry *e = &s->entries[s->count++];
  memset(e, 0, sizeof *e);
  strcpy(e->key, key);
  e->type = type;
  e->off = s->used;
  e->len = (uint16_t)len;
  if (len)
    memcpy(s->pool + e->off, data, len);
  s->used = (uint16_t)(s->used + len);
  return 0;
}

/* Consumes an injected failure. */
static int take_fail(struct hal_port *p)
{
  int err = p->nvs_fail;
  p->nvs_fail = 0;
  return err;
}

static const struct sim_nvs_entry *lookup(struct hal_port *p, const char *key, uint8_t type,
                                          int *err)
{
  /* A key that breaks the rules cannot have been stored. */
  if (!key_valid(key)) {
    hal_log(p, HAL_LOG_WARN, "nvs: invalid key");
    *err = FARM_ENOENT;
    return NULL;
  }
  int i = find(&p->nvs, key);
  if (i < 0) {
    *err = FARM_ENOENT;
    return NULL;
  }
  if (p->nvs.entries[i].type != type) {
    *err = FARM_ETYPE;
    return NULL;
  }
  *err = 0;
  return &p->nvs.entries[i];
}

int hal_nvs_get_u32(struct hal_port *p, const char *key, uint32_t *out)
{
  assert(p && key && out);
  int err;
  const struct sim_nvs_entry *e = lookup(p, key, NVS_U32, &err);
  if (!e)
    return err;
  memcpy(out, p->nvs.pool + e->off, sizeof *out);
  return 0;
}

int hal_nvs_get_blob(struct hal_port *p, const char *key, void *buf, size_t cap, size_t *len)
{
  assert(p && key && len && (buf || cap == 0));
  int err;
  const struct sim_nvs_entry *e = lookup(p, key, NVS_BLOB, &err);
  if (!e)
    return err;
  *len = e->len;
  if (cap < e->len)
    return FARM_ENOSPC;
  if (e->len)
    memcpy(buf, p->nvs.pool + e->off, e->len);
  return 0;
}

int hal_nvs_set_u32(struct hal_port *p, const char *key, uint32_t value)
{
  assert(p && key);
  if (!key_valid(key))
    return FARM_EINVAL;
  int err = take_fail(p);
  if (err)
    return err;
  return put(&p->nvs, key, NVS_U32, &value, sizeof value);
}

int hal_nvs_set_blob(struct hal_port *p, const char *key, const void *data, size_t len)
{
  assert(p && key && (data || len == 0));
  if (!key_valid(key))
    return FARM_EINVAL;
  int err = take_fail(p);
  if (err)
    return err;
  return put(&p->nvs, key, NVS_BLOB, data, len);
}

int hal_nvs_erase(struct hal_port *p, const char *key)
{
  assert(p && key);
  if (!key_valid(key))
    return FARM_ENOENT;
  int err = take_fail(p);
  if (err)
    return err;
  int i = find(&p->nvs, key);
  if (i < 0)
    return FARM_ENOENT;
  remove_at(&p->nvs, i);
  return 0;
}

static int write_file(const char *path, const struct sim_nvs *s)
{
  char tmp[SIM_PATH_MAX];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (n < 0 || (size_t)n >= sizeof tmp)
    return FARM_EIO;
  FILE *f = fopen(tmp, "w");
  if (!f)
    return FARM_EIO;
  fprintf(f, "%s\n", NVS_MAGIC);
  for (int i = 0; i < s->count; i++) {
    const struct sim_nvs_entry *e = &s->entries[i];
    if (e->type == NVS_U32) {
      uint32_t v;
      memcpy(&v, s->pool + e->off, sizeof v);
      fprintf(f, "u32 %s %lu\n", e->key, (unsigned long)v);
    } else {
      fprintf(f, "blob %s ", e->key);
      if (e->len == 0)
        fputc('-', f);
      for (uint16_t k = 0; k < e->len; k++)
        fprintf(f, "%02x", s->pool[e->off + k]);
      fputc('\n', f);
    }
  }
  /* The data must be on disk before the rename makes it the current file. */
  bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return FARM_EIO;
  }
  /* Make the rename itself durable. */
  char dir[SIM_PATH_MAX];
  strcpy(dir, path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    int fd = open(dir[0] ? dir : "/", O_RDONLY);
    if (fd >= 0) {
      fsync(fd);
      close(fd);
    }
  }
  return 0;
}

int hal_nvs_commit(struct hal_port *p)
{
  assert(p);
  int err = take_fail(p);
  if (err)
    return err;
  if (p->nvs_path[0]) {
    err = write_file(p->nvs_path, &p->nvs);
    if (err) {
      hal_log(p, HAL_LOG_ERROR, "nvs: cannot write %s", p->nvs_path);
      return err;
    }
  }
  p->committed = p->nvs;
  p->nvs_commits++;
  return 0;
}

/* ---- Loading ---------------------------------------------------------- */

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Splits off the next space-separated field of *line. */
static char *next_field(char **line)
{
  char *start = *line;
  if (!start || !*start)
    return NULL;
  char *sp = strchr(start, ' ');
  if (sp) {
    *sp = '\0';
    *line = sp + 1;
  } else {
    *line = NULL;
  }
  return start;
}

static int parse_line(struct sim_nvs *s, char *line)
{
  char *type = next_field(&line);
  char *key = next_field(&line);
  char *value = next_field(&line);
  if (!type || !key || !value || line || !key_valid(key) || find(s, key) >= 0)
    return FARM_EMALFORMED;
  if (strcmp(type, "u32") == 0) {
    /* Decimal digits only: strtoul would also take signs and spaces. */
    size_t n = strlen(value);
    if (n == 0 || n > 10 || strspn(value, "0123456789") != n)
      return FARM_EMALFORMED;
    unsigned long long v = strtoull(value, NULL, 10);
    if (v > UINT32_MAX)
      return FARM_EMALFORMED;
    uint32_t v32 = (uint32_t)v;
    return put(s, key, NVS_U32, &v32, sizeof v32) ? FARM_EMALFORMED : 0;
  }
  if (strcmp(type, "blob") == 0) {
    size_t n = strlen(value);
    if (strcmp(value, "-") == 0)
      return put(s, key, NVS_BLOB, NULL, 0) ? FARM_EMALFORMED : 0;
    if (n == 0 || n % 2 || n / 2 > SIM_NVS_BYTES)
      return FARM_EMALFORMED;
    /* Decoded in place: byte i is written after digits 2i and 2i+1 were
     * read, and i <= 2i. */
    uint8_t *buf = (uint8_t *)value;
    for (size_t i = 0; i < n / 2; i++) {
      int hi = hex_digit(value[2 * i]), lo = hex_digit(value[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return FARM_EMALFORMED;
      buf[i] = (uint8_t)(hi << 4 | lo);
    }
    return put(s, key, NVS_BLOB, buf, n / 2) ? FARM_EMALFORMED : 0;
  }
  return FARM_EMALFORMED;
}

int sim__nvs_load(struct hal_port *b)
{
  FILE *f = fopen(b->nvs_path, "r");
  if (!f)
    return errno == ENOENT ? 0 : FARM_EIO;
  char text[NVS_FILE_MAX + 1];
  size_t n = fread(text, 1, sizeof text, f);
  bool read_err = ferror(f) != 0;
  fclose(f);
  if (read_err)
    return FARM_EIO;
  if (n > NVS_FILE_MAX)
    return FARM_EMALFORMED;
  text[n] = '\0';
  if (strlen(text) != n)
    return FARM_EMALFORMED; /* a NUL byte inside */

  struct sim_nvs *s = &b->nvs;
  memset(s, 0, sizeof *s);
  char *cursor = text;
  bool first = true;
  while (*cursor) {
    char *nl = strchr(cursor, '\n');
    if (!nl)
      return FARM_EMALFORMED; /* every line we write ends with a newline */
    *nl = '\0';
    if (first) {
      if (strcmp(cursor, NVS_MAGIC) != 0)
        return FARM_EMALFORMED;
      first = false;
    } else {
      int err = parse_line(s, cursor);
      if (err) {
        memset(s, 0, sizeof *s);
        return err;
      }
    }
    cursor = nl + 1;
  }
  if (first)
    return FARM_EMALFORMED; /* empty file: we always write the magic line */
  b->committed = *s;
  return 0;
}
