/* server_state.h - one upstream server's live state, shared by every
 * worker: what the balancing strategies read and what health checks,
 * outlier detection and the admin API change. There is one object per
 * server identity (its group's name and its spec, as for its metrics
 * block), held by every configuration generation that has the server, so
 * a reload keeps it for a server whose address is unchanged.
 *
 * Everything is an atomic read and written without a lock: the request
 * path does a few relaxed atomic adds per exchange (in flight across all
 * workers, the sliding window, the latency EWMA). Many workers write the
 * same fields, so unlike metrics.h the adds are real read-modify-writes;
 * the EWMA is a relaxed load and store (a lost update only skips one
 * sample). Whether the server may be picked is one word, `down`: zero is
 * the fast path.
 *
 * Who changes the state:
 *   - the prober of the server (health.c: one worker per server) sets and
 *     clears SS_DOWN on rise/fall;
 *   - any worker that sees a failure may set SS_EJECTED (outlier
 *     detection); it lapses at eject_until (see server_usable);
 *   - the admin API sets SS_DRAINED and the weight. */
#ifndef LUXY_SERVER_STATE_H
#define LUXY_SERVER_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct upstream_config;
struct server_config;

enum {
    SS_DOWN = 1,     /* active health checks failed `fall` times */
    SS_EJECTED = 2,  /* passive outlier detection, until eject_until */
    SS_DRAINED = 4,  /* admin: no new requests */
};

/* What an attempt on a server ended with (for outlier detection and the
 * strategies' on_result). */
enum attempt_result {
    AR_OK,           /* a response head came (any status below 500, or 5xx
                        not counted as failure) */
    AR_HTTP_5XX,     /* 502, 503 or 504 from the server */
    AR_CONNECT,      /* refused or timed out connecting */
    AR_RESET,        /* reset or closed before the response head */
    AR_TIMEOUT,      /* no response head within backend_read */
};

#define SS_WINDOW 10  /* seconds of the sliding error window */

struct server_state {
    _Atomic unsigned refs;
    _Atomic unsigned down;          /* SS_* bits; 0: may be picked */
    _Atomic unsigned weight;        /* current configured weight (admin may change) */
    _Atomic int64_t inflight;       /* exchanges in flight, every worker */
    _Atomic uint64_t latency_us;    /* EWMA of connect start to first byte */
    _Atomic uint64_t peak_us;       /* peak EWMA: jumps up at once, decays (server_peak_latency) */
    _Atomic uint64_t peak_at_ms;    /* its last sample */
    _Atomic unsigned consecutive_failures;
    struct ss_second {                /* the window: one slot per second, reused */
        _Atomic uint32_t at;          /* which second (wall clock) it counts */
        _Atomic uint32_t ok, failed;
    } window[SS_WINDOW];
    _Atomic unsigned ejections;     /* in a row (resets after a quiet spell) */
    _Atomic uint64_t eject_until_ms;  /* wall clock ms */
    _Atomic uint64_t up_since_ms;   /* when it last came back (slow start) */
    _Atomic uint64_t last_failure_ms;
    _Atomic int last_failure_kind;  /* enum attempt_result */
    /* the prober's own (one writer) */
    _Atomic unsigned rise_run, fall_run;
    _Atomic unsigned last_check_status; /* 0: no answer */
    _Atomic int reason;             /* enum server_reason: why down/ejected */
};

enum server_reason {
    SR_NONE,
    SR_CHECK_STATUS,     /* the health check answered an unexpected status */
    SR_CHECK_FAILED,     /* the health check got no answer */
    SR_CONSECUTIVE,      /* consecutive failures */
    SR_ERROR_RATE,       /* error rate over the window */
};

/* Bumped by every change of any server's state or weight: a worker that
 * sees it moved tells its strategies (lb.h on_change). */
extern _Atomic unsigned server_state_epoch;

struct server_state *server_state_new(unsigned weight);
struct server_state *server_state_hold(struct server_state *s);
void server_state_release(struct server_state *s);

/* Wall clock in milliseconds (CLOCK_REALTIME: shared by every thread). A
 * worker on its loop has it for free: server_loop_ms(ev_now(loop)). */
uint64_t server_now_ms(void);
static inline uint64_t server_loop_ms(double ev_now_seconds)
{
    return (uint64_t)(ev_now_seconds * 1000.0);
}

/* May it be picked now? (An ejection lapses by itself.) */
static inline bool server_usable(const struct server_state *s, uint64_t now_ms)
{
    unsigned d = atomic_load_explicit(&s->down, memory_order_relaxed);
    if (d == 0)
        return true;
    return d == SS_EJECTED && now_ms >= atomic_load_explicit(&s->eject_until_ms, memory_order_relaxed);
}

/* The peak-EWMA latency in microseconds as of now: a server that got no
 * sample for a while decays toward 0 (half in about 1.4 s), so one that
 * lost every draw is tried again and measured. */
double server_peak_latency(const struct server_state *s, uint64_t now_ms);

static inline int64_t server_inflight(const struct server_state *s)
{
    return atomic_load_explicit(&s->inflight, memory_order_relaxed);
}

/* Its weight now, in units of 1/SS_WEIGHT_UNIT: the configured (or
 * admin-set) one, ramped up over slow_start seconds after the server came
 * back, so even a server of weight 1 starts small. Never 0. The strategies
 * compare these; the ratios are the configured weights'. */
#define SS_WEIGHT_UNIT 64
unsigned server_weight(const struct server_state *s, double slow_start, uint64_t now_ms);

/* An attempt began / ended. `seconds`: connect start to first byte (AR_OK
 * only). Applies outlier detection (cfg's) and returns true when this
 * result ejected the server. `group` lists the group's states (for the
 * share that may be ejected at once). */
void server_begin(struct server_state *s);
void server_end(struct server_state *s);
bool server_result(struct server_state *s, enum attempt_result res, double seconds, uint64_t now_ms,
                   const struct upstream_config *cfg, struct server_state *const *group, unsigned n);

/* Successes and failures over the last SS_WINDOW seconds. */
void server_window(const struct server_state *s, uint64_t now_ms, unsigned *ok, unsigned *failed);
/* failed / (ok + failed) over the window, 0 when there was nothing. */
double server_error_rate(const struct server_state *s, uint64_t now_ms);

/* Health checks: the prober's verdicts. Return true when the state changed. */
bool server_check_passed(struct server_state *s, const struct upstream_config *cfg, unsigned status);
bool server_check_failed(struct server_state *s, const struct upstream_config *cfg, unsigned status);

/* Admin: drain (true) or undrain; set the weight (1..). */
void server_drain(struct server_state *s, bool drained);
void server_set_weight(struct server_state *s, unsigned weight);

/* "up", "down", "ejected", "draining", "slow_start" (one word for the
 * status page and b.state). */
const char *server_state_name(const struct server_state *s, double slow_start, uint64_t now_ms);
const char *server_reason_text(int reason);
const char *attempt_result_name(int res);

#endif
