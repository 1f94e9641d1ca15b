/* resolve.c - per-worker DNS: c-ares on the worker's ev_loop, a hosts table read
 * once, and a bounded TTL cache where concurrent lookups of a name share one query.
 * Invariant: a user callback only ever runs from the loop, never inside resolve_lookup. */
#include "resolve.h"
#include "list.h"
#include "log.h"
#include "luxy.h"

#include <ares.h>
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Failures handed to callers; compare by pointer or by text. */
static const char err_not_found[] = "name not found";
static const char err_timeout[] = "DNS timeout";
static const char err_server[] = "DNS server failure";
static const char err_bad_name[] = "invalid host name";
static const char err_invalid_tld[] = "names under .invalid never resolve";

#define NAME_MAX_LEN 253 /* RFC 1035 2.3.4, without the trailing dot */
#define LABEL_MAX_LEN 63

enum entry_state { PENDING, POSITIVE, NEGATIVE };

/* One name: a query in flight, an answer or a remembered failure. Hosts-file
 * names and literal answers reuse the struct (always POSITIVE, never cached). */
struct entry {
    struct entry *chain;          /* next in the hash bucket, or in the limbo */
    struct list lru;              /* answered cache entries only; else unlinked */
    struct resolver *r;
    struct resolve_wait *waiters; /* PENDING: who gets the answer */
    enum entry_state state;
    double expires;               /* ev_now() time; INFINITY for the hosts file */
    const char *err;              /* NEGATIVE */
    struct resolved res;          /* POSITIVE */
    uint32_t hash;
    size_t keylen;
    char key[];                   /* lower-cased, no trailing dot, NUL-terminated */
};

/* Chained hash table; mask + 1 buckets, a power of two, grown at load 1. */
struct table {
    struct entry **slot;
    size_t mask, count;
};

/* An ev_io for one socket c-ares opened. */
struct sock {
    struct sock *next;
    struct resolver *r;
    ev_io io;
};

struct resolver {
    struct ev_loop *loop;
    ares_channel channel;
    ev_timer timer;          /* c-ares' next retransmission or timeout */
    ev_prepare reap;         /* frees the limbo once this iteration's callbacks ran */
    struct sock *socks;
    struct table cache, hosts;
    struct list lru;         /* answered cache entries, least recently used first */
    struct entry *limbo;     /* retired entries and literal answers, see bury() */
    double next_expiry;      /* no answered cache entry expires before this */
    struct resolved localhost;
    unsigned max_ttl, neg_ttl, cache_size;
    uint32_t seed;
    unsigned busy;           /* > 0 while c-ares may be running our callbacks */
    bool closing;            /* in resolve_free: c-ares answers go nowhere */
    struct resolve_stats stats;
};

/* ---- Small lists ---- */

/* Newest waiter first; the order of callbacks is not part of the contract. */
static void wait_link(struct resolve_wait **head, struct resolve_wait *w)
{
    w->next = *head;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = head;
    *head = w;
}

void resolve_cancel(struct resolve_wait *w)
{
    if (w->pprev == NULL)
        return;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->next = NULL;
    w->pprev = NULL;
}

/* ---- Names and addresses ---- */

/* Lower-cases name into key (NAME_MAX_LEN + 1 bytes), dropping one trailing
 * dot: without a search list "example.com." and "example.com" are the same
 * query. Returns NULL, or err_bad_name unless it is a host name of letters,
 * digits, '-' and '_' in non-empty labels of at most 63 bytes. */
static const char *normalize(const char *name, size_t len, char *key, size_t *keylen)
{
    size_t label = 0;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > NAME_MAX_LEN)
        return err_bad_name;
    for (size_t i = 0; i < len; i++) {
        unsigned c = (unsigned char)name[i];
        if (c - 'A' < 26u)
            c += 'a' - 'A';
        if (c == '.') {
            if (label == 0)
                return err_bad_name;
            label = 0;
        } else if ((c - 'a' < 26u || c - '0' < 10u || c == '-' || c == '_') &&
                   ++label <= LABEL_MAX_LEN) {
            /* ok */
        } else {
            return err_bad_name;
        }
        key[i] = (char)c;
    }
    if (label == 0)
        return err_bad_name;
    key[len] = '\0';
    *keylen = len;
    return NULL;
}

