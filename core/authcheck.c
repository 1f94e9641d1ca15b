/* authcheck.c - see authcheck.h.
 *
 * A job is one (user file, user, password) to hash; the tickets waiting
 * for it hang on it. Jobs are on the queue (waiting for a thread) or on
 * the running list; both are short (queue bound + threads), so an
 * identical check finds its job by a linear walk.
 *
 * Ticket lifetime, the one subtle part. A ticket is owned by its job
 * while it waits. When the hash ends, the thread, under the lock, takes
 * the job's tickets as one numbered batch, marks them posted and notes
 * the batch as "being posted"; then, without the lock, posts each to its
 * asker's inbox. From its post on, the inbox message owns a ticket:
 * deliver() (on the asker's loop) frees it, calling done unless it was
 * cancelled. authcheck_cancel, on that same loop, either unlinks and
 * frees a waiting ticket (under the lock: no thread can be posting it),
 * or marks a posted one cancelled for deliver and, if its batch is still
 * being posted, waits for that to end (microseconds) so that when it
 * returns no thread will touch the ticket's inbox again: the caller may
 * free the inbox then (a worker shutting down). The inbox posts happen
 * outside the lock because they write to an eventfd and wake the worker:
 * a thread preempted there while holding the lock stalled every worker's
 * cache hits for milliseconds (seen in test_authcheck's flood).
 * Invariant: a ticket is on exactly one of a job's waiters, a batch being
 * posted (until its post) and an inbox's queue; it is freed exactly once,
 * by cancel (while waiting) or by deliver. */
#include "authcheck.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "authbasic.h"
#include "authcache.h"
#include "list.h"
#include "log.h"
#include "siphash.h"

struct job {
    struct list link;          /* ac->queued or ac->running */
    struct list waiters;       /* authcheck_ticket.link */
    uint8_t tag[AUTHCACHE_TAG_LEN];
    bool known;                /* false: hashing the dummy; the answer is DENIED */
    bool running;
    char *setting;             /* the stored hash (copied: af may go) */
    char *password;            /* NUL-terminated; wiped before free */
    size_t password_len;
};

struct authcheck_ticket {
    struct list link;          /* job->waiters, while waiting */
    struct authcheck_ticket *next_post; /* the batch, while being posted */
    struct authcheck *ac;
    struct job *job;           /* while waiting */
    struct inbox *reply_to;
    authcheck_done_fn done;
    void *arg;
    uint64_t batch;            /* set with posted */
    enum auth_result result;
    bool posted;               /* taken off its job to be posted (under the lock) */
    bool cancelled;            /* posted, then cancelled (reply_to's thread only) */
};

struct hasher {
    struct authcheck *ac;
    pthread_t thread;
    uint64_t posting;          /* the batch this thread is posting, or 0 */
};

struct authcheck {
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* a job was queued, or stop */
    pthread_cond_t posted;     /* a batch has been posted (for cancel) */
    struct list queued, running;
    unsigned nqueued, nrunning;
    unsigned cancel_waiting;   /* cancels waiting on "posted" */
    uint64_t batches;          /* the last batch number given */
    bool stopping;
    struct authcache *cache;
    struct authcheck_config cfg;
    struct authcheck_stats stats; /* counters only; sizes filled in on read */
    uint8_t key[SIPHASH_KEY_LEN];
    unsigned nthreads;
    struct hasher hashers[AUTHCHECK_MAX_THREADS];
};

/* ---- Jobs and tickets ---- */

static struct job *job_new(const uint8_t *tag, bool known, const char *setting,
                           struct slice password)
{
    size_t sl = strlen(setting);
    struct job *j = xmalloc(sizeof(*j) + sl + 1 + password.len + 1);
    list_init(&j->waiters);
    j->link.next = j->link.prev = NULL;
    memcpy(j->tag, tag, AUTHCACHE_TAG_LEN);
    j->known = known;
    j->running = false;
    j->setting = (char *)(j + 1);
    memcpy(j->setting, setting, sl + 1);
    j->password = j->setting + sl + 1;
    if (password.len)
        memcpy(j->password, password.ptr, password.len);
    j->password[password.len] = '\0';
    j->password_len = password.len;
    return j;
}

