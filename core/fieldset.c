/* fieldset.c - see fieldset.h. The index is built on first use under a
 * process-wide mutex; afterwards `ready` is read with acquire order and
 * the tables are immutable. */
#include "fieldset.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned bucket_of(char c)
{
    c = (char)(c | 0x20); /* ASCII lower case; non-letters land in "other" */
    return c >= 'a' && c <= 'z' ? (unsigned)(c - 'a') : 26;
}

static void build(struct fieldset *s)
{
    pthread_mutex_lock(&build_lock);
    if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
        size_t n = s->n < FIELDSET_MAX ? s->n : FIELDSET_MAX;
        unsigned k = 0;
        for (unsigned b = 0; b < 27; b++) {
            s->start[b] = (uint8_t)k;
            for (size_t i = 0; i < n; i++) {
                if (bucket_of(s->entries[i].name[0]) == b) {
                    s->order[k++] = (uint8_t)i;
                    s->len[i] = (uint8_t)strlen(s->entries[i].name);
                }
            }
            s->count[b] = (uint8_t)(k - s->start[b]);
        }
        atomic_store_explicit(&s->ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&build_lock);
}

unsigned fieldset_class(struct fieldset *s, struct slice name)
{
    if (name.len == 0)
        return 0;
    if (!atomic_load_explicit(&s->ready, memory_order_acquire))
        build(s);
    unsigned b = bucket_of(name.ptr[0]);
    for (unsigned j = 0; j < s->count[b]; j++) {
        unsigned i = s->order[s->start[b] + j];
        if (s->len[i] == name.len && slice_caseeq(name, s->entries[i].name, name.len))
            return s->entries[i].cls;
    }
    return 0;
}
