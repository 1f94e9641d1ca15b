/* lb.c - the strategy table and what the strategies share. */
#include "lb.h"

#include <stdio.h>
#include <string.h>

#include "upstream.h"

static const struct lb_ops *const strategies[] = { &lb_wrr, &lb_random, &lb_least_conn, &lb_first };

const struct lb_ops *lb_find(const char *name)
{
    for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
        if (strcmp(strategies[i]->name, name) == 0)
            return strategies[i];
    return NULL;
}

const char *lb_names(void)
{
    static char names[128];
    if (names[0] == '\0') { /* filled on first use (config load, one thread) */
        size_t n = 0;
        for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", strategies[i]->name);
    }
    return names;
}

int lb_pick(const struct lb_ops *ops, struct upstream *up, const struct lb_tried *tried)
{
    int i = ops->pick(up, tried, false);
    return i >= 0 ? i : ops->pick(up, tried, true);
}

bool lb_candidate(const struct upstream *up, unsigned i, const struct lb_tried *tried,
                  bool any_health)
{
    return !lb_is_tried(tried, i) && (any_health || up->backends[i].healthy);
}
