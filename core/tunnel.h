/* tunnel.h - a byte tunnel between a client and a backend (CONNECT, or an
 * Upgrade answered with 101): bytes flow both ways until both sides have
 * closed; a half-close is passed on (shutdown), an idle tunnel times out. */
#ifndef LUXY_TUNNEL_H
#define LUXY_TUNNEL_H

#include <ev.h>
#include <stddef.h>

#include "transport.h"

struct worker;
struct access_entry;

/* Takes ownership of both transports. to_backend / to_client: bytes
 * already read that must be written first (pipelined after the request
 * head, or the 101 head and what followed it). entry: the request's access
 * log entry, copied (when there is an access log), written with the
 * tunnel's bytes, duration and end when it closes. */
void tunnel_start(struct worker *w, struct transport client, struct transport backend,
                  const char *to_backend, size_t to_backend_len, const char *to_client,
                  size_t to_client_len, const struct access_entry *entry, ev_tstamp started);

/* Closes every tunnel of w (end of the grace period). */
void tunnel_close_all(struct worker *w);

#endif
