/* retry_budget.h - how many retries an upstream group may take: at most
 * `budget` x the requests of the last 10 seconds plus `min_per_second`
 * per second (Finagle's RetryBudget, Envoy's retry_budget), so when
 * every server fails, retries add a bounded share of load instead of
 * multiplying it by `tries`. One per worker and group; counts in
 * one-second buckets. */
#ifndef LUXY_RETRY_BUDGET_H
#define LUXY_RETRY_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define RETRY_WINDOW 10

struct retry_config;

struct retry_budget {
    uint64_t second[RETRY_WINDOW];   /* which second each bucket counts */
    unsigned requests[RETRY_WINDOW], retries[RETRY_WINDOW];
};

/* A first attempt was made at now_ms. */
void retry_budget_request(struct retry_budget *b, uint64_t now_ms);
/* May a retry be made now? Counts it when it may. */
bool retry_budget_take(struct retry_budget *b, const struct retry_config *cfg, uint64_t now_ms);

#endif
