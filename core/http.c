/* http.c - finding, checking and reading HTTP/1.1 heads.
 * The scanner runs first, over raw bytes, and refuses anything two parsers
 * could read differently (RFC 9112 2.2, 5.1, 5.2: bare CR or LF, obs-fold,
 * whitespace before ':'); http-parser then reads a head that is known to be
 * complete and clean, so every field arrives as one slice. */
#include "http.h"

#include "addr.h"

/* ---- scanning ---- */

/* The framing fields of a request allow exactly one spelling: an optional
 * single space, the value, nothing after. RFC 9110 would accept more
 * whitespace, but whitespace variants of these two fields are the classic
 * way to make two parsers disagree on where a request ends. */
static const char *check_framing_field(const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct slice n = slice_make(name, nlen);
    bool te = slice_caseeq_lit(n, "Transfer-Encoding"), cl = slice_caseeq_lit(n, "Content-Length");
    if (!te && !cl)
        return NULL;
    if (vlen && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (vlen == 0 || v[0] == ' ' || v[0] == '\t' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t')
        return te ? "unusual whitespace in Transfer-Encoding" : "unusual whitespace in Content-Length";
    if (cl) {
        for (size_t i = 0; i < vlen; i++)
            if (v[i] < '0' || v[i] > '9')
                return "Content-Length is not a number";
    }
    return NULL;
}

/* Checks one complete field line (without CRLF). */
static const char *check_field_line(const char *line, size_t len, bool request)
{
    if (line[0] == ' ' || line[0] == '\t')
        return "obsolete line folding";
    size_t i = 0;
    while (i < len && headers_is_tchar((unsigned char)line[i]))
        i++;
    if (i == len || line[i] != ':')
        return (i < len && (line[i] == ' ' || line[i] == '\t')) ? "whitespace before colon"
                                                                 : "invalid header name";
    if (i == 0)
        return "empty header name";
    size_t colon = i;
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "control character in header value";
    }
    return request ? check_framing_field(line, colon, line + colon + 1, len - colon - 1) : NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "HTTP/1.1": the library parser is built without its strict checks, so
 * the version's spelling is checked here. */
static bool is_version(const char *p, size_t len)
{
    return len == 8 && memcmp(p, "HTTP/", 5) == 0 && is_digit(p[5]) && p[6] == '.' && is_digit(p[7]);
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3) */
static const char *check_request_line(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && headers_is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == len || line[i] != ' ')
        return "malformed request line";
    size_t target = ++i;
    while (i < len && line[i] != ' ') {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            return "control character in request target";
        i++;
    }
    if (i == target)
        return "empty request target";
    if (i == len)
        return "no HTTP version in request line (HTTP/0.9 is not supported)";
    if (!is_version(line + i + 1, len - i - 1))
        return "malformed HTTP version";
    return NULL;
}

/* status-line = HTTP-version SP 3DIGIT SP [ reason ] (RFC 9112 4); a
 * missing SP before an empty reason is tolerated, as clients do. */
static const char *check_status_line(const char *line, size_t len)
{
    if (len < 12 || !is_version(line, 8) || line[8] != ' ' || !is_digit(line[9]) ||
        !is_digit(line[10]) || !is_digit(line[11]) || (len > 12 && line[12] != ' '))
        return "malformed status line";
    for (size_t i = 13; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "control character in status line";
    }
    return NULL;
}

enum http_scan_result http_scan(struct http_scan *s, const char *p, size_t n,
                                const struct http_limits *lim, size_t *head_len, int *status,
                                const char **err)
{
    for (size_t i = s->pos; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r') {
            if (i + 1 == n) {
                s->pos = i; /* look at this CR again when its LF arrives */
                return SCAN_MORE;
            }
            if (p[i + 1] != '\n') {
                *status = 400, *err = "bare CR";
                return SCAN_BAD;
            }
            continue;
        }
        if (c == 0) {
            *status = 400, *err = "NUL byte in head";
            return SCAN_BAD;
        }
        if (c != '\n') {
            if (s->lines == 0 && i - s->line_start >= lim->line_max) {
                *status = 414, *err = s->response ? "status line too long" : "request line too long";
                return SCAN_BAD;
            }
            if (i >= lim->head_max) {
                *status = 431, *err = s->response ? "response head too large" : "request head too large";
                return SCAN_BAD;
            }
            continue;
        }
        if (i == 0 || p[i - 1] != '\r') {
            *status = 400, *err = "bare LF";
            return SCAN_BAD;
        }
        const char *line = p + s->line_start;
        size_t len = i - 1 - s->line_start;
        if (len == 0) {
            if (s->lines == 0) {
                *status = 400, *err = "empty start line";
                return SCAN_BAD;
            }
            *head_len = i + 1;
            s->pos = i + 1;
            return SCAN_DONE;
        }
        const char *bad = s->lines > 0 ? check_field_line(line, len, !s->response)
                          : s->response ? check_status_line(line, len)
                                        : check_request_line(line, len);
        if (bad) {
            *status = 400, *err = bad;
            return SCAN_BAD;
        }
        if (s->lines > lim->fields_max) {
            *status = 431, *err = "too many header fields";
            return SCAN_BAD;
        }
        s->lines++;
        s->line_start = i + 1;
    }
    s->pos = n;
    return SCAN_MORE;
}

