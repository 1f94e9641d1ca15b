/* wbuf.h - writing serialized heads into a buffer of known size: memcpy
 * and a small integer formatter instead of sprintf, every write checked
 * against the end. A capacity estimate that a later change makes wrong
 * aborts loudly (a bug) instead of overflowing the buffer. */
#ifndef LUXY_WBUF_H
#define LUXY_WBUF_H

#include <stdint.h>

#include "luxy.h"

struct wbuf {
    char *p, *end;
};

/* Aborts: a writer ran past the capacity its caller computed. */
_Noreturn void wbuf_overflow(void);

static inline struct wbuf wbuf_make(char *p, size_t cap)
{
    return (struct wbuf){ p, p + cap };
}

static inline void wbuf_put(struct wbuf *w, const void *s, size_t n)
{
    if (unlikely(n > (size_t)(w->end - w->p)))
        wbuf_overflow();
    memcpy(w->p, s, n);
    w->p += n;
}

#define wbuf_lit(w, s) wbuf_put((w), (s), sizeof(s) - 1)

static inline void wbuf_slice(struct wbuf *w, struct slice s)
{
    wbuf_put(w, s.ptr, s.len);
}

static inline void wbuf_str(struct wbuf *w, const char *s)
{
    wbuf_put(w, s, strlen(s));
}

static inline void wbuf_char(struct wbuf *w, char c)
{
    wbuf_put(w, &c, 1);
}

static inline void wbuf_u64(struct wbuf *w, uint64_t v)
{
    char tmp[20], *t = tmp + sizeof(tmp);
    do
        *--t = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    wbuf_put(w, t, (size_t)(tmp + sizeof(tmp) - t));
}

static inline void wbuf_hex(struct wbuf *w, uint64_t v)
{
    char tmp[16], *t = tmp + sizeof(tmp);
    do
        *--t = "0123456789abcdef"[v & 15];
    while ((v >>= 4) != 0);
    wbuf_put(w, t, (size_t)(tmp + sizeof(tmp) - t));
}

/* Bytes written since start. */
static inline size_t wbuf_len(const struct wbuf *w, const char *start)
{
    return (size_t)(w->p - start);
}

#endif
