/* sim_engine.c - the discrete-event simulation (sim_engine.h).
 *
 * Events are kept in a heap by (time, sequence): ties go in the order
 * they were made, so a run is a function of its inputs and seed. Before
 * each event the lab's clock is set to its time, so server states, retry
 * budgets and luxy.now() read the simulated time. A request goes through
 * the same calls the server makes: lab_request (decide_head), decide_policy,
 * decide_group, decide_backend, decide_attempt_begin; the backend model
 * serves it (connect time, then a service slot or a place in the queue);
 * decide_attempt_end with the result and its seconds; a failure that the
 * server would retry goes back to decide_backend, whose tries and retry
 * budget decide. Active health checks are emulated at their interval from
 * the model's state into the server's (server_check_passed / _failed, as
 * health.c's prober does). Hedging is not simulated. */
#include "sim_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generation.h"
#include "lab.h"
#include "lb.h"
#include "sim_keys.h"
#include "sim_rng.h"
#include "sim_workload.h"
#include "upstream.h"
#include "../lua/hooks.h"

enum sim_event_type { SE_ARRIVE, SE_CLIENT, SE_REACH, SE_DONE, SE_TIMEOUT, SE_HEALTH, SE_MODEL_BEGIN, SE_MODEL_END };

struct event {
    double t;
    uint64_t seq;
    uint32_t type, a, b;
};

/* One request to the group. */
struct sreq {
    struct request *r;
    double arrival, attempt_start;
    uint32_t gen;            /* its attempt's number (unique in the run): events of another are stale */
    int backend;             /* of the attempt going on, -1: none */
    int client;              /* closed loop: whose, -1: none */
    uint64_t key, bytes;
    bool resendable, first_done;
    uint32_t next_free;
};

/* A request at a backend: in a service slot or waiting for one. */
struct job {
    uint32_t req, gen;
    double service;
    enum attempt_result res;
    uint32_t next_free;
};

struct sbackend {
    unsigned busy;
    uint32_t *queue;         /* jobs waiting (a ring) */
    unsigned qhead, qlen, qcap;
    double slow;             /* latency factor now */
    double fail;
    enum attempt_result fail_kind;
    bool down, joining;
    int64_t inflight;
    double inflight_since;   /* when inflight last changed (its area is counted to there) */
};

struct sim {
    const struct sim_run_options *o;
    struct sim_result *res;
    struct lab *lab;
    struct upstream *up;
    double t0, now, end;
    unsigned listener;
    struct event *heap;
    size_t nheap, capheap;
    uint64_t seq;
    uint32_t attempts;       /* numbers attempts (sreq.gen) */
    struct sreq *reqs;
    uint32_t nreqs, capreqs, free_req;
    struct job *jobs;
    uint32_t njobs, capjobs, free_job;
    struct sbackend b[SIM_MAX_BACKENDS];
    struct sim_rng rng;      /* the model's draws */
    struct sim_workload w;
    bool have_workload;
    size_t trace_next;
    struct sim_keys keys;
    bool oom;
};

#define NONE 0xffffffffu

/* ---- the event heap ---- */

