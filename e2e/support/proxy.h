/* SPDX-License-Identifier: MIT */
/*
 * A TCP relay that the whole-farm tests put between the edge and the
 * broker, so they can cut the network between them. It listens on a free
 * loopback port and relays every connection to an upstream port on its own
 * thread. Cut, the link behaves as a network that went dark: bytes on
 * established connections are swallowed in both directions (the peers
 * notice only through their keepalives), and new connections are closed as
 * soon as they are accepted (nobody answers). Restored, the dark
 * connections are closed and new ones are relayed again.
 */
#ifndef E2E_PROXY_H
#define E2E_PROXY_H

#include <stdbool.h>
#include <stddef.h>

struct e2e_proxy;

/* Starts relaying 127.0.0.1:<free port> to 127.0.0.1:upstream_port.
 * Dies (fh_die) when the thread or the socket cannot be made. */
struct e2e_proxy *e2e_proxy_start(int upstream_port);
/* The port it listens on. */
int e2e_proxy_port(const struct e2e_proxy *p);
/* Goes dark (see above); idempotent. */
void e2e_proxy_cut(struct e2e_proxy *p);
/* Closes the dark connections and relays again; idempotent. */
void e2e_proxy_restore(struct e2e_proxy *p);

struct e2e_proxy_stats {
  size_t accepted; /* connections accepted */
  size_t refused;  /* accepted and closed at once: cut, or upstream down */
  size_t active;   /* connections being relayed now */
  size_t dark;     /* connections swallowed by a cut, not yet closed */
  unsigned long long bytes_up, bytes_down, bytes_swallowed;
};
void e2e_proxy_stats(struct e2e_proxy *p, struct e2e_proxy_stats *out);

/* Stops the thread and closes everything; p is freed. NULL is a no-op. */
void e2e_proxy_stop(struct e2e_proxy *p);

#endif /* E2E_PROXY_H */
