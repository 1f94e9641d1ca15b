/* sim_trace_parse.c - one access-log line into the request it records
 * (sim_trace.h): luxy's "json" (RFC 8259, the keys in any order), "luxy"
 * and "combined" formats, told apart by their first byte ('{', a digit of
 * the year then 'T', anything else: combined). Strings are decoded as the
 * writer escaped them (JSON escapes; nginx's \xHH). Nothing here trusts
 * the line: every read is bounded by its end, every write by the buffer. */
#include "sim_trace.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cur {
    const char *p, *end;
    char *out, *out_end;  /* decoded strings go here */
};

static bool more(const struct cur *c)
{
    return c->p < c->end;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* ---- numbers and times ---- */

/* A decimal number at p (at most 31 bytes of it) into *v. */
static bool number(struct cur *c, double *v)
{
    char tmp[32];
    size_t n = 0;
    while (more(c) && n < sizeof(tmp) - 1 &&
           (is_digit(*c->p) || *c->p == '.' || *c->p == '-' || *c->p == '+' || *c->p == 'e' || *c->p == 'E'))
        tmp[n++] = *c->p++;
    tmp[n] = 0;
    if (n == 0)
        return false;
    char *e;
    *v = strtod(tmp, &e);
    return *e == 0;
}

/* Exactly n digits at s. */
static int digits(const char *s, const char *end, size_t n)
{
    if (s > end || (size_t)(end - s) < n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t sim_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool valid_time(int y, int mo, int d, int h, int mi, int s)
{
    return y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 &&
           s >= 0 && s <= 60;
}

/* "2026-12-02T02:43:17.107Z" (fraction optional, Z or +hh:mm). -1: not one. */
static double iso_time(const char *s, const char *end, const char **after)
{
    int y = digits(s, end, 4), mo = digits(s + 5, end, 2), d = digits(s + 8, end, 2);
    int h = digits(s + 11, end, 2), mi = digits(s + 14, end, 2), sec = digits(s + 17, end, 2);
    if (end - s < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':' || !valid_time(y, mo, d, h, mi, sec))
        return -1;
    const char *p = s + 19;
    double frac = 0, scale = 0.1;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++, scale /= 10)
            frac += (*p - '0') * scale;
    int offset = 0;
    if (p < end && *p == 'Z')
        p++;
    else if (p + 6 <= end && (*p == '+' || *p == '-') && p[3] == ':') {
        int oh = digits(p + 1, end, 2), om = digits(p + 4, end, 2);
        if (oh < 0 || om < 0)
            return -1;
        offset = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        p += 6;
    } else
        return -1;
    *after = p;
    return (double)(sim_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - offset) +
           frac;
}

/* "02/Dec/2026:02:43:17 +0000" (the brackets' inside). */
static double clf_time(const char *s, const char *end)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (end - s != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ')
        return -1;
    int mo = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 3, months + 3 * i, 3) == 0)
            mo = i + 1;
    int d = digits(s, end, 2), y = digits(s + 7, end, 4), h = digits(s + 12, end, 2), mi = digits(s + 15, end, 2),
        sec = digits(s + 18, end, 2), oh = digits(s + 22, end, 2), om = digits(s + 24, end, 2);
    if (!valid_time(y, mo, d, h, mi, sec) || oh < 0 || om < 0 || (s[21] != '+' && s[21] != '-'))
        return -1;
    int offset = (s[21] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return (double)(sim_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - offset);
}

/* ---- decoded strings ---- */

static bool emit(struct cur *c, char ch)
{
    if (c->out >= c->out_end)
        return false;
    *c->out++ = ch;
    return true;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static bool emit_utf8(struct cur *c, unsigned cp)
{
    if (cp < 0x80)
        return emit(c, (char)cp);
    if (cp < 0x800)
        return emit(c, (char)(0xc0 | cp >> 6)) && emit(c, (char)(0x80 | (cp & 0x3f)));
    if (cp < 0x10000)
        return emit(c, (char)(0xe0 | cp >> 12)) && emit(c, (char)(0x80 | ((cp >> 6) & 0x3f))) &&
               emit(c, (char)(0x80 | (cp & 0x3f)));
    return emit(c, (char)(0xf0 | cp >> 18)) && emit(c, (char)(0x80 | ((cp >> 12) & 0x3f))) &&
           emit(c, (char)(0x80 | ((cp >> 6) & 0x3f))) && emit(c, (char)(0x80 | (cp & 0x3f)));
}

static int hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A JSON string at p (its opening quote): decoded, NUL-terminated, into
 * out. NULL when it is not a valid one or decodes to a NUL byte. */
static const char *json_string(struct cur *c)
{
    if (!more(c) || *c->p != '"')
        return NULL;
    c->p++;
    const char *s = c->out;
    while (more(c)) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            return emit(c, 0) ? s : NULL;
        if (ch < 0x20)
            return NULL;
        if (ch != '\\') {
            if (!emit(c, (char)ch))
                return NULL;
            continue;
        }
        if (!more(c))
            return NULL;
        char e = *c->p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) {
            if (!emit(c, to[k - from]))
                return NULL;
            continue;
        }
        if (e != 'u')
            return NULL;
        int cp = hex4(c->p, c->end);
        if (cp < 0)
            return NULL;
        c->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
            int lo = c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u' ? hex4(c->p + 2, c->end) : -1;
            if (lo < 0xdc00 || lo > 0xdfff)
                return NULL;
            c->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff)
            return NULL;
        if (cp == 0 || !emit_utf8(c, (unsigned)cp))
            return NULL;
    }
    return NULL;
}

