/* arena.c - bump allocation in blocks; one reset frees a whole request.
 * The first (smallest) block survives resets so a steady stream of small
 * requests never calls malloc. */
#include "arena.h"
#include "luxy.h"

#include <stdlib.h>

#define ARENA_FIRST 4096
#define ARENA_MAX_BLOCK 65536
#define ARENA_ALIGN 16

struct arena_block {
    struct arena_block *next;
    size_t size;                      /* usable bytes after the header */
    _Alignas(ARENA_ALIGN) char data[];
};

void arena_init(struct arena *a)
{
    a->blocks = a->first = NULL;
    a->ptr = a->end = NULL;
    a->used = 0;
}

static void *new_block(struct arena *a, size_t need)
{
    size_t size = a->blocks ? min(a->blocks->size * 2, (size_t)ARENA_MAX_BLOCK) : ARENA_FIRST;
    if (size < need)
        size = need;
    struct arena_block *b = xmalloc(sizeof(*b) + size);
    b->size = size;
    if (a->blocks && need > ARENA_MAX_BLOCK / 2) {
        /* a big one-off: keep the current block as the bump target */
        b->next = a->blocks->next;
        a->blocks->next = b;
        return b->data;
    }
    b->next = a->blocks;
    a->blocks = b;
    if (a->first == NULL)
        a->first = b;
    a->ptr = b->data + need;
    a->end = b->data + size;
    return b->data;
}

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    a->used += n;
    if ((size_t)(a->end - a->ptr) >= n && a->ptr != NULL) {
        void *p = a->ptr;
        a->ptr += n;
        return p;
    }
    return new_block(a, n);
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->blocks, *keep = a->first;
    while (b) {
        struct arena_block *next = b->next;
        if (b != keep)
            free(b);
        b = next;
    }
    if (keep && keep->size > ARENA_FIRST) {
        free(keep); /* a big first block is not worth keeping idle */
        keep = a->first = NULL;
    }
    if (keep)
        keep->next = NULL;
    a->blocks = keep;
    a->ptr = keep ? keep->data : NULL;
    a->end = keep ? keep->data + keep->size : NULL;
    a->used = 0;
}

void arena_free(struct arena *a)
{
    arena_reset(a);
    free(a->first);
    arena_init(a);
}
