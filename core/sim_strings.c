/* sim_strings.c - interned strings (sim_strings.h): an open-addressing
 * table of pointers into blocks that are only ever appended to. */
#include "sim_strings.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1u << 20)

struct block {
    struct block *next;
    size_t used, size;
    char data[];
};

struct sim_strings {
    const char **slots;
    size_t cap, n;           /* cap: a power of two, at most half full */
    struct block *blocks;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

struct sim_strings *sim_strings_new(void)
{
    struct sim_strings *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (!s->slots) {
        free(s);
        return NULL;
    }
    return s;
}

void sim_strings_free(struct sim_strings *s)
{
    if (!s)
        return;
    for (struct block *b = s->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(s->slots);
    free(s);
}

size_t sim_strings_count(const struct sim_strings *s)
{
    return s->n;
}

static const char *copy(struct sim_strings *s, const char *str, size_t n)
{
    struct block *b = s->blocks;
    if (!b || b->size - b->used < n + 1) {
        size_t size = n + 1 > BLOCK ? n + 1 : BLOCK;
        b = malloc(sizeof(*b) + size);
        if (!b)
            return NULL;
        b->used = 0, b->size = size, b->next = s->blocks;
        s->blocks = b;
    }
    char *p = b->data + b->used;
    memcpy(p, str, n + 1);
    b->used += n + 1;
    return p;
}

static int grow(struct sim_strings *s)
{
    size_t cap = s->cap * 2;
    const char **slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i]) {
            size_t j = hash(s->slots[i], strlen(s->slots[i])) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
    free(s->slots);
    s->slots = slots, s->cap = cap;
    return 0;
}

const char *sim_strings_intern(struct sim_strings *s, const char *str)
{
    if (!str)
        return NULL;
    if (s->n * 2 >= s->cap && grow(s) < 0)
        return NULL;
    size_t n = strlen(str);
    size_t j = hash(str, n) & (s->cap - 1);
    while (s->slots[j]) {
        if (strcmp(s->slots[j], str) == 0)
            return s->slots[j];
        j = (j + 1) & (s->cap - 1);
    }
    const char *p = copy(s, str, n);
    if (p) {
        s->slots[j] = p;
        s->n++;
    }
    return p;
}
