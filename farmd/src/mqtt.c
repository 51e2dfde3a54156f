/* SPDX-License-Identifier: MIT */
/*
 * libmosquitto wrapper: a network thread that connects, runs the MQTT loop
 * and reconnects with backoff; an event queue and a self-pipe that hand
 * everything it receives to the program's thread.
 */
#include "farmd/mqtt.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "farm/error.h"

enum ev_type { EV_CONNECT, EV_DISCONNECT, EV_MESSAGE, EV_PUBLISH };

struct ev {
  struct ev *next;
  enum ev_type type;
  int code;    /* connect/disconnect reason, publish reason */
  int mid;     /* publish */
  int qos;
  bool retain;
  char *topic; /* message: owned */
  char *payload;
  size_t len;
};

struct sub {
  struct sub *next;
  char *pattern;
  int qos;
  bool no_local;
};

struct fd_mqtt {
  struct mosquitto *mosq;
  const struct fd_log *log;
  struct fd_mqtt_callbacks cb;
  void *ud;

  /* Copies of the configuration strings. */
  char *host;
  int port;
  int keepalive;
  int backoff_min, backoff_max;
  size_t queue_max;
  mosquitto_property *connect_props;

  pthread_t thread;
  bool started;
  int pipe_r, pipe_w;

  pthread_mutex_t lock; /* everything below */
  pthread_cond_t cond;  /* queue space, stop request */
  struct ev *head, *tail;
  size_t queued_msgs;
  struct sub *subs;
  bool stopping;

  atomic_bool connected;
  atomic_uint_fast64_t n_connects, n_disconnects, n_received, n_published,
      n_refused;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
  mosquitto_lib_init();
}

static void wake(struct fd_mqtt *m)
{
  char b = 1;
  /* The pipe is non-blocking: when full, a wake-up is already pending. */
  ssize_t n = write(m->pipe_w, &b, 1);
  (void)n;
}

/* Queues an event; called with m->lock held. Only the first event of an
 * empty queue writes to the pipe: dispatch drains everything it finds. */
static void push_locked(struct fd_mqtt *m, struct ev *e)
{
  e->next = NULL;
  if (m->tail) {
    m->tail->next = e;
  } else {
    m->head = e;
    wake(m);
  }
  m->tail = e;
}

static void push(struct fd_mqtt *m, struct ev *e)
{
  pthread_mutex_lock(&m->lock);
  push_locked(m, e);
  pthread_mutex_unlock(&m->lock);
}

static void subscribe_one(struct fd_mqtt *m, const struct sub *s)
{
  int opts = s->no_local ? MQTT_SUB_OPT_NO_LOCAL : 0;
  int rc = mosquitto_subscribe_v5(m->mosq, NULL, s->pattern, s->qos, opts, NULL);
  if (rc != MOSQ_ERR_SUCCESS)
    fd_log(m->log, FD_LOG_WARN, "mqtt: subscribe %s failed: %s", s->pattern,
           mosquitto_strerror(rc));
}

static void on_connect_cb(struct mosquitto *mosq, void *obj, int rc, int flags,
                          const mosquitto_property *props)
{
  (void)mosq;
  (void)flags;
  (void)props;
  struct fd_mqtt *m = obj;
  if (rc == 0) {
    atomic_store(&m->connected, true);
    atomic_fetch_add(&m->n_connects, 1);
    fd_log(m->log, FD_LOG_INFO, "mqtt: connected to %s:%d", m->host, m->port);
    /* Restore subscriptions before any message of this session arrives. */
    pthread_mutex_lock(&m->lock);
    for (const struct sub *s = m->subs; s; s = s->next)
      subscribe_one(m, s);
    pthread_mutex_unlock(&m->lock);
  } else {
    fd_log(m->log, FD_LOG_WARN, "mqtt: %s:%d refused the connection: %s (0x%02x)",
           m->host, m->port, mosquitto_reason_string(rc), (unsigned)rc);
  }
  struct ev *e = calloc(1, sizeof *e);
  if (!e)
    return;
  e->type = EV_CONNECT;
  e->code = rc;
  push(m, e);
}

static void on_disconnect_cb(struct mosquitto *mosq, void *obj, int rc,
                             const mosquitto_property *props)
{
  (void)mosq;
  (void)props;
  struct fd_mqtt *m = obj;
  bool was = atomic_exchange(&m->connected, false);
  if (!was)
    return;
  atomic_fetch_add(&m->n_disconnects, 1);
  if (rc != 0)
    fd_log(m->log, FD_LOG_WARN, "mqtt: connection to %s:%d lost: %s", m->host,
           m->port, mosquitto_strerror(rc));
  struct ev *e = calloc(1, sizeof *e);
  if (!e)
    return;
  e->type = EV_DISCONNECT;
  e->code = rc;
  push(m, e);
}

