/* sim_rng.h - the simulator's own random numbers (splitmix64): the
 * workload and the backend model draw from seeded sequences of their own,
 * so the same seed gives the same traffic and the same service times
 * whatever the strategies draw from theirs (lab_options.seed). */
#ifndef LUXY_SIM_RNG_H
#define LUXY_SIM_RNG_H

#include <math.h>
#include <stdint.h>

struct sim_rng {
    uint64_t s;
};

static inline void sim_rng_seed(struct sim_rng *g, uint64_t seed, uint64_t stream)
{
    g->s = seed * 0x9e3779b97f4a7c15ull ^ (stream + 1) * 0xbf58476d1ce4e5b9ull;
}

static inline uint64_t sim_rng_next(struct sim_rng *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so a logarithm of it is finite. */
static inline double sim_rng_unit(struct sim_rng *g)
{
    return ((double)(sim_rng_next(g) >> 11) + 0.5) / 9007199254740992.0;
}

/* Exponential with this mean. */
static inline double sim_rng_exp(struct sim_rng *g, double mean)
{
    return -mean * log(sim_rng_unit(g));
}

/* Standard normal (Box-Muller, one of the pair). */
static inline double sim_rng_normal(struct sim_rng *g)
{
    double u = sim_rng_unit(g), v = sim_rng_unit(g);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#endif
