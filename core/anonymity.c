/* anonymity.c - the anonymity levels (anonymity.h). One pass over the
 * request's fields decides each field's fate from its class; additions
 * follow in a fixed order (X-Forwarded-For, Forwarded, Via) so that the
 * Lua versions in lua/luxy/anonymity/ produce the same fields in the same
 * order. */
#include "anonymity.h"

#include <string.h>

#include "fieldset.h"
#include "url.h"

enum {
    F_IDENTITY = 1,  /* carries the client's address */
    F_TRAIL = 2,     /* says a proxy is involved */
    F_DEVICE = 4,    /* describes the client's person, device or OS */
    F_COOKIE = 8,
    F_UA = 16,
    F_LANG = 32,
    F_REFERER = 64,
    F_XFF = 128,     /* X-Forwarded-For and Forwarded: transparent appends to them */
    F_FORWARDED = 256,
};

/* The lists, once; each level's set is built from the ones it needs, so
 * that a field no rule of the level touches costs a length check. */
#define IDENTITY_FIELDS(X)                                                                              \
    X("X-Forwarded-For", F_IDENTITY | F_XFF) X("Forwarded", F_IDENTITY | F_FORWARDED)                  \
    X("X-Forwarded", F_IDENTITY) X("Forwarded-For", F_IDENTITY) X("X-Real-IP", F_IDENTITY)              \
    X("Client-IP", F_IDENTITY) X("True-Client-IP", F_IDENTITY) X("X-Client-IP", F_IDENTITY)            \
    X("X-Originating-IP", F_IDENTITY) X("CF-Connecting-IP", F_IDENTITY)                                  \
    X("X-Cluster-Client-IP", F_IDENTITY) X("Fastly-Client-IP", F_IDENTITY) X("X-ProxyUser-IP", F_IDENTITY) \
    X("X-Remote-IP", F_IDENTITY) X("X-Remote-Addr", F_IDENTITY) X("X-Coming-From", F_IDENTITY)          \
    X("Coming-From", F_IDENTITY) X("Akamai-Client-IP", F_IDENTITY) X("Cookie", F_COOKIE)
#define ELITE_FIELDS(X)                                                                                  \
    X("Via", F_TRAIL) X("X-Forwarded-Proto", F_TRAIL) X("X-Forwarded-Host", F_TRAIL)                    \
    X("X-Forwarded-Port", F_TRAIL) X("X-Forwarded-Server", F_TRAIL) X("X-Forwarded-Scheme", F_TRAIL)    \
    X("X-Forwarded-Ssl", F_TRAIL) X("From", F_DEVICE) X("Device-Memory", F_DEVICE) X("DPR", F_DEVICE)   \
    X("Viewport-Width", F_DEVICE) X("Width", F_DEVICE) X("RTT", F_DEVICE) X("Downlink", F_DEVICE)      \
    X("ECT", F_DEVICE) X("User-Agent", F_UA) X("Accept-Language", F_LANG) X("Referer", F_REFERER)
#define ENTRY(name, cls) { name, cls },

static const struct fieldset_entry identity_table[] = { IDENTITY_FIELDS(ENTRY) };
static const struct fieldset_entry elite_table[] = { IDENTITY_FIELDS(ENTRY) ELITE_FIELDS(ENTRY) };
static struct fieldset identity_fields = FIELDSET_INIT(identity_table);
static struct fieldset elite_fields = FIELDSET_INIT(elite_table);

static unsigned field_class(struct fieldset *set, bool hints, struct slice name)
{
    /* every client hint: Sec-CH-UA, Sec-CH-UA-Platform, Sec-CH-Device-Memory, ... */
    if (hints && name.len > 7 && (name.ptr[0] | 0x20) == 's' && slice_caseeq(slice_make(name.ptr, 7), "Sec-CH-", 7))
        return F_DEVICE;
    return fieldset_class(set, name);
}

const char *anonymity_level_name(enum anonymity_level level)
{
    switch (level) {
    case ANON_OFF: return "off";
    case ANON_TRANSPARENT: return "transparent";
    case ANON_ANONYMOUS: return "anonymous";
    case ANON_ELITE: return "elite";
    }
    return NULL;
}

