/* arena.h - the per-request memory pool: everything an exchange allocates
 * (head copies, rewritten headers, strings set from Lua, error pages) comes
 * from here and is released in one call when the exchange ends. */
#ifndef LUXY_ARENA_H
#define LUXY_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *blocks; /* newest first */
    struct arena_block *first;  /* the first block: kept across resets */
    char *ptr, *end;            /* free space in the newest block */
    size_t used;                /* bytes handed out since the last reset */
};

void arena_init(struct arena *a);
/* n bytes aligned for any scalar; never NULL (dies on OOM). */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Releases everything but the first block, so the next request reuses it. */
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

#endif
