/* luxy.h - basics shared by every file of the core: slices, container_of,
 * allocation that dies loudly on OOM, and a few small helpers.
 * Invariant: nothing here allocates except the x* functions. */
#ifndef LUXY_H
#define LUXY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define LUXY_VERSION "0.1.0"

#define countof(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A borrowed run of bytes: never NUL-terminated, never owned. */
struct slice {
    const char *ptr;
    size_t len;
};

#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })
#define SLICE_NULL ((struct slice){ NULL, 0 })

static inline struct slice slice_make(const char *p, size_t n)
{
    return (struct slice){ p, n };
}

static inline bool slice_eq(struct slice a, const char *lit, size_t n)
{
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

/* ASCII case-insensitive equality: header names, tokens. */
bool slice_caseeq(struct slice a, const char *s, size_t n);
#define slice_caseeq_lit(a, lit) slice_caseeq((a), (lit), sizeof(lit) - 1)

/* Trim optional whitespace (SP / HTAB) at both ends. */
struct slice slice_trim(struct slice s);

/* The n (0-8) bytes at p packed into a word, one 8-bit lane per byte
 * and zeros beyond n, so that OR, AND and XOR work byte by byte. Compare
 * only with words made by load_word too: the lanes are in memory order on
 * little-endian machines only. Fixed-size loads and shifts, no stack: a
 * copy of variable size is a library call, dearer than a short compare. */
static inline uint64_t load_word(const char *p, size_t n)
{
    uint64_t v = 0;
    if (n >= 8) {
        memcpy(&v, p, 8);
        return v;
    }
    unsigned o = 0;
    if (n & 4) {
        uint32_t x;
        memcpy(&x, p, 4);
        v = x;
        o = 4;
    }
    if (n & 2) {
        uint16_t x;
        memcpy(&x, p + o, 2);
        v |= (uint64_t)x << (o * 8);
        o += 2;
    }
    if (n & 1)
        v |= (uint64_t)(unsigned char)p[o] << (o * 8);
    return v;
}

/* Allocation: these never return NULL; on OOM they log and abort, because a
 * proxy that limps on after malloc failed corrupts traffic instead. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Monotonic seconds, for code that has no ev_loop at hand. */
double luxy_monotonic(void);

#endif
