/* http.c - finding, checking and reading HTTP/1.1 heads.
 * The scanner runs first, over raw bytes, and refuses anything two parsers
 * could read differently (RFC 9112 2.2, 5.1, 5.2: bare CR or LF, obs-fold,
 * whitespace before ':'), a whole line at a time where it can; the fields
 * of a head known to be complete and clean are then split with memchr, and
 * http-parser reads the start line and the few fields it acts on. */
#include "http.h"

#include "addr.h"

/* ---- scanning ---- */

/* The framing fields of a request allow exactly one spelling: an optional
 * single space, the value, nothing after. RFC 9110 would accept more
 * whitespace, but whitespace variants of these two fields are the classic
 * way to make two parsers disagree on where a request ends. */
static const char *check_framing_field(const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (nlen != 17 && nlen != 14) /* no call for the other fields */
        return NULL;
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

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* May any of the eight bytes of x be a control character or DEL? Exact
 * when it says no; a yes (a tab, say) is looked at byte by byte. */
static inline bool word_suspect(uint64_t x)
{
    uint64_t below = (x - ONES * 0x20) & ~x & HIGHS; /* some byte < 0x20 */
    uint64_t d = x ^ (ONES * 0x7f);
    return (below | ((d - ONES) & ~d & HIGHS)) != 0; /* or some byte == 0x7f */
}

static inline bool ctl_byte(unsigned char c, bool tab_ok)
{
    return (c < 0x20 && !(tab_ok && c == '\t')) || c == 0x7f;
}

/* Is p[0..len) free of control characters and DEL (HTAB allowed when
 * tab_ok)? Eight bytes at a time: values are most of a head. The clean
 * bytes before p (a name and its colon, a method and its space: never a
 * control) let the last piece be read as one word that ends at p + len. */
static bool ctl_free(const char *p, size_t len, bool tab_ok, size_t clean_before)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (likely(!word_suspect(x)))
            continue;
        for (size_t k = i; k < i + 8; k++)
            if (ctl_byte((unsigned char)p[k], tab_ok))
                return false;
    }
    if (i == len)
        return true;
    if (len + clean_before >= 8) {
        uint64_t x;
        memcpy(&x, p + len - 8, 8);
        if (likely(!word_suspect(x)))
            return true;
    }
    for (; i < len; i++)
        if (ctl_byte((unsigned char)p[i], tab_ok))
            return false;
    return true;
}

/* The length of the run of token characters at the start of a line.
 * Every line handed to the checks below ends in the CR of its CRLF
 * (line[len] == '\r', not a token character), which stops the run: no
 * bounds test per byte. */
static size_t token_len(const char *line)
{
    const unsigned char *u = (const unsigned char *)line;
    size_t i = 0;
    for (;; i += 4) {
        if (!headers_tchar[u[i]])
            return i;
        if (!headers_tchar[u[i + 1]])
            return i + 1;
        if (!headers_tchar[u[i + 2]])
            return i + 2;
        if (!headers_tchar[u[i + 3]])
            return i + 3;
    }
}

/* Checks one complete field line (len bytes, then its CRLF). */
static const char *check_field_line(const char *line, size_t len, bool request)
{
    if (line[0] == ' ' || line[0] == '\t')
        return "obsolete line folding";
    size_t i = token_len(line);
    if (i == len || line[i] != ':')
        return (i < len && (line[i] == ' ' || line[i] == '\t')) ? "whitespace before colon"
                                                                 : "invalid header name";
    if (i == 0)
        return "empty header name";
    size_t colon = i;
    if (!ctl_free(line + colon + 1, len - colon - 1, true, colon + 1))
        return "control character in header value";
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

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3);
 * len bytes, then its CRLF */
static const char *check_request_line(const char *line, size_t len)
{
    size_t i = token_len(line);
    if (i == 0 || i == len || line[i] != ' ')
        return "malformed request line";
    size_t target = ++i;
    const char *sp = memchr(line + target, ' ', len - target);
    i = sp ? (size_t)(sp - line) : len;
    if (!ctl_free(line + target, i - target, false, target))
        return "control character in request target";
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
    if (len > 13 && !ctl_free(line + 13, len - 13, true, 13))
        return "control character in status line";
    return NULL;
}

/* Checks a complete line: both scanners call it only once they have seen
 * line[len] == '\r' followed by LF. */
static const char *check_line(const struct http_scan *s, const char *line, size_t len)
{
    return s->lines > 0 ? check_field_line(line, len, !s->response)
           : s->response ? check_status_line(line, len)
                         : check_request_line(line, len);
}

