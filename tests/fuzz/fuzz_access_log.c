/* fuzz_access_log.c - the access-log formatters on hostile entries: every
 * string field (client, user, method, target, User-Agent, Referer, error,
 * request id, ...) from the input, separated by 0xFF bytes, after a few
 * bytes choosing the numbers and which fields are absent. The formats
 * have no template to parse (a log picks one of three by name), so what is
 * fuzzed is the bytes in the entry. Each line must
 * be whole: at most ACCESS_LINE_MAX bytes, one newline at its end and none
 * before; "luxy" and "combined" lines are printable ASCII whose quotes are
 * only the format's own; a "json" line is one valid JSON object (RFC 8259,
 * checked here by a strict parser) in valid UTF-8. JSON escapes every
 * string, so it gets arbitrary bytes everywhere; the other two write the
 * fields luxy itself makes (client and backend addresses, upstream,
 * listener, cache status, method name) as they are, so those are picked
 * from sane values there, and the rest stays arbitrary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/access_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a strict JSON checker: returns the end of one value, or NULL ---- */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n = (size_t)(end - p);
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

static const char *json_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    p++;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (p + i >= end || !strchr("0123456789abcdefABCDEF", p[i]) || p[i] == 0)
                        return NULL;
                p += 5;
            } else if (strchr("\"\\/bfnrt", *p) && *p) {
                p++;
            } else {
                return NULL;
            }
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
            if (n == 0)
                return NULL;
            p += n;
        }
    }
    return p < end ? p + 1 : NULL;
}

static const char *json_value(const char *p, const char *end, int depth);

static const char *json_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
    }
    return p;
}

static const char *json_value(const char *p, const char *end, int depth)
{
    p = ws(p, end);
    if (p >= end || depth > 8)
        return NULL;
    if (*p == '"')
        return json_string(p, end);
    if (*p == '{') {
        p = ws(p + 1, end);
        if (p < end && *p == '}')
            return p + 1;
        for (;;) {
            p = json_string(ws(p, end), end);
            if (p == NULL)
                return NULL;
            p = ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = json_value(p + 1, end, depth + 1);
            if (p == NULL)
                return NULL;
            p = ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            return p < end && *p == '}' ? p + 1 : NULL;
        }
    }
    if ((size_t)(end - p) >= 4 && memcmp(p, "null", 4) == 0)
        return p + 4;
    return json_number(p, end);
}

/* ---- the entry ---- */

static struct slice take(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *sep = memchr(*p, 0xff, (size_t)(end - *p));
    const uint8_t *stop = sep ? sep : end;
    struct slice s = slice_make((const char *)*p, (size_t)(stop - *p));
    *p = sep ? sep + 1 : end;
    return s;
}

static void check_line(enum access_format f, const struct access_entry *e, bool has_error)
{
    char *line = malloc(ACCESS_LINE_MAX);
    size_t n = access_format_line(f, e, line);
    if (n == 0 || n > ACCESS_LINE_MAX || line[n - 1] != '\n')
        abort();
    if (memchr(line, '\n', n - 1))
        abort(); /* one line */
    if (f == ACCESS_JSON) {
        const char *end = json_value(line, line + n - 1, 0);
        if (end == NULL || end != line + n - 1 || line[0] != '{')
            abort(); /* one whole object, nothing after it */
    } else {
        size_t quotes = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            unsigned char c = (unsigned char)line[i];
            if (c < 0x20 || c > 0x7e)
                abort(); /* printable ASCII only */
            quotes += c == '"';
        }
        /* combined: "request" "referer" "agent"; luxy: "request" [error="..."] */
        size_t want = f == ACCESS_COMBINED ? 6 : has_error ? 4 : 2;
        if (quotes != want)
            abort();
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    const uint8_t *p = data + 8, *end = data + size;
    struct access_entry e;
    memset(&e, 0, sizeof(e));
    uint8_t flags = data[0];
    e.time_ms = (int64_t)data[1] * 86400000LL * 365 + (int64_t)data[2] * 999; /* 1970 .. 2225 */
    e.status = (unsigned)data[3] * 4;
    e.bytes_sent = (uint64_t)data[4] << (data[5] & 63);
    e.request_bytes = e.bytes_sent ^ data[5];
    e.duration = (double)(int8_t)data[6] / 7.0;
    e.connect_time = flags & 1 ? -1 : (double)data[7] / 1000.0;
    e.ttfb = flags & 2 ? -1 : (double)data[7] / 100.0;
    e.retries = data[5];
    e.major = data[6] % 3;
    e.minor = data[7] % 10;
    e.tunnel = flags & 4;
    e.tunnel_up = data[4];
    e.tunnel_down = data[3];

    /* copies, so that a read past a field's end is caught */
    struct slice *all[] = { &e.client, &e.user, &e.method, &e.target, &e.upstream, &e.backend, &e.cache,
                            &e.request_id, &e.error, &e.listener, &e.user_agent, &e.referer, &e.tunnel_end };
    char *copies[sizeof(all) / sizeof(all[0])];
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        struct slice s = take(&p, end);
        copies[i] = malloc(s.len ? s.len : 1);
        memcpy(copies[i], s.ptr, s.len);
        *all[i] = slice_make(copies[i], s.len);
    }
    if (flags & 8)
        e.user_agent = SLICE_NULL; /* the request had none */
    if (flags & 16)
        e.referer = SLICE_NULL;
    check_line(ACCESS_JSON, &e, false);
    /* luxy's own fields, as luxy makes them */
    static const struct slice addrs[] = { SLICE_LIT("127.0.0.1"), SLICE_LIT("2001:db8::1"), SLICE_LIT("") };
    static const struct slice backends[] = { SLICE_LIT("10.0.0.1:8080"), SLICE_LIT("[::1]:80"), SLICE_LIT("") };
    static const struct slice names[] = { SLICE_LIT("app"), SLICE_LIT("api-v2.internal"), SLICE_LIT("") };
    static const struct slice methods[] = { SLICE_LIT("GET"), SLICE_LIT("M-SEARCH"), SLICE_LIT("") };
    static const struct slice caches[] = { SLICE_LIT("HIT"), SLICE_LIT("MISS"), SLICE_LIT("") };
    unsigned k = data[5];
    e.client = addrs[k % 3];
    e.backend = backends[k / 3 % 3];
    e.upstream = names[k / 9 % 3];
    e.method = methods[k / 27 % 3];
    e.cache = caches[k / 81 % 3];
    e.listener = SLICE_LIT("0.0.0.0:8080");
    for (int f = 0; f < ACCESS_FORMATS; f++)
        check_line((enum access_format)f, &e, !e.tunnel && e.error.len > 0);
    struct access_entry *c = access_entry_copy(&e);
    for (int f = 0; f < ACCESS_FORMATS; f++)
        check_line((enum access_format)f, c, !c->tunnel && c->error.len > 0);
    free(c);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(copies[i]);
    return 0;
}
