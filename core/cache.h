/* cache.h - the shared HTTP cache store: one per process, shared by every
 * worker.
 *
 * An entry is a stored response: its key (and, with Vary, the request
 * values it was chosen for), its head, its freshness, and a body of
 * immutable chunks. Entries and bodies are reference counted: the index
 * holds one reference, every reader one more, so eviction or a purge never
 * frees what a reader is still sending. A body is appended to by one fill
 * and read by any number of readers at their own pace; bytes below its
 * published length never change, so readers send them without copies.
 *
 * One lock (the store's) guards the index, the LRU, the tag index and the
 * memory count; each body has its own lock for its chunk list and its
 * readers. Nothing is held while sending or running Lua.
 *
 * Waiting: a reader that needs more (a head, more body) registers the
 * worker it runs in on the entry; whoever changes the entry posts one
 * message per waiting worker to that worker's inbox (cache_notify), and the
 * worker wakes its own readers (cache_serve.c). */
#ifndef LUXY_CACHE_H
#define LUXY_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "cachectl.h"
#include "config.h"
#include "headers.h"
#include "list.h"

struct worker;

struct cache_chunk {
    struct cache_chunk *next;  /* set under the body's lock */
    size_t len, cap;           /* len grows under the body's lock */
    char data[];
};

enum cache_body_state { CB_FILLING, CB_COMPLETE, CB_FAILED };

/* Readers of a body, for the slowest one's position (a body that
 * outgrew the store streams: chunks behind every reader are freed). */
struct cache_reader_pos {
    struct list link;          /* cache_body.readers */
    uint64_t pos;              /* bytes this reader has sent and let go */
};

struct cache_body {
    atomic_uint refs;
    pthread_mutex_t lock;
    struct cache_chunk *first, *last;
    uint64_t base;             /* offset of first (streaming frees chunks before) */
    uint64_t length;           /* bytes appended so far */
    int64_t expected;          /* Content-Length, or -1 */
    enum cache_body_state state;
    bool streaming;            /* out of the store: paced by its slowest reader */
    bool fill_paused;          /* the fill waits for readers (streaming) */
    struct cache_entry *filler; /* the entry being filled (NULL when done), to wake the fill */
    struct list readers;       /* cache_reader_pos */
    struct cache *c;
    size_t charged;            /* bytes counted in the store */
};

enum cache_entry_state {
    CE_BUSY,                   /* being fetched: no head yet */
    CE_READY,                  /* a head (the body may still be filling) */
    CE_PASS,                   /* hit-for-pass: this key goes to the origin until pass_until */
    CE_FAILED,                 /* the fetch failed before a head: waiters go to the origin */
};

struct cache_tag_ref;

struct cache_entry {
    atomic_uint refs;
    struct cache *c;
    enum cache_entry_state state;  /* changed under the store's lock */
    /* identity */
    char *key;
    size_t key_len;
    uint64_t hash;
    char *vary;                /* "accept-encoding\n..." or NULL */
    char *variant;             /* the request's values for them, "gzip\n...", or NULL */
    /* the stored head (immutable once READY) */
    unsigned status;
    struct slice reason;
    struct headers fields;     /* slices into head_mem */
    char *head_mem;
    struct cache_meta meta;
    double response_time;      /* seconds since the epoch */
    double initial_age;
    int64_t ttl;               /* from cache_store: replaces freshness when >= 0 */
    int64_t grace;             /* from cache_store: replaces the store's grace when >= 0 */
    double pass_until;         /* CE_PASS */
    /* the body */
    struct cache_body *body;
    /* index (store lock) */
    bool in_index;
    bool filling;              /* its body is still being fetched */
    bool revalidating;         /* one refresh at a time */
    struct cache_entry *hnext;
    struct list lru;
    struct cache_tag_ref *tags;
    unsigned ntags;
    _Atomic uint64_t waiting[4]; /* workers with readers waiting on this entry */
    size_t charged;
};

struct cache_stats {
    atomic_ulong hits, misses, stale, revalidated, bypass, stores, evictions, purges;
};

struct cache {
    struct cache_config cfg;
    pthread_mutex_t lock;
    struct cache_entry **buckets;
    size_t nbuckets, nentries;
    struct list lru;           /* least recently used first */
    struct cache_tag **tag_buckets;
    size_t ntag_buckets, ntags;
    _Atomic uint64_t used;     /* bytes in use (changed with or without the lock) */
    struct worker **workers;   /* by id - 1, for notifications */
    unsigned nworkers;
    struct cache_stats stats;
};

struct cache *cache_new(const struct cache_config *cfg);
/* Frees the store and every entry no reader holds (at exit). */
void cache_free(struct cache *c);
void cache_set_workers(struct cache *c, struct worker **workers, unsigned n);

/* ---- entries ---- */

static inline void cache_entry_hold(struct cache_entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}
void cache_entry_release(struct cache_entry *e);

/* The freshness rules an entry is served by: the response's, unless the
 * script gave a ttl, which owns freshness (no-cache and must-revalidate
 * of the response no longer apply). */
struct cache_meta cache_entry_rules(const struct cache_entry *e);

enum cache_found {
    CF_FILL,                   /* nothing: a new busy entry was made, the caller fetches it */
    CF_WAIT,                   /* another fetch is on it: wait (cache_wait) and look again */
    CF_READY,                  /* a stored response matching the request */
    CF_PASS,                   /* known uncacheable: go to the origin */
};

/* Looks key up for a request with those fields. On CF_FILL, CF_WAIT and
 * CF_READY *out holds a reference the caller releases. create: make a busy
 * entry when nothing is found (else CF_PASS is returned for nothing). */
