/* forwarding.c - trusted proxies and a reverse proxy's forwarding fields
 * (forwarding.h). */
#include "forwarding.h"

#include <string.h>

#include "fieldset.h"

bool forwarding_trusted(const struct forwarding_config *fc, const union sockaddr_u *peer)
{
    for (unsigned i = 0; i < fc->ntrusted; i++)
        if (cidr_match(&fc->trusted[i], peer))
            return true;
    return false;
}

/* ---- the client behind trusted proxies ---- */

/* One list element as an address: "192.0.2.1", "192.0.2.1:4711",
 * "[2001:db8::1]", "[2001:db8::1]:4711", "2001:db8::1", or a Forwarded
 * for= value (quoted, or "unknown" and obfuscated names: no address). */
static bool element_addr(struct slice e, union sockaddr_u *out)
{
    e = slice_trim(e);
    if (e.len >= 2 && e.ptr[0] == '"' && e.ptr[e.len - 1] == '"')
        e = slice_make(e.ptr + 1, e.len - 2);
    char host[64];
    const char *p = e.ptr, *end = e.ptr + e.len;
    if (e.len && *p == '[') {
        const char *rb = memchr(p, ']', e.len);
        if (rb == NULL)
            return false;
        p++;
        end = rb;
    } else if (memchr(p, '.', e.len)) {
        const char *colon = memchr(p, ':', e.len);
        if (colon)
            end = colon; /* IPv4 with a port */
    }
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, p, n);
    host[n] = '\0';
    return addr_from_ip(host, 0, out) == 0;
}

/* Walks the comma-separated elements of every field named name, from the
 * right. for_param: read each element's for= (Forwarded). */
static bool walk_from_right(const struct forwarding_config *fc, const struct headers *h, struct slice name,
                            bool for_param, union sockaddr_u *client)
{
    bool found = false;
    for (int i = (int)h->n - 1; i >= 0; i--) {
        if (!slice_caseeq(h->v[i].name, name.ptr, name.len))
            continue;
        struct slice v = h->v[i].value;
        size_t end = v.len;
        while (end > 0) {
            size_t start = end;
            while (start > 0 && v.ptr[start - 1] != ',')
                start--;
            struct slice e = slice_make(v.ptr + start, end - start);
            end = start ? start - 1 : 0;
            if (for_param) { /* for=...;proto=... : the for= pair */
                struct slice f = SLICE_NULL;
                size_t k = 0;
                while (k < e.len) {
                    size_t s = k;
                    while (k < e.len && e.ptr[k] != ';')
                        k++;
                    struct slice pair = slice_trim(slice_make(e.ptr + s, k - s));
                    if (pair.len > 4 && slice_caseeq(slice_make(pair.ptr, 4), "for=", 4))
                        f = slice_make(pair.ptr + 4, pair.len - 4);
                    k++;
                }
                e = f;
            }
            union sockaddr_u a;
            if (e.ptr == NULL || !element_addr(e, &a))
                return found; /* not an address: what came before it cannot be trusted */
            *client = a;
            found = true;
            if (!forwarding_trusted(fc, &a))
                return true;
        }
    }
    return found;
}

bool forwarding_client(const struct forwarding_config *fc, const struct headers *h, union sockaddr_u *client)
{
    if (headers_find(h, SLICE_LIT("X-Forwarded-For"), 0) >= 0)
        return walk_from_right(fc, h, SLICE_LIT("X-Forwarded-For"), false, client);
    if (headers_find(h, SLICE_LIT("Forwarded"), 0) >= 0)
        return walk_from_right(fc, h, SLICE_LIT("Forwarded"), true, client);
    return false;
}

/* ---- a reverse proxy's request ---- */

enum {
    F_CLIENT = 1, /* only ever believed from a trusted peer */
    F_XFF = 2,    /* luxy appends the peer */
    F_PROTO = 4,  /* luxy sets them, unless the value there stands */
    F_HOST = 8,
    F_PORT = 16,
    F_FORWARDED = 32,
};

static const struct fieldset_entry field_table[] = {
    { "X-Forwarded-For", F_CLIENT | F_XFF },     { "Forwarded", F_CLIENT | F_FORWARDED },
    { "X-Real-IP", F_CLIENT },                   { "X-Client-IP", F_CLIENT },
    { "True-Client-IP", F_CLIENT },              { "CF-Connecting-IP", F_CLIENT },
    { "Client-IP", F_CLIENT },                   { "X-Cluster-Client-IP", F_CLIENT },
    { "Fastly-Client-IP", F_CLIENT },            { "X-Forwarded-Host", F_CLIENT | F_HOST },
    { "X-Forwarded-Proto", F_CLIENT | F_PROTO }, { "X-Forwarded-Port", F_CLIENT | F_PORT },
    { "X-Forwarded-Server", F_CLIENT },          { "X-Forwarded-Scheme", F_CLIENT },
    { "X-Forwarded-Ssl", F_CLIENT },             { "X-Forwarded-Prefix", F_CLIENT },
    { "X-Original-URL", F_CLIENT },              { "X-Rewrite-URL", F_CLIENT },
    { "X-Original-Host", F_CLIENT },             { "X-Host", F_CLIENT },
    { "X-HTTP-Method-Override", F_CLIENT },      { "X-HTTP-Method", F_CLIENT },
    { "X-Method-Override", F_CLIENT },
};
static struct fieldset fields = FIELDSET_INIT(field_table);

