/* test_headers.c - header lists and the hop-by-hop / forwarding rules. */
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
    test_forwarding();
    test_validation();
    return tap_done("headers");
}
