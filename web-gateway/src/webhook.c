/* SPDX-License-Identifier: MIT */
/*
 * The webhook sender thread (see webhook.h).
 */
#include "webhook.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "auth.h"
#include "farm/error.h"
#include "st/store_web.h"

#define BATCH 32
#define RESPONSE_KEEP 256
#define BACKOFF_MAX_MS 3600000LL

struct wg_hooks {
  struct wg_hooks_config cfg;
  char *spec;
  const struct fd_log *log;
  pthread_t thread;
  bool running;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stopping, kicked;
  struct st_db *db;
  struct fd_ratelimit rl;
};

void wg_hooks_sign(const char *secret, int64_t ts_ms, const char *body, char *out, size_t cap)
{
  size_t blen = strlen(body);
  char *msg = malloc(blen + 32);
  char hex[WG_HEX256_LEN + 1] = "";
  if (msg) {
    int n = snprintf(msg, 32, "%" PRId64 ".", ts_ms);
    memcpy(msg + n, body, blen);
    wg_hmac_sha256_hex(secret, strlen(secret), msg, (size_t)n + blen, hex);
    free(msg);
  }
  snprintf(out, cap, "sha256=%s", hex);
}

int64_t wg_hooks_backoff(int64_t base_ms, int attempts)
{
  int64_t d = base_ms;
  for (int i = 1; i < attempts && d < BACKOFF_MAX_MS; i++)
    d *= 2;
  return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* The receiver's answer is read but not kept beyond a few bytes. */
static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
  (void)p;
  (void)ud;
  return sz * n;
}

/* One attempt: returns the HTTP status, or 0 with err set. */
static long post(struct wg_hooks *h, const char *url, const char *secret, const char *event,
                 int64_t id, const char *body, char *err, size_t errlen)
{
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return 0;
  }
  int64_t ts = fd_wall_ms();
  char sig[96], hdr[5][160];
  wg_hooks_sign(secret, ts, body, sig, sizeof sig);
  snprintf(hdr[0], sizeof hdr[0], "X-Farm-Event: %s", event);
  snprintf(hdr[1], sizeof hdr[1], "X-Farm-Delivery: %" PRId64, id);
  snprintf(hdr[2], sizeof hdr[2], "X-Farm-Timestamp: %" PRId64, ts);
  snprintf(hdr[3], sizeof hdr[3], "X-Farm-Signature: %s", sig);
  snprintf(hdr[4], sizeof hdr[4], "Content-Type: application/json");
  struct curl_slist *list = NULL;
  for (int i = 0; i < 5; i++)
    list = curl_slist_append(list, hdr[i]);
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->cfg.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->cfg.timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "iotferme-web-gateway");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  else
    snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return status;
}

static bool retryable(long status)
{
  return status == 0 || status >= 500 || status == 408 || status == 429;
}

