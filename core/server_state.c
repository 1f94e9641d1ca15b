/* server_state.c - a server's live state shared by all workers (see
 * server_state.h): counting attempts, the sliding window, outlier
 * ejection with a growing backoff, the health checks' rise and fall,
 * slow start and the admin's drain and weight. */
#include "server_state.h"

#include "clock.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "luxy.h"

#define RELAXED memory_order_relaxed

_Atomic unsigned server_state_epoch;

static void changed(void)
{
    atomic_fetch_add_explicit(&server_state_epoch, 1, RELAXED);
}

struct server_state *server_state_new(unsigned weight)
{
    struct server_state *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    atomic_init(&s->weight, weight ? weight : 1);
    return s;
}

struct server_state *server_state_hold(struct server_state *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, RELAXED);
    return s;
}

void server_state_release(struct server_state *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        free(s);
}

double clock_virtual;

uint64_t server_now_ms(void)
{
    if (clock_virtual > 0)
        return (uint64_t)(clock_virtual * 1000);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned server_weight(const struct server_state *s, double slow_start, uint64_t now_ms)
{
    unsigned w = atomic_load_explicit(&s->weight, RELAXED) * SS_WEIGHT_UNIT;
    if (slow_start <= 0)
        return w;
    uint64_t since = atomic_load_explicit(&s->up_since_ms, RELAXED);
    if (since == 0 || now_ms < since || (double)(now_ms - since) >= slow_start * 1000)
        return w;
    unsigned r = (unsigned)(w * ((double)(now_ms - since) / (slow_start * 1000)));
    return r ? r : 1; /* it takes a little from the start, as nginx's slow_start */
}

double server_peak_latency(const struct server_state *s, uint64_t now_ms)
{
    double peak = (double)atomic_load_explicit(&s->peak_us, RELAXED);
    uint64_t at = atomic_load_explicit(&s->peak_at_ms, RELAXED);
    if (peak == 0 || now_ms <= at + 100)
        return peak;
    return peak * exp(-(double)(now_ms - at) / 2000.0);
}

void server_begin(struct server_state *s)
{
    atomic_fetch_add_explicit(&s->inflight, 1, RELAXED);
}

void server_end(struct server_state *s)
{
    atomic_fetch_sub_explicit(&s->inflight, 1, RELAXED);
}

/* ---- the window: one word per second ---- */

static void window_add(struct server_state *s, uint64_t now_ms, bool failed)
{
    uint32_t sec = (uint32_t)(now_ms / 1000);
    struct ss_second *w = &s->window[sec % SS_WINDOW];
    uint32_t at = atomic_load_explicit(&w->at, RELAXED);
    if (at != sec && atomic_compare_exchange_strong_explicit(&w->at, &at, sec, RELAXED, RELAXED)) {
        /* the first of a new second resets the slot (a count racing with
         * the reset may be lost: one sample) */
        atomic_store_explicit(&w->ok, 0, RELAXED);
        atomic_store_explicit(&w->failed, 0, RELAXED);
    }
    atomic_fetch_add_explicit(failed ? &w->failed : &w->ok, 1, RELAXED);
}

void server_window(const struct server_state *s, uint64_t now_ms, unsigned *ok, unsigned *failed)
{
    uint32_t sec = (uint32_t)(now_ms / 1000);
    *ok = *failed = 0;
    for (unsigned i = 0; i < SS_WINDOW; i++) {
        const struct ss_second *w = &s->window[i];
        uint32_t at = atomic_load_explicit(&w->at, RELAXED);
        if (at == 0 || sec - at >= SS_WINDOW)
            continue;
        *ok += atomic_load_explicit(&w->ok, RELAXED);
        *failed += atomic_load_explicit(&w->failed, RELAXED);
    }
}

double server_error_rate(const struct server_state *s, uint64_t now_ms)
{
    unsigned ok, failed;
    server_window(s, now_ms, &ok, &failed);
    return ok + failed ? (double)failed / (ok + failed) : 0;
}

/* ---- outlier detection ---- */

static bool may_eject(struct server_state *const *group, unsigned n, double max_share, uint64_t now_ms)
{
    unsigned out = 0;
    for (unsigned i = 0; i < n; i++)
        out += !server_usable(group[i], now_ms);
    /* one more would exceed the share: never eject the last servers */
    return (double)(out + 1) <= max_share * n;
}

/* Out for eject x 2^(ejections so far), up to max_eject. The caller saw
 * it in service or on probation; another worker may have ejected it since
 * (then this one does not, so the backoff doubles once). */
static bool eject(struct server_state *s, const struct outlier_config *o, int reason, uint64_t now_ms)
{
    if ((atomic_load_explicit(&s->down, RELAXED) & SS_EJECTED) &&
        now_ms < atomic_load_explicit(&s->eject_until_ms, RELAXED))
        return false;
    unsigned times = atomic_fetch_add_explicit(&s->ejections, 1, RELAXED);
    double secs = o->eject;
    for (unsigned i = 0; i < times && secs < o->max_eject; i++)
        secs *= 2;
    if (secs > o->max_eject)
        secs = o->max_eject;
    atomic_store_explicit(&s->eject_until_ms, now_ms + (uint64_t)(secs * 1000), RELAXED);
    atomic_store_explicit(&s->reason, reason, RELAXED);
    atomic_fetch_or_explicit(&s->down, SS_EJECTED, RELAXED);
    atomic_store_explicit(&s->consecutive_failures, 0, RELAXED);
    changed();
    return true;
}

/* An ejection lapsed and a request got through: the server is back. */
static void returned(struct server_state *s, uint64_t now_ms)
{
    unsigned d = atomic_load_explicit(&s->down, RELAXED);
    if ((d & SS_EJECTED) && now_ms >= atomic_load_explicit(&s->eject_until_ms, RELAXED)) {
        atomic_fetch_and_explicit(&s->down, ~(unsigned)SS_EJECTED, RELAXED);
        atomic_store_explicit(&s->up_since_ms, now_ms, RELAXED);
        atomic_store_explicit(&s->reason, SR_NONE, RELAXED);
        changed();
    }
}

static uint64_t ewma(uint64_t old, uint64_t sample)
{
    return old == 0 ? sample : (old * 7 + sample) / 8; /* about the last 8 samples */
}

bool server_result(struct server_state *s, enum attempt_result res, double seconds, uint64_t now,
                   const struct upstream_config *cfg, struct server_state *const *group, unsigned n)
{
    const struct outlier_config *o = &cfg->outlier;
    if (res == AR_OK) {
        window_add(s, now, false);
        uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;
        atomic_store_explicit(&s->latency_us, ewma(atomic_load_explicit(&s->latency_us, RELAXED), us), RELAXED);
        uint64_t peak = atomic_load_explicit(&s->peak_us, RELAXED);
        atomic_store_explicit(&s->peak_us, us > peak ? us : ewma(peak, us), RELAXED);
        atomic_store_explicit(&s->peak_at_ms, now, RELAXED);
        if (atomic_load_explicit(&s->consecutive_failures, RELAXED))
            atomic_store_explicit(&s->consecutive_failures, 0, RELAXED);
        if (atomic_load_explicit(&s->down, RELAXED) & SS_EJECTED)
            returned(s, now);
        else if (atomic_load_explicit(&s->ejections, RELAXED) &&
                 now > atomic_load_explicit(&s->eject_until_ms, RELAXED) + (uint64_t)(o->max_eject * 1000))
            atomic_store_explicit(&s->ejections, 0, RELAXED); /* quiet long enough: the backoff starts over */
        return false;
    }
    atomic_store_explicit(&s->last_failure_ms, now, RELAXED);
    atomic_store_explicit(&s->last_failure_kind, (int)res, RELAXED);
    window_add(s, now, true);
    unsigned run = atomic_fetch_add_explicit(&s->consecutive_failures, 1, RELAXED) + 1;
    if (o->consecutive == 0 && o->error_rate <= 0)
        return false;
    unsigned d = atomic_load_explicit(&s->down, RELAXED);
    if (d == SS_EJECTED && now >= atomic_load_explicit(&s->eject_until_ms, RELAXED)) /* on probation: */
        return eject(s, o, atomic_load_explicit(&s->reason, RELAXED), now); /* one failure sends it back, longer */
    if (d != 0)
        return false; /* out already */
    int reason = SR_NONE;
    if (o->consecutive && run >= o->consecutive) {
        reason = SR_CONSECUTIVE;
    } else if (o->error_rate > 0) {
        unsigned ok, failed;
        server_window(s, now, &ok, &failed);
        if (ok + failed >= o->min_requests && (double)failed / (ok + failed) >= o->error_rate)
            reason = SR_ERROR_RATE;
    }
    if (reason == SR_NONE || !may_eject(group, n, o->max_share, now)) /* enough of the group must serve */
        return false;
    return eject(s, o, reason, now);
}

/* ---- health checks ---- */

bool server_check_passed(struct server_state *s, const struct upstream_config *cfg, unsigned status)
{
    atomic_store_explicit(&s->last_check_status, status, RELAXED);
    atomic_store_explicit(&s->fall_run, 0, RELAXED);
    unsigned d = atomic_load_explicit(&s->down, RELAXED);
    unsigned rise = atomic_load_explicit(&s->rise_run, RELAXED) + 1;
    atomic_store_explicit(&s->rise_run, rise, RELAXED);
    uint64_t now = server_now_ms();
    if ((d & SS_DOWN) && rise >= cfg->health.rise) {
        atomic_fetch_and_explicit(&s->down, ~(unsigned)SS_DOWN, RELAXED);
        atomic_store_explicit(&s->up_since_ms, now, RELAXED);
        atomic_store_explicit(&s->reason, SR_NONE, RELAXED);
        atomic_store_explicit(&s->consecutive_failures, 0, RELAXED);
        changed();
        return true;
    }
    /* an ejected server returns through a passing probe once its time is up */
    if ((d & SS_EJECTED) && now >= atomic_load_explicit(&s->eject_until_ms, RELAXED)) {
        returned(s, now);
        return true;
    }
    return false;
}

bool server_check_failed(struct server_state *s, const struct upstream_config *cfg, unsigned status)
{
    atomic_store_explicit(&s->last_check_status, status, RELAXED);
    atomic_store_explicit(&s->rise_run, 0, RELAXED);
    unsigned fall = atomic_load_explicit(&s->fall_run, RELAXED) + 1;
    atomic_store_explicit(&s->fall_run, fall, RELAXED);
    if (!(atomic_load_explicit(&s->down, RELAXED) & SS_DOWN) && fall >= cfg->health.fall) {
        atomic_store_explicit(&s->reason, status ? SR_CHECK_STATUS : SR_CHECK_FAILED, RELAXED);
        atomic_fetch_or_explicit(&s->down, SS_DOWN, RELAXED);
        changed();
        return true;
    }
    return false;
}

/* ---- admin ---- */

void server_drain(struct server_state *s, bool drained)
{
    if (drained) {
        atomic_fetch_or_explicit(&s->down, SS_DRAINED, RELAXED);
    } else if (atomic_fetch_and_explicit(&s->down, ~(unsigned)SS_DRAINED, RELAXED) & SS_DRAINED) {
        atomic_store_explicit(&s->up_since_ms, server_now_ms(), RELAXED); /* ramps back in */
    }
    changed();
}

void server_set_weight(struct server_state *s, unsigned weight)
{
    atomic_store_explicit(&s->weight, weight ? weight : 1, RELAXED);
    changed();
}

const char *server_state_name(const struct server_state *s, double slow_start, uint64_t now_ms)
{
    unsigned d = atomic_load_explicit(&s->down, RELAXED);
    if (d & SS_DRAINED)
        return "draining";
    if (d & SS_DOWN)
        return "down";
    if (d & SS_EJECTED)
        return now_ms >= atomic_load_explicit(&s->eject_until_ms, RELAXED) ? "probation" : "ejected";
    if (server_weight(s, slow_start, now_ms) < atomic_load_explicit(&s->weight, RELAXED) * SS_WEIGHT_UNIT)
        return "slow_start";
    return "up";
}

const char *server_reason_text(int reason)
{
    switch (reason) {
    case SR_CHECK_STATUS: return "health check status";
    case SR_CHECK_FAILED: return "health check failed";
    case SR_CONSECUTIVE: return "consecutive failures";
    case SR_ERROR_RATE: return "error rate";
    default: return "";
    }
}

const char *attempt_result_name(int res)
{
    static const char *const names[] = { "ok", "http_5xx", "connect", "reset", "timeout" };
    return res >= 0 && res <= AR_TIMEOUT ? names[res] : "";
}