/* nginx-escaped text p[0..n) (\xHH) decoded into out, NUL-terminated. */
static const char *clf_text(struct cur *c, const char *p, size_t n)
{
    const char *s = c->out;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 3 < n && p[i + 1] == 'x' && hexval(p[i + 2]) >= 0 && hexval(p[i + 3]) >= 0) {
            ch = (char)(hexval(p[i + 2]) * 16 + hexval(p[i + 3]));
            i += 3;
        }
        if (ch == 0 || !emit(c, ch))
            return NULL;
    }
    return emit(c, 0) ? s : NULL;
}

/* ---- json ---- */

static void skip_ws(struct cur *c)
{
    while (more(c) && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static bool literal(struct cur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Skips any JSON value (nested at most depth deep); its strings are
 * decoded into out and forgotten. */
static bool skip_value(struct cur *c, int depth)
{
    skip_ws(c);
    if (!more(c) || depth > 8)
        return false;
    char ch = *c->p;
    if (ch == '"') {
        char *mark = c->out;
        bool ok = json_string(c) != NULL;
        c->out = mark;
        return ok;
    }
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        skip_ws(c);
        if (more(c) && *c->p == close) {
            c->p++;
            return true;
        }
        for (;;) {
            if (close == '}') {
                skip_ws(c);
                if (!skip_value(c, depth + 1))
                    return false;
                skip_ws(c);
                if (!more(c) || *c->p++ != ':')
                    return false;
            }
            if (!skip_value(c, depth + 1))
                return false;
            skip_ws(c);
            if (!more(c))
                return false;
            ch = *c->p++;
            if (ch == close)
                return true;
            if (ch != ',')
                return false;
        }
    }
    if (literal(c, "null") || literal(c, "true") || literal(c, "false"))
        return true;
    double v;
    return number(c, &v);
}

static int parse_json(struct cur *c, struct sim_trace_rec *r)
{
    c->p++; /* { */
    double time = -1;
    bool tunnel = false;
    for (;;) {
        skip_ws(c);
        char *mark = c->out;
        const char *key = json_string(c);
        if (!key)
            return -1;
        skip_ws(c);
        if (!more(c) || *c->p++ != ':')
            return -1;
        skip_ws(c);
        static const char *const string_keys[] = { "method", "target", "client", "user_agent", "referer", "listener" };
        const char **slots[] = { &r->method, &r->target, &r->client, &r->user_agent, &r->referer, &r->listener };
        int which = -1;
        for (int i = 0; i < 6; i++)
            if (strcmp(key, string_keys[i]) == 0)
                which = i;
        c->out = mark; /* the key is not kept */
        if (which >= 0 && more(c) && *c->p == '"') {
            if (!(*slots[which] = json_string(c)))
                return -1;
        } else if (strcmp(key, "time") == 0 && more(c) && *c->p == '"') {
            const char *s = json_string(c);
            const char *after;
            if (!s || (time = iso_time(s, s + strlen(s), &after)) < 0 || *after)
                return -1;
            c->out = mark;
        } else if ((strcmp(key, "status") == 0 || strcmp(key, "bytes_sent") == 0 || strcmp(key, "duration") == 0) &&
                   more(c) && *c->p != 'n') {
            double v;
            if (!number(c, &v) || !(v >= 0 && v <= 1e15))
                return -1;
            if (key[0] == 's')
                r->status = v < 1000 ? (unsigned)v : 0;
            else if (key[0] == 'b')
                r->bytes = (uint64_t)v;
            else
                r->duration = v;
        } else {
            if (strcmp(key, "tunnel") == 0 && more(c) && *c->p == '{')
                tunnel = true;
            if (!skip_value(c, 1))
                return -1;
        }
        skip_ws(c);
        if (!more(c))
            return -1;
        char ch = *c->p++;
        if (ch == '}')
            break;
        if (ch != ',')
            return -1;
    }
    skip_ws(c);
    if (more(c) || time < 0 || tunnel || !r->method || !r->target)
        return -1;
    r->time = time;
    return 0;
}

/* ---- combined and luxy: words, "quoted", [bracketed] ---- */

static void skip_spaces(struct cur *c)
{
    while (more(c) && *c->p == ' ')
        c->p++;
}

/* The next word (to a space) as p[0..n). */
static bool word(struct cur *c, const char **p, size_t *n)
{
    skip_spaces(c);
    *p = c->p;
    while (more(c) && *c->p != ' ')
        c->p++;
    *n = (size_t)(c->p - *p);
    return *n > 0;
}

/* A "quoted" item as nginx writes it (a quote inside is \x22): its inside. */
static bool quoted(struct cur *c, const char **p, size_t *n)
{
    skip_spaces(c);
    if (!more(c) || *c->p != '"')
        return false;
    *p = ++c->p;
    while (more(c) && *c->p != '"')
        c->p++;
    if (!more(c))
        return false;
    *n = (size_t)(c->p - *p);
    c->p++;
    return true;
}

/* "METHOD target HTTP/1.x" into the record. */
static bool request_line(struct cur *c, const char *p, size_t n, struct sim_trace_rec *r)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1)
        return false;
    const char *rest = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(rest, ' ', (size_t)(end - rest));
    if (!sp2 || sp2 == rest || end - sp2 < 9 || memcmp(sp2 + 1, "HTTP/", 5) != 0)
        return false;
    r->method = clf_text(c, p, (size_t)(sp1 - p));
    r->target = clf_text(c, rest, (size_t)(sp2 - rest));
    return r->method && r->target && r->method[0];
}

