/* access_log.c - the access-log formats (access_log.h). Lines are built by
 * hand, without printf: the "luxy" line is on every request's path when
 * the access log is on, and a table lookup per byte is all escaping costs.
 * Every field is cut to a bound (below), so whatever a client sends, a
 * line fits in ACCESS_LINE_MAX and ends with its newline. */
#include "access_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Output bytes a field may take, escapes included. */
#define LIM_TARGET 2048  /* the request target, or the raw first line */
#define LIM_FIELD 1024   /* User-Agent, Referer */
#define LIM_ERROR 512
#define LIM_USER 256
#define LIM_NAME 128     /* client, backend, upstream, listener, cache, request id, method, tunnel end */
#define LUXY_TARGET_RAW 1024 /* the luxy line has always cut the target here */

const char *const access_format_names[ACCESS_FORMATS] = { "luxy", "combined", "json" };

int access_format_parse(const char *name)
{
    for (int i = 0; i < ACCESS_FORMATS; i++)
        if (strcmp(name, access_format_names[i]) == 0)
            return i;
    return -1;
}

int64_t access_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output ---- */

/* A line being written: end leaves one byte for the newline. Writes past
 * end are cut (the field limits keep that from happening). */
struct out {
    char *p, *end;
};

static inline size_t room(const struct out *o)
{
    return (size_t)(o->end - o->p);
}

static inline void put(struct out *o, const char *s, size_t n)
{
    n = min(n, room(o));
    memcpy(o->p, s, n);
    o->p += n;
}

#define put_lit(o, s) put((o), (s), sizeof(s) - 1)

static inline void put_char(struct out *o, char c)
{
    if (o->p < o->end)
        *o->p++ = c;
}

static inline void put_slice(struct out *o, struct slice s, size_t limit)
{
    put(o, s.ptr, min(s.len, limit));
}

static void put_u64(struct out *o, uint64_t v)
{
    char b[20];
    int i = sizeof(b);
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, b + i, sizeof(b) - (size_t)i);
}

/* Seconds with 3 or 6 decimals, rounded; negative (clock steps) as 0. */
static void put_seconds(struct out *o, double s, int digits)
{
    uint64_t scale = digits == 3 ? 1000 : 1000000;
    if (!(s > 0))
        s = 0;
    if (s > 1e9)
        s = 1e9;
    uint64_t v = (uint64_t)(s * (double)scale + 0.5);
    put_u64(o, v / scale);
    char frac[6];
    uint64_t f = v % scale;
    for (int i = digits - 1; i >= 0; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    put_char(o, '.');
    put(o, frac, (size_t)digits);
}

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

/* nginx's escaping of log values: '"', '\', control bytes and bytes from
 * 0x7f up as \xHH (uppercase), at most limit output bytes; with space,
 * spaces too (a key=value item of the luxy line is one word). */
static void put_escaped(struct out *o, struct slice s, size_t limit, bool space)
{
    size_t left = min(limit, room(o));
    char *p = o->p;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c > 0x20 ? c < 0x7f && c != '"' && c != '\\' : c == ' ' && !space) {
            if (left < 1)
                break;
            *p++ = (char)c;
            left--;
        } else {
            if (left < 4)
                break;
            p[0] = '\\', p[1] = 'x', p[2] = hex_upper[c >> 4], p[3] = hex_upper[c & 15];
            p += 4;
            left -= 4;
        }
    }
    o->p = p;
}

/* The length of the valid UTF-8 sequence at p[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
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

/* A JSON string (RFC 8259), quotes included, at most limit output bytes:
 * '"' and '\' escaped, control bytes and DEL as \n, \r, \t, \b, \f or
 * \u00XX, valid UTF-8 as it is, and each byte that is not part of a valid
 * UTF-8 sequence as \ufffd (U+FFFD, the replacement character). */
