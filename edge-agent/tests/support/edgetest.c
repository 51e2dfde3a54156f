/* SPDX-License-Identifier: MIT */
/*
 * Integration-test helpers of the edge agent: plain broker, MQTT observer,
 * HTTP client.
 */
#include "edgetest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void et_sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int64_t et_now_ms(void)
{
  return fd_mono_ms();
}

void et_plain_broker(struct fh_broker *b, const char *base)
{
  memset(b, 0, sizeof *b);
  snprintf(b->base, sizeof b->base, "%s", base);
  snprintf(b->conf, sizeof b->conf, "%s/plain", base);
  if (mkdir(b->conf, 0755) != 0 && errno != EEXIST)
    fh_die("mkdir %s: %s", b->conf, strerror(errno));
  b->tls_port = fh_free_port(); /* the port fh_broker_start waits for */
  struct passwd *pw = getpwuid(getuid());
  char conf[FH_PATH + 32];
  snprintf(conf, sizeof conf, "%s/mosquitto.conf", b->conf);
  FILE *f = fopen(conf, "w");
  if (!f)
    fh_die("%s: %s", conf, strerror(errno));
  fprintf(f,
          "# Development broker of the edge tests: loopback only.\n"
          "per_listener_settings false\n"
          "allow_anonymous true\n"
          "persistence true\n"
          "persistence_location %s/\n"
          "autosave_interval 1\n"
          "max_queued_messages 1000000\n"
          "max_inflight_messages 1000\n"
          "log_dest stderr\n"
          "log_type error\nlog_type warning\nlog_type notice\n"
          "connection_messages true\n"
          "user %s\n"
          "listener %d 127.0.0.1\n"
          "protocol mqtt\n",
          b->conf, pw ? pw->pw_name : "root", b->tls_port);
  fclose(f);
  fh_broker_start(b);
}

static void sub_on_connect(void *ud, int reason)
{
  struct et_sub *s = ud;
  if (reason == 0)
    s->connected = true;
}

static void sub_on_disconnect(void *ud, int reason)
{
  struct et_sub *s = ud;
  (void)reason;
  s->connected = false;
}

static void sub_on_message(void *ud, const struct fd_mqtt_msg *m)
{
  struct et_sub *s = ud;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->msgs = realloc(s->msgs, s->cap * sizeof *s->msgs);
    if (!s->msgs)
      fh_die("out of memory");
  }
  struct et_msg *e = &s->msgs[s->n++];
  e->topic = strdup(m->topic);
  e->payload = malloc(m->len + 1);
  if (!e->topic || !e->payload)
    fh_die("out of memory");
  memcpy(e->payload, m->payload, m->len);
  e->payload[m->len] = '\0';
  e->len = m->len;
  e->retain = m->retain;
  e->at_ms = et_now_ms();
}

void et_sub_start(struct et_sub *s, struct fd_mqtt_config *cfg, const char *filter)
{
  memset(s, 0, sizeof *s);
  fd_log_init(&s->log, "observer", FD_LOG_ERROR, stderr);
  struct fd_mqtt_callbacks cb = {.on_connect = sub_on_connect,
                                 .on_disconnect = sub_on_disconnect,
                                 .on_message = sub_on_message};
  cfg->queue_max = 100000;
  if (fd_mqtt_new(cfg, &s->log, &cb, s, &s->mq) != 0)
    fh_die("observer: fd_mqtt_new failed");
  if (filter && fd_mqtt_subscribe(s->mq, filter, 1, false) != 0)
    fh_die("observer: subscribe %s failed", filter);
  if (fd_mqtt_start(s->mq) != 0)
    fh_die("observer: start failed");
  int64_t end = et_now_ms() + 10000;
  while (!s->connected && et_now_ms() < end)
    et_sub_pump(s, 20);
  if (!s->connected)
    fh_die("observer: not connected");
  et_sub_pump(s, 100); /* the SUBACK */
}

void et_sub_clear(struct et_sub *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->msgs[i].topic);
    free(s->msgs[i].payload);
  }
  s->n = 0;
}

void et_sub_stop(struct et_sub *s)
{
  fd_mqtt_free(s->mq);
  s->mq = NULL;
  et_sub_clear(s);
  free(s->msgs);
  s->msgs = NULL;
  s->cap = 0;
}

