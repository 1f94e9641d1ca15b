/* sim_result.c - the latency histograms (sim_result.h). */
#include "sim_result.h"

#include <math.h>

static unsigned bucket(double seconds, unsigned per_decade, unsigned n)
{
    if (!(seconds > SIM_HIST_MIN))
        return 0;
    double b = floor(log10(seconds / SIM_HIST_MIN) * per_decade) + 1;
    return b >= n - 1 ? n - 1 : (unsigned)b;
}

/* The middle of bucket b (geometric). */
static double middle(unsigned b, unsigned per_decade)
{
    if (b == 0)
        return SIM_HIST_MIN / 2;
    return SIM_HIST_MIN * pow(10, ((double)b - 0.5) / per_decade);
}

void sim_hist_add(struct sim_hist *h, double seconds)
{
    h->n[bucket(seconds, SIM_HIST_PER_DECADE, SIM_HIST)]++;
    h->count++;
    if (seconds > h->max)
        h->max = seconds;
}

static double quantile(const uint64_t *n, const uint32_t *n32, unsigned nb, unsigned per_decade, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < nb; i++)
        total += n ? n[i] : n32[i];
    if (!total)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)total), acc = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < nb; i++) {
        acc += n ? n[i] : n32[i];
        if (acc >= rank)
            return middle(i, per_decade);
    }
    return middle(nb - 1, per_decade);
}

double sim_hist_quantile(const struct sim_hist *h, double q)
{
    return quantile(h->n, NULL, SIM_HIST, SIM_HIST_PER_DECADE, q);
}

unsigned sim_shist_bucket(double seconds)
{
    return bucket(seconds, SIM_SHIST_PER_DECADE, SIM_SHIST);
}

double sim_shist_quantile(const uint32_t *lat, double q)
{
    return quantile(NULL, lat, SIM_SHIST, SIM_SHIST_PER_DECADE, q);
}