static bool before(const struct event *x, const struct event *y)
{
    return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

static void schedule(struct sim *s, double t, enum sim_event_type type, uint32_t a, uint32_t b)
{
    if (s->nheap == s->capheap) {
        size_t cap = s->capheap ? s->capheap * 2 : 1024;
        struct event *h = realloc(s->heap, cap * sizeof(*h));
        if (!h) {
            s->oom = true;
            return;
        }
        s->heap = h, s->capheap = cap;
    }
    struct event e = { t < s->now ? s->now : t, s->seq++, type, a, b };
    size_t i = s->nheap++;
    while (i > 0 && before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static struct event pop(struct sim *s)
{
    struct event top = s->heap[0], last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

/* ---- pools (indices, so events can name them) ---- */

static uint32_t req_new(struct sim *s)
{
    if (s->free_req != NONE) {
        uint32_t i = s->free_req;
        s->free_req = s->reqs[i].next_free;
        return i;
    }
    if (s->nreqs == s->capreqs) {
        uint32_t cap = s->capreqs ? s->capreqs * 2 : 1024;
        struct sreq *p = realloc(s->reqs, cap * sizeof(*p));
        if (!p)
            return NONE;
        s->reqs = p, s->capreqs = cap;
    }
    return s->nreqs++;
}

static void req_del(struct sim *s, uint32_t i)
{
    s->reqs[i].r = NULL;
    s->reqs[i].next_free = s->free_req;
    s->free_req = i;
}

static uint32_t job_new(struct sim *s)
{
    if (s->free_job != NONE) {
        uint32_t i = s->free_job;
        s->free_job = s->jobs[i].next_free;
        return i;
    }
    if (s->njobs == s->capjobs) {
        uint32_t cap = s->capjobs ? s->capjobs * 2 : 1024;
        struct job *p = realloc(s->jobs, cap * sizeof(*p));
        if (!p)
            return NONE;
        s->jobs = p, s->capjobs = cap;
    }
    return s->njobs++;
}

static void job_del(struct sim *s, uint32_t i)
{
    s->jobs[i].next_free = s->free_job;
    s->free_job = i;
}

/* ---- measurements ---- */

static struct sim_bucket *bucket_at(struct sim *s, double t)
{
    struct sim_result *res = s->res;
    double rel = t < 0 ? 0 : t;
    unsigned i = (unsigned)(rel / res->width);
    while (i >= SIM_SERIES_MAX) { /* twice as wide: merge pairs */
        for (unsigned j = 0; j < SIM_SERIES_MAX / 2; j++) {
            struct sim_bucket *x = &res->series[2 * j], *y = &res->series[2 * j + 1], m;
            for (unsigned k = 0; k < SIM_MAX_BACKENDS; k++) {
                m.attempts[k] = x->attempts[k] + y->attempts[k];
                m.busy[k] = x->busy[k] + y->busy[k];
            }
            m.requests = x->requests + y->requests;
            m.errors = x->errors + y->errors;
            m.retries = x->retries + y->retries;
            for (unsigned k = 0; k < SIM_SHIST; k++)
                m.lat[k] = x->lat[k] + y->lat[k];
            res->series[j] = m;
        }
        memset(&res->series[SIM_SERIES_MAX / 2], 0, sizeof(res->series[0]) * (SIM_SERIES_MAX / 2));
        res->width *= 2;
        res->nseries = (res->nseries + 1) / 2;
        i = (unsigned)(rel / res->width);
    }
    if (i + 1 > res->nseries)
        res->nseries = i + 1;
    return &res->series[i];
}

/* Backend bi's in-flight count changes by delta now: the time it spent at
 * the old count goes into the buckets it spans. */
static void inflight_add(struct sim *s, unsigned bi, int delta)
{
    struct sbackend *b = &s->b[bi];
    double t = b->inflight_since;
    while (b->inflight > 0 && t < s->now) {
        struct sim_bucket *bk = bucket_at(s, t); /* may widen the buckets: the end is read after */
        double end = (floor(t / s->res->width + 1e-9) + 1) * s->res->width;
        double upto = end < s->now ? end : s->now;
        bk->busy[bi] += (float)((double)b->inflight * (upto - t));
        t = upto;
    }
    b->inflight_since = s->now;
    b->inflight += delta;
    if (b->inflight > s->res->b[bi].max_inflight)
        s->res->b[bi].max_inflight = b->inflight;
}

static uint64_t key_hash(const char *target)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = target; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h;
}

static bool method_resendable(const char *m)
{
    static const char *const ok[] = { "GET", "HEAD", "OPTIONS", "TRACE", "DELETE", "PUT" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(m, ok[i]) == 0)
            return true;
    return false;
}

static void set_time(struct sim *s, double t)
{
    s->now = t;
    lab_set_time(s->lab, s->t0 + t);
}

/* ---- requests ---- */

static void client_next(struct sim *s, int client)
{
    if (client >= 0)
        schedule(s, s->now + s->w.think, SE_CLIENT, (uint32_t)client, 0);
}

/* The request is over: answered (ok, a backend's 5xx) or failed in luxy. */
static void finish(struct sim *s, uint32_t qi, bool ok, bool backend_5xx)
{
    struct sreq *q = &s->reqs[qi];
    struct sim_result *res = s->res;
    double lat = s->now - q->arrival;
    sim_hist_add(&res->lat, lat);
    struct sim_bucket *bk = bucket_at(s, s->now);
    bk->lat[sim_shist_bucket(lat)]++;
    if (ok)
        res->ok++;
    else if (backend_5xx)
        res->http_5xx++, bk->errors++;
    else
        res->failed++, bk->errors++;
    int client = q->client;
    lab_request_free(q->r);
    req_del(s, qi);
    client_next(s, client);
}

static void start_attempt(struct sim *s, uint32_t qi);

/* What the backend does with an attempt that reached it. */
static void serve_now(struct sim *s, unsigned bi, uint32_t ji)
{
    struct sbackend *b = &s->b[bi];
    b->busy++;
    schedule(s, s->now + s->jobs[ji].service, SE_DONE, bi, ji);
}

static void end_attempt(struct sim *s, uint32_t qi, enum attempt_result res_kind)
{
    struct sreq *q = &s->reqs[qi];
    unsigned bi = (unsigned)q->backend;
    struct sim_backend_result *br = &s->res->b[bi];
    double secs = s->now - q->attempt_start;
    decide_attempt_end(q->r, res_kind, secs);
    inflight_add(s, bi, -1);
    q->backend = -1;
    q->gen = 0; /* no attempt */
    if (res_kind == AR_OK) {
        br->ok++;
        sim_hist_add(&br->lat, secs);
        finish(s, qi, true, false);
        return;
    }
    br->failed[res_kind]++;
    if (res_kind == AR_HTTP_5XX) { /* a response came: the client gets it */
        finish(s, qi, false, true);
        return;
    }
    /* the server retries a connect failure always, others when the
     * request may be sent again (proxy.c retryable_elsewhere) */
    if (res_kind == AR_CONNECT || q->resendable)
        start_attempt(s, qi);
    else
        finish(s, qi, false, false);
}

static void start_attempt(struct sim *s, uint32_t qi)
{
    struct sreq *q = &s->reqs[qi];
    const struct proxy_error *perr = NULL;
    int i = decide_backend(q->r, &perr);
    if (i < 0 || (unsigned)i >= s->res->nb) {
        finish(s, qi, false, false);
        return;
    }
    unsigned bi = (unsigned)i;
    decide_attempt_begin(q->r, bi);
    struct sim_result *res = s->res;
    res->b[bi].attempts++;
    struct sim_bucket *bk = bucket_at(s, s->now);
    bk->attempts[bi]++;
    if (q->first_done) {
        res->retries++;
        bk->retries++;
    } else {
        q->first_done = true;
        res->b[bi].first++;
        sim_keys_pick(&s->keys, res, q->key, bi);
    }
    inflight_add(s, bi, +1);
    q->backend = i;
    q->gen = ++s->attempts;
    q->attempt_start = s->now;
    const struct sim_backend_model *m = sim_model_backend(s->o->model, bi);
    schedule(s, s->now + m->connect, SE_REACH, qi, q->gen);
}

/* The attempt reaches the backend after its connect time. */
static void reach(struct sim *s, uint32_t qi, uint32_t gen)
{
    struct sreq *q = &s->reqs[qi];
    if (!q->r || q->gen != gen || q->backend < 0)
        return;
    unsigned bi = (unsigned)q->backend;
    struct sbackend *b = &s->b[bi];
    const struct sim_backend_model *m = sim_model_backend(s->o->model, bi);
    enum attempt_result res = AR_OK;
    if (b->fail > 0 && sim_rng_unit(&s->rng) < b->fail)
        res = b->fail_kind;
    if (b->down || res == AR_CONNECT || (b->busy >= m->capacity && b->qlen >= m->queue)) {
        end_attempt(s, qi, AR_CONNECT);
        return;
    }
    uint32_t ji = job_new(s);
    if (ji == NONE) {
        s->oom = true;
        return;
    }
    double service = sim_model_service(m, &s->rng) * b->slow;
    if (m->bandwidth > 0)
        service += (double)q->bytes / m->bandwidth;
    double backend_read = lab_generation(s->lab)->cfg->timeouts.backend_read;
    if (res == AR_TIMEOUT) /* it never answers: the slot is held until luxy gives up */
        service = backend_read + 0.001;
    s->jobs[ji] = (struct job){ qi, gen, service, res, 0 };
    bool now = b->busy < m->capacity;
    /* luxy gives up after backend_read: an answer known to come sooner
     * needs no timer (most of them: the heap stays small) */
    if (backend_read > 0 && (!now || s->now + service >= q->attempt_start + backend_read))
        schedule(s, q->attempt_start + backend_read, SE_TIMEOUT, qi, gen);
    if (now)
        serve_now(s, bi, ji);
    else {
        if (b->qlen == b->qcap) {
            unsigned cap = b->qcap ? b->qcap * 2 : 64;
            uint32_t *nq = malloc(cap * sizeof(*nq));
            if (!nq) {
                s->oom = true;
                return;
            }
            for (unsigned k = 0; k < b->qlen; k++)
                nq[k] = b->queue[(b->qhead + k) % b->qcap];
            free(b->queue);
            b->queue = nq, b->qcap = cap, b->qhead = 0;
        }
        b->queue[(b->qhead + b->qlen++) % b->qcap] = ji;
    }
}

static void done(struct sim *s, unsigned bi, uint32_t ji)
{
    struct sbackend *b = &s->b[bi];
    struct job j = s->jobs[ji];
    job_del(s, ji);
    b->busy--;
    if (b->qlen) {
        uint32_t next = b->queue[b->qhead];
        b->qhead = (b->qhead + 1) % b->qcap;
        b->qlen--;
        serve_now(s, bi, next);
    }
    struct sreq *q = &s->reqs[j.req];
    if (q->r && q->gen == j.gen && q->backend == (int)bi)
        end_attempt(s, j.req, j.res);
}

static void timeout(struct sim *s, uint32_t qi, uint32_t gen)
{
    struct sreq *q = &s->reqs[qi];
    if (q->r && q->gen == gen && q->backend >= 0)
        end_attempt(s, qi, AR_TIMEOUT);
}

/* A request arrives: the lab makes it and decides as the server would. */
static void arrive(struct sim *s, const char *method, const char *target, const char *client_ip, const char *ua,
                   const char *referer, unsigned listener, uint64_t bytes, int client)
{
    const char *fields[8];
    unsigned nf = 0;
    fields[nf++] = "Host", fields[nf++] = s->o->host ? s->o->host : s->have_workload ? s->w.host : "localhost";
    if (ua)
        fields[nf++] = "User-Agent", fields[nf++] = ua;
    if (referer)
        fields[nf++] = "Referer", fields[nf++] = referer;
    fields[nf] = NULL;
    struct lab_head h = { .method = method, .target = target, .minor = 1, .fields = fields,
                          .client_ip = client_ip, .listener = listener };
    struct decision_out out;
    char err[256];
    struct request *r = lab_request(s->lab, &h, &out, err, sizeof(err));
    if (!r) {
        s->res->bad++;
        client_next(s, client);
        return;
    }
    if (out.what == DECIDE_POLICY)
        out = decide_policy(r);
    const struct proxy_error *perr = NULL;
    struct upstream *up = out.what == DECIDE_ROUTE ? decide_group(r, &perr) : NULL;
    if (out.what != DECIDE_ROUTE || up != s->up) {
        if (out.what == DECIDE_ROUTE)
            s->res->other_route++;
        else if (out.what == DECIDE_CACHE)
            s->res->cache++;
        else
            s->res->local++;
        lab_request_free(r);
        client_next(s, client);
        return;
    }
    uint32_t qi = req_new(s);
    if (qi == NONE) {
        s->oom = true;
        lab_request_free(r);
        return;
    }
    s->reqs[qi] = (struct sreq){ .r = r, .arrival = s->now, .backend = -1, .client = client,
                                 .key = key_hash(target), .bytes = bytes, .resendable = method_resendable(method) };
    s->res->requests++;
    bucket_at(s, s->now)->requests++;
    start_attempt(s, qi);
}

/* ---- traffic sources ---- */

static unsigned listener_of(struct sim *s, const char *spec)
{
    if (spec)
        for (unsigned i = 0; lab_listener(s->lab, i); i++)
            if (strcmp(lab_listener(s->lab, i)->spec, spec) == 0)
                return i;
    return s->listener;
}

static void next_trace_arrival(struct sim *s)
{
    const struct sim_trace *t = s->o->trace;
    if (s->trace_next >= t->n)
        return;
    double at = t->recs[s->trace_next].start - s->t0;
    if (at <= s->end)
        schedule(s, at, SE_ARRIVE, (uint32_t)s->trace_next, 0);
}

static void next_workload_arrival(struct sim *s)
{
    double at = sim_workload_next_arrival(&s->w);
    if (at >= 0 && at <= s->end)
        schedule(s, at, SE_ARRIVE, 0, 0);
}

static void on_arrive(struct sim *s, uint32_t a)
{
    if (s->o->trace) {
        const struct sim_request_rec *rec = &s->o->trace->recs[a];
        s->trace_next = a + 1;
        next_trace_arrival(s); /* first: its sequence number orders ties as in the file */
        arrive(s, rec->method, rec->target, rec->client, rec->user_agent, rec->referer, listener_of(s, rec->listener),
               rec->bytes, -1);
        return;
    }
    next_workload_arrival(s);
    struct sim_wreq wr;
    sim_workload_request(&s->w, &wr);
    arrive(s, s->w.method, wr.target, NULL, NULL, NULL, s->listener, wr.bytes, -1);
}

static void on_client(struct sim *s, uint32_t client)
{
    if (s->now > s->end || !sim_workload_take(&s->w, s->now))
        return;
    struct sim_wreq wr;
    sim_workload_request(&s->w, &wr);
    arrive(s, s->w.method, wr.target, NULL, NULL, NULL, s->listener, wr.bytes, (int)client);
}

/* ---- the model's events and health checks ---- */

static void model_event(struct sim *s, uint32_t idx, bool begin)
{
    const struct sim_model_event *e = &s->o->model->ev[idx];
    if (e->backend >= s->res->nb)
        return;
    struct sbackend *b = &s->b[e->backend];
    const struct sim_backend_model *m = sim_model_backend(s->o->model, e->backend);
    struct server_state *st = s->up->backends[e->backend].st;
    switch (e->kind) {
    case SIM_SLOW:
        b->slow = begin ? e->value : 1;
        break;
    case SIM_FAIL:
        b->fail = begin ? e->value : m->fail;
        b->fail_kind = begin ? e->fail_kind : m->fail_kind;
        break;
    case SIM_DOWN:
        b->down = begin;
        break;
    case SIM_LEAVE:
    case SIM_JOIN: {
        bool out = (e->kind == SIM_LEAVE) == begin; /* a leave's end is a join, and the other way */
        server_drain(st, out);
        sim_keys_change(&s->keys, s->res, s->now, e->backend, out ? SIM_LEAVE : SIM_JOIN);
        break;
    }
    }
}

static void health_check(struct sim *s, unsigned bi)
{
    const struct upstream_config *cfg = s->up->cfg;
    struct sbackend *b = &s->b[bi];
    /* as a request would fare: refused when down, failed at the failure
     * rate, too late when its service time is past the check's timeout */
    const struct sim_backend_model *m = sim_model_backend(s->o->model, bi);
    double took = sim_model_service(m, &s->rng) * b->slow;
    bool passed = !b->down && !(b->fail > 0 && sim_rng_unit(&s->rng) < b->fail) &&
                  !(cfg->health.timeout > 0 && took > cfg->health.timeout);
    struct server_state *st = s->up->backends[bi].st;
    if (passed)
        server_check_passed(st, cfg, 200);
    else
        server_check_failed(st, cfg, b->fail_kind == AR_HTTP_5XX ? 503 : 0);
    schedule(s, s->now + cfg->health.interval, SE_HEALTH, bi, 0);
}

/* ---- setup ---- */

static struct upstream *pick_group(struct sim *s, char *err, size_t errlen)
{
    const struct config *cfg = lab_generation(s->lab)->cfg;
    s->listener = 0;
    for (unsigned i = 0; lab_listener(s->lab, i); i++)
        if (lab_listener(s->lab, i)->mode == MODE_REVERSE) {
            s->listener = i;
            break;
        }
    const char *name = s->o->upstream;
    const struct listener_config *lc = lab_listener(s->lab, s->listener);
    if (!name && lc && lc->mode == MODE_REVERSE && lc->upstream)
        name = lc->upstream;
    if (!name) {
        unsigned groups = 0;
        for (unsigned i = 0; i < cfg->nupstreams; i++)
            if (!cfg->upstreams[i].parent)
                groups++, name = cfg->upstreams[i].name;
        if (groups != 1) {
            snprintf(err, errlen, "%s: %u upstream groups: say which one with --upstream NAME", s->o->config_path,
                     groups);
            return NULL;
        }
    }
    struct upstream *up = lab_upstream(s->lab, name);
    if (!up)
        snprintf(err, errlen, "%s: no upstream \"%s\"", s->o->config_path, name);
    return up;
}

static int setup(struct sim *s, char *err, size_t errlen)
{
    const struct sim_run_options *o = s->o;
    struct sim_result *res = s->res;
    if (o->workload_path) {
        if (!sim_workload_load(&s->w, o->workload_path, o->seed, err, errlen))
            return -1;
        s->have_workload = true;
    }
    struct lab_options lo = { .config_path = o->config_path, .seed = o->seed, .quiet = true };
    if (o->trace && o->trace->n)
        lo.start_time = floor(o->trace->recs[0].start);
    s->lab = lab_open(&lo, err, errlen);
    if (!s->lab)
        return -1;
    s->t0 = lab_time(s->lab);
    if (!(s->up = pick_group(s, err, errlen)))
        return -1;
    if (o->balance) {
        const struct lb_ops *ops = lb_find(o->balance);
        if (!ops) {
            snprintf(err, errlen, "--balance %s: not a strategy (%s)", o->balance, lb_names());
            return -1;
        }
        s->up->lb = ops; /* the group's strategy, as if the file said so */
    }
    if (s->up->n > SIM_MAX_BACKENDS) {
        snprintf(err, errlen, "upstream %s: more than %d servers", s->up->cfg->name, SIM_MAX_BACKENDS);
        return -1;
    }
    res->nb = s->up->n;
    snprintf(res->config, sizeof(res->config), "%s", o->config_path);
    snprintf(res->upstream, sizeof(res->upstream), "%s", s->up->cfg->name);
    bool hook = hooks_defined(lab_generation(s->lab)->vm, HOOK_SELECT_BACKEND);
    snprintf(res->strategy, sizeof(res->strategy), "%s", hook ? "select_backend" : s->up->lb->name);
    for (unsigned i = 0; i < res->nb; i++) {
        snprintf(res->b[i].spec, sizeof(res->b[i].spec), "%s", s->up->backends[i].cfg->spec);
        const struct sim_backend_model *m = sim_model_backend(o->model, i);
        s->b[i].slow = 1, s->b[i].fail = m->fail, s->b[i].fail_kind = m->fail_kind;
    }
    if (o->model->nb > res->nb) {
        snprintf(err, errlen, "the model describes %u backends; upstream %s has %u", o->model->nb, s->up->cfg->name,
                 res->nb);
        return -1;
    }
    res->width = SIM_SERIES_BASE;
    sim_rng_seed(&s->rng, o->seed, 3);
    if (sim_keys_init(&s->keys) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* where the input ends */
    if (o->trace)
        s->end = o->trace->n ? o->trace->recs[o->trace->n - 1].start - s->t0 : 0;
    else
        s->end = s->w.duration > 0 ? s->w.duration : INFINITY;
    if (o->duration > 0 && o->duration < s->end)
        s->end = o->duration;
    /* the first events */
    for (unsigned i = 0; i < o->model->nev; i++) {
        const struct sim_model_event *e = &o->model->ev[i];
        if (e->backend >= res->nb) {
            snprintf(err, errlen, "model event at %.3fs: backend %u, but upstream %s has %u", e->at, e->backend + 1,
                     s->up->cfg->name, res->nb);
            return -1;
        }
        bool first = true; /* its first leave or join? (events are sorted by time) */
        for (unsigned k = 0; k < i; k++)
            first = first && !(o->model->ev[k].backend == e->backend &&
                               (o->model->ev[k].kind == SIM_LEAVE || o->model->ev[k].kind == SIM_JOIN));
        if (e->kind == SIM_JOIN && first) /* not in the group until it joins */
            server_drain(s->up->backends[e->backend].st, true);
        schedule(s, e->at, SE_MODEL_BEGIN, i, 0);
        if (e->duration > 0)
            schedule(s, e->at + e->duration, SE_MODEL_END, i, 0);
    }
    if (s->up->cfg->health.path && s->up->cfg->health.interval > 0)
        for (unsigned i = 0; i < res->nb; i++)
            schedule(s, 0.05 * (i + 1), SE_HEALTH, i, 0); /* as health.c spreads them */
    if (o->trace)
        next_trace_arrival(s);
    else if (s->w.clients)
        for (unsigned c = 0; c < s->w.clients; c++)
            schedule(s, 0, SE_CLIENT, c, 0);
    else
        next_workload_arrival(s);
    return 0;
}

int sim_run(const struct sim_run_options *o, struct sim_result *res, char *err, size_t errlen)
{
    struct sim *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(res, 0, sizeof(*res));
    s->o = o, s->res = res;
    s->free_req = s->free_job = NONE;
    int rc = setup(s, err, errlen);
    while (rc == 0 && s->nheap && !s->oom) {
        struct event e = pop(s);
        /* after the input's end only what is in flight finishes: no new
         * arrivals, checks or model events keep the run going */
        bool in_flight = s->res->requests > s->res->ok + s->res->http_5xx + s->res->failed;
        if (e.t > s->end && !in_flight)
            break;
        if (e.t > s->end && (e.type == SE_HEALTH || e.type == SE_MODEL_BEGIN || e.type == SE_MODEL_END ||
                             e.type == SE_CLIENT || e.type == SE_ARRIVE))
            continue;
        set_time(s, e.t);
        res->events++;
        switch (e.type) {
        case SE_ARRIVE:
            on_arrive(s, e.a);
            break;
        case SE_CLIENT:
            on_client(s, e.a);
            break;
        case SE_REACH:
            reach(s, e.a, e.b);
            break;
        case SE_DONE:
            done(s, e.a, e.b);
            break;
        case SE_TIMEOUT:
            timeout(s, e.a, e.b);
            break;
        case SE_HEALTH:
            health_check(s, e.a);
            break;
        case SE_MODEL_BEGIN:
        case SE_MODEL_END:
            model_event(s, e.a, e.type == SE_MODEL_BEGIN);
            break;
        }
    }
    if (rc == 0 && s->oom) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    res->seconds = s->now;
    /* requests still open (the heap ran dry: cannot happen, or oom) end here */
    for (uint32_t i = 0; i < s->nreqs; i++)
        if (s->reqs[i].r)
            lab_request_free(s->reqs[i].r);
    for (unsigned i = 0; i < SIM_MAX_BACKENDS; i++)
        free(s->b[i].queue);
    if (s->lab)
        lab_close(s->lab);
    if (s->have_workload)
        sim_workload_free(&s->w);
    sim_keys_free(&s->keys);
    free(s->heap);
    free(s->reqs);
    free(s->jobs);
    free(s);
    return rc;
}
