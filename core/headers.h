/* headers.h - a message's header fields as {name, value} slices, and the
 * proxy's rules for them: hop-by-hop removal (RFC 9110 7.6.1) and the
 * forwarding headers (Via, X-Forwarded-For, X-Forwarded-Proto).
 * Pure: no sockets; new strings come from the caller's arena. */
#ifndef LUXY_HEADERS_H
#define LUXY_HEADERS_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "luxy.h"
#include "wbuf.h"

/* The field names the core itself reads or writes, spelled once. */
extern const struct slice H_HOST, H_CONTENT_LENGTH, H_CONTENT_TYPE, H_TRANSFER_ENCODING,
    H_CONNECTION, H_DATE, H_CACHE_CONTROL, H_VIA, H_UPGRADE, H_PROXY_AUTHORIZATION;

/* RFC 9110 5.6.2 token characters (header names, methods, tokens). */
extern const uint8_t headers_tchar[256];
static inline bool headers_is_tchar(unsigned char c)
{
    return headers_tchar[c] != 0;
}

struct header {
    struct slice name, value;
};

struct headers {
    struct header *v; /* arena memory */
    unsigned n, cap;
};

void headers_init(struct headers *h);
void headers_add(struct headers *h, struct arena *a, struct slice name, struct slice value);
/* A copy of h's field array (the slices still point where h's do). */
struct headers headers_copy(const struct headers *h, struct arena *a);
/* Index of the first field named name at or after from, or -1. */
int headers_find(const struct headers *h, struct slice name, unsigned from);
/* headers_find(h, name, 0) for a name looked for on every request: the
 * lengths are compared inline, so a field of another length costs no call. */
static inline int headers_find_quick(const struct headers *h, struct slice name)
{
    for (unsigned i = 0; i < h->n; i++)
        if (h->v[i].name.len == name.len && slice_caseeq(h->v[i].name, name.ptr, name.len))
            return (int)i;
    return -1;
}
/* The first value of name, or SLICE_NULL (ptr NULL) when absent. */
struct slice headers_get(const struct headers *h, struct slice name);
/* Removes every field named name; returns how many. */
unsigned headers_del(struct headers *h, struct slice name);
/* Replaces the first field named name (removing the others) or adds it. */
void headers_set(struct headers *h, struct arena *a, struct slice name, struct slice value);
/* Is token (case-insensitive) one element of the comma-separated list in
 * any field named name? E.g. headers_has_token(h, "Connection", "close"). */
bool headers_has_token(const struct headers *h, struct slice name, struct slice token);

/* Valid field name (RFC 9110 token) / value (no CR, LF, NUL, controls but
 * HTAB); used for names and values set by scripts. */
bool headers_valid_name(struct slice name);
bool headers_valid_value(struct slice value);

/* Removes the hop-by-hop fields: Connection and every field it names (but
 * never Host), Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade (kept with HOP_KEEP_UPGRADE: a tunnel is being set up), every
 * Proxy-* field (Proxy-Authorization kept with HOP_KEEP_PROXY_AUTH, for
 * on_request to check; the caller removes it afterwards). Content-Length
 * is left alone: framing is decided elsewhere. */
#define HOP_KEEP_UPGRADE 1u
#define HOP_KEEP_PROXY_AUTH 2u
void headers_strip_hop_by_hop(struct headers *h, unsigned keep);

/* Appends client_ip to X-Forwarded-For (one field, comma list) and sets
 * X-Forwarded-Proto. */
void headers_add_forwarded_for(struct headers *h, struct arena *a, struct slice client_ip,
                               struct slice proto);
/* Adds "Via: 1.1 <pseudonym>" as its own field. */
void headers_add_via(struct headers *h, struct arena *a, struct slice pseudonym);

/* Bytes needed to write every field as "Name: value\r\n". */
size_t headers_size(const struct headers *h);
/* Writes every field as "Name: value\r\n". */
void headers_write(const struct headers *h, struct wbuf *w);

#endif
