/* resolve.h - non-blocking name resolution for one worker.
 * c-ares runs on the worker's ev_loop; /etc/hosts is read once when the
 * resolver is made (never from the loop); answers are cached by name with
 * their DNS TTL (capped), failures for a short negative TTL, and concurrent
 * lookups of one name share one query. One resolver per worker: no locks. */
#ifndef LUXY_RESOLVE_H
#define LUXY_RESOLVE_H

#include <ev.h>
#include <stddef.h>

#include "addr.h"

#define RESOLVE_MAX_ADDRS 8

/* Addresses of one name, port 0; IPv4 ones first, then IPv6. */
struct resolved {
    unsigned n;
    union sockaddr_u addr[RESOLVE_MAX_ADDRS];
};

struct resolve_config {
    const char *servers;   /* "127.0.0.1:5353,[::1]:53" or NULL: /etc/resolv.conf */
    const char *hosts_path; /* NULL: /etc/hosts; "" : no hosts file */
    unsigned timeout_ms;   /* per attempt; 0: 2000 */
    unsigned attempts;     /* 0: 2 */
    unsigned max_ttl;      /* seconds; cap on cached answers; 0: 300 */
    unsigned neg_ttl;      /* seconds a failure is remembered; 0: 5 */
    unsigned cache_size;   /* max cached names; 0: 4096 */
};

/* Called once with the answer (res != NULL, err == NULL) or the failure
 * (res == NULL, err a static message such as "name not found"). res is valid
 * only during the call. */
typedef void (*resolve_cb)(void *arg, const struct resolved *res, const char *err);

/* A waiter, embedded in the caller's object so that lookups allocate nothing
 * per caller and cancelling is O(1). Treat as opaque. */
struct resolve_wait {
    struct resolve_wait *next, **pprev;
    resolve_cb cb;
    void *arg;
};

enum resolve_status { RESOLVE_DONE, RESOLVE_PENDING, RESOLVE_FAILED };

struct resolver;

struct resolver *resolve_new(struct ev_loop *loop, const struct resolve_config *cfg, char *err,
                             size_t errlen);
/* Cancels every pending waiter (their callbacks are not called). */
void resolve_free(struct resolver *r);

/* Looks name up (len bytes, not NUL-terminated; case-insensitive).
 * - RESOLVE_DONE: answered now (IP literal, hosts file, "localhost", cache);
 *   *out points at the answer, valid until control returns to the loop.
 * - RESOLVE_FAILED: *err is a static message; nothing will be called.
 * - RESOLVE_PENDING: w is linked; w->cb(arg, ...) will be called later from
 *   the loop, exactly once, unless resolve_cancel(w) is called first.
 * Never calls cb before returning. Names under ".invalid" fail at once
 * (RFC 6761 6.4); "localhost" and "*.localhost" are 127.0.0.1 and ::1. */
enum resolve_status resolve_lookup(struct resolver *r, const char *name, size_t len,
                                   struct resolve_wait *w, resolve_cb cb, void *arg,
                                   const struct resolved **out, const char **err);

/* Unlinks a pending waiter; harmless on one that is not linked. */
void resolve_cancel(struct resolve_wait *w);

/* Counters for tests and metrics. */
struct resolve_stats {
    unsigned long queries;   /* sent to c-ares */
    unsigned long cache_hits;
    unsigned long failures;
};
void resolve_get_stats(const struct resolver *r, struct resolve_stats *out);

#endif
