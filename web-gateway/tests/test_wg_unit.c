/* SPDX-License-Identifier: MIT */
/* web-gateway's pure pieces: SHA-256 and HMAC-SHA256 against published
 * vectors (FIPS 180-2 "abc", RFC 4231 test cases 1 and 2), the webhook
 * signature and backoff, tokens and UUIDs, Argon2id hash and verify, the
 * failed-login limiter, the command catalogue and the live filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "cmdcat.h"
#include "farm/error.h"
#include "live.h"
#include "webhook.h"

static void test_sha256_and_hmac_vectors(void **state)
{
  (void)state;
  char hex[WG_HEX256_LEN + 1];
  wg_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* RFC 4231 §4.2: key = 20 bytes of 0x0b, data = "Hi There". */
  unsigned char key[20];
  memset(key, 0x0b, sizeof key);
  wg_hmac_sha256_hex(key, sizeof key, "Hi There", 8, hex);
  assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  /* RFC 4231 §4.3: key = "Jefe". */
  wg_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
  assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_webhook_signature_and_backoff(void **state)
{
  (void)state;
  char sig[96], hex[WG_HEX256_LEN + 1];
  wg_hooks_sign("Jefe", 1732600000123, "{\"a\":1}", sig, sizeof sig);
  const char *msg = "1732600000123.{\"a\":1}";
  wg_hmac_sha256_hex("Jefe", 4, msg, strlen(msg), hex);
  assert_int_equal(strncmp(sig, "sha256=", 7), 0);
  assert_string_equal(sig + 7, hex);
  assert_int_equal(wg_hooks_backoff(1000, 1), 1000);
  assert_int_equal(wg_hooks_backoff(1000, 2), 2000);
  assert_int_equal(wg_hooks_backoff(1000, 5), 16000);
  assert_int_equal(wg_hooks_backoff(1000, 40), 3600000);
}