/* ---- head parsing ---- */

struct head_ctx {
    struct http_head *h;
    struct arena *a;
    struct slice field, value;
    enum { IN_NONE, IN_FIELD, IN_VALUE } in;
    bool no_body;
};

/* The head is one contiguous buffer, so a piece that continues the previous
 * callback's data starts exactly where it ended. */
static void extend(struct slice *s, const char *at, size_t len)
{
    if (s->ptr == NULL)
        *s = slice_make(at, len);
    else
        s->len = (size_t)(at + len - s->ptr);
}

static void flush_field(struct head_ctx *c)
{
    if (c->in != IN_NONE)
        headers_add(&c->h->headers, c->a, c->field, slice_trim(c->value));
    c->field = SLICE_NULL;
    c->value = slice_make("", 0);
    c->in = IN_NONE;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct head_ctx *c = p->data;
    extend(&c->h->target, at, len);
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t len)
{
    struct head_ctx *c = p->data;
    extend(&c->h->reason, at, len);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct head_ctx *c = p->data;
    bool continues = c->in == IN_FIELD && at == c->field.ptr + c->field.len;
    if (!continues) {
        flush_field(c); /* the previous field, possibly with an empty value */
        c->field = slice_make(at, len);
    } else {
        extend(&c->field, at, len);
    }
    c->in = IN_FIELD;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct head_ctx *c = p->data;
    if (c->in != IN_VALUE)
        c->value = slice_make(at, len);
    else
        extend(&c->value, at, len);
    c->in = IN_VALUE;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct head_ctx *c = p->data;
    struct http_head *h = c->h;
    flush_field(c);
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
        return 1; /* RFC 9112 6.3: no body, whatever the headers say */
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct head_ctx *c = p->data;
    c->h->complete = true;
    return 0;
}

static const http_parser_settings head_settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static int run_head(http_parser *parser, enum http_parser_type type, const char *head, size_t len,
                    bool no_body, struct http_head *out, struct arena *a, const char **err)
{
    struct head_ctx ctx = { out, a, SLICE_NULL, slice_make("", 0), IN_NONE, no_body };
    memset(out, 0, sizeof(*out));
    headers_init(&out->headers);
    http_parser_init(parser, type);
    parser->data = &ctx;
    size_t n = http_parser_execute(parser, &head_settings, head, len);
    parser->data = NULL;
    enum http_errno e = HTTP_PARSER_ERRNO(parser);
    if (e != HPE_OK) {
        *err = http_errno_description(e);
        return e;
    }
    if (n != len) {
        *err = "trailing bytes after head";
        return HPE_UNKNOWN;
    }
    return 0;
}

/* RFC 9112 6.1: the only transfer coding a proxy must understand is chunked;
 * anything else in a request cannot be framed reliably. */
