/* fuzz_identity.c - the identity rules on hostile fields: a field list
 * built from the input (one "name:value" per line, well-formed fields
 * only, as the scanner would let through), then, chosen by the first
 * bytes, an anonymity level with its options, the trusted-proxy walk over
 * X-Forwarded-For / Forwarded, a reverse proxy's forwarding fields,
 * backend hiding with URL rewriting, and the destination rules. What
 * comes out must still be well-formed fields. */
#include <stdint.h>
#include <string.h>

#include "../../core/anonymity.h"
#include "../../core/backend_hiding.h"
#include "../../core/destination.h"
#include "../../core/forwarding.h"
#include "../../core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean(const struct headers *h)
{
    for (unsigned i = 0; i < h->n; i++)
        if (!headers_valid_name(h->v[i].name) || !headers_valid_value(h->v[i].value))
            return false;
    return true;
}

static struct slice public_host(void *ctx)
{
    (void)ctx;
    return SLICE_LIT("www.example.com");
}

static bool every_backend(void *ctx, struct slice host, uint16_t port)
{
    (void)ctx;
    return port % 2 == 0 || slice_caseeq_lit(host, "app.internal");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned pick = data[0], opts = data[1];
    data += 2;
    size -= 2;
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
    bool was_clean = clean(&h);

    /* the URL parser on every value */
    for (unsigned i = 0; i < h.n; i++) {
        struct url_origin o;
        if (url_parse_origin(h.v[i].value, &o) && (o.rest > h.v[i].value.len || o.host.len == 0))
            __builtin_trap();
    }

    struct cidr trusted[2];
    cidr_parse("127.0.0.0/8", &trusted[0]);
    cidr_parse("2001:db8::/32", &trusted[1]);
    struct forwarding_config fc = { trusted, 2, true, (opts & 1) != 0, (opts & 2) != 0, "8080" };
    union sockaddr_u client;
    forwarding_client(&fc, &h, &client);

    struct slice host = h.n ? h.v[0].value : SLICE_LIT("example.com");
    switch (pick % 4) {
    case 0: {
        char *only[] = { "Accept", "Cookie", "Referer" };
        struct anonymity_config ac = {
            .level = (enum anonymity_level)((pick >> 2) % 4),
            .user_agent = "UA/1.0",
            .accept_language = "en",
            .cookies = (enum cookie_policy)((opts >> 2) % 3),
            .send_only = (opts & 32) ? only : NULL,
            .nsend_only = (opts & 32) ? 3 : 0,
        };
        struct anonymity_subject s = { SLICE_LIT("192.0.2.1"), host, (uint16_t)(opts * 7), SLICE_LIT("luxy"),
                                       anonymity_third_party(&h, host) };
        if (opts & 64)
            s.client_ip = SLICE_LIT("2001:db8::1");
        anonymity_request(&h, &a, &ac, ac.level, &s);
        anonymity_response(&h, &a, &ac, ac.level, &s);
        anonymity_site(host);
        break;
    }
    case 1: {
        struct forwarding_subject s = { (opts & 4) != 0, SLICE_LIT("::1"), host };
        forwarding_request(&h, &a, &fc, &s);
        break;
    }
    case 2: {
        struct hiding_subject s = { public_host, every_backend, NULL };
        backend_hiding_apply(&h, &a, (opts & 1) ? "web" : NULL, &s);
        break;
    }
    default: {
        struct destination_rules d = { 0 };
        const char *why;
        destination_add(&d, "internal", &why);
        destination_add(&d, "*.blocked.example", &why);
        destination_add(&d, ".corp.example", &why);
        for (unsigned i = 0; i < h.n; i++)
            destination_host_denied(&d, h.v[i].value);
        destination_free(&d);
        break;
    }
    }
    if (was_clean && !clean(&h))
        __builtin_trap();
    arena_free(&a);
    return 0;
}
