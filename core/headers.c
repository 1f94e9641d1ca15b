/* headers.c - header field lists on slices and the hop-by-hop rules.
 * Fields are kept in arrival order; removal compacts the array so that
 * serialization is one linear pass. */
#include "headers.h"

const struct slice H_HOST = SLICE_LIT("Host");
const struct slice H_CONTENT_LENGTH = SLICE_LIT("Content-Length");
const struct slice H_CONTENT_TYPE = SLICE_LIT("Content-Type");
const struct slice H_TRANSFER_ENCODING = SLICE_LIT("Transfer-Encoding");
const struct slice H_CONNECTION = SLICE_LIT("Connection");
const struct slice H_DATE = SLICE_LIT("Date");
const struct slice H_CACHE_CONTROL = SLICE_LIT("Cache-Control");
const struct slice H_VIA = SLICE_LIT("Via");
const struct slice H_UPGRADE = SLICE_LIT("Upgrade");
const struct slice H_PROXY_AUTHORIZATION = SLICE_LIT("Proxy-Authorization");
static const struct slice H_XFF = SLICE_LIT("X-Forwarded-For");
static const struct slice H_XFP = SLICE_LIT("X-Forwarded-Proto");

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
#define T4(a, b, c, d) [a] = 1, [b] = 1, [c] = 1, [d] = 1
const uint8_t headers_tchar[256] = {
    T4('!', '#', '$', '%'), T4('&', '\'', '*', '+'), T4('-', '.', '^', '_'), T4('`', '|', '~', '0'),
    T4('1', '2', '3', '4'), T4('5', '6', '7', '8'), ['9'] = 1,
    T4('a', 'b', 'c', 'd'), T4('e', 'f', 'g', 'h'), T4('i', 'j', 'k', 'l'), T4('m', 'n', 'o', 'p'),
    T4('q', 'r', 's', 't'), T4('u', 'v', 'w', 'x'), ['y'] = 1, ['z'] = 1,
    T4('A', 'B', 'C', 'D'), T4('E', 'F', 'G', 'H'), T4('I', 'J', 'K', 'L'), T4('M', 'N', 'O', 'P'),
    T4('Q', 'R', 'S', 'T'), T4('U', 'V', 'W', 'X'), ['Y'] = 1, ['Z'] = 1,
};
#undef T4

void headers_init(struct headers *h)
{
    h->v = NULL;
    h->n = h->cap = 0;
}

void headers_add(struct headers *h, struct arena *a, struct slice name, struct slice value)
{
    if (h->n == h->cap) {
        unsigned cap = h->cap ? h->cap * 2 : 16;
        struct header *v = arena_alloc(a, cap * sizeof(*v));
        if (h->n)
            memcpy(v, h->v, h->n * sizeof(*v));
        h->v = v; /* the old array stays in the arena until the reset */
        h->cap = cap;
    }
    h->v[h->n].name = name;
    h->v[h->n].value = value;
    h->n++;
}

struct headers headers_copy(const struct headers *h, struct arena *a)
{
    struct headers c = *h;
    c.cap = h->cap ? h->cap : 1;
    c.v = arena_alloc(a, c.cap * sizeof(*c.v));
    if (h->n)
        memcpy(c.v, h->v, h->n * sizeof(*c.v));
    return c;
}

int headers_find(const struct headers *h, struct slice name, unsigned from)
{
    for (unsigned i = from; i < h->n; i++)
        if (slice_caseeq(h->v[i].name, name.ptr, name.len))
            return (int)i;
    return -1;
}

struct slice headers_get(const struct headers *h, struct slice name)
{
    int i = headers_find(h, name, 0);
    return i < 0 ? SLICE_NULL : h->v[i].value;
}

unsigned headers_del(struct headers *h, struct slice name)
{
    /* most calls find nothing: move fields only from the first match on */
    int first = headers_find_quick(h, name);
    if (first < 0)
        return 0;
    unsigned kept = (unsigned)first, removed = 1;
    for (unsigned i = kept + 1; i < h->n; i++) {
        if (slice_caseeq(h->v[i].name, name.ptr, name.len))
            removed++;
        else
            h->v[kept++] = h->v[i];
    }
    h->n = kept;
    return removed;
}

void headers_set(struct headers *h, struct arena *a, struct slice name, struct slice value)
{
    int i = headers_find(h, name, 0);
    if (i < 0) {
        headers_add(h, a, name, value);
        return;
    }
    h->v[i].value = value;
    /* drop later duplicates, keep the first position */
    unsigned kept = (unsigned)i + 1;
    for (unsigned j = (unsigned)i + 1; j < h->n; j++)
        if (!slice_caseeq(h->v[j].name, name.ptr, name.len))
            h->v[kept++] = h->v[j];
    h->n = kept;
}

/* Is token (case-insensitive) one trimmed element of a comma list? */
static bool list_contains(struct slice list, struct slice token)
{
    const char *p = list.ptr, *end = list.ptr + list.len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        struct slice el = slice_trim(slice_make(p, (size_t)(stop - p)));
        if (slice_caseeq(el, token.ptr, token.len))
            return true;
        p = stop + 1;
    }
    return false;
}

