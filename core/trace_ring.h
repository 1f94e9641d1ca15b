/* trace_ring.h - the traces of finished requests, for the admin listener
 * (GET /api/traces) and `luxy trace`. A request is traced when it carries
 * the trace field (Luxy-Trace) from a network an admin listener allows
 * (with the listener's token as its value when it has one), or while
 * someone follows the live stream: each poll of /api/traces keeps every
 * request traced for the next TRACE_FOLLOW_SECONDS. Finished traces go
 * into a ring of the last TRACE_RING_SIZE, process-wide, as JSON with
 * the fields a filter matches on. */
#ifndef LUXY_TRACE_RING_H
#define LUXY_TRACE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "jsonw.h"
#include "luxy.h"

struct request;

#define TRACE_RING_SIZE 512
#define TRACE_FOLLOW_SECONDS 3
#define TRACE_FIELD "Luxy-Trace"

/* Until when (server_now_ms) every request is traced; 0: nobody follows. */
extern _Atomic uint64_t trace_follow_until_ms;

/* The request carries the trace field, from a network an admin listener
 * allows (only asked where the configuration has an admin listener). */
bool trace_field_accepted(const struct request *r);

/* r is over: its trace goes into the ring (and its sequence number into
 * r's response field, when it asked with the trace field: set earlier by
 * trace_number). */
void trace_publish(struct request *r);
/* The number r's trace will have in the ring (reserved at its start). */
uint64_t trace_number(struct request *r);

/* A filter: space-separated key=value terms, all of which must match:
 * host=, path= (a trailing * matches a prefix), method=, status= (404 or
 * 5xx), upstream=, backend=, client=. NULL and *err when it cannot be
 * read. */
struct trace_filter;
struct trace_filter *trace_filter_parse(const char *text, size_t n, const char **err);
void trace_filter_free(struct trace_filter *f);
/* Do a trace's fields (host, path, method, status, upstream, backend,
 * client: NUL-terminated) match f (NULL matches all)? */
#define TRACE_FILTER_FIELDS 7
bool trace_filter_matches(const struct trace_filter *f, char *const fields[TRACE_FILTER_FIELDS]);

/* Appends to w (inside an array) the traces numbered above *since that
 * match f (NULL: all), at most max; *since becomes the last number seen.
 * With follow, every request is traced for the next few seconds. */
void trace_ring_read(struct jw *w, uint64_t *since, const struct trace_filter *f, unsigned max, bool follow);
/* The trace numbered n as JSON into w; false when it is not (any more) in the ring. */
bool trace_ring_get(struct jw *w, uint64_t n);

#endif
