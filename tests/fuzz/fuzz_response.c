/* fuzz_response.c - backend response heads: the scanner in status-line
 * mode, then the parser, with and without a HEAD request; the fast scanner
 * and the parse held to their references (head_reference.h). */
#include <stdint.h>
#include <string.h>

#include "../../core/headers.h"
#include "../../core/http.h"
#include "head_reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits lim = { 16384, 16384, 1000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct http_scan s = { .response = true };
    size_t len = 0;
    int st;
    const char *err;
    enum http_scan_result r = http_scan(&s, p, size, &lim, &len, &st, &err);
    struct scan_out ref = scan_differential(p, size, &lim, true);
    if (ref.r != r || (r == SCAN_DONE && ref.len != len))
        __builtin_trap();
    if (r != SCAN_DONE)
        return 0;
    parse_differential(HTTP_RESPONSE, p, len, false);
    parse_differential(HTTP_RESPONSE, p, len, true);
    struct arena a;
    arena_init(&a);
    http_parser parser;
    struct http_head h;
    for (int head_request = 0; head_request < 2; head_request++) {
        if (http_parse_response(&parser, p, len, head_request, &h, &a, &err) == 0) {
            if (head_request && !h.complete)
                __builtin_trap(); /* a response to HEAD never has a body */
            if ((h.status == 204 || h.status == 304 || h.status / 100 == 1) && !h.complete)
                __builtin_trap();
            headers_strip_hop_by_hop(&h.headers, 0);
        }
        arena_reset(&a);
    }
    arena_free(&a);
    return 0;
}
