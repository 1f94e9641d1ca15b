/* lb_request.c - see lb_request.h. The sticky cookie's value is an opaque
 * 16-hex-digit id of the server (a hash of its group, address and
 * listing), so it names no address (backend hiding) and stays the same
 * across reloads and on every luxy in front of the same servers. */
#include "lb_request.h"

#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "headers.h"
#include "request.h"
#include "upstream.h"

struct slice request_cookie(const struct headers *h, struct slice name)
{
    for (int at = headers_find(h, SLICE_LIT("Cookie"), 0); at >= 0;
         at = headers_find(h, SLICE_LIT("Cookie"), (unsigned)at + 1)) {
        struct slice v = h->v[at].value;
        const char *p = v.ptr, *end = v.ptr + v.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *semi = memchr(p, ';', (size_t)(end - p));
            if (semi == NULL)
                semi = end;
            if (eq && eq < semi && (size_t)(eq - p) == name.len && memcmp(p, name.ptr, name.len) == 0) {
                const char *vs = eq + 1, *ve = semi;
                if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') /* a quoted cookie-value */
                    vs++, ve--;
                return slice_make(vs, (size_t)(ve - vs));
            }
            p = semi;
        }
    }
    return SLICE_NULL;
}

bool lb_request_key(const struct request *r, const struct upstream *up, uint64_t *key)
{
    const char *how = up->lb == &lb_ip_hash ? "ip" : up->cfg->hash ? up->cfg->hash : "uri";
    struct slice k = SLICE_NULL;
    if (strcmp(how, "ip") == 0) {
        k = request_client_ip(r);
    } else if (strcmp(how, "uri") == 0) {
        k = r->head.target;
    } else if (strcmp(how, "path") == 0) {
        k = r->path;
    } else if (strncmp(how, "header:", 7) == 0) {
        k = headers_get(&r->head.headers, slice_make(how + 7, strlen(how + 7)));
    } else if (strncmp(how, "cookie:", 7) == 0) {
        k = request_cookie(&r->head.headers, slice_make(how + 7, strlen(how + 7)));
    }
    if (k.ptr == NULL)
        return false;
    *key = lb_hash(k.ptr, k.len);
    return true;
}

uint64_t sticky_server_id(const struct upstream *up, const struct backend *b)
{
    char name[700];
    int n = snprintf(name, sizeof(name), "%s/%s#%u", up->cfg->name, b->cfg->spec, b->occurrence);
    return lb_hash(name, (size_t)n);
}

/* The 16 hex digits of v as a number; false when v is not that. */
static bool parse_id(struct slice v, uint64_t *id)
{
    if (v.len != 16)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = v.ptr[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16)
            return false;
        x = x << 4 | d;
    }
    *id = x;
    return true;
}

int sticky_pick(const struct request *r, struct upstream *up, const struct lb_query *q)
{
    uint64_t id;
    if (!parse_id(request_cookie(&r->head.headers, slice_make(up->cfg->sticky, strlen(up->cfg->sticky))), &id))
        return -1;
    for (unsigned i = 0; i < up->n; i++)
        if (up->backends[i].sticky_id == id)
            return lb_candidate(up, i, q) ? (int)i : -1;
    return -1;
}

void sticky_set_cookie(struct headers *h, struct arena *a, const struct upstream *up, unsigned index)
{
    size_t n = strlen(up->cfg->sticky) + sizeof("=0123456789abcdef; Path=/; HttpOnly");
    char *v = arena_alloc(a, n);
    int len = snprintf(v, n, "%s=%016llx; Path=/; HttpOnly", up->cfg->sticky,
                       (unsigned long long)up->backends[index].sticky_id);
    headers_add(h, a, SLICE_LIT("Set-Cookie"), slice_make(v, (size_t)len));
}
