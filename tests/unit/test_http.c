/* test_http.c - the head scanner, request/response parsing, framing
 * decisions and target splitting. */
#include <stdio.h>
#include <string.h>

#include "../../core/http.h"
#include "tap.h"

static const struct http_limits lim = { 1024, 128, 10 };

/* Scans s in one go; returns the result, fills status/head_len. */
static enum http_scan_result scan(const char *s, size_t *head_len, int *status)
{
    struct http_scan sc = { 0 };
    const char *err = NULL;
    *status = 0;
    return http_scan(&sc, s, strlen(s), &lim, head_len, status, &err);
}

/* Feeds s one byte at a time, as a slowloris client would. */
static enum http_scan_result scan_bytewise(const char *s, size_t *head_len, int *status)
{
    struct http_scan sc = { 0 };
    const char *err = NULL;
    enum http_scan_result r = SCAN_MORE;
    for (size_t n = 1; n <= strlen(s) && r == SCAN_MORE; n++)
        r = http_scan(&sc, s, n, &lim, head_len, status, &err);
    return r;
}

static void test_scan(void)
{
    size_t len;
    int st;
    is_int(scan("POST / HTTP/1.1\r\nContent-Length:5\r\nTransfer-Encoding: chunked\r\n\r\n", &len, &st),
           SCAN_DONE, "framing fields with and without a space pass the scanner");
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
    is_int(scan(ok, &len, &st), SCAN_DONE, "complete head");
    is_int(len, strlen(ok) - 4, "head length stops at the blank line");
    is_int(scan_bytewise(ok, &len, &st), SCAN_DONE, "byte by byte");
    is_int(len, strlen(ok) - 4, "byte by byte length");
    is_int(scan("GET / HTTP/1.1\r\nHost: a\r\n", &len, &st), SCAN_MORE, "incomplete head");
    is_int(scan("GET / HTTP/1.1\r", &len, &st), SCAN_MORE, "CR at the end waits");

    struct { const char *head; int status; const char *what; } bad[] = {
        { "GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF" },
        { "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, "bare CR" },
        { "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "space before colon" },
        { "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400, "obs-fold" },
        { "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, "control character" },
        { "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "no colon" },
        { "GET / HTTP/1.1\r\n: empty\r\n\r\n", 400, "empty name" },
        { "GET / HTTP/1.1\r\nX\x7f: a\r\n\r\n", 400, "DEL in name" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding:  chunked\r\n\r\n", 400, "TE two spaces" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding:\tchunked\r\n\r\n", 400, "TE tab" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: chunked \r\n\r\n", 400, "TE trailing space" },
        { "POST / HTTP/1.1\r\ntransfer-encoding:\r\n\r\n", 400, "TE empty" },
        { "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "CL plus" },
        { "POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n", 400, "CL hex" },
        { "POST / HTTP/1.1\r\nContent-Length:  5\r\n\r\n", 400, "CL two spaces" },
        { "POST / HTTP/1.1\r\nContent-Length: 5 \r\n\r\n", 400, "CL trailing space" },
    };
    for (size_t i = 0; i < countof(bad); i++) {
        is_int(scan(bad[i].head, &len, &st), SCAN_BAD, bad[i].what);
        is_int(st, bad[i].status, bad[i].what);
    }
    {
        struct http_scan sc = { 0 };
        const char *err;
        const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
        is_int(http_scan(&sc, nul, sizeof(nul) - 1, &lim, &len, &st, &err), SCAN_BAD, "NUL");
    }
    const char *status_lines[] = { "HTTX/1.1 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
                                   "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n" };
    for (size_t i = 0; i < countof(status_lines); i++) {
        struct http_scan sc = { .response = true };
        const char *err;
        ok(http_scan(&sc, status_lines[i], strlen(status_lines[i]), &lim, &len, &st, &err) == SCAN_BAD,
           "bad status line %zu", i);
    }
    {
        struct http_scan sc = { .response = true };
        const char *err, *good = "HTTP/1.1 200\r\n\r\n";
        ok(http_scan(&sc, good, strlen(good), &lim, &len, &st, &err) == SCAN_DONE, "status without reason");
    }
    const char *request_lines[] = { "GET / HTXP/1.1\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n",
                                    "GET / HTTP/1.1 \r\n\r\n", "GET /\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
                                    "GET /\ta HTTP/1.1\r\n\r\n" };
    for (size_t i = 0; i < countof(request_lines); i++) {
        is_int(scan(request_lines[i], &len, &st), SCAN_BAD, request_lines[i]);
        is_int(st, 400, "malformed request line is 400");
    }
    char line[300];
    snprintf(line, sizeof(line), "GET /%0200d HTTP/1.1\r\n\r\n", 0);
    is_int(scan(line, &len, &st), SCAN_BAD, "long request line");
    is_int(st, 414, "long request line is 414");
    char big[2000];
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX: %01200d\r\n\r\n", 0);
    is_int(scan(big, &len, &st), SCAN_BAD, "huge header");
    is_int(st, 431, "huge header is 431");
    char many[600] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 12; i++)
        strcat(many, "X-A: b\r\n");
    strcat(many, "\r\n");
    is_int(scan(many, &len, &st), SCAN_BAD, "too many fields");
    is_int(st, 431, "too many fields is 431");
}

static int parse_req(const char *s, struct http_head *h, struct arena *a, http_parser *p);

/* ---- the fast scanner against the byte path ---- */

struct verdict {
    enum http_scan_result r;
    size_t len;
    int status;
    const char *err;
};

/* Scans p[0..n) in calls of step bytes (0: one call) with fn. */
static struct verdict scan_with(bool fast, const char *p, size_t n, const struct http_limits *l, bool response,
                                size_t step)
{
    struct http_scan sc = { .response = response };
    struct verdict v = { SCAN_MORE, 0, 0, NULL };
    size_t upto = step ? 0 : n;
    do {
        upto = step && upto + step < n ? upto + step : n;
        v.r = fast ? http_scan(&sc, p, upto, l, &v.len, &v.status, &v.err)
                   : http_scan_bytewise(&sc, p, upto, l, &v.len, &v.status, &v.err);
    } while (v.r == SCAN_MORE && upto < n);
    return v;
}

static bool same_verdict(struct verdict a, struct verdict b)
{
    return a.r == b.r && (a.r != SCAN_DONE || a.len == b.len) &&
           (a.r != SCAN_BAD || (a.status == b.status && strcmp(a.err, b.err) == 0));
}

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

static void test_scan_differential(void)
{
    static const char *const seeds[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /p?q HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\tx\r\nX-Long-Header-Name: 0123456789abcdef0123\r\n\r\nBODY",
        "GET http://h:1/x HTTP/1.0\r\nA:\r\nB: \t \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nServer: s\r\n\r\n",
        "HTTP/1.1 204\r\nX: y\r\n\r\n",
        "HTTP/1.1 404 Not Found With A Long Reason Phrase\r\nA: b\r\n\r\n",
    };
    static const char alphabet[] = "\r\n\r\n :\t\0\x7f\x01\x80\xff" "aZ-9/,;\"";
    char buf[512];
    unsigned seed = 7, differ = 0, inputs = 0, done = 0, bad = 0;
    for (int round = 0; round < 60000; round++) {
        const char *s0 = seeds[rnd(&seed) % countof(seeds)];
        size_t n = strlen(s0);
        memcpy(buf, s0, n);
        unsigned edits = rnd(&seed) % 4;
        for (unsigned e = 0; e < edits && n > 1 && n < sizeof(buf) - 1; e++) {
            size_t at = rnd(&seed) % n;
            char c = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
            switch (rnd(&seed) % 3) {
            case 0: buf[at] = c; break;
            case 1: memmove(buf + at + 1, buf + at, n - at); buf[at] = c; n++; break;
            default: memmove(buf + at, buf + at + 1, n - at - 1); n--; break;
            }
        }
        bool response = buf[0] == 'H';
        struct http_limits l = { rnd(&seed) % 2 ? 1024 : rnd(&seed) % 120 + 1, rnd(&seed) % 2 ? 128 : rnd(&seed) % 40 + 1,
                                 rnd(&seed) % 2 ? 10 : rnd(&seed) % 4 };
        size_t step = rnd(&seed) % 9;
        struct verdict ref = scan_with(false, buf, n, &l, response, 0);
        differ += !same_verdict(ref, scan_with(true, buf, n, &l, response, 0));
        differ += !same_verdict(ref, scan_with(true, buf, n, &l, response, step));
        differ += !same_verdict(ref, scan_with(false, buf, n, &l, response, step));
        inputs++;
        done += ref.r == SCAN_DONE;
        bad += ref.r == SCAN_BAD;
    }
    is_int(differ, 0, "fast and byte-by-byte scans agree (verdict, status, reason, length)");
    ok(done > 5000 && bad > 5000, "both verdicts well covered (%u done, %u bad of %u)", done, bad, inputs);

    /* every byte value at every place of a value, a target and a reason:
     * the word-at-a-time checks refuse exactly the bytes the rules refuse */
    unsigned wrong = 0;
    for (unsigned b = 0; b < 256; b++) {
        for (size_t vlen = 1; vlen <= 20; vlen++) {
            for (size_t at = 0; at < vlen; at++) {
                char v[24];
                memset(v, 'v', vlen);
                v[at] = (char)b;
                bool ctl = (b < 0x20 && b != '\t') || b == 0x7f;
                struct http_limits l = { 1024, 128, 10 };
                memcpy(buf, "GET / HTTP/1.1\r\nX-Name: ", 24);
                memcpy(buf + 24, v, vlen);
                memcpy(buf + 24 + vlen, "\r\n\r\n", 4);
                struct verdict r = scan_with(true, buf, 28 + vlen, &l, false, 0);
                bool refused = r.r == SCAN_BAD;
                /* CR and LF inside a value make other errors; all that matters is refusal */
                wrong += refused != (ctl || b == '\r' || b == '\n');
                memcpy(buf, "GET /", 5);
                memcpy(buf + 5, v, vlen);
                memcpy(buf + 5 + vlen, " HTTP/1.1\r\n\r\n", 13);
                r = scan_with(true, buf, 18 + vlen, &l, false, 0);
                bool bad_target = b < 0x20 || b == 0x7f || b == ' '; /* a space ends the target early */
                wrong += (r.r == SCAN_BAD) != bad_target;
                memcpy(buf, "HTTP/1.1 200 ", 13);
                memcpy(buf + 13, v, vlen);
                memcpy(buf + 13 + vlen, "\r\n\r\n", 4);
                r = scan_with(true, buf, 17 + vlen, &l, true, 0);
                wrong += (r.r == SCAN_BAD) != (ctl || b == '\r' || b == '\n');
            }
        }
    }
    is_int(wrong, 0, "every byte at every place of a value, a target and a reason");
}

static void test_parse_fields(void)
{
    struct arena a;
    arena_init(&a);
    http_parser p;
    struct http_head h;
    /* framing fields scattered among others: http-parser reads them in
     * several pieces and still decides framing as from the whole head */
    const char *req = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nX-A: 1\r\nConnection: close\r\n"
                      "X-B:  two  \r\nUpgrade: websocket\r\nX-C: 3\r\n\r\n";
    is_int(parse_req(req, &h, &a, &p), 0, "scattered framing fields");
    ok(h.has_length && h.content_length == 7 && !h.keep_alive && !h.complete, "length and close read");
    is_int(h.headers.n, 7, "every field listed");
    is_int(h.headers.v[0].id, HDR_HOST, "Host tagged");
    is_int(h.headers.v[1].id, HDR_CONTENT_LENGTH, "Content-Length tagged");
    is_int(h.headers.v[2].id, HDR_OTHER, "X-A untagged");
    is_int(h.headers.v[3].id, HDR_CONNECTION, "Connection tagged");
    ok(slice_eq(h.headers.v[4].value, "two", 3), "value trimmed");
    is_int(h.headers.v[5].id, HDR_UPGRADE, "Upgrade tagged");
    ok(slice_eq(h.target, "/u", 2), "target");

    is_int(parse_req("GET / HTTP/1.1\r\nX: 1\r\nContent-Length: 1\r\nY: 2\r\nContent-Length: 2\r\n\r\n", &h, &a, &p),
           400, "two lengths apart are still two lengths");
    is_int(parse_req("GET / HTTP/1.1\r\nX: 1\r\nProxy-Connection: close\r\n\r\n", &h, &a, &p), 0, "Proxy-Connection");
    ok(!h.keep_alive, "Proxy-Connection: close is read as http-parser always read it");
    is_int(parse_req("GET / HTTP/1.0\r\nA: b\r\nConnection: keep-alive\r\n\r\n", &h, &a, &p), 0, "1.0 keep-alive later");
    ok(h.keep_alive, "keep-alive found after another field");
    is_int(parse_req("GET / HTTP/1.1\r\nConnection: upgrade\r\nX: 1\r\nUpgrade: h2c\r\n\r\n", &h, &a, &p), 0, "upgrade");
    ok(h.upgrade, "Connection: upgrade with Upgrade apart");

    /* http-parser marks Transfer-Encoding present for any name that starts
     * with it; reading only the exact names would have let this through */
    is_int(parse_req("POST / HTTP/1.1\r\nA: b\r\nTransfer-Encoding-X: chunked\r\n\r\n", &h, &a, &p), 400,
           "a name that starts with Transfer-Encoding is refused, as it always was");
    const char *err;
    const char *eof = "HTTP/1.1 200 OK\r\nA: b\r\nTransfer-Encodings: x\r\nContent-Length: 3\r\n\r\n";
    is_int(http_parse_head(&p, HTTP_RESPONSE, eof, strlen(eof), false, &h, &a, &err), HPE_UNEXPECTED_CONTENT_LENGTH,
           "nor is it ignored in a response: with a length, refused");
    const char *eof2 = "HTTP/1.1 200 OK\r\nA: b\r\nTransfer-Encodings: x\r\n\r\n";
    is_int(http_parse_response(&p, eof2, strlen(eof2), false, &h, &a, &err), 0, "without one");
    ok(!h.keep_alive && !h.complete, "without one, read to EOF");
    const char *resp = "HTTP/1.1 200 Fine\r\nServer: s\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
    is_int(http_parse_response(&p, resp, strlen(resp), false, &h, &a, &err), 0, "response");
    ok(h.chunked && slice_eq(h.reason, "Fine", 4) && h.headers.n == 3, "chunked, reason, fields");
    is_int(http_parse_head(&p, HTTP_REQUEST, "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 27, false, &h, &a, &err),
           HPE_UNKNOWN, "a head that skipped the scanner is refused, not read");
    arena_free(&a);
}

static int parse_req(const char *s, struct http_head *h, struct arena *a, http_parser *p)
{
    const char *err;
    return http_parse_request(p, s, strlen(s), h, a, &err);
}

static void test_request(void)
{
    struct arena a;
    arena_init(&a);
    http_parser p;
    struct http_head h;

    is_int(parse_req("GET /x?y=1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nA:  b  \r\n\r\n", &h, &a, &p), 0, "simple GET");
    ok(slice_eq(h.target, "/x?y=1", 6), "target");
    is_int(h.headers.n, 3, "three fields");
    ok(h.headers.v[1].value.len == 0, "empty value kept");
    ok(slice_eq(h.headers.v[2].value, "b", 1), "value trimmed");
    ok(h.complete && h.keep_alive, "no body, keep-alive");

    is_int(parse_req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", &h, &a, &p), 0, "POST");
    ok(h.has_length && h.content_length == 5 && !h.complete, "length 5");
    is_int(parse_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &h, &a, &p), 0, "chunked");
    ok(h.chunked && !h.complete, "chunked body follows");
    is_int(parse_req("GET / HTTP/1.0\r\n\r\n", &h, &a, &p), 0, "HTTP/1.0");
    ok(!h.keep_alive, "1.0 closes by default");
    is_int(parse_req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h, &a, &p), 0, "1.0 keep-alive");
    ok(h.keep_alive, "1.0 asked for keep-alive");

    struct { const char *head; int status; const char *what; } bad[] = {
        { "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "CL + TE" },
        { "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "two CL" },
        { "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "CL list" },
        { "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "negative CL" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400, "chunked, identity" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", 400, "xchunked" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "gzip only" },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE twice" },
        { "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE in 1.0" },
        { "FOO / HTTP/1.1\r\n\r\n", 501, "unknown method" },
        { "GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2.0" },
        { "GET /\r\n\r\n", 400, "HTTP/0.9" },
        { "GET /a b HTTP/1.1\r\n\r\n", 400, "space in target" },
    };
    for (size_t i = 0; i < countof(bad); i++)
        is_int(parse_req(bad[i].head, &h, &a, &p), bad[i].status, bad[i].what);
    arena_free(&a);
}

static void test_response(void)
{
    struct arena a;
    arena_init(&a);
    http_parser p;
    struct http_head h;
    const char *err;
    const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    is_int(http_parse_response(&p, r1, strlen(r1), false, &h, &a, &err), 0, "200");
    ok(h.status == 200 && h.has_length && !h.complete, "200 with body");
    is_int(http_parse_response(&p, r1, strlen(r1), true, &h, &a, &err), 0, "HEAD response");
    ok(h.complete, "HEAD response has no body");
    const char *r304 = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
    is_int(http_parse_response(&p, r304, strlen(r304), false, &h, &a, &err), 0, "304");
    ok(h.complete, "304 has no body despite Content-Length");
    const char *r204 = "HTTP/1.1 204 No Content\r\n\r\n";
    is_int(http_parse_response(&p, r204, strlen(r204), false, &h, &a, &err), 0, "204");
    ok(h.complete, "204 has no body");
    const char *rclose = "HTTP/1.1 200 OK\r\n\r\n";
    is_int(http_parse_response(&p, rclose, strlen(rclose), false, &h, &a, &err), 0, "close-delimited");
    ok(!h.complete && !h.has_length && !h.chunked && !h.keep_alive, "read until close");
    const char *r100 = "HTTP/1.1 100 Continue\r\n\r\n";
    is_int(http_parse_response(&p, r100, strlen(r100), false, &h, &a, &err), 0, "100");
    ok(h.complete && h.status == 100, "100 has no body");
    const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    ok(http_parse_response(&p, bad, strlen(bad), false, &h, &a, &err) == -1, "CL+TE response refused");
    arena_free(&a);
}

static void test_target(void)
{
    struct arena a;
    arena_init(&a);
    http_parser p;
    struct http_head h;
    struct http_target t;
    const char *err;

    parse_req("GET /a/b?c=d#frag HTTP/1.1\r\nHost: h\r\n\r\n", &h, &a, &p);
    is_int(http_split_target(&h, &t, &err), 0, "origin-form");
    ok(slice_eq(t.path, "/a/b", 4) && slice_eq(t.query, "c=d", 3) && !t.absolute, "path and query");

    parse_req("GET http://example.com:8080/x?y HTTP/1.1\r\n\r\n", &h, &a, &p);
    is_int(http_split_target(&h, &t, &err), 0, "absolute-form");
    ok(t.absolute && slice_eq(t.host, "example.com", 11) && t.port == 8080, "host and port");
    ok(slice_eq(t.path, "/x", 2) && slice_eq(t.query, "y", 1), "absolute path and query");

    parse_req("GET http://example.com HTTP/1.1\r\n\r\n", &h, &a, &p);
    is_int(http_split_target(&h, &t, &err), 0, "absolute-form without path");
    ok(t.port == 80 && slice_eq(t.path, "/", 1), "default port and path");

    parse_req("GET http://[::1]:81/ HTTP/1.1\r\n\r\n", &h, &a, &p);
    is_int(http_split_target(&h, &t, &err), 0, "IPv6 literal");
    ok(slice_eq(t.host, "::1", 3) && t.port == 81, "brackets removed");

    parse_req("CONNECT example.com:443 HTTP/1.1\r\n\r\n", &h, &a, &p);
    is_int(http_split_target(&h, &t, &err), 0, "CONNECT");
    ok(slice_eq(t.host, "example.com", 11) && t.port == 443, "authority-form");

    parse_req("GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n", &h, &a, &p);
    is_int(http_split_target(&h, &t, &err), 400, "userinfo refused");
    arena_free(&a);
}

int main(void)
{
    test_scan();
    test_scan_differential();
    test_request();
    test_parse_fields();
    test_response();
    test_target();
    return tap_done("http");
}