/* Is key the name zone or a name under it ("localhost", "a.localhost")? */
static bool in_zone(const char *key, size_t keylen, const char *zone)
{
    size_t n = strlen(zone);
    if (keylen == n)
        return memcmp(key, zone, n) == 0;
    return keylen > n && key[keylen - n - 1] == '.' && memcmp(key + keylen - n, zone, n) == 0;
}

/* "192.0.2.1", "2001:db8::1" or "[2001:db8::1]" into *out (port 0). */
static bool parse_literal(const char *name, size_t len, union sockaddr_u *out)
{
    char buf[INET6_ADDRSTRLEN];
    bool bracketed = len >= 2 && name[0] == '[' && name[len - 1] == ']';
    if (bracketed) {
        name++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (addr_from_ip(buf, 0, out) == -1)
        return false;
    return !bracketed || out->sa.sa_family == AF_INET6; /* brackets are for IPv6 only */
}

/* Adds *a unless already there, keeping every IPv4 address before every IPv6
 * one and each family in arrival order. When full, an IPv4 address pushes
 * the last IPv6 one out; anything else is dropped. */
static void add_addr(struct resolved *res, const union sockaddr_u *a)
{
    unsigned nv4 = 0;
    for (unsigned i = 0; i < res->n; i++) {
        if (addr_equal(&res->addr[i], a))
            return;
        nv4 += res->addr[i].sa.sa_family == AF_INET;
    }
    unsigned at = a->sa.sa_family == AF_INET ? nv4 : res->n;
    if (at == RESOLVE_MAX_ADDRS)
        return;
    unsigned n = min(res->n, RESOLVE_MAX_ADDRS - 1u);
    memmove(&res->addr[at + 1], &res->addr[at], (n - at) * sizeof(res->addr[0]));
    res->addr[at] = *a;
    res->n = n + 1;
}

/* The address of a c-ares answer, port 0; false for other families. */
static bool node_addr(const struct ares_addrinfo_node *node, union sockaddr_u *out)
{
    memset(out, 0, sizeof(*out));
    if (node->ai_family == AF_INET && node->ai_addrlen >= sizeof(out->in)) {
        memcpy(&out->in, node->ai_addr, sizeof(out->in));
        out->in.sin_port = 0;
        return true;
    }
    if (node->ai_family == AF_INET6 && node->ai_addrlen >= sizeof(out->in6)) {
        memcpy(&out->in6, node->ai_addr, sizeof(out->in6));
        out->in6.sin6_port = 0;
        return true;
    }
    return false;
}

/* Seconds to keep an answer: the smallest TTL in it (CNAMEs included, as a
 * chain is only as fresh as its weakest link), capped, at least 1. */
static unsigned answer_ttl(const struct ares_addrinfo *ai, unsigned cap)
{
    long ttl = cap;
    for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next)
        ttl = min(ttl, (long)n->ai_ttl);
    for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next)
        ttl = min(ttl, (long)c->ttl);
    return ttl < 1 ? 1 : (unsigned)ttl;
}

static const char *status_error(int status)
{
    switch (status) {
    case ARES_ENOTFOUND: /* NXDOMAIN, and .onion names, refused by c-ares */
    case ARES_ENODATA:
        return err_not_found;
    case ARES_ETIMEOUT:
        return err_timeout;
    case ARES_EBADNAME:
        return err_bad_name;
    default:
        return err_server;
    }
}

/* ---- Entries and the hash table ---- */

/* FNV-1a with a per-resolver seed, finished with murmur3's fmix32 so that
 * every byte of the name reaches the low (bucket) bits. */
