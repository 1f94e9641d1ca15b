/* response_policy.c - see response_policy.h. */
#include "response_policy.h"

#include <string.h>

#include "../lua/hooks.h"
#include "addr.h"
#include "backend_hiding.h"
#include "cache.h"
#include "cache_fill.h"
#include "conn.h"
#include "errors.h"
#include "request.h"
#include "upstream.h"
#include "generation.h"
#include "worker.h"

/* Is host:port one of this worker's backends: as configured, or the
 * address it resolved to? Only responses with a URL field ask. */
static bool is_backend(void *ctx, struct slice host, uint16_t port)
{
    const struct generation *g = ((struct request *)ctx)->gen;
    char text[ADDR_HOSTLEN];
    union sockaddr_u ip;
    bool literal = host.len < sizeof(text);
    if (literal) {
        memcpy(text, host.ptr, host.len);
        text[host.len] = '\0';
        literal = addr_from_ip(text, port, &ip) == 0;
    }
    for (unsigned u = 0; u < g->cfg->nupstreams; u++) {
        const struct upstream *up = &g->upstreams[u];
        for (unsigned i = 0; i < up->n; i++) {
            const struct backend *b = &up->backends[i];
            if (b->cfg->port == port && slice_caseeq(host, b->cfg->host, strlen(b->cfg->host)))
                return true;
            for (unsigned k = 0; literal && k < b->addrs.n; k++)
                if (addr_equal(&b->addrs.addr[k], &ip))
                    return true;
        }
    }
    return false;
}

/* The Host the client used, else the listener's address: where rewritten
 * URLs point. */
static struct slice public_host(void *ctx)
{
    struct request *r = ctx;
    struct slice host = slice_trim(headers_get(&r->head.headers, H_HOST));
    if (host.len && headers_valid_value(host) && !memchr(host.ptr, '/', host.len))
        return host;
    char *addr = arena_alloc(&r->arena, ADDR_STRLEN);
    return slice_make(addr, addr_format(&r->lc->addr, addr, ADDR_STRLEN, true));
}

bool response_policy(struct request *r)
{
    struct worker *w = r->w;
    const struct listener_config *lc = r->lc;
    struct headers *h = &r->resp.headers;
    if (lc->mode == MODE_REVERSE) {
        if (lc->hide_backend) {
            struct hiding_subject s = { public_host, is_backend, r };
            backend_hiding_apply(h, &r->arena, lc->server_header, &s);
        }
        if (lc->via)
            headers_add_via(h, &r->arena, slice_make(lc->via, strlen(lc->via)));
    } else if (r->anon_level != ANON_OFF) {
        struct anonymity_subject s = request_anonymity_subject(r);
        anonymity_response(h, &r->arena, &lc->anon, r->anon_level, &s);
    }
    if (w->cache && lc->cache) {
        const struct cache_config *cc = &w->cache->cfg;
        if (lc->mode == MODE_REVERSE)
            cache_drop_targeted(cc, h); /* meant for this cache, not the client */
        if (r->cache_status && cc->status_header)
            headers_set(h, &r->arena, slice_make(cc->status_header, strlen(cc->status_header)),
                        slice_make(r->cache_status, strlen(r->cache_status)));
    }
    if (r->id_sent) { /* the client gets the id its request had, not the backend's */
        struct slice name = request_id_field(r);
        if (headers_find_quick(h, name) >= 0) /* inline: the usual answer is no, without a call */
            headers_del(h, name);
        headers_add(h, &r->arena, name, r->request_id);
    }
    if (hooks_defined(r->gen->vm, HOOK_ON_RESPONSE) && !r->response_hooked) {
        r->response_hooked = true;
        if (hooks_on_response(r->gen->vm, r) != HOOK_OK) {
            request_fail(r, &err_hook);
            return false;
        }
    }
    return true;
}
