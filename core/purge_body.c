/* purge_body.c - see purge_body.h. A strict reader: anything it does not
 * understand is an error naming what was wrong, never a guess; a JSON
 * body is one object of string members (RFC 8259 strings: escapes and
 * surrogate pairs decoded, raw control characters and bytes that are not
 * UTF-8 refused), a form is name=value pairs joined by '&' with %XX and
 * '+' decoded (the application/x-www-form-urlencoded rules). */
#include "purge_body.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"

struct reader {
    const char *p, *end;
    char *err;
    size_t errlen;
};

static int fail(struct reader *rd, const char *fmt, const char *arg)
{
    snprintf(rd->err, rd->errlen, fmt, arg);
    return -1;
}

static bool ieq(const char *a, size_t n, const char *lit)
{
    if (n != strlen(lit))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
        if (c != lit[i])
            return false;
    }
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* ---- values ---- */

/* The member a name sets, or -1. */
static int which(const char *name, size_t n)
{
    static const char *const names[] = { "url", "prefix", "tag" };
    for (int i = 0; i < 3; i++)
        if (n == strlen(names[i]) && memcmp(name, names[i], n) == 0)
            return i;
    return -1;
}

int purge_url_key(const char *url, size_t n, char *out, size_t cap, const char **why)
{
    if (n < 7 || !ieq(url, 7, "http://")) {
        *why = "must be an http:// URL";
        return -1;
    }
    const char *p = url + 7, *end = url + n;
    const char *hash = memchr(p, '#', (size_t)(end - p));
    if (hash)
        end = hash; /* a fragment never reaches a server: not in the key */
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?')
        auth_end++;
    const char *host = p, *host_end, *port = NULL;
    if (p < auth_end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(auth_end - p));
        if (close == NULL) {
            *why = "has an IPv6 address without its closing ']'";
            return -1;
        }
        for (const char *q = p + 1; q < close; q++)
            if (hexval(*q) < 0 && *q != ':' && *q != '.') {
                *why = "has an IPv6 address with a character that is not hex, ':' or '.'";
                return -1;
            }
        host_end = close + 1;
        if (host_end < auth_end && *host_end != ':') {
            *why = "has something other than a port after its IPv6 address";
            return -1;
        }
    } else {
        host_end = p;
        while (host_end < auth_end && *host_end != ':')
            host_end++;
        for (const char *q = host; q < host_end; q++) {
            unsigned char c = (unsigned char)*q;
            if (c <= 0x20 || c >= 0x7f || c == '@' || c == '[' || c == ']' || c == '\\' || c == '"') {
                *why = c == '@' ? "has user information (user@host): name the host alone" : "has a host with a character a host cannot have";
                return -1;
            }
        }
    }
    if (host_end == host || (host_end - host == 2 && host[0] == '[')) {
        *why = "has no host";
        return -1;
    }
    unsigned long portnum = 80;
    if (host_end < auth_end) { /* ":port" */
        port = host_end + 1;
        if (auth_end - port > 5) {
            *why = "has a port that is not a number from 1 to 65535";
            return -1;
        }
        if (port < auth_end) {
            portnum = 0;
            for (const char *q = port; q < auth_end; q++) {
                if (*q < '0' || *q > '9') {
                    *why = "has a port that is not a number from 1 to 65535";
                    return -1;
                }
                portnum = portnum * 10 + (unsigned long)(*q - '0');
            }
            if (portnum < 1 || portnum > 65535) {
                *why = "has a port that is not a number from 1 to 65535";
                return -1;
            }
        }
    }
    for (const char *q = auth_end; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c == 0x7f) {
            *why = "has a space or a control character in its path";
            return -1;
        }
    }
    size_t hl = (size_t)(host_end - host), pl = (size_t)(end - auth_end);
    size_t need = 7 + hl + 6 + 1 + pl + 1;
    if (need > cap) {
        *why = "is too long";
        return -1;
    }
    char *w = out;
    memcpy(w, "http://", 7);
    w += 7;
    for (size_t i = 0; i < hl; i++)
        *w++ = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] + 32) : host[i];
    w += snprintf(w, 8, ":%lu", portnum);
    if (pl == 0 || *auth_end == '?')
        *w++ = '/';
    memcpy(w, auth_end, pl);
    w += pl;
    *w = '\0';
    return (int)(w - out);
}