static uint32_t hash_key(const struct resolver *r, const char *key, size_t len)
{
    uint32_t h = 2166136261u ^ r->seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

static struct entry *entry_new(struct resolver *r, const char *key, size_t keylen, uint32_t hash)
{
    struct entry *e = xcalloc(1, sizeof(*e) + keylen + 1);
    e->r = r;
    e->hash = hash;
    e->keylen = keylen;
    memcpy(e->key, key, keylen);
    return e;
}

static void table_init(struct table *t)
{
    t->mask = 15;
    t->count = 0;
    t->slot = xcalloc(t->mask + 1, sizeof(*t->slot));
}

static struct entry *table_get(const struct table *t, const char *key, size_t keylen,
                               uint32_t hash)
{
    for (struct entry *e = t->slot[hash & t->mask]; e; e = e->chain)
        if (e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
            return e;
    return NULL;
}

static void table_grow(struct table *t)
{
    size_t mask = t->mask * 2 + 1;
    struct entry **slot = xcalloc(mask + 1, sizeof(*slot));
    for (size_t i = 0; i <= t->mask; i++) {
        struct entry *e, *next;
        for (e = t->slot[i]; e; e = next) {
            next = e->chain;
            e->chain = slot[e->hash & mask];
            slot[e->hash & mask] = e;
        }
    }
    free(t->slot);
    t->slot = slot;
    t->mask = mask;
}

static void table_add(struct table *t, struct entry *e)
{
    if (t->count > t->mask)
        table_grow(t);
    e->chain = t->slot[e->hash & t->mask];
    t->slot[e->hash & t->mask] = e;
    t->count++;
}

static void table_del(struct table *t, struct entry *e)
{
    struct entry **pp = &t->slot[e->hash & t->mask];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    t->count--;
}

/* Frees every entry; pending waiters are unlinked without a call, so that a
 * later resolve_cancel() on them is harmless. */
static void table_free(struct table *t)
{
    for (size_t i = 0; i <= t->mask; i++) {
        struct entry *e, *next;
        for (e = t->slot[i]; e; e = next) {
            next = e->chain;
            while (e->waiters)
                resolve_cancel(e->waiters);
            free(e);
        }
    }
    free(t->slot);
}

/* ---- The limbo: answers handed out stay valid until back in the loop ----
 * A RESOLVE_DONE answer is read by the caller after we return, and the
 * caller may look other names up before it is done with it; evicting the
 * entry then must not free it. So retired entries (and answers for IP
 * literals, which have no home) wait here until the loop's next prepare. */

static void bury(struct resolver *r, struct entry *e)
{
    e->chain = r->limbo;
    r->limbo = e;
    ev_prepare_start(r->loop, &r->reap);
}

static void free_limbo(struct resolver *r)
{
    struct entry *e, *next;
    for (e = r->limbo; e; e = next) {
        next = e->chain;
        free(e);
    }
    r->limbo = NULL;
}

static void on_reap(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    free_limbo(container_of(w, struct resolver, reap));
    ev_prepare_stop(loop, w);
}

/* ---- The cache ---- */

/* Takes an answered entry out of the cache. */
static void retire(struct resolver *r, struct entry *e)
{
    assert(e->state != PENDING);
    table_del(&r->cache, e);
    list_remove(&e->lru);
    bury(r, e);
}

static void sweep_expired(struct resolver *r, double now)
{
    double next = INFINITY;
    struct list *l, *newer;
    for (l = list_first(&r->lru); l != &r->lru; l = newer) {
        struct entry *e = container_of(l, struct entry, lru);
        newer = l->next;
        if (e->expires <= now)
            retire(r, e);
        else
            next = min(next, e->expires);
    }
    r->next_expiry = next;
}

/* Before adding a name: when full, drop expired answers, else the least
 * recently used one. Pending entries are never dropped (their waiters need
 * them), so a burst of new names overfills the cache until the next new one. */
static void make_room(struct resolver *r)
{
    double now = ev_now(r->loop);
    if (r->cache.count < r->cache_size)
        return;
    if (now >= r->next_expiry)
        sweep_expired(r, now); /* O(n), but only when something did expire */
    while (r->cache.count >= r->cache_size && !list_empty(&r->lru))
        retire(r, container_of(list_first(&r->lru), struct entry, lru));
}

/* A fresh cache entry for key, or NULL; expired ones are retired on sight. */
static struct entry *cache_get(struct resolver *r, const char *key, size_t keylen, uint32_t hash)
{
    struct entry *e = table_get(&r->cache, key, keylen, hash);
    if (e == NULL || e->state == PENDING)
        return e;
    if (e->expires <= ev_now(r->loop)) {
        retire(r, e);
        return NULL;
    }
    list_remove(&e->lru); /* most recently used now */
    list_insert_tail(&r->lru, &e->lru);
    r->stats.cache_hits++;
    return e;
}

/* Records the outcome of a query in e and moves it to the LRU list. */
static void settle(struct resolver *r, struct entry *e, int status, const struct ares_addrinfo *ai)
{
    unsigned ttl = r->neg_ttl;
    e->res.n = 0;
    if (status == ARES_SUCCESS) {
        union sockaddr_u a;
        for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next)
            if (node_addr(n, &a))
                add_addr(&e->res, &a);
    }
    if (e->res.n > 0) {
        e->state = POSITIVE;
        ttl = answer_ttl(ai, r->max_ttl);
        log_debug("resolve: %s: %u address(es), ttl %u", e->key, e->res.n, ttl);
    } else {
        e->state = NEGATIVE;
        e->err = status == ARES_SUCCESS ? err_not_found : status_error(status);
        r->stats.failures++;
        log_debug("resolve: %s: %s (%s)", e->key, e->err, ares_strerror(status));
    }
    e->expires = ev_now(r->loop) + ttl;
    r->next_expiry = min(r->next_expiry, e->expires);
    list_insert_tail(&r->lru, &e->lru);
}

/* Calls every waiter of e once. The list is detached onto the stack first:
 * a callback may cancel any other waiter (or itself) or look names up, so
 * we pop one waiter at a time from a list that cancelling keeps consistent.
 * e itself stays valid: if a callback's lookup evicts it, it goes to limbo. */
static void notify(struct entry *e)
{
    struct resolve_wait *list = e->waiters;
    const struct resolved *res = e->state == POSITIVE ? &e->res : NULL;
    const char *err = e->state == POSITIVE ? NULL : e->err;
    e->waiters = NULL;
    if (list)
        list->pprev = &list;
    while (list) {
        struct resolve_wait *w = list;
        resolve_cancel(w); /* pops it */
        w->cb(w->arg, res, err);
    }
}

/* ---- c-ares on the loop ---- */

static void arm_timer(struct resolver *r)
{
    struct timeval tv;
    ev_timer_stop(r->loop, &r->timer);
    if (ares_timeout(r->channel, NULL, &tv) == NULL)
        return; /* nothing in flight */
    ev_timer_set(&r->timer, (double)tv.tv_sec + (double)tv.tv_usec * 1e-6, 0.);
    ev_timer_start(r->loop, &r->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct resolver *r = container_of(w, struct resolver, timer);
    (void)loop;
    (void)revents;
    r->busy++;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    r->busy--;
    arm_timer(r);
}

static void on_sock_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sock *s = container_of(w, struct sock, io);
    struct resolver *r = s->r; /* s may be freed inside ares_process_fd */
    int fd = w->fd;
    (void)loop;
    r->busy++;
    ares_process_fd(r->channel, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    r->busy--;
    arm_timer(r);
}

/* c-ares opened, re-aimed or closed (neither readable nor writable) a socket. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    struct sock **pp = &r->socks, *s;
    while (*pp && (*pp)->io.fd != fd)
        pp = &(*pp)->next;
    s = *pp;
    if (!readable && !writable) {
        if (s) {
            ev_io_stop(r->loop, &s->io); /* before c-ares closes fd */
            *pp = s->next;
            free(s);
        }
        return;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        s->r = r;
        s->next = r->socks;
        r->socks = s;
        ev_init(&s->io, on_sock_io);
    } else {
        ev_io_stop(r->loop, &s->io);
    }
    ev_io_set(&s->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    ev_io_start(r->loop, &s->io);
}

