/* test_cachectl.c - RFC 9111 decisions: directive parsing as tolerant as
 * the RFC says and no more, dates in three formats, Age, freshness from
 * each source, what is not stored and why, ages, request directives,
 * staleness rules, conditional requests and Vary. */
#include "../../core/cachectl.h"
#include "../../core/http.h"
#include "tap.h"

static struct arena a;

/* "Name: value\n..." -> headers */
static struct headers H(const char *text)
{
    struct headers h;
    headers_init(&h);
    char *copy = arena_strndup(&a, text, strlen(text));
    for (char *line = copy, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL)
            nl = line + strlen(line);
        char *colon = memchr(line, ':', (size_t)(nl - line));
        if (colon) {
            struct slice name = slice_make(line, (size_t)(colon - line));
            struct slice value = slice_trim(slice_make(colon + 1, (size_t)(nl - colon - 1)));
            headers_add(&h, &a, name, value);
        }
        if (*nl == '\0')
            break;
    }
    return h;
}

static struct cache_control CC(const char *text)
{
    struct cache_control cc;
    struct headers h = H(text);
    cc_parse(&cc, &h, SLICE_LIT("Cache-Control"));
    return cc;
}

static void test_directives(void)
{
    struct cache_control cc = CC("Cache-Control: max-age=60, Public");
    ok(cc.present && cc.max_age == 60 && cc.public_ && !cc.invalid, "max-age and public, any case");
    cc = CC("Cache-Control: MAX-AGE=\"30\"");
    is_int(cc.max_age, 30, "a quoted value is accepted (5.2)");
    cc = CC("Cache-Control: max-age=1.5");
    ok(cc.invalid, "a non-integer max-age makes the response stale");
    cc = CC("Cache-Control: max-age=-1");
    ok(cc.invalid, "a negative max-age too");
    cc = CC("Cache-Control: max-age=60\nCache-Control: max-age=30");
    ok(cc.invalid, "max-age twice with different values: stale (4.2.1)");
    cc = CC("Cache-Control: max-age=60, max-age=60");
    ok(!cc.invalid && cc.max_age == 60, "the same value twice is fine");
    cc = CC("Cache-Control: max-age=99999999999999999999");
    is_int(cc.max_age, CC_DELTA_MAX, "huge values saturate at 2^31 (1.2.2)");
    cc = CC("Cache-Control: no-cache=\"Set-Cookie, X-A\", private=\"X\", foo=bar, , s-maxage=5");
    ok(cc.no_cache && cc.private_ && cc.s_maxage == 5, "qualified forms, unknown directives, empty items");
    cc = CC("Cache-Control: PRIVATE");
    ok(cc.private_, "PRIVATE is private");
    cc = CC("Cache-Control: stale-while-revalidate=10,stale-if-error=20,must-revalidate,proxy-revalidate");
    ok(cc.stale_while_revalidate == 10 && cc.stale_if_error == 20 && cc.must_revalidate && cc.proxy_revalidate,
       "stale directives and revalidation");
    cc = CC("Cache-Control: stale-if-error=x");
    ok(cc.stale_if_error == CC_ABSENT && !cc.invalid, "a bad stale-if-error is ignored");
    cc = CC("Cache-Control: max-stale, min-fresh=5, only-if-cached, no-store");
    ok(cc.max_stale_any && cc.min_fresh == 5 && cc.only_if_cached && cc.no_store, "request directives");
    cc = CC("X: y");
    ok(!cc.present, "no Cache-Control");
}

static void test_dates(void)
{
    time_t t;
    ok(http_date_parse(SLICE_LIT("Sun, 06 Nov 1994 08:49:37 GMT"), &t) && t == 784111777, "IMF-fixdate");
    ok(http_date_parse(SLICE_LIT("Sunday, 06-Nov-94 08:49:37 GMT"), &t) && t == 784111777, "RFC 850");
    ok(http_date_parse(SLICE_LIT("Sun Nov  6 08:49:37 1994"), &t) && t == 784111777, "asctime");
    ok(!http_date_parse(SLICE_LIT("0"), &t), "\"0\" is not a date");
    ok(!http_date_parse(SLICE_LIT("Sun, 31 Feb 1994 08:49:37 GMT"), &t), "31 February");
    ok(!http_date_parse(SLICE_LIT("Sun, 06 Nov 1994 25:49:37 GMT"), &t), "hour 25");
    ok(!http_date_parse(SLICE_LIT("sun, 06 nov 1994 08:49:37 gmt"), &t), "HTTP-date is case-sensitive");
    char buf[32];
    http_date_format(784111777, buf);
    is_str(buf, "Sun, 06 Nov 1994 08:49:37 GMT", "formatted back");
}

