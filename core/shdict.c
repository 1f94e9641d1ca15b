/* shdict.c - the shared dictionary (see shdict.h): a fixed-size hash
 * index, an LRU list and a min-heap of expiry times, all under one mutex.
 * Invariant: an entry is in the index and on the LRU list, and in the heap
 * exactly when it has an expiry; used is the sum of the entries' costs and
 * never exceeds capacity. Work under the lock is pointer work plus, for the
 * operations that copy a value out or compare one, that value's bytes;
 * entries are built outside it (before it, or between two lookups) and
 * freed after it. */
#include "shdict.h"

#include <assert.h>
#include <endian.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "list.h"

#define NO_HEAP UINT32_MAX
#define BYTES_PER_BUCKET 256 /* one bucket per 256 bytes of size: ~2 entries a chain when full */
#define SWEEP_PER_OP 2       /* expired entries every operation removes, at most */

struct entry {
    struct entry *next;   /* hash chain; after removal: the list of entries to free */
    struct list lru;      /* most recently used at the head */
    uint64_t hash;
    double expires;       /* the caller's clock; 0: never */
    union {
        bool b;
        int64_t i;
        double f;
        size_t len;       /* SHDICT_STRING: bytes after the key */
    } v;
    uint32_t heap_at;     /* index in the expiry heap, or NO_HEAP */
    uint16_t klen;        /* 1..SHDICT_KEY_MAX */
    uint8_t type;         /* enum shdict_type, never SHDICT_NIL */
    char data[];          /* key, then a string value */
};

_Static_assert(sizeof(struct entry) + sizeof(struct entry *) + 16 <= SHDICT_ENTRY_OVERHEAD,
               "SHDICT_ENTRY_OVERHEAD must cover the struct, its heap slot and malloc's header");

struct shdict {
    pthread_mutex_t lock;
    char name[SHDICT_NAME_MAX + 1];
    size_t size, capacity, used, count;
    struct entry **buckets;
    size_t mask;            /* buckets - 1 (a power of two) */
    struct list lru;
    struct entry **heap;    /* min-heap on expires */
    size_t heap_n, heap_cap;
    uint64_t evicted, expired;
    uint64_t seed[2];       /* SipHash key: chains stay short whatever keys clients pick */
};

/* ---- hashing: SipHash-1-3 ---- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND()                                                                            \
    do {                                                                                      \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                             \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                                \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                                \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                             \
    } while (0)

static uint64_t siphash13(const uint64_t key[2], const char *data, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ key[0], v1 = 0x646f72616e646f6dull ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ key[0], v3 = 0x7465646279746573ull ^ key[1];
    const unsigned char *p = (const unsigned char *)data;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);
        m = le64toh(m);
        v3 ^= m;
        SIPROUND();
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND();
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND();
    SIPROUND();
    SIPROUND();
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- entries ---- */

size_t shdict_entry_cost(size_t klen, size_t vlen)
{
    return SHDICT_ENTRY_OVERHEAD + klen + vlen;
}

static size_t value_len(const struct shdict_value *v)
{
    return v->type == SHDICT_STRING ? v->u.s.len : 0;
}

static size_t cost_of(const struct entry *e)
{
    return shdict_entry_cost(e->klen, e->type == SHDICT_STRING ? e->v.len : 0);
}

static const char *key_of(const struct entry *e)
{
    return e->data;
}

static bool expired(const struct entry *e, double now)
{
    return e->expires != 0 && e->expires <= now;
}

static double deadline(double ttl, double now)
{
    return ttl > 0 ? now + ttl : 0;
}

/* A new entry, built outside the lock. v is not NIL. */
static struct entry *entry_new(struct slice key, uint64_t hash, const struct shdict_value *v, double expires)
{
    size_t vlen = value_len(v);
    struct entry *e = xmalloc(sizeof(*e) + key.len + vlen);
    e->next = NULL;
    e->lru.next = e->lru.prev = NULL;
    e->hash = hash;
    e->expires = expires;
    e->heap_at = NO_HEAP;
    e->klen = (uint16_t)key.len;
    e->type = (uint8_t)v->type;
    memcpy(e->data, key.ptr, key.len);
    switch (v->type) {
    case SHDICT_BOOL:
        e->v.b = v->u.b;
        break;
    case SHDICT_INT:
        e->v.i = v->u.i;
        break;
    case SHDICT_FLOAT:
        e->v.f = v->u.f;
        break;
    default:
        e->v.len = vlen;
        memcpy(e->data + key.len, v->u.s.ptr, vlen);
        break;
    }
    return e;
}

