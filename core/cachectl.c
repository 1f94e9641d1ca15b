/* cachectl.c - RFC 9111 (and 9110 dates, 9213 targeted fields) for a
 * shared cache. Section numbers in comments are RFC 9111's unless said. */
#include "cachectl.h"

#include <stdio.h>
#include <string.h>

#include "http.h"

/* ---- Cache-Control ---- */

/* A directive's value without its quotes (quoted-pairs kept as they are:
 * no directive luxy reads has one). */
static struct slice unquote(struct slice v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        return slice_make(v.ptr + 1, v.len - 2);
    return v;
}

/* delta-seconds (1.2.2): digits only; too large saturates at 2^31.
 * -1 when it is not a non-negative integer. */
static int64_t delta_seconds(struct slice v)
{
    v = unquote(slice_trim(v));
    if (v.len == 0)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        if (n < CC_DELTA_MAX)
            n = n * 10 + (v.ptr[i] - '0');
    }
    return n > CC_DELTA_MAX ? CC_DELTA_MAX : n;
}

/* Sets a delta directive; a second, different value makes it invalid.
 * freshness: a malformed value also makes the response invalid (stale),
 * where for the others it is just ignored. */
static void set_delta(struct cache_control *cc, int64_t *field, struct slice value, bool has_value,
                      bool freshness)
{
    int64_t v = has_value ? delta_seconds(value) : -1;
    if (v < 0) {
        if (freshness)
            cc->invalid = true;
        return;
    }
    if (*field != CC_ABSENT && *field != v) {
        cc->invalid = freshness || cc->invalid;
        if (!freshness)
            *field = min(*field, v); /* the more restrictive */
        return;
    }
    *field = v;
}

static void directive(struct cache_control *cc, struct slice name, struct slice value, bool has_value)
{
    name = slice_trim(name);
#define IS(lit) slice_caseeq_lit(name, lit)
    if (IS("no-store"))
        cc->no_store = true;
    else if (IS("no-cache"))
        cc->no_cache = true; /* with field names: treated as without (5.2.2.4 allows it) */
    else if (IS("private"))
        cc->private_ = true; /* likewise: the whole response is private */
    else if (IS("public"))
        cc->public_ = true;
    else if (IS("must-revalidate"))
        cc->must_revalidate = true;
    else if (IS("proxy-revalidate"))
        cc->proxy_revalidate = true;
    else if (IS("no-transform"))
        cc->no_transform = true;
    else if (IS("immutable"))
        cc->immutable = true;
    else if (IS("only-if-cached"))
        cc->only_if_cached = true;
    else if (IS("must-understand"))
        cc->must_understand = true;
    else if (IS("max-age"))
        set_delta(cc, &cc->max_age, value, has_value, true);
    else if (IS("s-maxage"))
        set_delta(cc, &cc->s_maxage, value, has_value, true);
    else if (IS("stale-while-revalidate"))
        set_delta(cc, &cc->stale_while_revalidate, value, has_value, false);
    else if (IS("stale-if-error"))
        set_delta(cc, &cc->stale_if_error, value, has_value, false);
    else if (IS("min-fresh"))
        set_delta(cc, &cc->min_fresh, value, has_value, false);
    else if (IS("max-stale")) {
        if (!has_value)
            cc->max_stale_any = true;
        else
            set_delta(cc, &cc->max_stale, value, has_value, false);
    }
    /* unknown directives are ignored (5.2.3) */
#undef IS
}

/* One field line: comma-separated directives, commas inside quoted
 * strings do not separate. */
static void parse_line(struct cache_control *cc, struct slice v)
{
    size_t i = 0;
    while (i < v.len) {
        size_t start = i, eq = 0;
        bool has_value = false, quoted = false;
        for (; i < v.len; i++) {
            char c = v.ptr[i];
            if (quoted) {
                if (c == '\\' && i + 1 < v.len)
                    i++;
                else if (c == '"')
                    quoted = false;
            } else if (c == '"') {
                quoted = true;
            } else if (c == '=' && !has_value) {
                has_value = true;
                eq = i;
            } else if (c == ',') {
                break;
            }
        }
        struct slice item = slice_make(v.ptr + start, i - start);
        if (has_value)
            directive(cc, slice_make(item.ptr, eq - start), slice_make(v.ptr + eq + 1, i - eq - 1), true);
        else if (slice_trim(item).len)
            directive(cc, item, SLICE_NULL, false);
        i++; /* the comma */
    }
}

