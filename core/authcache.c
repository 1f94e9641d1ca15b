/* authcache.c - see authcache.h. A chained hash table (bucket = low bits
 * of the tag, which is a keyed hash already) with a fixed number of
 * buckets, plus two LRU lists, one per kind of answer, so that eviction
 * can prefer wrong answers. */
#include "authcache.h"

#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "luxy.h"

struct centry {
    struct centry *next, **pprev; /* bucket chain */
    struct list lru;              /* c->lru[ok] */
    double expires;
    bool ok;
    uint8_t tag[AUTHCACHE_TAG_LEN];
};

struct authcache {
    struct centry **bucket;
    size_t mask;                  /* buckets - 1, a power of two minus one */
    size_t n, max;
    struct list lru[2];           /* [0] wrong, [1] good; most recent first */
};

bool authcache_ct_eq(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

struct authcache *authcache_new(size_t max)
{
    struct authcache *c = xcalloc(1, sizeof(*c));
    c->max = max ? max : 1;
    size_t nb = 16;
    while (nb < c->max)
        nb *= 2;
    c->bucket = xcalloc(nb, sizeof(*c->bucket));
    c->mask = nb - 1;
    list_init(&c->lru[0]);
    list_init(&c->lru[1]);
    return c;
}

static size_t slot(const struct authcache *c, const uint8_t *tag)
{
    uint64_t h;
    memcpy(&h, tag, sizeof(h));
    return (size_t)h & c->mask;
}

static void drop(struct authcache *c, struct centry *e)
{
    *e->pprev = e->next;
    if (e->next)
        e->next->pprev = e->pprev;
    list_remove(&e->lru);
    c->n--;
    free(e);
}

static struct centry *find(struct authcache *c, const uint8_t *tag)
{
    for (struct centry *e = c->bucket[slot(c, tag)]; e; e = e->next)
        if (authcache_ct_eq(e->tag, tag, AUTHCACHE_TAG_LEN))
            return e;
    return NULL;
}

static struct centry *oldest(struct authcache *c, bool ok)
{
    struct list *l = &c->lru[ok];
    return list_empty(l) ? NULL : container_of(l->prev, struct centry, lru);
}

int authcache_get(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], double now)
{
    struct centry *e = find(c, tag);
    if (e == NULL)
        return -1;
    if (e->expires <= now) {
        drop(c, e);
        return -1;
    }
    list_remove(&e->lru);
    list_insert_head(&c->lru[e->ok], &e->lru);
    return e->ok;
}

void authcache_put(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], bool ok,
                   double expires, double now)
{
    struct centry *e = find(c, tag);
    if (e) {
        /* the same pair answered again (another file id would be another tag) */
        e->ok = ok;
        e->expires = expires;
        list_remove(&e->lru);
        list_insert_head(&c->lru[ok], &e->lru);
        return;
    }
    if (c->n >= c->max) {
        struct centry *victim = oldest(c, false);
        if (victim == NULL) {
            victim = oldest(c, true);
            if (!ok && victim->expires > now)
                return; /* a wrong answer does not displace a live good one */
        }
        drop(c, victim);
    }
    e = xmalloc(sizeof(*e));
    memcpy(e->tag, tag, AUTHCACHE_TAG_LEN);
    e->ok = ok;
    e->expires = expires;
    struct centry **b = &c->bucket[slot(c, tag)];
    e->next = *b;
    if (*b)
        (*b)->pprev = &e->next;
    *b = e;
    e->pprev = b;
    list_insert_head(&c->lru[ok], &e->lru);
    c->n++;
}

size_t authcache_count(const struct authcache *c)
{
    return c->n;
}

void authcache_free(struct authcache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        while (c->bucket[i])
            drop(c, c->bucket[i]);
    free(c->bucket);
    free(c);
}
