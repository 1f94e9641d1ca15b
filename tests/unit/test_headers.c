/* test_headers.c - header lists, field name ids, and the hop-by-hop /
 * forwarding rules (the one-pass strip held to a plain reference). */
#include <stdio.h>
#include <string.h>

#include "../../core/headers.h"
#include "tap.h"

static struct headers make(struct arena *a, const char *const *pairs)
{
    struct headers h;
    headers_init(&h);
    for (; pairs[0]; pairs += 2)
        headers_add(&h, a, slice_make(pairs[0], strlen(pairs[0])), slice_make(pairs[1], strlen(pairs[1])));
    return h;
}

static bool has(const struct headers *h, const char *name)
{
    return headers_find(h, slice_make(name, strlen(name)), 0) >= 0;
}

static void test_basic(void)
{
    struct arena a;
    arena_init(&a);
    const char *const p[] = { "Host", "x", "Accept", "a", "accept", "b", NULL };
    struct headers h = make(&a, p);
    ok(slice_eq(headers_get(&h, SLICE_LIT("ACCEPT")), "a", 1), "case-insensitive get");
    headers_set(&h, &a, SLICE_LIT("Accept"), SLICE_LIT("c"));
    is_int(h.n, 2, "set removes duplicates");
    ok(slice_eq(headers_get(&h, SLICE_LIT("accept")), "c", 1), "set replaced the value");
    is_int(headers_del(&h, SLICE_LIT("host")), 1, "del");
    ok(!has(&h, "Host"), "deleted");
    char buf[64];
    struct wbuf w = wbuf_make(buf, headers_size(&h)); /* exactly the size: no room to spare */
    headers_write(&h, &w);
    size_t n = wbuf_len(&w, buf);
    is_int(n, headers_size(&h), "size matches write");
    ok(memcmp(buf, "Accept: c\r\n", 11) == 0, "serialized");
    arena_free(&a);
}

static void test_hop_by_hop(void)
{
    struct arena a;
    arena_init(&a);
    const char *const p[] = { "Host", "h", "Connection", "close, X-Secret, Host", "X-Secret", "s",
                              "Keep-Alive", "300", "TE", "trailers", "Trailer", "X",
                              "Transfer-Encoding", "chunked", "Upgrade", "websocket",
                              "Proxy-Connection", "keep-alive", "Proxy-Authorization", "Basic x",
                              "X-Keep", "k", "Content-Length", "3", NULL };
    struct headers h = make(&a, p);
    headers_strip_hop_by_hop(&h, 0);
    ok(has(&h, "Host"), "Host survives even when Connection names it");
    ok(has(&h, "X-Keep") && has(&h, "Content-Length"), "end-to-end fields stay");
    const char *gone[] = { "Connection", "X-Secret", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding",
                           "Upgrade", "Proxy-Connection", "Proxy-Authorization" };
    for (size_t i = 0; i < countof(gone); i++)
        ok(!has(&h, gone[i]), "%s removed", gone[i]);

    /* Connection first, then a field that stays: the names it lists still go
     * (they were kept when the compaction overwrote the Connection field) */
    const char *const c[] = { "Connection", "close, X-Secret, X-Other", "Host", "h", "X-Keep", "k",
                              "X-Secret", "s", "x-other", "o", NULL };
    struct headers f = make(&a, c);
    headers_strip_hop_by_hop(&f, 0);
    ok(!has(&f, "X-Secret") && !has(&f, "X-Other"), "fields named by a leading Connection are removed");
    ok(has(&f, "Host") && has(&f, "X-Keep") && f.n == 2, "and only those: %u left", f.n);

    const char *const q[] = { "Connection", "Upgrade", "Upgrade", "websocket", NULL };
    struct headers u = make(&a, q);
    headers_strip_hop_by_hop(&u, HOP_KEEP_UPGRADE);
    ok(has(&u, "Upgrade") && !has(&u, "Connection"), "Upgrade kept for a tunnel");
    arena_free(&a);
}