enum http_scan_result http_scan_bytewise(struct http_scan *s, const char *p, size_t n,
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
        const char *bad = check_line(s, line, len);
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

/* The fast path: memchr to each LF, then the line checked as a whole. A
 * line is taken here only when the byte path would take it too: it ends
 * in CRLF, passes its check (which leaves no CR or NUL inside it) and
 * stays within the limits at its last byte, the one the byte path would
 * measure last. Anything else (a bad line, a limit, the blank line that
 * ends the head, a partial line) goes to the byte path from where this
 * stopped, so errors and partial reads behave exactly as they always
 * did. */
enum http_scan_result http_scan(struct http_scan *s, const char *p, size_t n,
                                const struct http_limits *lim, size_t *head_len, int *status,
                                const char **err)
{
    while (s->pos < n) {
        const char *lf = memchr(p + s->pos, '\n', n - s->pos); /* none before pos: see above */
        if (lf == NULL)
            break;
        size_t i = (size_t)(lf - p), ls = s->line_start;
        if (i < ls + 2 || p[i - 1] != '\r')
            break; /* a bare LF, or the blank line: the byte path says which */
        size_t len = i - 1 - ls;
        if (i - 2 >= lim->head_max || (s->lines == 0 && len > lim->line_max) || s->lines > lim->fields_max ||
            check_line(s, p + ls, len) != NULL)
            break;
        s->lines++;
        s->line_start = s->pos = i + 1;
        if (s->pos + 1 < n && p[s->pos] == '\r' && p[s->pos + 1] == '\n') { /* the blank line */
            *head_len = s->pos + 2;
            s->pos += 2;
            return SCAN_DONE;
        }
    }
    return http_scan_bytewise(s, p, n, lim, head_len, status, err);
}

/* ---- head parsing ---- */

struct head_ctx {
    struct http_head *h;
    bool no_body;
};

/* The start line goes to http-parser in one piece, so a piece that
 * continues the previous callback's data starts exactly where it ended. */
static void extend(struct slice *s, const char *at, size_t len)
{
    if (s->ptr == NULL)
        *s = slice_make(at, len);
    else
        s->len = (size_t)(at + len - s->ptr);
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

static int on_headers_complete(http_parser *p)
{
    struct head_ctx *c = p->data;
    struct http_head *h = c->h;
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
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

/* The fields http-parser acts on (its h_matching_* states: framing, keep-
 * alive, upgrade); every other field it only walks over. One quirk kept:
 * it marks Transfer-Encoding as present once a name starts with those 17
 * letters ("Transfer-Encoding-X" too), which makes a request without
 * chunked a 400 and a response read to EOF, so those go to it as well. */
static bool parser_reads(const struct header *f)
{
    uint8_t id = f->id;
    if (id == HDR_CONTENT_LENGTH || id == HDR_TRANSFER_ENCODING || id == HDR_CONNECTION ||
        id == HDR_PROXY_CONNECTION || id == HDR_UPGRADE)
        return true;
    return f->name.len > 17 && (f->name.ptr[0] | 0x20) == 't' &&
           slice_caseeq(slice_make(f->name.ptr, 17), "transfer-encoding", 17);
}

/* Splits the field lines of a scanned head: every line ends in CRLF and
 * has a colon after a non-empty token (http_scan checked both; a head
 * that skipped the scanner and breaks that is refused, not read). */
static bool split_fields(const char *p, const char *end, struct headers *out, struct arena *a)
{
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        const char *colon = lf ? memchr(p, ':', (size_t)(lf - p)) : NULL;
        if (colon == NULL || lf[-1] != '\r')
            return false;
        struct slice name = slice_make(p, (size_t)(colon - p));
        const char *v = colon + 1, *vend = lf - 1; /* slice_trim, inline: once per field */
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        struct slice value = slice_make(v, (size_t)(vend - v));
        headers_add_id(out, a, name, headers_id(name), value);
        p = lf + 1;
    }
    return true;
}

static int feed(http_parser *parser, const char *from, const char *to, const char **err)
{
    size_t len = (size_t)(to - from);
    size_t n = http_parser_execute(parser, &head_settings, from, len);
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

int http_parse_head(http_parser *parser, enum http_parser_type type, const char *head, size_t len,
                    bool no_body, struct http_head *out, struct arena *a, const char **err)
{
    struct head_ctx ctx = { out, no_body };
    memset(out, 0, sizeof(*out));
    headers_init(&out->headers);
    const char *start_end = len >= 4 ? memchr(head, '\n', len) : NULL;
    const char *blank = head + len - 2, *fields = start_end ? start_end + 1 : NULL;
    if (fields == NULL || fields > blank || memcmp(blank, "\r\n", 2) != 0 ||
        !split_fields(fields, blank, &out->headers, a)) {
        *err = "head not scanned";
        return HPE_UNKNOWN;
    }
    http_parser_init(parser, type);
    parser->data = &ctx;
    /* the start line, the fields it reads and the blank line, in as few
     * calls as their places in the head allow */
    const char *run = head, *run_end = fields;
    const struct headers *h = &out->headers;
    int e = 0;
    for (unsigned i = 0; i < h->n && e == 0; i++) {
        if (!parser_reads(&h->v[i]))
            continue;
        const char *line = h->v[i].name.ptr, *next = i + 1 < h->n ? h->v[i + 1].name.ptr : blank;
        if (line != run_end) {
            e = feed(parser, run, run_end, err);
            run = line;
        }
        run_end = next;
    }
    if (e == 0 && run_end != blank) {
        e = feed(parser, run, run_end, err);
        run = blank;
    }
    if (e == 0)
        e = feed(parser, run, head + len, err);
    parser->data = NULL;
    return e;
}

/* RFC 9112 6.1: the only transfer coding a proxy must understand is chunked;
 * anything else in a request cannot be framed reliably. */
static const char *check_request_transfer_encoding(const struct http_head *h)
{
    int i = headers_find_id(&h->headers, HDR_TRANSFER_ENCODING, 0);
    if (i < 0)
        return NULL;
    if (h->major == 1 && h->minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (headers_find_id(&h->headers, HDR_TRANSFER_ENCODING, (unsigned)i + 1) >= 0)
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
    int e = http_parse_head(parser, HTTP_REQUEST, head, len, false, out, a, err);
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
    int host = headers_find_id(&out->headers, HDR_HOST, 0);
    if (host >= 0 && headers_find_id(&out->headers, HDR_HOST, (unsigned)host + 1) >= 0) {
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
    if (http_parse_head(parser, HTTP_RESPONSE, head, len, no_body, out, a, err))
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