static void test_age(void)
{
    struct headers h = H("Age: 100");
    is_int(cache_age_value(&h), 100, "Age");
    h = H("Age: 100, 200");
    is_int(cache_age_value(&h), 100, "a list: its first member");
    h = H("Age: 1.5");
    is_int(cache_age_value(&h), -1, "a float is ignored");
    h = H("Age: -5");
    is_int(cache_age_value(&h), -1, "a negative is ignored");
    h = H("X: 1");
    is_int(cache_age_value(&h), -1, "absent");
}

static const struct cache_rules rules = { 0.1, 86400, false, { "CDN-Cache-Control", 17 }, { "Luxy-Cache-Control", 18 } };
static const time_t NOW = 1800000000;

static struct cache_meta decide(unsigned method, const char *req, unsigned status, const char *resp)
{
    struct cache_meta m;
    struct headers rq = H(req), rs = H(resp);
    cache_decide(&m, &rules, method, &rq, status, &rs, NOW);
    return m;
}

static void test_decide(void)
{
    struct cache_meta m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60");
    ok(m.verdict == STORE_OK && m.freshness == 60, "max-age");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60, s-maxage=10");
    ok(m.freshness == 10 && m.must_revalidate, "s-maxage wins in a shared cache, and implies proxy-revalidate");
    m = decide(HTTP_GET, "", 200, "Date: Fri, 15 Jan 2027 08:00:00 GMT\nExpires: Fri, 15 Jan 2027 08:05:00 GMT");
    ok(m.verdict == STORE_OK && m.freshness == 300, "Expires - Date: %lld", (long long)m.freshness);
    m = decide(HTTP_GET, "", 200, "Expires: 0\nETag: \"a\"");
    ok(m.verdict == STORE_OK && m.freshness == 0, "an invalid Expires is already expired");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60\nExpires: 0");
    is_int(m.freshness, 60, "max-age over Expires");
    m = decide(HTTP_GET, "", 200, "Expires: Fri, 15 Jan 2027 08:05:00 GMT\nExpires: Fri, 15 Jan 2027 08:06:00 GMT\nETag: \"x\"");
    is_int(m.freshness, 0, "two Expires: stale");
    m = decide(HTTP_GET, "", 200, "Date: Fri, 15 Jan 2027 08:00:00 GMT\nLast-Modified: Thu, 05 Jan 2027 08:00:00 GMT");
    ok(m.verdict == STORE_OK && m.heuristic && m.freshness == 86400, "heuristic: 10%% of 10 days, capped at 1 day: %lld",
       (long long)m.freshness);
    m = decide(HTTP_GET, "", 200, "Date: Fri, 15 Jan 2027 08:00:00 GMT\nLast-Modified: Fri, 15 Jan 2027 07:00:00 GMT");
    is_int(m.freshness, 360, "heuristic: 10%% of an hour");
    m = decide(HTTP_GET, "", 200, "Content-Type: text/plain");
    is_int(m.verdict, STORE_NO_FRESHNESS, "no freshness, no validator: not stored");
    m = decide(HTTP_GET, "", 200, "ETag: \"v1\"");
    ok(m.verdict == STORE_OK && m.freshness == 0, "a validator alone: stored, revalidated each time");
    m = decide(HTTP_GET, "", 302, "Content-Type: text/plain\nLast-Modified: Fri, 15 Jan 2027 07:00:00 GMT");
    is_int(m.verdict, STORE_NO_FRESHNESS, "302 is not heuristically cacheable");
    m = decide(HTTP_GET, "", 302, "Cache-Control: max-age=5");
    ok(m.verdict == STORE_OK && m.freshness == 5, "302 with explicit freshness");
    m = decide(HTTP_GET, "", 404, "Last-Modified: Fri, 15 Jan 2027 07:00:00 GMT");
    is_int(m.verdict, STORE_NO_FRESHNESS, "an error without explicit freshness is not stored");
    m = decide(HTTP_GET, "", 404, "Cache-Control: max-age=30");
    ok(m.verdict == STORE_OK, "404 with max-age is");
    m = decide(HTTP_GET, "", 206, "Cache-Control: max-age=30");
    is_int(m.verdict, STORE_STATUS, "206 is not stored (ranges come from whole responses)");
    m = decide(HTTP_POST, "", 200, "Cache-Control: max-age=30");
    is_int(m.verdict, STORE_METHOD, "POST");
    m = decide(HTTP_HEAD, "", 200, "Cache-Control: max-age=30");
    is_int(m.verdict, STORE_OK, "HEAD");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=30, no-store");
    is_int(m.verdict, STORE_NO_STORE, "no-store");
    m = decide(HTTP_GET, "Cache-Control: no-store", 200, "Cache-Control: max-age=30");
    is_int(m.verdict, STORE_NO_STORE, "a request's no-store");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=30, PRIVATE");
    is_int(m.verdict, STORE_PRIVATE, "private");
    m = decide(HTTP_GET, "Authorization: Basic eA==", 200, "Cache-Control: max-age=30");
    is_int(m.verdict, STORE_AUTHORIZATION, "Authorization without public/s-maxage/must-revalidate");
    m = decide(HTTP_GET, "Authorization: Basic eA==", 200, "Cache-Control: max-age=30, public");
    is_int(m.verdict, STORE_OK, "Authorization with public");
    m = decide(HTTP_GET, "Authorization: Basic eA==", 200, "Cache-Control: s-maxage=30");
    is_int(m.verdict, STORE_OK, "with s-maxage");
    m = decide(HTTP_GET, "Authorization: Basic eA==", 200, "Cache-Control: max-age=30, must-revalidate");
    is_int(m.verdict, STORE_OK, "with must-revalidate");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=30\nVary: Accept, *");
    is_int(m.verdict, STORE_VARY_STAR, "Vary: *");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=30\nSet-Cookie: a=1");
    is_int(m.verdict, STORE_SET_COOKIE, "Set-Cookie needs a script's permission");
    m = decide(HTTP_GET, "", 200, "Cache-Control: no-cache, max-age=30");
    ok(m.verdict == STORE_OK && m.no_cache, "no-cache: stored, always revalidated");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=0");
    is_int(m.verdict, STORE_NO_FRESHNESS, "max-age=0 without validator or stale use: pointless");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=0, stale-while-revalidate=30");
    ok(m.verdict == STORE_OK && m.swr == 30, "max-age=0 with stale-while-revalidate is useful");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60, max-age=30\nETag: \"e\"");
    ok(m.verdict == STORE_OK && m.freshness == 0, "conflicting max-age: stored but stale");
    m = decide(HTTP_GET, "", 200, "Cache-Control: no-store\nCDN-Cache-Control: max-age=90");
    ok(m.verdict == STORE_OK && m.freshness == 90, "CDN-Cache-Control overrides Cache-Control (RFC 9213)");
    m = decide(HTTP_GET, "", 200, "CDN-Cache-Control: max-age=90\nLuxy-Cache-Control: max-age=7");
    is_int(m.freshness, 7, "luxy's own targeted field comes first");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=10\nCDN-Cache-Control: max-age=x");
    is_int(m.freshness, 10, "an invalid targeted field is ignored");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=10\nAge: 3");
    is_int(m.age, 3, "Age kept for the age calculation");
}

