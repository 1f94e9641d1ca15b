/* cache_fill.c - the fetches that feed the cache (cache_fill.h).
 *
 * A fill decides at the response head: storable (RFC 9111, then the
 * script's cache_store) -> the entry becomes a stored response that every
 * waiting reader follows; not storable -> the entry streams to the
 * trigger alone and the key is remembered as hit-for-pass, while the other
 * waiters go to the origin themselves. A refresh asks with the stale
 * entry's validators: a 304 updates the stored head (RFC 9111 3.2) and
 * keeps the body; a new response replaces the entry like a fill; an error
 * serves the stale one when stale-if-error or the grace allows it.
 *
 * Who is told: the trigger (same worker) through fields of its request
 * (cnext, cnext_status, cfail), then every waiting reader through the
 * entries' notifications. */
#include "cache_fill.h"
#include "trace.h"

#include <inttypes.h>
#include <stdlib.h>

#include "../lua/hooks.h"
#include "../lua/vm.h"
#include "arena.h"
#include "conn.h"
#include "log.h"
#include "request.h"
#include "generation.h"
#include "worker.h"

struct cache_fill {
    struct worker *w;
    struct generation *gen;       /* the trigger's (held): its Lua state runs cache_store */
    struct cache *c;
    struct fetch *f;
    struct cache_entry *e;        /* filled */
    struct cache_entry *old;      /* refreshed */
    struct request *trigger;      /* until it leaves */
    struct list link;             /* w->cache_fills */
    struct arena arena;
    struct headers req;           /* the request's fields, copied */
    bool reverse;                 /* targeted fields (RFC 9213) apply */
    bool head_given;
    double request_time;
};

static struct headers deep_copy(const struct headers *h, struct arena *a)
{
    struct headers c;
    headers_init(&c);
    for (unsigned i = 0; i < h->n; i++)
        headers_add(&c, a, slice_make(arena_strndup(a, h->v[i].name.ptr, h->v[i].name.len), h->v[i].name.len),
                    slice_make(arena_strndup(a, h->v[i].value.ptr, h->v[i].value.len), h->v[i].value.len));
    return c;
}

static void fill_free(struct cache_fill *fl)
{
    if (fl->trigger)
        fl->trigger->cfill = NULL;
    list_remove(&fl->link);
    if (fl->e)
        cache_entry_release(fl->e);
    if (fl->old)
        cache_entry_release(fl->old);
    arena_free(&fl->arena);
    generation_release(fl->gen);
    free(fl);
}

/* Tells the trigger what to serve (an entry and its X-Cache word) or how
 * it failed. */
static void tell_trigger(struct cache_fill *fl, struct cache_entry *e, const char *status,
                         const struct proxy_error *err)
{
    struct request *r = fl->trigger;
    if (r == NULL)
        return;
    if (e) {
        cache_entry_hold(e);
        if (r->cnext)
            cache_entry_release(r->cnext);
        r->cnext = e;
        r->cnext_status = status;
    }
    r->cfail = err;
}

struct cache_rules cache_store_rules(const struct cache_config *cc, bool reverse, bool allow_set_cookie)
{
    struct cache_rules rules = { cc->heuristic_fraction, cc->heuristic_max, allow_set_cookie, SLICE_NULL, SLICE_NULL };
    if (reverse) {
        rules.targeted = SLICE_LIT("CDN-Cache-Control");
        if (cc->targeted)
            rules.own_targeted = slice_make(cc->targeted, strlen(cc->targeted));
    }
    return rules;
}

/* The fields of a response as a reverse listener gives them to clients:
 * without the targeted fields, which were for this cache. */
void cache_drop_targeted(const struct cache_config *cc, struct headers *h)
{
    headers_del(h, SLICE_LIT("CDN-Cache-Control"));
    if (cc->targeted)
        headers_del(h, slice_make(cc->targeted, strlen(cc->targeted)));
}