static void job_free(struct job *j)
{
    explicit_bzero(j->password, j->password_len);
    free(j);
}

static struct job *find_job(struct authcheck *ac, const uint8_t *tag)
{
    struct list *lists[2] = { &ac->queued, &ac->running };
    for (int i = 0; i < 2; i++)
        for (struct list *l = lists[i]->next; l != lists[i]; l = l->next) {
            struct job *j = container_of(l, struct job, link);
            if (authcache_ct_eq(j->tag, tag, AUTHCACHE_TAG_LEN))
                return j;
        }
    return NULL;
}

/* On the asker's loop: the answer, unless the asker cancelled. */
static void deliver(void *owner, void *arg)
{
    (void)owner;
    struct authcheck_ticket *t = arg;
    bool cancelled = t->cancelled;
    authcheck_done_fn done = t->done;
    void *done_arg = t->arg;
    enum auth_result r = t->result;
    free(t); /* first: done may well free what holds the ticket pointer */
    if (!cancelled)
        done(done_arg, r);
}

/* Under the lock: remember the answer, take the waiters off the job as
 * the batch h will post (returned), free the job. */
static struct authcheck_ticket *finish(struct authcheck *ac, struct hasher *h, struct job *j,
                                       bool ok)
{
    double ttl = ok ? ac->cfg.ok_ttl : ac->cfg.denied_ttl;
    double now = luxy_monotonic();
    if (ttl > 0)
        authcache_put(ac->cache, j->tag, ok, now + ttl, now);
    struct authcheck_ticket *batch = NULL, **tail = &batch;
    if (!list_empty(&j->waiters))
        h->posting = ++ac->batches;
    while (!list_empty(&j->waiters)) {
        struct authcheck_ticket *t = container_of(list_first(&j->waiters), struct authcheck_ticket,
                                                  link);
        list_remove(&t->link);
        t->job = NULL;
        t->result = ok ? AUTH_OK : AUTH_DENIED;
        t->posted = true;
        t->batch = h->posting;
        t->next_post = NULL;
        *tail = t;
        tail = &t->next_post;
        if (ok)
            ac->stats.ok++;
        else
            ac->stats.denied++;
    }
    list_remove(&j->link);
    ac->nrunning--;
    job_free(j);
    return batch;
}

/* Unlocked: post the batch, then say so to cancels waiting for it. Each
 * ticket is read before its own post only: after it, deliver may run
 * and free it. */
static void post_batch(struct authcheck *ac, struct hasher *h, struct authcheck_ticket *t)
{
    while (t) {
        struct authcheck_ticket *next = t->next_post;
        inbox_post(t->reply_to, deliver, t);
        t = next;
    }
    pthread_mutex_lock(&ac->lock);
    h->posting = 0;
    if (ac->cancel_waiting)
        pthread_cond_broadcast(&ac->posted);
}

static bool being_posted(const struct authcheck *ac, uint64_t batch)
{
    for (unsigned i = 0; i < ac->nthreads; i++)
        if (ac->hashers[i].posting == batch)
            return true;
    return false;
}

/* ---- The hashing threads ---- */

static bool verify(struct authcheck *ac, struct crypt_data *cd, const struct job *j)
{
    errno = 0;
    const char *out = crypt_rn(j->password, j->setting, cd, (int)sizeof(*cd));
    if (out == NULL || out[0] == '*') {
        int e = errno;
        pthread_mutex_lock(&ac->lock);
        ac->stats.errors++;
        pthread_mutex_unlock(&ac->lock);
        log_error("proxy auth: hashing failed: %s", e ? strerror(e) : "invalid hash");
        return false;
    }
    size_t n = strlen(j->setting);
    bool same = strlen(out) == n && authcache_ct_eq(out, j->setting, n);
    explicit_bzero(cd->output, sizeof(cd->output));
    return same && j->known;
}

