/* test_sim_trace.c - the simulator's access-log reader: lines that luxy's
 * own formatter wrote (json, luxy, combined) read back into the same
 * request; escapes decoded (JSON's, surrogate pairs, nginx's \xHH); lines
 * that are no request (tunnels, unreadable heads, garbage, cut lines)
 * refused; and a file read whole: ordered by start, a combined second's
 * requests spread over it, long lines skipped. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../core/access_log.h"
#include "../../core/sim_trace.h"
#include "tap.h"

static char line[ACCESS_LINE_MAX + 1], buf[ACCESS_LINE_MAX + 2];

static int parse(const char *s, struct sim_trace_rec *r)
{
    return sim_trace_parse(s, strlen(s), buf, r);
}

static struct access_entry known(void)
{
    struct access_entry e = {
        .time_ms = 1796126400123, /* 2026-12-01T12:00:00.123Z */
        .client = SLICE_LIT("10.1.2.3"),
        .method = SLICE_LIT("GET"),
        .target = SLICE_LIT("/x?a=1"),
        .major = 1, .minor = 1,
        .status = 200, .bytes_sent = 1234,
        .duration = 0.0031, .connect_time = 0.0004, .ttfb = 0.0026,
        .upstream = SLICE_LIT("app"), .backend = SLICE_LIT("10.0.0.1:8080"),
        .listener = SLICE_LIT("0.0.0.0:8080"),
        .user_agent = SLICE_LIT("curl/8.0 \"quoted\" \xc3\xa9"),
        .referer = SLICE_LIT("https://example.com/"),
    };
    return e;
}

static void test_round_trip(void)
{
    struct access_entry e = known();
    for (int f = 0; f < ACCESS_FORMATS; f++) {
        size_t n = access_format_line((enum access_format)f, &e, line);
        struct sim_trace_rec r;
        is_int(sim_trace_parse(line, n - 1, buf, &r), 0, access_format_names[f]);
        is_str(r.method, "GET", "method");
        is_str(r.target, "/x?a=1", "target");
        is_str(r.client, "10.1.2.3", "client");
        is_int(r.status, 200, "status");
        is_int(r.bytes, 1234, "bytes");
        if (f == ACCESS_COMBINED) {
            ok(r.time == 1796126400.0, "combined time to the second: %f", r.time);
            is_str(r.user_agent, "curl/8.0 \"quoted\" \xc3\xa9", "combined User-Agent (\\xHH decoded)");
            is_str(r.referer, "https://example.com/", "combined Referer");
        } else {
            ok(fabs(r.time - 1796126400.123) < 1e-6, "%s time: %f", access_format_names[f], r.time);
            ok(fabs(r.duration - 0.0031) < 0.0006, "%s duration: %f", access_format_names[f], r.duration);
        }
        if (f == ACCESS_JSON) {
            is_str(r.user_agent, "curl/8.0 \"quoted\" \xc3\xa9", "json User-Agent");
            is_str(r.listener, "0.0.0.0:8080", "json listener");
        }
    }
    /* a target with a quote, a backslash and a control byte, escaped by each writer */
    e.target = SLICE_LIT("/a\"b\\c\x01");
    for (int f = 0; f < ACCESS_FORMATS; f++) {
        size_t n = access_format_line((enum access_format)f, &e, line);
        struct sim_trace_rec r;
        is_int(sim_trace_parse(line, n - 1, buf, &r), 0, "escaped target");
        is_str(r.target, "/a\"b\\c\x01", access_format_names[f]);
    }
}

