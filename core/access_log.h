/* access_log.h - what the access logs say about a request, and how: one
 * struct access_entry per request (or tunnel), written in each format the
 * configured logs use: "luxy" (luxy's own line), "combined" (the NCSA
 * combined format, escaped as nginx escapes it) or "json" (one object a
 * line). The formatters are pure: an entry in, a complete line out. Every
 * field is escaped and cut to a bound, so a line is always whole, one line,
 * and parseable in its format (json: valid UTF-8, valid JSON). */
#ifndef LUXY_ACCESS_LOG_H
#define LUXY_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luxy.h"

enum access_format { ACCESS_LUXY, ACCESS_COMBINED, ACCESS_JSON, ACCESS_FORMATS };
#define ACCESS_BIT(f) (1u << (f))

/* "luxy", "combined", "json" */
extern const char *const access_format_names[ACCESS_FORMATS];
/* The format called name, or -1. */
int access_format_parse(const char *name);

/* Where one access log goes and in which format (logs { access = ... }). */
struct access_log_config {
    char *dest;                 /* a path, "stdout" or "stderr" */
    enum access_format format;
};

/* At most this many access logs. */
#define ACCESS_LOGS_MAX 8
/* A formatted line is at most this long (newline included). */
#define ACCESS_LINE_MAX 8192

struct access_entry {
    int64_t time_ms;            /* when it was logged: milliseconds since the epoch */
    struct slice client;        /* the client's address (behind trusted proxies: theirs) */
    struct slice user;          /* the proxy user; empty: none */
    struct slice method;        /* empty: the head could not be read, and target is its */
    struct slice target;        /* first line as received (empty: nothing arrived) */
    unsigned major, minor;      /* HTTP version */
    unsigned status;            /* as sent (499: the client left before any response) */
    uint64_t bytes_sent;        /* response body bytes that reached the client's socket */
    uint64_t request_bytes;     /* request body bytes read */
    double duration;            /* seconds, from the complete head to the end */
    double connect_time;        /* seconds to connect the last attempt (0: pooled); < 0: none */
    double ttfb;                /* seconds from the last attempt's start to its first response byte; < 0: none */
    struct slice upstream;      /* empty: none (forward requests, local answers) */
    struct slice backend;       /* the last attempt's address; empty: none */
    unsigned retries;
    struct slice cache;         /* "HIT", "MISS", ...; empty: not through the cache */
    struct slice request_id;    /* empty: none */
    struct slice error;         /* what went wrong; empty: nothing */
    struct slice listener;      /* as configured */
    struct slice user_agent;    /* ptr NULL: the request had none */
    struct slice referer;       /* ptr NULL: the request had none */
    bool tunnel;                /* CONNECT or Upgrade: the fields below */
    uint64_t tunnel_up, tunnel_down;
    struct slice tunnel_end;    /* why it closed */
};

/* Formats needing the User-Agent and Referer fields. */
#define ACCESS_NEED_FIELDS (ACCESS_BIT(ACCESS_COMBINED) | ACCESS_BIT(ACCESS_JSON))

/* Writes e in format f into buf (ACCESS_LINE_MAX bytes), newline
 * included; returns its length. */
size_t access_format_line(enum access_format f, const struct access_entry *e, char *buf);

/* Formats e once for each format the access logs use and queues the lines
 * (log.h); does nothing when there is no access log. */
void access_log_write(const struct access_entry *e);

/* A copy of e whose strings live in the same allocation (free() it). */
struct access_entry *access_entry_copy(const struct access_entry *e);

/* The current wall-clock time in milliseconds since the epoch. */
int64_t access_now_ms(void);

#endif
