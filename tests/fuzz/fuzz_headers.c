/* fuzz_headers.c - header rewriting: a field list built from the input
 * (one "name:value" per line), then hop-by-hop removal, forwarding headers
 * and set/del as scripts do them. What comes out must still be a sequence
 * of well-formed "Name: value" lines when what went in was, each field
 * tagged with the id of its name. */
#include <stdint.h>
#include <string.h>

#include "../../core/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean(const struct headers *h)
{
    for (unsigned i = 0; i < h->n; i++)
        if (!headers_valid_name(h->v[i].name) || !headers_valid_value(h->v[i].value) ||
            h->v[i].id != headers_id(h->v[i].name))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct headers h;
    headers_init(&h);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon) {
            struct slice name = slice_make(p, (size_t)(colon - p));
            struct slice value = slice_trim(slice_make(colon + 1, (size_t)(stop - colon - 1)));
            if (headers_valid_name(name) && headers_valid_value(value))
                headers_add(&h, &a, name, value);
        }
        p = stop + 1;
    }
    headers_strip_hop_by_hop(&h, (unsigned)(size % 4));
    struct slice first = h.n ? h.v[0].name : SLICE_LIT("X-A");
    headers_add_forwarded_for(&h, &a, SLICE_LIT("192.0.2.1"), SLICE_LIT("http"));
    headers_add_via(&h, &a, SLICE_LIT("luxy"));
    headers_set(&h, &a, first, SLICE_LIT("v"));
    headers_del(&h, SLICE_LIT("Via"));
    if (!clean(&h) || headers_find(&h, SLICE_LIT("Connection"), 0) >= 0)
        __builtin_trap();
    char *out = arena_alloc(&a, headers_size(&h) + 1);
    struct wbuf w = wbuf_make(out, headers_size(&h)); /* overflow would abort */
    headers_write(&h, &w);
    size_t n = wbuf_len(&w, out);
    if (n != headers_size(&h))
        __builtin_trap();
    /* every line ends in CRLF and no bare CR or LF hides inside */
    for (size_t i = 0; i < n; i++)
        if ((out[i] == '\n') != (i > 0 && out[i - 1] == '\r') || (out[i] == '\r' && (i + 1 >= n || out[i + 1] != '\n')))
            __builtin_trap();
    arena_free(&a);
    return 0;
}
