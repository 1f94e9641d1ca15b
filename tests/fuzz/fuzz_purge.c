/* fuzz_purge.c - the POST /api/purge body reader (core/purge_body.c) on
 * hostile bodies. Input: one byte choosing the Content-Type (none, JSON,
 * a form, with parameters, another type), then the body. No crash, no
 * read past the body, and the results keep their invariants: the status
 * is 0, 400 or 415; an error has a message; a request names one of url,
 * prefix, tag with a non-empty NUL-terminated value, and a url or prefix
 * has a key that is an http:// URL which reads back as itself. The URL
 * reader also runs on the raw bytes with a small output buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/purge_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct purge_request req; /* 8 KB: not on the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const types[] = { NULL,
                                         "application/json",
                                         "application/x-www-form-urlencoded",
                                         " Application/JSON ; charset=utf-8",
                                         "application/x-www-form-urlencoded;charset=UTF-8",
                                         "text/plain",
                                         "",
                                         "application/jsonx" };
    const char *ct = types[data[0] & 7];
    size_t n = size - 1;
    char *body = malloc(n ? n : 1); /* a copy of its own size: a read past it is caught */
    memcpy(body, data + 1, n);
    char err[256];
    err[0] = '\0';
    int st = purge_body_parse(ct, ct ? strlen(ct) : 0, body, n, &req, err, sizeof(err));
    if (st != 0 && st != 400 && st != 415)
        __builtin_trap();
    if (st != 0 && (err[0] == '\0' || strlen(err) >= sizeof(err)))
        __builtin_trap();
    if (st == 0) {
        if (req.by != PURGE_URL && req.by != PURGE_PREFIX && req.by != PURGE_TAG)
            __builtin_trap();
        if (req.len == 0 || req.len > PURGE_VALUE_MAX || req.value[req.len] != '\0')
            __builtin_trap();
        if (req.by == PURGE_TAG && (req.len > PURGE_TAG_MAX || memchr(req.value, ',', req.len)))
            __builtin_trap();
        if (req.by != PURGE_TAG) {
            if (req.key_len < 8 || req.key_len >= sizeof(req.key) || strlen(req.key) != req.key_len ||
                memcmp(req.key, "http://", 7) != 0)
                __builtin_trap();
            char again[sizeof(req.key)];
            const char *why = NULL;
            int k = purge_url_key(req.key, req.key_len, again, sizeof(again), &why);
            if (k != (int)req.key_len || memcmp(again, req.key, req.key_len) != 0)
                __builtin_trap(); /* a key is its own key */
        }
    }
    char small[64];
    const char *why = NULL;
    int k = purge_url_key(body, n, small, sizeof(small), &why);
    if (k >= (int)sizeof(small) || (k < 0 && why == NULL) || (k >= 0 && (size_t)k != strlen(small)))
        __builtin_trap();
    free(body);
    return 0;
}