void cc_parse(struct cache_control *cc, const struct headers *h, struct slice name)
{
    memset(cc, 0, sizeof(*cc));
    cc->max_age = cc->s_maxage = cc->stale_while_revalidate = cc->stale_if_error = CC_ABSENT;
    cc->max_stale = cc->min_fresh = CC_ABSENT;
    for (int i = headers_find(h, name, 0); i >= 0; i = headers_find(h, name, (unsigned)i + 1)) {
        cc->present = true;
        parse_line(cc, h->v[i].value);
    }
}

/* ---- dates (RFC 9110 5.6.7) ---- */

static const char *const day_names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const long_days[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday",
                                         "Friday", "Saturday" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int month_of(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(p, months[i], 3) == 0)
            return i;
    return -1;
}

static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "08:49:37" */
static bool clock_of(const char *p, struct tm *tm)
{
    tm->tm_hour = digits(p, 2);
    tm->tm_min = digits(p + 3, 2);
    tm->tm_sec = digits(p + 6, 2);
    return p[2] == ':' && p[5] == ':' && tm->tm_hour >= 0 && tm->tm_hour <= 23 && tm->tm_min >= 0 &&
           tm->tm_min <= 59 && tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

static bool finish(struct tm *tm, time_t *out)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (tm->tm_mon < 0 || tm->tm_mday < 1 || tm->tm_mday > mdays[tm->tm_mon] || tm->tm_year < 0)
        return false;
    time_t t = timegm(tm);
    if (t == (time_t)-1)
        return false;
    *out = t;
    return true;
}

