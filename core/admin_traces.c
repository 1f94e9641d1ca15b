/* admin_traces.c - GET /api/traces: finished requests' decision traces
 * (trace_ring.h). ?since=N gives those numbered above N that match
 * ?filter= (URL-encoded, e.g. host%3Dexample.com%20status%3D5xx), at most
 * ?max= (100, at most 200); every such poll keeps live tracing on for a few seconds, so
 * `luxy trace` polling it sees every request while it runs. ?id=N gives
 * one trace (the number a traced response's Luxy-Trace field carried). */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "jsonw.h"
#include "request.h"
#include "trace_ring.h"

static uint64_t number(struct slice v, uint64_t dflt)
{
    if (v.ptr == NULL || v.len == 0 || v.len > 19)
        return dflt;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return dflt;
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    return n;
}

/* The array b holds ([{...},{...}]) as one object per line: the objects
 * are the ring's, whose strings never hold a raw newline (JSON escapes
 * them), so a top-level "},{" is found by depth. */
static void lines_of(struct sbuf *out, const struct sbuf *b)
{
    int depth = 0;
    bool in_string = false;
    size_t start = 0;
    for (size_t i = 0; b->p && i < b->len; i++) {
        char c = b->p[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (depth++ == 1)
                start = i;
        } else if (c == '}' || c == ']') {
            if (--depth == 1) {
                sbuf_add(out, b->p + start, i + 1 - start);
                sbuf_add(out, "\n", 1);
            }
        }
    }
}

void admin_traces(struct request *r)
{
    struct slice q = r->target.query;
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    struct slice id = admin_query_param(q, "id");
    if (id.ptr) {
        if (!trace_ring_get(&w, number(id, 0))) {
            sbuf_free(&b);
            admin_fail(r, 404, "no such trace (the ring keeps the last 512)");
            return;
        }
        admin_respond_json(r, 200, &b);
        return;
    }
    struct trace_filter *f = NULL;
    char ftext[2048];
    if (admin_query_decoded(r, "filter", ftext, sizeof(ftext)) && ftext[0]) {
        const char *err = NULL;
        if ((f = trace_filter_parse(ftext, strlen(ftext), &err)) == NULL) {
            sbuf_free(&b);
            admin_fail(r, 400, err);
            return;
        }
    }
    uint64_t since = number(admin_query_param(q, "since"), 0);
    uint64_t max = number(admin_query_param(q, "max"), 100);
    struct slice format = admin_query_param(q, "format");
    if (format.ptr && slice_eq(format, "lines", 5)) {
        /* one trace per line, then "next N": for `luxy trace`, which needs no JSON parser */
        jw_array(&w);
        trace_ring_read(&w, &since, f, max > 200 ? 200 : (unsigned)max, true);
        jw_end_array(&w);
        trace_filter_free(f);
        struct sbuf lines;
        sbuf_init(&lines);
        lines_of(&lines, &b);
        sbuf_printf(&lines, "next %llu\n", (unsigned long long)since);
        sbuf_free(&b);
        admin_respond_text(r, &lines);
        return;
    }
    jw_object(&w);
    jw_key(&w, "traces");
    jw_array(&w);
    trace_ring_read(&w, &since, f, max > 200 ? 200 : (unsigned)max, true);
    jw_end_array(&w);
    jw_key(&w, "next");
    jw_uint(&w, since);
    jw_end_object(&w);
    trace_filter_free(f);
    admin_respond_json(r, 200, &b);
}
