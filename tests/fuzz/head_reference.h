/* head_reference.h - differential checks shared by fuzz_request and
 * fuzz_response: the fast scanner against the byte-at-a-time one, and the
 * parse that feeds http-parser only what it acts on against the whole
 * head through http-parser with a callback per field (how heads were read
 * before). Any difference traps. Test code only. */
#ifndef LUXY_FUZZ_HEAD_REFERENCE_H
#define LUXY_FUZZ_HEAD_REFERENCE_H

#include <stdint.h>
#include <string.h>

#include "../../core/headers.h"
#include "../../core/http.h"

struct scan_out {
    enum http_scan_result r;
    size_t len;
    int status;
    const char *err;
};

/* Feeds p[0..size) to scan in pieces: step 0 means all at once, else
 * step bytes (at least one) per call. */
static struct scan_out scan_pieces(enum http_scan_result (*scan)(struct http_scan *, const char *, size_t,
                                                                 const struct http_limits *, size_t *, int *,
                                                                 const char **),
                                   const char *p, size_t size, const struct http_limits *lim, bool response,
                                   size_t step)
{
    struct http_scan s = { .response = response };
    struct scan_out o = { SCAN_MORE, 0, 0, NULL };
    size_t n = step ? 0 : size;
    do {
        n = step && n + step < size ? n + step : size;
        o.r = scan(&s, p, n, lim, &o.len, &o.status, &o.err);
    } while (o.r == SCAN_MORE && n < size);
    return o;
}

static bool scan_same(struct scan_out a, struct scan_out b)
{
    if (a.r != b.r)
        return false;
    if (a.r == SCAN_DONE)
        return a.len == b.len;
    if (a.r == SCAN_BAD)
        return a.status == b.status && strcmp(a.err, b.err) == 0;
    return true;
}

/* http_scan and http_scan_bytewise agree on p, whole and in pieces, under
 * lim and under small limits taken from the input (so that 414 and 431
 * fall on every kind of byte). Returns the whole-input verdict. */
static struct scan_out scan_differential(const char *p, size_t size, const struct http_limits *lim,
                                         bool response)
{
    struct scan_out ref = scan_pieces(http_scan_bytewise, p, size, lim, response, 0);
    size_t step = size ? (unsigned char)p[0] % 7 + 1 : 1;
    if (!scan_same(ref, scan_pieces(http_scan, p, size, lim, response, 0)) ||
        !scan_same(ref, scan_pieces(http_scan, p, size, lim, response, step)) ||
        !scan_same(ref, scan_pieces(http_scan_bytewise, p, size, lim, response, step)))
        __builtin_trap();
    if (size >= 3) {
        struct http_limits small = { (unsigned char)p[size - 1] % 200 + 1, (unsigned char)p[size - 2] % 60 + 1,
                                     (unsigned char)p[size - 3] % 8 };
        struct scan_out r = scan_pieces(http_scan_bytewise, p, size, &small, response, 0);
        if (!scan_same(r, scan_pieces(http_scan, p, size, &small, response, 0)) ||
            !scan_same(r, scan_pieces(http_scan, p, size, &small, response, step)))
            __builtin_trap();
    }
    return ref;
}

/* ---- the reference parse: every byte through http-parser ---- */

struct ref_ctx {
    struct http_head *h;
    struct arena *a;
    struct slice field, value;
    enum { REF_NONE, REF_FIELD, REF_VALUE } in;
    bool no_body;
};

static void ref_extend(struct slice *s, const char *at, size_t len)
{
    if (s->ptr == NULL)
        *s = slice_make(at, len);
    else
        s->len = (size_t)(at + len - s->ptr);
}

static void ref_flush(struct ref_ctx *c)
{
    if (c->in != REF_NONE)
        headers_add(&c->h->headers, c->a, c->field, slice_trim(c->value));
    c->field = SLICE_NULL;
    c->value = slice_make("", 0);
    c->in = REF_NONE;
}

static int ref_url(http_parser *p, const char *at, size_t len)
{
    ref_extend(&((struct ref_ctx *)p->data)->h->target, at, len);
    return 0;
}