/* Every name with an id, as the table spells it. */
static const struct {
    const char *name;
    uint8_t id;
} known[] = {
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

/* The rule headers_id implements, spelled plainly. */
static uint8_t reference_id(struct slice name)
{
    for (size_t i = 0; i < countof(known); i++)
        if (slice_caseeq(name, known[i].name, strlen(known[i].name)))
            return known[i].id;
    if (name.len >= 6 && slice_caseeq(slice_make(name.ptr, 6), "Proxy-", 6))
        return HDR_PROXY_OTHER;
    return HDR_OTHER;
}

static void test_ids(void)
{
    char buf[64];
    unsigned bad = 0, tried = 0;
    for (size_t i = 0; i < countof(known); i++) {
        size_t len = strlen(known[i].name);
        memcpy(buf, known[i].name, len);
        is_int(headers_id(slice_make(buf, len)), known[i].id, known[i].name);
        for (size_t k = 0; k < len; k++) /* every letter in the other case */
            if ((buf[k] | 0x20) >= 'a' && (buf[k] | 0x20) <= 'z')
                buf[k] ^= 0x20;
        is_int(headers_id(slice_make(buf, len)), known[i].id, "the name in the other case");
        /* every byte value at every place: only the other case of a letter
         * keeps the id (a compare that ORs 0x20 into every byte would take
         * CR for '-') */
        for (size_t k = 0; k < len; k++) {
            memcpy(buf, known[i].name, len);
            for (unsigned b = 0; b < 256; b++) {
                buf[k] = (char)b;
                struct slice n = slice_make(buf, len);
                bad += headers_id(n) != reference_id(n);
                tried++;
            }
        }
        memcpy(buf, known[i].name, len);
        bad += headers_id(slice_make(buf, len - 1)) != reference_id(slice_make(buf, len - 1));
        buf[len] = 's';
        bad += headers_id(slice_make(buf, len + 1)) != reference_id(slice_make(buf, len + 1));
    }
    is_int(bad, 0, "ids agree with the plain rule for every single-byte change");
    ok(tried > 50000, "many names tried (%u)", tried);
    is_int(headers_id(SLICE_LIT("proxy-foo")), HDR_PROXY_OTHER, "another Proxy-* field");
    is_int(headers_id(SLICE_LIT("Proxy-")), HDR_PROXY_OTHER, "the bare prefix counts, as it always did");
    is_int(headers_id(SLICE_LIT("Proxy")), HDR_OTHER, "shorter than the prefix");
    is_int(headers_id(SLICE_LIT("X-Forwarded-Host")), HDR_OTHER, "a name of the same length as one with an id");
    is_int(headers_id(SLICE_LIT("")), HDR_OTHER, "empty");
    is_int(headers_id(SLICE_LIT("A-Very-Long-Field-Name-Beyond-Any-Id")), HDR_OTHER, "longer than any id");
    is_int(headers_id(SLICE_LIT("Content\rLength")), HDR_OTHER, "CR where '-' is (CR | 0x20 is '-')");

    struct arena a;
    arena_init(&a);
    struct headers h;
    headers_init(&h);
    headers_add(&h, &a, SLICE_LIT("hOsT"), SLICE_LIT("a"));
    headers_add(&h, &a, SLICE_LIT("Proxy-Foo"), SLICE_LIT("1"));
    headers_add(&h, &a, SLICE_LIT("Proxy-Bar"), SLICE_LIT("2"));
    headers_add(&h, &a, SLICE_LIT("X-A"), SLICE_LIT("3"));
    is_int(h.v[0].id, HDR_HOST, "headers_add tags the field");
    is_int(headers_find_id(&h, HDR_HOST, 0), 0, "found by id");
    is_int(headers_find(&h, SLICE_LIT("HOST"), 0), 0, "found by name");
    is_int(headers_find(&h, SLICE_LIT("proxy-bar"), 0), 2, "a class id still compares the name");
    is_int(headers_find(&h, SLICE_LIT("x-a"), 0), 3, "a name without an id");
    is_int(headers_find(&h, SLICE_LIT("X-B"), 0), -1, "absent");
    headers_set(&h, &a, SLICE_LIT("proxy-foo"), SLICE_LIT("9"));
    ok(slice_eq(headers_get(&h, SLICE_LIT("Proxy-Foo")), "9", 1) && h.n == 4, "set by a class id");
    is_int(headers_del(&h, SLICE_LIT("PROXY-FOO")), 1, "del by a class id takes only that name");
    ok(has(&h, "Proxy-Bar"), "the other Proxy-* field stays");
    struct headers c = headers_copy(&h, &a);
    is_int(c.v[0].id, HDR_HOST, "a copy keeps the ids");
    arena_free(&a);
}

/* The hop-by-hop rule as it reads in RFC 9110 7.6.1, one name at a time,
 * against the Connection fields as they came. */
static bool reference_drops(const struct headers *orig, struct slice name, unsigned keep)
{
    static const char *const fixed[] = { "Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding" };
    for (size_t i = 0; i < countof(fixed); i++)
        if (slice_caseeq(name, fixed[i], strlen(fixed[i])))
            return true;
    bool upgrade = slice_caseeq_lit(name, "Upgrade");
    if (name.len >= 6 && slice_caseeq(slice_make(name.ptr, 6), "Proxy-", 6) &&
        !((keep & HOP_KEEP_PROXY_AUTH) && slice_caseeq_lit(name, "Proxy-Authorization")))
        return true;
    if (upgrade && !(keep & HOP_KEEP_UPGRADE))
        return true;
    if (slice_caseeq_lit(name, "Host"))
        return false;
    for (unsigned i = 0; i < orig->n; i++) {
        if (!slice_caseeq_lit(orig->v[i].name, "Connection"))
            continue;
        struct slice v = orig->v[i].value;
        const char *p = v.ptr, *end = v.ptr + v.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            if (slice_caseeq(slice_trim(slice_make(p, (size_t)(stop - p))), name.ptr, name.len))
                return !(upgrade && (keep & HOP_KEEP_UPGRADE));
            p = stop + 1;
        }
    }
    return false;
}

