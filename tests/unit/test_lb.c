/* test_lb.c - the balancing strategies on a hand-made upstream: smooth
 * weighted round robin's exact order, weighted least connections (ties
 * shared by weight), weighted random within tolerance, and what they all
 * share: tried backends skipped, healthy ones preferred, -1 when none. */
#include <stdlib.h>

#include "../../core/lb.h"
#include "../../core/upstream.h"
#include "tap.h"

static struct server_config servers[8];
static struct backend backends[8];
static struct upstream up;

static void make(unsigned n, const unsigned *weights)
{
    memset(&up, 0, sizeof(up));
    memset(backends, 0, sizeof(backends));
    up.n = n;
    up.backends = backends;
    for (unsigned i = 0; i < n; i++) {
        servers[i].weight = weights[i];
        backends[i].cfg = &servers[i];
        backends[i].up = &up;
        backends[i].index = i;
        backends[i].healthy = true;
    }
}

static void test_wrr_order(void)
{
    const unsigned w[] = { 5, 1, 1 };
    make(3, w);
    struct lb_tried none = { { 0 } };
    char seq[15];
    for (int i = 0; i < 14; i++)
        seq[i] = (char)('a' + lb_pick(&lb_wrr, &up, &none));
    seq[14] = 0;
    is_str(seq, "aabacaaaabacaa", "smooth: weights 5,1,1 never burst five a's");
}

static void test_wrr_shares(void)
{
    const unsigned w[] = { 1, 2, 3 };
    make(3, w);
    struct lb_tried none = { { 0 } };
    int count[3] = { 0 };
    for (int i = 0; i < 600; i++)
        count[lb_pick(&lb_wrr, &up, &none)]++;
    ok(count[0] == 100 && count[1] == 200 && count[2] == 300, "wrr 1:2:3 exact: %d %d %d", count[0],
       count[1], count[2]);
}

static void test_least_conn(void)
{
    const unsigned w[] = { 1, 2, 3 };
    make(3, w);
    struct lb_tried none = { { 0 } };
    int count[3] = { 0 };
    for (int i = 0; i < 60; i++) /* sequential: every count is 0 at each pick */
        count[lb_pick(&lb_least_conn, &up, &none)]++;
    ok(count[0] == 10 && count[1] == 20 && count[2] == 30,
       "ties are shared by weight (sequential 1:2:3): %d %d %d", count[0], count[1], count[2]);
    backends[0].inflight = 0;
    backends[1].inflight = 1;
    backends[2].inflight = 1;
    is_int(lb_pick(&lb_least_conn, &up, &none), 0, "an idle backend wins");
    backends[0].inflight = 2; /* 2/1 = 2 vs 1/2 and 1/3 */
    is_int(lb_pick(&lb_least_conn, &up, &none), 2, "load is in-flight per weight: 1/3 is least");
    backends[2].inflight = 3; /* 2/1, 1/2, 3/3 */
    is_int(lb_pick(&lb_least_conn, &up, &none), 1, "1/2 is least");
}

static void test_random_shares(void)
{
    const unsigned w[] = { 1, 3 };
    make(2, w);
    struct lb_tried none = { { 0 } };
    int count[2] = { 0 };
    for (int i = 0; i < 40000; i++)
        count[lb_pick(&lb_random, &up, &none)]++;
    ok(count[1] > 29000 && count[1] < 31000, "random 1:3 within 1/30: %d %d", count[0], count[1]);
}

static void test_tried_and_health(void)
{
    const unsigned w[] = { 1, 1, 1 };
    const struct lb_ops *all[] = { &lb_wrr, &lb_least_conn, &lb_random };
    for (size_t k = 0; k < 3; k++) {
        const struct lb_ops *ops = all[k];
        make(3, w);
        struct lb_tried t = { { 0 } };
        lb_mark_tried(&t, 0);
        lb_mark_tried(&t, 2);
        for (int i = 0; i < 10; i++)
            is_int(lb_pick(ops, &up, &t), 1, ops->name);
        lb_mark_tried(&t, 1);
        is_int(lb_pick(ops, &up, &t), -1, "every backend tried");
        struct lb_tried none = { { 0 } };
        backends[0].healthy = backends[1].healthy = false;
        for (int i = 0; i < 10; i++)
            is_int(lb_pick(ops, &up, &none), 2, "the healthy one is preferred");
        backends[2].healthy = false;
        ok(lb_pick(ops, &up, &none) >= 0, "%s: none healthy: any untried one", ops->name);
    }
}

static void test_table(void)
{
    ok(lb_find("wrr") == &lb_wrr && lb_find("least_conn") == &lb_least_conn && lb_find("random") == &lb_random,
       "names find their strategies");
    ok(lb_find("first") == &lb_first, "first");
    ok(lb_find("nope") == NULL, "unknown name");
    is_str(lb_names(), "wrr, random, least_conn, first", "names listed from the table");
}

/* first: configuration order, skipping what a retry already tried */
static void test_first(void)
{
    const unsigned w[] = { 1, 5, 1 };
    make(3, w);
    struct lb_tried t = { { 0 } };
    int a = lb_pick(&lb_first, &up, &t);
    lb_mark_tried(&t, (unsigned)a);
    int b = lb_pick(&lb_first, &up, &t);
    lb_mark_tried(&t, (unsigned)b);
    int c = lb_pick(&lb_first, &up, &t);
    lb_mark_tried(&t, (unsigned)c);
    ok(a == 0 && b == 1 && c == 2 && lb_pick(&lb_first, &up, &t) == -1, "0, then 1, then 2, then none");
}

int main(void)
{
    test_wrr_order();
    test_first();
    test_wrr_shares();
    test_least_conn();
    test_random_shares();
    test_tried_and_health();
    test_table();
    return tap_done("lb");
}
