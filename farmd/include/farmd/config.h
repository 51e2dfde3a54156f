/* SPDX-License-Identifier: MIT */
/*
 * Daemon configuration: a program declares a table of keys (name, type,
 * default, range); values come from the table's defaults, then an INI file,
 * then the environment, each later source overriding the earlier one. The
 * loader fails closed: an unknown key, a malformed line, a value of the wrong
 * type or out of range stops the program with "file:line: reason" (or
 * "environment NAME: reason"), so a typo never silently runs with a default.
 *
 * Naming: a key "mqtt_host" is written `mqtt_host = ...` at the top of the
 * file or `host = ...` under a `[mqtt]` section (a key under [s] is named
 * "s_key"), and is overridden by the environment variable PREFIX + "MQTT_HOST"
 * (e.g. STREAMER_MQTT_HOST). Every secret key "k" also accepts "k_file" (in
 * the file or the environment): the first line of that file is the value, so
 * passwords need not sit in the configuration or the process environment.
 *
 * Ownership: fd_cfg_init() allocates; fd_cfg_free() releases everything.
 * Strings returned by the getters belong to the struct fd_cfg and stay valid
 * until fd_cfg_free() or the next load that sets the same key.
 */
#ifndef FARMD_CONFIG_H
#define FARMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fd_cfg_type {
  FD_CFG_STRING, /* any text, may be empty */
  FD_CFG_SECRET, /* text never printed by fd_cfg_dump(); accepts k_file */
  FD_CFG_INT,    /* decimal int64 within [min, max] */
  FD_CFG_BOOL,   /* true/false, yes/no, on/off, 1/0 (case-insensitive) */
};

struct fd_cfg_key {
  const char *name;   /* [a-z0-9_]+ */
  enum fd_cfg_type type;
  const char *def;    /* default as text, validated at init; NULL = unset */
  int64_t min, max;   /* FD_CFG_INT only */
  const char *help;   /* one line, for --help and the docs */
};

/* Where a key's current value came from, for diagnostics. */
enum fd_cfg_origin { FD_CFG_UNSET, FD_CFG_DEFAULT, FD_CFG_FILE, FD_CFG_ENV };

struct fd_cfg_value {
  char *text;             /* owned; NULL when unset */
  int64_t i;              /* parsed FD_CFG_INT / FD_CFG_BOOL */
  enum fd_cfg_origin origin;
  unsigned line;          /* FD_CFG_FILE: line number */
};

struct fd_cfg {
  const struct fd_cfg_key *keys;
  size_t nkeys;
  struct fd_cfg_value *values; /* owned, nkeys entries */
};

/* Longest accepted INI line (libinih's buffer, INI_MAX_LINE, less one). */
#define FD_CFG_MAX_LINE 199

/*
 * Prepares cfg for the key table keys[0..n) (which must outlive cfg) and
 * applies the defaults. Asserts that key names are well formed and unique
 * and that every default is valid for its type: a bad table is a programmer
 * mistake. Returns 0 or FARM_ENOMEM.
 */
int fd_cfg_init(struct fd_cfg *cfg, const struct fd_cfg_key *keys, size_t n);

/* Releases every value. cfg may be re-initialised afterwards. */
void fd_cfg_free(struct fd_cfg *cfg);

/*
 * Applies the INI file at path. On failure writes one line to err (errlen
 * bytes, always terminated) of the form "path:line: reason" and returns:
 *   FARM_ENOENT     the file cannot be opened ("path: reason" from errno)
 *   FARM_EMALFORMED a syntax error, an over-long line, an unknown key, a
 *                   key given twice, a bad value for the key's type, an
 *                   unreadable k_file
 * Values set before the error stay set; the caller is expected to stop.
 */
int fd_cfg_load_file(struct fd_cfg *cfg, const char *path, char *err,
                     size_t errlen);

/*
 * Applies environment overrides: for every key, PREFIX + NAME in upper case
 * (and PREFIX + NAME + "_FILE" for secrets). envp is a NULL-terminated
 * "NAME=value" array (pass `environ`). A variable that starts with prefix but
 * names no key is refused too, except those listed in allow (NULL-terminated,
 * full names, may be NULL), which the program uses for itself.
 * Errors as fd_cfg_load_file(), with "environment NAME: reason".
 */
int fd_cfg_load_env(struct fd_cfg *cfg, const char *prefix,
                    char *const *envp, const char *const *allow, char *err,
                    size_t errlen);

/*
 * Getters. The key must exist in the table with a matching type (asserted).
 * fd_cfg_str() returns NULL for an unset key; use it for STRING and SECRET.
 */
const char *fd_cfg_str(const struct fd_cfg *cfg, const char *name);
int64_t fd_cfg_int(const struct fd_cfg *cfg, const char *name);
bool fd_cfg_bool(const struct fd_cfg *cfg, const char *name);
/* True when the key holds a non-empty value. */
bool fd_cfg_isset(const struct fd_cfg *cfg, const char *name);

/*
 * Writes "name = value  # origin" for every key to out; secrets print as
 * "(set)" or "(unset)". For --print-config and startup logs.
 */
void fd_cfg_dump(const struct fd_cfg *cfg, FILE *out);

/* Parses a boolean word as the loader does. Returns 0 or FARM_EINVAL. */
int fd_cfg_parse_bool(const char *s, bool *out);

#endif /* FARMD_CONFIG_H */