/* c-ares' answer for e: from the loop, from inside ares_getaddrinfo (see
 * start_query) or from ares_destroy. */
static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    struct entry *e = arg;
    struct resolver *r = e->r;
    (void)timeouts;
    if (!r->closing) {
        settle(r, e, status, ai);
        notify(e);
    }
    if (ai)
        ares_freeaddrinfo(ai);
}

/* Asks c-ares about a name that is not cached. c-ares may answer before
 * ares_getaddrinfo returns (".onion" names, a socket it cannot open): then
 * the entry is settled on return and, as the caller's waiter is linked only
 * after that and only to a pending entry, nobody is called back early. */
static struct entry *start_query(struct resolver *r, const char *key, size_t keylen, uint32_t hash)
{
    struct ares_addrinfo_hints hints = {
        .ai_flags = ARES_AI_NOSORT, /* we order v4 first; sorting would connect() UDP sockets */
        .ai_family = AF_UNSPEC,
    };
    make_room(r);
    struct entry *e = entry_new(r, key, keylen, hash);
    e->state = PENDING;
    table_add(&r->cache, e);
    r->stats.queries++;
    ares_getaddrinfo(r->channel, e->key, NULL, &hints, on_answer, e);
    arm_timer(r);
    return e;
}

/* ---- The hosts file ---- */

