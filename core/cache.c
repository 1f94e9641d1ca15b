/* cache.c - the store (see cache.h): a hash index of entries by key, each
 * chain holding a key's variants newest first, an LRU over them, a tag
 * index for purges, and the memory count against the configured size.
 *
 * Memory: an entry is counted (its struct, key, head) from its creation
 * to its free, a body's chunks from their allocation to the body's free;
 * so what readers still hold after an eviction is still counted, and the
 * store evicts more rather than exceed its size. */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "luxy.h"
#include "worker.h"

#define CACHE_CHUNK_MIN 4096
#define CACHE_CHUNK_MAX 65536
#define STREAM_WINDOW (256 * 1024) /* a streaming body keeps at most this much ahead of its slowest reader */

struct cache_tag {
    struct cache_tag *hnext;
    uint64_t hash;
    struct list refs;          /* cache_tag_ref.link */
    size_t len;
    char name[];
};

struct cache_tag_ref {
    struct list link;
    struct cache_tag *tag;
    struct cache_entry *e;
};

static cache_wake_fn wake_fn;

void cache_set_wake(cache_wake_fn fn)
{
    wake_fn = fn;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

struct cache *cache_new(const struct cache_config *cfg)
{
    struct cache *c = xcalloc(1, sizeof(*c));
    c->cfg = *cfg; /* its own copy: the store outlives the configuration (reloads) */
    c->cfg.status_header = cfg->status_header ? xstrdup(cfg->status_header) : NULL;
    c->cfg.targeted = cfg->targeted ? xstrdup(cfg->targeted) : NULL;
    c->cfg.tag_header = cfg->tag_header ? xstrdup(cfg->tag_header) : NULL;
    c->cfg.purge_allow = xcalloc(cfg->npurge_allow ? cfg->npurge_allow : 1, sizeof(*cfg->purge_allow));
    memcpy(c->cfg.purge_allow, cfg->purge_allow, cfg->npurge_allow * sizeof(*cfg->purge_allow));
    pthread_mutex_init(&c->lock, NULL);
    c->nbuckets = 1024;
    c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->ntag_buckets = 256;
    c->tag_buckets = xcalloc(c->ntag_buckets, sizeof(*c->tag_buckets));
    list_init(&c->lru);
    atomic_init(&c->used, c->nbuckets * sizeof(*c->buckets) + c->ntag_buckets * sizeof(*c->tag_buckets));
    return c;
}

void cache_set_workers(struct cache *c, struct worker **workers, unsigned n)
{
    c->workers = workers;
    c->nworkers = n;
}

/* ---- bodies ---- */

static struct cache_body *body_new(struct cache *c)
{
    struct cache_body *b = xcalloc(1, sizeof(*b));
    atomic_init(&b->refs, 1);
    pthread_mutex_init(&b->lock, NULL);
    b->expected = -1;
    b->state = CB_FILLING;
    b->c = c;
    list_init(&b->readers);
    return b;
}

static void charge(struct cache *c, size_t n)
{
    atomic_fetch_add_explicit(&c->used, n, memory_order_relaxed);
}

static void uncharge(struct cache *c, size_t n)
{
    atomic_fetch_sub_explicit(&c->used, n, memory_order_relaxed);
}

static void body_release(struct cache_body *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct cache_chunk *ch = b->first;
    while (ch) {
        struct cache_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    uncharge(b->c, b->charged);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* ---- entries ---- */

static size_t entry_charge(const struct cache_entry *e)
{
    return sizeof(*e) + e->key_len + 1;
}

struct cache_meta cache_entry_rules(const struct cache_entry *e)
{
    struct cache_meta m = e->meta;
    if (e->ttl >= 0) {
        m.freshness = e->ttl;
        m.no_cache = false;
        m.must_revalidate = false;
    }
    return m;
}

void cache_entry_release(struct cache_entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (e->body)
        body_release(e->body);
    uncharge(e->c, e->charged);
    free(e->key);
    free(e->vary);
    free(e->variant);
    free(e->head_mem);
    free(e->fields.v);
    free(e);
}

static void on_wake(void *owner, void *arg)
{
    struct cache_entry *e = arg;
    if (wake_fn)
        wake_fn(owner, e);
    cache_entry_release(e);
}

/* Posts one message per worker waiting on e (any thread, any lock). */
static void notify(struct cache_entry *e)
{
    struct cache *c = e->c;
    for (unsigned word = 0; word < 4; word++) {
        uint64_t bits = atomic_exchange(&e->waiting[word], 0);
        while (bits) {
            unsigned bit = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            unsigned idx = word * 64 + bit;
            if (idx < c->nworkers && c->workers) {
                cache_entry_hold(e);
                inbox_post(&c->workers[idx]->inbox, on_wake, e);
            }
        }
    }
}

static void register_waiter(struct cache_entry *e, unsigned worker_id)
{
    unsigned idx = worker_id - 1;
    atomic_fetch_or(&e->waiting[idx / 64], (uint64_t)1 << (idx % 64));
}

bool cache_wait(struct cache_entry *e, unsigned worker_id, enum cache_wait_for what, uint64_t pos)
{
    register_waiter(e, worker_id);
    /* look again after registering: a change made in between was either
     * seen here or will notify us (its maker changes, then reads the bits) */
    struct cache *c = e->c;
    pthread_mutex_lock(&c->lock);
    enum cache_entry_state st = e->state;
    bool revalidating = e->revalidating;
    pthread_mutex_unlock(&c->lock);
    if (what == WAIT_HEAD)
        return st == CE_BUSY;
    if (what == WAIT_REVALIDATION)
        return revalidating;
    struct cache_body *b = e->body;
    pthread_mutex_lock(&b->lock);
    bool nothing_new = b->state == CB_FILLING && b->length <= pos;
    pthread_mutex_unlock(&b->lock);
    return nothing_new;
}

/* ---- the index (store lock held) ---- */

static bool same_key(const struct cache_entry *e, struct slice key, uint64_t h)
{
    return e->hash == h && e->key_len == key.len && memcmp(e->key, key.ptr, key.len) == 0;
}

static void grow_index(struct cache *c)
{
    size_t n = c->nbuckets * 2;
    struct cache_entry **nb = xcalloc(n, sizeof(*nb));
    for (size_t i = 0; i < c->nbuckets; i++) {
        /* keep each key's chain order (newest first) */
        struct cache_entry *e = c->buckets[i], *rev = NULL;
        while (e) {
            struct cache_entry *next = e->hnext;
            e->hnext = rev;
            rev = e;
            e = next;
        }
        while (rev) {
            struct cache_entry *next = rev->hnext;
            size_t b = rev->hash & (n - 1);
            rev->hnext = nb[b];
            nb[b] = rev;
            rev = next;
        }
    }
    charge(c, (n - c->nbuckets) * sizeof(*nb));
    free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
}

static void tags_unlink(struct cache *c, struct cache_entry *e);
static struct cache_entry *entry_new(struct cache *c, struct slice key, uint64_t h);

/* Takes e out of the index, the LRU and the tag index; drops the index's
 * reference (the caller must hold another if it still uses e). */
static void unlink_entry(struct cache *c, struct cache_entry *e)
{
    if (!e->in_index)
        return;
    struct cache_entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*p && *p != e)
        p = &(*p)->hnext;
    if (*p)
        *p = e->hnext;
    e->hnext = NULL;
    list_remove(&e->lru);
    tags_unlink(c, e);
    e->in_index = false;
    c->nentries--;
    cache_entry_release(e);
}

static void link_entry(struct cache *c, struct cache_entry *e)
{
    if (c->nentries >= c->nbuckets)
        grow_index(c);
    size_t b = e->hash & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    list_insert_tail(&c->lru, &e->lru);
    e->in_index = true;
    c->nentries++;
    cache_entry_hold(e); /* the index's reference */
}

/* Evicts least recently used entries until need more bytes fit, never
 * keep (the entry being filled) nor busy ones. Returns whether they fit. */
static bool make_room(struct cache *c, uint64_t need, const struct cache_entry *keep)
{
    struct list *it = list_first(&c->lru);
    while (atomic_load(&c->used) + need > c->cfg.size && it != &c->lru) {
        struct cache_entry *e = container_of(it, struct cache_entry, lru);
        it = it->next;
        if (e == keep || e->state == CE_BUSY || e->filling)
            continue;
        atomic_fetch_add(&c->stats.evictions, 1);
        unlink_entry(c, e); /* frees it unless a reader holds it */
    }
    return atomic_load(&c->used) + need <= c->cfg.size;
}

/* Does entry e's variant match the request? */
static bool variant_matches(const struct cache_entry *e, const struct headers *req)
{
    if (e->vary == NULL)
        return true;
    const char *name = e->vary, *want = e->variant;
    char value[1024];
    while (*name) {
        const char *nl = strchr(name, '\n');
        const char *wl = strchr(want, '\n');
        int n = cache_vary_value(req, slice_make(name, (size_t)(nl - name)), value, sizeof(value));
        if (n < 0 || (size_t)n != (size_t)(wl - want) || memcmp(value, want, (size_t)n) != 0)
            return false;
        name = nl + 1;
        want = wl + 1;
    }
    return true;
}

enum cache_found cache_lookup(struct cache *c, struct slice key, const struct headers *req, double now,
                              bool create, struct cache_entry **out)
{
    uint64_t h = hash_bytes(key.ptr, key.len);
    *out = NULL;
    pthread_mutex_lock(&c->lock);
    struct cache_entry *busy = NULL, *found = NULL;
    struct cache_entry **p = &c->buckets[h & (c->nbuckets - 1)];
    while (*p) {
        struct cache_entry *e = *p;
        if (!same_key(e, key, h)) {
            p = &e->hnext;
            continue;
        }
        if (e->state == CE_PASS) {
            if (now < e->pass_until) {
                pthread_mutex_unlock(&c->lock);
                return CF_PASS;
            }
            unlink_entry(c, e); /* expired marker; *p is now the next one */
            continue;
        }
        if (e->state == CE_BUSY && busy == NULL)
            busy = e;
        else if (e->state == CE_READY && found == NULL && variant_matches(e, req))
            found = e;
        p = &e->hnext;
    }
    enum cache_found r;
    if (found) {
        list_remove(&found->lru); /* touched: most recently used */
        list_insert_tail(&c->lru, &found->lru);
        *out = found;
        r = CF_READY;
    } else if (busy) {
        *out = busy;
        r = CF_WAIT;
    } else if (create) {
        struct cache_entry *e = entry_new(c, key, h);
        link_entry(c, e);
        *out = e;
        r = CF_FILL;
        pthread_mutex_unlock(&c->lock);
        return r;
    } else {
        r = CF_PASS;
    }
    if (*out)
        cache_entry_hold(*out);
    pthread_mutex_unlock(&c->lock);
    return r;
}

bool cache_begin_revalidation(struct cache_entry *e)
{
    pthread_mutex_lock(&e->c->lock);
    bool mine = !e->revalidating && e->in_index;
    if (mine)
        e->revalidating = true;
    pthread_mutex_unlock(&e->c->lock);
    return mine;
}

void cache_end_revalidation(struct cache_entry *e)
{
    pthread_mutex_lock(&e->c->lock);
    e->revalidating = false;
    pthread_mutex_unlock(&e->c->lock);
    notify(e);
}

/* ---- tags ---- */

static void tags_unlink(struct cache *c, struct cache_entry *e)
{
    for (unsigned i = 0; i < e->ntags; i++) {
        struct cache_tag_ref *r = &e->tags[i];
        list_remove(&r->link);
        struct cache_tag *t = r->tag;
        if (list_empty(&t->refs)) {
            struct cache_tag **p = &c->tag_buckets[t->hash & (c->ntag_buckets - 1)];
            while (*p != t)
                p = &(*p)->hnext;
            *p = t->hnext;
            uncharge(c, sizeof(*t) + t->len);
            c->ntags--;
            free(t);
        }
    }
    uncharge(c, e->ntags * sizeof(*e->tags));
    free(e->tags);
    e->tags = NULL;
    e->ntags = 0;
}

static struct cache_tag *tag_find(struct cache *c, struct slice name, bool create)
{
    uint64_t h = hash_bytes(name.ptr, name.len);
    struct cache_tag **p = &c->tag_buckets[h & (c->ntag_buckets - 1)];
    for (; *p; p = &(*p)->hnext)
        if ((*p)->hash == h && (*p)->len == name.len && memcmp((*p)->name, name.ptr, name.len) == 0)
            return *p;
    if (!create)
        return NULL;
    struct cache_tag *t = xmalloc(sizeof(*t) + name.len);
    t->hnext = NULL;
    t->hash = h;
    t->len = name.len;
    memcpy(t->name, name.ptr, name.len);
    list_init(&t->refs);
    *p = t;
    c->ntags++;
    charge(c, sizeof(*t) + name.len);
    return t;
}

/* The tags of a stored response: the configured field, space- or
 * comma-separated (Surrogate-Key is space-separated). Store lock held. */
static void tags_link(struct cache *c, struct cache_entry *e)
{
    if (c->cfg.tag_header == NULL)
        return;
    struct slice field = slice_make(c->cfg.tag_header, strlen(c->cfg.tag_header));
    unsigned n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = headers_find(&e->fields, field, 0); i >= 0; i = headers_find(&e->fields, field, (unsigned)i + 1)) {
            struct slice v = e->fields.v[i].value;
            size_t k = 0;
            while (k < v.len && n < 64) {
                while (k < v.len && (v.ptr[k] == ' ' || v.ptr[k] == '\t' || v.ptr[k] == ','))
                    k++;
                size_t start = k;
                while (k < v.len && v.ptr[k] != ' ' && v.ptr[k] != '\t' && v.ptr[k] != ',')
                    k++;
                if (k == start)
                    continue;
                if (pass == 1) {
                    struct cache_tag *t = tag_find(c, slice_make(v.ptr + start, k - start), true);
                    bool dup = false;
                    for (unsigned j = 0; j < e->ntags && !dup; j++)
                        dup = e->tags[j].tag == t;
                    if (dup)
                        continue; /* one ref per tag and entry: a purge unlinks it once */
                    struct cache_tag_ref *r = &e->tags[e->ntags++];
                    r->tag = t;
                    r->e = e;
                    list_insert_tail(&t->refs, &r->link);
                } else {
                    n++;
                }
            }
        }
        if (pass == 0) {
            if (n == 0)
                return;
            e->tags = xcalloc(n, sizeof(*e->tags));
            charge(c, n * sizeof(*e->tags));
            n = 0;
        }
    }
}

