/* test_access_log.c - the access-log formats line by line: a known entry in
 * each format, nginx's escaping (combined, luxy), JSON's (every string
 * valid UTF-8, invalid bytes as \ufffd), bounded lines whatever the input,
 * and request ids (made: unique hex; taken: only sane tokens). */
#include <stdlib.h>

#include "../../core/access_log.h"
#include "../../core/request_id.h"
#include "tap.h"

static char line[ACCESS_LINE_MAX + 1];

static const char *fmt(enum access_format f, const struct access_entry *e)
{
    size_t n = access_format_line(f, e, line);
    line[n] = '\0';
    return line;
}

static struct access_entry known(void)
{
    struct access_entry e = {
        .time_ms = 1796126400123, /* 2026-12-01T12:00:00.123Z */
        .client = SLICE_LIT("10.1.2.3"),
        .method = SLICE_LIT("GET"),
        .target = SLICE_LIT("/x?a=1"),
        .major = 1, .minor = 1,
        .status = 200, .bytes_sent = 1234, .request_bytes = 7,
        .duration = 0.0031, .connect_time = 0.0004, .ttfb = 0.0026,
        .upstream = SLICE_LIT("app"), .backend = SLICE_LIT("10.0.0.1:8080"),
        .request_id = SLICE_LIT("0123456789abcdef0123456789abcdef"),
        .listener = SLICE_LIT("0.0.0.0:8080"),
        .user_agent = SLICE_LIT("curl/8.0"),
        .referer = SLICE_NULL,
    };
    return e;
}

static void test_known_entry(void)
{
    struct access_entry e = known();
    is_str(fmt(ACCESS_LUXY, &e),
           "2026-12-01T12:00:00.123Z 10.1.2.3 \"GET /x?a=1 HTTP/1.1\" 200 1234 upstream=app backend=10.0.0.1:8080 "
           "0.003s connect_time=0.000s ttfb=0.003s request_id=0123456789abcdef0123456789abcdef\n",
           "luxy");
    is_str(fmt(ACCESS_COMBINED, &e),
           "10.1.2.3 - - [01/Dec/2026:12:00:00 +0000] \"GET /x?a=1 HTTP/1.1\" 200 1234 \"-\" \"curl/8.0\"\n",
           "combined");
    is_str(fmt(ACCESS_JSON, &e),
           "{\"time\":\"2026-12-01T12:00:00.123Z\",\"client\":\"10.1.2.3\",\"user\":null,\"method\":\"GET\","
           "\"target\":\"/x?a=1\",\"version\":\"1.1\",\"status\":200,\"bytes_sent\":1234,\"request_bytes\":7,"
           "\"duration\":0.003100,\"connect_time\":0.000400,\"ttfb\":0.002600,\"upstream\":\"app\","
           "\"backend\":\"10.0.0.1:8080\",\"retries\":0,\"cache\":null,"
           "\"request_id\":\"0123456789abcdef0123456789abcdef\",\"error\":null,\"listener\":\"0.0.0.0:8080\","
           "\"user_agent\":\"curl/8.0\",\"referer\":null}\n",
           "json");

    /* the optional items of the luxy line, in their order */
    e.retries = 2;
    e.user = SLICE_LIT("alice");
    e.error = SLICE_LIT("the backend closed the connection");
    e.cache = SLICE_LIT("MISS");
    e.connect_time = e.ttfb = -1;
    is_str(fmt(ACCESS_LUXY, &e),
           "2026-12-01T12:00:00.123Z 10.1.2.3 \"GET /x?a=1 HTTP/1.1\" 200 1234 upstream=app backend=10.0.0.1:8080 "
           "0.003s retries=2 user=alice error=\"the backend closed the connection\" cache=MISS "
           "request_id=0123456789abcdef0123456789abcdef\n",
           "luxy, every optional item");
    is_str(fmt(ACCESS_COMBINED, &e),
           "10.1.2.3 - alice [01/Dec/2026:12:00:00 +0000] \"GET /x?a=1 HTTP/1.1\" 200 1234 \"-\" \"curl/8.0\"\n",
           "combined with a user");
    ok(strstr(fmt(ACCESS_JSON, &e), "\"connect_time\":null,\"ttfb\":null") != NULL, "json: no exchange: %s", line);
    ok(strstr(line, "\"user\":\"alice\"") && strstr(line, "\"retries\":2") && strstr(line, "\"cache\":\"MISS\""),
       "json: user, retries, cache: %s", line);

    /* nothing of the luxy line as it was changes for a local answer */
    struct access_entry l = known();
    l.upstream = l.backend = l.request_id = SLICE_NULL;
    l.connect_time = l.ttfb = -1;
    is_str(fmt(ACCESS_LUXY, &l),
           "2026-12-01T12:00:00.123Z 10.1.2.3 \"GET /x?a=1 HTTP/1.1\" 200 1234 upstream=- backend=- 0.003s\n",
           "luxy: a local answer, no id");
}