/* Sends what is due; returns how many were attempted. */
static int run_due(struct wg_hooks *h)
{
  if (!h->db) {
    char err[256];
    if (st_db_open(h->spec, h->log, &h->db, NULL, err, sizeof err) != 0) {
      fd_log_rl(h->log, &h->rl, FD_LOG_WARN, "webhooks: database: %s", err);
      h->db = NULL;
      return 0;
    }
  }
  json_t *due;
  int64_t now = fd_wall_ms();
  if (st_web_deliveries_due(h->db, now, BATCH, &due) != 0) {
    fd_log_rl(h->log, &h->rl, FD_LOG_WARN, "webhooks: %s", st_db_error(h->db));
    st_db_close(h->db);
    h->db = NULL;
    return 0;
  }
  size_t i;
  json_t *d;
  json_array_foreach(due, i, d)
  {
    pthread_mutex_lock(&h->lock);
    bool stop = h->stopping;
    pthread_mutex_unlock(&h->lock);
    if (stop)
      break;
    int64_t id = json_integer_value(json_object_get(d, "id"));
    int attempts = (int)json_integer_value(json_object_get(d, "attempts")) + 1;
    const char *url = json_string_value(json_object_get(d, "url"));
    const char *secret = json_string_value(json_object_get(d, "secret"));
    const char *event = json_string_value(json_object_get(d, "event"));
    const char *body = json_string_value(json_object_get(d, "payload"));
    char err[CURL_ERROR_SIZE + 32] = "";
    long status = post(h, url ? url : "", secret ? secret : "", event ? event : "", id,
                       body ? body : "{}", err, sizeof err);
    const char *state;
    int64_t next = 0;
    if (status >= 200 && status < 300) {
      state = "delivered";
      atomic_fetch_add(h->cfg.delivered, 1);
    } else if (retryable(status) && attempts < h->cfg.max_attempts) {
      state = "pending";
      next = fd_wall_ms() + wg_hooks_backoff(h->cfg.backoff_ms, attempts);
      atomic_fetch_add(h->cfg.retries, 1);
    } else {
      state = "failed";
      atomic_fetch_add(h->cfg.failed, 1);
      fd_log_rl(h->log, &h->rl, FD_LOG_WARN, "webhook delivery %" PRId64 " to %s failed: %s",
                id, url ? url : "", status ? "HTTP error" : err);
    }
    if (status && !(status >= 200 && status < 300))
      snprintf(err, sizeof err, "HTTP %ld", status);
    if (st_web_delivery_result(h->db, id, state, attempts, (int)status, err[0] ? err : NULL,
                               next, fd_wall_ms()) != 0) {
      fd_log_rl(h->log, &h->rl, FD_LOG_WARN, "webhooks: %s", st_db_error(h->db));
      break;
    }
  }
  size_t n = json_array_size(due);
  json_decref(due);
  return (int)n;
}

static void *sender(void *arg)
{
  struct wg_hooks *h = arg;
  int64_t last_purge = 0;
  for (;;) {
    pthread_mutex_lock(&h->lock);
    if (!h->kicked && !h->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 250 * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&h->wake, &h->lock, &until);
    }
    h->kicked = false;
    bool stop = h->stopping;
    pthread_mutex_unlock(&h->lock);
    if (stop)
      break;
    while (run_due(h) == BATCH) {
    }
    int64_t now = fd_wall_ms();
    if (h->db && now - last_purge > 3600000) {
      st_web_deliveries_purge(h->db, now - h->cfg.keep_ms);
      last_purge = now;
    }
  }
  return NULL;
}

int wg_hooks_start(const struct wg_hooks_config *cfg, const struct fd_log *log,
                   struct wg_hooks **out)
{
  *out = NULL;
  struct wg_hooks *h = calloc(1, sizeof *h);
  if (!h)
    return FARM_ENOMEM;
  h->cfg = *cfg;
  h->spec = strdup(cfg->db_spec);
  h->log = log;
  h->rl = (struct fd_ratelimit)FD_RATELIMIT_INIT(10, 10000);
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->wake, NULL);
  if (!h->spec || pthread_create(&h->thread, NULL, sender, h) != 0) {
    int rc = h->spec ? FARM_EIO : FARM_ENOMEM;
    wg_hooks_stop(h);
    return rc;
  }
  h->running = true;
  *out = h;
  return 0;
}

void wg_hooks_kick(struct wg_hooks *h)
{
  pthread_mutex_lock(&h->lock);
  h->kicked = true;
  pthread_cond_signal(&h->wake);
  pthread_mutex_unlock(&h->lock);
}

void wg_hooks_stop(struct wg_hooks *h)
{
  if (!h)
    return;
  pthread_mutex_lock(&h->lock);
  h->stopping = true;
  pthread_cond_signal(&h->wake);
  pthread_mutex_unlock(&h->lock);
  if (h->running)
    pthread_join(h->thread, NULL);
  st_db_close(h->db);
  pthread_cond_destroy(&h->wake);
  pthread_mutex_destroy(&h->lock);
  free(h->spec);
  free(h);
}