static const char *check_request_transfer_encoding(const struct http_head *h)
{
    const struct slice te = H_TRANSFER_ENCODING;
    int i = headers_find(&h->headers, te, 0);
    if (i < 0)
        return NULL;
    if (h->major == 1 && h->minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (headers_find(&h->headers, te, (unsigned)i + 1) >= 0)
        return "repeated Transfer-Encoding";
    if (!slice_caseeq_lit(h->headers.v[i].value, "chunked"))
        return "unsupported Transfer-Encoding";
    if (h->has_length)
        return "both Content-Length and Transfer-Encoding";
    return NULL;
}

int http_parse_request(http_parser *parser, const char *head, size_t len, struct http_head *out,
                       struct arena *a, const char **err)
{
    int e = run_head(parser, HTTP_REQUEST, head, len, false, out, a, err);
    if (e)
        return e == HPE_INVALID_METHOD ? 501 : 400;
    if (out->major == 0) {
        *err = "HTTP/0.9 is not supported";
        return 400;
    }
    if (out->major != 1) {
        *err = "HTTP version not supported";
        return 505;
    }
    if ((*err = check_request_transfer_encoding(out)) != NULL)
        return 400;
    int host = headers_find(&out->headers, H_HOST, 0);
    if (host >= 0 && headers_find(&out->headers, H_HOST, (unsigned)host + 1) >= 0) {
        *err = "more than one Host header"; /* RFC 9112 3.2 */
        return 400;
    }
    if (out->target.len == 0) {
        *err = "empty request target";
        return 400;
    }
    return 0;
}

int http_parse_response(http_parser *parser, const char *head, size_t len, bool no_body,
                        struct http_head *out, struct arena *a, const char **err)
{
    if (run_head(parser, HTTP_RESPONSE, head, len, no_body, out, a, err))
        return -1;
    if (out->major != 1) {
        *err = "response is not HTTP/1.x";
        return -1;
    }
    if (out->status < 100 || out->status > 999) {
        *err = "invalid status code";
        return -1;
    }
    return 0;
}

const char *http_reason(unsigned status)
{
    switch (status) {
#define XX(num, name, string) \
    case num:                 \
        return #string;
        HTTP_STATUS_MAP(XX)
#undef XX
    default:
        return "Unknown";
    }
}

/* ---- request targets ---- */

static struct slice url_field(const char *base, const struct http_parser_url *u, int f)
{
    if (!(u->field_set & (1 << f)))
        return SLICE_NULL;
    return slice_make(base + u->field_data[f].off, u->field_data[f].len);
}

static void split_path(struct slice pq, struct http_target *t)
{
    const char *q = memchr(pq.ptr, '?', pq.len);
    const char *hash = memchr(pq.ptr, '#', pq.len);
    size_t end = hash ? (size_t)(hash - pq.ptr) : pq.len; /* fragments stay client-side */
    if (q && q < pq.ptr + end) {
        t->path = slice_make(pq.ptr, (size_t)(q - pq.ptr));
        t->query = slice_make(q + 1, end - t->path.len - 1);
    } else {
        t->path = slice_make(pq.ptr, end);
        t->query = SLICE_NULL;
    }
}

int http_split_target(const struct http_head *head, struct http_target *t, const char **err)
{
    struct slice tg = head->target;
    struct http_parser_url u;
    memset(t, 0, sizeof(*t));
    if (head->method == HTTP_CONNECT) {
        http_parser_url_init(&u);
        if (http_parser_parse_url(tg.ptr, tg.len, 1, &u) != 0 || !(u.field_set & (1 << UF_PORT))) {
            *err = "CONNECT needs host:port";
            return 400;
        }
        t->host = url_field(tg.ptr, &u, UF_HOST);
        t->port = u.port;
        t->path = slice_make("", 0);
        return 0;
    }
    if (tg.ptr[0] == '/') {
        split_path(tg, t);
        return 0;
    }
    if (slice_eq(tg, "*", 1)) {
        if (head->method != HTTP_OPTIONS) {
            *err = "'*' target is only for OPTIONS";
            return 400;
        }
        t->path = tg;
        return 0;
    }
    http_parser_url_init(&u);
    if (http_parser_parse_url(tg.ptr, tg.len, 0, &u) != 0 || !(u.field_set & (1 << UF_SCHEMA)) ||
        !(u.field_set & (1 << UF_HOST))) {
        *err = "invalid request target";
        return 400;
    }
    if (u.field_set & (1 << UF_USERINFO)) {
        *err = "user info in request target";
        return 400;
    }
    t->absolute = true;
    t->scheme = url_field(tg.ptr, &u, UF_SCHEMA);
    t->host = url_field(tg.ptr, &u, UF_HOST);
    t->port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
    if (t->port == 0) {
        *err = "invalid port in request target";
        return 400;
    }
    if (u.field_set & (1 << UF_PATH)) {
        const char *p = tg.ptr + u.field_data[UF_PATH].off;
        split_path(slice_make(p, (size_t)(tg.ptr + tg.len - p)), t);
    } else {
        t->path = SLICE_LIT("/");
        struct slice q = url_field(tg.ptr, &u, UF_QUERY);
        t->query = q;
    }
    return 0;
}