static void put_json_string(struct out *o, struct slice s, size_t limit)
{
    if (room(o) < 2)
        return;
    size_t left = min(limit, room(o)) - 2;
    char *p = o->p;
    *p++ = '"';
    const unsigned char *u = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            if (left < 1)
                break;
            *p++ = (char)c;
            left--;
            i++;
        } else if (c < 0x80) {
            static const char short_esc[32] = { ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r' };
            char e = c == '"' ? '"' : c == '\\' ? '\\' : c < 0x20 ? short_esc[c] : 0;
            if (e) {
                if (left < 2)
                    break;
                p[0] = '\\', p[1] = e;
                p += 2;
                left -= 2;
            } else {
                if (left < 6)
                    break;
                memcpy(p, "\\u00", 4);
                p[4] = hex_lower[c >> 4], p[5] = hex_lower[c & 15];
                p += 6;
                left -= 6;
            }
            i++;
        } else {
            size_t n = utf8_seq(u + i, s.len - i);
            if (n) {
                if (left < n)
                    break;
                memcpy(p, u + i, n);
                p += n;
                left -= n;
                i += n;
            } else {
                if (left < 6)
                    break;
                memcpy(p, "\\ufffd", 6);
                p += 6;
                left -= 6;
                i++;
            }
        }
    }
    *p++ = '"';
    o->p = p;
}

/* A JSON string, or null when s is absent (ptr NULL) or, with empty_null,
 * empty. */
static void put_json_opt(struct out *o, struct slice s, size_t limit, bool empty_null)
{
    if (s.ptr == NULL || (empty_null && s.len == 0))
        put_lit(o, "null");
    else
        put_json_string(o, s, limit);
}

/* ---- time ---- */

/* The current second in both spellings, made once per second and thread. */
struct clock_text {
    int64_t sec;
    char iso[19];               /* "2026-12-01T12:00:00" */
    char clf[26];               /* "01/Dec/2026:12:00:00 +0000" */
};

static void two(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

static const struct clock_text *clock_text(int64_t ms)
{
    static _Thread_local struct clock_text t = { .sec = INT64_MIN };
    int64_t sec = ms / 1000;
    if (sec == t.sec)
        return &t;
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t tt = (time_t)sec;
    struct tm tm;
    gmtime_r(&tt, &tm);
    int year = tm.tm_year + 1900;
    char *p = t.iso; /* YYYY-MM-DDTHH:MM:SS */
    two(p, year / 100), two(p + 2, year % 100);
    p[4] = '-', two(p + 5, tm.tm_mon + 1), p[7] = '-', two(p + 8, tm.tm_mday), p[10] = 'T';
    two(p + 11, tm.tm_hour), p[13] = ':', two(p + 14, tm.tm_min), p[16] = ':', two(p + 17, tm.tm_sec);
    p = t.clf; /* DD/Mon/YYYY:HH:MM:SS +0000 */
    two(p, tm.tm_mday), p[2] = '/', memcpy(p + 3, months + 3 * tm.tm_mon, 3), p[6] = '/';
    memcpy(p + 7, t.iso, 4), p[11] = ':', memcpy(p + 12, t.iso + 11, 8), memcpy(p + 20, " +0000", 6);
    t.sec = sec;
    return &t;
}

/* "2026-12-01T12:00:00.123Z" (RFC 3339, UTC, milliseconds) */
static void put_iso_time(struct out *o, int64_t ms)
{
    const struct clock_text *t = clock_text(ms);
    char frac[6] = { '.', 0, 0, 0, 'Z' };
    int m = (int)(ms % 1000);
    frac[1] = (char)('0' + m / 100), frac[2] = (char)('0' + m / 10 % 10), frac[3] = (char)('0' + m % 10);
    put(o, t->iso, sizeof(t->iso));
    put(o, frac, 5);
}

/* ---- the request line ---- */

static void put_version(struct out *o, const struct access_entry *e)
{
    char v[8] = "HTTP/1.1";
    v[5] = (char)('0' + e->major % 10);
    v[7] = (char)('0' + e->minor % 10);
    put(o, v, 8);
}

/* METHOD SP target SP HTTP/x.y, escaped as nginx does; an unread head's
 * first line escaped the same way, or "-". */
static void put_request_line(struct out *o, const struct access_entry *e, size_t raw_limit)
{
    if (e->method.len == 0) {
        if (e->target.len == 0)
            put_char(o, '-');
        else
            put_escaped(o, e->target, LIM_TARGET, false);
        return;
    }
    put_slice(o, e->method, LIM_NAME);
    put_char(o, ' ');
    put_escaped(o, slice_make(e->target.ptr, min(e->target.len, raw_limit)), LIM_TARGET, false);
    put_char(o, ' ');
    put_version(o, e);
}

/* ---- luxy ---- */

/* client "request line" status bytes upstream=NAME backend=ADDR 0.003s
 * [retries=N] [user=U] [error="..."] [connect_time=T] [ttfb=T] [cache=C]
 * [request_id=ID]  (docs/config.md, logs) */
static void format_luxy(struct out *o, const struct access_entry *e)
{
    put_iso_time(o, e->time_ms);
    put_char(o, ' ');
    put_slice(o, e->client, LIM_NAME);
    put_lit(o, " \"");
    if (e->method.len) {
        put_request_line(o, e, LUXY_TARGET_RAW);
    } else if (e->target.len == 0) {
        put_char(o, '-');
    } else { /* as it came: bytes that are not printable, and '"', as '?' */
        size_t n = min(e->target.len, min((size_t)LIM_TARGET, room(o)));
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)e->target.ptr[i];
            o->p[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
        }
        o->p += n;
    }
    put_lit(o, "\" ");
    put_u64(o, e->status);
    put_char(o, ' ');
    put_u64(o, e->tunnel ? e->tunnel_down : e->bytes_sent);
    if (e->tunnel) {
        put_lit(o, " upstream=- tunnel up=");
        put_u64(o, e->tunnel_up);
        put_lit(o, " down=");
        put_u64(o, e->tunnel_down);
        put_char(o, ' ');
        put_seconds(o, e->duration, 3);
        put_lit(o, "s end=");
        put_escaped(o, e->tunnel_end, LIM_NAME, true);
    } else {
        put_lit(o, " upstream=");
        if (e->upstream.len)
            put_slice(o, e->upstream, LIM_NAME);
        else
            put_char(o, '-');
        put_lit(o, " backend=");
        if (e->backend.len)
            put_slice(o, e->backend, LIM_NAME);
        else
            put_char(o, '-');
        put_char(o, ' ');
        put_seconds(o, e->duration, 3);
        put_char(o, 's');
        if (e->retries) {
            put_lit(o, " retries=");
            put_u64(o, e->retries);
        }
        if (e->user.len) {
            put_lit(o, " user=");
            put_escaped(o, slice_make(e->user.ptr, min(e->user.len, (size_t)64)), LIM_USER, true);
        }
        if (e->error.len) {
            put_lit(o, " error=\"");
            put_escaped(o, e->error, LIM_ERROR, false);
            put_char(o, '"');
        }
        if (e->connect_time >= 0) {
            put_lit(o, " connect_time=");
            put_seconds(o, e->connect_time, 3);
            put_char(o, 's');
        }
        if (e->ttfb >= 0) {
            put_lit(o, " ttfb=");
            put_seconds(o, e->ttfb, 3);
            put_char(o, 's');
        }
        if (e->cache.len) {
            put_lit(o, " cache=");
            put_slice(o, e->cache, LIM_NAME);
        }
    }
    if (e->request_id.len) {
        put_lit(o, " request_id=");
        put_escaped(o, e->request_id, LIM_NAME, true);
    }
}

