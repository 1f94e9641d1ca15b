/* fuzz_chunked.c - the chunked decoder fed in pieces of varying size: the
 * verdict and the decoded bytes must not depend on how input is split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    uint8_t *buf;
    size_t n;
};

static void collect(void *arg, const char *p, size_t n)
{
    struct sink *s = arg;
    memcpy(s->buf + s->n, p, n);
    s->n += n;
}

/* Returns bytes consumed or -1; decoded bytes go to s. */
static long run(const char *p, size_t size, size_t step, struct sink *s, int *done)
{
    struct body_reader b;
    body_init(&b, BODY_CHUNKED, 0);
    size_t off = 0;
    const char *err;
    while (off < size && !b.done) {
        size_t n = size - off < step ? size - off : step;
        ssize_t used = body_feed(&b, p + off, n, collect, s, &err);
        if (used < 0)
            return -1;
        if ((size_t)used > n)
            __builtin_trap();
        off += (size_t)used;
        if ((size_t)used < n && !b.done)
            __builtin_trap(); /* stops early only at the end of the body */
    }
    if (s->n != b.total)
        __builtin_trap();
    *done = b.done;
    return (long)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] % 17 + 1;
    const char *p = (const char *)data + 1;
    size--;
    struct sink a = { malloc(size + 1), 0 }, b = { malloc(size + 1), 0 };
    int done_a = 0, done_b = 0;
    long ra = run(p, size, size ? size : 1, &a, &done_a);
    long rb = run(p, size, step, &b, &done_b);
    if ((ra < 0) != (rb < 0))
        __builtin_trap();
    if (ra >= 0 && (ra != rb || done_a != done_b || a.n != b.n || memcmp(a.buf, b.buf, a.n) != 0))
        __builtin_trap();
    free(a.buf);
    free(b.buf);
    return 0;
}
