/* test_lb.c - the balancing strategies on a hand-made upstream: smooth
 * weighted round robin's exact order, round robin, weighted least
 * connections over the shared in-flight counts (ties shared by weight),
 * weighted random within tolerance, P2C on load and on latency, the hash
 * ring (about 1/N of keys move when one of N servers is added or
 * removed), bounded loads, and what they all share: tried servers
 * skipped, down / ejected / drained ones never picked, -1 when none may;
 * then the server state itself: slow start, outlier ejection with its
 * share and backoff, rise and fall, and the retry budget. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "../../core/config.h"
#include "../../core/lb.h"
#include "../../core/retry_budget.h"
#include "../../core/server_state.h"
#include "../../core/upstream.h"
#include "tap.h"

#define MAXS 16

static struct upstream_config ucfg;
static struct server_config servers[MAXS];
static struct backend backends[MAXS];
static struct metrics_server_slot slots[MAXS];
static struct server_state *states[MAXS];
static unsigned ring_weights[MAXS];
static struct upstream up;
static char specs[MAXS][32];

static struct lb_query query(const struct lb_tried *t)
{
    return (struct lb_query){ .tried = t, .now_ms = server_now_ms() };
}

static int pick(const struct lb_ops *ops)
{
    static const struct lb_tried none;
    struct lb_query q = query(&none);
    return lb_pick(ops, &up, &q);
}

static int pick_key(const struct lb_ops *ops, uint64_t key)
{
    static const struct lb_tried none;
    struct lb_query q = query(&none);
    q.key = key;
    q.has_key = true;
    return lb_pick(ops, &up, &q);
}

static void set_inflight(unsigned i, int64_t n)
{
    atomic_store(&states[i]->inflight, n);
}

static void make(unsigned n, const unsigned *weights)
{
    lb_ring_free(&up);
    for (unsigned i = 0; i < MAXS; i++)
        if (states[i]) {
            server_state_release(states[i]);
            states[i] = NULL;
        }
    memset(&up, 0, sizeof(up));
    memset(&ucfg, 0, sizeof(ucfg));
    memset(backends, 0, sizeof(backends));
    memset(slots, 0, sizeof(slots));
    ucfg.name = "app";
    ucfg.outlier = (struct outlier_config){ 5, 0, 20, 10, 300, 0.5 };
    ucfg.retry = (struct retry_config){ 0.2, 10, 0 };
    ucfg.health.rise = 2;
    ucfg.health.fall = 3;
    up.cfg = &ucfg;
    up.n = n;
    up.backends = backends;
    up.states = states;
    up.ring_weights = ring_weights;
    up.lb = &lb_wrr;
    for (unsigned i = 0; i < n; i++) {
        snprintf(specs[i], sizeof(specs[i]), "10.0.0.%u:80", i + 1);
        servers[i].spec = specs[i];
        servers[i].weight = weights[i];
        states[i] = server_state_new(weights[i]);
        backends[i].cfg = &servers[i];
        backends[i].up = &up;
        backends[i].index = i;
        backends[i].m = &slots[i];
        backends[i].st = states[i];
    }
}

static void test_wrr_order(void)
{
    const unsigned w[] = { 5, 1, 1 };
    make(3, w);
    char seq[15];
    for (int i = 0; i < 14; i++)
        seq[i] = (char)('a' + pick(&lb_wrr));
    seq[14] = 0;
    is_str(seq, "aabacaaaabacaa", "smooth: weights 5,1,1 never burst five a's");
}

static void test_wrr_shares(void)
{
    const unsigned w[] = { 1, 2, 3 };
    make(3, w);
    int count[3] = { 0 };
    for (int i = 0; i < 600; i++)
        count[pick(&lb_wrr)]++;
    ok(count[0] == 100 && count[1] == 200 && count[2] == 300, "wrr 1:2:3 exact: %d %d %d", count[0],
       count[1], count[2]);
    server_set_weight(states[0], 3); /* the admin's weight is read live */
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 800; i++)
        count[pick(&lb_wrr)]++;
    ok(count[0] == 300 && count[1] == 200 && count[2] == 300, "a new weight counts at once: %d %d %d",
       count[0], count[1], count[2]);
}

