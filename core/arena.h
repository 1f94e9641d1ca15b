/* arena.h - the per-request memory pool: everything an exchange allocates
 * (head copies, rewritten headers, strings set from Lua, error pages) comes
 * from here and is released in one call when the exchange ends. A mark and
 * a rewind release what was allocated since the mark (a 1xx head that is
 * forwarded and forgotten), so a long exchange does not grow without end. */
#ifndef LUXY_ARENA_H
#define LUXY_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *blocks; /* bump blocks, newest first */
    struct arena_block *big;    /* one-off large blocks, newest first */
    struct arena_block *first;  /* the first block: kept across resets */
    char *ptr, *end;            /* free space in the newest bump block */
    size_t used;                /* bytes handed out since the last reset */
};

/* Where an arena stood; only valid until the next reset. */
struct arena_mark {
    struct arena_block *blocks, *big;
    char *ptr;
    size_t used;
};

void arena_init(struct arena *a);
/* n bytes aligned for any scalar; never NULL (dies on OOM). */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *arena_strndup(struct arena *a, const char *s, size_t n);
struct arena_mark arena_mark(const struct arena *a);
/* Frees everything allocated after m: pointers obtained since are dead. */
void arena_rewind(struct arena *a, struct arena_mark m);
/* Releases everything but the first block, so the next request reuses it. */
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

#endif