static void test_lines(void)
{
    struct sim_trace_rec r;
    is_int(parse("{\"time\":\"2026-12-02T02:43:17.5Z\",\"method\":\"GET\",\"target\":\"/\\u00e9\\ud83d\\ude00\","
                 "\"status\":null,\"duration\":0.25,\"extra\":[1,{\"a\":[true,false,null]},-2.5e3]}",
                 &r),
           0, "json: keys in any order, unknown keys of every kind");
    is_str(r.target, "/\xc3\xa9\xf0\x9f\x98\x80", "json \\u escapes and a surrogate pair as UTF-8");
    ok(fabs(r.time - (1796179397.5)) < 1e-6, "json time %f", r.time);
    ok(r.duration == 0.25, "duration");
    is_int(parse("{\"time\":\"2026-12-02T02:43:17.5+01:00\",\"method\":\"GET\",\"target\":\"/\"}", &r), 0, "offset");
    ok(fabs(r.time - (1796179397.5 - 3600)) < 1e-6, "a +01:00 time is an hour earlier in UTC: %f", r.time);
    is_int(parse("{\"time\":\"2026-12-02T02:43:17Z\",\"method\":\"CONNECT\",\"target\":\"h:443\","
                 "\"tunnel\":{\"bytes_up\":1,\"bytes_down\":2,\"end\":\"eof\"}}",
                 &r),
           -1, "a tunnel's line is no request");
    is_int(parse("{\"time\":\"2026-12-02T02:43:17Z\",\"method\":null,\"target\":\"GARBAGE\"}", &r), -1,
           "an unreadable head is no request");
    is_int(parse("{\"time\":\"2026-12-02T02:43:17Z\",\"method\":\"GET\",\"target\":\"/\\u0000\"}", &r), -1,
           "a NUL in a string");
    is_int(parse("{\"time\":\"2026-12-02T02:43:17Z\",\"method\":\"GET\",\"target\":\"/\\ud83d\"}", &r), -1,
           "a lone surrogate");
    is_int(parse("{\"time\":\"2026-12-02T02:43:17Z\",\"method\":\"GET\",\"target\":\"/\"", &r), -1, "cut json");
    is_int(parse("{\"time\":\"2026-13-02T02:43:17Z\",\"method\":\"GET\",\"target\":\"/\"}", &r), -1, "month 13");
    is_int(parse("{\"time\":\"2026-12-02T02:43:17Z\",\"method\":\"GET\",\"target\":\"/\"} x", &r), -1,
           "bytes after the object");
    is_int(parse("127.0.0.1 - bob [02/Dec/2026:02:43:17 -0130] \"POST /f HTTP/1.0\" 503 - \"-\" \"-\"", &r), 0,
           "combined");
    is_str(r.method, "POST", "combined method");
    is_int(r.bytes, 0, "'-' bytes");
    ok(r.user_agent == NULL && r.referer == NULL, "'-' fields are absent");
    ok(r.time == 1796179397.0 + 5400, "-0130 is later in UTC: %f", r.time);
    is_int(parse("127.0.0.1 - - [02/Dec/2026:02:43:17 +0000] \"GET /\" 200 1", &r), -1, "no version");
    is_int(parse("127.0.0.1 - - [02/Dec/2026:02:43:17 +0000] \"-\" 400 0 \"-\" \"-\"", &r), -1, "no request");
    is_int(parse("127.0.0.1 - - [02/Foo/2026:02:43:17 +0000] \"GET / HTTP/1.1\" 200 1", &r), -1, "a bad month");
    is_int(parse("127.0.0.1 - - [02/Dec/2026:02:43:17 +0000] \"GET / HTTP/1.1\" 200 1", &r), 0,
           "combined without Referer and User-Agent");
    is_int(parse("2026-12-02T02:43:17.107Z ::1 \"GET /c HTTP/1.1\" 200 12 upstream=app error=\"a b\" 0.020s ttfb=0.010s",
                 &r),
           0, "luxy");
    ok(r.duration == 0.020, "luxy duration %f", r.duration);
    is_str(r.client, "::1", "luxy client");
    is_int(parse("2026-12-02T02:43:17.107Z ::1 \"CONNECT h:443 HTTP/1.1\" 200 0 upstream=- tunnel up=1 down=2 0.250s",
                 &r),
           -1, "a luxy tunnel line");
    is_int(parse("", &r), -1, "empty");
    is_int(parse("   ", &r), -1, "blank");
    is_int(parse("2026-12-02T", &r), -1, "a cut time");
    is_int(sim_days_from_civil(1970, 1, 1), 0, "the epoch");
    is_int(sim_days_from_civil(2000, 3, 1), 11017, "2000-03-01");
}

static void test_file(void)
{
    char path[] = "/tmp/luxy-sim-trace-XXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0, "temp file");
    FILE *f = fdopen(fd, "w");
    /* ended at 10.5 after 0.5 s: began at 10.0; ended at 10.2 after 0.1: began 10.1 */
    fprintf(f, "{\"time\":\"2026-12-02T00:00:10.500Z\",\"method\":\"GET\",\"target\":\"/slow\",\"duration\":0.5}\n");
    fprintf(f, "{\"time\":\"2026-12-02T00:00:10.200Z\",\"method\":\"GET\",\"target\":\"/fast\",\"duration\":0.1}\n");
    fprintf(f, "not a log line\n");
    for (int i = 0; i < 20000; i++)
        fputc('x', f);
    fputc('\n', f);
    for (int i = 0; i < 4; i++)
        fprintf(f, "10.0.0.%d - - [02/Dec/2026:00:00:11 +0000] \"GET /c%d HTTP/1.1\" 200 5 \"-\" \"ua\"\n", i, i);
    fprintf(f, "{\"time\":\"2026-12-02T00:00:12.000Z\",\"method\":\"GET\",\"target\":\"/last\",\"duration\":0}");
    fclose(f);
    struct sim_trace t;
    char err[256];
    is_int(sim_trace_load(&t, path, err, sizeof(err)), 0, "load");
    unlink(path);
    is_int(t.n, 7, "requests");
    is_int(t.lines, 9, "lines (the last without a newline counts)");
    is_int(t.skipped, 2, "skipped: garbage and a line too long");
    double day = 1796169600; /* 2026-12-02T00:00:00Z */
    is_str(t.recs[0].target, "/slow", "ordered by start: the one that began first");
    ok(fabs(t.recs[0].start - (day + 10.0)) < 1e-6, "start = time - duration: %f", t.recs[0].start - day);
    is_str(t.recs[1].target, "/fast", "then");
    static const char *const seconds[] = { "/c0", "/c1", "/c2", "/c3" };
    for (int i = 0; i < 4; i++) {
        is_str(t.recs[2 + i].target, seconds[i], "a second's lines in order");
        ok(fabs(t.recs[2 + i].start - (day + 11 + (i + 0.5) / 4)) < 1e-9, "spread over their second: %f",
           t.recs[2 + i].start - day);
    }
    ok(t.recs[2].user_agent == t.recs[3].user_agent, "equal strings are kept once");
    is_str(t.recs[6].target, "/last", "a whole-second json line with duration 0 is spread alone (stays put)");
    sim_trace_free(&t);
    is_int(sim_trace_load(&t, "/nonexistent/trace", err, sizeof(err)), -1, "a missing file");
    ok(strstr(err, "/nonexistent/trace") != NULL, "names it: %s", err);
}

int main(void)
{
    test_round_trip();
    test_lines();
    test_file();
    return tap_done("sim_trace");
}