static void test_rr(void)
{
    const unsigned w[] = { 1, 5, 1 };
    make(3, w);
    char seq[7];
    for (int i = 0; i < 6; i++)
        seq[i] = (char)('a' + pick(&lb_rr));
    seq[6] = 0;
    is_str(seq, "abcabc", "rr: each in turn, weights ignored");
    server_drain(states[1], true);
    for (int i = 0; i < 4; i++)
        seq[i] = (char)('a' + pick(&lb_rr));
    seq[4] = 0;
    is_str(seq, "acac", "rr skips a drained server");
}

static void test_least_conn(void)
{
    const unsigned w[] = { 1, 2, 3 };
    make(3, w);
    int count[3] = { 0 };
    for (int i = 0; i < 60; i++) /* sequential: every count is 0 at each pick */
        count[pick(&lb_least_conn)]++;
    ok(count[0] == 10 && count[1] == 20 && count[2] == 30,
       "ties are shared by weight (sequential 1:2:3): %d %d %d", count[0], count[1], count[2]);
    set_inflight(0, 0);
    set_inflight(1, 1);
    set_inflight(2, 1);
    is_int(pick(&lb_least_conn), 0, "an idle backend wins");
    set_inflight(0, 2); /* 2/1 = 2 vs 1/2 and 1/3 */
    is_int(pick(&lb_least_conn), 2, "load is in-flight per weight: 1/3 is least");
    set_inflight(2, 3); /* 2/1, 1/2, 3/3 */
    is_int(pick(&lb_least_conn), 1, "1/2 is least");
}

/* Other workers move the shared in-flight counts and weights while this
 * one picks: a pick must still find a server (a strategy that read a
 * count twice and compared the two once skipped every server and wrote
 * before its array). */
static _Atomic bool churning;

static void *churn(void *arg)
{
    (void)arg;
    unsigned x = 1;
    while (atomic_load(&churning)) {
        x = x * 1103515245u + 12345u;
        atomic_store(&states[(x >> 8) % 3]->inflight, (int64_t)((x >> 16) % 4));
        server_set_weight(states[(x >> 4) % 3], 1 + (x >> 20) % 3);
    }
    return NULL;
}

static void test_picks_while_others_count(void)
{
    const unsigned w[] = { 1, 2, 3 };
    const struct lb_ops *all[] = { &lb_least_conn, &lb_random, &lb_wrr, &lb_p2c, &lb_p2c_ewma };
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        make(3, w);
        atomic_store(&churning, true);
        pthread_t t;
        pthread_create(&t, NULL, churn, NULL);
        long none = 0, picks = 0;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        do { /* bounded: 300 ms or 2 million picks */
            for (int i = 0; i < 1000; i++)
                none += pick(all[k]) < 0;
            picks += 1000;
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (picks < 2000000 && (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 300);
        atomic_store(&churning, false);
        pthread_join(t, NULL);
        ok(none == 0, "%s: every one of %ld picks found a server while another thread counted (%ld did not)",
           all[k]->name, picks, none);
    }
}

static void test_random_shares(void)
{
    const unsigned w[] = { 1, 3 };
    make(2, w);
    int count[2] = { 0 };
    for (int i = 0; i < 40000; i++)
        count[pick(&lb_random)]++;
    ok(count[1] > 29000 && count[1] < 31000, "random 1:3 within 1/30: %d %d", count[0], count[1]);
}

static void test_p2c(void)
{
    const unsigned w[] = { 1, 1, 1 };
    make(3, w);
    set_inflight(0, 10); /* a busy one */
    int count[3] = { 0 };
    for (int i = 0; i < 3000; i++)
        count[pick(&lb_p2c)]++;
    /* server 0 wins only when drawn against... never: both draws are distinct */
    is_int(count[0], 0, "p2c: the busiest of three is never the lesser of two");
    ok(count[1] > 1200 && count[2] > 1200, "p2c spreads over the others: %d %d", count[1], count[2]);
    make(3, w);
    atomic_store(&states[0]->peak_us, 200000); /* 200 ms */
    atomic_store(&states[1]->peak_us, 2000);
    atomic_store(&states[2]->peak_us, 2000);
    for (unsigned i = 0; i < 3; i++)
        atomic_store(&states[i]->peak_at_ms, server_now_ms()); /* fresh samples */
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3000; i++)
        count[pick(&lb_p2c_ewma)]++;
    is_int(count[0], 0, "p2c_ewma: the slow server loses every draw");
    /* peak EWMA: a slow sample counts at once, then decays */
    make(1, w);
    for (int i = 0; i < 10; i++)
        server_result(states[0], AR_OK, 0.002, server_now_ms(), &ucfg, states, 1);
    uint64_t fast = atomic_load(&states[0]->peak_us);
    server_result(states[0], AR_OK, 0.5, server_now_ms(), &ucfg, states, 1);
    uint64_t peak = atomic_load(&states[0]->peak_us);
    for (int i = 0; i < 40; i++)
        server_result(states[0], AR_OK, 0.002, server_now_ms(), &ucfg, states, 1);
    uint64_t later = atomic_load(&states[0]->peak_us);
    ok(fast == 2000 && peak == 500000 && later < 10000, "peak EWMA: 2ms, jumps to 500ms, decays: %lu %lu %lu",
       (unsigned long)fast, (unsigned long)peak, (unsigned long)later);
    atomic_store(&states[0]->peak_us, 500000);
    uint64_t at = atomic_load(&states[0]->peak_at_ms);
    ok(server_peak_latency(states[0], at) == 500000 && server_peak_latency(states[0], at + 2000) < 200000 &&
           server_peak_latency(states[0], at + 20000) < 100,
       "without samples it decays with time: a server that lost every draw is tried again");
}

