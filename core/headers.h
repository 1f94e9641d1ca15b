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

/* Small numbers for the names the core looks at, given to every field
 * when it is added (headers_add), so rules compare numbers, not strings.
 * An id other than HDR_OTHER and HDR_PROXY_OTHER means exactly that name
 * (case-insensitive); those two are classes whose members still differ by
 * spelling. Every field of a list carries the id of its name: code that
 * builds fields by hand copies it or calls headers_id. */
enum header_id {
    HDR_OTHER = 0,
    HDR_HOST,
    HDR_CONTENT_LENGTH,
    HDR_CONTENT_TYPE,
    HDR_TRANSFER_ENCODING,
    HDR_CONNECTION,
    HDR_PROXY_CONNECTION,
    HDR_KEEP_ALIVE,
    HDR_TE,
    HDR_TRAILER,
    HDR_UPGRADE,
    HDR_PROXY_AUTHORIZATION,
    HDR_PROXY_AUTHENTICATE,
    HDR_DATE,
    HDR_CACHE_CONTROL,
    HDR_VIA,
    HDR_X_FORWARDED_FOR,
    HDR_X_FORWARDED_PROTO,
    HDR_USER_AGENT,
    HDR_REFERER,
    HDR_PROXY_OTHER, /* any other Proxy-* name */
    HDR__COUNT
};

/* The id of name (HDR_OTHER when it is none of the above). */
uint8_t headers_id(struct slice name);

/* Does a field with id fid and name fname carry the name (name, id)? */
static inline bool headers_same_name(uint8_t fid, struct slice fname, uint8_t id, struct slice name)
{
    return fid == id && ((id != HDR_OTHER && id != HDR_PROXY_OTHER) ||
                         (fname.len == name.len && slice_caseeq(fname, name.ptr, name.len)));
}

struct header {
    struct slice name, value;
    uint8_t id; /* enum header_id of name */
};

struct headers {
    struct header *v; /* arena memory */
    unsigned n, cap;
};

void headers_init(struct headers *h);
void headers_add(struct headers *h, struct arena *a, struct slice name, struct slice value);
/* Makes room for one more field (the array doubles, in the arena). */
void headers_grow(struct headers *h, struct arena *a);
/* headers_add with the id already known (id == headers_id(name)). */
static inline void headers_add_id(struct headers *h, struct arena *a, struct slice name, uint8_t id,
                                  struct slice value)
{
    if (h->n == h->cap)
        headers_grow(h, a);
    h->v[h->n++] = (struct header){ name, value, id };
}
/* A copy of h's field array (the slices still point where h's do). */
struct headers headers_copy(const struct headers *h, struct arena *a);
/* Index of the first field named name at or after from, or -1. */
int headers_find(const struct headers *h, struct slice name, unsigned from);
/* The same for a well-known name by its id (not HDR_OTHER, HDR_PROXY_OTHER):
 * one byte compared per field. */
static inline int headers_find_id(const struct headers *h, uint8_t id, unsigned from)
{
    for (unsigned i = from; i < h->n; i++)
        if (h->v[i].id == id)
            return (int)i;
    return -1;
}
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
/* The same for a well-known name by its id (as headers_find_id). */
unsigned headers_del_id(struct headers *h, uint8_t id);
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
