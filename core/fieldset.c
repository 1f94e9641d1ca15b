/* fieldset.c - see fieldset.h. The index is built on first use under a
 * process-wide mutex; afterwards `ready` is read with acquire order and
 * the tables are immutable. */
#include "fieldset.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

#define CASE_BITS 0x2020202020202020ull

static unsigned hash(const char *p, size_t len)
{
    unsigned first = (unsigned char)p[0] | 0x20, last = (unsigned char)p[len - 1] | 0x20;
    return ((unsigned)len * 7 + first * 31 + last * 131) & (FIELDSET_SLOTS - 1);
}

static void build(struct fieldset *s)
{
    pthread_mutex_lock(&build_lock);
    if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
        size_t n = s->n;
        if (n > FIELDSET_MAX)
            abort(); /* a table too big is a programming error */
        for (size_t i = 0; i < n; i++) {
            const char *name = s->entries[i].name;
            size_t len = strlen(name);
            if (len == 0 || len > FIELDSET_NAME_MAX)
                abort();
            char buf[FIELDSET_NAME_MAX] = { 0 };
            for (size_t k = 0; k < len; k++) {
                char c = name[k];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
                    abort(); /* the OR-0x20 compare is exact for these only */
                buf[k] = (char)(c | 0x20);
            }
            for (size_t w = 0; w * 8 < len; w++) { /* loaded as same() loads a name */
                size_t m = len - w * 8 < 8 ? len - w * 8 : 8;
                s->lower[i][w] = load_word(buf + w * 8, m) | CASE_BITS; /* 0x20 past the end */
            }
            s->len[i] = (uint8_t)len;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned h = hash(s->entries[i].name, s->len[i]);
            while (s->slot[h])
                h = (h + 1) & (FIELDSET_SLOTS - 1);
            s->slot[h] = (uint8_t)(i + 1);
        }
        atomic_store_explicit(&s->ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&build_lock);
}

static bool same(const uint64_t *lower, const char *p, size_t len)
{
    size_t k = 0;
    for (; k + 8 <= len; k += 8) {
        uint64_t v;
        memcpy(&v, p + k, 8);
        if ((v | CASE_BITS) != lower[k / 8])
            return false;
    }
    /* past the end lower holds 0x20: a zero lane, ORed */
    return k == len || (load_word(p + k, len - k) | CASE_BITS) == lower[k / 8];
}

unsigned fieldset_class(struct fieldset *s, struct slice name)
{
    if (name.len == 0 || name.len > FIELDSET_NAME_MAX)
        return 0;
    if (!atomic_load_explicit(&s->ready, memory_order_acquire))
        build(s);
    for (unsigned h = hash(name.ptr, name.len);; h = (h + 1) & (FIELDSET_SLOTS - 1)) {
        unsigned e = s->slot[h];
        if (e == 0)
            break;
        if (s->len[e - 1] == name.len && same(s->lower[e - 1], name.ptr, name.len))
            return s->entries[e - 1].cls;
    }
    return 0;
}
