/* cache_serve.h - a request through the cache: its key, the lookup, and
 * what follows: serve a stored response (HIT, STALE), revalidate it,
 * follow a fill in progress, start one (MISS), or go to the origin
 * (BYPASS). A response served from an entry streams its stored chunks
 * without copies, at this client's pace. */
#ifndef LUXY_CACHE_SERVE_H
#define LUXY_CACHE_SERVE_H

#include <stdbool.h>

struct request;
struct worker;
struct cache_entry;

/* Does the cache take r (after on_request)? A store, the listener's
 * cache on, GET or HEAD without a body, or PURGE. */
bool cache_applies(const struct request *r);
/* What the cache does with r (after cache_applies): r->cache_key and
 * r->creq are set for a lookup. */
enum cache_plan {
    CACHE_LOOKUP,          /* look r->cache_key up */
    CACHE_PURGE,           /* a PURGE (cache.purge decides who may) */
    CACHE_BYPASS_SCRIPT,   /* cache_key said bypass */
    CACHE_BYPASS_NO_STORE, /* the request's Cache-Control: no-store */
    CACHE_KEY_FAILED,      /* cache_key failed: a 500 */
};
enum cache_plan cache_plan(struct request *r);
/* What the cache does for r now (a lookup: cache_plan said CACHE_LOOKUP).
 * *e (when not NULL) is a reference the caller releases: the entry found,
 * or the busy one made (create) for a fill. */
enum cache_verdict {
    CV_FILL,        /* nothing matching: a fill starts (MISS) */
    CV_WAIT,        /* another request fills it: wait (MISS) */
    CV_PASS,        /* known uncacheable, or nothing and !create: BYPASS */
    CV_NOT_CACHED,  /* only-if-cached and nothing usable: 504 */
    CV_HIT,         /* fresh */
    CV_HIT_FILLING, /* stale before its fill even completed: read the fill */
    CV_STALE,       /* stale-while-revalidate: serve, refresh behind */
    CV_REVALIDATE,  /* ask the origin with its validators first */
};
enum cache_verdict cache_verdict(struct request *r, double now, bool create, struct cache_entry **e);
const char *cache_verdict_text(enum cache_verdict v);
/* The cached path of r: lookup, then serve, wait, fill or pass. */
void cache_begin(struct request *r);
/* r's client took everything queued: send more. */
void cache_client_drained(struct request *r);
/* Routing for r's fetch is done (proxy.c): backend is the chosen server's
 * index (-1 for an origin: r->addrs from r->addr_next). */
void cache_routed(struct request *r, int backend);
/* r ends: let go of the entry, the wait, the fill. */
void cache_detach(struct request *r);
/* A successful unsafe request (POST, PUT, DELETE, PATCH...) made the
 * stored responses for its target stale (RFC 9111 4.4). */
void cache_invalidate(struct request *r);
/* The worker's handler for a cache notification about e. */
void cache_wake(struct worker *w, struct cache_entry *e);

#endif