static int ref_status(http_parser *p, const char *at, size_t len)
{
    ref_extend(&((struct ref_ctx *)p->data)->h->reason, at, len);
    return 0;
}

static int ref_field(http_parser *p, const char *at, size_t len)
{
    struct ref_ctx *c = p->data;
    if (!(c->in == REF_FIELD && at == c->field.ptr + c->field.len)) {
        ref_flush(c);
        c->field = slice_make(at, len);
    } else {
        ref_extend(&c->field, at, len);
    }
    c->in = REF_FIELD;
    return 0;
}

static int ref_value(http_parser *p, const char *at, size_t len)
{
    struct ref_ctx *c = p->data;
    if (c->in != REF_VALUE)
        c->value = slice_make(at, len);
    else
        ref_extend(&c->value, at, len);
    c->in = REF_VALUE;
    return 0;
}

static int ref_headers_complete(http_parser *p)
{
    struct ref_ctx *c = p->data;
    struct http_head *h = c->h;
    ref_flush(c);
    h->major = p->http_major;
    h->minor = p->http_minor;
    h->method = p->method;
    h->status = p->status_code;
    h->chunked = (p->flags & F_CHUNKED) != 0;
    h->has_length = (p->flags & F_CONTENTLENGTH) != 0;
    h->content_length = h->has_length ? p->content_length : 0;
    h->keep_alive = http_should_keep_alive(p) != 0;
    h->upgrade = p->upgrade;
    if (p->type == HTTP_RESPONSE && (c->no_body || !http_status_has_body(h->status)))
        return 1;
    return 0;
}

static int ref_message_complete(http_parser *p)
{
    ((struct ref_ctx *)p->data)->h->complete = true;
    return 0;
}

static const http_parser_settings ref_settings = {
    .on_url = ref_url,
    .on_status = ref_status,
    .on_header_field = ref_field,
    .on_header_value = ref_value,
    .on_headers_complete = ref_headers_complete,
    .on_message_complete = ref_message_complete,
};

/* 0 when http-parser reads the whole head cleanly, else its errno. */
static int ref_parse(enum http_parser_type type, const char *head, size_t len, bool no_body,
                     struct http_head *out, struct arena *a)
{
    http_parser parser;
    struct ref_ctx ctx = { out, a, SLICE_NULL, slice_make("", 0), REF_NONE, no_body };
    memset(out, 0, sizeof(*out));
    headers_init(&out->headers);
    http_parser_init(&parser, type);
    parser.data = &ctx;
    size_t n = http_parser_execute(&parser, &ref_settings, head, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&parser);
    if (e != HPE_OK)
        return e;
    return n == len ? 0 : HPE_UNKNOWN;
}

static bool slice_same(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* http_parse_head against the reference on a scanned head: the same
 * errno; when both accept, the same head, every field with the id of its
 * name. */
static void parse_differential(enum http_parser_type type, const char *head, size_t len, bool no_body)
{
    struct arena a;
    arena_init(&a);
    http_parser parser;
    struct http_head hh, rr, *h = &hh, *ref = &rr;
    const char *err = NULL;
    int e = http_parse_head(&parser, type, head, len, no_body, h, &a, &err);
    int ref_e = ref_parse(type, head, len, no_body, ref, &a);
    if (e != ref_e)
        __builtin_trap();
    if (e) {
        arena_free(&a);
        return;
    }
    if (h->method != ref->method || h->status != ref->status || h->major != ref->major ||
        h->minor != ref->minor || h->content_length != ref->content_length || h->has_length != ref->has_length ||
        h->chunked != ref->chunked || h->keep_alive != ref->keep_alive || h->upgrade != ref->upgrade ||
        h->complete != ref->complete || !slice_same(h->target, ref->target) ||
        !slice_same(h->reason, ref->reason) || h->headers.n != ref->headers.n)
        __builtin_trap();
    for (unsigned i = 0; i < h->headers.n; i++) {
        const struct header *x = &h->headers.v[i], *y = &ref->headers.v[i];
        if (!slice_same(x->name, y->name) || !slice_same(x->value, y->value) || x->id != headers_id(x->name) ||
            x->id != y->id)
            __builtin_trap();
    }
    arena_free(&a);
}

#endif