static void on_message_cb(struct mosquitto *mosq, void *obj,
                          const struct mosquitto_message *msg,
                          const mosquitto_property *props)
{
  (void)mosq;
  (void)props;
  struct fd_mqtt *m = obj;
  struct ev *e = calloc(1, sizeof *e);
  if (!e)
    return;
  size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
  e->type = EV_MESSAGE;
  e->topic = strdup(msg->topic);
  e->payload = malloc(len + 1);
  if (!e->topic || !e->payload) {
    free(e->topic);
    free(e->payload);
    free(e);
    return;
  }
  if (len)
    memcpy(e->payload, msg->payload, len);
  e->payload[len] = '\0';
  e->len = len;
  e->qos = msg->qos;
  e->retain = msg->retain;
  atomic_fetch_add(&m->n_received, 1);

  pthread_mutex_lock(&m->lock);
  /* Back-pressure: hold the network thread until the program catches up. */
  while (m->queued_msgs >= m->queue_max && !m->stopping)
    pthread_cond_wait(&m->cond, &m->lock);
  if (m->stopping) {
    pthread_mutex_unlock(&m->lock);
    free(e->topic);
    free(e->payload);
    free(e);
    return;
  }
  m->queued_msgs++;
  push_locked(m, e);
  pthread_mutex_unlock(&m->lock);
}

static void on_publish_cb(struct mosquitto *mosq, void *obj, int mid, int reason,
                          const mosquitto_property *props)
{
  (void)mosq;
  (void)props;
  struct fd_mqtt *m = obj;
  if (reason >= 0x80)
    atomic_fetch_add(&m->n_refused, 1);
  struct ev *e = calloc(1, sizeof *e);
  if (!e)
    return;
  e->type = EV_PUBLISH;
  e->mid = mid;
  e->code = reason;
  push(m, e);
}

static bool readable(const char *path)
{
  return path == NULL || access(path, R_OK) == 0;
}

int fd_mqtt_new(const struct fd_mqtt_config *cfg, const struct fd_log *log,
                const struct fd_mqtt_callbacks *cb, void *ud, struct fd_mqtt **out)
{
  *out = NULL;
  if (!cfg->host || !cfg->host[0] || cfg->port < 1 || cfg->port > 65535 ||
      !cfg->client_id || !cfg->client_id[0])
    return FARM_EINVAL;
  if (cfg->tls && (!cfg->ca_file || !cfg->ca_file[0]))
    return FARM_EINVAL;
  if (!cfg->cert_file != !cfg->key_file)
    return FARM_EINVAL;
  if (cfg->tls && (!readable(cfg->ca_file) || !readable(cfg->cert_file) ||
                   !readable(cfg->key_file)))
    return FARM_ENOENT;
  pthread_once(&lib_once, lib_init);

  struct fd_mqtt *m = calloc(1, sizeof *m);
  if (!m)
    return FARM_ENOMEM;
  m->log = log;
  if (cb)
    m->cb = *cb;
  m->ud = ud;
  m->port = cfg->port;
  m->keepalive = cfg->keepalive_s > 0 ? cfg->keepalive_s : 30;
  m->backoff_min = cfg->reconnect_min_s > 0 ? cfg->reconnect_min_s : 1;
  m->backoff_max = cfg->reconnect_max_s > 0 ? cfg->reconnect_max_s : 30;
  if (m->backoff_max < m->backoff_min)
    m->backoff_max = m->backoff_min;
  m->queue_max = cfg->queue_max ? cfg->queue_max : 4096;
  m->pipe_r = m->pipe_w = -1;
  pthread_mutex_init(&m->lock, NULL);
  pthread_cond_init(&m->cond, NULL);
  int rc = FARM_ENOMEM;
  int fds[2];
  m->host = strdup(cfg->host);
  if (!m->host)
    goto fail;
  if (pipe(fds) != 0) {
    rc = FARM_EIO;
    goto fail;
  }
  m->pipe_r = fds[0];
  m->pipe_w = fds[1];
  for (int i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  }

  m->mosq = mosquitto_new(cfg->client_id, cfg->clean_start, m);
  if (!m->mosq)
    goto fail;
  rc = FARM_EIO;
  if (mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5))
    goto fail;
  /* Our own thread runs the loop: without this, a publish from another
   * thread writes to the (TLS) socket itself, racing the loop. */
  if (mosquitto_threaded_set(m->mosq, true))
    goto fail;
  if (cfg->tls) {
    if (mosquitto_tls_set(m->mosq, cfg->ca_file, NULL, cfg->cert_file, cfg->key_file, NULL))
      goto fail;
    /* Verify the broker's certificate and host name; TLS 1.2 at least. */
    if (mosquitto_tls_opts_set(m->mosq, 1, "tlsv1.2", NULL))
      goto fail;
  }
  if (cfg->username &&
      mosquitto_username_pw_set(m->mosq, cfg->username, cfg->password))
    goto fail;
  if (cfg->will_topic &&
      mosquitto_will_set_v5(m->mosq, cfg->will_topic,
                            cfg->will_payload ? (int)strlen(cfg->will_payload) : 0,
                            cfg->will_payload, 1, cfg->will_retain, NULL))
    goto fail;
  if (!cfg->clean_start && cfg->session_expiry_s &&
      mosquitto_property_add_int32(&m->connect_props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                   cfg->session_expiry_s))
    goto fail;
  mosquitto_connect_v5_callback_set(m->mosq, on_connect_cb);
  mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect_cb);
  mosquitto_message_v5_callback_set(m->mosq, on_message_cb);
  mosquitto_publish_v5_callback_set(m->mosq, on_publish_cb);
  *out = m;
  return 0;

