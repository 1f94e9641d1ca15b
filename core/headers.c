/* headers.c - header field lists on slices and the hop-by-hop rules.
 * Fields are kept in arrival order; removal compacts the array so that
 * serialization is one linear pass. */
#include "headers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

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

/* ---- field name ids ---- */

static const struct {
    const char *name;
    uint8_t id;
} id_names[] = {
    { "Host", HDR_HOST },
    { "Content-Length", HDR_CONTENT_LENGTH },
    { "Content-Type", HDR_CONTENT_TYPE },
    { "Transfer-Encoding", HDR_TRANSFER_ENCODING },
    { "Connection", HDR_CONNECTION },
    { "Proxy-Connection", HDR_PROXY_CONNECTION },
    { "Keep-Alive", HDR_KEEP_ALIVE },
    { "TE", HDR_TE },
    { "Trailer", HDR_TRAILER },
    { "Upgrade", HDR_UPGRADE },
    { "Proxy-Authorization", HDR_PROXY_AUTHORIZATION },
    { "Proxy-Authenticate", HDR_PROXY_AUTHENTICATE },
    { "Date", HDR_DATE },
    { "Cache-Control", HDR_CACHE_CONTROL },
    { "Via", HDR_VIA },
    { "X-Forwarded-For", HDR_X_FORWARDED_FOR },
    { "X-Forwarded-Proto", HDR_X_FORWARDED_PROTO },
    { "User-Agent", HDR_USER_AGENT },
    { "Referer", HDR_REFERER },
};

/* Each name as words: a name matches when its words, ORed with fold
 * (0x20 on the letters only), equal lower; exact for any bytes. A name is
 * looked up by its length and first letter, which no two names with an id
 * share, so a name without one costs a load; built on first use. */
#define ID_NAME_MAX 24
struct id_slot {
    uint8_t id;
    uint64_t lower[ID_NAME_MAX / 8], fold[ID_NAME_MAX / 8];
};
static struct id_slot id_slots[countof(id_names)];
static uint8_t id_slot_of[ID_NAME_MAX + 1][32]; /* [length][first byte & 31]: slot + 1 */
static uint64_t proxy_lower, proxy_fold;        /* "Proxy-", the prefix of HDR_PROXY_OTHER */
static _Atomic int ids_ready;
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;

