/* trace.c - see trace.h. */
#include "trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "luxy.h"

struct trace *trace_new(struct arena *a)
{
    struct trace *t = arena_alloc(a, sizeof(*t));
    memset(t, 0, sizeof(*t));
    t->arena = a;
    t->started = luxy_monotonic();
    return t;
}

static void add_text(struct trace *t, const char *stage, const char *text, size_t n)
{
    if (t->n >= TRACE_MAX_EVENTS || t->bytes + n > TRACE_MAX_BYTES) {
        t->full = true;
        return;
    }
    t->bytes += n;
    struct trace_event *e = arena_alloc(t->arena, sizeof(*e));
    e->next = NULL;
    e->at = luxy_monotonic() - t->started;
    e->stage = stage;
    e->text = arena_strndup(t->arena, text, n);
    if (t->last)
        t->last->next = e;
    else
        t->first = e;
    t->last = e;
    t->n++;
}

void trace_add(struct trace *t, const char *stage, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    add_text(t, stage, line, n < 0 ? 0 : min((size_t)n, sizeof(line) - 1));
}

/* Index of the k-th (0-based) field called name in h, or -1. */
static int nth(const struct headers *h, struct slice name, unsigned k)
{
    for (unsigned i = 0; i < h->n; i++)
        if (slice_caseeq(h->v[i].name, name.ptr, name.len) && k-- == 0)
            return (int)i;
    return -1;
}

/* How many fields before index i of h have h->v[i]'s name. */
static unsigned rank(const struct headers *h, unsigned i)
{
    unsigned k = 0;
    for (unsigned j = 0; j < i; j++)
        k += slice_caseeq(h->v[j].name, h->v[i].name.ptr, h->v[i].name.len);
    return k;
}

#define FIELD_FMT "%.*s: %.*s"
#define FIELD_ARGS(f) (int)min((f).name.len, (size_t)128), (f).name.ptr, (int)min(shown(f).len, (size_t)400), shown(f).ptr

/* A field's value as a trace shows it: credentials by their length only. */
static struct slice shown(struct header f)
{
    static _Thread_local char masked[48];
    if (!slice_caseeq_lit(f.name, "Authorization") && !slice_caseeq_lit(f.name, "Proxy-Authorization"))
        return f.value;
    int n = snprintf(masked, sizeof(masked), "(%zu bytes, not shown)", f.value.len);
    return slice_make(masked, (size_t)n);
}

void trace_fields(struct trace *t, const char *stage, const struct headers *before, const struct headers *after)
{
    /* fields are matched by name and occurrence: the second Cookie with the second */
    for (unsigned i = 0; i < before->n; i++) {
        const struct header *f = &before->v[i];
        int j = nth(after, f->name, rank(before, i));
        if (j < 0)
            trace_add(t, stage, "- " FIELD_FMT, FIELD_ARGS(*f));
        else if (!slice_eq(after->v[j].value, f->value.ptr, f->value.len)) {
            struct slice old = shown(*f);
            char was[420];
            snprintf(was, sizeof(was), "%.*s", (int)min(old.len, (size_t)300), old.ptr); /* shown() reuses its buffer */
            struct slice now = shown(after->v[j]);
            trace_add(t, stage, "~ %.*s: %s -> %.*s", (int)min(f->name.len, (size_t)128), f->name.ptr, was,
                      (int)min(now.len, (size_t)300), now.ptr);
        }
    }
    for (unsigned i = 0; i < after->n; i++)
        if (nth(before, after->v[i].name, rank(after, i)) < 0)
            trace_add(t, stage, "+ " FIELD_FMT, FIELD_ARGS(after->v[i]));
}

void trace_json(const struct trace *t, struct jw *w)
{
    jw_array(w);
    for (const struct trace_event *e = t->first; e; e = e->next) {
        jw_object(w);
        jw_key(w, "t");
        jw_double(w, e->at * 1000);
        jw_key(w, "stage");
        jw_cstr(w, e->stage);
        jw_key(w, "what");
        jw_cstr(w, e->text);
        jw_end_object(w);
    }
    if (t->full) {
        jw_object(w);
        jw_key(w, "stage");
        jw_cstr(w, "trace");
        jw_key(w, "what");
        jw_cstr(w, "more events were dropped (256 and 32 KiB at most)");
        jw_end_object(w);
    }
    jw_end_array(w);
}

void trace_text(const struct trace *t, struct sbuf *out)
{
    for (const struct trace_event *e = t->first; e; e = e->next)
        sbuf_printf(out, "  %8.3f ms  %-8s %s\n", e->at * 1000, e->stage, e->text);
    if (t->full)
        sbuf_str(out, "  (more events were dropped: 256 and 32 KiB at most)\n");
}

void trace_step(struct trace *t, const char *stage, struct headers *before, const struct headers *now)
{
    trace_fields(t, stage, before, now);
    *before = headers_copy(now, t->arena);
}
