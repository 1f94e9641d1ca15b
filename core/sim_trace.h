/* sim_trace.h - access logs as the simulator's input: one line of luxy's
 * "json", "luxy" or "combined" access log (docs/operations.md) into the
 * request it records, and a whole file into requests ordered by when they
 * began. The parser is a pure function of the line (fuzz target
 * "sim_trace"). */
#ifndef LUXY_SIM_TRACE_H
#define LUXY_SIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* The longest line read; longer ones are skipped (luxy writes at most
 * ACCESS_LINE_MAX). */
#define SIM_TRACE_LINE_MAX 16384

struct sim_trace_rec {
    double time;          /* seconds since the epoch, when the line was written */
    double duration;      /* seconds the request took ("json", "luxy"); 0 when not logged */
    const char *method;   /* NUL-terminated, decoded; NULL when absent */
    const char *target;
    const char *client;
    const char *user_agent;
    const char *referer;
    const char *listener;
    unsigned status;
    uint64_t bytes;       /* response body bytes */
};

/* Parses line[0..len) (no newline) into r. The strings are written to buf,
 * which has at least len + 1 bytes. 0, or -1 when the line is not a
 * request in a known format (a tunnel, an unreadable head, garbage). */
int sim_trace_parse(const char *line, size_t len, char *buf, struct sim_trace_rec *r);

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone). */
int64_t sim_days_from_civil(int64_t y, unsigned m, unsigned d);

/* A trace file, read whole: requests by start (time - duration; requests
 * logged within one second of a "combined" line spread over it). */
struct sim_request_rec {
    double start;         /* seconds since the epoch */
    const char *method, *target, *client, *user_agent, *referer, *listener;
    uint64_t bytes;
};

struct sim_trace {
    struct sim_request_rec *recs;
    size_t n;
    size_t lines, skipped;
    struct sim_strings *strings;  /* every string once */
};

/* 0, or -1 and err (the file cannot be read). */
int sim_trace_load(struct sim_trace *t, const char *path, char *err, size_t errlen);
void sim_trace_free(struct sim_trace *t);

#endif
