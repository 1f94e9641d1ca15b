/* arena.c - bump allocation in blocks; one reset frees a whole request.
 * The first (smallest) block survives resets so a steady stream of small
 * requests never calls malloc. Allocations bigger than half the largest
 * block get a block of their own on a separate list, so they never waste
 * the bump block's remaining space. */
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
    a->blocks = a->big = a->first = NULL;
    a->ptr = a->end = NULL;
    a->used = 0;
}

static void *new_block(struct arena *a, size_t need)
{
    if (a->blocks && need > ARENA_MAX_BLOCK / 2) {
        struct arena_block *b = xmalloc(sizeof(*b) + need);
        b->size = need;
        b->next = a->big;
        a->big = b;
        return b->data;
    }
    size_t size = a->blocks ? min(a->blocks->size * 2, (size_t)ARENA_MAX_BLOCK) : ARENA_FIRST;
    if (size < need)
        size = need;
    struct arena_block *b = xmalloc(sizeof(*b) + size);
    b->size = size;
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
    if (a->ptr != NULL && (size_t)(a->end - a->ptr) >= n) {
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

struct arena_mark arena_mark(const struct arena *a)
{
    return (struct arena_mark){ a->blocks, a->big, a->ptr, a->used };
}

void arena_rewind(struct arena *a, struct arena_mark m)
{
    while (a->big != m.big) {
        struct arena_block *b = a->big;
        a->big = b->next;
        free(b);
    }
    while (a->blocks != m.blocks) {
        struct arena_block *b = a->blocks;
        a->blocks = b->next;
        if (b == a->first)
            a->first = NULL;
        free(b);
    }
    a->ptr = m.ptr;
    a->end = a->blocks ? a->blocks->data + a->blocks->size : NULL;
    a->used = m.used;
}

static void free_list(struct arena_block *b, const struct arena_block *keep)
{
    while (b) {
        struct arena_block *next = b->next;
        if (b != keep)
            free(b);
        b = next;
    }
}

void arena_reset(struct arena *a)
{
    struct arena_block *keep = a->first;
    free_list(a->big, NULL);
    free_list(a->blocks, keep);
    if (keep && keep->size > ARENA_FIRST) {
        free(keep); /* a big first block is not worth keeping idle */
        keep = NULL;
    }
    if (keep)
        keep->next = NULL;
    a->blocks = a->first = keep;
    a->big = NULL;
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
