/* request_id.c - see request_id.h. */
#include "request_id.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"

struct id_state {
    bool seeded;
    uint8_t key[SIPHASH_KEY_LEN];
    uint64_t counter;
};

static _Thread_local struct id_state ids;

static void seed(struct id_state *s)
{
    if (getrandom(s->key, sizeof(s->key), 0) != (ssize_t)sizeof(s->key)) {
        /* no entropy (should not happen on Linux >= 3.17): ids stay unique
         * (the counter), only easier to guess */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[2] = { (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20), (uint64_t)getpid() ^ (uintptr_t)s };
        memcpy(s->key, mix, sizeof(s->key));
    }
    s->seeded = true;
}

void request_id_make(char out[REQUEST_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    struct id_state *s = &ids;
    if (unlikely(!s->seeded))
        seed(s);
    uint64_t n = ++s->counter;
    struct siphash h;
    uint8_t tag[SIPHASH_TAG_LEN];
    siphash_init(&h, s->key);
    siphash_update(&h, &n, sizeof(n));
    siphash_final(&h, tag);
    for (int i = 0; i < SIPHASH_TAG_LEN; i++) {
        out[2 * i] = hex[tag[i] >> 4];
        out[2 * i + 1] = hex[tag[i] & 15];
    }
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