static void free_list(struct entry *e)
{
    while (e) {
        struct entry *next = e->next;
        free(e);
        e = next;
    }
}

/* The entry's value as a shdict_value; a string is copied into buf (the
 * caller holds the lock: the bytes may change after it). */
static void copy_out(const struct entry *e, struct shdict_value *out, struct shdict_buf *buf)
{
    out->type = (enum shdict_type)e->type;
    switch (e->type) {
    case SHDICT_BOOL:
        out->u.b = e->v.b;
        break;
    case SHDICT_INT:
        out->u.i = e->v.i;
        break;
    case SHDICT_FLOAT:
        out->u.f = e->v.f;
        break;
    default:
        if (buf->cap < e->v.len) {
            buf->cap = max(e->v.len, (size_t)256);
            free(buf->ptr);
            buf->ptr = xmalloc(buf->cap);
        }
        memcpy(buf->ptr, e->data + e->klen, e->v.len);
        out->u.s = slice_make(buf->ptr, e->v.len);
        break;
    }
}

/* Lua's equality for numbers: an integer equals a float that has exactly
 * its value. */
static bool int_equals_float(int64_t i, double f)
{
    return f == floor(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0 && (int64_t)f == i;
}

static bool value_equals(const struct entry *e, const struct shdict_value *v)
{
    switch (v->type) {
    case SHDICT_BOOL:
        return e->type == SHDICT_BOOL && e->v.b == v->u.b;
    case SHDICT_STRING:
        return e->type == SHDICT_STRING && e->v.len == v->u.s.len &&
               memcmp(e->data + e->klen, v->u.s.ptr, v->u.s.len) == 0;
    case SHDICT_INT:
        return (e->type == SHDICT_INT && e->v.i == v->u.i) ||
               (e->type == SHDICT_FLOAT && int_equals_float(v->u.i, e->v.f));
    case SHDICT_FLOAT:
        return (e->type == SHDICT_FLOAT && e->v.f == v->u.f) ||
               (e->type == SHDICT_INT && int_equals_float(e->v.i, v->u.f));
    default:
        return false;
    }
}

/* ---- the expiry heap (under the lock) ---- */

static bool heap_less(struct shdict *d, size_t a, size_t b)
{
    return d->heap[a]->expires < d->heap[b]->expires;
}

static void heap_swap(struct shdict *d, size_t a, size_t b)
{
    struct entry *t = d->heap[a];
    d->heap[a] = d->heap[b];
    d->heap[b] = t;
    d->heap[a]->heap_at = (uint32_t)a;
    d->heap[b]->heap_at = (uint32_t)b;
}

static void heap_up(struct shdict *d, size_t i)
{
    while (i > 0 && heap_less(d, i, (i - 1) / 2)) {
        heap_swap(d, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct shdict *d, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->heap_n && heap_less(d, l, m))
            m = l;
        if (r < d->heap_n && heap_less(d, r, m))
            m = r;
        if (m == i)
            return;
        heap_swap(d, i, m);
        i = m;
    }
}

static void heap_push(struct shdict *d, struct entry *e)
{
    if (d->heap_n == d->heap_cap) { /* doubling: amortized O(1) */
        d->heap_cap = d->heap_cap ? d->heap_cap * 2 : 64;
        d->heap = xrealloc(d->heap, d->heap_cap * sizeof(*d->heap));
    }
    d->heap[d->heap_n] = e;
    e->heap_at = (uint32_t)d->heap_n;
    heap_up(d, d->heap_n++);
}

static void heap_remove(struct shdict *d, struct entry *e)
{
    size_t i = e->heap_at, last = --d->heap_n;
    e->heap_at = NO_HEAP;
    if (i == last)
        return;
    struct entry *moved = d->heap[last]; /* fills the hole: it may belong above or below */
    d->heap[i] = moved;
    moved->heap_at = (uint32_t)i;
    heap_up(d, i);
    heap_down(d, moved->heap_at);
}

/* After e->expires changed. */
static void heap_update(struct shdict *d, struct entry *e)
{
    if (e->heap_at != NO_HEAP)
        heap_remove(d, e);
    if (e->expires != 0)
        heap_push(d, e);
}

/* ---- the index and the LRU (under the lock) ---- */

static struct entry *find(struct shdict *d, struct slice key, uint64_t hash)
{
    for (struct entry *e = d->buckets[hash & d->mask]; e; e = e->next)
        if (e->hash == hash && e->klen == key.len && memcmp(key_of(e), key.ptr, key.len) == 0)
            return e;
    return NULL;
}

static void link_entry(struct shdict *d, struct entry *e)
{
    struct entry **b = &d->buckets[e->hash & d->mask];
    e->next = *b;
    *b = e;
    list_insert_head(&d->lru, &e->lru);
    if (e->expires != 0)
        heap_push(d, e);
    d->used += cost_of(e);
    d->count++;
}

/* Takes e out of every structure and onto *dead, to be freed after the
 * lock is let go. */
static void unlink_entry(struct shdict *d, struct entry *e, struct entry **dead)
{
    struct entry **p = &d->buckets[e->hash & d->mask];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    list_remove(&e->lru);
    if (e->heap_at != NO_HEAP)
        heap_remove(d, e);
    d->used -= cost_of(e);
    d->count--;
    e->next = *dead;
    *dead = e;
}

static void touch(struct shdict *d, struct entry *e)
{
    list_remove(&e->lru);
    list_insert_head(&d->lru, &e->lru);
}

/* Removes up to n entries whose expiry passed, earliest first. */
static void sweep(struct shdict *d, double now, unsigned n, struct entry **dead)
{
    while (n-- > 0 && d->heap_n > 0 && expired(d->heap[0], now)) {
        unlink_entry(d, d->heap[0], dead);
        d->expired++;
    }
}

/* The live entry for key: an expired one found on the way is removed. */
static struct entry *lookup(struct shdict *d, struct slice key, uint64_t hash, double now, struct entry **dead)
{
    sweep(d, now, SWEEP_PER_OP, dead);
    struct entry *e = find(d, key, hash);
    if (e && expired(e, now)) {
        unlink_entry(d, e, dead);
        d->expired++;
        return NULL;
    }
    return e;
}

/* Room for cost more bytes (cost <= capacity): expired entries go first,
 * then the least recently used. Removes only what is needed. */
static void make_room(struct shdict *d, size_t cost, double now, struct entry **dead)
{
    while (d->used + cost > d->capacity) {
        if (d->heap_n > 0 && expired(d->heap[0], now)) {
            unlink_entry(d, d->heap[0], dead);
            d->expired++;
        } else {
            unlink_entry(d, container_of(d->lru.prev, struct entry, lru), dead);
            d->evicted++;
        }
    }
}

static bool valid_key(struct slice key)
{
    return key.len >= 1 && key.len <= SHDICT_KEY_MAX;
}

/* ---- creating and freeing ---- */

static void random_seed(uint64_t seed[2])
{
    if (getrandom(seed, 2 * sizeof(*seed), 0) == (ssize_t)(2 * sizeof(*seed)))
        return;
    struct timespec ts; /* no entropy source: still a different seed per dict */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)seed;
    seed[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ull ^ seed[0];
}

struct shdict *shdict_new(const char *name, size_t size)
{
    size = min(max(size, (size_t)SHDICT_MIN_SIZE), (size_t)SHDICT_MAX_SIZE);
    struct shdict *d = xcalloc(1, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    snprintf(d->name, sizeof(d->name), "%s", name);
    size_t nbuckets = 64;
    while (nbuckets * 2 <= size / BYTES_PER_BUCKET)
        nbuckets *= 2;
    d->buckets = xcalloc(nbuckets, sizeof(*d->buckets));
    d->mask = nbuckets - 1;
    d->size = size;
    d->capacity = size - nbuckets * sizeof(*d->buckets); /* the index is part of the size */
    list_init(&d->lru);
    random_seed(d->seed);
    return d;
}

/* Every entry on the LRU list that starts after head (a detached list:
 * nothing else can reach it). */
static void free_entries(struct list *first, const struct list *head)
{
    for (struct list *n = first; n != head;) {
        struct list *next = n->next;
        free(container_of(n, struct entry, lru));
        n = next;
    }
}

void shdict_free(struct shdict *d)
{
    if (d == NULL)
        return;
    free_entries(d->lru.next, &d->lru);
    free(d->buckets);
    free(d->heap);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

const char *shdict_name(const struct shdict *d)
{
    return d->name;
}

/* ---- operations ---- */

enum store_mode { STORE_SET, STORE_ADD, STORE_REPLACE };

static int store(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl, double now,
                 enum store_mode mode)
{
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    if (v->type == SHDICT_NIL) { /* set(key, nil) deletes; add and replace need a value */
        assert(mode == STORE_SET);
        shdict_delete(d, key, now);
        return SHDICT_OK;
    }
    size_t cost = shdict_entry_cost(key.len, value_len(v));
    if (cost > d->capacity)
        return SHDICT_TOO_BIG;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *e = entry_new(key, hash, v, deadline(ttl, now)), *dead = NULL;
    int rc = SHDICT_OK;
    pthread_mutex_lock(&d->lock);
    struct entry *old = lookup(d, key, hash, now, &dead);
    if (old && mode == STORE_ADD) {
        rc = SHDICT_EXISTS;
    } else if (!old && mode == STORE_REPLACE) {
        rc = SHDICT_NOT_FOUND;
    } else {
        if (old)
            unlink_entry(d, old, &dead);
        make_room(d, cost, now, &dead);
        link_entry(d, e);
        e = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    free(e);
    free_list(dead);
    return rc;
}

int shdict_set(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl, double now)
{
    return store(d, key, v, ttl, now, STORE_SET);
}

int shdict_add(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl, double now)
{
    return store(d, key, v, ttl, now, STORE_ADD);
}

int shdict_replace(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl, double now)
{
    return store(d, key, v, ttl, now, STORE_REPLACE);
}

int shdict_get(struct shdict *d, struct slice key, double now, struct shdict_value *out, struct shdict_buf *buf)
{
    out->type = SHDICT_NIL;
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *dead = NULL;
    pthread_mutex_lock(&d->lock);
    struct entry *e = lookup(d, key, hash, now, &dead);
    if (e) {
        touch(d, e);
        copy_out(e, out, buf);
    }
    pthread_mutex_unlock(&d->lock);
    free_list(dead);
    return e ? SHDICT_OK : SHDICT_NOT_FOUND;
}

/* a + b as Lua adds numbers: integers wrap around, a float makes a float. */
static void add_numbers(const struct shdict_value *a, const struct shdict_value *b, struct shdict_value *sum)
{
    if (a->type == SHDICT_INT && b->type == SHDICT_INT) {
        sum->type = SHDICT_INT;
        sum->u.i = (int64_t)((uint64_t)a->u.i + (uint64_t)b->u.i);
    } else {
        double x = a->type == SHDICT_INT ? (double)a->u.i : a->u.f;
        double y = b->type == SHDICT_INT ? (double)b->u.i : b->u.f;
        sum->type = SHDICT_FLOAT;
        sum->u.f = x + y;
    }
}

static bool is_number(enum shdict_type t)
{
    return t == SHDICT_INT || t == SHDICT_FLOAT;
}

int shdict_incr(struct shdict *d, struct slice key, const struct shdict_value *delta,
                const struct shdict_value *init, double init_ttl, double now, struct shdict_value *out)
{
    out->type = SHDICT_NIL;
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    if (!is_number(delta->type) || (init && !is_number(init->type)))
        return SHDICT_NOT_NUMBER;
    size_t cost = shdict_entry_cost(key.len, 0);
    if (init && cost > d->capacity)
        return SHDICT_TOO_BIG;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *fresh = NULL, *dead = NULL;
    int rc = SHDICT_OK;
    pthread_mutex_lock(&d->lock);
    struct entry *e = lookup(d, key, hash, now, &dead);
    if (!e && init) {
        /* absent: the entry is built outside the lock, then looked up again
         * (another thread may have made it meanwhile) */
        pthread_mutex_unlock(&d->lock);
        struct shdict_value first;
        add_numbers(init, delta, &first);
        fresh = entry_new(key, hash, &first, deadline(init_ttl, now));
        pthread_mutex_lock(&d->lock);
        e = lookup(d, key, hash, now, &dead);
    }
    if (e && !is_number((enum shdict_type)e->type)) {
        rc = SHDICT_NOT_NUMBER;
    } else if (e) { /* in place: a number's entry is the same size whatever the number */
        struct shdict_value cur = { .type = (enum shdict_type)e->type };
        if (cur.type == SHDICT_INT)
            cur.u.i = e->v.i;
        else
            cur.u.f = e->v.f;
        add_numbers(&cur, delta, out);
        e->type = (uint8_t)out->type;
        if (out->type == SHDICT_INT)
            e->v.i = out->u.i;
        else
            e->v.f = out->u.f;
        touch(d, e);
    } else if (fresh) {
        make_room(d, cost, now, &dead);
        link_entry(d, fresh);
        out->type = (enum shdict_type)fresh->type;
        if (out->type == SHDICT_INT)
            out->u.i = fresh->v.i;
        else
            out->u.f = fresh->v.f;
        fresh = NULL;
    } else {
        rc = SHDICT_NOT_FOUND;
    }
    pthread_mutex_unlock(&d->lock);
    free(fresh);
    free_list(dead);
    return rc;
}

int shdict_cas(struct shdict *d, struct slice key, const struct shdict_value *expected,
               const struct shdict_value *v, double ttl, double now, struct shdict_value *current,
               struct shdict_buf *buf)
{
    if (current)
        current->type = SHDICT_NIL;
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    size_t cost = shdict_entry_cost(key.len, value_len(v));
    if (v->type != SHDICT_NIL && cost > d->capacity)
        return SHDICT_TOO_BIG;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *e = v->type == SHDICT_NIL ? NULL : entry_new(key, hash, v, deadline(ttl, now));
    struct entry *dead = NULL;
    int rc = SHDICT_OK;
    pthread_mutex_lock(&d->lock);
    struct entry *old = lookup(d, key, hash, now, &dead);
    bool match = expected->type == SHDICT_NIL ? old == NULL : old != NULL && value_equals(old, expected);
    if (!match) {
        rc = SHDICT_MISMATCH;
        if (old && current)
            copy_out(old, current, buf);
    } else {
        if (old)
            unlink_entry(d, old, &dead);
        if (e) {
            make_room(d, cost, now, &dead);
            link_entry(d, e);
            e = NULL;
        }
    }
    pthread_mutex_unlock(&d->lock);
    free(e);
    free_list(dead);
    return rc;
}

int shdict_delete(struct shdict *d, struct slice key, double now)
{
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *dead = NULL;
    pthread_mutex_lock(&d->lock);
    struct entry *e = lookup(d, key, hash, now, &dead);
    if (e)
        unlink_entry(d, e, &dead);
    pthread_mutex_unlock(&d->lock);
    free_list(dead);
    return e ? SHDICT_OK : SHDICT_NOT_FOUND;
}

int shdict_ttl(struct shdict *d, struct slice key, double now, double *left)
{
    *left = 0;
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *dead = NULL;
    pthread_mutex_lock(&d->lock);
    struct entry *e = lookup(d, key, hash, now, &dead);
    if (e && e->expires != 0)
        *left = e->expires - now;
    pthread_mutex_unlock(&d->lock);
    free_list(dead);
    return e ? SHDICT_OK : SHDICT_NOT_FOUND;
}

int shdict_expire(struct shdict *d, struct slice key, double ttl, double now)
{
    if (!valid_key(key))
        return SHDICT_BAD_KEY;
    uint64_t hash = siphash13(d->seed, key.ptr, key.len);
    struct entry *dead = NULL;
    pthread_mutex_lock(&d->lock);
    struct entry *e = lookup(d, key, hash, now, &dead);
    if (e) {
        e->expires = deadline(ttl, now);
        heap_update(d, e);
    }
    pthread_mutex_unlock(&d->lock);
    free_list(dead);
    return e ? SHDICT_OK : SHDICT_NOT_FOUND;
}

size_t shdict_flush_all(struct shdict *d)
{
    /* the new index is made before the lock and the old entries freed after
     * it: under the lock, flushing is a swap of pointers */
    struct entry **fresh = xcalloc(d->mask + 1, sizeof(*fresh));
    pthread_mutex_lock(&d->lock);
    struct entry **old_buckets = d->buckets, **old_heap = d->heap;
    size_t n = d->count;
    struct list *first = list_empty(&d->lru) ? NULL : d->lru.next;
    if (first) { /* detach the chain: its last node's next is made NULL */
        d->lru.prev->next = NULL;
        first->prev = NULL;
    }
    d->buckets = fresh;
    d->heap = NULL;
    d->heap_n = d->heap_cap = 0;
    list_init(&d->lru);
    d->used = 0;
    d->count = 0;
    pthread_mutex_unlock(&d->lock);
    if (first)
        free_entries(first, NULL);
    free(old_buckets);
    free(old_heap);
    return n;
}

void shdict_stats(struct shdict *d, struct shdict_stats *out)
{
    pthread_mutex_lock(&d->lock);
    *out = (struct shdict_stats){
        .size = d->size,
        .capacity = d->capacity,
        .used = d->used,
        .count = d->count,
        .evicted = d->evicted,
        .expired = d->expired,
    };
    pthread_mutex_unlock(&d->lock);
}

const char *shdict_strerror(int status)
{
    switch (status) {
    case SHDICT_OK:
        return "ok";
    case SHDICT_NOT_FOUND:
        return "not found";
    case SHDICT_EXISTS:
        return "exists";
    case SHDICT_NOT_NUMBER:
        return "not a number";
    case SHDICT_MISMATCH:
        return "mismatch";
    case SHDICT_TOO_BIG:
        return "too big";
    case SHDICT_BAD_KEY:
        return "bad key";
    default:
        return "unknown error";
    }
}

void shdict_buf_free(struct shdict_buf *buf)
{
    free(buf->ptr);
    buf->ptr = NULL;
    buf->cap = 0;
}