/* noinline: kept out of headers_id, which then needs no stack frame */
__attribute__((noinline, cold)) static void build_ids(void)
{
    pthread_mutex_lock(&ids_lock);
    if (!atomic_load_explicit(&ids_ready, memory_order_relaxed)) {
        for (size_t i = 0; i < countof(id_names); i++) {
            const char *name = id_names[i].name;
            size_t len = strlen(name);
            uint8_t *at = len <= ID_NAME_MAX ? &id_slot_of[len][(unsigned char)name[0] & 31] : NULL;
            if (at == NULL || *at)
                abort(); /* a table that does not fit is a programming error */
            char lower[ID_NAME_MAX] = { 0 }, fold[ID_NAME_MAX] = { 0 };
            for (size_t k = 0; k < len; k++) {
                char c = name[k];
                bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                lower[k] = letter ? (char)(c | 0x20) : c;
                fold[k] = letter ? 0x20 : 0;
            }
            id_slots[i].id = id_names[i].id;
            for (size_t w = 0; w * 8 < len; w++) { /* loaded as headers_id loads a name */
                size_t n = len - w * 8 < 8 ? len - w * 8 : 8;
                id_slots[i].lower[w] = load_word(lower + w * 8, n);
                id_slots[i].fold[w] = load_word(fold + w * 8, n);
            }
            *at = (uint8_t)(i + 1);
        }
        proxy_lower = load_word("proxy-", 6);
        proxy_fold = load_word("\x20\x20\x20\x20\x20\0", 6);
        atomic_store_explicit(&ids_ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&ids_lock);
}

uint8_t headers_id(struct slice name)
{
    size_t len = name.len;
    const char *p = name.ptr;
    if (len - 1 < ID_NAME_MAX) { /* 1 to ID_NAME_MAX */
        if (unlikely(!atomic_load_explicit(&ids_ready, memory_order_acquire)))
            build_ids();
        unsigned e = id_slot_of[len][(unsigned char)p[0] & 31];
        if (e) {
            const struct id_slot *s = &id_slots[e - 1];
            uint64_t d = (load_word(p, len < 8 ? len : 8) | s->fold[0]) ^ s->lower[0];
            if (len > 8)
                d |= (load_word(p + 8, len < 16 ? len - 8 : 8) | s->fold[1]) ^ s->lower[1];
            if (len > 16)
                d |= (load_word(p + 16, len - 16) | s->fold[2]) ^ s->lower[2];
            if (d == 0)
                return s->id;
        }
    }
    if (len >= 6 && (p[0] | 0x20) == 'p' && ((load_word(p, 6) | proxy_fold) ^ proxy_lower) == 0)
        return HDR_PROXY_OTHER;
    return HDR_OTHER;
}

/* ---- field lists ---- */

void headers_init(struct headers *h)
{
    h->v = NULL;
    h->n = h->cap = 0;
}

void headers_add(struct headers *h, struct arena *a, struct slice name, struct slice value)
{
    headers_add_id(h, a, name, headers_id(name), value);
}

void headers_grow(struct headers *h, struct arena *a)
{
    unsigned cap = h->cap ? h->cap * 2 : 16;
    struct header *v = arena_alloc(a, cap * sizeof(*v));
    if (h->n)
        memcpy(v, h->v, h->n * sizeof(*v));
    h->v = v; /* the old array stays in the arena until the reset */
    h->cap = cap;
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
    uint8_t id = headers_id(name);
    for (unsigned i = from; i < h->n; i++)
        if (headers_same_name(h->v[i].id, h->v[i].name, id, name))
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
    uint8_t id = headers_id(name);
    unsigned i = 0;
    while (i < h->n && !headers_same_name(h->v[i].id, h->v[i].name, id, name))
        i++; /* most calls find nothing: move fields only from the first match on */
    unsigned kept = i;
    for (; i < h->n; i++)
        if (!headers_same_name(h->v[i].id, h->v[i].name, id, name))
            h->v[kept++] = h->v[i];
    unsigned removed = h->n - kept;
    h->n = kept;
    return removed;
}

unsigned headers_del_id(struct headers *h, uint8_t id)
{
    /* most calls find nothing: move fields only from the first match on */
    int first = headers_find_id(h, id, 0);
    if (first < 0)
        return 0;
    unsigned kept = (unsigned)first;
    for (unsigned i = kept + 1; i < h->n; i++)
        if (h->v[i].id != id)
            h->v[kept++] = h->v[i];
    unsigned removed = h->n - kept;
    h->n = kept;
    return removed;
}

void headers_set(struct headers *h, struct arena *a, struct slice name, struct slice value)
{
    uint8_t id = headers_id(name);
    int i = -1;
    for (unsigned j = 0; j < h->n && i < 0; j++)
        if (headers_same_name(h->v[j].id, h->v[j].name, id, name))
            i = (int)j;
    if (i < 0) {
        headers_add_id(h, a, name, id, value);
        return;
    }
    h->v[i].value = value;
    /* drop later duplicates, keep the first position */
    unsigned kept = (unsigned)i + 1;
    for (unsigned j = (unsigned)i + 1; j < h->n; j++)
        if (!headers_same_name(h->v[j].id, h->v[j].name, id, name))
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

/* What RFC 9110 7.6.1 makes of each well-known name: always hop-by-hop,
 * hop-by-hop unless kept (Proxy-Authorization, Upgrade), or not at all. */
enum { HOP_NO, HOP_ALWAYS, HOP_PROXY_AUTH, HOP_UPGRADE };
static const uint8_t hop_kind[HDR__COUNT] = {
    [HDR_CONNECTION] = HOP_ALWAYS,         [HDR_KEEP_ALIVE] = HOP_ALWAYS,
    [HDR_TE] = HOP_ALWAYS,                 [HDR_TRAILER] = HOP_ALWAYS,
    [HDR_TRANSFER_ENCODING] = HOP_ALWAYS,  [HDR_PROXY_CONNECTION] = HOP_ALWAYS, /* every Proxy-* */
    [HDR_PROXY_AUTHENTICATE] = HOP_ALWAYS, [HDR_PROXY_OTHER] = HOP_ALWAYS,
    [HDR_PROXY_AUTHORIZATION] = HOP_PROXY_AUTH, [HDR_UPGRADE] = HOP_UPGRADE,
};

/* The elements of every Connection field, collected once per list: the
 * fields they name are then found by comparing ids (and, for names with
 * no id of their own, strings of the same length). */
struct conn_token {
    struct slice name;
    uint8_t id;
};

/* Writes up to max elements of h's Connection fields to t; returns how
 * many there are in all. */
static unsigned collect_tokens(const struct headers *h, struct conn_token *t, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < h->n; i++) {
        if (h->v[i].id != HDR_CONNECTION)
            continue;
        const char *p = h->v[i].value.ptr, *end = p + h->v[i].value.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            if (n < max) {
                t[n].name = slice_trim(slice_make(p, (size_t)(stop - p)));
                t[n].id = headers_id(t[n].name);
            }
            n++;
            p = stop + 1;
        }
    }
    return n;
}

