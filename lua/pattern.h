/* pattern.h - Lua 5.4 patterns (string.find, match, gmatch, gsub) with a
 * step budget. The semantics are Lua's own, item for item (classes, sets,
 * quantifiers, anchors, captures, %b, %f, back-references); the difference
 * is that every step of the backtracking search is counted, and the search
 * stops when the budget runs out, so a pattern with exponential or cubic
 * behaviour cannot hold the thread. Pure: no Lua state, no allocation;
 * errors come back as messages (lua/lib_match.c raises them). */
#ifndef LUXY_PATTERN_H
#define LUXY_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define PAT_MAXCAPTURES 32   /* LUA_MAXCAPTURES */
#define PAT_MAXDEPTH 200     /* nesting of the matcher (Lua's MAXCCALLS) */
#define PAT_UNFINISHED (-1)
#define PAT_POSITION (-2)

/* The message of an exhausted budget (compared by pointer). */
extern const char pat_out_of_steps[];

struct pat_state {
    const char *src_init, *src_end; /* the subject */
    const char *p_end;              /* end of the pattern */
    int level;                      /* captures open or closed so far */
    int depth;                      /* nesting left */
    long steps;                     /* budget left */
    const char *error;              /* NULL, pat_out_of_steps, or a message */
    char errbuf[64];
    struct {
        const char *init;
        ptrdiff_t len;              /* length, PAT_UNFINISHED or PAT_POSITION */
    } capture[PAT_MAXCAPTURES];
};

/* Prepares a search of pattern p[0..lp) in s[0..ls) with a budget of
 * steps. Both must be followed by a NUL byte, as Lua strings are (Lua's
 * own matcher reads that byte at the ends). */
void pat_init(struct pat_state *m, const char *s, size_t ls, const char *p, size_t lp, long steps);

/* Tries p (a position inside the pattern) at s (inside the subject).
 * Returns where the match ends, or NULL: no match, or m->error is set.
 * Clears the captures first. */
const char *pat_match(struct pat_state *m, const char *s, const char *p);

/* Capture i (0-based) of a match s..e: *cap and its length, or
 * PAT_POSITION (its position is capture[i].init - src_init + 1). With no
 * captures, capture 0 is the whole match. Returns -1 with m->error set for
 * an invalid index or an unfinished capture. */
ptrdiff_t pat_capture(struct pat_state *m, int i, const char *s, const char *e, const char **cap);
/* How many values a match yields: its captures, or 1 (the whole match)
 * when there are none and whole is true. */
int pat_ncaptures(const struct pat_state *m, bool whole);

/* Does p[0..lp) have none of the characters that make it a pattern? */
bool pat_nospecials(const char *p, size_t lp);

/* Counts steps for work done outside pat_match (scanning n bytes); false
 * when the budget ran out (m->error is set). */
bool pat_spend(struct pat_state *m, long n);

#endif