bool headers_has_token(const struct headers *h, struct slice name, struct slice token)
{
    for (int i = headers_find(h, name, 0); i >= 0; i = headers_find(h, name, (unsigned)i + 1))
        if (list_contains(h->v[i].value, token))
            return true;
    return false;
}

bool headers_valid_name(struct slice name)
{
    if (name.len == 0)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if (!headers_is_tchar((unsigned char)name.ptr[i]))
            return false;
    return true;
}

bool headers_valid_value(struct slice value)
{
    for (size_t i = 0; i < value.len; i++) {
        unsigned char c = (unsigned char)value.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static bool is_hop_by_hop(struct slice name, unsigned keep)
{
    static const struct slice fixed[] = {
        SLICE_LIT("Connection"), SLICE_LIT("Keep-Alive"), SLICE_LIT("TE"),
        SLICE_LIT("Trailer"),    SLICE_LIT("Transfer-Encoding"),
    };
    for (size_t i = 0; i < countof(fixed); i++)
        if (slice_caseeq(name, fixed[i].ptr, fixed[i].len))
            return true;
    if (name.len >= 6 && slice_caseeq(slice_make(name.ptr, 6), "Proxy-", 6))
        /* Proxy-Connection, Proxy-Authorization, ... */
        return !((keep & HOP_KEEP_PROXY_AUTH) && slice_caseeq(name, H_PROXY_AUTHORIZATION.ptr,
                                                              H_PROXY_AUTHORIZATION.len));
    return !(keep & HOP_KEEP_UPGRADE) && slice_caseeq(name, H_UPGRADE.ptr, H_UPGRADE.len);
}

/* Is name listed in any Connection field (a field the sender declared
 * hop-by-hop)? Host is never honoured: dropping it would re-route. */
static bool named_by_connection(const struct headers *h, struct slice name)
{
    if (slice_caseeq(name, H_HOST.ptr, H_HOST.len))
        return false;
    return headers_has_token(h, H_CONNECTION, name);
}

void headers_strip_hop_by_hop(struct headers *h, unsigned keep)
{
    /* the fields Connection names are marked (an empty name) before any is
     * moved: the compaction below overwrites the Connection fields, which
     * must be read whole for every name */
    if (headers_find(h, H_CONNECTION, 0) >= 0)
        for (unsigned i = 0; i < h->n; i++) {
            struct slice name = h->v[i].name;
            if (!is_hop_by_hop(name, keep) && named_by_connection(h, name) &&
                !((keep & HOP_KEEP_UPGRADE) && slice_caseeq(name, H_UPGRADE.ptr, H_UPGRADE.len)))
                h->v[i].name.len = 0;
        }
    unsigned kept = 0;
    for (unsigned i = 0; i < h->n; i++) {
        struct slice name = h->v[i].name;
        if (name.len == 0 || is_hop_by_hop(name, keep))
            continue;
        h->v[kept++] = h->v[i];
    }
    h->n = kept;
}

void headers_add_forwarded_for(struct headers *h, struct arena *a, struct slice client_ip,
                               struct slice proto)
{
    int i = headers_find(h, H_XFF, 0);
    if (i < 0) {
        headers_add(h, a, H_XFF, client_ip);
    } else {
        /* join every existing XFF field and append: "a, b, client" */
        size_t len = client_ip.len;
        for (int j = i; j >= 0; j = headers_find(h, H_XFF, (unsigned)j + 1))
            len += h->v[j].value.len + 2;
        char *p = arena_alloc(a, len), *w = p;
        for (int j = i; j >= 0; j = headers_find(h, H_XFF, (unsigned)j + 1)) {
            memcpy(w, h->v[j].value.ptr, h->v[j].value.len);
            w += h->v[j].value.len;
            *w++ = ',';
            *w++ = ' ';
        }
        memcpy(w, client_ip.ptr, client_ip.len);
        w += client_ip.len;
        headers_set(h, a, H_XFF, slice_make(p, (size_t)(w - p)));
    }
    headers_set(h, a, H_XFP, proto);
}

void headers_add_via(struct headers *h, struct arena *a, struct slice pseudonym)
{
    char *p = arena_alloc(a, pseudonym.len + 4);
    memcpy(p, "1.1 ", 4);
    memcpy(p + 4, pseudonym.ptr, pseudonym.len);
    headers_add(h, a, H_VIA, slice_make(p, pseudonym.len + 4));
}

size_t headers_size(const struct headers *h)
{
    size_t n = 0;
    for (unsigned i = 0; i < h->n; i++)
        n += h->v[i].name.len + h->v[i].value.len + 4;
    return n;
}

void headers_write(const struct headers *h, struct wbuf *w)
{
    for (unsigned i = 0; i < h->n; i++) {
        wbuf_slice(w, h->v[i].name);
        wbuf_lit(w, ": ");
        wbuf_slice(w, h->v[i].value);
        wbuf_lit(w, "\r\n");
    }
}