/* ---- combined ---- */

/* A quoted field as nginx writes one: "-" when absent. */
static void put_clf_field(struct out *o, struct slice s, size_t limit)
{
    put_char(o, '"');
    if (s.ptr == NULL)
        put_char(o, '-');
    else
        put_escaped(o, s, limit, false);
    put_char(o, '"');
}

/* $remote_addr - $remote_user [$time_local] "$request" $status
 * $body_bytes_sent "$http_referer" "$http_user_agent" */
static void format_combined(struct out *o, const struct access_entry *e)
{
    put_slice(o, e->client, LIM_NAME);
    put_lit(o, " - ");
    if (e->user.len)
        put_escaped(o, e->user, LIM_USER, true);
    else
        put_char(o, '-');
    put_lit(o, " [");
    const struct clock_text *t = clock_text(e->time_ms);
    put(o, t->clf, sizeof(t->clf));
    put_lit(o, "] \"");
    put_request_line(o, e, SIZE_MAX);
    put_lit(o, "\" ");
    put_u64(o, e->status);
    put_char(o, ' ');
    put_u64(o, e->tunnel ? e->tunnel_down : e->bytes_sent);
    put_char(o, ' ');
    put_clf_field(o, e->referer, LIM_FIELD);
    put_char(o, ' ');
    put_clf_field(o, e->user_agent, LIM_FIELD);
}

/* ---- json ---- */

static void put_json_seconds(struct out *o, double s)
{
    if (s < 0)
        put_lit(o, "null");
    else
        put_seconds(o, s, 6);
}

