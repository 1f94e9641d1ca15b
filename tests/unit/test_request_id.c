/* test_request_id.c - request ids: valid tokens, distinct, and with
 * request_id_seed (the lab) the same sequence every run, across more than
 * one pool of ids. */
#include <stdlib.h>
#include <string.h>

#include "../../core/request_id.h"
#include "tap.h"

#define N 600 /* more than two pools of ids (4096 bytes, 16 an id) */

static bool is_hex(const char *id)
{
    for (size_t i = 0; i < REQUEST_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static unsigned distinct(char (*ids)[REQUEST_ID_LEN], unsigned n)
{
    unsigned unique = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned j = 0;
        while (j < i && memcmp(ids[i], ids[j], REQUEST_ID_LEN) != 0)
            j++;
        unique += j == i;
    }
    return unique;
}

static void run(char (*ids)[REQUEST_ID_LEN])
{
    for (unsigned i = 0; i < N; i++)
        request_id_make(ids[i]);
}

int main(void)
{
    static char a[N][REQUEST_ID_LEN], b[N][REQUEST_ID_LEN], c[N][REQUEST_ID_LEN];
    run(a);
    bool hex = true;
    for (unsigned i = 0; i < N; i++)
        hex &= is_hex(a[i]);
    ok(hex, "random ids are hex digits");
    is_int(distinct(a, N), N, "random ids are distinct");

    request_id_seed(7);
    run(b);
    hex = true;
    for (unsigned i = 0; i < N; i++)
        hex &= is_hex(b[i]);
    ok(hex, "seeded ids are hex digits");
    is_int(distinct(b, N), N, "seeded ids are distinct, past the first pool too");
    request_id_seed(7);
    run(c);
    ok(memcmp(b, c, sizeof(b)) == 0, "the same seed gives the same ids");
    request_id_seed(8);
    run(c);
    ok(memcmp(b, c, REQUEST_ID_LEN) != 0, "another seed gives other ids");
    return tap_done("request_id");
}
