/* test_trace.c - trace_fields, the diff every traced stage is reported
 * by: added, removed and changed fields, repeated names matched by their
 * occurrence (the second Cookie against the second), order changes that
 * are not changes, and the filter of the trace ring: its terms, prefixes,
 * status classes and refusals. */
#include <stdio.h>
#include <string.h>

#include "../../core/trace.h"
#include "../../core/trace_ring.h"
#include "tap.h"

static void add(struct headers *h, struct arena *a, const char *n, const char *v)
{
    headers_add(h, a, slice_make(n, strlen(n)), slice_make(v, strlen(v)));
}

/* The trace's events as one string, "|"-separated. */
static const char *events(const struct trace *t)
{
    static char out[2048];
    out[0] = '\0';
    for (const struct trace_event *e = t->first; e; e = e->next) {
        strcat(out, e->text);
        strcat(out, "|");
    }
    return out;
}

static void test_diff(void)
{
    struct arena a;
    arena_init(&a);
    struct headers before, after;
    headers_init(&before);
    headers_init(&after);
    add(&before, &a, "Host", "example.com");
    add(&before, &a, "Cookie", "a=1");
    add(&before, &a, "Cookie", "b=2");
    add(&before, &a, "Connection", "close");
    add(&after, &a, "cookie", "a=1");     /* the same field, another case, another place */
    add(&after, &a, "Host", "example.com");
    add(&after, &a, "Cookie", "b=3");     /* the second Cookie changed */
    add(&after, &a, "Via", "1.1 luxy");
    struct trace *t = trace_new(&a);
    trace_fields(t, "x", &before, &after);
    is_str(events(t), "~ Cookie: b=2 -> b=3|- Connection: close|+ Via: 1.1 luxy|", "diff");
    struct trace *same = trace_new(&a);
    trace_fields(same, "x", &before, &before);
    ok(same->n == 0, "no change, no event");
    for (int i = 0; i < TRACE_MAX_EVENTS + 10; i++)
        trace_add(same, "x", "%d", i);
    ok(same->n == TRACE_MAX_EVENTS && same->full, "bounded");
    struct trace *big = trace_new(&a);
    char line[1000];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    for (int i = 0; i < 100; i++)
        trace_add(big, "x", "%s", line);
    ok(big->full && big->bytes <= TRACE_MAX_BYTES && big->n < 40, "bounded in bytes too");
    struct headers c1, c2;
    headers_init(&c1);
    headers_init(&c2);
    add(&c1, &a, "Authorization", "Basic c2VjcmV0");
    add(&c2, &a, "Authorization", "Bearer other");
    add(&c2, &a, "Proxy-Authorization", "Basic eA==");
    struct trace *cred = trace_new(&a);
    trace_fields(cred, "x", &c1, &c2);
    is_str(events(cred), "~ Authorization: (14 bytes, not shown) -> (12 bytes, not shown)|+ Proxy-Authorization: (10 bytes, not shown)|",
           "credentials are never shown");
    arena_free(&a);
}

static bool match(const char *filter, const char *host, const char *path, const char *status)
{
    const char *err = NULL;
    struct trace_filter *f = trace_filter_parse(filter, strlen(filter), &err);
    if (f == NULL)
        return false;
    char *fields[TRACE_FILTER_FIELDS] = { (char *)host, (char *)path, "GET", (char *)status, "app", "b", "::1" };
    bool m = trace_filter_matches(f, fields);
    trace_filter_free(f);
    return m;
}

static void test_filter(void)
{
    ok(match("", "a.example", "/x", "200"), "empty: everything");
    ok(match("host=A.example", "a.example", "/x", "200"), "host: any case");
    ok(!match("host=b.example", "a.example", "/x", "200"), "host differs");
    ok(match("path=/api* status=5xx", "a", "/api/v1", "503"), "prefix and class");
    ok(!match("path=/api* status=5xx", "a", "/api/v1", "404"), "class differs");
    ok(!match("path=/api", "a", "/api/v1", "200"), "a path without * is exact");
    ok(match("  status=404   method=GET ", "a", "/", "404"), "spaces around terms");
    const char *err = NULL;
    ok(trace_filter_parse("colour=red", 10, &err) == NULL && strstr(err, "unknown key"), "unknown key");
    ok(trace_filter_parse("host", 4, &err) == NULL && strstr(err, "key=value"), "no =");
    ok(trace_filter_parse("=x", 2, &err) == NULL, "no key");
}

int main(void)
{
    test_diff();
    test_filter();
    return tap_done("trace");
}
