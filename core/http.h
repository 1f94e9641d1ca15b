/* http.h - HTTP/1.1 message heads: a strict incremental scanner that finds
 * the end of a head and rejects what could smuggle (bare LF, bare CR, NUL,
 * obs-fold, space before the colon), then http-parser to read the head and
 * decide the body's framing. Pure: bytes in, decisions out. */
#ifndef LUXY_HTTP_H
#define LUXY_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "headers.h"
#include "luxy.h"

struct http_limits {
    size_t head_max;     /* whole head: 431 (requests) beyond it */
    size_t line_max;     /* request line: 414 beyond it */
    unsigned fields_max; /* header fields: 431 beyond it */
};

/* Scanner state for one head; zero it before the first call, then set
 * response for a status line rather than a request line. */
struct http_scan {
    size_t pos;        /* bytes already checked */
    size_t line_start; /* where the current line began */
    unsigned lines;    /* complete lines so far */
    bool response;
};

enum http_scan_result { SCAN_MORE, SCAN_DONE, SCAN_BAD };

/* Checks p[0..n) from where the last call stopped (n only grows between
 * calls, p may move). SCAN_DONE: *head_len = bytes up to and including the
 * blank line. SCAN_BAD: *status is 400, 414 or 431 and *err says why.
 * Leading empty lines must have been skipped by the caller. Whole lines
 * are found with memchr and checked at once; anything unusual goes to
 * http_scan_bytewise. */
enum http_scan_result http_scan(struct http_scan *s, const char *p, size_t n,
                                const struct http_limits *lim, size_t *head_len, int *status,
                                const char **err);
/* The same contract, one byte at a time: the path http_scan falls back
 * to, and the reference the tests hold it to (same verdict, status,
 * reason and head length for every input, however it is split). */
enum http_scan_result http_scan_bytewise(struct http_scan *s, const char *p, size_t n,
                                         const struct http_limits *lim, size_t *head_len, int *status,
                                         const char **err);

struct http_head {
    /* request line */
    unsigned method; /* enum http_method */
    struct slice target;
    /* status line */
    unsigned status;
    struct slice reason;
    unsigned short major, minor;
    struct headers headers;
    /* framing, as the message declared it */
    uint64_t content_length; /* when has_length */
    bool has_length;
    bool chunked;
    bool keep_alive; /* the sender allows another message on the connection */
    bool upgrade;    /* CONNECT, or Connection: upgrade with Upgrade (101 for responses) */
    bool complete;   /* no body follows the head */
};

/* The reading both share, without the request or response rules: 0, or
 * http-parser's errno with *err set. no_body as for responses below. */
int http_parse_head(http_parser *parser, enum http_parser_type type, const char *head, size_t len,
                    bool no_body, struct http_head *out, struct arena *a, const char **err);

/* Parses a scanned request head held in stable memory (the arena copy);
 * header slices point into it, each field tagged with its id. The fields
 * are split here (the scanner has made every line clean); http-parser
 * reads the start line and the fields that decide framing and
 * persistence, which is all it acts on. Leaves parser ready for the body.
 * Returns 0, or an HTTP status (400, 501, 505) with *err set. */
int http_parse_request(http_parser *parser, const char *head, size_t len, struct http_head *out,
                       struct arena *a, const char **err);

/* Same for a response; no_body: the request was HEAD (the response has no
 * body whatever its headers say). 1xx, 204 and 304 never have one.
 * Returns 0 or -1 with *err set (the caller answers 502). */
int http_parse_response(http_parser *parser, const char *head, size_t len, bool no_body,
                        struct http_head *out, struct arena *a, const char **err);

/* RFC 9110 6.4.1 / RFC 9112 6.3: 1xx, 204 and 304 responses never have a
 * body; a response to HEAD has none whatever its status. The one place for
 * that rule. */
static inline bool http_status_has_body(unsigned status)
{
    return status / 100 != 1 && status != 204 && status != 304;
}
static inline bool http_response_has_body(unsigned method, unsigned status)
{
    return method != HTTP_HEAD && http_status_has_body(status);
}

/* The reason phrase of a status ("Bad Gateway"), "Unknown" if none. */
const char *http_reason(unsigned status);

/* A request target split for routing. */
struct http_target {
    struct slice scheme; /* absolute-form only: "http" */
    struct slice host;   /* absolute-form / authority-form: the host, no brackets */
    uint16_t port;       /* 0 for origin-form */
    struct slice path;   /* "/a/b" ("/" when absent); empty for CONNECT */
    struct slice query;  /* without '?'; ptr NULL when absent */
    bool absolute;       /* absolute-form: http://host[:port]/path */
};

/* Splits head->target according to the method. Returns 0, or a status
 * (400, 501) with *err set. */
int http_split_target(const struct http_head *head, struct http_target *t, const char **err);

#endif
