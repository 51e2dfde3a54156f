/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the protocol tests: reading files, hex strings, the shared
 * conformance vectors, and a seeded random generator so every randomised
 * test is repeatable (the seed is printed on failure by the caller).
 */
#ifndef FP_TESTSUPPORT_H
#define FP_TESTSUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Path of a file under the shared folder (env FARM_SHARED_DIR), e.g.
 * ts_shared_path("data/conformance/cbor-rfc8949-appendix-a.json"). Returns a
 * static buffer; aborts with a message when FARM_SHARED_DIR is not set.
 */
const char *ts_shared_path(const char *relative);

/* Loads a JSON file; aborts the test program with a message on failure.
 * The caller owns the result (json_decref). */
json_t *ts_load_json(const char *path);

/*
 * Decodes hex ("c4-00", "c400" or "C4 00": separators '-', ' ', ':' ignored)
 * into out. Returns the number of bytes, or -1 on a bad digit or overflow.
 */
long ts_hex_decode(const char *hex, uint8_t *out, size_t cap);

/* Lowercase hex of p into a static buffer (up to 4096 input bytes). */
const char *ts_hex(const void *p, size_t len);

/* xorshift64*: deterministic across platforms for a given seed. */
struct ts_rng {
  uint64_t s;
};
void ts_rng_seed(struct ts_rng *r, uint64_t seed);
uint64_t ts_rng_next(struct ts_rng *r);
/* Uniform in [0, n) for n > 0. */
uint64_t ts_rng_below(struct ts_rng *r, uint64_t n);

#endif /* FP_TESTSUPPORT_H */
