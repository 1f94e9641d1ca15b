/* cachectl.h - RFC 9111 decisions for a shared cache, as pure functions:
 * parsing Cache-Control (and CDN-Cache-Control, RFC 9213), HTTP dates,
 * Age and Vary; whether a response may be stored and for how long;
 * how old a stored response is; whether a request accepts it; and
 * conditional requests. No I/O, no clock of its own: times come in as
 * seconds since the epoch. Everything tolerant exactly where the RFCs say
 * (invalid freshness information means stale). */
#ifndef LUXY_CACHECTL_H
#define LUXY_CACHECTL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "headers.h"

#define CC_ABSENT (-1)        /* a delta-seconds directive that is not there */
#define CC_DELTA_MAX 2147483648LL /* RFC 9111 1.2.2: larger values become 2^31 */

/* The directives of one message (all its field lines of one field). */
struct cache_control {
    bool present;             /* at least one field line */
    bool no_store, no_cache, private_, public_, must_revalidate, proxy_revalidate;
    bool no_transform, immutable, only_if_cached, must_understand;
    bool invalid;             /* a freshness directive was duplicated or malformed: stale */
    bool max_stale_any;       /* request max-stale without a value */
    int64_t max_age, s_maxage, stale_while_revalidate, stale_if_error, max_stale, min_fresh;
};

/* Parses every field line named name (Cache-Control, CDN-Cache-Control).
 * Directive names are case-insensitive, unknown ones ignored, quoted
 * values accepted ("max-age=\"5\""); a freshness directive given twice
 * with different values, or with a value that is not a non-negative
 * integer, sets invalid (RFC 9111 4.2.1: consider the response stale). */
void cc_parse(struct cache_control *cc, const struct headers *h, struct slice name);

/* HTTP-date in any of the three formats a recipient must accept (IMF-fixdate,
 * RFC 850, asctime). False when it is none of them. */
bool http_date_parse(struct slice s, time_t *out);
/* Formats t as IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); 29 bytes + NUL. */
size_t http_date_format(time_t t, char out[32]);

/* Age: the first member of the list if it is a non-negative integer;
 * otherwise (a float, a negative, junk) -1: ignored (RFC 9111 5.1). */
int64_t cache_age_value(const struct headers *h);

/* Why a response is or is not stored. */
enum cache_store_verdict {
    STORE_OK,
    STORE_NO_STORE,           /* no-store in the request or the response */
    STORE_PRIVATE,            /* private: for one user, not a shared cache */
    STORE_AUTHORIZATION,      /* a request with Authorization, and no public/s-maxage/must-revalidate */
    STORE_METHOD,             /* not GET or HEAD */
    STORE_STATUS,             /* a status this cache does not store (or 206) */
    STORE_NO_FRESHNESS,       /* neither explicit freshness, nor a heuristic, nor a validator */
    STORE_VARY_STAR,          /* Vary: * never matches */
    STORE_SET_COOKIE,         /* Set-Cookie, and no script allowed it */
};

const char *cache_store_verdict_text(enum cache_store_verdict v);

/* What a shared cache knows of a response it considers storing, computed
 * once at store time. */
struct cache_meta {
    enum cache_store_verdict verdict;
    int64_t freshness;        /* freshness lifetime in seconds (0: stale at once) */
    bool heuristic;           /* freshness came from Last-Modified */
    bool no_cache;            /* stored, but revalidated before every use */
    bool must_revalidate;     /* never served stale (must-/proxy-revalidate, s-maxage) */
    int64_t swr, sie;         /* stale-while-revalidate / stale-if-error seconds, or CC_ABSENT */
    time_t date;              /* Date, or the response time when absent or invalid */
    int64_t age;              /* Age, or -1 */
    bool has_validator;       /* ETag or Last-Modified */
};

/* Settings of the cache that the decisions depend on. */
struct cache_rules {
    double heuristic_fraction;     /* of (Date - Last-Modified); RFC 9111 suggests 10% */
    int64_t heuristic_max;         /* seconds */
    bool allow_set_cookie;         /* a script said so */
    struct slice targeted;         /* RFC 9213 field that overrides Cache-Control, or empty */
    struct slice own_targeted;     /* a second one (e.g. Luxy-Cache-Control), checked first */
};

/* Decides whether the response (status, its fields) to a request (method,
 * its fields) may be stored, and computes its metadata. now is the
 * response time. */
void cache_decide(struct cache_meta *m, const struct cache_rules *rules, unsigned method,
                  const struct headers *req, unsigned status, const struct headers *resp, time_t now);

/* Is a status one a shared cache stores with heuristic freshness (RFC 9110
 * 15.1: 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501)? */
bool cache_status_heuristic(unsigned status);

/* RFC 9111 4.2.3: the corrected initial age of a response received at
 * response_time for a request sent at request_time (seconds since the
 * epoch, with their fractions: whole seconds would add up to a second of
 * age that never was). */
double cache_initial_age(const struct cache_meta *m, double request_time, double response_time);

/* What a request asks of a stored response (its Cache-Control and Pragma). */
struct cache_request {
    bool no_cache;            /* revalidate first (no-cache, or Pragma: no-cache) */
    bool no_store;
    bool only_if_cached;
    int64_t max_age, max_stale, min_fresh; /* CC_ABSENT when not given */
    bool max_stale_any;
};

void cache_request_parse(struct cache_request *cr, const struct headers *req);

enum cache_use {
    USE_FRESH,                /* serve it */
    USE_STALE_REVALIDATE,     /* serve it stale, refresh in the background (stale-while-revalidate) */
    USE_REVALIDATE,           /* ask the origin first (conditional request) */
    USE_STALE_IF_ERROR,       /* only if the origin fails (stale-if-error / grace) */
};

/* How a stored response of current age `age` may be used for request cr.
 * grace: seconds of staleness the configuration allows when the origin
 * fails (0: none). */
enum cache_use cache_usable(const struct cache_meta *m, const struct cache_request *cr, int64_t age,
                            int64_t grace);
/* May a stale response still be served when the origin errors, at age? */
bool cache_stale_if_error_ok(const struct cache_meta *m, int64_t age, int64_t grace);

/* A client's conditional request against a stored response: true when the
 * answer is 304 Not Modified (If-None-Match with weak comparison, else
 * If-Modified-Since). */
bool cache_not_modified(const struct headers *req, const struct headers *stored);

/* A single byte range of a stored response of length len (RFC 9110 14):
 * "bytes=a-b", "bytes=a-", "bytes=-n", and an If-Range that must match the
 * stored ETag or Last-Modified. RANGE_NONE: serve the whole response (no
 * Range, several ranges, another unit, a failed If-Range, junk);
 * RANGE_OK with the first and last byte; RANGE_UNSATISFIABLE: 416. */
enum http_range { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };
enum http_range http_range_parse(const struct headers *req, const struct headers *stored, uint64_t len,
                                 uint64_t *first, uint64_t *last);

/* The Vary field names of a response, lower-cased, without duplicates,
 * in order: writes "a\nb\n" into out (cap bytes); returns its length, or
 * -1 for "Vary: *" or a member that is not a field name (nothing matches
 * it), or when out is too small. */
int cache_vary_names(const struct headers *resp, char *out, size_t cap);

/* The request's value for one Vary field name: every field line of it,
 * combined with ", ", whitespace around commas removed and the ends
 * trimmed (RFC 9111 4.1); absent is "\x01" (distinct from an empty value).
 * Returns its length in out, or -1 when out is too small. */
int cache_vary_value(const struct headers *req, struct slice name, char *out, size_t cap);

#endif