int anonymity_level_parse(const char *name)
{
    static const enum anonymity_level all[] = { ANON_TRANSPARENT, ANON_ANONYMOUS, ANON_ELITE, ANON_OFF };
    for (size_t i = 0; i < countof(all); i++)
        if (strcmp(name, anonymity_level_name(all[i])) == 0)
            return (int)all[i];
    return -1;
}

static bool host_eq(struct slice a, struct slice b)
{
    return a.len == b.len && slice_caseeq(a, b.ptr, b.len);
}

struct slice anonymity_site(struct slice host)
{
    if (host.len && host.ptr[host.len - 1] == '.')
        host.len--; /* "example.com." is example.com */
    bool letters = false;
    for (size_t i = 0; i < host.len; i++)
        letters |= (host.ptr[i] | 0x20) >= 'a' && (host.ptr[i] | 0x20) <= 'z';
    if (!letters || memchr(host.ptr, ':', host.len))
        return host; /* an IP address is its own site */
    size_t dots[3] = { 0 };
    unsigned nd = 0;
    for (size_t i = host.len; i-- > 0 && nd < 3;)
        if (host.ptr[i] == '.')
            dots[nd++] = i;
    if (nd < 2)
        return host;
    size_t tld_len = host.len - dots[0] - 1, second_len = dots[0] - dots[1] - 1;
    size_t cut = dots[1];
    if (tld_len == 2 && second_len <= 3) { /* example.co.uk, example.com.au */
        if (nd < 3)
            return host;
        cut = dots[2];
    }
    return slice_make(host.ptr + cut + 1, host.len - cut - 1);
}

bool anonymity_third_party(const struct headers *h, struct slice host)
{
    struct slice site = headers_get(h, SLICE_LIT("Sec-Fetch-Site"));
    if (site.ptr)
        return slice_caseeq_lit(slice_trim(site), "cross-site");
    struct slice ref = headers_get(h, SLICE_LIT("Referer"));
    struct url_origin o;
    if (ref.ptr == NULL || !url_parse_origin(slice_trim(ref), &o))
        return false; /* typed in, a bookmark, or nothing to tell */
    return !host_eq(anonymity_site(o.host), anonymity_site(host));
}

/* ---- the request ---- */

static bool in_send_only(const struct anonymity_config *cfg, struct slice name)
{
    if (slice_caseeq(name, H_HOST.ptr, H_HOST.len))
        return true;
    for (unsigned i = 0; i < cfg->nsend_only; i++)
        if (strlen(cfg->send_only[i]) == name.len && slice_caseeq(name, cfg->send_only[i], name.len))
            return true;
    return false;
}

/* A cross-origin Referer cut to its origin ("https://a.example/"); the
 * same origin's kept; NULL ptr: unreadable, removed. */
static struct slice referer_for(struct slice v, const struct anonymity_subject *s, struct arena *a)
{
    struct url_origin o;
    v = slice_trim(v);
    if (!url_parse_origin(v, &o))
        return SLICE_NULL;
    if (slice_caseeq_lit(o.scheme, "http") && o.port == s->port && host_eq(o.host, s->host))
        return v;
    size_t n = o.scheme.len + 3 + o.authority.len + 1;
    char *p = arena_alloc(a, n);
    memcpy(p, o.scheme.ptr, o.scheme.len);
    memcpy(p + o.scheme.len, "://", 3);
    memcpy(p + o.scheme.len + 3, o.authority.ptr, o.authority.len);
    p[n - 1] = '/';
    return slice_make(p, n);
}

/* "a" + ", " + "b" in the arena. */
static struct slice join(struct arena *a, struct slice x, struct slice y)
{
    char *p = arena_alloc(a, x.len + 2 + y.len);
    memcpy(p, x.ptr, x.len);
    memcpy(p + x.len, ", ", 2);
    memcpy(p + x.len + 2, y.ptr, y.len);
    return slice_make(p, x.len + 2 + y.len);
}

/* Forwarded: for=192.0.2.1, for="[2001:db8::1]" (RFC 7239 6). */
static struct slice forwarded_for(struct slice ip, struct arena *a)
{
    bool v6 = memchr(ip.ptr, ':', ip.len) != NULL;
    size_t n = ip.len + (v6 ? 8 : 4);
    char *p = arena_alloc(a, n), *w = p;
    memcpy(w, v6 ? "for=\"[" : "for=", v6 ? 6 : 4);
    w += v6 ? 6 : 4;
    memcpy(w, ip.ptr, ip.len);
    w += ip.len;
    if (v6)
        memcpy(w, "]\"", 2);
    return slice_make(p, n);
}

