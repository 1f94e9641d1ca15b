/* retry_budget.c - see retry_budget.h. */
#include "retry_budget.h"

#include "config.h"

static unsigned bucket(struct retry_budget *b, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000;
    unsigned i = (unsigned)(sec % RETRY_WINDOW);
    if (b->second[i] != sec) {
        b->second[i] = sec;
        b->requests[i] = b->retries[i] = 0;
    }
    return i;
}

void retry_budget_request(struct retry_budget *b, uint64_t now_ms)
{
    b->requests[bucket(b, now_ms)]++;
}

bool retry_budget_take(struct retry_budget *b, const struct retry_config *cfg, uint64_t now_ms)
{
    unsigned now = bucket(b, now_ms);
    uint64_t sec = now_ms / 1000;
    unsigned long requests = 0, retries = 0;
    for (unsigned i = 0; i < RETRY_WINDOW; i++)
        if (sec - b->second[i] < RETRY_WINDOW) {
            requests += b->requests[i];
            retries += b->retries[i];
        }
    double allowed = cfg->budget * (double)requests + (double)cfg->min_per_second * RETRY_WINDOW;
    if ((double)retries + 1 > allowed)
        return false;
    b->retries[now]++;
    return true;
}