fail:
  fd_mqtt_free(m);
  return rc;
}

/* Waits up to ms unless a stop is requested; returns true when stopping. */
static bool sleep_or_stop(struct fd_mqtt *m, int ms)
{
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&m->lock);
  while (!m->stopping) {
    if (pthread_cond_timedwait(&m->cond, &m->lock, &until) == ETIMEDOUT)
      break;
  }
  bool stop = m->stopping;
  pthread_mutex_unlock(&m->lock);
  return stop;
}

static bool is_stopping(struct fd_mqtt *m)
{
  pthread_mutex_lock(&m->lock);
  bool s = m->stopping;
  pthread_mutex_unlock(&m->lock);
  return s;
}

/*
 * The network thread owns connecting and reconnecting, with exponential
 * backoff and jitter so a fleet of clients does not reconnect in lockstep
 * after a broker restart. It runs mosquitto_loop() itself rather than
 * loop_forever(), which gives up for good on TLS and authentication errors
 * and sleeps through stop requests.
 */
static void *net_thread(void *arg)
{
  struct fd_mqtt *m = arg;
  int backoff = m->backoff_min;
  bool first = true;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)m;
  while (!is_stopping(m)) {
    int rc;
    if (first)
      rc = mosquitto_connect_bind_v5(m->mosq, m->host, m->port, m->keepalive, NULL,
                                     m->connect_props);
    else
      rc = mosquitto_reconnect(m->mosq);
    first = false;
    if (rc == MOSQ_ERR_SUCCESS) {
      uint64_t before = atomic_load(&m->n_connects);
      int64_t stop_deadline = 0;
      do {
        rc = mosquitto_loop(m->mosq, 1000, 1);
        if (is_stopping(m)) {
          /* Leave time to flush the DISCONNECT, but not forever. */
          int64_t now = fd_mono_ms();
          if (!stop_deadline)
            stop_deadline = now + 1000;
          else if (now > stop_deadline)
            break;
        }
      } while (rc == MOSQ_ERR_SUCCESS);
      if (atomic_load(&m->n_connects) != before)
        backoff = m->backoff_min;
      /* The socket may be gone without a disconnect callback (a TLS or
       * connect failure before CONNACK): report it once. */
      on_disconnect_cb(m->mosq, m, rc, NULL);
    } else if (!is_stopping(m)) {
      fd_log(m->log, FD_LOG_WARN, "mqtt: cannot connect to %s:%d: %s", m->host,
             m->port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    }
    if (is_stopping(m))
      break;
    int jitter = (int)(rand_r(&seed) % 250u);
    if (sleep_or_stop(m, backoff * 1000 + jitter))
      break;
    backoff = backoff * 2 > m->backoff_max ? m->backoff_max : backoff * 2;
  }
  return NULL;
}

int fd_mqtt_start(struct fd_mqtt *m)
{
  assert(!m->started);
  if (pthread_create(&m->thread, NULL, net_thread, m) != 0)
    return FARM_EIO;
  m->started = true;
  return 0;
}

int fd_mqtt_subscribe(struct fd_mqtt *m, const char *pattern, int qos, bool no_local)
{
  bool shared = strncmp(pattern, "$share/", 7) == 0;
  const char *filter = pattern;
  if (shared) {
    const char *slash = strchr(pattern + 7, '/');
    if (!slash || slash == pattern + 7)
      return FARM_EINVAL;
    filter = slash + 1;
  }
  if (mosquitto_sub_topic_check(filter) != MOSQ_ERR_SUCCESS || qos < 0 || qos > 2)
    return FARM_EINVAL;
  struct sub *s = calloc(1, sizeof *s);
  if (!s)
    return FARM_ENOMEM;
  s->pattern = strdup(pattern);
  if (!s->pattern) {
    free(s);
    return FARM_ENOMEM;
  }
  s->qos = qos;
  /* MQTT v5 §3.8.3.1: No Local on a shared subscription is a protocol error. */
  s->no_local = no_local && !shared;
  pthread_mutex_lock(&m->lock);
  s->next = m->subs;
  m->subs = s;
  if (atomic_load(&m->connected))
    subscribe_one(m, s);
  pthread_mutex_unlock(&m->lock);
  return 0;
}

