/* siphash.h - SipHash-2-4 with a 128-bit tag (Aumasson & Bernstein), fed
 * in pieces: a keyed hash for tables whose keys come from clients, and a
 * short MAC where a secret must not be kept as it is (the credential
 * cache stores the tag of a password, never the password).
 * Invariant: the tag depends only on the key and the concatenated bytes,
 * however they were split between siphash_update calls. */
#ifndef LUXY_SIPHASH_H
#define LUXY_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16
#define SIPHASH_TAG_LEN 16

struct siphash {
    uint64_t v0, v1, v2, v3;
    uint64_t tail;      /* bytes not yet making a whole word, little-endian */
    size_t len;         /* bytes absorbed so far */
};

void siphash_init(struct siphash *s, const uint8_t key[SIPHASH_KEY_LEN]);
void siphash_update(struct siphash *s, const void *p, size_t n);
void siphash_final(struct siphash *s, uint8_t tag[SIPHASH_TAG_LEN]);

#endif
