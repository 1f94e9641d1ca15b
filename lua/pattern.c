/* pattern.c - the Lua 5.4 pattern matcher, written for a budget.
 *
 * A pattern is a sequence of items: a single-character class (".", "%a",
 * "[set]", a literal) with an optional quantifier ("*", "+", "-", "?"),
 * "%n" back-references, "%bxy" balanced runs, "%f[set]" frontiers, and
 * captures "(...)" and "()". The search is the classic backtracking one,
 * exactly as Lua's string library does it (same results, same errors);
 * what is added is the step counter: every item tried, every repetition
 * and every byte compared costs one step, and when the budget is spent the
 * search unwinds with pat_out_of_steps. Recursion is bounded by
 * PAT_MAXDEPTH, so the C stack is bounded too.
 *
 * Errors never unwind with longjmp: a function that sees m->error set
 * returns NULL at once, and so does every caller up the recursion. */
#include "pattern.h"

#include <stdio.h>
#include <string.h>

#define ESC '%'
#define SPECIALS "^$*+?.([%-"

const char pat_out_of_steps[] = "pattern matching ran out of budget";

static bool fail(struct pat_state *m, const char *msg)
{
    if (m->error == NULL)
        m->error = msg;
    return false;
}

static bool spend(struct pat_state *m, long n)
{
    m->steps -= n;
    return m->steps >= 0 || fail(m, pat_out_of_steps);
}

bool pat_spend(struct pat_state *m, long n)
{
    return spend(m, n);
}

/* The pattern byte at p, or NUL past its end (where Lua reads the
 * terminator). */
static unsigned char pat_at(const struct pat_state *m, const char *p)
{
    return p < m->p_end ? (unsigned char)*p : 0;
}

/* The subject byte at s, or NUL at its end. */
static unsigned char src_at(const struct pat_state *m, const char *s)
{
    return s < m->src_end ? (unsigned char)*s : 0;
}

void pat_init(struct pat_state *m, const char *s, size_t ls, const char *p, size_t lp, long steps)
{
    m->src_init = s;
    m->src_end = s + ls;
    m->p_end = p + lp;
    m->level = 0;
    m->depth = PAT_MAXDEPTH;
    m->steps = steps;
    m->error = NULL;
}

bool pat_nospecials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] != '\0' && strchr(SPECIALS, p[i]) != NULL)
            return false;
    return true;
}

/* ---- single-character classes ---- */

/* The C locale's classes, spelled out so the result never depends on
 * the process locale. */
static bool class_match(int c, int cl)
{
    bool r;
    switch (cl | 0x20) {
    case 'a': r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); break;
    case 'c': r = c < 0x20 || c == 0x7f; break;
    case 'd': r = c >= '0' && c <= '9'; break;
    case 'g': r = c > 0x20 && c < 0x7f; break;
    case 'l': r = c >= 'a' && c <= 'z'; break;
    case 'p': r = c > 0x20 && c < 0x7f && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                             (c >= '0' && c <= '9'));
              break;
    case 's': r = c == ' ' || (c >= '\t' && c <= '\r'); break;
    case 'u': r = c >= 'A' && c <= 'Z'; break;
    case 'w': r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); break;
    case 'x': r = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); break;
    case 'z': r = c == 0; break; /* deprecated, still in Lua 5.4 */
    default: return cl == c; /* not a class letter: the character itself */
    }
    if (cl >= 'A' && cl <= 'Z')
        return !r; /* upper case: the complement */
    return r;
}

/* Where the class starting at p ends (its quantifier, if any, is there);
 * NULL with m->error on a malformed class. */