void cache_forget(struct cache_entry *e)
{
    pthread_mutex_lock(&e->c->lock);
    unlink_entry(e->c, e);
    pthread_mutex_unlock(&e->c->lock);
}

unsigned cache_remove_key(struct cache *c, struct slice key)
{
    uint64_t h = hash_bytes(key.ptr, key.len);
    unsigned n = 0;
    pthread_mutex_lock(&c->lock);
    struct cache_entry **p = &c->buckets[h & (c->nbuckets - 1)];
    while (*p) {
        struct cache_entry *e = *p;
        if (same_key(e, key, h) && e->state != CE_BUSY) {
            unlink_entry(c, e);
            n++;
        } else {
            p = &e->hnext;
        }
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(&c->stats.purges, n);
    return n;
}

unsigned cache_remove_tag(struct cache *c, struct slice tag)
{
    unsigned n = 0;
    pthread_mutex_lock(&c->lock);
    struct cache_tag *t = tag_find(c, tag, false);
    while (t && !list_empty(&t->refs)) {
        struct cache_tag_ref *r = container_of(list_first(&t->refs), struct cache_tag_ref, link);
        bool last = t->refs.next->next == &t->refs; /* unlinking frees the tag with its last ref */
        unlink_entry(c, r->e);
        n++;
        if (last)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(&c->stats.purges, n);
    return n;
}

unsigned cache_remove_prefix(struct cache *c, struct slice prefix)
{
    unsigned n = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct cache_entry **p = &c->buckets[i];
        while (*p) {
            struct cache_entry *e = *p;
            if (e->state != CE_BUSY && e->key_len >= prefix.len && memcmp(e->key, prefix.ptr, prefix.len) == 0) {
                unlink_entry(c, e); /* *p is its successor now */
                n++;
            } else {
                p = &e->hnext;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(&c->stats.purges, n);
    return n;
}

uint64_t cache_used(struct cache *c)
{
    return atomic_load(&c->used);
}

size_t cache_entries(struct cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->nentries;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- filling ---- */

/* Copies the head into memory of the entry's own. */
static void store_head(struct cache_entry *e, const struct cache_head *h)
{
    size_t bytes = h->reason.len;
    for (unsigned i = 0; i < h->fields->n; i++)
        bytes += h->fields->v[i].name.len + h->fields->v[i].value.len;
    char *mem = xmalloc(bytes ? bytes : 1), *w = mem;
    e->fields.n = e->fields.cap = h->fields->n;
    e->fields.v = xcalloc(h->fields->n ? h->fields->n : 1, sizeof(*e->fields.v));
    for (unsigned i = 0; i < h->fields->n; i++) {
        const struct header *src = &h->fields->v[i];
        memcpy(w, src->name.ptr, src->name.len);
        e->fields.v[i].name = slice_make(w, src->name.len);
        w += src->name.len;
        memcpy(w, src->value.ptr, src->value.len);
        e->fields.v[i].value = slice_make(w, src->value.len);
        e->fields.v[i].id = src->id;
        w += src->value.len;
    }
    if (h->reason.len) /* a head without a reason phrase has none to copy */
        memcpy(w, h->reason.ptr, h->reason.len);
    e->reason = slice_make(w, h->reason.len);
    e->head_mem = mem;
    e->status = h->status;
    e->meta = *h->meta;
    e->response_time = h->response_time;
    e->initial_age = h->initial_age;
    e->ttl = h->ttl;
    e->grace = h->grace;
    e->charged += bytes + e->fields.n * sizeof(*e->fields.v);
    if (h->vary && h->vary[0]) {
        e->vary = xstrdup(h->vary);
        char variant[4096];
        size_t n = 0;
        bool fits = true;
        for (const char *name = h->vary; *name && fits;) {
            const char *nl = strchr(name, '\n');
            int k = cache_vary_value(h->request, slice_make(name, (size_t)(nl - name)), variant + n,
                                     sizeof(variant) - n - 1);
            fits = k >= 0;
            if (fits) {
                n += (size_t)k;
                variant[n++] = '\n';
            }
            name = nl + 1;
        }
        variant[n] = '\0';
        e->variant = xstrdup(variant);
        e->charged += strlen(e->vary) + n + 2;
    }
    e->body->expected = h->content_length;
}

static struct cache_entry *entry_new(struct cache *c, struct slice key, uint64_t h)
{
    struct cache_entry *e = xcalloc(1, sizeof(*e));
    atomic_init(&e->refs, 1); /* the caller's */
    e->c = c;
    e->state = CE_BUSY;
    e->key = xstrndup(key.ptr, key.len);
    e->key_len = key.len;
    e->hash = h;
    e->ttl = e->grace = -1;
    e->body = body_new(c);
    e->charged = entry_charge(e);
    charge(c, e->charged);
    return e;
}

struct cache_entry *cache_new_fill(struct cache *c, struct slice key)
{
    return entry_new(c, key, hash_bytes(key.ptr, key.len));
}

/* A hit-for-pass marker for e's key (store lock held). */
static void add_pass_marker(struct cache *c, struct cache_entry *e, double until)
{
    struct cache_entry *m = entry_new(c, slice_make(e->key, e->key_len), e->hash);
    m->state = CE_PASS;
    m->pass_until = until;
    m->body->state = CB_FAILED;
    link_entry(c, m);
    cache_entry_release(m); /* the index keeps it */
}

void cache_fill_head(struct cache_entry *e, const struct cache_head *h, bool store, double now, double pass_ttl)
{
    struct cache *c = e->c;
    size_t before = e->charged;
    store_head(e, h);
    charge(c, e->charged - before);
    pthread_mutex_lock(&e->body->lock);
    bool filling = e->body->state == CB_FILLING;
    if (filling)
        e->body->filler = e;
    pthread_mutex_unlock(&e->body->lock);
    if (!store) {
        pthread_mutex_lock(&e->body->lock);
        e->body->streaming = true;
        pthread_mutex_unlock(&e->body->lock);
    }
    pthread_mutex_lock(&c->lock);
    e->filling = filling;
    e->state = CE_READY;
    if (!store) {
        if (e->in_index)
            unlink_entry(c, e);
        if (pass_ttl > 0)
            add_pass_marker(c, e, now + pass_ttl);
    } else if (!e->in_index) {
        link_entry(c, e);
    }
    if (store) {
        /* older variants of the same key with the same selection go: this
         * one replaces them */
        struct cache_entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];
        while (*p) {
            struct cache_entry *o = *p;
            if (o != e && o->state == CE_READY && same_key(o, slice_make(e->key, e->key_len), e->hash) &&
                ((o->variant == NULL && e->variant == NULL) ||
                 (o->variant && e->variant && strcmp(o->variant, e->variant) == 0 && strcmp(o->vary, e->vary) == 0)))
                unlink_entry(c, o);
            else
                p = &o->hnext;
        }
        tags_link(c, e);
    }
    make_room(c, 0, e);
    pthread_mutex_unlock(&c->lock);
    if (store)
        atomic_fetch_add(&c->stats.stores, 1);
    notify(e);
}

static void drop_from_index(struct cache_entry *e)
{
    struct cache *c = e->c;
    pthread_mutex_lock(&c->lock);
    unlink_entry(c, e);
    pthread_mutex_unlock(&c->lock);
}

/* The smallest position any reader of b still needs (body lock held);
 * with no reader yet, the oldest byte kept (one is coming: the entry is
 * still wanted, or the fill would have stopped). */
static uint64_t slowest(struct cache_body *b)
{
    if (list_empty(&b->readers))
        return b->base;
    uint64_t min = b->length;
    for (struct list *it = b->readers.next; it != &b->readers; it = it->next) {
        struct cache_reader_pos *rp = container_of(it, struct cache_reader_pos, link);
        if (rp->pos < min)
            min = rp->pos;
    }
    return min;
}

/* Frees the chunks of a streaming body every reader is past (body lock
 * held). Strictly past: a reader whose position is at a chunk's very end
 * may still have its cursor on it. */
static size_t free_behind(struct cache_body *b)
{
    uint64_t keep_from = slowest(b);
    size_t freed = 0;
    while (b->first && b->first != b->last && b->base + b->first->len < keep_from) {
        struct cache_chunk *ch = b->first;
        b->first = ch->next;
        b->base += ch->len;
        freed += sizeof(*ch) + ch->cap;
        free(ch);
    }
    b->charged -= freed;
    return freed;
}

bool cache_fill_append(struct cache_entry *e, const char *p, size_t n)
{
    struct cache_body *b = e->body;
    struct cache *c = e->c;
    bool stored = true;
    while (n > 0) {
        pthread_mutex_lock(&b->lock);
        struct cache_chunk *last = b->last;
        size_t room = last ? last->cap - last->len : 0;
        if (room == 0) {
            pthread_mutex_unlock(&b->lock);
            /* a new chunk: the size of the rest when it is known and small,
             * else growing from 4 KiB to 64 KiB */
            size_t cap;
            if (b->expected >= 0 && (uint64_t)b->expected > b->length &&
                (uint64_t)b->expected - b->length <= CACHE_CHUNK_MAX)
                cap = max((size_t)((uint64_t)b->expected - b->length), n);
            else
                cap = last ? min(last->cap * 2, (size_t)CACHE_CHUNK_MAX) : CACHE_CHUNK_MIN;
            cap = max(cap, min(n, (size_t)CACHE_CHUNK_MAX));
            size_t cost = sizeof(struct cache_chunk) + cap;
            if (!b->streaming) {
                pthread_mutex_lock(&c->lock);
                bool fits = b->length + n <= c->cfg.max_object && make_room(c, cost, e);
                pthread_mutex_unlock(&c->lock);
                if (!fits) {
                    /* out of the store: stream on to the readers it has */
                    drop_from_index(e);
                    pthread_mutex_lock(&b->lock);
                    b->streaming = true;
                    pthread_mutex_unlock(&b->lock);
                    stored = false;
                    log_debug("cache: %.*s outgrew the store; streaming it unstored", (int)min(e->key_len, (size_t)200),
                              e->key);
                }
            }
            charge(c, cost); /* stored or streaming: memory in use */
            struct cache_chunk *ch = xmalloc(sizeof(*ch) + cap);
            ch->next = NULL;
            ch->len = 0;
            ch->cap = cap;
            pthread_mutex_lock(&b->lock);
            b->charged += cost;
            if (b->last)
                b->last->next = ch;
            else
                b->first = ch;
            b->last = ch;
            last = ch;
            room = cap;
        }
        size_t take = min(room, n);
        memcpy(last->data + last->len, p, take);
        last->len += take;
        b->length += take;
        p += take;
        n -= take;
        size_t freed = b->streaming ? free_behind(b) : 0;
        pthread_mutex_unlock(&b->lock);
        if (freed)
            uncharge(c, freed);
    }
    notify(e);
    return stored && !b->streaming;
}

bool cache_fill_may_read(struct cache_entry *e, unsigned worker_id)
{
    struct cache_body *b = e->body;
    pthread_mutex_lock(&b->lock);
    bool ok = true;
    if (b->streaming) {
        ok = b->length - slowest(b) < STREAM_WINDOW;
        b->fill_paused = !ok;
        if (b->fill_paused)
            register_waiter(e, worker_id); /* a reader that catches up, or leaves, notifies */
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

bool cache_fill_wanted(struct cache_entry *e)
{
    /* every reader, waiter and pending notification holds a reference */
    return atomic_load(&e->refs) > 1 || e->in_index;
}

void cache_fill_done(struct cache_entry *e, bool complete)
{
    struct cache_body *b = e->body;
    pthread_mutex_lock(&b->lock);
    b->state = complete ? CB_COMPLETE : CB_FAILED;
    b->filler = NULL;
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_lock(&e->c->lock);
    e->filling = false;
    if (!complete)
        unlink_entry(e->c, e); /* a cut response is never a hit */
    pthread_mutex_unlock(&e->c->lock);
    notify(e);
}

void cache_fill_abandon(struct cache_entry *e, double now, double pass_ttl)
{
    struct cache *c = e->c;
    pthread_mutex_lock(&e->body->lock);
    if (e->body->state == CB_FILLING)
        e->body->state = CB_FAILED;
    e->body->filler = NULL;
    pthread_mutex_unlock(&e->body->lock);
    pthread_mutex_lock(&c->lock);
    e->filling = false;
    if (e->state == CE_BUSY)
        e->state = CE_FAILED;
    bool indexed = e->in_index;
    unlink_entry(c, e);
    if (pass_ttl > 0 && indexed)
        add_pass_marker(c, e, now + pass_ttl);
    pthread_mutex_unlock(&c->lock);
    notify(e);
}

struct cache_entry *cache_refresh(struct cache_entry *old, const struct cache_head *h)
{
    struct cache *c = old->c;
    struct cache_entry *e = entry_new(c, slice_make(old->key, old->key_len), old->hash);
    body_release(e->body); /* the old body, shared */
    e->body = old->body;
    atomic_fetch_add(&e->body->refs, 1);
    int64_t expected = e->body->expected;
    cache_fill_head(e, h, true, 0, 0); /* replaces old in the index (same key and variant) */
    e->body->expected = expected;
    return e;
}

/* ---- reading ---- */

void cache_cursor_open(struct cache_cursor *cur, struct cache_body *b, uint64_t start)
{
    cur->chunk = NULL;
    cur->off = 0;
    cur->pos = start;
    cur->rp.pos = start;
    pthread_mutex_lock(&b->lock);
    list_insert_tail(&b->readers, &cur->rp.link);
    pthread_mutex_unlock(&b->lock);
}

static void wake_paused_fill(struct cache_body *b);

void cache_cursor_close(struct cache_cursor *cur, struct cache_body *b)
{
    pthread_mutex_lock(&b->lock);
    list_remove(&cur->rp.link);
    pthread_mutex_unlock(&b->lock);
    wake_paused_fill(b); /* the slowest may have left; or the last one */
}

/* Finds (chunk, off) for position pos (body lock held); false when pos
 * is not available (yet, or any more). */
static bool seek(struct cache_body *b, uint64_t pos, struct cache_chunk **chunk, size_t *off)
{
    if (pos < b->base)
        return false;
    uint64_t at = b->base;
    for (struct cache_chunk *ch = b->first; ch; ch = ch->next) {
        if (pos < at + ch->len || (ch->next == NULL && pos == at + ch->len)) {
            *chunk = ch;
            *off = (size_t)(pos - at);
            return true;
        }
        at += ch->len;
    }
    return false;
}

int cache_cursor_read(struct cache_cursor *cur, struct cache_body *b, struct iovec *iov, int max, size_t limit,
                      enum cache_body_state *state)
{
    int n = 0;
    pthread_mutex_lock(&b->lock);
    *state = b->state;
    if (cur->chunk == NULL && !seek(b, cur->pos, &cur->chunk, &cur->off)) {
        pthread_mutex_unlock(&b->lock);
        if (*state == CB_COMPLETE && cur->pos < b->length)
            *state = CB_FAILED; /* freed under us: cannot happen for a stored body */
        return 0;
    }
    while (cur->chunk && n < max && limit > 0) {
        struct cache_chunk *ch = cur->chunk;
        if (cur->off < ch->len) {
            size_t take = min(ch->len - cur->off, limit);
            iov[n].iov_base = ch->data + cur->off;
            iov[n].iov_len = take;
            n++;
            cur->off += take;
            cur->pos += take;
            limit -= take;
            continue;
        }
        if (ch->next == NULL)
            break; /* caught up with the fill */
        cur->chunk = ch->next;
        cur->off = 0;
    }
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* A streaming fill waiting for its readers: tell it (its worker) to look. */
static void wake_paused_fill(struct cache_body *b)
{
    struct cache_entry *wake = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->streaming && b->fill_paused && b->filler &&
        (list_empty(&b->readers) || b->length - slowest(b) < STREAM_WINDOW)) {
        b->fill_paused = false;
        wake = b->filler;
        cache_entry_hold(wake); /* the fill clears filler under this lock before letting go */
    }
    pthread_mutex_unlock(&b->lock);
    if (wake) {
        notify(wake);
        cache_entry_release(wake);
    }
}

void cache_cursor_sent(struct cache_cursor *cur, struct cache_body *b)
{
    pthread_mutex_lock(&b->lock);
    cur->rp.pos = cur->pos;
    size_t freed = b->streaming ? free_behind(b) : 0;
    pthread_mutex_unlock(&b->lock);
    if (freed)
        uncharge(b->c, freed);
    wake_paused_fill(b);
}

/* ---- teardown ---- */

void cache_free(struct cache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nbuckets; i++)
        while (c->buckets[i])
            unlink_entry(c, c->buckets[i]);
    pthread_mutex_unlock(&c->lock);
    free(c->buckets);
    free(c->tag_buckets);
    free(c->cfg.status_header);
    free(c->cfg.targeted);
    free(c->cfg.tag_header);
    free(c->cfg.purge_allow);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