/* Checks the decoded value of member `by` and fills the key. */
static int take_value(struct reader *rd, struct purge_request *out)
{
    if (out->len == 0)
        return fail(rd, "%s is empty", out->by == PURGE_TAG ? "tag" : out->by == PURGE_URL ? "url" : "prefix");
    if (out->by == PURGE_TAG) {
        if (out->len > PURGE_TAG_MAX)
            return fail(rd, "tag is longer than %s bytes", "256");
        for (size_t i = 0; i < out->len; i++) {
            unsigned char c = (unsigned char)out->value[i];
            if (c <= 0x20 || c == 0x7f || c == ',')
                return fail(rd, "tag may not contain spaces, commas or control characters (one tag per %s)",
                            "purge");
        }
        return 0;
    }
    const char *why = NULL;
    int k = purge_url_key(out->value, out->len, out->key, sizeof(out->key), &why);
    if (k < 0) {
        snprintf(rd->err, rd->errlen, "%s %s", out->by == PURGE_URL ? "url" : "prefix", why);
        return -1;
    }
    out->key_len = (size_t)k;
    return 0;
}

/* ---- JSON ---- */

static void skip_ws(struct reader *rd)
{
    while (rd->p < rd->end && (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n' || *rd->p == '\r'))
        rd->p++;
}

static int hex4(struct reader *rd, unsigned *v)
{
    if (rd->end - rd->p < 4)
        return fail(rd, "a \\u escape needs four hex digits%s", "");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(rd->p[i]);
        if (h < 0)
            return fail(rd, "a \\u escape needs four hex digits%s", "");
        *v = *v << 4 | (unsigned)h;
    }
    rd->p += 4;
    return 0;
}

static size_t put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        w[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (char)(0xc0 | cp >> 6);
        w[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (char)(0xe0 | cp >> 12);
        w[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        w[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    w[0] = (char)(0xf0 | cp >> 18);
    w[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    w[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    w[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string at rd->p (on its opening quote), decoded into buf (cap
 * bytes, NUL-terminated). */
static int json_string(struct reader *rd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    rd->p++; /* the quote */
    for (;;) {
        if (rd->p >= rd->end)
            return fail(rd, "a string is not closed%s", "");
        unsigned char c = (unsigned char)*rd->p;
        char tmp[4];
        size_t k;
        if (c == '"') {
            rd->p++;
            break;
        }
        if (c < 0x20)
            return fail(rd, "a string holds a raw control character (escape it)%s", "");
        if (c == '\\') {
            if (rd->end - rd->p < 2)
                return fail(rd, "a string ends in the middle of an escape%s", "");
            char e = rd->p[1];
            rd->p += 2;
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *f = e ? strchr(from, e) : NULL;
            if (f) {
                tmp[0] = to[f - from];
                k = 1;
            } else if (e == 'u') {
                unsigned cp, lo;
                if (hex4(rd, &cp) == -1)
                    return -1;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(rd, "a string holds a lone low surrogate (\\uDC00-\\uDFFF)%s", "");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (rd->end - rd->p < 2 || rd->p[0] != '\\' || rd->p[1] != 'u')
                        return fail(rd, "a high surrogate must be followed by a low one%s", "");
                    rd->p += 2;
                    if (hex4(rd, &lo) == -1)
                        return -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(rd, "a high surrogate must be followed by a low one%s", "");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                k = put_utf8(tmp, cp);
            } else {
                return fail(rd, "a string holds an unknown escape%s", "");
            }
            if (n + k > cap - 1)
                return fail(rd, "a string is longer than %s bytes", "4096");
            memcpy(buf + n, tmp, k);
            n += k;
            continue;
        }
        k = utf8_char_len((const unsigned char *)rd->p, (size_t)(rd->end - rd->p));
        if (k == 0)
            return fail(rd, "a string holds bytes that are not UTF-8%s", "");
        if (n + k > cap - 1)
            return fail(rd, "a string is longer than %s bytes", "4096");
        memcpy(buf + n, rd->p, k);
        n += k;
        rd->p += k;
    }
    buf[n] = '\0';
    *len = n;
    return 0;
}

static int parse_json(struct reader *rd, struct purge_request *out)
{
    int seen = -1;
    skip_ws(rd);
    if (rd->p >= rd->end || *rd->p != '{')
        return fail(rd, "the body must be a JSON object such as {\"url\": \"http://example.com/a\"}%s", "");
    rd->p++;
    skip_ws(rd);
    if (rd->p < rd->end && *rd->p == '}') {
        rd->p++;
    } else {
        for (;;) {
            char name[32];
            size_t nl;
            skip_ws(rd);
            if (rd->p >= rd->end || *rd->p != '"')
                return fail(rd, "expected a member name (a string)%s", "");
            if (json_string(rd, name, sizeof(name), &nl) == -1)
                return fail(rd, "unknown member (url, prefix or tag)%s", "");
            int m = which(name, nl);
            if (m < 0)
                return fail(rd, "unknown member '%s' (url, prefix or tag)", name);
            if (seen >= 0)
                return fail(rd, "name one of url, prefix or tag, once (%s came after another)", name);
            seen = m;
            skip_ws(rd);
            if (rd->p >= rd->end || *rd->p != ':')
                return fail(rd, "expected ':' after '%s'", name);
            rd->p++;
            skip_ws(rd);
            if (rd->p >= rd->end || *rd->p != '"')
                return fail(rd, "%s must be a string", name);
            out->by = (enum purge_by)m;
            if (json_string(rd, out->value, sizeof(out->value), &out->len) == -1)
                return -1;
            skip_ws(rd);
            if (rd->p < rd->end && *rd->p == ',') {
                rd->p++;
                continue;
            }
            if (rd->p < rd->end && *rd->p == '}') {
                rd->p++;
                break;
            }
            return fail(rd, "expected ',' or '}'%s", "");
        }
    }
    skip_ws(rd);
    if (rd->p != rd->end)
        return fail(rd, "something follows the JSON object%s", "");
    if (seen < 0)
        return fail(rd, "the body names nothing to purge: give url, prefix or tag%s", "");
    return take_value(rd, out);
}

/* ---- forms ---- */

/* Decodes s[0..n) (%XX, '+' as a space) into buf (cap bytes, NUL-terminated). */
static int form_decode(struct reader *rd, const char *s, size_t n, char *buf, size_t cap, size_t *len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return fail(rd, "a %% in the form is not followed by two hex digits%s", "");
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (k + 1 > cap - 1)
            return fail(rd, "a form value is longer than %s bytes", "4096");
        buf[k++] = c;
    }
    buf[k] = '\0';
    *len = k;
    return 0;
}

static int parse_form(struct reader *rd, struct purge_request *out)
{
    int seen = -1;
    const char *p = rd->p, *end = rd->end;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            char name[32];
            size_t nl;
            if (eq == NULL)
                return fail(rd, "a form field has no '=' (url=..., prefix=... or tag=...)%s", "");
            if (form_decode(rd, p, (size_t)(eq - p), name, sizeof(name), &nl) == -1)
                return fail(rd, "unknown form field (url, prefix or tag)%s", "");
            int m = which(name, nl);
            if (m < 0)
                return fail(rd, "unknown form field '%s' (url, prefix or tag)", name);
            if (seen >= 0)
                return fail(rd, "name one of url, prefix or tag, once (%s came after another)", name);
            seen = m;
            out->by = (enum purge_by)m;
            if (form_decode(rd, eq + 1, (size_t)(stop - eq - 1), out->value, sizeof(out->value), &out->len) == -1)
                return -1;
            if (memchr(out->value, '\0', out->len))
                return fail(rd, "a form value holds a NUL byte%s", "");
        }
        p = amp ? amp + 1 : end;
    }
    if (seen < 0)
        return fail(rd, "the body names nothing to purge: give url, prefix or tag%s", "");
    return take_value(rd, out);
}

int purge_body_parse(const char *ctype, size_t ctype_len, const char *body, size_t len, struct purge_request *out,
                     char *err, size_t errlen)
{
    struct reader rd = { body, body + len, err, errlen };
    memset(out, 0, sizeof(*out));
    bool json;
    if (ctype == NULL) {
        skip_ws(&rd);
        json = rd.p < rd.end && *rd.p == '{';
        rd.p = body;
    } else {
        size_t n = 0;
        while (n < ctype_len && ctype[n] != ';')
            n++;
        while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
            n--;
        size_t s = 0;
        while (s < n && (ctype[s] == ' ' || ctype[s] == '\t'))
            s++;
        if (ieq(ctype + s, n - s, "application/json")) {
            json = true;
        } else if (ieq(ctype + s, n - s, "application/x-www-form-urlencoded")) {
            json = false;
        } else {
            snprintf(err, errlen, "the body must be application/json or application/x-www-form-urlencoded");
            return 415;
        }
    }
    int rc = json ? parse_json(&rd, out) : parse_form(&rd, out);
    return rc == 0 ? 0 : 400;
}
