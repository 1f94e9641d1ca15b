/* trace_ring.c - see trace_ring.h. One mutex guards the ring: it is taken
 * once per traced request and once per poll, never on an untraced one. */
#include "trace_ring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decide.h"
#include "generation.h"
#include "headers.h"
#include "request.h"
#include "server_state.h"
#include "trace.h"
#include "upstream.h"

_Atomic uint64_t trace_follow_until_ms;

enum { TF_HOST, TF_PATH, TF_METHOD, TF_STATUS, TF_UPSTREAM, TF_BACKEND, TF_CLIENT, TF_COUNT };
_Static_assert(TF_COUNT == TRACE_FILTER_FIELDS, "the filter's fields");
static const char *const term_names[TF_COUNT] = { "host", "path", "method", "status", "upstream", "backend",
                                                  "client" };

struct slot {
    uint64_t n;                /* 0: empty */
    char *json;
    char *fields[TF_COUNT];    /* what filters match */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot ring[TRACE_RING_SIZE];
static _Atomic uint64_t next_number = 1;

bool trace_field_accepted(const struct request *r)
{
    const struct config *cfg = r->gen->cfg;
    if (likely(cfg->nadmin == 0))
        return false;
    struct slice v = slice_trim(headers_get(&r->head.headers, SLICE_LIT(TRACE_FIELD)));
    if (v.ptr == NULL)
        return false;
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct listener_config *lc = &cfg->listeners[i];
        if (lc->mode != MODE_ADMIN || lc->nallow == 0 || !decide_client_allowed(lc, r->from))
            continue;
        if (lc->token == NULL || (strlen(lc->token) == v.len && memcmp(lc->token, v.ptr, v.len) == 0))
            return true;
    }
    return false;
}

uint64_t trace_number(struct request *r)
{
    if (r->trace_number == 0)
        r->trace_number = atomic_fetch_add_explicit(&next_number, 1, memory_order_relaxed);
    return r->trace_number;
}

static char *dup_slice(struct slice s)
{
    char *p = malloc(s.len + 1);
    memcpy(p, s.ptr ? s.ptr : "", s.len);
    p[s.len] = '\0';
    return p;
}

void trace_publish(struct request *r)
{
    if (r->trace == NULL)
        return;
    uint64_t n = trace_number(r);
    struct slice host = slice_trim(headers_get(r->client_fields.n ? &r->client_fields : &r->head.headers, H_HOST));
    if (r->origin_host.ptr)
        host = r->origin_host;
    char status[16], backend[ADDR_STRLEN] = "";
    snprintf(status, sizeof(status), "%u", r->status);
    if (r->backend)
        snprintf(backend, sizeof(backend), "%s", r->backend->cfg->spec);
    const char *method = r->head.major ? http_method_str(r->head.method) : "";
    struct slot s = { .n = n };
    s.fields[TF_HOST] = dup_slice(host);
    s.fields[TF_PATH] = dup_slice(r->head.major ? r->target.path : SLICE_NULL);
    s.fields[TF_METHOD] = dup_slice(slice_make(method, strlen(method)));
    s.fields[TF_STATUS] = dup_slice(slice_make(status, strlen(status)));
    s.fields[TF_UPSTREAM] = dup_slice(r->up ? slice_make(r->up->cfg->name, strlen(r->up->cfg->name)) : SLICE_NULL);
    s.fields[TF_BACKEND] = dup_slice(slice_make(backend, strlen(backend)));
    s.fields[TF_CLIENT] = dup_slice(request_client_ip(r));
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    jw_object(&w);
    jw_key(&w, "trace");
    jw_uint(&w, n);
    jw_key(&w, "request_id");
    jw_string(&w, r->request_id.ptr ? r->request_id.ptr : "", r->request_id.len);
    for (unsigned i = 0; i < TF_COUNT; i++) {
        jw_key(&w, term_names[i]);
        if (i == TF_STATUS)
            jw_uint(&w, r->status);
        else
            jw_cstr(&w, s.fields[i]);
    }
    jw_key(&w, "listener");
    jw_cstr(&w, r->lc->spec);
    jw_key(&w, "cache");
    jw_cstr(&w, r->cache_status);
    jw_key(&w, "error");
    jw_cstr(&w, r->error_text);
    jw_key(&w, "events");
    trace_json(r->trace, &w);
    jw_end_object(&w);
    s.json = b.p;
    pthread_mutex_lock(&lock);
    struct slot *old = &ring[n % TRACE_RING_SIZE];
    struct slot gone = *old;
    *old = s;
    pthread_mutex_unlock(&lock);
    free(gone.json);
    for (unsigned i = 0; i < TF_COUNT; i++)
        free(gone.fields[i]);
}