static void test_ages_and_use(void)
{
    struct cache_meta m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60\nDate: Fri, 15 Jan 2027 08:00:00 GMT\nAge: 10");
    time_t date = m.date;
    is_int(cache_initial_age(&m, (double)date + 2, (double)date + 5), 13, "corrected: Age 10 + 3 s of delay");
    m.age = -1;
    is_int(cache_initial_age(&m, (double)date + 20, (double)date + 20), 19, "apparent age: 20 s after its Date's second");
    is_int((int64_t)cache_initial_age(&m, (double)date + 0.4, (double)date + 0.9), 0,
           "a response within the second of its Date is not a second old");
    struct cache_request cr;
    struct headers rq = H("");
    cache_request_parse(&cr, &rq);
    is_int(cache_usable(&m, &cr, 59, 0), USE_FRESH, "fresh at 59 s");
    is_int(cache_usable(&m, &cr, 60, 0), USE_REVALIDATE, "stale at 60 s");
    rq = H("Cache-Control: max-age=10");
    cache_request_parse(&cr, &rq);
    is_int(cache_usable(&m, &cr, 20, 0), USE_REVALIDATE, "a request's max-age");
    rq = H("Cache-Control: min-fresh=30");
    cache_request_parse(&cr, &rq);
    is_int(cache_usable(&m, &cr, 40, 0), USE_REVALIDATE, "min-fresh");
    rq = H("Cache-Control: max-stale=100");
    cache_request_parse(&cr, &rq);
    is_int(cache_usable(&m, &cr, 120, 0), USE_FRESH, "max-stale lets a client take it stale");
    rq = H("Pragma: no-cache");
    cache_request_parse(&cr, &rq);
    is_int(cache_usable(&m, &cr, 1, 0), USE_REVALIDATE, "Pragma: no-cache without Cache-Control");
    rq = H("Pragma: no-cache\nCache-Control: max-stale");
    cache_request_parse(&cr, &rq);
    ok(!cr.no_cache, "Pragma is ignored when Cache-Control is there");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60, stale-while-revalidate=30, stale-if-error=100");
    rq = H("");
    cache_request_parse(&cr, &rq);
    is_int(cache_usable(&m, &cr, 70, 0), USE_STALE_REVALIDATE, "within stale-while-revalidate");
    is_int(cache_usable(&m, &cr, 95, 0), USE_REVALIDATE, "past it");
    ok(cache_stale_if_error_ok(&m, 150, 0) && !cache_stale_if_error_ok(&m, 170, 0), "stale-if-error window");
    ok(cache_stale_if_error_ok(&m, 170, 200), "or the configured grace");
    m = decide(HTTP_GET, "", 200, "Cache-Control: max-age=60, must-revalidate, stale-while-revalidate=30");
    is_int(cache_usable(&m, &cr, 70, 0), USE_REVALIDATE, "must-revalidate forbids stale use");
    ok(!cache_stale_if_error_ok(&m, 61, 1000), "even on errors");
}