static void test_strip_one_pass(void)
{
    struct arena a;
    arena_init(&a);
    /* a kept field between Connection and a field it names: the named one
     * still goes (the Connection tokens are read before anything moves) */
    const char *const p[] = { "Connection", "close, X-Secret", "Host", "a", "X-Secret", "1", NULL };
    struct headers h = make(&a, p);
    headers_strip_hop_by_hop(&h, 0);
    ok(h.n == 1 && has(&h, "Host"), "a field named by Connection goes wherever it stands");

    /* more tokens than fit on the stack */
    char list[1024];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%sX-N%d", i ? ", " : "", i);
    struct headers m;
    headers_init(&m);
    headers_add(&m, &a, SLICE_LIT("X-Keep"), SLICE_LIT("k"));
    headers_add(&m, &a, SLICE_LIT("Connection"), slice_make(list, n));
    char names[40][8];
    for (int i = 0; i < 40; i++) {
        int len = snprintf(names[i], sizeof(names[i]), "x-n%d", i);
        headers_add(&m, &a, slice_make(names[i], (size_t)len), SLICE_LIT("v"));
    }
    headers_strip_hop_by_hop(&m, 0);
    ok(m.n == 1 && has(&m, "X-Keep"), "forty named fields all go (%u left)", m.n);

    /* generated lists against the reference */
    static const char *const pool[] = { "Host", "Connection", "connection", "Keep-Alive", "TE", "Trailer",
                                        "Transfer-Encoding", "Upgrade", "Proxy-Connection",
                                        "Proxy-Authorization", "Proxy-X", "X-A", "x-b", "Content-Length",
                                        "Via", "Date", "X-Forwarded-For" };
    static const char *const tokens[] = { "close", "keep-alive", "X-A", "x-B", "upgrade", "Host", "te",
                                          "proxy-x", "Via", " X-A ", "", "Proxy-Authorization" };
    unsigned seed = 12345, mismatches = 0;
    for (int round = 0; round < 20000; round++) {
        arena_reset(&a);
        struct headers g, orig;
        headers_init(&g);
        unsigned fields = (seed = seed * 1103515245u + 12345u) >> 16 & 7;
        for (unsigned f = 0; f <= fields; f++) {
            seed = seed * 1103515245u + 12345u;
            const char *name = pool[(seed >> 16) % countof(pool)];
            struct slice value = SLICE_LIT("v");
            if (slice_caseeq_lit(slice_make(name, strlen(name)), "Connection")) {
                char *v = arena_alloc(&a, 128);
                size_t len = 0;
                unsigned k = (seed >> 8) % 4;
                for (unsigned t = 0; t <= k; t++) {
                    seed = seed * 1103515245u + 12345u;
                    const char *tok = tokens[(seed >> 16) % countof(tokens)];
                    len += (size_t)snprintf(v + len, 128 - len, "%s%s", t ? "," : "", tok);
                }
                value = slice_make(v, len);
            }
            headers_add(&g, &a, slice_make(name, strlen(name)), value);
        }
        unsigned keep = round % 4;
        orig = headers_copy(&g, &a);
        headers_strip_hop_by_hop(&g, keep);
        unsigned j = 0;
        for (unsigned i = 0; i < orig.n; i++) {
            if (reference_drops(&orig, orig.v[i].name, keep))
                continue;
            if (j >= g.n || g.v[j].name.ptr != orig.v[i].name.ptr)
                mismatches++;
            j++;
        }
        mismatches += j != g.n;
    }
    is_int(mismatches, 0, "the one-pass strip keeps what the reference keeps, in order");
    arena_free(&a);
}