/* keys 0..K-1 hashed, over n servers */
#define K 20000
static int owner[K];

static void assign(unsigned n, const struct lb_ops *ops)
{
    (void)n;
    for (unsigned k = 0; k < K; k++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "/item/%u", k);
        owner[k] = pick_key(ops, lb_hash(key, (size_t)len));
    }
}

static void test_chash_movement(void)
{
    unsigned w[MAXS];
    for (unsigned i = 0; i < MAXS; i++)
        w[i] = 1;
    static int before[K];
    make(4, w);
    assign(4, &lb_chash);
    memcpy(before, owner, sizeof(before));
    int count[5] = { 0 };
    for (unsigned k = 0; k < K; k++)
        count[owner[k]]++;
    ok(count[0] > K / 4 * 0.75 && count[3] < K / 4 * 1.25, "the ring spreads keys: %d %d %d %d", count[0],
       count[1], count[2], count[3]);
    make(5, w); /* a fifth server: about 1/5 of keys move, all to it */
    assign(5, &lb_chash);
    unsigned moved = 0, elsewhere = 0;
    for (unsigned k = 0; k < K; k++)
        if (owner[k] != before[k]) {
            moved++;
            elsewhere += owner[k] != 4;
        }
    ok(moved > K / 5 * 0.7 && moved < K / 5 * 1.3, "adding 1 of 5 moves about 1/5 of keys: %u of %d", moved, K);
    is_int(elsewhere, 0, "every moved key went to the new server");
    make(4, w);
    server_drain(states[2], true); /* its keys go to the neighbours; no other key moves */
    assign(4, &lb_chash);
    unsigned others = 0, from = 0;
    for (unsigned k = 0; k < K; k++) {
        if (before[k] == 2)
            from += owner[k] != 2;
        else
            others += owner[k] != before[k];
    }
    ok(from == (unsigned)count[2] && others == 0, "removing one: only its keys move (%u of %d; others %u)", from,
       count[2], others);
    /* a weight change rebuilds the ring (on_change) */
    make(2, w);
    assign(2, &lb_chash);
    server_set_weight(states[0], 3);
    up.lb = &lb_chash;
    assign(2, &lb_chash);
    unsigned zero = 0;
    for (unsigned k = 0; k < K; k++)
        zero += owner[k] == 0;
    ok(zero > K * 0.68 && zero < K * 0.82, "weight 3:1 after a change: %u of %d on the first", zero, K);
}

static void test_chash_bounded(void)
{
    unsigned w[] = { 1, 1, 1, 1 };
    make(4, w);
    ucfg.hash_balance = 1.25;
    /* every request has the same key: plain chash sends all to one server;
     * bounded loads spill over once it has more than 1.25 x average */
    int first = pick_key(&lb_chash_bounded, 42);
    for (int i = 0; i < 40; i++) {
        int s = pick_key(&lb_chash_bounded, 42);
        atomic_fetch_add(&states[s]->inflight, 1); /* each stays in flight */
    }
    int64_t max = 0, total = 0;
    for (unsigned i = 0; i < 4; i++) {
        int64_t n = atomic_load(&states[i]->inflight);
        total += n;
        if (n > max)
            max = n;
    }
    ok(max <= (int64_t)(1.25 * total / 4 + 1), "no server above 1.25 x the average: max %ld of %ld", (long)max,
       (long)total);
    ok(atomic_load(&states[first]->inflight) >= max, "the key's own server is filled first");
    for (int i = 0; i < 10; i++)
        is_int(pick_key(&lb_chash, 42), first, "plain chash keeps the key on its server");
}