void cache_store_choose(struct cache_store_choice *ch, const struct cache_config *cc, bool reverse, struct vm *vm,
                        struct request *trigger, const struct headers *req, const struct http_head *resp,
                        const struct headers *fields, time_t now)
{
    struct cache_store_decision d = { .store = -1, .ttl = -1, .grace = -1 };
    if (hooks_defined(vm, HOOK_CACHE_STORE)) {
        if (trigger) {
            struct request *r = trigger;
            memset(&r->resp, 0, sizeof(r->resp));
            r->resp.status = resp->status;
            r->resp.reason = resp->reason;
            r->resp.major = resp->major;
            r->resp.minor = resp->minor;
            r->resp.headers = *fields;
            hooks_cache_store(vm, r, &d);
        } else {
            d.store = 0; /* no request left to ask the script about */
        }
    }
    struct cache_rules rules = cache_store_rules(cc, reverse, d.store == 1);
    struct cache_meta m;
    cache_decide(&m, &rules, HTTP_GET, req, resp->status, fields, now);
    bool store = d.store == 1 ? m.verdict != STORE_VARY_STAR && m.verdict != STORE_STATUS &&
                                    m.verdict != STORE_METHOD && resp->status >= 200
                              : d.store == -1 && m.verdict == STORE_OK;
    ch->too_big = resp->has_length && resp->content_length > cc->max_object;
    if (store && ch->too_big) {
        store = false; /* passes through; the key is not marked: a smaller one may come */
        ch->reason = "larger than max_object";
    } else if (!store) {
        ch->reason = d.store == 0 ? "cache_store said no" : cache_store_verdict_text(m.verdict);
    } else {
        ch->reason = d.store == 1 ? "cache_store said yes" : "storable";
    }
    ch->store = store;
    ch->meta = m;
    ch->script = d;
    if (trigger && unlikely(trigger->trace))
        trace_add(trigger->trace, "cache", "%s: %s, fresh for %llds", store ? "stored" : "not stored", ch->reason,
                  (long long)(d.ttl >= 0 ? d.ttl : m.freshness));
}

/* ---- a 304 to a refresh ---- */

/* RFC 9111 3.2: every field of the 304 replaces the stored ones of its
 * name, but Content-Length. */
static struct headers merge_304(const struct cache_entry *old, const struct headers *fresh, struct arena *a)
{
    struct headers m = deep_copy(&old->fields, a);
    for (unsigned i = 0; i < fresh->n; i++) {
        struct slice name = fresh->v[i].name;
        if (slice_caseeq(name, H_CONTENT_LENGTH.ptr, H_CONTENT_LENGTH.len))
            continue;
        bool first = true;
        for (unsigned k = 0; k < i; k++)
            first &= !slice_caseeq(fresh->v[k].name, name.ptr, name.len);
        if (first)
            headers_del(&m, name);
        headers_add(&m, a, name, fresh->v[i].value);
    }
    return m;
}

static void refreshed(struct cache_fill *fl, const struct headers *fields, time_t now)
{
    struct cache_entry *old = fl->old;
    struct headers merged = merge_304(old, fields, &fl->arena);
    struct cache_rules rules = cache_store_rules(&fl->c->cfg, fl->reverse, true);
    struct cache_meta m;
    cache_decide(&m, &rules, HTTP_GET, &fl->req, old->status, &merged, now);
    struct cache_head h = {
        .status = old->status, .reason = old->reason, .fields = &merged, .meta = &m,
        .response_time = ev_now(fl->w->loop), .initial_age = cache_initial_age(&m, fl->request_time, ev_now(fl->w->loop)),
        .ttl = old->ttl, .grace = old->grace, .content_length = old->body->expected,
        .vary = old->vary, .request = &fl->req,
    };
    struct cache_entry *e = cache_refresh(old, &h);
    atomic_fetch_add(&fl->c->stats.revalidated, 1);
    tell_trigger(fl, e, "REVALIDATED", NULL);
    cache_entry_release(e);
    cache_end_revalidation(old);
}

/* May the stale entry serve, now that the origin failed (stale-if-error,
 * the configured or scripted grace; never with must-revalidate)? */
static bool stale_allowed(const struct cache_fill *fl)
{
    const struct cache_entry *old = fl->old;
    double now = ev_now(fl->w->loop);
    int64_t age = (int64_t)(old->initial_age + (now - old->response_time));
    int64_t grace = old->grace >= 0 ? old->grace : fl->c->cfg.grace;
    struct cache_meta m = cache_entry_rules(old);
    return cache_stale_if_error_ok(&m, age, grace);
}