static const char *class_end(struct pat_state *m, const char *p)
{
    unsigned char c = pat_at(m, p++);
    if (c == ESC) {
        if (p >= m->p_end)
            return fail(m, "malformed pattern (ends with '%')"), NULL;
        return p + 1;
    }
    if (c == '[') {
        const char *start = p;
        if (pat_at(m, p) == '^')
            p++;
        do { /* the first character is part of the set even if it is ']' */
            if (p >= m->p_end)
                return fail(m, "malformed pattern (missing ']')"), NULL;
            if (*p++ == ESC && p < m->p_end)
                p++; /* "%]" is not the end */
        } while (pat_at(m, p) != ']');
        return spend(m, (p - start) / 16) ? p + 1 : NULL; /* a long set costs its length */
    }
    return p;
}

/* Is c in the set [p..ec], p at '[' and ec at its ']'? */
static bool set_match(const struct pat_state *m, int c, const char *p, const char *ec)
{
    bool in = true;
    if (pat_at(m, p + 1) == '^') {
        in = false;
        p++;
    }
    while (++p < ec) {
        if (*p == ESC) {
            p++;
            if (class_match(c, pat_at(m, p)))
                return in;
        } else if (pat_at(m, p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p)
                return in;
        } else if ((unsigned char)*p == c) {
            return in;
        }
    }
    return !in;
}

/* Does the subject byte at s match the class p..ep? */
static bool single_match(struct pat_state *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->src_end)
        return false;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return true;
    case ESC:
        return class_match(c, pat_at(m, p + 1));
    case '[':
        return spend(m, (ep - p) / 16) && set_match(m, c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

/* ---- the search ---- */

static const char *match(struct pat_state *m, const char *s, const char *p);

static const char *match_balance(struct pat_state *m, const char *s, const char *p)
{
    if (p >= m->p_end - 1)
        return fail(m, "malformed pattern (missing arguments to '%b')"), NULL;
    if (s >= m->src_end || *s != *p)
        return NULL;
    char open = p[0], close = p[1];
    int depth = 1;
    const char *start = s;
    while (++s < m->src_end) {
        if (*s == close) {
            if (--depth == 0)
                return spend(m, (s - start) / 16) ? s + 1 : NULL;
        } else if (*s == open) {
            depth++;
        }
    }
    spend(m, (s - start) / 16);
    return NULL;
}

static const char *max_expand(struct pat_state *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0;
    while (single_match(m, s + i, p, ep)) {
        i++;
        if (!spend(m, 1))
            return NULL;
    }
    for (; i >= 0; i--) { /* the longest run first, then shorter ones */
        const char *res = match(m, s + i, ep + 1);
        if (res || m->error)
            return res;
    }
    return NULL;
}

static const char *min_expand(struct pat_state *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = match(m, s, ep + 1);
        if (res || m->error)
            return res;
        if (!single_match(m, s, p, ep) || !spend(m, 1))
            return NULL;
        s++; /* one more repetition */
    }
}

static const char *start_capture(struct pat_state *m, const char *s, const char *p, ptrdiff_t what)
{
    if (m->level >= PAT_MAXCAPTURES)
        return fail(m, "too many captures"), NULL;
    m->capture[m->level].init = s;
    m->capture[m->level].len = what;
    m->level++;
    const char *res = match(m, s, p);
    if (res == NULL)
        m->level--; /* undo */
    return res;
}

static const char *end_capture(struct pat_state *m, const char *s, const char *p)
{
    int l = m->level - 1;
    while (l >= 0 && m->capture[l].len != PAT_UNFINISHED)
        l--;
    if (l < 0)
        return fail(m, "invalid pattern capture"), NULL;
    m->capture[l].len = s - m->capture[l].init;
    const char *res = match(m, s, p);
    if (res == NULL)
        m->capture[l].len = PAT_UNFINISHED; /* undo */
    return res;
}

static bool bad_index(struct pat_state *m, int l)
{
    snprintf(m->errbuf, sizeof(m->errbuf), "invalid capture index %%%d", l + 1);
    return fail(m, m->errbuf);
}

