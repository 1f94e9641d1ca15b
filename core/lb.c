/* lb.c - the strategy table and what the strategies share. */
#include "lb.h"

#include <string.h>

#include "upstream.h"

static const struct lb_ops *const strategies[] = { &lb_wrr, &lb_random, &lb_least_conn };

const struct lb_ops *lb_find(const char *name)
{
    for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
        if (strcmp(strategies[i]->name, name) == 0)
            return strategies[i];
    return NULL;
}

const char *lb_names(void)
{
    return "wrr, random, least_conn";
}

bool lb_candidate(const struct upstream *up, unsigned i, const struct lb_tried *tried,
                  bool any_health)
{
    return !lb_is_tried(tried, i) && (any_health || up->backends[i].healthy);
}