static struct slice join(struct arena *a, struct slice x, struct slice y)
{
    char *p = arena_alloc(a, x.len + 2 + y.len);
    memcpy(p, x.ptr, x.len);
    memcpy(p + x.len, ", ", 2);
    memcpy(p + x.len + 2, y.ptr, y.len);
    return slice_make(p, x.len + 2 + y.len);
}

static struct slice forwarded_element(const struct forwarding_subject *s, struct arena *a)
{
    bool v6 = memchr(s->peer_ip.ptr, ':', s->peer_ip.len) != NULL;
    size_t cap = s->peer_ip.len + s->host.len + 40;
    char *p = arena_alloc(a, cap);
    struct wbuf w = wbuf_make(p, cap);
    wbuf_lit(&w, "for=");
    if (v6)
        wbuf_lit(&w, "\"[");
    wbuf_slice(&w, s->peer_ip);
    if (v6)
        wbuf_lit(&w, "]\"");
    if (s->host.len && headers_valid_value(s->host) && !memchr(s->host.ptr, '"', s->host.len) &&
        !memchr(s->host.ptr, '\\', s->host.len)) {
        wbuf_lit(&w, ";host=\"");
        wbuf_slice(&w, s->host);
        wbuf_char(&w, '"');
    }
    wbuf_lit(&w, ";proto=http");
    return slice_make(p, wbuf_len(&w, p));
}

/* The first field of a kind (index among the kept ones, or -1). */
struct seen {
    int xff, fwd, proto, host, port;
};

static void set_own(struct headers *h, struct arena *a, int at, struct slice name, struct slice value, bool stands)
{
    if (at >= 0) {
        if (!stands)
            h->v[at].value = value; /* ours replaces what a client may not decide */
    } else if (value.len) {
        headers_add(h, a, name, value);
    }
}

/* One pass: a client's fields dropped (or kept: trusted, or "keep"), the
 * first of each kind luxy writes remembered and its repeats folded into
 * it (as headers_set would); then luxy's values. */
void forwarding_request(struct headers *h, struct arena *a, const struct forwarding_config *fc,
                        const struct forwarding_subject *s)
{
    bool stands = s->peer_trusted || fc->keep_client_fields;
    struct seen at = { -1, -1, -1, -1, -1 };
    unsigned kept = 0;
    for (unsigned i = 0; i < h->n; i++) {
        struct header f = h->v[i];
        unsigned cls = fieldset_class(&fields, f.name);
        if (cls) {
            if ((cls & F_CLIENT) && !stands)
                continue;
            int *first = cls & F_XFF ? &at.xff : cls & F_FORWARDED ? &at.fwd : cls & F_PROTO ? &at.proto
                         : cls & F_HOST ? &at.host : cls & F_PORT ? &at.port : NULL;
            if (first && *first >= 0) {
                if (cls & (F_XFF | F_FORWARDED)) /* lists: one field, the values joined */
                    h->v[*first].value = join(a, h->v[*first].value, f.value);
                continue; /* a repeat of a single value: the first stands */
            }
            if (first)
                *first = (int)kept;
        }
        h->v[kept++] = f;
    }
    h->n = kept;
    if (fc->x_forwarded) {
        if (at.xff >= 0)
            h->v[at.xff].value = join(a, h->v[at.xff].value, s->peer_ip);
        else
            headers_add(h, a, SLICE_LIT("X-Forwarded-For"), s->peer_ip);
        set_own(h, a, at.proto, SLICE_LIT("X-Forwarded-Proto"), SLICE_LIT("http"), stands);
        set_own(h, a, at.host, SLICE_LIT("X-Forwarded-Host"), s->host, stands);
        set_own(h, a, at.port, SLICE_LIT("X-Forwarded-Port"), slice_make(fc->port, strlen(fc->port)), stands);
    }
    if (fc->forwarded) {
        struct slice e = forwarded_element(s, a);
        if (at.fwd >= 0)
            h->v[at.fwd].value = join(a, h->v[at.fwd].value, e);
        else
            headers_add(h, a, SLICE_LIT("Forwarded"), e);
    }
}