/* "IP name [name...] [# comment]"; malformed lines and names are skipped. */
static void hosts_line(struct resolver *r, char *line)
{
    const char *sep = " \t\r\n";
    char *save, *tok, key[NAME_MAX_LEN + 1];
    union sockaddr_u ip;
    size_t keylen;
    char *hash_mark = strchr(line, '#');
    if (hash_mark)
        *hash_mark = '\0';
    tok = strtok_r(line, sep, &save);
    if (tok == NULL || addr_from_ip(tok, 0, &ip) == -1)
        return;
    while ((tok = strtok_r(NULL, sep, &save)) != NULL) {
        if (normalize(tok, strlen(tok), key, &keylen) != NULL)
            continue;
        uint32_t hash = hash_key(r, key, keylen);
        struct entry *e = table_get(&r->hosts, key, keylen, hash);
        if (e == NULL) {
            e = entry_new(r, key, keylen, hash);
            e->state = POSITIVE;
            e->expires = INFINITY;
            table_add(&r->hosts, e);
        }
        add_addr(&e->res, &ip);
    }
}

/* Read once here, because c-ares would read it synchronously on the loop.
 * path NULL: /etc/hosts, which may be missing; "": none. */
static int load_hosts(struct resolver *r, const char *path, char *err, size_t errlen)
{
    const char *file = path ? path : "/etc/hosts";
    char *line = NULL;
    size_t cap = 0;
    if (file[0] == '\0')
        return 0;
    FILE *f = fopen(file, "re");
    if (f == NULL) {
        if (path == NULL && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "hosts file %s: %s", file, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) != -1)
        hosts_line(r, line);
    free(line);
    fclose(f);
    return 0;
}

/* ---- Life cycle ---- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status; /* written once, under ares_once */

static void init_ares_library(void)
{
    ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static int open_channel(struct resolver *r, const struct resolve_config *cfg, char *err,
                        size_t errlen)
{
    char lookups[] = "b"; /* DNS only: the hosts file is ours */
    struct ares_options o;
    int rc;
    memset(&o, 0, sizeof(o));
    /* HOSTALIASES would be read from disk inside the loop. */
    o.flags = ARES_FLAG_NOALIASES;
    o.timeout = (int)(cfg->timeout_ms ? cfg->timeout_ms : 2000);
    o.tries = (int)(cfg->attempts ? cfg->attempts : 2);
    o.lookups = lookups;
    /* No search list: a proxy resolves names exactly as clients gave them,
     * as Squid does (dns_defnames off). c-ares 1.18's getaddrinfo ignores
     * ARES_FLAG_NOSEARCH, so the list is emptied instead. */
    o.domains = NULL;
    o.ndomains = 0;
    o.sock_state_cb = on_sock_state;
    o.sock_state_cb_data = r;
    rc = ares_init_options(&r->channel, &o,
                           ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
                               ARES_OPT_DOMAINS | ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        r->channel = NULL;
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        return -1;
    }
    if (cfg->servers && (rc = ares_set_servers_ports_csv(r->channel, cfg->servers)) != ARES_SUCCESS) {
        snprintf(err, errlen, "DNS servers \"%s\": %s", cfg->servers, ares_strerror(rc));
        return -1;
    }
    return 0;
}

struct resolver *resolve_new(struct ev_loop *loop, const struct resolve_config *cfg, char *err,
                             size_t errlen)
{
    static const struct resolve_config defaults;
    union sockaddr_u a;
    if (cfg == NULL)
        cfg = &defaults;
    pthread_once(&ares_once, init_ares_library);
    if (ares_init_status != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(ares_init_status));
        return NULL;
    }
    struct resolver *r = xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->max_ttl = cfg->max_ttl ? cfg->max_ttl : 300;
    r->neg_ttl = cfg->neg_ttl ? cfg->neg_ttl : 5;
    r->cache_size = cfg->cache_size ? cfg->cache_size : 4096;
    r->next_expiry = INFINITY;
    r->seed = (uint32_t)((uintptr_t)r >> 4) ^ (uint32_t)(uint64_t)(ev_time() * 1e6);
    list_init(&r->lru);
    table_init(&r->cache);
    table_init(&r->hosts);
    ev_init(&r->timer, on_timer);
    ev_prepare_init(&r->reap, on_reap);
    /* RFC 6761 6.3: localhost names are the loopback addresses, always. */
    addr_from_ip("127.0.0.1", 0, &a);
    add_addr(&r->localhost, &a);
    addr_from_ip("::1", 0, &a);
    add_addr(&r->localhost, &a);
    if (load_hosts(r, cfg->hosts_path, err, errlen) == -1 || open_channel(r, cfg, err, errlen) == -1) {
        resolve_free(r);
        return NULL;
    }
    return r;
}

