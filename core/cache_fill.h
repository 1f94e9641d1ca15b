/* cache_fill.h - fetching for the cache: a fill (a miss: the response is
 * stored as it arrives, and every reader follows it) or a refresh (a stale
 * entry asked again with its validators). Each is a fetch (fetch.h) whose
 * sink is here; it outlives the request that started it (the trigger),
 * which only reads the entry like any other reader. */
#ifndef LUXY_CACHE_FILL_H
#define LUXY_CACHE_FILL_H

#include <stdbool.h>

#include "cache.h"
#include "fetch.h"
#include "luxy.h"
#include "cachectl.h"
#include "../lua/hooks.h"

struct request;
struct cache_fill;

/* Starts fetching for e (a busy entry from cache_lookup: a fill) or for
 * old (a stale entry whose revalidation the caller began: a refresh; e is
 * NULL then). head: the request to send. trigger: the request that asked
 * and waits (NULL: a background refresh). The fill takes the references it
 * needs. */
struct cache_fill *cache_fill_start(struct request *trigger, struct cache_entry *e, struct cache_entry *old,
                                    const struct fetch_target *t, struct slice head);

/* The trigger goes away: the fill goes on without it when it can. */
void cache_fill_forget_trigger(struct cache_fill *fl);

/* Removes the RFC 9213 targeted fields (meant for this cache) from what a
 * reverse listener's clients get. */
void cache_drop_targeted(const struct cache_config *cc, struct headers *h);

/* The rules a store decision follows: the configuration's heuristics, and
 * for a reverse listener the targeted fields (RFC 9213). */
struct cache_rules cache_store_rules(const struct cache_config *cc, bool reverse, bool allow_set_cookie);

/* Whether a response is stored: the RFC's rules (cache_decide), then the
 * script's cache_store run on trigger (its r->resp is set to resp and
 * fields), then max_object. */
struct cache_store_choice {
    bool store;
    bool too_big;                     /* larger than max_object */
    const char *reason;               /* why (static) */
    struct cache_meta meta;           /* freshness and the rest */
    struct cache_store_decision script; /* what cache_store said (store -1: nothing) */
};
struct vm;
struct http_head;
void cache_store_choose(struct cache_store_choice *ch, const struct cache_config *cc, bool reverse, struct vm *vm,
                        struct request *trigger, const struct headers *req, const struct http_head *resp,
                        const struct headers *fields, time_t now);

/* Stops every fill of w (its end): their entries are left unfinished. */
void cache_fill_cancel_all(struct worker *w);

/* The worker was woken for e: a paused fill of it may read on. */
void cache_fill_wake(struct worker *w, struct cache_entry *e);

#endif