static void *hasher_main(void *arg)
{
    struct hasher *h = arg;
    struct authcheck *ac = h->ac;
    char name[16];
    snprintf(name, sizeof(name), "auth %u", (unsigned)(h - ac->hashers) + 1);
    log_set_thread_name(name);
    /* 32 KB of libcrypt state: on the heap, not on the thread's stack */
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    pthread_mutex_lock(&ac->lock);
    for (;;) {
        while (list_empty(&ac->queued) && !ac->stopping)
            pthread_cond_wait(&ac->wake, &ac->lock);
        if (ac->stopping)
            break;
        struct job *j = container_of(list_first(&ac->queued), struct job, link);
        list_remove(&j->link);
        ac->nqueued--;
        list_insert_tail(&ac->running, &j->link);
        ac->nrunning++;
        j->running = true;
        ac->stats.hashes++;
        pthread_mutex_unlock(&ac->lock);
        bool ok = verify(ac, cd, j); /* the slow part, unlocked */
        pthread_mutex_lock(&ac->lock);
        struct authcheck_ticket *batch = finish(ac, h, j, ok);
        if (batch) {
            pthread_mutex_unlock(&ac->lock);
            post_batch(ac, h, batch); /* returns with the lock held */
        }
    }
    pthread_mutex_unlock(&ac->lock);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return NULL;
}

/* ---- The API ---- */

static void stop_threads(struct authcheck *ac)
{
    pthread_mutex_lock(&ac->lock);
    ac->stopping = true;
    pthread_cond_broadcast(&ac->wake);
    pthread_mutex_unlock(&ac->lock);
    for (unsigned i = 0; i < ac->nthreads; i++)
        pthread_join(ac->hashers[i].thread, NULL);
    ac->nthreads = 0;
}

struct authcheck *authcheck_new(const struct authcheck_config *cfg, char *err, size_t errlen)
{
    struct authcheck *ac = xcalloc(1, sizeof(*ac));
    ac->cfg = *cfg;
    if (ac->cfg.threads == 0)
        ac->cfg.threads = 1;
    if (ac->cfg.threads > AUTHCHECK_MAX_THREADS)
        ac->cfg.threads = AUTHCHECK_MAX_THREADS;
    if (ac->cfg.queue == 0)
        ac->cfg.queue = 64;
    if (ac->cfg.cache_size == 0)
        ac->cfg.cache_size = 10000;
    if (ac->cfg.ok_ttl == 0)
        ac->cfg.ok_ttl = 300;
    if (ac->cfg.denied_ttl == 0)
        ac->cfg.denied_ttl = 10;
    pthread_mutex_init(&ac->lock, NULL);
    pthread_cond_init(&ac->wake, NULL);
    pthread_cond_init(&ac->posted, NULL);
    list_init(&ac->queued);
    list_init(&ac->running);
    ac->cache = authcache_new(ac->cfg.cache_size);
    /* a secret key: cache tags cannot be computed, nor buckets aimed at */
    if (getrandom(ac->key, sizeof(ac->key), 0) != (ssize_t)sizeof(ac->key)) {
        snprintf(err, errlen, "proxy auth: no random key for the credential cache: %s",
                 strerror(errno));
        authcheck_free(ac);
        return NULL;
    }
    /* the main thread waits for signals with sigwait: the helpers must
     * never take one */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < ac->cfg.threads; i++) {
        ac->hashers[i].ac = ac;
        int rc = pthread_create(&ac->hashers[i].thread, NULL, hasher_main, &ac->hashers[i]);
        if (rc != 0) {
            snprintf(err, errlen, "proxy auth: cannot start a hashing thread: %s", strerror(rc));
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            authcheck_free(ac);
            return NULL;
        }
        ac->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ac;
}

static void make_tag(const struct authcheck *ac, uint64_t file_id, struct slice user,
                     struct slice password, uint8_t *tag)
{
    uint8_t head[12];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(file_id >> (8 * i));
    for (int i = 0; i < 4; i++) /* the user's length: ("ab","c") is not ("a","bc") */
        head[8 + i] = (uint8_t)(user.len >> (8 * i));
    struct siphash s;
    siphash_init(&s, ac->key);
    siphash_update(&s, head, sizeof(head));
    if (user.len)
        siphash_update(&s, user.ptr, user.len);
    if (password.len)
        siphash_update(&s, password.ptr, password.len);
    siphash_final(&s, tag);
}

