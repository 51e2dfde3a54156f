/* SPDX-License-Identifier: MIT */
/*
 * Password hashing, tokens, signatures, the failed-login limiter and the
 * token cache (see auth.h).
 */
#include "auth.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "farm/error.h"
#include "farmd/log.h"

/* RFC 9106 §3.1 recommends a 128-bit salt; the hash is 32 bytes. */
#define SALT_LEN 16
#define HASH_LEN 32

/* RFC 4648 §5 base64url alphabet, for tokens. */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void wg_auth_init(struct wg_auth *a, uint32_t t_cost, uint32_t m_kib, int fail_burst,
                  int64_t block_ms, int64_t cache_ms)
{
  memset(a, 0, sizeof *a);
  pthread_mutex_init(&a->lock, NULL);
  pthread_mutex_init(&a->cache_lock, NULL);
  pthread_cond_init(&a->hash_free, NULL);
  a->hash_max = 2;
  a->t_cost = t_cost;
  a->m_kib = m_kib;
  a->fail_burst = fail_burst;
  a->block_ms = block_ms;
  a->cache_ms = cache_ms;
}

void wg_auth_destroy(struct wg_auth *a)
{
  pthread_cond_destroy(&a->hash_free);
  pthread_mutex_destroy(&a->cache_lock);
  pthread_mutex_destroy(&a->lock);
}

int wg_random(void *buf, size_t len)
{
  unsigned char *p = buf;
  while (len) {
    ssize_t n = getrandom(p, len, 0);
    if (n <= 0)
      return FARM_EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Argon2 takes m_kib of memory per run: bound the runs at once. */
static void hash_enter(struct wg_auth *a)
{
  pthread_mutex_lock(&a->lock);
  while (a->hashing >= a->hash_max)
    pthread_cond_wait(&a->hash_free, &a->lock);
  a->hashing++;
  pthread_mutex_unlock(&a->lock);
}

static void hash_leave(struct wg_auth *a)
{
  pthread_mutex_lock(&a->lock);
  a->hashing--;
  pthread_cond_signal(&a->hash_free);
  pthread_mutex_unlock(&a->lock);
}

int wg_pw_hash(struct wg_auth *a, const char *pw, char *out, size_t cap)
{
  uint8_t salt[SALT_LEN];
  if (wg_random(salt, sizeof salt) != 0)
    return FARM_EIO;
  assert(argon2_encodedlen(a->t_cost, a->m_kib, 1, SALT_LEN, HASH_LEN, Argon2_id) <= cap);
  hash_enter(a);
  int rc = argon2id_hash_encoded(a->t_cost, a->m_kib, 1, pw, strlen(pw), salt, sizeof salt,
                                 HASH_LEN, out, cap);
  hash_leave(a);
  return rc == ARGON2_OK ? 0 : FARM_ENOMEM;
}

bool wg_pw_verify(struct wg_auth *a, const char *hash, const char *pw)
{
  char dummy[WG_PW_HASH_MAX];
  bool real = hash && strncmp(hash, "$argon2id$", 10) == 0;
  if (!real) {
    /* Same work as a real check, against a hash nobody can match. */
    uint8_t salt[SALT_LEN] = {0};
    hash_enter(a);
    argon2id_hash_encoded(a->t_cost, a->m_kib, 1, "", 0, salt, sizeof salt, HASH_LEN, dummy,
                          sizeof dummy);
    hash_leave(a);
    return false;
  }
  hash_enter(a);
  int rc = argon2id_verify(hash, pw, strlen(pw));
  hash_leave(a);
  return rc == ARGON2_OK;
}

int wg_token_new(char *out, size_t cap)
{
  assert(cap > WG_TOKEN_LEN);
  uint8_t raw[33]; /* 32 bytes used; 33 makes 44 sextets, 43 of them kept */
  if (wg_random(raw, 32) != 0)
    return FARM_EIO;
  raw[32] = 0;
  size_t o = 0;
  memcpy(out, WG_TOKEN_PREFIX, 4);
  o = 4;
  for (size_t i = 0; i < 33 && o < WG_TOKEN_LEN; i += 3) {
    uint32_t w = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
    for (int k = 3; k >= 0 && o < WG_TOKEN_LEN; k--)
      out[o++] = b64url[(w >> (6 * k)) & 63];
  }
  out[o] = '\0';
  explicit_bzero(raw, sizeof raw);
  return 0;
}

bool wg_token_shape(const char *s, size_t len)
{
  if (len != WG_TOKEN_LEN || strncmp(s, WG_TOKEN_PREFIX, 4) != 0)
    return false;
  for (size_t i = 4; i < len; i++)
    if (!strchr(b64url, s[i]) || s[i] == '\0')
      return false;
  return true;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[d[i] >> 4];
    out[2 * i + 1] = hx[d[i] & 15];
  }
  out[2 * n] = '\0';
}

void wg_sha256_hex(const void *data, size_t len, char *out)
{
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  assert(n == 32);
  to_hex(md, 32, out);
}

void wg_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char *out)
{
  unsigned char md[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key, (int)klen, data, len, md, &n);
  assert(n == 32);
  to_hex(md, 32, out);
}