static void test_tried_and_state(void)
{
    const unsigned w[] = { 1, 1, 1 };
    const struct lb_ops *all[] = { &lb_wrr, &lb_rr, &lb_least_conn, &lb_random, &lb_p2c, &lb_p2c_ewma, &lb_first };
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        const struct lb_ops *ops = all[k];
        make(3, w);
        struct lb_tried t = { { 0 } };
        lb_mark_tried(&t, 0);
        lb_mark_tried(&t, 2);
        struct lb_query q = query(&t);
        int same = 0;
        for (int i = 0; i < 10; i++)
            same += lb_pick(ops, &up, &q) == 1;
        ok(same == 10, "%s: tried servers are skipped", ops->name);
        lb_mark_tried(&t, 1);
        is_int(lb_pick(ops, &up, &q), -1, "every backend tried");
        atomic_fetch_or(&states[0]->down, SS_DOWN);
        server_drain(states[1], true);
        same = 0;
        for (int i = 0; i < 10; i++)
            same += pick(ops) == 2;
        ok(same == 10, "%s: down and drained servers are never picked", ops->name);
        atomic_store(&states[2]->eject_until_ms, server_now_ms() + 10000);
        atomic_fetch_or(&states[2]->down, SS_EJECTED);
        is_int(pick(ops), -1, "none may be picked: -1 (a quick 503)");
        atomic_store(&states[2]->eject_until_ms, server_now_ms() - 1);
        is_int(pick(ops), 2, "an ejection lapses by itself");
    }
}

static void test_slow_start(void)
{
    const unsigned w[] = { 10 };
    make(1, w);
    uint64_t now = server_now_ms();
    is_int(server_weight(states[0], 10, now), 10 * SS_WEIGHT_UNIT, "a server never down has its full weight");
    atomic_store(&states[0]->up_since_ms, now);
    ok(server_weight(states[0], 10, now) == 1, "just back: the least weight (not 0)");
    is_int(server_weight(states[0], 10, now + 5000), 5 * SS_WEIGHT_UNIT, "half way: half the weight");
    is_int(server_weight(states[0], 10, now + 10000), 10 * SS_WEIGHT_UNIT, "after the window: all of it");
    is_str(server_state_name(states[0], 10, now + 5000), "slow_start", "the state says so");
}

static void test_outlier(void)
{
    const unsigned w[] = { 1, 1, 1, 1 };
    make(4, w);
    for (int i = 0; i < 4; i++)
        ok(!server_result(states[0], AR_CONNECT, 0, server_now_ms(), &ucfg, states, 4), "failure %d: not yet", i + 1);
    ok(server_result(states[0], AR_RESET, 0, server_now_ms(), &ucfg, states, 4), "the fifth in a row ejects");
    ok(!server_usable(states[0], server_now_ms()), "ejected: not picked");
    uint64_t first = atomic_load(&states[0]->eject_until_ms) - server_now_ms();
    ok(first > 9000 && first <= 10000, "for eject = 10s: %lu ms", (unsigned long)first);
    /* another server: the share (0.5 of 4 = 2) allows one more, not a third */
    for (int i = 0; i < 5; i++)
        server_result(states[1], AR_TIMEOUT, 0, server_now_ms(), &ucfg, states, 4);
    ok(!server_usable(states[1], server_now_ms()), "a second one: 2 of 4 out is within max_share 0.5");
    bool third = false;
    for (int i = 0; i < 5; i++)
        third |= server_result(states[2], AR_HTTP_5XX, 0, server_now_ms(), &ucfg, states, 4);
    ok(!third && server_usable(states[2], server_now_ms()), "a third is never ejected (max_share)");
    /* the lapsed ejection fails again: out for twice as long */
    atomic_store(&states[0]->eject_until_ms, server_now_ms() - 1);
    for (int i = 0; i < 5; i++)
        server_result(states[0], AR_CONNECT, 0, server_now_ms(), &ucfg, states, 4);
    uint64_t second = atomic_load(&states[0]->eject_until_ms) - server_now_ms();
    ok(second > 19000 && second <= 20000, "the backoff doubles: %lu ms", (unsigned long)second);
    /* a success after the lapse brings it back, ramping */
    atomic_store(&states[0]->eject_until_ms, server_now_ms() - 1);
    server_result(states[0], AR_OK, 0.001, server_now_ms(), &ucfg, states, 4);
    is_int((int)atomic_load(&states[0]->down), 0, "a success after the ejection: back");
    /* error rate */
    make(4, w);
    ucfg.outlier.consecutive = 0;
    ucfg.outlier.error_rate = 0.5;
    ucfg.outlier.min_requests = 10;
    bool out = false;
    for (int i = 0; i < 20 && !out; i++)
        out = server_result(states[0], i % 3 ? AR_RESET : AR_OK, 0, server_now_ms(), &ucfg, states, 4);
    ok(out, "2 of 3 failing over the window ejects (error_rate 0.5)");
    ok(server_error_rate(states[0], server_now_ms()) > 0.5, "the window's error rate: %.2f",
       server_error_rate(states[0], server_now_ms()));
}

