/* request_id.c - see request_id.h. An id costs a 16-byte copy out of the
 * thread's pool and a branch-free hex conversion: it is made for every
 * request of a reverse listener. */
#include "request_id.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"

#define ID_BYTES (REQUEST_ID_LEN / 2)
#define POOL_BYTES 4096

struct id_pool {
    size_t used;                /* bytes of pool handed out; POOL_BYTES: empty */
    uint8_t pool[POOL_BYTES];
    /* the fallback when getrandom() fails (it should not on Linux >= 3.17):
     * SipHash of a counter under a key from the clock, still unique */
    bool keyed;
    uint8_t key[SIPHASH_KEY_LEN];
    uint64_t counter;
    bool seeded;                /* request_id_seed: the same ids every run (the lab) */
};

static _Thread_local struct id_pool ids = { .used = POOL_BYTES };

static void fill_fallback(struct id_pool *s)
{
    if (!s->keyed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[2] = { (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20), (uint64_t)getpid() ^ (uintptr_t)s };
        memcpy(s->key, mix, sizeof(s->key));
        s->keyed = true;
    }
    for (size_t i = 0; i < POOL_BYTES; i += SIPHASH_TAG_LEN) {
        struct siphash h;
        uint64_t n = ++s->counter;
        siphash_init(&h, s->key);
        siphash_update(&h, &n, sizeof(n));
        siphash_final(&h, s->pool + i);
    }
}

void request_id_seed(uint64_t seed)
{
    struct id_pool *s = &ids;
    uint64_t key[2] = { seed ^ 0x6c75787972657169ull, ~seed };
    memcpy(s->key, key, sizeof(s->key));
    s->keyed = s->seeded = true;
    s->counter = 0;
    s->used = POOL_BYTES;
}

static void refill(struct id_pool *s)
{
    size_t got = 0;
    while (!s->seeded && got < POOL_BYTES) {
        ssize_t n = getrandom(s->pool + got, POOL_BYTES - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n == -1 && errno == EINTR)
            continue;
        else
            break;
    }
    if (got < POOL_BYTES)
        fill_fallback(s);
    s->used = 0;
}

/* Eight random bytes as 16 hex digits. Which digit comes from which
 * nibble does not matter (the bits are random), so the nibbles are taken
 * as they lie: low ones, then high ones, each byte lane at once. */
#define ONES 0x0101010101010101ull

/* Eight nibbles (0..15, one a byte) as hex digits, all lanes at once. */
static inline uint64_t hex8(uint64_t v)
{
    uint64_t letter = ((v + 6 * ONES) >> 4) & ONES; /* 1 in the lanes holding 10..15 */
    return v + 0x30 * ONES + letter * ('a' - '0' - 10);
}

static inline void hex16(char *out, uint64_t x)
{
    uint64_t lo = hex8(x & 0x0f * ONES), hi = hex8((x >> 4) & 0x0f * ONES);
    memcpy(out, &lo, 8);
    memcpy(out + 8, &hi, 8);
}

void request_id_make(char out[REQUEST_ID_LEN])
{
    struct id_pool *s = &ids;
    if (unlikely(s->used == POOL_BYTES))
        refill(s);
    uint64_t w[2];
    memcpy(w, s->pool + s->used, ID_BYTES);
    s->used += ID_BYTES;
    hex16(out, w[0]);
    hex16(out + 16, w[1]);
}

bool request_id_valid(struct slice s)
{
    if (s.len == 0 || s.len > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=' || c == '@' || c == '~';
        if (!ok)
            return false;
    }
    return true;
}
