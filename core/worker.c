/* worker.c - a worker thread: its loop, accepting, and the graceful stop.
 * Stop sequence: close the listeners, close idle connections, let every
 * exchange in flight finish (its connection closes after the response),
 * and after the grace period cut whatever is left. */
#include "worker.h"

#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lua/vm.h"
#include "cache_fill.h"
#include "conn.h"
#include "log.h"
#include "luxy.h"
#include "metrics.h"
#include "request.h"
#include "resolve.h"
#include "tunnel.h"
#include "upconn.h"
#include "upstream.h"

#define ACCEPT_BATCH 64

static void on_accept(struct ev_loop *loop, ev_io *io, int revents);

void worker_pause_accept(struct worker *w)
{
    if (!w->accepting)
        return;
    w->accepting = false;
    for (unsigned i = 0; i < w->nlisteners; i++)
        ev_io_stop(w->loop, &w->listeners[i].io);
}

void worker_resume_accept(struct worker *w)
{
    if (w->accepting || w->stopping)
        return;
    w->accepting = true;
    for (unsigned i = 0; i < w->nlisteners; i++)
        ev_io_start(w->loop, &w->listeners[i].io);
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    worker_resume_accept(container_of(t, struct worker, accept_retry));
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    struct listener *l = container_of(io, struct listener, io);
    struct worker *w = l->w;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (worker_clients(w) >= worker_cfg(w)->limits.max_connections) {
            log_warn("connection limit (%u) reached; not accepting for now",
                     worker_cfg(w)->limits.max_connections);
            worker_pause_accept(w);
            return;
        }
        union sockaddr_u peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(l->fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_error("accept: %s; pausing accepts for 0.5s", strerror(errno));
                worker_pause_accept(w);
                ev_timer_set(&w->accept_retry, 0.5, 0.);
                ev_timer_start(w->loop, &w->accept_retry);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_error("accept: %s", strerror(errno));
            }
            return;
        }
        conn_accept(w, l->cfg, fd, &peer);
    }
}

static void check_done(struct worker *w)
{
    if (w->stopping && worker_clients(w) == 0)
        ev_break(w->loop, EVBREAK_ALL);
}

void worker_conn_gone(struct worker *w)
{
    if (w->stopping) {
        check_done(w);
        return;
    }
    if (!w->accepting && !ev_is_active(&w->accept_retry) &&
        worker_clients(w) < worker_cfg(w)->limits.max_connections)
        worker_resume_accept(w);
}

static void on_grace_over(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct worker *w = container_of(t, struct worker, grace_timer);
    log_warn("grace period over: closing %u connections and the tunnels", w->nconns);
    while (!list_empty(&w->conns))
        conn_close(container_of(list_first(&w->conns), struct conn, link),
                   "luxy stopped: the grace period was over");
    tunnel_close_all(w);
    ev_break(w->loop, EVBREAK_ALL);
}

static void on_stop(void *owner, void *arg)
{
    struct worker *w = owner;
    bool now = arg != NULL;
    if (w->stopping) {
        if (now) /* a fast stop after a graceful one: cut what is left */
            on_grace_over(w->loop, &w->grace_timer, 0);
        return;
    }
    worker_pause_accept(w);
    w->stopping = true;
    for (unsigned i = 0; i < w->nlisteners; i++) {
        close(w->listeners[i].fd);
        w->listeners[i].fd = -1;
    }
    /* idle connections (no request in progress) can go now */
    struct list *it = list_first(&w->conns);
    while (it != &w->conns) {
        struct conn *c = container_of(it, struct conn, link);
        it = it->next;
        if (c->req == NULL)
            conn_close(c, "shutdown");
    }
    upconn_pool_free(w->pool);
    w->pool = upconn_pool_new(w, 0);
    ev_timer_set(&w->grace_timer, now ? 0. : worker_cfg(w)->timeouts.grace, 0.);
    ev_timer_start(w->loop, &w->grace_timer);
    check_done(w);
}

static void find_local_addresses(struct worker *w)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) == -1)
        return;
    unsigned n = 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
        n += i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6);
    w->local_addrs = xcalloc(n, sizeof(*w->local_addrs));
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET)
            memcpy(&w->local_addrs[w->nlocal_addrs++].in, i->ifa_addr, sizeof(struct sockaddr_in));
        else if (i->ifa_addr->sa_family == AF_INET6)
            memcpy(&w->local_addrs[w->nlocal_addrs++].in6, i->ifa_addr, sizeof(struct sockaddr_in6));
    }
    freeifaddrs(ifs);
}

/* The listeners of g, on fds (one per listener of g). */
static void set_listeners(struct worker *w, const struct config *cfg, const int *fds)
{
    w->nlisteners = cfg->nlisteners;
    w->listeners = xcalloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*w->listeners));
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        struct listener *l = &w->listeners[i];
        l->w = w;
        l->cfg = &cfg->listeners[i];
        l->fd = fds[i];
        ev_io_init(&l->io, on_accept, l->fd, EV_READ);
    }
}