static void test_health_rise_fall(void)
{
    const unsigned w[] = { 1 };
    make(1, w);
    ok(!server_check_failed(states[0], &ucfg, 500) && !server_check_failed(states[0], &ucfg, 500),
       "two failed checks: still up (fall = 3)");
    ok(server_check_failed(states[0], &ucfg, 0), "the third: down");
    is_str(server_state_name(states[0], 0, server_now_ms()), "down", "named down");
    ok(!server_check_passed(states[0], &ucfg, 200), "one pass: still down (rise = 2)");
    ok(server_check_failed(states[0], &ucfg, 0) == false, "a failure resets the rise");
    ok(!server_check_passed(states[0], &ucfg, 200) && server_check_passed(states[0], &ucfg, 200),
       "two passes in a row: up");
    ok(server_usable(states[0], server_now_ms()), "picked again");
}

static void test_retry_budget(void)
{
    struct retry_budget b;
    memset(&b, 0, sizeof(b));
    struct retry_config cfg = { 0.2, 0, 0 };
    uint64_t now = 1000000;
    for (int i = 0; i < 100; i++)
        retry_budget_request(&b, now);
    int taken = 0;
    for (int i = 0; i < 100; i++)
        taken += retry_budget_take(&b, &cfg, now);
    is_int(taken, 20, "20% of 100 requests");
    cfg.min_per_second = 1;
    taken = 0;
    for (int i = 0; i < 100; i++)
        taken += retry_budget_take(&b, &cfg, now);
    is_int(taken, 10, "plus 1/s over the 10 s window");
    now += 11000; /* the window moved on */
    retry_budget_request(&b, now);
    ok(retry_budget_take(&b, &cfg, now), "a new window");
}

static void test_table(void)
{
    ok(lb_find("wrr") == &lb_wrr && lb_find("least_conn") == &lb_least_conn && lb_find("random") == &lb_random,
       "names find their strategies");
    ok(lb_find("p2c_ewma") == &lb_p2c_ewma && lb_find("chash_bounded") == &lb_chash_bounded &&
           lb_find("ip_hash") == &lb_ip_hash && lb_find("rr") == &lb_rr,
       "the new ones");
    ok(lb_find("nope") == NULL, "unknown name");
    is_str(lb_names(), "wrr, rr, random, least_conn, p2c, p2c_ewma, chash, chash_bounded, ip_hash, first",
           "names listed from the table");
}

/* first: configuration order, skipping what a retry already tried */
static void test_first(void)
{
    const unsigned w[] = { 1, 5, 1 };
    make(3, w);
    struct lb_tried t = { { 0 } };
    struct lb_query q = query(&t);
    int a = lb_pick(&lb_first, &up, &q);
    lb_mark_tried(&t, (unsigned)a);
    int b = lb_pick(&lb_first, &up, &q);
    lb_mark_tried(&t, (unsigned)b);
    int c = lb_pick(&lb_first, &up, &q);
    lb_mark_tried(&t, (unsigned)c);
    ok(a == 0 && b == 1 && c == 2 && lb_pick(&lb_first, &up, &q) == -1, "0, then 1, then 2, then none");
}

int main(void)
{
    test_wrr_order();
    test_wrr_shares();
    test_rr();
    test_least_conn();
    test_random_shares();
    test_picks_while_others_count();
    test_p2c();
    test_chash_movement();
    test_chash_bounded();
    test_tried_and_state();
    test_slow_start();
    test_outlier();
    test_health_rise_fall();
    test_retry_budget();
    test_table();
    test_first();
    make(0, NULL);
    return tap_done("lb");
}
