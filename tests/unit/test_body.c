/* test_body.c - body framing: lengths, the strict chunked decoder (whole
 * and byte by byte), close-delimited bodies. */
#include <stdio.h>
#include <string.h>

#include "../../core/body.h"
#include "../../core/luxy.h"
#include "tap.h"

struct sink {
    char data[4096];
    size_t n;
};

static void collect(void *arg, const char *p, size_t n)
{
    struct sink *s = arg;
    if (s->n + n <= sizeof(s->data)) {
        memcpy(s->data + s->n, p, n);
        s->n += n;
    }
}

/* Feeds in in pieces of step bytes; returns consumed total or -1. */
static long feed(struct body_reader *b, const char *in, size_t len, size_t step, struct sink *s,
                 const char **err)
{
    size_t off = 0;
    while (off < len && !b->done) {
        size_t n = min(step, len - off);
        ssize_t used = body_feed(b, in + off, n, collect, s, err);
        if (used < 0)
            return -1;
        off += (size_t)used;
        if ((size_t)used < n)
            break;
    }
    return (long)off;
}

static void test_chunked_ok(void)
{
    const char *in = "5\r\nhello\r\n1;ext=val;x\r\n \r\n000A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    for (size_t step = 1; step <= strlen(in); step += (step < 4 ? 1 : 13)) {
        struct body_reader b;
        struct sink s = { .n = 0 };
        const char *err = NULL;
        body_init(&b, BODY_CHUNKED, 0);
        long used = feed(&b, in, strlen(in), step, &s, &err);
        ok(b.done, "step %zu: done", step);
        is_int(used, strlen(in) - 4, "stops before the next message");
        ok(s.n == 16 && memcmp(s.data, "hello 0123456789", 16) == 0, "step %zu: data", step);
        is_int(b.total, 16, "total");
    }
}

static void test_chunked_bad(void)
{
    const char *bad[] = {
        "zz\r\n",                       /* not hex */
        "\r\n",                         /* no size */
        "-1\r\n",                       /* negative */
        "ffffffffffffffffff\r\n",       /* overflow */
        "8000000000000000\r\n",         /* 2^63 */
        "5\nhello\r\n",                 /* bare LF after the size */
        "5\r\nhelloXY0\r\n\r\n",        /* no CRLF after data */
        "5\r\nhello\n0\r\n\r\n",        /* LF only after data */
        "5 x\r\nhello\r\n",             /* junk after the size */
        "5;a\x01\r\nhello\r\n",         /* control in extension */
        "0\r\nX: a\nb\r\n\r\n",          /* bare LF in a trailer */
        "0\r\n\rX",                     /* CR without LF at the end */
    };
    for (size_t i = 0; i < countof(bad); i++) {
        struct body_reader b;
        struct sink s = { .n = 0 };
        const char *err = NULL;
        body_init(&b, BODY_CHUNKED, 0);
        ok(feed(&b, bad[i], strlen(bad[i]), 1000, &s, &err) == -1 && err, "bad chunked %zu refused", i);
    }
    /* a long run of leading zeros is bounded */
    char zeros[200];
    memset(zeros, '0', sizeof(zeros) - 3);
    memcpy(zeros + sizeof(zeros) - 3, "\r\n", 3);
    struct body_reader b;
    struct sink s = { .n = 0 };
    const char *err;
    body_init(&b, BODY_CHUNKED, 0);
    ok(feed(&b, zeros, strlen(zeros), 1000, &s, &err) == -1, "endless size line refused");
    /* trailers are bounded */
    static char big[12000];
    memcpy(big, "0\r\nX: ", 6);
    memset(big + 6, 'a', sizeof(big) - 12);
    memcpy(big + sizeof(big) - 6, "\r\n\r\n", 5);
    body_init(&b, BODY_CHUNKED, 0);
    ok(feed(&b, big, strlen(big), 100000, &s, &err) == -1, "huge trailers refused");
}

static void test_length_and_close(void)
{
    struct body_reader b;
    struct sink s = { .n = 0 };
    const char *err;
    body_init(&b, BODY_LENGTH, 5);
    ssize_t n = body_feed(&b, "helloGET /", 10, collect, &s, &err);
    ok(n == 5 && b.done && s.n == 5, "length stops at 5");
    body_init(&b, BODY_LENGTH, 0);
    ok(b.done, "length 0 is done at once");
    body_init(&b, BODY_LENGTH, 10);
    body_feed(&b, "abc", 3, collect, &s, &err);
    ok(!body_eof_ok(&b), "EOF inside a length body is truncation");
    body_init(&b, BODY_UNTIL_CLOSE, 0);
    body_feed(&b, "abc", 3, collect, &s, &err);
    ok(!b.done && body_eof_ok(&b) && b.done, "close ends an until-close body");
    body_init(&b, BODY_CHUNKED, 0);
    body_feed(&b, "5\r\nab", 6, collect, &s, &err);
    ok(!body_eof_ok(&b), "EOF inside chunked is truncation");
    body_init(&b, BODY_NONE, 0);
    ok(b.done, "no body");
}

int main(void)
{
    test_chunked_ok();
    test_chunked_bad();
    test_length_and_close();
    return tap_done("body");
}