static void test_forwarding(void)
{
    struct arena a;
    arena_init(&a);
    const char *const p[] = { "X-Forwarded-For", "1.1.1.1", "x-forwarded-for", "2.2.2.2",
                              "X-Forwarded-Proto", "https", NULL };
    struct headers h = make(&a, p);
    headers_add_forwarded_for(&h, &a, SLICE_LIT("127.0.0.1"), SLICE_LIT("http"));
    struct slice xff = headers_get(&h, SLICE_LIT("X-Forwarded-For"));
    ok(slice_eq(xff, "1.1.1.1, 2.2.2.2, 127.0.0.1", 27), "XFF appended into one field: %.*s", (int)xff.len, xff.ptr);
    is_int(h.n, 2, "one XFF field, one XFP field");
    ok(slice_eq(headers_get(&h, SLICE_LIT("X-Forwarded-Proto")), "http", 4), "XFP set");
    headers_add_via(&h, &a, SLICE_LIT("luxy"));
    ok(slice_eq(headers_get(&h, SLICE_LIT("Via")), "1.1 luxy", 8), "Via added");
    ok(headers_has_token(&h, SLICE_LIT("x-forwarded-for"), SLICE_LIT("2.2.2.2")), "token in list");
    arena_free(&a);
}

static void test_validation(void)
{
    ok(headers_valid_name(SLICE_LIT("X-Good_1")), "token name");
    ok(!headers_valid_name(SLICE_LIT("Bad Name")), "space in name");
    ok(!headers_valid_name(SLICE_LIT("Bad:")), "colon in name");
    ok(!headers_valid_name(SLICE_LIT("")), "empty name");
    ok(headers_valid_value(SLICE_LIT("a\tb c")), "tab and space in value");
    ok(!headers_valid_value(SLICE_LIT("a\r\nX-Injected: 1")), "CRLF injection refused");
    ok(!headers_valid_value(slice_make("a\0b", 3)), "NUL refused");
}

int main(void)
{
    test_basic();
    test_hop_by_hop();
    test_ids();
    test_strip_one_pass();
    test_forwarding();
    test_validation();
    return tap_done("headers");
}