/* "%1".."%9": the text of a closed capture again. */
static const char *match_backref(struct pat_state *m, const char *s, int digit)
{
    int l = digit - '1';
    if (l < 0 || l >= m->level || m->capture[l].len == PAT_UNFINISHED)
        return bad_index(m, l), NULL;
    if (m->capture[l].len == PAT_POSITION)
        return NULL; /* Lua compares it as a huge length: never a match */
    size_t len = (size_t)m->capture[l].len;
    if ((size_t)(m->src_end - s) < len || !spend(m, (long)(len / 16)))
        return NULL;
    return memcmp(m->capture[l].init, s, len) == 0 ? s + len : NULL;
}

static const char *match(struct pat_state *m, const char *s, const char *p)
{
    if (m->depth-- == 0) {
        fail(m, "pattern too complex");
        m->depth++;
        return NULL;
    }
again: /* items that need no backtracking loop here instead of recursing */
    if (!spend(m, 1)) {
        s = NULL;
    } else if (p != m->p_end) {
        switch (*p) {
        case '(':
            s = pat_at(m, p + 1) == ')' ? start_capture(m, s, p + 2, PAT_POSITION)
                                        : start_capture(m, s, p + 1, PAT_UNFINISHED);
            break;
        case ')':
            s = end_capture(m, s, p + 1);
            break;
        case '$':
            if (p + 1 != m->p_end)
                goto item; /* not at the end: a literal '$' */
            s = s == m->src_end ? s : NULL;
            break;
        case ESC:
            switch (pat_at(m, p + 1)) {
            case 'b':
                s = match_balance(m, s, p + 2);
                if (s != NULL) {
                    p += 4;
                    goto again;
                }
                break;
            case 'f': {
                p += 2;
                if (pat_at(m, p) != '[') {
                    fail(m, "missing '[' after '%f' in pattern");
                    s = NULL;
                    break;
                }
                const char *ep = class_end(m, p);
                if (ep == NULL) {
                    s = NULL;
                    break;
                }
                int prev = s == m->src_init ? '\0' : (unsigned char)*(s - 1);
                if (!set_match(m, prev, p, ep - 1) && set_match(m, src_at(m, s), p, ep - 1)) {
                    p = ep;
                    goto again;
                }
                s = NULL;
                break;
            }
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                s = match_backref(m, s, pat_at(m, p + 1));
                if (s != NULL) {
                    p += 2;
                    goto again;
                }
                break;
            default:
                goto item;
            }
            break;
        default:
        item: {
            const char *ep = class_end(m, p);
            if (ep == NULL) {
                s = NULL;
                break;
            }
            unsigned char q = pat_at(m, ep);
            if (!single_match(m, s, p, ep)) {
                if (q == '*' || q == '?' || q == '-') { /* zero repetitions are fine */
                    p = ep + 1;
                    goto again;
                }
                s = NULL;
                break;
            }
            switch (q) {
            case '?': {
                const char *res = match(m, s + 1, ep + 1);
                if (res != NULL || m->error) {
                    s = res;
                    break;
                }
                p = ep + 1;
                goto again;
            }
            case '+':
                s = max_expand(m, s + 1, p, ep);
                break;
            case '*':
                s = max_expand(m, s, p, ep);
                break;
            case '-':
                s = min_expand(m, s, p, ep);
                break;
            default: /* exactly once */
                s++;
                p = ep;
                goto again;
            }
            break;
        }
        }
    }
    m->depth++;
    return m->error ? NULL : s;
}

const char *pat_match(struct pat_state *m, const char *s, const char *p)
{
    m->level = 0;
    m->depth = PAT_MAXDEPTH;
    return match(m, s, p);
}

/* ---- captures ---- */

int pat_ncaptures(const struct pat_state *m, bool whole)
{
    return m->level == 0 && whole ? 1 : m->level;
}

ptrdiff_t pat_capture(struct pat_state *m, int i, const char *s, const char *e, const char **cap)
{
    if (i >= m->level) {
        if (i != 0)
            return bad_index(m, i), -1;
        *cap = s;
        return e - s;
    }
    *cap = m->capture[i].init;
    if (m->capture[i].len == PAT_UNFINISHED)
        return fail(m, "unfinished capture"), -1;
    return m->capture[i].len;
}
