/* url.c - see url.h. */
#include "url.h"

#include <string.h>

bool url_parse_origin(struct slice v, struct url_origin *o)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    const char *colon = v.len ? memchr(p, ':', v.len) : NULL;
    if (colon == NULL || end - colon < 3 || colon[1] != '/' || colon[2] != '/')
        return false;
    o->scheme = slice_make(p, (size_t)(colon - p));
    bool https = slice_caseeq_lit(o->scheme, "https");
    if (!https && !slice_caseeq_lit(o->scheme, "http"))
        return false;
    const char *a = colon + 3, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    o->rest = (size_t)(ae - v.ptr);
    for (const char *q = a; q < ae; q++)
        if (*q == '@')
            a = q + 1;
    if (a == ae)
        return false;
    o->authority = slice_make(a, (size_t)(ae - a));
    const char *port = NULL;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(ae - a));
        if (rb == NULL)
            return false;
        o->host = slice_make(a + 1, (size_t)(rb - a - 1));
        if (rb + 1 < ae && rb[1] == ':')
            port = rb + 2;
        else if (rb + 1 != ae)
            return false;
    } else {
        const char *pc = memchr(a, ':', (size_t)(ae - a));
        o->host = slice_make(a, (size_t)((pc ? pc : ae) - a));
        if (pc)
            port = pc + 1;
    }
    o->port = https ? 443 : 80;
    if (port && port < ae) {
        unsigned n = 0;
        for (const char *q = port; q < ae; q++)
            if (*q < '0' || *q > '9' || (n = n * 10 + (unsigned)(*q - '0')) > 65535)
                return false;
        o->port = (uint16_t)n;
    }
    return o->host.len > 0;
}
