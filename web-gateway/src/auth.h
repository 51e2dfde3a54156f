/* SPDX-License-Identifier: MIT */
/*
 * Credentials of web-gateway: passwords hashed with Argon2id (RFC 9106,
 * libargon2's encoded form, a fresh 16-byte salt each), random bearer
 * tokens and session secrets (256 bits from getrandom, stored only as their
 * SHA-256), anti-CSRF values, HMAC-SHA256 for webhook signatures, UUIDv4
 * command ids, a per-client-address limiter for failed logins
 * (BAD-INPUTS 17) and a short-lived cache of resolved tokens.
 *
 * Thread safety: every function may be called from any thread; struct
 * wg_auth guards its own state. Nothing here allocates except
 * wg_auth_init's mutexes.
 */
#ifndef WG_AUTH_H
#define WG_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/store_web.h"

/* "fgw_" + 43 base64url characters of 32 random bytes. */
#define WG_TOKEN_PREFIX "fgw_"
#define WG_TOKEN_LEN 47
#define WG_HEX256_LEN 64 /* SHA-256 / HMAC-SHA256 in hex, without NUL */
#define WG_PW_HASH_MAX 160
#define WG_PW_MIN 8
#define WG_PW_MAX 256

#define WG_LIMIT_SLOTS 256
#define WG_CACHE_SLOTS 256

struct wg_limit_slot {
  char addr[48];
  int fails;
  int64_t first_ms, blocked_until_ms;
};

struct wg_cache_slot {
  char key[WG_TOKEN_LEN + 1]; /* the token (memory only, never stored) */
  struct st_web_auth a;
  int64_t at_ms; /* monotonic; 0 = empty */
};

struct wg_auth {
  pthread_mutex_t lock;           /* limiter and hashing slots */
  pthread_mutex_t cache_lock;     /* the token cache */
  _Atomic int64_t blocked_max;    /* latest blocked_until of any address */
  pthread_cond_t hash_free;
  int hashing, hash_max;          /* Argon2 runs at once (memory bound) */
  uint32_t t_cost, m_kib;         /* Argon2id cost */
  int fail_burst;                 /* failures per address before blocking */
  int64_t block_ms;               /* how long a blocked address waits */
  int64_t cache_ms;               /* token cache lifetime, 0 = no cache */
  struct wg_limit_slot limits[WG_LIMIT_SLOTS];
  struct wg_cache_slot cache[WG_CACHE_SLOTS];
};

void wg_auth_init(struct wg_auth *a, uint32_t t_cost, uint32_t m_kib, int fail_burst,
                  int64_t block_ms, int64_t cache_ms);
void wg_auth_destroy(struct wg_auth *a);

/* Fills buf[0..len) with random bytes (getrandom). Returns 0 or FARM_EIO. */
int wg_random(void *buf, size_t len);

/* Argon2id encoded hash of pw into out (WG_PW_HASH_MAX bytes). Returns 0,
 * FARM_EIO (no randomness) or FARM_ENOMEM (libargon2 failed). Waits while
 * hash_max hashes are running. */
int wg_pw_hash(struct wg_auth *a, const char *pw, char *out, size_t cap);
/* True when pw matches hash. A NULL or malformed hash still costs one
 * Argon2 run, so an unknown user takes as long as a wrong password. */
bool wg_pw_verify(struct wg_auth *a, const char *hash, const char *pw);

/* A new token ("fgw_..." WG_TOKEN_LEN chars + NUL; out has >= 48 bytes). */
int wg_token_new(char *out, size_t cap);
/* True when s has the shape of a token (prefix, length, alphabet). */
bool wg_token_shape(const char *s, size_t len);

/* Lower-case hex SHA-256 of data (out: WG_HEX256_LEN + 1 bytes). */
void wg_sha256_hex(const void *data, size_t len, char *out);
/* Lower-case hex HMAC-SHA256 (RFC 2104 with SHA-256, RFC 4231 vectors). */
void wg_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char *out);

/* A random UUID version 4 (RFC 9562 §5.4), 36 chars + NUL. */
int wg_uuid4(char *out, size_t cap);

/* True while addr is blocked; *retry_s (may be NULL) = seconds left. */
bool wg_limit_blocked(struct wg_auth *a, const char *addr, int64_t now_ms, int *retry_s);
/* Counts a failure of addr; true when this one blocked it. */
bool wg_limit_fail(struct wg_auth *a, const char *addr, int64_t now_ms);
/* Forgets addr's failures after a success. */
void wg_limit_ok(struct wg_auth *a, const char *addr);

/* Token cache, keyed by the token: a hit younger than cache_ms fills *out
 * (keys compared in constant time). */
bool wg_cache_get(struct wg_auth *a, const char *token, int64_t now_ms, struct st_web_auth *out);
void wg_cache_put(struct wg_auth *a, const char *token, const struct st_web_auth *v,
                  int64_t now_ms);
/* Forgets everything (a credential or a user changed). */
void wg_cache_clear_all(struct wg_auth *a);

#endif /* WG_AUTH_H */
