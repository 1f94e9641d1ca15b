/* fuzz_request.c - request heads: the scanner, then (when it accepts) the
 * parser, the target split and the hygiene step, as request.c runs them.
 * Also feeds the same bytes split in two, as a slow client would, and
 * holds the fast scanner and the parse to their references
 * (head_reference.h). */
#include <stdint.h>
#include <string.h>

#include "../../core/headers.h"
#include "../../core/http.h"
#include "head_reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits lim = { 16384, 4096, 100 };

static void check_head(const char *p, size_t len)
{
    struct arena a;
    arena_init(&a);
    http_parser parser;
    struct http_head head;
    const char *err = NULL;
    if (http_parse_request(&parser, p, len, &head, &a, &err) == 0) {
        struct http_target t;
        if (http_split_target(&head, &t, &err) == 0) {
            /* slices must stay inside the head */
            if (t.path.len && (t.path.ptr < p || t.path.ptr + t.path.len > p + len) &&
                !(t.path.len == 1 && t.path.ptr[0] == '/'))
                __builtin_trap();
        }
        headers_strip_hop_by_hop(&head.headers, 0);
        headers_add_forwarded_for(&head.headers, &a, SLICE_LIT("127.0.0.1"), SLICE_LIT("http"));
        char *out = arena_alloc(&a, headers_size(&head.headers) + 1);
        struct wbuf w = wbuf_make(out, headers_size(&head.headers));
        headers_write(&head.headers, &w);
        if (wbuf_len(&w, out) != headers_size(&head.headers))
            __builtin_trap();
    }
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct http_scan whole = { 0 }, split = { 0 };
    size_t len = 0, len2 = 0;
    int st = 0, st2 = 0;
    const char *err;
    enum http_scan_result r = http_scan(&whole, p, size, &lim, &len, &st, &err);
    /* the same bytes in two reads must give the same verdict */
    size_t cut = size ? data[0] % (size + 1) : 0;
    enum http_scan_result r2 = http_scan(&split, p, cut, &lim, &len2, &st2, &err);
    if (r2 == SCAN_MORE)
        r2 = http_scan(&split, p, size, &lim, &len2, &st2, &err);
    if (r != r2 || (r == SCAN_DONE && len != len2) || (r == SCAN_BAD && st != st2))
        __builtin_trap();
    struct scan_out ref = scan_differential(p, size, &lim, false);
    if (ref.r != r || (r == SCAN_DONE && ref.len != len))
        __builtin_trap();
    if (r == SCAN_DONE) {
        if (len > size || len < 4 || memcmp(p + len - 4, "\r\n\r\n", 4) != 0)
            __builtin_trap();
        parse_differential(HTTP_REQUEST, p, len, false);
        check_head(p, len);
    }
    return 0;
}
