/* siphash.c - see siphash.h. Written from the paper's description
 * (https://www.aumasson.jp/siphash/siphash.pdf, the 128-bit variant of the
 * reference code); checked against the reference vectors in
 * tests/unit/test_authcheck.c. */
#include "siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void round2(struct siphash *s)
{
    /* two SipRounds per message word: the "2" of SipHash-2-4 */
    for (int i = 0; i < 2; i++) {
        s->v0 += s->v1;
        s->v1 = ROTL(s->v1, 13);
        s->v1 ^= s->v0;
        s->v0 = ROTL(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = ROTL(s->v3, 16);
        s->v3 ^= s->v2;
        s->v0 += s->v3;
        s->v3 = ROTL(s->v3, 21);
        s->v3 ^= s->v0;
        s->v2 += s->v1;
        s->v1 = ROTL(s->v1, 17);
        s->v1 ^= s->v2;
        s->v2 = ROTL(s->v2, 32);
    }
}

static void absorb(struct siphash *s, uint64_t m)
{
    s->v3 ^= m;
    round2(s);
    s->v0 ^= m;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void siphash_init(struct siphash *s, const uint8_t key[SIPHASH_KEY_LEN])
{
    uint64_t k0 = load64(key), k1 = load64(key + 8);
    s->v0 = k0 ^ 0x736f6d6570736575ull;
    s->v1 = k1 ^ 0x646f72616e646f6dull ^ 0xee; /* 0xee: the 128-bit variant */
    s->v2 = k0 ^ 0x6c7967656e657261ull;
    s->v3 = k1 ^ 0x7465646279746573ull;
    s->tail = 0;
    s->len = 0;
}

void siphash_update(struct siphash *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        s->tail |= (uint64_t)*b++ << (8 * (s->len & 7));
        n--;
        if ((++s->len & 7) == 0) {
            absorb(s, s->tail);
            s->tail = 0;
        }
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void siphash_final(struct siphash *s, uint8_t tag[SIPHASH_TAG_LEN])
{
    absorb(s, s->tail | (uint64_t)(s->len & 0xff) << 56);
    s->v2 ^= 0xee;
    round2(s);
    round2(s); /* four finalization rounds: the "4" */
    put64(tag, s->v0 ^ s->v1 ^ s->v2 ^ s->v3);
    s->v1 ^= 0xdd;
    round2(s);
    round2(s);
    put64(tag + 8, s->v0 ^ s->v1 ^ s->v2 ^ s->v3);
}