static void test_unread_heads(void)
{
    struct access_entry e = known();
    e.method = SLICE_NULL;
    e.target = SLICE_LIT("GET /a\"b\x01\xff HTTP/1.1");
    e.status = 400;
    e.error = SLICE_LIT("control character in request target");
    ok(strstr(fmt(ACCESS_LUXY, &e), "\"GET /a?b?? HTTP/1.1\" 400") != NULL, "luxy: unprintable as '?': %s", line);
    ok(strstr(fmt(ACCESS_COMBINED, &e), "\"GET /a\\x22b\\x01\\xFF HTTP/1.1\" 400") != NULL,
       "combined: nginx escapes: %s", line);
    ok(strstr(fmt(ACCESS_JSON, &e), "\"method\":null,\"target\":\"GET /a\\\"b\\u0001\\ufffd HTTP/1.1\","
                                    "\"version\":null") != NULL,
       "json: raw line, no method or version: %s", line);
    e.target = SLICE_NULL;
    ok(strstr(fmt(ACCESS_LUXY, &e), " \"-\" 400 ") != NULL, "luxy: nothing arrived: %s", line);
    ok(strstr(fmt(ACCESS_COMBINED, &e), " \"-\" 400 ") != NULL, "combined: nothing arrived: %s", line);
    ok(strstr(fmt(ACCESS_JSON, &e), "\"target\":null") != NULL, "json: nothing arrived: %s", line);
}

static void test_escaping(void)
{
    struct access_entry e = known();
    e.user_agent = SLICE_LIT("a\"b\\c\td\x7f" "e\xc3\xa9" "f\xe2\x82\xac" "g\xf0\x9f\x98\x80" "h");
    e.referer = SLICE_LIT("");
    ok(strstr(fmt(ACCESS_COMBINED, &e), "\"\" \"a\\x22b\\x5Cc\\x09d\\x7Fe\\xC3\\xA9f\\xE2\\x82\\xACg\\xF0\\x9F\\x98\\x80h\"\n")
           != NULL,
       "combined: quotes, backslash, controls, bytes >= 0x7f as \\xHH; empty referer stays empty: %s", line);
    ok(strstr(fmt(ACCESS_JSON, &e), "\"user_agent\":\"a\\\"b\\\\c\\td\\u007fe\xc3\xa9" "f\xe2\x82\xac" "g\xf0\x9f\x98\x80"
                                    "h\",\"referer\":\"\"}") != NULL,
       "json: valid UTF-8 kept, quotes/backslash/controls escaped: %s", line);

    /* every kind of invalid UTF-8: each bad byte is one U+FFFD */
    static const struct { const char *in; size_t len; const char *out; } bad[] = {
        { "\x80", 1, "\\ufffd" },                    /* lone continuation */
        { "\xc0\x80", 2, "\\ufffd\\ufffd" },          /* overlong NUL */
        { "\xc1\xbf", 2, "\\ufffd\\ufffd" },          /* overlong */
        { "\xe0\x80\xaf", 3, "\\ufffd\\ufffd\\ufffd" }, /* overlong 3-byte */
        { "\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd" }, /* a surrogate */
        { "\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd" }, /* past U+10FFFF */
        { "\xf5\x80", 2, "\\ufffd\\ufffd" },
        { "\xe2\x82", 2, "\\ufffd\\ufffd" },          /* cut short */
        { "\xe2\x82z", 3, "\\ufffd\\ufffdz" },
        { "\xff\xfe", 2, "\\ufffd\\ufffd" },
        { "\xef\xbf\xbd", 3, "\xef\xbf\xbd" },        /* U+FFFD itself is valid */
        { "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf" }, /* U+10FFFF */
    };
    for (size_t i = 0; i < countof(bad); i++) {
        e.user_agent = slice_make(bad[i].in, bad[i].len);
        char want[64];
        snprintf(want, sizeof(want), "\"user_agent\":\"%s\",", bad[i].out);
        ok(strstr(fmt(ACCESS_JSON, &e), want) != NULL, "json: invalid UTF-8 case %zu: %s", i, line);
    }

    /* a key=value item of the luxy line is one word */
    e = known();
    e.user = SLICE_LIT("a b\"c");
    ok(strstr(fmt(ACCESS_LUXY, &e), " user=a\\x20b\\x22c ") != NULL, "luxy: user escaped: %s", line);
    ok(strstr(fmt(ACCESS_COMBINED, &e), " - a\\x20b\\x22c [") != NULL, "combined: user escaped: %s", line);
}

static bool valid_utf8_no_controls(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 && !(p[i] == '\n' && i == n - 1))
            return false;
    return true;
}

