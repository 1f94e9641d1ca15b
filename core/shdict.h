/* shdict.h - a bounded key -> value store shared by every worker thread
 * (what luxy.shared hands to scripts; docs/shared.md).
 *
 * Keys are byte strings of 1 to SHDICT_KEY_MAX bytes; values are strings,
 * integers, floats or booleans, each with an optional expiry time.
 * Invariant: the bytes in use (SHDICT_ENTRY_OVERHEAD + key + string value
 * per entry) never exceed the capacity (the declared size less the hash
 * index); a write that does not fit evicts what it needs: entries whose
 * expiry passed first, then the least recently used.
 *
 * Threads: one mutex per dictionary, held only for the operation's own
 * bounded work (hashing happens before it, entries are built before it and
 * freed after it); nothing calls out while holding it. An entry whose
 * expiry passed reads as absent; it is removed when an operation meets it,
 * and every operation removes a few more, earliest deadline first.
 * Time is whatever monotonic clock the caller passes as `now` (seconds). */
#ifndef LUXY_SHDICT_H
#define LUXY_SHDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "luxy.h"

#define SHDICT_KEY_MAX 65535
#define SHDICT_MIN_SIZE (64u << 10)
#define SHDICT_MAX_SIZE (64ull << 30)
/* What an entry costs beyond its key and string value: its struct, its
 * slot in the expiry heap and the allocator's own header, rounded up. */
#define SHDICT_ENTRY_OVERHEAD 80
#define SHDICT_NAME_MAX 64

struct shdict;

enum shdict_type { SHDICT_NIL, SHDICT_BOOL, SHDICT_INT, SHDICT_FLOAT, SHDICT_STRING };

/* A value going in (a string is borrowed for the call) or coming out (a
 * string points into the caller's struct shdict_buf). */
struct shdict_value {
    enum shdict_type type;
    union {
        bool b;
        int64_t i;
        double f;
        struct slice s;
    } u;
};

/* Where string values are copied out; grown as needed, owned by the
 * caller (one per thread: it is not locked). */
struct shdict_buf {
    char *ptr;
    size_t cap;
};

enum shdict_status {
    SHDICT_OK = 0,
    SHDICT_NOT_FOUND,   /* absent (or expired) */
    SHDICT_EXISTS,      /* add: the key is there */
    SHDICT_NOT_NUMBER,  /* incr: the value is not a number */
    SHDICT_MISMATCH,    /* cas: the value is not the expected one */
    SHDICT_TOO_BIG,     /* the entry is bigger than the whole dictionary */
    SHDICT_BAD_KEY,     /* empty or longer than SHDICT_KEY_MAX */
};

struct shdict_stats {
    size_t size;        /* as declared */
    size_t capacity;    /* what entries may use: size less the hash index */
    size_t used;        /* bytes entries use now */
    size_t count;       /* entries, including expired ones not removed yet */
    uint64_t evicted;   /* removed to make room while still valid */
    uint64_t expired;   /* removed after their expiry */
};

/* A dictionary of size bytes (SHDICT_MIN_SIZE to SHDICT_MAX_SIZE; clamped)
 * named name (copied). Never NULL (xmalloc). */
struct shdict *shdict_new(const char *name, size_t size);
void shdict_free(struct shdict *d);
const char *shdict_name(const struct shdict *d);
/* The bytes an entry with this key and string value length is charged. */
size_t shdict_entry_cost(size_t klen, size_t vlen);

/* OK with *out (a string copied into buf), or NOT_FOUND (out->type NIL). */
int shdict_get(struct shdict *d, struct slice key, double now, struct shdict_value *out,
               struct shdict_buf *buf);
/* Stores v for ttl seconds (0: no expiry); a NIL v deletes. OK, TOO_BIG. */
int shdict_set(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl, double now);
/* Only if absent: OK, EXISTS, TOO_BIG. */
int shdict_add(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl, double now);
/* Only if present: OK, NOT_FOUND, TOO_BIG. */
int shdict_replace(struct shdict *d, struct slice key, const struct shdict_value *v, double ttl,
                   double now);
/* Atomically adds delta (INT or FLOAT; Lua's arithmetic: integer + integer
 * wraps around, anything with a float is a float) and gives the new value
 * in *out. Absent: with init (not NULL) the entry is created as
 * init + delta with init_ttl, else NOT_FOUND. The expiry of an existing
 * entry is kept. OK, NOT_FOUND, NOT_NUMBER, TOO_BIG. */
int shdict_incr(struct shdict *d, struct slice key, const struct shdict_value *delta,
                const struct shdict_value *init, double init_ttl, double now, struct shdict_value *out);
/* Atomically: if the value equals expected (NIL: the key is absent; numbers
 * compare as Lua compares them, 1 == 1.0), store v for ttl seconds (NIL:
 * delete) and return OK; else MISMATCH with the value found in *current
 * (when not NULL; its string in buf). TOO_BIG as for set. */
int shdict_cas(struct shdict *d, struct slice key, const struct shdict_value *expected,
               const struct shdict_value *v, double ttl, double now, struct shdict_value *current,
               struct shdict_buf *buf);
/* OK or NOT_FOUND. */
int shdict_delete(struct shdict *d, struct slice key, double now);
/* Seconds left in *left (0: no expiry): OK, or NOT_FOUND. */
int shdict_ttl(struct shdict *d, struct slice key, double now, double *left);
/* A new expiry, ttl seconds from now (0: none): OK or NOT_FOUND. */
int shdict_expire(struct shdict *d, struct slice key, double ttl, double now);
/* Empties the dictionary; returns how many entries it held. The entries
 * are freed after the lock is let go. */
size_t shdict_flush_all(struct shdict *d);
void shdict_stats(struct shdict *d, struct shdict_stats *out);

/* A short text for a status ("not found", "too big", ...). */
const char *shdict_strerror(int status);
void shdict_buf_free(struct shdict_buf *buf);

#endif