static void format_json(struct out *o, const struct access_entry *e)
{
    put_lit(o, "{\"time\":\"");
    put_iso_time(o, e->time_ms);
    put_lit(o, "\",\"client\":");
    put_json_string(o, e->client, LIM_NAME);
    put_lit(o, ",\"user\":");
    put_json_opt(o, e->user, LIM_USER, true);
    put_lit(o, ",\"method\":");
    put_json_opt(o, e->method, LIM_NAME, true);
    put_lit(o, ",\"target\":");
    put_json_opt(o, e->target, LIM_TARGET, true);
    put_lit(o, ",\"version\":");
    if (e->method.len) {
        char v[5] = { '"', (char)('0' + e->major % 10), '.', (char)('0' + e->minor % 10), '"' };
        put(o, v, sizeof(v));
    } else {
        put_lit(o, "null");
    }
    put_lit(o, ",\"status\":");
    put_u64(o, e->status);
    put_lit(o, ",\"bytes_sent\":");
    put_u64(o, e->tunnel ? e->tunnel_down : e->bytes_sent);
    put_lit(o, ",\"request_bytes\":");
    put_u64(o, e->request_bytes);
    put_lit(o, ",\"duration\":");
    put_seconds(o, e->duration, 6);
    put_lit(o, ",\"connect_time\":");
    put_json_seconds(o, e->connect_time);
    put_lit(o, ",\"ttfb\":");
    put_json_seconds(o, e->ttfb);
    put_lit(o, ",\"upstream\":");
    put_json_opt(o, e->upstream, LIM_NAME, true);
    put_lit(o, ",\"backend\":");
    put_json_opt(o, e->backend, LIM_NAME, true);
    put_lit(o, ",\"retries\":");
    put_u64(o, e->retries);
    put_lit(o, ",\"cache\":");
    put_json_opt(o, e->cache, LIM_NAME, true);
    put_lit(o, ",\"request_id\":");
    put_json_opt(o, e->request_id, LIM_NAME, true);
    put_lit(o, ",\"error\":");
    put_json_opt(o, e->error, LIM_ERROR, true);
    put_lit(o, ",\"listener\":");
    put_json_string(o, e->listener, LIM_NAME);
    put_lit(o, ",\"user_agent\":");
    put_json_opt(o, e->user_agent, LIM_FIELD, false);
    put_lit(o, ",\"referer\":");
    put_json_opt(o, e->referer, LIM_FIELD, false);
    if (e->tunnel) {
        put_lit(o, ",\"tunnel\":{\"bytes_up\":");
        put_u64(o, e->tunnel_up);
        put_lit(o, ",\"bytes_down\":");
        put_u64(o, e->tunnel_down);
        put_lit(o, ",\"end\":");
        put_json_string(o, e->tunnel_end, LIM_NAME);
        put_char(o, '}');
    }
    put_char(o, '}');
}

size_t access_format_line(enum access_format f, const struct access_entry *e, char *buf)
{
    struct out o = { buf, buf + ACCESS_LINE_MAX - 1 };
    switch (f) {
    case ACCESS_LUXY:
        format_luxy(&o, e);
        break;
    case ACCESS_COMBINED:
        format_combined(&o, e);
        break;
    case ACCESS_JSON:
    case ACCESS_FORMATS:
        format_json(&o, e);
        break;
    }
    *o.p++ = '\n';
    return (size_t)(o.p - buf);
}

void access_log_write(const struct access_entry *e)
{
    unsigned formats = log_access_formats();
    if (formats == 0)
        return;
    char line[ACCESS_LINE_MAX];
    for (unsigned f = 0; f < ACCESS_FORMATS; f++)
        if (formats & ACCESS_BIT(f))
            log_access_line((enum access_format)f, line, access_format_line((enum access_format)f, e, line));
}

/* ---- copies (tunnels keep theirs until they close) ---- */

static void copy_slice(struct slice *s, char **p)
{
    if (s->ptr == NULL)
        return;
    memcpy(*p, s->ptr, s->len);
    s->ptr = *p;
    *p += s->len;
}

struct access_entry *access_entry_copy(const struct access_entry *e)
{
    struct access_entry c = *e;
    struct slice *all[] = { &c.client, &c.user, &c.method, &c.target, &c.upstream, &c.backend, &c.cache,
                            &c.request_id, &c.error, &c.listener, &c.user_agent, &c.referer, &c.tunnel_end };
    size_t n = 0;
    for (size_t i = 0; i < countof(all); i++)
        n += all[i]->ptr ? all[i]->len : 0;
    struct access_entry *out = xmalloc(sizeof(*out) + n);
    char *p = (char *)(out + 1);
    for (size_t i = 0; i < countof(all); i++)
        copy_slice(all[i], &p);
    *out = c;
    return out;
}
