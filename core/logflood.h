/* logflood.h - rate limiting of repeated error-log lines. Of each kind of
 * line (the same level and text, digit runs aside, so another client
 * address or count is still the same kind), the first FLOOD_BURST of a
 * window of FLOOD_WINDOW seconds are written in full; the others are only
 * counted, and when the window ends one line says how many there were.
 * A failing hook or a dead backend cannot fill a disk. Pure: the caller
 * passes the clock and writes what comes out; not thread-safe (log.c calls
 * it under its lock). */
#ifndef LUXY_LOGFLOOD_H
#define LUXY_LOGFLOOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOOD_WINDOW 10.0
#define FLOOD_BURST 5
#define FLOOD_SLOTS 64

struct flood_slot {
    uint64_t key;          /* 0: free */
    double start;          /* the window's start */
    unsigned logged;       /* lines written in full in this window */
    unsigned long suppressed;
    int level;
    char sample[200];      /* the first line of the kind, for the summary */
};

struct flood {
    struct flood_slot slot[FLOOD_SLOTS];
};

/* Called with a slot whose window ended with lines suppressed: its summary
 * is due (flood_summary). */
typedef void (*flood_report)(void *arg, const struct flood_slot *s, double now);

/* The kind of a line: its level and text with digit runs collapsed. */
uint64_t flood_key(int level, const char *text, size_t len);

/* A line of that kind at now: true to write it, false to count it only. */
bool flood_admit(struct flood *f, uint64_t key, int level, const char *text, size_t len, double now,
                 flood_report report, void *arg);

/* Reports (and resets) every window that has ended by now. */
void flood_expire(struct flood *f, double now, flood_report report, void *arg);

/* Reports every window that has lines suppressed, ended or not (at exit). */
void flood_flush(struct flood *f, double now, flood_report report, void *arg);

/* "last message repeated 4,512 times in the last 10 s: <sample>" into buf. */
size_t flood_summary(const struct flood_slot *s, double now, char *buf, size_t cap);

#endif
