/* backend_hiding.c - see backend_hiding.h. One pass removes the fields
 * that name software; only responses that carry a URL field pay for the
 * address check. */
#include "backend_hiding.h"

#include <string.h>

#include "fieldset.h"
#include "url.h"

enum { F_SOFTWARE = 1, F_URL = 2, F_REFRESH = 4 };

static const struct fieldset_entry field_table[] = {
    { "Server", F_SOFTWARE },           { "X-Powered-By", F_SOFTWARE },
    { "X-AspNet-Version", F_SOFTWARE }, { "X-AspNetMvc-Version", F_SOFTWARE },
    { "X-Generator", F_SOFTWARE },      { "X-Backend-Server", F_SOFTWARE },
    { "X-Served-By", F_SOFTWARE },      { "X-Server", F_SOFTWARE },
    { "X-Server-Name", F_SOFTWARE },    { "X-Backend", F_SOFTWARE },
    { "X-Upstream", F_SOFTWARE },       { "X-Node", F_SOFTWARE },
    { "X-Runtime", F_SOFTWARE },        { "X-Version", F_SOFTWARE },
    { "X-Drupal-Cache", F_SOFTWARE },   { "X-Drupal-Dynamic-Cache", F_SOFTWARE },
    { "X-Turbo-Charged-By", F_SOFTWARE }, { "X-Mod-Pagespeed", F_SOFTWARE },
    { "X-Page-Speed", F_SOFTWARE },     { "X-Debug-Token", F_SOFTWARE },
    { "X-Debug-Token-Link", F_SOFTWARE }, { "X-LiteSpeed-Cache", F_SOFTWARE },
    { "Location", F_URL },              { "Content-Location", F_URL },
    { "Refresh", F_REFRESH },
};
static struct fieldset fields = FIELDSET_INIT(field_table);

/* url (absolute, at the start of v+off) on a backend -> the public origin
 * and the rest; NULL ptr when it is not a backend's. */
static struct slice rewrite_url(struct slice v, size_t off, const struct hiding_subject *s, struct arena *a)
{
    struct slice url = slice_make(v.ptr + off, v.len - off);
    struct url_origin o;
    if (!url_parse_origin(url, &o) || !s->is_backend(s->ctx, o.host, o.port))
        return SLICE_NULL;
    struct slice rest = slice_make(url.ptr + o.rest, url.len - o.rest);
    struct slice host = s->public_host(s->ctx);
    bool slash = rest.len == 0 || rest.ptr[0] != '/';
    size_t n = off + 7 + host.len + (slash ? 1 : 0) + rest.len;
    char *p = arena_alloc(a, n), *w = p;
    memcpy(w, v.ptr, off);
    w += off;
    memcpy(w, "http://", 7);
    w += 7;
    memcpy(w, host.ptr, host.len);
    w += host.len;
    if (slash)
        *w++ = '/';
    memcpy(w, rest.ptr, rest.len);
    return slice_make(p, n);
}

/* Refresh: "5; url=http://..." (the URL may be quoted). */
static size_t refresh_url_offset(struct slice v)
{
    for (size_t i = 0; i + 4 <= v.len; i++) {
        if (slice_caseeq(slice_make(v.ptr + i, 4), "url=", 4)) {
            size_t k = i + 4;
            while (k < v.len && (v.ptr[k] == ' ' || v.ptr[k] == '\'' || v.ptr[k] == '"'))
                k++;
            return k;
        }
    }
    return v.len;
}

void backend_hiding_apply(struct headers *h, struct arena *a, const char *server, const struct hiding_subject *s)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < h->n; i++) {
        struct header f = h->v[i];
        unsigned cls = fieldset_class(&fields, f.name);
        if (cls & F_SOFTWARE)
            continue;
        if (cls & (F_URL | F_REFRESH)) {
            struct slice v = slice_trim(f.value);
            size_t off = (cls & F_REFRESH) ? refresh_url_offset(v) : 0;
            if (off < v.len) {
                struct slice nv = rewrite_url(v, off, s, a);
                if (nv.ptr)
                    f.value = nv;
            }
        }
        h->v[kept++] = f;
    }
    h->n = kept;
    if (server)
        headers_add(h, a, SLICE_LIT("Server"), slice_make(server, strlen(server)));
}