int wg_uuid4(char *out, size_t cap)
{
  assert(cap >= 37);
  uint8_t b[16];
  if (wg_random(b, sizeof b) != 0)
    return FARM_EIO;
  /* RFC 9562 §5.4: version 4 in the high nibble of octet 6, variant 10 in
   * the top bits of octet 8. */
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  char hex[33];
  to_hex(b, 16, hex);
  snprintf(out, cap, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
  return 0;
}

/* The slot of addr, or a free/expired one taken for it; called locked. */
static struct wg_limit_slot *slot_of(struct wg_auth *a, const char *addr, int64_t now, bool make)
{
  struct wg_limit_slot *victim = NULL;
  for (int i = 0; i < WG_LIMIT_SLOTS; i++) {
    struct wg_limit_slot *s = &a->limits[i];
    if (s->addr[0] && strcmp(s->addr, addr) == 0)
      return s;
    bool idle = !s->addr[0] || (s->blocked_until_ms <= now && now - s->first_ms > a->block_ms);
    if (idle && !victim)
      victim = s;
  }
  if (!make)
    return NULL;
  if (!victim) {
    /* Every slot busy: reuse the oldest that is not blocked. */
    for (int i = 0; i < WG_LIMIT_SLOTS; i++) {
      struct wg_limit_slot *s = &a->limits[i];
      if (s->blocked_until_ms <= now && (!victim || s->first_ms < victim->first_ms))
        victim = s;
    }
    if (!victim)
      victim = &a->limits[0];
  }
  memset(victim, 0, sizeof *victim);
  snprintf(victim->addr, sizeof victim->addr, "%s", addr);
  victim->first_ms = now;
  return victim;
}

bool wg_limit_blocked(struct wg_auth *a, const char *addr, int64_t now_ms, int *retry_s)
{
  /* Nobody blocked: no scan, no lock (the common case on every request). */
  if (atomic_load(&a->blocked_max) <= now_ms)
    return false;
  pthread_mutex_lock(&a->lock);
  struct wg_limit_slot *s = slot_of(a, addr, now_ms, false);
  bool blocked = s && s->blocked_until_ms > now_ms;
  if (blocked && retry_s)
    *retry_s = (int)((s->blocked_until_ms - now_ms + 999) / 1000);
  pthread_mutex_unlock(&a->lock);
  return blocked;
}

bool wg_limit_fail(struct wg_auth *a, const char *addr, int64_t now_ms)
{
  pthread_mutex_lock(&a->lock);
  struct wg_limit_slot *s = slot_of(a, addr, now_ms, true);
  if (now_ms - s->first_ms > a->block_ms) {
    s->fails = 0;
    s->first_ms = now_ms;
  }
  bool blocked = false;
  if (++s->fails >= a->fail_burst) {
    s->blocked_until_ms = now_ms + a->block_ms;
    if (atomic_load(&a->blocked_max) < s->blocked_until_ms)
      atomic_store(&a->blocked_max, s->blocked_until_ms);
    s->fails = 0;
    s->first_ms = now_ms;
    blocked = true;
  }
  pthread_mutex_unlock(&a->lock);
  return blocked;
}

void wg_limit_ok(struct wg_auth *a, const char *addr)
{
  pthread_mutex_lock(&a->lock);
  struct wg_limit_slot *s = slot_of(a, addr, 0, false);
  if (s && s->blocked_until_ms == 0)
    memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&a->lock);
}

/* FNV-1a (a fast, non-cryptographic spread; the tokens are random). */
static size_t cache_index(const char *token)
{
  uint32_t h = 2166136261u;
  for (const char *p = token; *p; p++)
    h = (h ^ (uint8_t)*p) * 16777619u;
  return h % WG_CACHE_SLOTS;
}

static bool key_equal(const char *a, const char *b)
{
  unsigned diff = 0;
  for (size_t i = 0; i <= WG_TOKEN_LEN; i++) {
    diff |= (unsigned)(a[i] ^ b[i]);
    if (!a[i] || !b[i])
      return diff == 0 && a[i] == b[i];
  }
  return diff == 0;
}

bool wg_cache_get(struct wg_auth *a, const char *token, int64_t now_ms, struct st_web_auth *out)
{
  if (a->cache_ms <= 0)
    return false;
  pthread_mutex_lock(&a->cache_lock);
  struct wg_cache_slot *s = &a->cache[cache_index(token)];
  bool hit = s->at_ms && now_ms - s->at_ms < a->cache_ms && key_equal(s->key, token) &&
             (s->a.expires_ts == 0 || s->a.expires_ts > fd_wall_ms());
  if (hit)
    *out = s->a;
  pthread_mutex_unlock(&a->cache_lock);
  return hit;
}

void wg_cache_put(struct wg_auth *a, const char *token, const struct st_web_auth *v,
                  int64_t now_ms)
{
  if (a->cache_ms <= 0)
    return;
  pthread_mutex_lock(&a->cache_lock);
  struct wg_cache_slot *s = &a->cache[cache_index(token)];
  snprintf(s->key, sizeof s->key, "%s", token);
  s->a = *v;
  s->at_ms = now_ms ? now_ms : 1;
  pthread_mutex_unlock(&a->cache_lock);
}

void wg_cache_clear_all(struct wg_auth *a)
{
  pthread_mutex_lock(&a->cache_lock);
  explicit_bzero(a->cache, sizeof a->cache);
  pthread_mutex_unlock(&a->cache_lock);
}