enum auth_result authcheck_start(struct authcheck *ac, const struct authfile *af, struct slice user,
                                 struct slice password, struct inbox *reply_to,
                                 authcheck_done_fn done, void *arg,
                                 struct authcheck_ticket **ticket_out)
{
    *ticket_out = NULL;
    /* crypt takes C strings; and no real credential is that long */
    if (user.len > AUTH_BASIC_MAX || password.len > AUTH_BASIC_MAX ||
        (password.len && memchr(password.ptr, '\0', password.len))) {
        pthread_mutex_lock(&ac->lock);
        ac->stats.checks++;
        ac->stats.denied++;
        pthread_mutex_unlock(&ac->lock);
        return AUTH_DENIED;
    }
    uint8_t tag[AUTHCACHE_TAG_LEN];
    make_tag(ac, af->id, user, password, tag);
    double now = luxy_monotonic();

    pthread_mutex_lock(&ac->lock);
    ac->stats.checks++;
    int hit = authcache_get(ac->cache, tag, now);
    if (hit >= 0) {
        ac->stats.cache_hits++;
        if (hit)
            ac->stats.ok++;
        else
            ac->stats.denied++;
        pthread_mutex_unlock(&ac->lock);
        return hit ? AUTH_OK : AUTH_DENIED;
    }
    struct job *j = find_job(ac, tag);
    if (j) {
        ac->stats.coalesced++;
    } else {
        if (ac->nqueued >= ac->cfg.queue) {
            ac->stats.busy++;
            pthread_mutex_unlock(&ac->lock);
            return AUTH_BUSY;
        }
        const struct authfile_user *u = authfile_find(af, user);
        j = job_new(tag, u != NULL, u ? u->hash : authfile_dummy(af), password);
        list_insert_tail(&ac->queued, &j->link);
        ac->nqueued++;
        pthread_cond_signal(&ac->wake);
    }
    struct authcheck_ticket *t = xcalloc(1, sizeof(*t));
    t->ac = ac;
    t->job = j;
    t->reply_to = reply_to;
    t->done = done;
    t->arg = arg;
    list_insert_tail(&j->waiters, &t->link);
    pthread_mutex_unlock(&ac->lock);
    *ticket_out = t;
    return AUTH_PENDING;
}

void authcheck_cancel(struct authcheck_ticket *t)
{
    struct authcheck *ac = t->ac;
    pthread_mutex_lock(&ac->lock);
    if (t->posted) {
        t->cancelled = true; /* deliver, on this thread, frees it */
        /* deliver cannot run meanwhile (it runs on this thread), so t
         * stays valid while we wait for its post to be done */
        ac->cancel_waiting++;
        while (being_posted(ac, t->batch))
            pthread_cond_wait(&ac->posted, &ac->lock);
        ac->cancel_waiting--;
        pthread_mutex_unlock(&ac->lock);
        return;
    }
    struct job *j = t->job;
    list_remove(&t->link);
    free(t);
    if (list_empty(&j->waiters) && !j->running) {
        /* nobody wants it any more: the hash would be wasted */
        list_remove(&j->link);
        ac->nqueued--;
        ac->stats.dropped++;
        job_free(j);
    }
    pthread_mutex_unlock(&ac->lock);
}

void authcheck_stats(struct authcheck *ac, struct authcheck_stats *out)
{
    pthread_mutex_lock(&ac->lock);
    *out = ac->stats;
    out->queued = ac->nqueued;
    out->running = ac->nrunning;
    out->cached = authcache_count(ac->cache);
    pthread_mutex_unlock(&ac->lock);
}

void authcheck_free(struct authcheck *ac)
{
    if (ac == NULL)
        return;
    stop_threads(ac);
    /* no thread is left: what is still queued has no one to hash it */
    while (!list_empty(&ac->queued)) {
        struct job *j = container_of(list_first(&ac->queued), struct job, link);
        while (!list_empty(&j->waiters)) {
            struct authcheck_ticket *t = container_of(list_first(&j->waiters),
                                                      struct authcheck_ticket, link);
            list_remove(&t->link);
            free(t);
        }
        list_remove(&j->link);
        job_free(j);
    }
    authcache_free(ac->cache);
    pthread_cond_destroy(&ac->wake);
    pthread_cond_destroy(&ac->posted);
    pthread_mutex_destroy(&ac->lock);
    explicit_bzero(ac->key, sizeof(ac->key));
    free(ac);
}
