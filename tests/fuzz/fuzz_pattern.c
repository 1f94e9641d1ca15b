/* fuzz_pattern.c - luxy's Lua patterns against Lua's own: for any subject,
 * pattern and replacement, string.find, match, gmatch and gsub (with a
 * string, a function or a table) must give the same results and the same
 * errors in luxy's sandboxed state as in a plain Lua state. Inputs whose
 * search needs more than the budget are only run in luxy's state (Lua's
 * own matcher could take minutes on them: that is the point of the
 * budget), where they must stop cleanly.
 *
 * Input: op byte, argument byte, then subject 0xFE pattern 0xFE replacement. */
#include <stdint.h>
#include <stdlib.h>

#include "../../core/log.h"
#include "../unit/lua_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lua_diff diff;
static int ready;

static const uint8_t *field(const uint8_t **p, const uint8_t *end, size_t *len, size_t max)
{
    const uint8_t *start = *p, *sep = memchr(start, 0xfe, (size_t)(end - start));
    const uint8_t *stop = sep ? sep : end;
    *len = (size_t)(stop - start) < max ? (size_t)(stop - start) : max;
    *p = sep ? sep + 1 : end;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        char err[64];
        log_open("/dev/null", NULL, 0, LL_ERROR, err, sizeof(err));
        if (lua_diff_init(&diff, 200000) != 0)
            abort();
        ready = 1;
    }
    if (size < 2)
        return 0;
    int op = data[0] % 6;
    int arg = (int8_t)data[1];
    const uint8_t *p = data + 2, *end = data + size;
    size_t sl, pl, al;
    const uint8_t *s = field(&p, end, &sl, 200);
    const uint8_t *pat = field(&p, end, &pl, 48);
    const uint8_t *a = field(&p, end, &al, 32);
    char ours[4096], ref[4096];
    int kind = op == 2 ? 1 : (arg % 3 == 0 ? 0 : 2);
    long long b = op == 0 ? (arg & 1) : (op >= 2 && op <= 4 && (arg & 4)) ? arg % 5 : -999;
    if (lua_diff_run(&diff, op, (const char *)s, sl, (const char *)pat, pl, (const char *)a, al,
                     arg / 3, kind, b, ours, ref, sizeof(ours)))
        return 0; /* over the budget: stopped, as it should */
    if (strcmp(ours, ref) != 0) {
        fprintf(stderr, "op %d: luxy '%s'\n      lua  '%s'\n", op, ours, ref);
        abort();
    }
    lua_gc(diff.ours->L, LUA_GCSTEP, 0);
    return 0;
}
