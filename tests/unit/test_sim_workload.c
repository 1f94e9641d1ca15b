/* test_sim_workload.c - the synthetic workload: a seed gives the same
 * arrivals and requests, another seed others; Poisson arrivals at their
 * rate; on/off phases (rate during "on", none during "off"); the Zipf
 * popularity of keys (key 1's share is 1/H(N,s)); the size mix; closed
 * loop counting; and the errors a wrong table gets. */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>

#include "../../core/sim_workload.h"
#include "tap.h"

static bool load(struct sim_workload *w, const char *src, uint64_t seed, char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    bool ok = luaL_dostring(L, src) == LUA_OK && lua_istable(L, -1) &&
              sim_workload_from_table(w, L, -1, seed, err, errlen);
    lua_close(L);
    return ok;
}

static void test_poisson_and_seed(void)
{
    struct sim_workload a, b, c;
    char err[256] = "";
    const char *src = "return { rate = 100, duration = 100, keys = { count = 50, zipf = 1.0 } }";
    ok(load(&a, src, 7, err, sizeof(err)) && load(&b, src, 7, err, sizeof(err)) && load(&c, src, 8, err, sizeof(err)),
       "loads: %s", err);
    unsigned n = 0;
    bool same = true, differs = false;
    double last = 0;
    for (;;) {
        double ta = sim_workload_next_arrival(&a), tb = sim_workload_next_arrival(&b), tc = sim_workload_next_arrival(&c);
        struct sim_wreq ra, rb, rc;
        if (ta < 0)
            break;
        sim_workload_request(&a, &ra);
        sim_workload_request(&b, &rb);
        if (tc >= 0)
            sim_workload_request(&c, &rc);
        same = same && ta == tb && strcmp(ra.target, rb.target) == 0;
        differs = differs || ta != tc;
        same = same && ta >= last; /* and in order */
        last = ta;
        n++;
    }
    ok(same, "the same seed: the same arrivals and keys, in order");
    ok(differs, "another seed: other arrivals");
    ok(n > 9400 && n < 10600, "rate 100 for 100 s: %u arrivals (10000 +- 6%%)", n);
    ok(last < 100, "none after the duration");
    sim_workload_free(&a), sim_workload_free(&b), sim_workload_free(&c);
}

static void test_phases(void)
{
    struct sim_workload w;
    char err[256] = "";
    ok(load(&w, "return { phases = { { rate = 1000, mean = 2 }, { rate = 0, mean = 8 } }, duration = 400 }", 3, err,
            sizeof(err)),
       "on/off phases: %s", err);
    /* per second counts: seconds with arrivals are bursts at ~1000/s; on average a fifth of the time */
    static unsigned per[400];
    double t;
    unsigned total = 0;
    while ((t = sim_workload_next_arrival(&w)) >= 0) {
        per[(unsigned)t]++;
        total++;
    }
    unsigned empty = 0, busy = 0;
    for (int i = 0; i < 400; i++)
        empty += per[i] == 0, busy += per[i] > 900;
    ok(total > 40000 && total < 120000, "about a fifth of 400 s at 1000/s: %u", total);
    ok(empty > 150, "off phases: %u empty seconds of 400", empty);
    ok(busy > 20, "on phases: %u seconds at the burst rate", busy);
    sim_workload_free(&w);
}

static void test_zipf_and_sizes(void)
{
    struct sim_workload w;
    char err[256] = "";
    ok(load(&w,
            "return { rate = 10, requests = 200000, keys = { count = 100, zipf = 1.2, prefix = '/k/' },"
            " sizes = { { share = 3, bytes = 100 }, { share = 1, bytes = 5000 } } }",
            1, err, sizeof(err)),
       "zipf: %s", err);
    double h = 0;
    for (int k = 1; k <= 100; k++)
        h += pow(k, -1.2);
    unsigned first = 0, second = 0, small = 0, n = 0, out_of_range = 0;
    while (sim_workload_next_arrival(&w) >= 0) {
        struct sim_wreq r;
        sim_workload_request(&w, &r);
        first += r.key == 1, second += r.key == 2;
        small += r.bytes == 100;
        out_of_range += r.key < 1 || r.key > 100;
        n++;
    }
    is_int(n, 200000, "stops at requests");
    is_int(out_of_range, 0, "keys out of 1..100");
    double want = 1 / h;
    ok(fabs((double)first / n - want) < 0.01, "key 1's share %.4f, 1/H = %.4f", (double)first / n, want);
    ok(fabs((double)second / n - want * pow(2, -1.2)) < 0.01, "key 2's share %.4f", (double)second / n);
    ok(fabs((double)small / n - 0.75) < 0.01, "sizes by share: %.4f small", (double)small / n);
    struct sim_wreq r;
    sim_workload_request(&w, &r);
    ok(strncmp(r.target, "/k/", 3) == 0, "targets have the prefix: %s", r.target);
    sim_workload_free(&w);
}

static void test_closed_loop_and_errors(void)
{
    struct sim_workload w;
    char err[256] = "";
    ok(load(&w, "return { clients = 4, requests = 10, think = '5ms' }", 1, err, sizeof(err)), "closed: %s", err);
    ok(w.think == 0.005, "think as a duration");
    is_int(sim_workload_next_arrival(&w), -1, "no open-loop arrivals");
    unsigned taken = 0;
    while (sim_workload_take(&w, 0) && taken < 100)
        taken++;
    is_int(taken, 10, "requests taken");
    sim_workload_free(&w);
    static const char *const bad[] = {
        "return { rate = 5 }",                                   /* no end */
        "return { rate = 5, clients = 2, duration = 1 }",        /* open and closed */
        "return { duration = 1 }",                               /* no traffic */
        "return { rate = 5, duration = 'soon' }",
        "return { rate = 5, duration = 1, keys = { count = 0 } }",
        "return { rate = 5, duration = 1, sizes = { { share = 1 } } }",
        "return { phases = { { rate = 5 } }, duration = 1 }",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        ok(!load(&w, bad[i], 1, err, sizeof(err)) && err[0], "refused with a reason: %s (%s)", bad[i], err);
    }
}

int main(void)
{
    test_poisson_and_seed();
    test_phases();
    test_zipf_and_sizes();
    test_closed_loop_and_errors();
    return tap_done("sim_workload");
}
