/* jsonw.c - see jsonw.h. */
#include "jsonw.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luxy.h"

/* ---- sbuf ---- */

void sbuf_init(struct sbuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
}

void sbuf_free(struct sbuf *b)
{
    free(b->p);
    sbuf_init(b);
}

static void reserve(struct sbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void sbuf_add(struct sbuf *b, const char *p, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        sbuf_add(b, small, (size_t)n);
        return;
    }
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ---- UTF-8 ---- */

size_t utf8_char_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* not overlong */
        else if (c == 0xed)
            hi = 0x9f; /* not a surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* not past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* ---- the writer ---- */

void jw_init(struct jw *w, struct sbuf *b)
{
    w->b = b;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
}

/* Before a value or a key: the comma its container needs. */
static void separate(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth])
        sbuf_add(w->b, ",", 1);
    w->first[w->depth] = false;
}

static void begin(struct jw *w, char c)
{
    separate(w);
    sbuf_add(w->b, &c, 1);
    assert(w->depth + 1 < JW_DEPTH);
    w->first[++w->depth] = true;
}

static void end(struct jw *w, char c)
{
    assert(w->depth > 0 && !w->after_key);
    w->depth--;
    sbuf_add(w->b, &c, 1);
}

void jw_object(struct jw *w)
{
    begin(w, '{');
}

void jw_end_object(struct jw *w)
{
    end(w, '}');
}

void jw_array(struct jw *w)
{
    begin(w, '[');
}

void jw_end_array(struct jw *w)
{
    end(w, ']');
}

static void string_body(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes copied as they are, pending */
    sbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t k = c >= 0x20 && c != '"' && c != '\\' ? utf8_char_len(p + i, n - i) : 0;
        if (k) {
            run += k;
            i += k;
            continue;
        }
        sbuf_add(b, s + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            sbuf_add(b, esc, 2);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            if (c == '\n')
                sbuf_add(b, "\\n", 2);
            else if (c == '\t')
                sbuf_add(b, "\\t", 2);
            else if (c == '\r')
                sbuf_add(b, "\\r", 2);
            else
                sbuf_add(b, esc, 6);
        } else {
            sbuf_add(b, "\\ufffd", 6); /* a byte that is not UTF-8 */
        }
        i++;
    }
    sbuf_add(b, s + n - run, run);
    sbuf_add(b, "\"", 1);
}

void jw_key(struct jw *w, const char *k)
{
    separate(w);
    string_body(w->b, k, strlen(k));
    sbuf_add(w->b, ":", 1);
    w->after_key = true;
}

void jw_string(struct jw *w, const char *s, size_t n)
{
    separate(w);
    string_body(w->b, s, n);
}

void jw_cstr(struct jw *w, const char *s)
{
    if (s == NULL)
        jw_null(w);
    else
        jw_string(w, s, strlen(s));
}

void jw_uint(struct jw *w, uint64_t v)
{
    separate(w);
    sbuf_printf(w->b, "%llu", (unsigned long long)v);
}

void jw_int(struct jw *w, int64_t v)
{
    separate(w);
    sbuf_printf(w->b, "%lld", (long long)v);
}

void jw_double(struct jw *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    separate(w);
    char num[64];
    int n = fabs(v) < 1e15 ? snprintf(num, sizeof(num), "%.6f", v) : snprintf(num, sizeof(num), "%.17g", v);
    if (fabs(v) < 1e15) /* microseconds at most, without the zeros: 1.5, 1796177985.721939 */
        while (n > 2 && num[n - 1] == '0' && num[n - 2] != '.')
            n--;
    sbuf_add(w->b, num, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
    separate(w);
    sbuf_str(w->b, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
    separate(w);
    sbuf_str(w->b, "null");
}
