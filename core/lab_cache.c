/* lab_cache.c - a case's stored response (lab.h): put into the lab's cache
 * as a fill would have stored it, `age` seconds before the case's time, so
 * that the lookup the server makes (cache_verdict) answers as it would:
 * fresh, stale, to revalidate, another variant. */
#include <string.h>

#include "cache.h"
#include "cache_fill.h"
#include "cachectl.h"
#include "clock.h"
#include "lab.h"
#include "request.h"
#include "worker.h"

bool lab_cache_put(struct request *r, const struct http_head *resp, struct slice body, double age,
                   const struct headers *asked)
{
    const struct headers *req = asked ? asked : &r->head.headers;
    struct cache *c = r->w->cache;
    if (c == NULL || r->cache_key.len == 0)
        return false;
    double now = clock_virtual - age;
    struct headers fields = headers_copy(&resp->headers, &r->arena);
    struct cache_meta m;
    struct cache_rules rules = cache_store_rules(&c->cfg, r->lc->mode == MODE_REVERSE, false);
    cache_decide(&m, &rules, HTTP_GET, req, resp->status, &fields, (time_t)now);
    char vary[1024];
    int vn = cache_vary_names(&fields, vary, sizeof(vary));
    struct cache_head h = {
        .status = resp->status, .reason = resp->reason, .fields = &fields, .meta = &m, .response_time = now,
        .initial_age = cache_initial_age(&m, now, now), .ttl = -1, .grace = -1,
        .content_length = (int64_t)body.len, .vary = vn > 0 ? vary : NULL, .request = req,
    };
    struct cache_entry *e = cache_new_fill(c, r->cache_key);
    cache_fill_head(e, &h, true, now, 0);
    bool kept = cache_fill_append(e, body.ptr ? body.ptr : "", body.len);
    cache_fill_done(e, kept);
    cache_entry_release(e);
    return kept;
}

void lab_cache_clear(struct lab *lab)
{
    struct cache *c = lab_generation(lab)->w->cache;
    if (c)
        cache_remove_prefix(c, SLICE_LIT("")); /* every key starts with "" */
}
