/* tap.h - the smallest test harness: ok(cond, name), is_int, is_str and a
 * closing line "N passed, N failed"; the exit status tells the Makefile. */
#ifndef LUXY_TAP_H
#define LUXY_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_passed, tap_failed;

#define ok(cond, ...)                                                        \
    do {                                                                     \
        if (cond) {                                                          \
            tap_passed++;                                                    \
        } else {                                                             \
            tap_failed++;                                                    \
            printf("not ok %s:%d: ", __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
    } while (0)

#define is_int(got, want, name)                                              \
    do {                                                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);             \
        ok(g_ == w_, "%s: got %lld, want %lld", (name), g_, w_);             \
    } while (0)

#define is_str(got, want, name)                                              \
    do {                                                                     \
        const char *g_ = (got), *w_ = (want);                                \
        ok(g_ && w_ && strcmp(g_, w_) == 0, "%s: got '%s', want '%s'",       \
           (name), g_ ? g_ : "(null)", w_ ? w_ : "(null)");                  \
    } while (0)

/* Call last in main(): prints the summary and gives the exit status. */
static inline int tap_done(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, tap_passed, tap_failed);
    return tap_failed ? 1 : 0;
}

#endif