/* Is field f one that a Connection element names? Host is never honoured:
 * dropping it would re-route. */
static bool named_by_connection(const struct conn_token *t, unsigned n, const struct header *f)
{
    if (f->id == HDR_HOST)
        return false;
    for (unsigned k = 0; k < n; k++)
        if (headers_same_name(f->id, f->name, t[k].id, t[k].name))
            return true;
    return false;
}

void headers_strip_hop_by_hop(struct headers *h, unsigned keep)
{
    /* a sender rarely names more than two; a list naming more than fit
     * on the stack (a hostile one) gets memory of its own */
    struct conn_token stack[16], *t = stack;
    unsigned n = collect_tokens(h, stack, countof(stack));
    if (n > countof(stack)) {
        t = xmalloc(n * sizeof(*t));
        collect_tokens(h, t, n);
    }
    unsigned kept = 0;
    for (unsigned i = 0; i < h->n; i++) {
        const struct header *f = &h->v[i];
        switch (hop_kind[f->id]) {
        case HOP_ALWAYS:
            continue;
        case HOP_PROXY_AUTH:
            if (!(keep & HOP_KEEP_PROXY_AUTH))
                continue;
            break;
        case HOP_UPGRADE:
            if (!(keep & HOP_KEEP_UPGRADE))
                continue;
            break;
        }
        if (n && named_by_connection(t, n, f) && !((keep & HOP_KEEP_UPGRADE) && f->id == HDR_UPGRADE))
            continue;
        h->v[kept++] = *f;
    }
    h->n = kept;
    if (t != stack)
        free(t);
}

void headers_add_forwarded_for(struct headers *h, struct arena *a, struct slice client_ip,
                               struct slice proto)
{
    int i = headers_find_id(h, HDR_X_FORWARDED_FOR, 0);
    if (i < 0) {
        headers_add_id(h, a, H_XFF, HDR_X_FORWARDED_FOR, client_ip);
    } else {
        /* join every existing XFF field and append: "a, b, client" */
        size_t len = client_ip.len;
        for (int j = i; j >= 0; j = headers_find_id(h, HDR_X_FORWARDED_FOR, (unsigned)j + 1))
            len += h->v[j].value.len + 2;
        char *p = arena_alloc(a, len), *w = p;
        for (int j = i; j >= 0; j = headers_find_id(h, HDR_X_FORWARDED_FOR, (unsigned)j + 1)) {
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
    headers_add_id(h, a, H_VIA, HDR_VIA, slice_make(p, pseudonym.len + 4));
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