bool http_date_parse(struct slice s, time_t *out)
{
    s = slice_trim(s);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = s.ptr;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (s.len == 29 && p[3] == ',' && p[4] == ' ' && p[7] == ' ' && p[11] == ' ' && p[16] == ' ' &&
        p[25] == ' ' && memcmp(p + 26, "GMT", 3) == 0) {
        bool day = false;
        for (int i = 0; i < 7; i++)
            day |= memcmp(p, day_names[i], 3) == 0;
        tm.tm_mday = digits(p + 5, 2);
        tm.tm_mon = month_of(p + 8);
        int year = digits(p + 12, 4);
        tm.tm_year = year - 1900;
        return day && year >= 0 && clock_of(p + 17, &tm) && finish(&tm, out);
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (s.len == 24 && p[3] == ' ' && p[7] == ' ' && p[10] == ' ' && p[19] == ' ') {
        bool day = false;
        for (int i = 0; i < 7; i++)
            day |= memcmp(p, day_names[i], 3) == 0;
        tm.tm_mon = month_of(p + 4);
        tm.tm_mday = p[8] == ' ' ? digits(p + 9, 1) : digits(p + 8, 2);
        int year = digits(p + 20, 4);
        tm.tm_year = year - 1900;
        return day && year >= 0 && clock_of(p + 11, &tm) && finish(&tm, out);
    }
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    const char *comma = memchr(p, ',', s.len);
    if (comma) {
        size_t dl = (size_t)(comma - p);
        bool day = false;
        for (int i = 0; i < 7; i++)
            day |= strlen(long_days[i]) == dl && memcmp(p, long_days[i], dl) == 0;
        const char *q = comma + 1;
        size_t rest = s.len - dl - 1;
        if (!day || rest != 23 || q[0] != ' ' || q[3] != '-' || q[7] != '-' || q[10] != ' ' || q[19] != ' ' ||
            memcmp(q + 20, "GMT", 3) != 0)
            return false;
        tm.tm_mday = digits(q + 1, 2);
        tm.tm_mon = month_of(q + 4);
        int yy = digits(q + 8, 2);
        if (yy < 0 || !clock_of(q + 11, &tm))
            return false;
        /* a two-digit year more than 50 years ahead is in the past century */
        time_t now = time(NULL);
        struct tm nowtm;
        gmtime_r(&now, &nowtm);
        int century = (nowtm.tm_year + 1900) / 100 * 100;
        int year = century + yy;
        if (year > nowtm.tm_year + 1900 + 50)
            year -= 100;
        tm.tm_year = year - 1900;
        return finish(&tm, out);
    }
    return false;
}

size_t http_date_format(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    return strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- Age ---- */

int64_t cache_age_value(const struct headers *h)
{
    struct slice v = headers_get(h, SLICE_LIT("Age"));
    if (v.ptr == NULL)
        return -1;
    const char *comma = memchr(v.ptr, ',', v.len);
    if (comma)
        v.len = (size_t)(comma - v.ptr); /* a list: its first member (5.1) */
    return delta_seconds(v);
}

/* ---- storing ---- */

const char *cache_store_verdict_text(enum cache_store_verdict v)
{
    switch (v) {
    case STORE_OK: return "storable";
    case STORE_NO_STORE: return "no-store";
    case STORE_PRIVATE: return "private";
    case STORE_AUTHORIZATION: return "a request with Authorization";
    case STORE_METHOD: return "not a GET or HEAD";
    case STORE_STATUS: return "a status this cache does not store";
    case STORE_NO_FRESHNESS: return "no freshness information and no validator";
    case STORE_VARY_STAR: return "Vary: *";
    case STORE_SET_COOKIE: return "Set-Cookie";
    }
    return "?";
}

bool cache_status_heuristic(unsigned status)
{
    switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return true;
    default:
        return false;
    }
}

/* May a final status be stored at all (given explicit freshness)? 206 is
 * not: luxy stores whole responses and serves ranges from them; 304 and
 * 1xx are not responses to store. */
static bool status_storable(unsigned status)
{
    return status >= 200 && status <= 599 && status != 206 && status != 304;
}

/* The directives that decide: the targeted field when it is there and
 * valid (RFC 9213 2.2), else Cache-Control. */
static void response_cc(struct cache_control *cc, const struct cache_rules *rules, const struct headers *resp,
                        bool *targeted)
{
    struct slice fields[2] = { rules->own_targeted, rules->targeted };
    for (int i = 0; i < 2; i++) {
        if (fields[i].len == 0)
            continue;
        cc_parse(cc, resp, fields[i]);
        if (cc->present && !cc->invalid) {
            *targeted = true;
            return;
        }
    }
    *targeted = false;
    cc_parse(cc, resp, SLICE_LIT("Cache-Control"));
}

void cache_decide(struct cache_meta *m, const struct cache_rules *rules, unsigned method,
                  const struct headers *req, unsigned status, const struct headers *resp, time_t now)
{
    memset(m, 0, sizeof(*m));
    m->swr = m->sie = CC_ABSENT;
    m->age = cache_age_value(resp);
    struct slice date = headers_get(resp, H_DATE);
    if (date.ptr == NULL || !http_date_parse(date, &m->date))
        m->date = now; /* a missing Date is the time it was received */
    struct slice lm = headers_get(resp, SLICE_LIT("Last-Modified"));
    time_t last_modified = 0;
    bool has_lm = lm.ptr && http_date_parse(lm, &last_modified);
    m->has_validator = has_lm || headers_find(resp, SLICE_LIT("ETag"), 0) >= 0;

    struct cache_control cc, rcc;
    bool targeted;
    response_cc(&cc, rules, resp, &targeted);
    cc_parse(&rcc, req, SLICE_LIT("Cache-Control"));
    m->verdict = STORE_OK;
    if (method != HTTP_GET && method != HTTP_HEAD)
        m->verdict = STORE_METHOD;
    else if (cc.no_store || rcc.no_store)
        m->verdict = STORE_NO_STORE;
    else if (!status_storable(status))
        m->verdict = STORE_STATUS;
    else if (cc.private_)
        m->verdict = STORE_PRIVATE;
    else if (headers_find(req, SLICE_LIT("Authorization"), 0) >= 0 &&
             !(cc.public_ || cc.s_maxage != CC_ABSENT || cc.must_revalidate))
        m->verdict = STORE_AUTHORIZATION; /* 3.5 */
    else if (cache_vary_names(resp, NULL, 0) == -1 && headers_find(resp, SLICE_LIT("Vary"), 0) >= 0)
        m->verdict = STORE_VARY_STAR;
    else if (headers_find(resp, SLICE_LIT("Set-Cookie"), 0) >= 0 && !rules->allow_set_cookie)
        m->verdict = STORE_SET_COOKIE;
    if (m->verdict != STORE_OK)
        return;

    m->no_cache = cc.no_cache;
    m->must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage != CC_ABSENT;
    m->swr = cc.stale_while_revalidate;
    m->sie = cc.stale_if_error;
    bool explicit_ = true;
    if (cc.invalid) {
        m->freshness = 0; /* duplicated or malformed freshness: stale (4.2.1) */
    } else if (cc.s_maxage != CC_ABSENT) {
        m->freshness = cc.s_maxage;
    } else if (cc.max_age != CC_ABSENT) {
        m->freshness = cc.max_age;
    } else if (!targeted && headers_find(resp, SLICE_LIT("Expires"), 0) >= 0) {
        time_t exp;
        int first = headers_find(resp, SLICE_LIT("Expires"), 0);
        bool twice = headers_find(resp, SLICE_LIT("Expires"), (unsigned)first + 1) >= 0;
        /* invalid (or "0") means already expired (5.3); two are invalid */
        if (twice || !http_date_parse(resp->v[first].value, &exp))
            m->freshness = 0;
        else
            m->freshness = exp > m->date ? (int64_t)(exp - m->date) : 0;
    } else {
        explicit_ = false;
    }
    if (explicit_) {
        /* stale at once, with nothing to revalidate with and no stale use
         * allowed: storing it would only cost memory */
        if (m->freshness == 0 && !m->has_validator && m->swr == CC_ABSENT && m->sie == CC_ABSENT)
            m->verdict = STORE_NO_FRESHNESS;
        return;
    }
    /* no explicit freshness: a heuristic from Last-Modified (4.2.2), or a
     * validator to revalidate with every time; errors (4xx, 5xx) only ever
     * with explicit freshness */
    if (!(cache_status_heuristic(status) || cc.public_) || status >= 400) {
        m->verdict = STORE_NO_FRESHNESS;
        return;
    }
    if (has_lm && last_modified <= m->date) {
        double h = rules->heuristic_fraction * (double)(m->date - last_modified);
        m->freshness = h > (double)rules->heuristic_max ? rules->heuristic_max : (int64_t)h;
        m->heuristic = true;
        return;
    }
    if (m->has_validator) {
        m->freshness = 0;
        return;
    }
    m->verdict = STORE_NO_FRESHNESS;
}

double cache_initial_age(const struct cache_meta *m, double request_time, double response_time)
{
    /* a Date is in whole seconds: it counts only once past its second */
    double apparent = response_time - (double)m->date - 1;
    if (apparent < 0)
        apparent = 0;
    double delay = response_time > request_time ? response_time - request_time : 0;
    double corrected = (double)(m->age >= 0 ? m->age : 0) + delay;
    return apparent > corrected ? apparent : corrected;
}

/* ---- using a stored response ---- */

void cache_request_parse(struct cache_request *cr, const struct headers *req)
{
    struct cache_control cc;
    cc_parse(&cc, req, SLICE_LIT("Cache-Control"));
    memset(cr, 0, sizeof(*cr));
    cr->no_cache = cc.no_cache;
    cr->no_store = cc.no_store;
    cr->only_if_cached = cc.only_if_cached;
    cr->max_age = cc.max_age;
    cr->max_stale = cc.max_stale;
    cr->max_stale_any = cc.max_stale_any;
    cr->min_fresh = cc.min_fresh;
    /* 5.4: Pragma: no-cache counts only without Cache-Control */
    if (!cc.present && headers_has_token(req, SLICE_LIT("Pragma"), SLICE_LIT("no-cache")))
        cr->no_cache = true;
}

enum cache_use cache_usable(const struct cache_meta *m, const struct cache_request *cr, int64_t age,
                            int64_t grace)
{
    (void)grace;
    if (m->no_cache || cr->no_cache)
        return USE_REVALIDATE;
    bool fresh = m->freshness > age;
    if (cr->max_age != CC_ABSENT && age > cr->max_age)
        fresh = false;
    if (cr->min_fresh != CC_ABSENT && m->freshness - age < cr->min_fresh)
        fresh = false;
    if (fresh)
        return USE_FRESH;
    int64_t stale_by = age - m->freshness;
    if (!m->must_revalidate) {
        if (cr->max_stale_any || (cr->max_stale != CC_ABSENT && stale_by <= cr->max_stale))
            return USE_FRESH; /* the client accepts it stale */
        if (m->swr != CC_ABSENT && stale_by <= m->swr)
            return USE_STALE_REVALIDATE;
    }
    return USE_REVALIDATE;
}

bool cache_stale_if_error_ok(const struct cache_meta *m, int64_t age, int64_t grace)
{
    if (m->must_revalidate)
        return false;
    int64_t stale_by = age - m->freshness;
    return (m->sie != CC_ABSENT && stale_by <= m->sie) || stale_by <= grace;
}

/* ---- conditional requests ---- */

/* Weak comparison of two entity-tags (RFC 9110 8.8.3.2): equal opaque
 * tags, whether either is weak or not. */
static bool etag_weak_eq(struct slice a, struct slice b)
{
    if (a.len >= 2 && a.ptr[0] == 'W' && a.ptr[1] == '/')
        a = slice_make(a.ptr + 2, a.len - 2);
    if (b.len >= 2 && b.ptr[0] == 'W' && b.ptr[1] == '/')
        b = slice_make(b.ptr + 2, b.len - 2);
    return a.len >= 2 && a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

bool cache_not_modified(const struct headers *req, const struct headers *stored)
{
    int inm = headers_find(req, SLICE_LIT("If-None-Match"), 0);
    if (inm >= 0) {
        struct slice etag = slice_trim(headers_get(stored, SLICE_LIT("ETag")));
        for (int i = inm; i >= 0; i = headers_find(req, SLICE_LIT("If-None-Match"), (unsigned)i + 1)) {
            struct slice v = req->v[i].value;
            const char *p = v.ptr, *end = v.ptr + v.len;
            while (p < end) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                struct slice tag = slice_trim(slice_make(p, (size_t)((comma ? comma : end) - p)));
                if (slice_eq(tag, "*", 1) || (etag.ptr && etag_weak_eq(tag, etag)))
                    return true;
                p = comma ? comma + 1 : end;
            }
        }
        return false; /* If-Modified-Since is ignored when If-None-Match is there */
    }
    struct slice ims = headers_get(req, SLICE_LIT("If-Modified-Since"));
    time_t since, modified;
    if (ims.ptr == NULL || !http_date_parse(ims, &since))
        return false;
    struct slice lm = headers_get(stored, SLICE_LIT("Last-Modified"));
    if (lm.ptr == NULL || !http_date_parse(lm, &modified)) {
        struct slice date = headers_get(stored, H_DATE);
        if (date.ptr == NULL || !http_date_parse(date, &modified))
            return false;
    }
    return modified <= since;
}

/* ---- ranges ---- */

static bool parse_u64(const char *p, const char *end, uint64_t *out)
{
    if (p == end || end - p > 19)
        return false;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

enum http_range http_range_parse(const struct headers *req, const struct headers *stored, uint64_t len,
                                 uint64_t *first, uint64_t *last)
{
    int i = headers_find(req, SLICE_LIT("Range"), 0);
    if (i < 0 || headers_find(req, SLICE_LIT("Range"), (unsigned)i + 1) >= 0)
        return RANGE_NONE;
    struct slice ir = headers_get(req, SLICE_LIT("If-Range"));
    if (ir.ptr) { /* 13.1.5: a strong ETag or a date, else the whole response */
        ir = slice_trim(ir);
        struct slice etag = slice_trim(headers_get(stored, SLICE_LIT("ETag")));
        struct slice lm = slice_trim(headers_get(stored, SLICE_LIT("Last-Modified")));
        bool match = ir.len && ir.ptr[0] == '"' ? etag.ptr && etag.len == ir.len && memcmp(etag.ptr, ir.ptr, ir.len) == 0
                                                : lm.ptr && lm.len == ir.len && memcmp(lm.ptr, ir.ptr, ir.len) == 0;
        if (!match)
            return RANGE_NONE;
    }
    struct slice v = slice_trim(req->v[i].value);
    if (v.len < 7 || !slice_caseeq(slice_make(v.ptr, 6), "bytes=", 6))
        return RANGE_NONE;
    const char *p = v.ptr + 6, *end = v.ptr + v.len;
    if (memchr(p, ',', (size_t)(end - p)))
        return RANGE_NONE; /* several ranges: the whole response is a valid answer */
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *dash = memchr(p, '-', (size_t)(end - p));
    if (dash == NULL)
        return RANGE_NONE;
    const char *after = dash + 1, *stop = end;
    while (stop > after && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    uint64_t a, b;
    if (p == dash) { /* the last n bytes */
        if (!parse_u64(after, stop, &b))
            return RANGE_NONE;
        if (b == 0 || len == 0)
            return RANGE_UNSATISFIABLE;
        *first = b >= len ? 0 : len - b;
        *last = len - 1;
        return RANGE_OK;
    }
    if (!parse_u64(p, dash, &a))
        return RANGE_NONE;
    if (after == stop) {
        b = len ? len - 1 : 0;
    } else if (!parse_u64(after, stop, &b) || b < a) {
        return RANGE_NONE;
    }
    if (a >= len)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = b >= len ? len - 1 : b;
    return RANGE_OK;
}

/* ---- Vary ---- */

int cache_vary_names(const struct headers *resp, char *out, size_t cap)
{
    size_t n = 0;
    const struct slice vary = SLICE_LIT("Vary");
    for (int i = headers_find(resp, vary, 0); i >= 0; i = headers_find(resp, vary, (unsigned)i + 1)) {
        struct slice v = resp->v[i].value;
        const char *p = v.ptr, *end = v.ptr + v.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            struct slice name = slice_trim(slice_make(p, (size_t)((comma ? comma : end) - p)));
            p = comma ? comma + 1 : end;
            if (name.len == 0)
                continue;
            if (slice_eq(name, "*", 1) || !headers_valid_name(name))
                return -1; /* "*", or not a field name: nothing can match it */
            if (out == NULL)
                continue;
            char lower[128];
            if (name.len >= sizeof(lower) || n + name.len + 1 >= cap)
                return -1;
            for (size_t k = 0; k < name.len; k++) {
                char c = name.ptr[k];
                lower[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            /* already listed? */
            bool dup = false;
            for (size_t at = 0; at < n && !dup;) {
                const char *nl = memchr(out + at, '\n', n - at);
                size_t len = (size_t)(nl - (out + at));
                dup = len == name.len && memcmp(out + at, lower, len) == 0;
                at += len + 1;
            }
            if (!dup) {
                memcpy(out + n, lower, name.len);
                n += name.len;
                out[n++] = '\n';
            }
        }
    }
    if (out && cap)
        out[n < cap ? n : cap - 1] = '\0';
    return (int)n;
}

int cache_vary_value(const struct headers *req, struct slice name, char *out, size_t cap)
{
    int first = headers_find(req, name, 0);
    if (first < 0) {
        if (cap < 2)
            return -1;
        out[0] = '\x01';
        out[1] = '\0';
        return 1;
    }
    size_t n = 0;
    bool any = false;
    for (int i = first; i >= 0; i = headers_find(req, name, (unsigned)i + 1)) {
        struct slice v = req->v[i].value;
        const char *p = v.ptr, *end = v.ptr + v.len;
        do {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            struct slice el = slice_trim(slice_make(p, (size_t)((comma ? comma : end) - p)));
            p = comma ? comma + 1 : end;
            if (n + el.len + 2 >= cap)
                return -1;
            if (any)
                out[n++] = ',';
            memcpy(out + n, el.ptr, el.len);
            n += el.len;
            any = true;
        } while (p < end);
    }
    out[n] = '\0';
    return (int)n;
}
