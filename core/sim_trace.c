/* sim_trace.c - a trace file read whole (sim_trace.h). Access logs are
 * written when a request ends, so a request's start is its line's time
 * minus its duration; the records are sorted by that start. A "combined"
 * line has whole seconds only: the requests of one second are spread
 * evenly over it, rather than all arriving at once. */
#include "sim_trace.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_strings.h"

struct keyed {
    struct sim_request_rec rec;
    size_t line;             /* ties keep the file's order */
};

static int by_start(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->rec.start != y->rec.start)
        return x->rec.start < y->rec.start ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Whole-second starts (no duration logged) of one second spread over it. */
static void spread_seconds(struct keyed *k, size_t n, const unsigned char *whole)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && k[j].rec.start == k[i].rec.start)
            j++;
        size_t cnt = 0;
        for (size_t x = i; x < j; x++)
            cnt += whole[k[x].line];
        size_t at = 0;
        for (size_t x = i; x < j; x++)
            if (whole[k[x].line])
                k[x].rec.start += ((double)at++ + 0.5) / (double)cnt;
        i = j;
    }
}

int sim_trace_load(struct sim_trace *t, const char *path, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    t->strings = sim_strings_new();
    char *line = malloc(SIM_TRACE_LINE_MAX + 2), *buf = malloc(SIM_TRACE_LINE_MAX + 2);
    struct keyed *k = NULL;
    unsigned char *whole = NULL;
    size_t cap = 0, lines_cap = 0;
    int rc = -1;
    if (!t->strings || !line || !buf)
        goto oom;
    while (fgets(line, SIM_TRACE_LINE_MAX + 2, f)) {
        size_t len = strlen(line);
        bool complete = len > 0 && line[len - 1] == '\n';
        if (!complete && !feof(f)) { /* too long: skip the rest of it */
            int ch;
            while ((ch = getc(f)) != EOF && ch != '\n') {
            }
            t->lines++, t->skipped++;
            continue;
        }
        if (complete)
            line[--len] = 0;
        t->lines++;
        if (t->lines > lines_cap) {
            lines_cap = lines_cap ? lines_cap * 2 : 4096;
            unsigned char *w = realloc(whole, lines_cap);
            if (!w)
                goto oom;
            whole = w;
        }
        struct sim_trace_rec r;
        if (len == 0 || sim_trace_parse(line, len, buf, &r) < 0 || !isfinite(r.time)) {
            t->skipped++;
            whole[t->lines - 1] = 0;
            continue;
        }
        if (t->n == cap) {
            cap = cap ? cap * 2 : 4096;
            struct keyed *nk = realloc(k, cap * sizeof(*k));
            if (!nk)
                goto oom;
            k = nk;
        }
        /* a whole-second time and no duration: a combined line */
        whole[t->lines - 1] = r.duration == 0 && r.time == floor(r.time);
        struct sim_request_rec *o = &k[t->n].rec;
        k[t->n].line = t->lines - 1;
        o->start = r.time - r.duration;
        o->bytes = r.bytes;
        o->method = sim_strings_intern(t->strings, r.method);
        o->target = sim_strings_intern(t->strings, r.target);
        o->client = sim_strings_intern(t->strings, r.client);
        o->user_agent = sim_strings_intern(t->strings, r.user_agent);
        o->referer = sim_strings_intern(t->strings, r.referer);
        o->listener = sim_strings_intern(t->strings, r.listener);
        if (!o->method || !o->target)
            goto oom;
        t->n++;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (t->n) {
        qsort(k, t->n, sizeof(*k), by_start);
        spread_seconds(k, t->n, whole);
        qsort(k, t->n, sizeof(*k), by_start);
        t->recs = malloc(t->n * sizeof(*t->recs));
        if (!t->recs)
            goto oom;
        for (size_t i = 0; i < t->n; i++)
            t->recs[i] = k[i].rec;
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
out:
    fclose(f);
    free(line);
    free(buf);
    free(k);
    free(whole);
    if (rc < 0)
        sim_trace_free(t);
    return rc;
}

void sim_trace_free(struct sim_trace *t)
{
    free(t->recs);
    sim_strings_free(t->strings);
    t->recs = NULL;
    t->strings = NULL;
    t->n = 0;
}