/* ---- filters ---- */

struct trace_filter {
    unsigned n;
    struct term {
        unsigned field;
        char *value;
        bool prefix;           /* value ended in '*' */
        char status_class;     /* '5' for status=5xx */
    } terms[16];
};

void trace_filter_free(struct trace_filter *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; i < f->n; i++)
        free(f->terms[i].value);
    free(f);
}

struct trace_filter *trace_filter_parse(const char *text, size_t n, const char **err)
{
    struct trace_filter *f = calloc(1, sizeof(*f));
    size_t i = 0;
    while (i < n) {
        while (i < n && (text[i] == ' ' || text[i] == '\t'))
            i++;
        if (i == n)
            break;
        size_t start = i;
        while (i < n && text[i] != ' ' && text[i] != '\t')
            i++;
        const char *eq = memchr(text + start, '=', i - start);
        if (eq == NULL || eq == text + start || f->n == 16) {
            *err = f->n == 16 ? "at most 16 terms" : "a term is key=value (host, path, method, status, upstream, backend, client)";
            trace_filter_free(f);
            return NULL;
        }
        size_t klen = (size_t)(eq - (text + start));
        struct term *t = &f->terms[f->n];
        t->field = TF_COUNT;
        for (unsigned k = 0; k < TF_COUNT; k++)
            if (strlen(term_names[k]) == klen && memcmp(term_names[k], text + start, klen) == 0)
                t->field = k;
        if (t->field == TF_COUNT) {
            *err = "unknown key (host, path, method, status, upstream, backend, client)";
            trace_filter_free(f);
            return NULL;
        }
        struct slice v = slice_make(eq + 1, (size_t)(text + i - (eq + 1)));
        t->prefix = v.len && v.ptr[v.len - 1] == '*';
        if (t->prefix)
            v.len--;
        if (t->field == TF_STATUS && v.len == 3 && (v.ptr[1] == 'x' || v.ptr[1] == 'X'))
            t->status_class = v.ptr[0];
        t->value = dup_slice(v);
        f->n++;
    }
    return f;
}

static bool term_matches(const struct term *t, const char *got)
{
    if (t->status_class)
        return got[0] == t->status_class && strlen(got) == 3;
    if (t->prefix)
        return strncmp(got, t->value, strlen(t->value)) == 0;
    return t->field == TF_HOST || t->field == TF_METHOD ? strcasecmp(got, t->value) == 0 : strcmp(got, t->value) == 0;
}

bool trace_filter_matches(const struct trace_filter *f, char *const fields[TRACE_FILTER_FIELDS])
{
    for (unsigned i = 0; f && i < f->n; i++)
        if (!term_matches(&f->terms[i], fields[f->terms[i].field]))
            return false;
    return true;
}

/* ---- reading ---- */

static void raw(struct jw *w, const char *json)
{
    /* a stored object, written as the next value of the array */
    if (!w->first[w->depth])
        sbuf_add(w->b, ",", 1);
    w->first[w->depth] = false;
    sbuf_str(w->b, json);
}

void trace_ring_read(struct jw *w, uint64_t *since, const struct trace_filter *f, unsigned max, bool follow)
{
    if (follow)
        atomic_store_explicit(&trace_follow_until_ms, server_now_ms() + TRACE_FOLLOW_SECONDS * 1000,
                              memory_order_relaxed);
    uint64_t last = atomic_load_explicit(&next_number, memory_order_relaxed) - 1;
    uint64_t from = *since + 1;
    if (last >= TRACE_RING_SIZE && from < last - TRACE_RING_SIZE + 1)
        from = last - TRACE_RING_SIZE + 1; /* older ones were overwritten */
    unsigned sent = 0;
    uint64_t unfinished = 0; /* the first number reserved by a request still running */
    pthread_mutex_lock(&lock);
    for (uint64_t n = from; n <= last && sent < max; n++) {
        const struct slot *s = &ring[n % TRACE_RING_SIZE];
        if (s->n != n) {
            if (unfinished == 0 && last - n < 64)
                unfinished = n; /* the next poll asks from here again (the reader drops repeats) */
            continue;
        }
        *since = n;
        if (trace_filter_matches(f, s->fields)) {
            raw(w, s->json);
            sent++;
        }
    }
    pthread_mutex_unlock(&lock);
    if (unfinished && unfinished - 1 < *since)
        *since = unfinished - 1;
}

bool trace_ring_get(struct jw *w, uint64_t n)
{
    bool found = false;
    pthread_mutex_lock(&lock);
    const struct slot *s = &ring[n % TRACE_RING_SIZE];
    if (n && s->n == n) {
        raw(w, s->json);
        found = true;
    }
    pthread_mutex_unlock(&lock);
    return found;
}
