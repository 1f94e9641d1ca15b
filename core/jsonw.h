/* jsonw.h - building response bodies: a growable buffer (sbuf) and a small
 * JSON writer on it whose output is valid JSON whatever it is given:
 * strings are escaped (quote, backslash, control characters as \u00XX),
 * bytes that are not UTF-8 become U+FFFD, numbers that are not finite
 * become null, and commas and colons are the writer's business. */
#ifndef LUXY_JSONW_H
#define LUXY_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
    char *p;                   /* malloc'd, NUL-terminated once anything was added */
    size_t len, cap;
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_add(struct sbuf *b, const char *p, size_t n);
void sbuf_str(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Length of the valid UTF-8 character at s[0..n) (1 to 4), or 0 when
 * the bytes there are not one (overlong, surrogate, past U+10FFFF, cut). */
size_t utf8_char_len(const unsigned char *s, size_t n);

#define JW_DEPTH 16

struct jw {
    struct sbuf *b;
    int depth;
    bool first[JW_DEPTH];      /* nothing written yet in the container at each depth */
    bool after_key;
};

void jw_init(struct jw *w, struct sbuf *b);
void jw_object(struct jw *w);
void jw_end_object(struct jw *w);
void jw_array(struct jw *w);
void jw_end_array(struct jw *w);
/* A member name in an object; the next value is its value. */
void jw_key(struct jw *w, const char *k);
void jw_string(struct jw *w, const char *s, size_t n);
void jw_cstr(struct jw *w, const char *s); /* NULL: null */
void jw_uint(struct jw *w, uint64_t v);
void jw_int(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);

#endif