/* A number word ("-": 0). */
static bool number_word(struct cur *c, double *v)
{
    const char *p;
    size_t n;
    if (!word(c, &p, &n))
        return false;
    if (n == 1 && *p == '-') {
        *v = 0;
        return true;
    }
    struct cur w = { p, p + n, NULL, NULL };
    return number(&w, v) && *v >= 0 && *v <= 1e15 && w.p == p + n;
}

static const char *opt_text(struct cur *c, const char *p, size_t n)
{
    return n == 1 && *p == '-' ? NULL : clf_text(c, p, n);
}

static int parse_combined(struct cur *c, struct sim_trace_rec *r)
{
    const char *p, *q;
    size_t n, m;
    double status, bytes;
    if (!word(c, &p, &n) || !(r->client = clf_text(c, p, n)) || !word(c, &q, &m) || !word(c, &q, &m))
        return -1; /* client, ident, user */
    skip_spaces(c);
    if (!more(c) || *c->p != '[')
        return -1;
    const char *ts = ++c->p;
    while (more(c) && *c->p != ']')
        c->p++;
    if (!more(c) || (r->time = clf_time(ts, c->p)) < 0)
        return -1;
    c->p++;
    if (!quoted(c, &p, &n) || !request_line(c, p, n, r) || !number_word(c, &status) || !number_word(c, &bytes))
        return -1;
    r->status = status < 1000 ? (unsigned)status : 0;
    r->bytes = (uint64_t)bytes;
    if (quoted(c, &p, &n)) {
        r->referer = opt_text(c, p, n);
        if (quoted(c, &p, &n))
            r->user_agent = opt_text(c, p, n);
    }
    return 0;
}

static int parse_luxy(struct cur *c, struct sim_trace_rec *r)
{
    const char *p, *after;
    size_t n;
    double status, bytes;
    if ((r->time = iso_time(c->p, c->end, &after)) < 0)
        return -1;
    c->p = after;
    if (!word(c, &p, &n) || !(r->client = clf_text(c, p, n)) || !quoted(c, &p, &n) || !request_line(c, p, n, r) ||
        !number_word(c, &status) || !number_word(c, &bytes))
        return -1;
    r->status = status < 1000 ? (unsigned)status : 0;
    r->bytes = (uint64_t)bytes;
    /* key=value items, a bare duration "0.003s", error="..." */
    while (skip_spaces(c), more(c)) {
        const char *w = c->p;
        while (more(c) && *c->p != ' ' && *c->p != '=')
            c->p++;
        size_t wn = (size_t)(c->p - w);
        if (more(c) && *c->p == '=') {
            c->p++;
            if (more(c) && *c->p == '"') {
                if (!quoted(c, &p, &n))
                    return -1;
            } else
                word(c, &p, &n);
            continue;
        }
        if (wn == 6 && memcmp(w, "tunnel", 6) == 0)
            return -1;
        if (wn >= 2 && w[wn - 1] == 's' && is_digit(w[0])) {
            struct cur d = { w, w + wn - 1, NULL, NULL };
            double v;
            if (number(&d, &v) && v >= 0 && v <= 1e9 && d.p == w + wn - 1)
                r->duration = v;
        }
    }
    return 0;
}

int sim_trace_parse(const char *line, size_t len, char *buf, struct sim_trace_rec *r)
{
    memset(r, 0, sizeof(*r));
    struct cur c = { line, line + len, buf, buf + len + 1 };
    while (c.end > c.p && (c.end[-1] == '\r' || c.end[-1] == ' '))
        c.end--;
    skip_spaces(&c);
    if (!more(&c))
        return -1;
    int rc;
    if (*c.p == '{')
        rc = parse_json(&c, r);
    else if (c.end - c.p > 10 && is_digit(c.p[0]) && c.p[4] == '-' && c.p[10] == 'T')
        rc = parse_luxy(&c, r);
    else
        rc = parse_combined(&c, r);
    if (rc < 0)
        memset(r, 0, sizeof(*r));
    return rc;
}
