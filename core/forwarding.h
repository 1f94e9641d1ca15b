/* forwarding.h - who the client is, when luxy stands behind other proxies
 * (trusted_proxies: the client address is taken from X-Forwarded-For or
 * Forwarded only when the peer is trusted, as nginx's realip does), and
 * the forwarding fields a reverse proxy gives its backends: its own
 * X-Forwarded-For/-Proto/-Host/-Port (and RFC 7239 Forwarded), never the
 * ones an untrusted client made up (they poison caches and fool backends
 * into trusting a host, a scheme or a method the client chose). Pure. */
#ifndef LUXY_FORWARDING_H
#define LUXY_FORWARDING_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "arena.h"
#include "headers.h"
#include "luxy.h"

struct forwarding_config {
    struct cidr *trusted;      /* trusted_proxies; none: nobody */
    unsigned ntrusted;
    bool x_forwarded;          /* reverse: X-Forwarded-For, -Proto, -Host, -Port */
    bool forwarded;            /* reverse: Forwarded (RFC 7239) */
    bool keep_client_fields;   /* reverse: pass what clients send (forwarding_headers = "keep") */
    char port[8];              /* reverse: the listener's port, as X-Forwarded-Port says it */
};

bool forwarding_trusted(const struct forwarding_config *fc, const union sockaddr_u *peer);

/* The client behind a trusted peer: X-Forwarded-For (every field, as one
 * list), else Forwarded's for=, read from the right past the trusted
 * addresses; the first one that is not trusted is the client (all
 * trusted: the leftmost). False when the fields give no address (then
 * the peer is the client). */
bool forwarding_client(const struct forwarding_config *fc, const struct headers *h, union sockaddr_u *client);

/* What a reverse listener's request carries to the backend. */
struct forwarding_subject {
    bool peer_trusted;
    struct slice peer_ip;      /* the hop X-Forwarded-For and Forwarded's for= gain */
    struct slice host;         /* the Host the client asked for (may be empty) */
};

void forwarding_request(struct headers *h, struct arena *a, const struct forwarding_config *fc,
                        const struct forwarding_subject *s);

#endif
