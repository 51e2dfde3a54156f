/* SPDX-License-Identifier: MIT */
/*
 * JSON for untrusted payloads, on jansson: a strict parse (size cap,
 * duplicate keys refused, no NUL in strings, a top-level object required)
 * and typed field getters that check type and range and say which field was
 * wrong, so a validator is a list of calls instead of a page of json_is_*.
 *
 * Ownership: fd_json_parse() gives the caller a reference (json_decref it).
 * Strings from fd_json_get_str() point into the object and live as long as it.
 */
#ifndef FARMD_JSON_H
#define FARMD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest integer a JSON number carries exactly in every client (2^53). */
#define FD_JSON_MAX_SAFE_INT 9007199254740992LL

/*
 * Parses buf[0..len) as one JSON object. On failure writes a short reason to
 * why (whylen bytes, may be NULL) and returns:
 *   FARM_EEMPTY      len is 0
 *   FARM_ETOOBIG     len > max_len
 *   FARM_EMALFORMED  not JSON, invalid UTF-8, duplicate key, NUL in a string,
 *                    trailing bytes
 *   FARM_ETYPE       valid JSON but not an object
 */
int fd_json_parse(const void *buf, size_t len, size_t max_len, json_t **out,
                  char *why, size_t whylen);

/*
 * Field getters. For each: when the key is absent, return FARM_EMISSING if
 * required, else 0 leaving *out at the given default. A JSON null counts as
 * absent. Wrong JSON type: FARM_ETYPE; outside [min, max]: FARM_ERANGE.
 */
int fd_json_get_i64(const json_t *obj, const char *key, bool required,
                    int64_t min, int64_t max, int64_t def, int64_t *out);
/* Accepts integers and reals; jansson never yields NaN or infinity. */
int fd_json_get_f64(const json_t *obj, const char *key, bool required,
                    double min, double max, double def, double *out);
int fd_json_get_bool(const json_t *obj, const char *key, bool required,
                     bool def, bool *out);
/* A string of 1..max_len bytes (jansson guarantees UTF-8). *out = def when
 * absent (def may be NULL). Empty or longer: FARM_ERANGE. */
int fd_json_get_str(const json_t *obj, const char *key, bool required,
                    size_t max_len, const char *def, const char **out);

/* Compact serialisation (no spaces, keys in insertion order) into a
 * malloc'd string the caller frees; NULL when out of memory. */
char *fd_json_dump(const json_t *v);

#endif /* FARMD_JSON_H */
