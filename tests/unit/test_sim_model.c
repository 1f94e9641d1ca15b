/* test_sim_model.c - the simulator's backend model and histograms: a
 * model file read with its defaults, per-position overrides and events
 * (sorted by time, ties in file order); lognormal service times whose
 * median and p99 are the ones asked for; the errors a wrong model gets;
 * and latency histograms whose quantiles are within their 5% buckets. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../core/sim_model.h"
#include "../../core/sim_result.h"
#include "tap.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool load(struct sim_model *m, const char *src, char *err, size_t errlen)
{
    char path[] = "/tmp/luxy-sim-model-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, src, strlen(src)) != (ssize_t)strlen(src))
        return false;
    close(fd);
    bool ok = sim_model_load(m, path, err, errlen);
    unlink(path);
    return ok;
}

static struct sim_model m;

static void test_file(void)
{
    char err[512] = "";
    ok(load(&m,
            "return {\n"
            "  default = { capacity = 8, latency = { median = '10ms', p99 = '50ms' } },\n"
            "  backends = { [3] = { latency = 0.2, fail = 0.5, fail_kind = 'http_5xx', queue = 0 } },\n"
            "  events = { { at = '2m', backend = 1, leave = true }, { at = 5, backend = 2, slow = 4, duration = '1s' },\n"
            "             { at = '2m', backend = 2, down = true }, { at = 1, backend = 3, fail = 1, fail_kind = 'connect' } },\n"
            "}\n",
            err, sizeof(err)),
       "loads: %s", err);
    const struct sim_backend_model *b1 = sim_model_backend(&m, 0), *b3 = sim_model_backend(&m, 2);
    is_int(b1->capacity, 8, "default capacity");
    is_int(b1->queue, 100000, "default queue");
    ok(b1->median == 0.010 && fabs(b1->sigma - log(5) / 2.3263478740408408) < 1e-9, "lognormal by median and p99");
    ok(b3->median == 0.2 && b3->sigma == 0, "a constant latency");
    is_int(b3->capacity, 8, "an override keeps the default's other fields");
    is_int(b3->fail_kind, AR_HTTP_5XX, "fail_kind");
    is_int(b3->queue, 0, "queue 0");
    is_int(m.nb, 3, "backends described");
    is_int(m.nev, 4, "events");
    ok(m.ev[0].at == 1 && m.ev[0].kind == SIM_FAIL && m.ev[0].fail_kind == AR_CONNECT && m.ev[0].backend == 2,
       "sorted by time, positions 0-based");
    ok(m.ev[1].at == 5 && m.ev[1].kind == SIM_SLOW && m.ev[1].value == 4 && m.ev[1].duration == 1, "slow");
    ok(m.ev[2].kind == SIM_LEAVE && m.ev[3].kind == SIM_DOWN, "a tie at 2m keeps the file's order");
}

static void test_lognormal(void)
{
    struct sim_backend_model b = { .capacity = 1, .median = 0.020 };
    b.sigma = log(0.100 / 0.020) / 2.3263478740408408;
    struct sim_rng g;
    sim_rng_seed(&g, 42, 0);
    enum { N = 200000 };
    static double v[N];
    for (int i = 0; i < N; i++)
        v[i] = sim_model_service(&b, &g);
    qsort(v, N, sizeof(v[0]), cmp);
    ok(fabs(v[N / 2] / 0.020 - 1) < 0.02, "median %.5f (0.020)", v[N / 2]);
    ok(fabs(v[N * 99 / 100] / 0.100 - 1) < 0.04, "p99 %.5f (0.100)", v[N * 99 / 100]);
}

static void test_wrong(void)
{
    static const char *const bad[] = {
        "return 5",
        "return { default = { capacity = 0 } }",
        "return { default = { latency = { median = '10ms', p99 = '1ms' } } }",
        "return { default = { fail = 2 } }",
        "return { default = { fail_kind = 'boom' } }",
        "return { backends = { x = {} } }",
        "return { events = { { backend = 1, slow = 2 } } }",
        "return { events = { { at = 1, backend = 1 } } }",
        "return { events = { { at = 1, backend = 1, slow = 2, down = true } } }",
        "return { events = { { at = 1, backend = 0, down = true } } }",
        "syntax error here",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        ok(!load(&m, bad[i], err, sizeof(err)) && strstr(err, "/tmp/luxy-sim-model-"), "%s: %s", bad[i], err);
    }
}

static void test_histogram(void)
{
    static struct sim_hist h;
    for (int i = 1; i <= 1000; i++)
        sim_hist_add(&h, i * 0.001); /* 1 ms .. 1 s, uniform */
    is_int(h.count, 1000, "count");
    ok(fabs(sim_hist_quantile(&h, 0.5) / 0.5 - 1) < 0.05, "p50 %.4f", sim_hist_quantile(&h, 0.5));
    ok(fabs(sim_hist_quantile(&h, 0.99) / 0.99 - 1) < 0.05, "p99 %.4f", sim_hist_quantile(&h, 0.99));
    ok(h.max == 1.0, "max");
    static struct sim_hist empty;
    ok(sim_hist_quantile(&empty, 0.5) == 0, "empty: 0");
    uint32_t s[SIM_SHIST] = { 0 };
    s[sim_shist_bucket(0.010)] = 10;
    ok(fabs(sim_shist_quantile(s, 0.5) / 0.010 - 1) < 0.2, "coarse buckets: %.4f", sim_shist_quantile(s, 0.5));
}

int main(void)
{
    test_file();
    test_lognormal();
    test_wrong();
    test_histogram();
    return tap_done("sim_model");
}
