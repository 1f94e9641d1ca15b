/* authcache.h - the credential cache's table: answers already worked out
 * (good or wrong password), by tag, each until its expiry, in a bounded
 * space. A tag is a keyed hash of (user file, user, password) made by the
 * caller (authcheck.c), so the table never holds a password and its
 * buckets cannot be aimed at by a client.
 * Not thread-safe: the caller holds its lock around every call.
 * Invariant: at most max entries; a wrong-password entry never pushes out
 * a good one (a flood of wrong passwords cannot evict the users who
 * logged in); tags are compared in constant time. */
#ifndef LUXY_AUTHCACHE_H
#define LUXY_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTHCACHE_TAG_LEN 16

struct authcache;

struct authcache *authcache_new(size_t max);
void authcache_free(struct authcache *c);

/* 1: remembered good, 0: remembered wrong, -1: nothing (an expired entry
 * is removed). A hit becomes the most recently used. */
int authcache_get(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], double now);
/* Remembers the answer until expires. When full, the least recently used
 * wrong answer goes first; a good answer goes only for another good one
 * (or when it has expired); so a wrong answer may not be remembered. */
void authcache_put(struct authcache *c, const uint8_t tag[AUTHCACHE_TAG_LEN], bool ok,
                   double expires, double now);
size_t authcache_count(const struct authcache *c);

/* Constant-time equality of n bytes (credentials, tags). */
bool authcache_ct_eq(const void *a, const void *b, size_t n);

#endif