static void test_tokens_and_uuids(void **state)
{
  (void)state;
  char a[64], b[64];
  assert_int_equal(wg_token_new(a, sizeof a), 0);
  assert_int_equal(wg_token_new(b, sizeof b), 0);
  assert_int_equal(strlen(a), WG_TOKEN_LEN);
  assert_true(wg_token_shape(a, strlen(a)));
  assert_string_not_equal(a, b);
  assert_false(wg_token_shape("fgw_short", 9));
  char bad[64];
  snprintf(bad, sizeof bad, "%s", a);
  bad[10] = '/';
  assert_false(wg_token_shape(bad, strlen(bad)));
  bad[0] = 'x';
  assert_false(wg_token_shape(bad, strlen(bad)));
  char u[40];
  assert_int_equal(wg_uuid4(u, sizeof u), 0);
  assert_int_equal(strlen(u), 36);
  assert_int_equal(u[14], '4');                   /* version 4 */
  assert_non_null(strchr("89ab", u[19]));         /* RFC 9562 variant */
  assert_true(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
}

static void test_argon2id(void **state)
{
  (void)state;
  struct wg_auth a;
  wg_auth_init(&a, 1, 1024, 3, 1000, 0);
  char h1[WG_PW_HASH_MAX], h2[WG_PW_HASH_MAX];
  assert_int_equal(wg_pw_hash(&a, "s3cret-pass", h1, sizeof h1), 0);
  assert_int_equal(wg_pw_hash(&a, "s3cret-pass", h2, sizeof h2), 0);
  assert_int_equal(strncmp(h1, "$argon2id$v=19$m=1024,t=1,p=1$", 30), 0);
  assert_string_not_equal(h1, h2); /* fresh salt each time */
  assert_true(wg_pw_verify(&a, h1, "s3cret-pass"));
  assert_false(wg_pw_verify(&a, h1, "s3cret-pasS"));
  assert_false(wg_pw_verify(&a, NULL, "s3cret-pass"));
  assert_false(wg_pw_verify(&a, "$argon2i$garbage", "x"));
  wg_auth_destroy(&a);
}

static void test_limiter_and_cache(void **state)
{
  (void)state;
  struct wg_auth a;
  wg_auth_init(&a, 1, 1024, 3, 1000, 500);
  assert_false(wg_limit_blocked(&a, "10.0.0.1", 0, NULL));
  assert_false(wg_limit_fail(&a, "10.0.0.1", 10));
  assert_false(wg_limit_fail(&a, "10.0.0.1", 20));
  assert_true(wg_limit_fail(&a, "10.0.0.1", 30));
  int retry = 0;
  assert_true(wg_limit_blocked(&a, "10.0.0.1", 40, &retry));
  assert_int_equal(retry, 1);
  assert_false(wg_limit_blocked(&a, "10.0.0.2", 40, NULL)); /* per address */
  assert_false(wg_limit_blocked(&a, "10.0.0.1", 1031, NULL)); /* served its time */
  /* Failures spread wider than the window never block. */
  assert_false(wg_limit_fail(&a, "10.0.0.3", 0));
  assert_false(wg_limit_fail(&a, "10.0.0.3", 1500));
  assert_false(wg_limit_fail(&a, "10.0.0.3", 3000));
  struct st_web_auth v = {.user_id = 7}, out;
  snprintf(v.username, sizeof v.username, "ann");
  const char *hash = "fgw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  assert_false(wg_cache_get(&a, hash, 100, &out));
  wg_cache_put(&a, hash, &v, 100);
  assert_true(wg_cache_get(&a, hash, 300, &out));
  assert_int_equal(out.user_id, 7);
  assert_false(wg_cache_get(&a, "fgw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", 300, &out));
  assert_false(wg_cache_get(&a, hash, 700, &out)); /* older than cache_ms */
  wg_cache_put(&a, hash, &v, 800);
  wg_cache_clear_all(&a);
  assert_false(wg_cache_get(&a, hash, 801, &out));
  wg_auth_destroy(&a);
}

static int check(const char *name, const char *args_json, char *why)
{
  json_t *args = args_json ? json_loads(args_json, 0, NULL) : NULL;
  int rc = wg_cmd_check(name, args, why, 160);
  json_decref(args);
  return rc;
}

static void test_command_catalogue(void **state)
{
  (void)state;
  char why[160];
  assert_int_equal(check("relay.set", "{\"ch\":6,\"on\":true,\"for_s\":30}", why), 0);
  assert_int_equal(check("reboot", NULL, why), 0);
  assert_int_equal(check("identify", "{}", why), 0);
  assert_int_equal(check("feature.set", "{\"name\":\"lux\",\"on\":false}", why), 0);
  assert_int_equal(check("relay.sett", "{}", why), FARM_EUNKNOWN);
  assert_int_equal(check("relay.set", "{\"ch\":7,\"on\":true}", why), FARM_ERANGE);
  assert_string_equal(why, "'ch' must be 1..6");
  assert_int_equal(check("relay.set", "{\"ch\":0,\"on\":true}", why), FARM_ERANGE);
  assert_int_equal(check("relay.set", "{\"ch\":1,\"on\":true,\"for_s\":-1}", why), FARM_ERANGE);
  assert_int_equal(check("relay.set", "{\"ch\":1,\"on\":false,\"for_s\":5}", why), FARM_EINVAL);
  assert_int_equal(check("relay.set", "{\"ch\":1.5,\"on\":true}", why), FARM_ETYPE);
  assert_int_equal(check("relay.set", "{\"on\":true}", why), FARM_EMISSING);
  assert_int_equal(check("relay.set", "{\"ch\":1,\"on\":true,\"x\":1}", why), FARM_EINVAL);
  assert_int_equal(check("relay.set", "[1]", why), FARM_ETYPE);
  assert_int_equal(check("period.set", "{\"ms\":999}", why), FARM_ERANGE);
  assert_int_equal(check("feature.set", "{\"name\":\"wifi\",\"on\":true}", why), FARM_ERANGE);
}

static void test_live_filters(void **state)
{
  (void)state;
  struct wg_live_filter f;
  char why[128];
  assert_int_equal(wg_live_parse_filter("site=north,south&device=a1b2c3d4e5f6&x=1&token=zz", &f,
                                        why, sizeof why),
                   0);
  assert_int_equal(f.nsite, 2);
  assert_string_equal(f.site[1], "south");
  assert_true(wg_live_match(&f, "north", "a1b2c3d4e5f6"));
  assert_false(wg_live_match(&f, "east", "a1b2c3d4e5f6"));
  assert_false(wg_live_match(&f, "north", "000000000000"));
  assert_int_equal(wg_live_parse_filter("", &f, why, sizeof why), 0);
  assert_true(wg_live_match(&f, "any", "thing"));
  assert_int_equal(wg_live_parse_filter("device=A1", &f, why, sizeof why), FARM_EINVAL);
  assert_int_equal(wg_live_parse_filter("site=a,,b", &f, why, sizeof why), FARM_EINVAL);
  assert_int_equal(wg_live_parse_filter("metric=%2e%2e", &f, why, sizeof why), FARM_EINVAL);
  char many[400] = "site=";
  for (int i = 0; i < 17; i++)
    strcat(many, i ? ",s" : "s");
  assert_int_equal(wg_live_parse_filter(many, &f, why, sizeof why), FARM_EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_and_hmac_vectors),
      cmocka_unit_test(test_webhook_signature_and_backoff),
      cmocka_unit_test(test_tokens_and_uuids),
      cmocka_unit_test(test_argon2id),
      cmocka_unit_test(test_limiter_and_cache),
      cmocka_unit_test(test_command_catalogue),
      cmocka_unit_test(test_live_filters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