void et_sub_pump(struct et_sub *s, int ms)
{
  int64_t end = et_now_ms() + ms;
  do {
    struct pollfd p = {.fd = fd_mqtt_fd(s->mq), .events = POLLIN};
    int64_t left = end - et_now_ms();
    poll(&p, 1, left > 0 ? (int)(left > 20 ? 20 : left) : 0);
    fd_mqtt_dispatch(s->mq, 0);
  } while (et_now_ms() < end);
}

size_t et_sub_count(const struct et_sub *s, const char *topic)
{
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->msgs[i].topic, topic) == 0)
      n++;
  return n;
}

size_t et_sub_count_prefix(const struct et_sub *s, const char *prefix)
{
  size_t n = 0, pl = strlen(prefix);
  for (size_t i = 0; i < s->n; i++)
    if (strncmp(s->msgs[i].topic, prefix, pl) == 0)
      n++;
  return n;
}

const struct et_msg *et_sub_last(const struct et_sub *s, const char *topic)
{
  for (size_t i = s->n; i-- > 0;)
    if (strcmp(s->msgs[i].topic, topic) == 0)
      return &s->msgs[i];
  return NULL;
}

size_t et_sub_wait_prefix(struct et_sub *s, const char *prefix, size_t n, int timeout_ms)
{
  int64_t end = et_now_ms() + timeout_ms;
  size_t c;
  while ((c = et_sub_count_prefix(s, prefix)) < n && et_now_ms() < end)
    et_sub_pump(s, 20);
  return c;
}

const struct et_msg *et_sub_wait_text(struct et_sub *s, const char *topic, const char *needle,
                                      int timeout_ms)
{
  int64_t end = et_now_ms() + timeout_ms;
  size_t from = 0;
  do {
    for (size_t i = from; i < s->n; i++)
      if (strcmp(s->msgs[i].topic, topic) == 0 && strstr(s->msgs[i].payload, needle))
        return &s->msgs[i];
    et_sub_pump(s, 20);
  } while (et_now_ms() < end);
  return NULL;
}

void et_sub_publish(struct et_sub *s, const char *topic, const char *payload, bool retain)
{
  if (fd_mqtt_publish(s->mq, topic, payload, strlen(payload), 1, retain, NULL) != 0)
    fh_die("observer: publish on %s failed", topic);
}

json_t *et_json(const char *text, size_t len)
{
  json_error_t e;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
  if (!j)
    fh_die("not JSON (%s): %.200s", e.text, text);
  return j;
}

int et_http_raw(int port, const char *req, size_t req_len, char *out, size_t cap, const char **body)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  size_t off = 0;
  while (off < req_len) {
    ssize_t w = send(s, req + off, req_len - off, MSG_NOSIGNAL);
    if (w <= 0)
      break; /* the server may close early on an oversized request */
    off += (size_t)w;
  }
  shutdown(s, SHUT_WR);
  size_t len = 0;
  int64_t end = et_now_ms() + 10000;
  while (len + 1 < cap && et_now_ms() < end) {
    struct pollfd p = {.fd = s, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0)
      continue;
    ssize_t n = recv(s, out + len, cap - 1 - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(s);
  out[len] = '\0';
  int status = -1;
  if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
    return -1;
  if (body) {
    char *b = strstr(out, "\r\n\r\n");
    *body = b ? b + 4 : out + len;
  }
  return status;
}

int et_http(int port, const char *method, const char *path, const char *headers, const char *json,
            char *out, size_t cap, const char **body)
{
  size_t jl = json ? strlen(json) : 0;
  size_t need = strlen(method) + strlen(path) + (headers ? strlen(headers) : 0) + jl + 256;
  char *req = malloc(need);
  if (!req)
    fh_die("out of memory");
  int n;
  if (json)
    n = snprintf(req, need,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
                 method, path, port, jl, headers ? headers : "", json);
  else
    n = snprintf(req, need, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n",
                 method, path, port, headers ? headers : "");
  int status = et_http_raw(port, req, (size_t)n, out, cap, body);
  free(req);
  return status;
}