static void test_bounds(void)
{
    size_t big = 1 << 20;
    char *junk = malloc(big);
    for (size_t i = 0; i < big; i++)
        junk[i] = (char)(i % 3 == 0 ? '"' : i % 3 == 1 ? '\xff' : '\x01');
    struct access_entry e = known();
    e.target = e.user_agent = e.referer = e.user = e.error = slice_make(junk, big);
    for (int f = 0; f < ACCESS_FORMATS; f++) {
        size_t n = access_format_line((enum access_format)f, &e, line);
        ok(n <= ACCESS_LINE_MAX && line[n - 1] == '\n', "%s: bounded (%zu bytes) and whole",
           access_format_names[f], n);
        ok(valid_utf8_no_controls(line, n), "%s: no raw control byte", access_format_names[f]);
        ok(memchr(line, '\n', n - 1) == NULL, "%s: one line", access_format_names[f]);
    }
    size_t n = access_format_line(ACCESS_JSON, &e, line);
    ok(n > 2 && line[n - 2] == '}', "json: the object is closed when fields are cut");
    free(junk);
}

static void test_copy(void)
{
    struct access_entry e = known();
    e.referer = SLICE_NULL;
    e.tunnel = true;
    e.tunnel_up = 5, e.tunnel_down = 9;
    e.tunnel_end = SLICE_LIT("idle timeout");
    struct access_entry *c = access_entry_copy(&e);
    ok(c->client.ptr != e.client.ptr && slice_eq(c->client, "10.1.2.3", 8), "copied strings");
    ok(c->referer.ptr == NULL && c->user_agent.ptr != NULL, "absent stays absent");
    is_str(fmt(ACCESS_LUXY, c),
           "2026-12-01T12:00:00.123Z 10.1.2.3 \"GET /x?a=1 HTTP/1.1\" 200 9 upstream=- tunnel up=5 down=9 0.003s "
           "end=idle\\x20timeout request_id=0123456789abcdef0123456789abcdef\n",
           "luxy tunnel line");
    ok(strstr(fmt(ACCESS_JSON, c), ",\"tunnel\":{\"bytes_up\":5,\"bytes_down\":9,\"end\":\"idle timeout\"}}\n") != NULL,
       "json tunnel: %s", line);
    free(c);
}

static int by_bytes(const void *a, const void *b)
{
    return memcmp(a, b, REQUEST_ID_LEN);
}

static void test_request_ids(void)
{
    enum { N = 20000 };
    char (*ids)[REQUEST_ID_LEN] = malloc(sizeof(*ids) * N);
    bool hex = true;
    for (int i = 0; i < N; i++) {
        request_id_make(ids[i]);
        for (int k = 0; k < REQUEST_ID_LEN; k++)
            hex = hex && ((ids[i][k] >= '0' && ids[i][k] <= '9') || (ids[i][k] >= 'a' && ids[i][k] <= 'f'));
    }
    ok(hex, "ids are lower-case hex");
    /* every digit equally likely in every position: 20000 ids give each
     * (position, digit) pair 1250 draws on average; a broken conversion
     * (a digit never made, a position stuck) is far outside 900..1600 */
    int count[REQUEST_ID_LEN][16] = { { 0 } };
    for (int i = 0; i < N; i++)
        for (int k = 0; k < REQUEST_ID_LEN; k++) {
            char d = ids[i][k];
            count[k][d <= '9' ? d - '0' : d - 'a' + 10]++;
        }
    int lo = N, hi = 0;
    for (int k = 0; k < REQUEST_ID_LEN; k++)
        for (int d = 0; d < 16; d++)
            lo = count[k][d] < lo ? count[k][d] : lo, hi = count[k][d] > hi ? count[k][d] : hi;
    ok(lo > 900 && hi < 1600, "digits are uniform in every position (%d..%d of 1250 expected)", lo, hi);
    int same = 0;
    qsort(ids, N, REQUEST_ID_LEN, by_bytes);
    for (int i = 1; i < N; i++)
        same += memcmp(ids[i - 1], ids[i], REQUEST_ID_LEN) == 0;
    is_int(same, 0, "no two ids alike");
    ok(request_id_valid(slice_make(ids[0], REQUEST_ID_LEN)), "a made id is valid");
    free(ids);

    ok(request_id_valid(SLICE_LIT("f47ac10b-58cc-4372-a567-0e02b2c3d479")), "a UUID");
    ok(request_id_valid(SLICE_LIT("Root=1-5759e988-bd862e3fe1be46a994272793")), "a trace id");
    ok(request_id_valid(SLICE_LIT("YWJj+/=")), "base64");
    ok(!request_id_valid(SLICE_LIT("")), "empty");
    ok(!request_id_valid(SLICE_LIT("a b")), "a space");
    ok(!request_id_valid(SLICE_LIT("a\"b")), "a quote");
    ok(!request_id_valid(SLICE_LIT("a,b")), "a comma");
    ok(!request_id_valid(SLICE_LIT("a\x01")), "a control byte");
    ok(!request_id_valid(SLICE_LIT("\xc3\xa9")), "not ASCII");
    char long_id[REQUEST_ID_MAX + 1];
    memset(long_id, 'a', sizeof(long_id));
    ok(request_id_valid(slice_make(long_id, REQUEST_ID_MAX)), "the longest");
    ok(!request_id_valid(slice_make(long_id, REQUEST_ID_MAX + 1)), "too long");
}

int main(void)
{
    test_known_entry();
    test_unread_heads();
    test_escaping();
    test_bounds();
    test_copy();
    test_request_ids();
    return tap_done("access_log");
}