static void test_conditional(void)
{
    struct headers stored = H("ETag: W/\"v1\"\nLast-Modified: Fri, 15 Jan 2027 08:00:00 GMT");
    struct headers rq = H("If-None-Match: \"v0\", \"v1\"");
    ok(cache_not_modified(&rq, &stored), "If-None-Match, weak comparison");
    rq = H("If-None-Match: \"v2\"\nIf-Modified-Since: Sat, 16 Jan 2027 08:00:00 GMT");
    ok(!cache_not_modified(&rq, &stored), "If-None-Match decides; If-Modified-Since is ignored");
    rq = H("If-None-Match: *");
    ok(cache_not_modified(&rq, &stored), "*");
    rq = H("If-Modified-Since: Sat, 16 Jan 2027 08:00:00 GMT");
    ok(cache_not_modified(&rq, &stored), "not modified since");
    rq = H("If-Modified-Since: Thu, 14 Jan 2027 08:00:00 GMT");
    ok(!cache_not_modified(&rq, &stored), "modified since");
    rq = H("If-Modified-Since: yesterday");
    ok(!cache_not_modified(&rq, &stored), "an invalid date is ignored");
}

static void test_vary(void)
{
    char out[256];
    struct headers rs = H("Vary: Accept-Encoding,  accept-language\nVary: ACCEPT-encoding , X-Tenant");
    is_int(cache_vary_names(&rs, out, sizeof(out)), (int)strlen("accept-encoding\naccept-language\nx-tenant\n"), "names");
    is_str(out, "accept-encoding\naccept-language\nx-tenant\n", "lower-cased, duplicates once, in order");
    rs = H("Vary: *");
    is_int(cache_vary_names(&rs, out, sizeof(out)), -1, "Vary: * never matches");
    struct headers rq = H("Accept-Encoding: gzip ,  br\nAccept-Encoding: zstd");
    cache_vary_value(&rq, SLICE_LIT("accept-encoding"), out, sizeof(out));
    is_str(out, "gzip,br,zstd", "every field line, combined, spaces around commas gone");
    rq = H("Accept-Encoding: gzip,br,zstd");
    char other[256];
    cache_vary_value(&rq, SLICE_LIT("accept-encoding"), other, sizeof(other));
    is_str(other, out, "one line or two: the same variant");
    rq = H("X: 1");
    cache_vary_value(&rq, SLICE_LIT("accept-encoding"), out, sizeof(out));
    is_str(out, "\x01", "absent is its own value");
    rq = H("Accept-Encoding:");
    cache_vary_value(&rq, SLICE_LIT("accept-encoding"), out, sizeof(out));
    is_str(out, "", "and empty is another");
}

int main(void)
{
    arena_init(&a);
    test_directives();
    test_dates();
    test_age();
    test_decide();
    test_ages_and_use();
    test_conditional();
    test_vary();
    arena_free(&a);
    return tap_done("cachectl");
}