enum cache_found cache_lookup(struct cache *c, struct slice key, const struct headers *req, double now,
                              bool create, struct cache_entry **out);

/* A stale READY entry: true when the caller is the one to revalidate it
 * (nobody else is). cache_revalidated clears that. */
bool cache_begin_revalidation(struct cache_entry *e);
void cache_end_revalidation(struct cache_entry *e);

/* ---- filling (the fetch that got CF_FILL) ---- */

struct cache_head {
    unsigned status;
    struct slice reason;
    const struct headers *fields;  /* as stored: hop-by-hop fields already gone */
    const struct cache_meta *meta;
    double response_time;
    double initial_age;
    int64_t ttl, grace;            /* -1: RFC freshness, the store's grace */
    int64_t content_length;        /* -1: unknown */
    const char *vary;              /* names, or NULL */
    const struct headers *request; /* for the variant */
};

/* The head is known: the entry becomes READY and waiters wake. store:
 * it goes into the index (replacing the key's entry of the same variant);
 * else it leaves the index and its body streams to the reader that asked
 * (paced by it), and the key is remembered as hit-for-pass for pass_ttl
 * seconds from now (0: not at all). */
void cache_fill_head(struct cache_entry *e, const struct cache_head *h, bool store, double now, double pass_ttl);
/* A new busy entry for key that is not in the index yet (a refresh that
 * got a new response: cache_fill_head links it). A reference. */
struct cache_entry *cache_new_fill(struct cache *c, struct slice key);
/* Appends body bytes. Returns false when the store cannot keep them (the
 * object is over max_object, or the store is full of what readers hold):
 * the entry leaves the index and its body streams on to the readers it
 * has, paced by the slowest (cache_fill_may_read). */
bool cache_fill_append(struct cache_entry *e, const char *p, size_t n);
/* May the fill (running in worker_id) read more now? False while a
 * streaming body's readers are far behind: the worker is then woken (like
 * a reader) when they catch up; or when no reader is left (the caller
 * abandons the fill then: cache_fill_readers). */
bool cache_fill_may_read(struct cache_entry *e, unsigned worker_id);
/* Does anyone still want e (a reader, a waiter, the index)? A streaming
 * fill nobody wants stops. */
bool cache_fill_wanted(struct cache_entry *e);
/* The body is complete, or cut (not complete: readers see the cut, and the
 * entry leaves the index). */
void cache_fill_done(struct cache_entry *e, bool complete);
/* No head will come (the fetch failed), or the response is not storable:
 * the entry leaves the index. pass_ttl > 0: remember the key as
 * hit-for-pass for that long. Waiters wake and see CE_FAILED / CE_PASS. */
void cache_fill_abandon(struct cache_entry *e, double now, double pass_ttl);

/* A 304 refreshed a stored response: a new entry with the merged head
 * shares the old body and takes its place. Returns it (a reference). */
struct cache_entry *cache_refresh(struct cache_entry *old, const struct cache_head *h);

/* ---- reading ---- */

/* A reader's place in a body. */
struct cache_cursor {
    struct cache_chunk *chunk; /* NULL: at the start */
    size_t off;                /* in chunk */
    uint64_t pos;              /* bytes of the body before (chunk, off) */
    struct cache_reader_pos rp;
};

void cache_cursor_open(struct cache_cursor *cur, struct cache_body *b, uint64_t start);
void cache_cursor_close(struct cache_cursor *cur, struct cache_body *b);
/* Up to max slices of what is available from cur on (at most `limit`
 * bytes), into iov; advances cur. Returns how many; 0 with *state telling
 * why (more is coming: CB_FILLING; the end: CB_COMPLETE; cut: CB_FAILED). */
int cache_cursor_read(struct cache_cursor *cur, struct cache_body *b, struct iovec *iov, int max, size_t limit,
                      enum cache_body_state *state);
/* The bytes before cur have been sent: a streaming body may free them. */
void cache_cursor_sent(struct cache_cursor *cur, struct cache_body *b);

enum cache_wait_for {
    WAIT_HEAD,                 /* a busy entry: its head (or its failure) */
    WAIT_DATA,                 /* body bytes beyond pos, or the end */
    WAIT_REVALIDATION,         /* someone else's refresh of e */
};

/* Registers worker id as waiting for that change of e. Returns false when
 * there is no need: it happened since the caller looked - look again. */
bool cache_wait(struct cache_entry *e, unsigned worker_id, enum cache_wait_for what, uint64_t pos);

/* ---- invalidation and purging ---- */

/* Takes e out of the index (a newer response made it useless). */
void cache_forget(struct cache_entry *e);
/* Removes every variant of key (RFC 9111 4.4, PURGE). Returns how many. */
unsigned cache_remove_key(struct cache *c, struct slice key);
/* Removes every entry carrying tag. Returns how many. */
unsigned cache_remove_tag(struct cache *c, struct slice tag);
/* Removes every entry whose key starts with prefix (the admin's purge):
 * a walk of the whole index under the store's lock. Returns how many. */
unsigned cache_remove_prefix(struct cache *c, struct slice prefix);

/* The store's memory in use, for tests and metrics. */
uint64_t cache_used(struct cache *c);
/* Entries in the index (hit-for-pass markers too), for metrics. */
size_t cache_entries(struct cache *c);

/* What a worker's inbox message (posted by cache_notify) carries; the
 * worker wakes its readers waiting on e, then releases it. */
typedef void (*cache_wake_fn)(struct worker *w, struct cache_entry *e);
void cache_set_wake(cache_wake_fn fn);

#endif