static bool strips_cookies(const struct anonymity_config *cfg, const struct anonymity_subject *s)
{
    return cfg->cookies == COOKIES_STRIP || (cfg->cookies == COOKIES_THIRD_PARTY && s->third_party);
}

/* The first field of a kind, kept in place, gets the later ones' values
 * joined to it (what headers_set does to a list, in the same pass). */
struct list_field {
    int at;                    /* index among the kept fields, or -1 */
};

static bool joined(struct headers *h, struct arena *a, struct list_field *lf, unsigned kept, struct header f)
{
    if (lf->at < 0) {
        lf->at = (int)kept;
        return false; /* keep it: the first */
    }
    h->v[lf->at].value = join(a, h->v[lf->at].value, f.value);
    return true; /* dropped: its value went to the first */
}

static void append_item(struct headers *h, struct arena *a, const struct list_field *lf, struct slice name,
                        struct slice item)
{
    if (lf->at >= 0)
        h->v[lf->at].value = join(a, h->v[lf->at].value, item);
    else
        headers_add(h, a, name, item);
}

void anonymity_request(struct headers *h, struct arena *a, const struct anonymity_config *cfg,
                       enum anonymity_level level, const struct anonymity_subject *s)
{
    unsigned drop = 0;
    if (level == ANON_ANONYMOUS)
        drop = F_IDENTITY;
    else if (level == ANON_ELITE)
        drop = F_IDENTITY | F_TRAIL | F_DEVICE;
    if (strips_cookies(cfg, s))
        drop |= F_COOKIE;
    bool elite = level == ANON_ELITE, transparent = level == ANON_TRANSPARENT;
    struct fieldset *set = elite ? &elite_fields : &identity_fields;
    bool ua_done = false, lang_done = false, ref_done = false;
    struct list_field xff = { -1 }, fwd = { -1 };
    unsigned kept = 0;
    for (unsigned i = 0; i < h->n; i++) {
        struct header f = h->v[i];
        if (cfg->send_only && !in_send_only(cfg, f.name))
            continue;
        unsigned cls = field_class(set, elite, f.name);
        if (cls & drop)
            continue;
        if (transparent && (cls & F_XFF)) {
            if (joined(h, a, &xff, kept, f))
                continue;
        } else if (transparent && (cls & F_FORWARDED)) {
            if (joined(h, a, &fwd, kept, f))
                continue;
        } else if (elite && (cls & F_UA)) {
            if (ua_done)
                continue;
            f.value = slice_make(cfg->user_agent, strlen(cfg->user_agent));
            ua_done = true;
        } else if (elite && (cls & F_LANG)) {
            if (lang_done)
                continue;
            f.value = slice_make(cfg->accept_language, strlen(cfg->accept_language));
            lang_done = true;
        } else if (elite && (cls & F_REFERER)) {
            if (ref_done)
                continue;
            ref_done = true;
            f.value = referer_for(f.value, s, a);
            if (f.value.ptr == NULL)
                continue;
        }
        h->v[kept++] = f;
    }
    h->n = kept;
    if (elite && !ua_done)
        headers_add(h, a, SLICE_LIT("User-Agent"), slice_make(cfg->user_agent, strlen(cfg->user_agent)));
    if (transparent) {
        append_item(h, a, &xff, SLICE_LIT("X-Forwarded-For"), s->client_ip);
        append_item(h, a, &fwd, SLICE_LIT("Forwarded"), forwarded_for(s->client_ip, a));
    }
    if ((transparent || level == ANON_ANONYMOUS) && s->via.len)
        headers_add_via(h, a, s->via);
}

void anonymity_response(struct headers *h, struct arena *a, const struct anonymity_config *cfg,
                        enum anonymity_level level, const struct anonymity_subject *s)
{
    if (strips_cookies(cfg, s))
        headers_del(h, SLICE_LIT("Set-Cookie"));
    if ((level == ANON_TRANSPARENT || level == ANON_ANONYMOUS) && s->via.len)
        headers_add_via(h, a, s->via);
}