int worker_init_detached(struct worker *w, unsigned id, struct config_gen *cg, struct cache *cache,
                         struct metrics *metrics)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->cache = cache;
    w->metrics = metrics;
    w->wm = metrics_worker(metrics, id);
    const struct config *cfg = &cg->cfg;
    list_init(&w->cache_waiters);
    list_init(&w->cache_fills);
    list_init(&w->retired);
    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    if (w->loop == NULL) {
        snprintf(w->err, sizeof(w->err), "cannot create an event loop");
        return -1;
    }
    ev_set_userdata(w->loop, w);
    bufpool_init(&w->bufs, 256);
    list_init(&w->conns);
    list_init(&w->tunnels);
    ev_init(&w->accept_retry, on_accept_retry);
    ev_init(&w->grace_timer, on_grace_over);
    inbox_init(&w->inbox, w->loop, w);
    find_local_addresses(w);
    w->resolver = resolve_new(w->loop, &cfg->resolver, w->err, sizeof(w->err));
    if (w->resolver == NULL)
        return -1;
    w->pool = upconn_pool_new(w, 4096);
    w->gen = generation_new(w, cg, w->err, sizeof(w->err));
    if (w->gen == NULL)
        return -1;
    generation_start(w->gen, NULL);
    return 0;
}

int worker_init(struct worker *w, unsigned id, struct config_gen *cg, const int *listen_fds,
                struct cache *cache, struct metrics *metrics)
{
    if (worker_init_detached(w, id, cg, cache, metrics) == -1)
        return -1;
    set_listeners(w, &cg->cfg, listen_fds);
    worker_resume_accept(w);
    return 0;
}

/* ---- switching generations ---- */

struct switch_msg {
    struct generation *gen;
    int *fds;                  /* one per listener of gen */
    bool *fresh;               /* opened for this switch (the others are the worker's already) */
};

static bool fd_in(const int *fds, unsigned n, int fd)
{
    for (unsigned i = 0; i < n; i++)
        if (fds[i] == fd)
            return true;
    return false;
}

static void switch_msg_free(struct switch_msg *m)
{
    free(m->fds);
    free(m->fresh);
    free(m);
}

static void on_switch(void *owner, void *arg)
{
    struct worker *w = owner;
    struct switch_msg *m = arg;
    struct generation *g = m->gen, *old = w->gen;
    const struct config *cfg = g->cfg;
    if (w->stopping) { /* too late: the listeners are closed; the new ones go too */
        for (unsigned i = 0; i < cfg->nlisteners; i++)
            if (m->fresh[i])
                close(m->fds[i]);
        generation_discard(g);
        switch_msg_free(m);
        return;
    }
    generation_start(g, old);
    /* listeners: a socket that stays keeps its kernel queue (nothing queued
     * is lost); those the new configuration dropped are closed */
    bool accepting = w->accepting;
    worker_pause_accept(w);
    for (unsigned k = 0; k < w->nlisteners; k++)
        if (!fd_in(m->fds, cfg->nlisteners, w->listeners[k].fd))
            close(w->listeners[k].fd);
    free(w->listeners);
    set_listeners(w, cfg, m->fds);
    w->gen = g;
    upstream_stop(old); /* its requests keep its backends; re-resolution is the new one's */
    list_insert_tail(&w->retired, &old->link);
    if (accepting || !ev_is_active(&w->accept_retry))
        worker_resume_accept(w);
    switch_msg_free(m);
    generation_release(old); /* no longer current: freed with its last user */
}

void worker_switch(struct worker *w, struct generation *g, const int *listen_fds, const bool *fresh)
{
    unsigned n = g->cfg->nlisteners;
    struct switch_msg *m = xmalloc(sizeof(*m));
    m->gen = g;
    m->fds = xcalloc(n ? n : 1, sizeof(int));
    m->fresh = xcalloc(n ? n : 1, sizeof(bool));
    memcpy(m->fds, listen_fds, n * sizeof(int));
    memcpy(m->fresh, fresh, n * sizeof(bool));
    inbox_post(&w->inbox, on_switch, m);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[32];
    snprintf(name, sizeof(name), "worker %u", w->id);
    log_set_thread_name(name);
    ev_run(w->loop, 0);
    return NULL;
}

int worker_start(struct worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void worker_stop(struct worker *w, bool now)
{
    static int fast; /* any non-NULL pointer says "now" */
    inbox_post(&w->inbox, on_stop, now ? &fast : NULL);
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
}

void worker_destroy(struct worker *w)
{
    if (w->loop == NULL)
        return;
    while (!list_empty(&w->conns))
        conn_close(container_of(list_first(&w->conns), struct conn, link), "shutdown");
    tunnel_close_all(w);
    cache_fill_cancel_all(w);
    for (unsigned i = 0; i < w->nlisteners; i++)
        if (w->listeners[i].fd != -1)
            close(w->listeners[i].fd);
    free(w->listeners);
    upconn_pool_free(w->pool);
    inbox_free(&w->inbox); /* a switch still queued frees what it carries */
    while (!list_empty(&w->retired)) /* nothing uses them any more: the connections are gone */
        generation_discard(container_of(list_first(&w->retired), struct generation, link));
    if (w->gen)
        generation_discard(w->gen);
    w->gen = NULL;
    if (w->resolver)
        resolve_free(w->resolver);
    while (w->spare_requests) {
        struct request *r = w->spare_requests;
        w->spare_requests = r->next_free;
        arena_free(&r->arena);
        free(r);
    }
    bufpool_free(&w->bufs);
    free(w->local_addrs);
    ev_loop_destroy(w->loop);
    w->loop = NULL;
}