/* The origin failed a refresh (err) and sent nothing usable: the stale
 * entry when it may serve, else the error. */
static void refresh_failed(struct cache_fill *fl, const struct proxy_error *err)
{
    if (stale_allowed(fl))
        tell_trigger(fl, fl->old, "STALE", NULL);
    else
        tell_trigger(fl, NULL, NULL, err);
    cache_end_revalidation(fl->old);
}

/* ---- the sink ---- */

static bool on_head(struct fetch *f, void *sink, const struct http_head *resp)
{
    struct cache_fill *fl = sink;
    struct worker *w = fl->w;
    time_t now = time(NULL);
    fl->head_given = true;
    if (fl->trigger) { /* the request that caused the fetch logs its exchange */
        struct fetch_timings t = fetch_timings(f);
        fl->trigger->t_connect = t.connect;
        fl->trigger->t_connected = t.connected;
        fl->trigger->t_first_byte = t.first_byte;
        fl->trigger->timed_by_fetch = true; /* for its log line: the fetch counted it in metrics */
        fl->trigger->peer = *fetch_peer_addr(f);
    }
    struct headers fields = deep_copy(&resp->headers, &fl->arena);
    headers_strip_hop_by_hop(&fields, 0);
    if (fl->old) {
        if (resp->status == 304) {
            refreshed(fl, &fields, now);
            return true; /* no body: done follows */
        }
        if (resp->status >= 500 && stale_allowed(fl)) {
            /* an error from the origin: the stale entry serves instead */
            tell_trigger(fl, fl->old, "STALE", NULL);
            cache_end_revalidation(fl->old);
            fill_free(fl);
            return false;
        }
        /* a new response: it replaces the stale one, as a fill */
        fl->e = cache_new_fill(fl->c, slice_make(fl->old->key, fl->old->key_len));
    }
    /* the decision: the RFC, then the script (with the request it answers) */
    struct cache_store_choice ch;
    cache_store_choose(&ch, &fl->c->cfg, fl->reverse, fl->gen->vm, fl->trigger, &fl->req, resp, &fields, now);
    struct cache_store_decision d = ch.script;
    struct cache_meta m = ch.meta;
    bool store = ch.store, too_big = ch.too_big;
    if (!store)
        log_debug("cache: not storing %s: %s", fl->e->key, ch.reason);
    /* what the next clients get: never one client's cookies */
    struct headers stored = deep_copy(&fields, &fl->arena);
    headers_del(&stored, SLICE_LIT("Set-Cookie"));
    for (unsigned i = 0; i < d.nstrip; i++)
        headers_del(&stored, d.strip[i]);
    if (fl->reverse)
        cache_drop_targeted(&fl->c->cfg, &stored);
    char vary[1024];
    int vn = cache_vary_names(&fields, vary, sizeof(vary));
    struct cache_head h = {
        .status = resp->status, .reason = resp->reason, .fields = &stored, .meta = &m,
        .response_time = ev_now(w->loop), .initial_age = cache_initial_age(&m, fl->request_time, ev_now(w->loop)),
        .ttl = d.ttl, .grace = d.grace,
        .content_length = resp->has_length ? (int64_t)resp->content_length : -1,
        .vary = vn > 0 ? vary : NULL, .request = &fl->req,
    };
    cache_fill_head(fl->e, &h, store, ev_now(w->loop), store || too_big ? 0 : (double)fl->c->cfg.pass_ttl);
    if (fl->trigger) {
        /* the client that asked gets the whole response it caused */
        struct request *r = fl->trigger;
        memset(&r->resp, 0, sizeof(r->resp));
        r->resp.status = resp->status;
        r->resp.reason = slice_make(arena_strndup(&r->arena, resp->reason.ptr, resp->reason.len), resp->reason.len);
        r->resp.major = resp->major;
        r->resp.minor = resp->minor;
        r->resp.headers = deep_copy(&fields, &r->arena);
        if (fl->reverse)
            cache_drop_targeted(&fl->c->cfg, &r->resp.headers);
        r->cache_own_head = true;
        tell_trigger(fl, fl->e, "MISS", NULL);
    }
    if (fl->old) {
        if (!store)
            cache_forget(fl->old); /* replaced by a response that cannot be kept */
        cache_end_revalidation(fl->old);
        cache_entry_release(fl->old);
        fl->old = NULL;
    }
    if (store)
        return true;
    if (fl->trigger == NULL) { /* streaming to nobody */
        cache_fill_done(fl->e, false);
        fill_free(fl);
        return false;
    }
    return true;
}