int fd_mqtt_publish(struct fd_mqtt *m, const char *topic, const void *payload,
                    size_t len, int qos, bool retain, int *mid)
{
  if (len > MQTT_MAX_PAYLOAD)
    return FARM_ETOOBIG;
  if (mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS)
    return FARM_EINVAL;
  if (!atomic_load(&m->connected))
    return FARM_ECLOSED;
  int rc = mosquitto_publish_v5(m->mosq, mid, topic, (int)len, payload, qos, retain, NULL);
  switch (rc) {
  case MOSQ_ERR_SUCCESS:
    atomic_fetch_add(&m->n_published, 1);
    return 0;
  case MOSQ_ERR_NO_CONN:
    return FARM_ECLOSED;
  case MOSQ_ERR_NOMEM:
    return FARM_ENOMEM;
  case MOSQ_ERR_PAYLOAD_SIZE:
  case MOSQ_ERR_OVERSIZE_PACKET:
    return FARM_ETOOBIG;
  default:
    return FARM_EIO;
  }
}

int fd_mqtt_fd(const struct fd_mqtt *m)
{
  return m->pipe_r;
}

static void free_ev(struct ev *e)
{
  free(e->topic);
  free(e->payload);
  free(e);
}

size_t fd_mqtt_dispatch(struct fd_mqtt *m, size_t max)
{
  char buf[64];
  while (read(m->pipe_r, buf, sizeof buf) > 0) {
  }
  size_t done = 0;
  while (max == 0 || done < max) {
    pthread_mutex_lock(&m->lock);
    struct ev *e = m->head;
    if (e) {
      m->head = e->next;
      if (!m->head)
        m->tail = NULL;
      if (e->type == EV_MESSAGE) {
        m->queued_msgs--;
        pthread_cond_broadcast(&m->cond);
      }
    }
    pthread_mutex_unlock(&m->lock);
    if (!e)
      break;
    switch (e->type) {
    case EV_CONNECT:
      if (m->cb.on_connect)
        m->cb.on_connect(m->ud, e->code);
      break;
    case EV_DISCONNECT:
      if (m->cb.on_disconnect)
        m->cb.on_disconnect(m->ud, e->code);
      break;
    case EV_MESSAGE:
      if (m->cb.on_message) {
        struct fd_mqtt_msg msg = {.topic = e->topic, .payload = e->payload,
                                  .len = e->len, .qos = e->qos, .retain = e->retain};
        m->cb.on_message(m->ud, &msg);
      }
      break;
    case EV_PUBLISH:
      if (m->cb.on_publish)
        m->cb.on_publish(m->ud, e->mid, e->code);
      break;
    }
    free_ev(e);
    done++;
  }
  /* More left: keep the descriptor readable for the next poll. */
  pthread_mutex_lock(&m->lock);
  if (m->head)
    wake(m);
  pthread_mutex_unlock(&m->lock);
  return done;
}

bool fd_mqtt_connected(const struct fd_mqtt *m)
{
  return atomic_load(&((struct fd_mqtt *)m)->connected);
}

void fd_mqtt_get_stats(const struct fd_mqtt *m, struct fd_mqtt_stats *out)
{
  struct fd_mqtt *mm = (struct fd_mqtt *)m;
  out->connects = atomic_load(&mm->n_connects);
  out->disconnects = atomic_load(&mm->n_disconnects);
  out->received = atomic_load(&mm->n_received);
  out->published = atomic_load(&mm->n_published);
  out->publish_refused = atomic_load(&mm->n_refused);
}

void fd_mqtt_free(struct fd_mqtt *m)
{
  if (!m)
    return;
  if (m->started) {
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (m->mosq)
      mosquitto_disconnect_v5(m->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
    pthread_join(m->thread, NULL);
  }
  if (m->mosq)
    mosquitto_destroy(m->mosq);
  mosquitto_property_free_all(&m->connect_props);
  for (struct ev *e = m->head; e;) {
    struct ev *next = e->next;
    free_ev(e);
    e = next;
  }
  for (struct sub *s = m->subs; s;) {
    struct sub *next = s->next;
    free(s->pattern);
    free(s);
    s = next;
  }
  if (m->pipe_r >= 0)
    close(m->pipe_r);
  if (m->pipe_w >= 0)
    close(m->pipe_w);
  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->lock);
  free(m->host);
  free(m);
}
