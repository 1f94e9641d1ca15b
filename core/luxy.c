/* luxy.c - the few helpers every file uses: slices and allocation that
 * never returns NULL. */
#include "luxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

bool slice_caseeq(struct slice a, const char *s, size_t n)
{
    if (a.len != n)
        return false;
    size_t i = 0;
    /* names are compared with their own spelling most of the time: equal
     * words first, case folding only from the first word that differs */
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a.ptr + i, 8);
        memcpy(&y, s + i, 8);
        if (x != y)
            break;
    }
    for (; i < n; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)s[i];
        if (x == y)
            continue;
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

struct slice slice_trim(struct slice s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static void oom(size_t n)
{
    /* stdio, not the logger: the logger may need memory itself */
    fprintf(stderr, "luxy: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

double luxy_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#include "wbuf.h"

void wbuf_overflow(void)
{
    fprintf(stderr, "luxy: bug: a serialized head outgrew its computed size\n");
    abort();
}