static bool on_data(struct fetch *f, void *sink, const char *p, size_t n)
{
    (void)f;
    struct cache_fill *fl = sink;
    if (fl->e == NULL)
        return true; /* a 304's (empty) body */
    if (!cache_fill_append(fl->e, p, n) && !cache_fill_wanted(fl->e)) {
        /* out of the store and nobody left to stream to */
        cache_fill_done(fl->e, false);
        fill_free(fl);
        return false;
    }
    return true;
}

static bool on_ready(struct fetch *f, void *sink)
{
    (void)f;
    struct cache_fill *fl = sink;
    return fl->e == NULL || cache_fill_may_read(fl->e, fl->w->id);
}

static void on_done(struct fetch *f, void *sink, const struct proxy_error *err)
{
    (void)f;
    struct cache_fill *fl = sink;
    fl->f = NULL;
    if (fl->head_given) {
        if (fl->e)
            cache_fill_done(fl->e, err == NULL);
    } else if (fl->old) {
        refresh_failed(fl, err);
    } else {
        tell_trigger(fl, NULL, NULL, err);
        cache_fill_abandon(fl->e, ev_now(fl->w->loop), 0);
    }
    fill_free(fl);
}

static const struct fetch_sink_ops fill_ops = { on_head, on_data, on_ready, on_done };

struct cache_fill *cache_fill_start(struct request *trigger, struct cache_entry *e, struct cache_entry *old,
                                    const struct fetch_target *t, struct slice head)
{
    struct worker *w = trigger->w;
    struct cache_fill *fl = xcalloc(1, sizeof(*fl));
    fl->w = w;
    fl->gen = trigger->gen;
    generation_hold(fl->gen);
    fl->c = w->cache;
    fl->trigger = trigger;
    fl->reverse = trigger->lc->mode == MODE_REVERSE;
    fl->request_time = ev_now(w->loop);
    arena_init(&fl->arena);
    fl->req = deep_copy(&trigger->head.headers, &fl->arena);
    if (e) {
        cache_entry_hold(e);
        fl->e = e;
    }
    if (old) {
        cache_entry_hold(old);
        fl->old = old;
    }
    list_insert_tail(&w->cache_fills, &fl->link);
    trigger->cfill = fl;
    fl->f = fetch_start(fl->gen, t, head.ptr, head.len, HTTP_GET, &fill_ops, fl);
    return fl;
}

void cache_fill_forget_trigger(struct cache_fill *fl)
{
    fl->trigger = NULL;
}

void cache_fill_cancel_all(struct worker *w)
{
    while (!list_empty(&w->cache_fills)) {
        struct cache_fill *fl = container_of(list_first(&w->cache_fills), struct cache_fill, link);
        if (fl->f)
            fetch_cancel(fl->f);
        fl->f = NULL;
        if (fl->e) {
            if (fl->head_given)
                cache_fill_done(fl->e, false);
            else
                cache_fill_abandon(fl->e, 0, 0);
        }
        if (fl->old)
            cache_end_revalidation(fl->old);
        fill_free(fl);
    }
}

void cache_fill_wake(struct worker *w, struct cache_entry *e)
{
    for (struct list *it = w->cache_fills.next; it != &w->cache_fills;) {
        struct cache_fill *fl = container_of(it, struct cache_fill, link);
        it = it->next;
        if (fl->e != e || fl->f == NULL)
            continue;
        if (!cache_fill_wanted(e) && fl->head_given) {
            /* streaming to nobody any more: stop here, outside the fetch */
            fetch_cancel(fl->f);
            fl->f = NULL;
            cache_fill_done(e, false);
            fill_free(fl);
            continue;
        }
        fetch_resume(fl->f);
    }
}
