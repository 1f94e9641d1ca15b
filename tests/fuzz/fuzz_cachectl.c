/* fuzz_cachectl.c - the RFC 9111 parsers and decisions on hostile fields:
 * Cache-Control (and CDN-Cache-Control), Expires, Date, Age, Vary,
 * validators. Input: a method/status byte pair, then request fields, a
 * 0xFF byte, then response fields, one per line ("Name: value"). No crash,
 * no read past a field, and the results keep their invariants: freshness
 * and ages never negative, a date formatted and parsed again is the same
 * instant, a Vary variant never longer than its buffer. */
#include <stdint.h>
#include <stdlib.h>

#include "../../core/cachectl.h"
#include "../../core/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fields(struct headers *h, struct arena *a, const char *p, size_t n)
{
    headers_init(h);
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon) {
            /* copies, so that any read past the end of a value is caught */
            size_t nl_ = (size_t)(colon - p), vl = (size_t)(stop - colon - 1);
            char *name = arena_alloc(a, nl_ ? nl_ : 1), *value = arena_alloc(a, vl ? vl : 1);
            memcpy(name, p, nl_);
            memcpy(value, colon + 1, vl);
            headers_add(h, a, slice_make(name, nl_), slice_trim(slice_make(value, vl)));
        }
        p = nl ? nl + 1 : end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const unsigned methods[] = { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT };
    static const unsigned statuses[] = { 200, 203, 204, 206, 300, 301, 302, 304, 307, 308,
                                         404, 410, 500, 501, 502, 999 };
    unsigned method = methods[data[0] & 3];
    unsigned status = statuses[data[1] & 15];
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    const char *sep = memchr(p, 0xff, n);
    size_t rl = sep ? (size_t)(sep - p) : n;
    struct arena a;
    arena_init(&a);
    struct headers req, resp;
    fields(&req, &a, p, rl);
    fields(&resp, &a, sep ? sep + 1 : p + n, sep ? n - rl - 1 : 0);

    struct cache_rules rules = { 0.1, 86400, data[0] & 4, SLICE_LIT("CDN-Cache-Control"),
                                 SLICE_LIT("Luxy-Cache-Control") };
    struct cache_meta m;
    time_t now = 1800000000;
    cache_decide(&m, &rules, method, &req, status, &resp, now);
    if (m.freshness < 0 || (m.verdict == STORE_OK && m.heuristic && m.freshness > 86400))
        __builtin_trap();
    int64_t age = (int64_t)cache_initial_age(&m, (double)now - 1, (double)now);
    if (age < 0)
        __builtin_trap();
    struct cache_request cr;
    cache_request_parse(&cr, &req);
    int use = cache_usable(&m, &cr, age + (data[1] >> 4) * 100, data[0] >> 4);
    if (use < USE_FRESH || use > USE_STALE_IF_ERROR)
        __builtin_trap();
    cache_stale_if_error_ok(&m, age, 10);
    cache_not_modified(&req, &resp);
    char names[512], value[512];
    int vn = cache_vary_names(&resp, names, sizeof(names));
    if (vn > (int)sizeof(names))
        __builtin_trap();
    if (vn > 0) {
        for (const char *q = names; *q;) {
            const char *nl = strchr(q, '\n');
            int vl = cache_vary_value(&req, slice_make(q, (size_t)(nl - q)), value, sizeof(value));
            if (vl >= (int)sizeof(value))
                __builtin_trap();
            q = nl + 1;
        }
    }
    for (unsigned i = 0; i < resp.n; i++) {
        time_t t;
        if (http_date_parse(resp.v[i].value, &t)) {
            char buf[32];
            http_date_format(t, buf);
            time_t back;
            if (t >= 0 && t < 253402300800 && (!http_date_parse(slice_make(buf, strlen(buf)), &back) || back != t))
                __builtin_trap();
        }
    }
    arena_free(&a);
    return 0;
}