void resolve_free(struct resolver *r)
{
    if (r == NULL)
        return;
    /* c-ares is on the stack while callbacks run: it cannot be destroyed. */
    assert(r->busy == 0 && "resolve_free() called from a resolve callback");
    r->closing = true; /* the ARES_EDESTRUCTION answers below go nowhere */
    if (r->channel)
        ares_destroy(r->channel); /* closes its sockets: on_sock_state frees them */
    while (r->socks) {
        struct sock *s = r->socks;
        ev_io_stop(r->loop, &s->io);
        r->socks = s->next;
        free(s);
    }
    ev_timer_stop(r->loop, &r->timer);
    ev_prepare_stop(r->loop, &r->reap);
    table_free(&r->cache);
    table_free(&r->hosts);
    free_limbo(r);
    free(r);
}

/* ---- Lookups ---- */

enum resolve_status resolve_lookup(struct resolver *r, const char *name, size_t len,
                                   struct resolve_wait *w, resolve_cb cb, void *arg,
                                   const struct resolved **out, const char **err)
{
    char key[NAME_MAX_LEN + 1];
    size_t keylen;
    union sockaddr_u ip;
    struct entry *e;
    assert(w->pprev == NULL && "waiter reused while still pending");
    w->next = NULL;
    w->pprev = NULL; /* so that resolve_cancel() is harmless unless we link it */
    if (parse_literal(name, len, &ip)) {
        e = entry_new(r, "", 0, 0);
        add_addr(&e->res, &ip);
        bury(r, e); /* lives until we are back in the loop */
        *out = &e->res;
        return RESOLVE_DONE;
    }
    if ((*err = normalize(name, len, key, &keylen)) != NULL)
        return RESOLVE_FAILED;
    if (in_zone(key, keylen, "invalid")) { /* RFC 6761 6.4 */
        *err = err_invalid_tld;
        return RESOLVE_FAILED;
    }
    if (in_zone(key, keylen, "localhost")) {
        *out = &r->localhost;
        return RESOLVE_DONE;
    }
    uint32_t hash = hash_key(r, key, keylen);
    e = table_get(&r->hosts, key, keylen, hash);
    if (e == NULL && (e = cache_get(r, key, keylen, hash)) == NULL)
        e = start_query(r, key, keylen, hash);
    switch (e->state) {
    case POSITIVE:
        *out = &e->res;
        return RESOLVE_DONE;
    case NEGATIVE:
        *err = e->err;
        return RESOLVE_FAILED;
    case PENDING:
        break;
    }
    w->cb = cb;
    w->arg = arg;
    wait_link(&e->waiters, w);
    return RESOLVE_PENDING;
}

void resolve_get_stats(const struct resolver *r, struct resolve_stats *out)
{
    *out = r->stats;
}
