/* test_shdict.c - the shared dictionary's C store: every operation and its
 * value types, expiry on an injected clock (lazy, swept, expired entries
 * evicted first), LRU eviction at the size, byte-exact memory accounting
 * back to zero, items too big to ever fit, a randomized run against a
 * model, and incr / cas from several threads adding up exactly. Ends with
 * a micro-benchmark (printed, not asserted). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../core/luxy.h"
#include "../../core/shdict.h"
#include "tap.h"

static struct slice K(const char *s)
{
    return slice_make(s, strlen(s));
}

static struct shdict_value STR(const char *s)
{
    return (struct shdict_value){ .type = SHDICT_STRING, .u.s = slice_make(s, strlen(s)) };
}

static struct shdict_value INT(int64_t i)
{
    return (struct shdict_value){ .type = SHDICT_INT, .u.i = i };
}

static struct shdict_value FLT(double f)
{
    return (struct shdict_value){ .type = SHDICT_FLOAT, .u.f = f };
}

static struct shdict_value BOOL(bool b)
{
    return (struct shdict_value){ .type = SHDICT_BOOL, .u.b = b };
}

static const struct shdict_value NIL = { .type = SHDICT_NIL };

static struct shdict_buf buf;

static size_t used(struct shdict *d)
{
    struct shdict_stats st;
    shdict_stats(d, &st);
    return st.used;
}

static size_t count(struct shdict *d)
{
    struct shdict_stats st;
    shdict_stats(d, &st);
    return st.count;
}

/* The string stored at key, or NULL (in buf). */
static const char *get_str(struct shdict *d, const char *key, double now)
{
    static char text[256];
    struct shdict_value v;
    if (shdict_get(d, K(key), now, &v, &buf) != SHDICT_OK || v.type != SHDICT_STRING)
        return NULL;
    snprintf(text, sizeof(text), "%.*s", (int)v.u.s.len, v.u.s.ptr);
    return text;
}

static bool present(struct shdict *d, const char *key, double now)
{
    struct shdict_value v;
    return shdict_get(d, K(key), now, &v, &buf) == SHDICT_OK;
}

static void test_types_and_basic_operations(void)
{
    struct shdict *d = shdict_new("basic", 1 << 20);
    is_str(shdict_name(d), "basic", "name");
    struct shdict_value v, s = STR("hello");
    is_int(shdict_get(d, K("a"), 0, &v, &buf), SHDICT_NOT_FOUND, "absent");
    is_int(v.type, SHDICT_NIL, "absent reads as nil");
    is_int(shdict_set(d, K("a"), &s, 0, 0), SHDICT_OK, "set");
    is_str(get_str(d, "a", 0), "hello", "get a string");

    struct shdict_value i = INT(-7), f = FLT(2.5), whole = FLT(3.0), b = BOOL(false);
    shdict_set(d, K("i"), &i, 0, 0);
    shdict_set(d, K("f"), &f, 0, 0);
    shdict_set(d, K("w"), &whole, 0, 0);
    shdict_set(d, K("b"), &b, 0, 0);
    ok(shdict_get(d, K("i"), 0, &v, &buf) == SHDICT_OK && v.type == SHDICT_INT && v.u.i == -7, "integer kept");
    ok(shdict_get(d, K("f"), 0, &v, &buf) == SHDICT_OK && v.type == SHDICT_FLOAT && v.u.f == 2.5, "float kept");
    ok(shdict_get(d, K("w"), 0, &v, &buf) == SHDICT_OK && v.type == SHDICT_FLOAT && v.u.f == 3.0,
       "3.0 stays a float");
    ok(shdict_get(d, K("b"), 0, &v, &buf) == SHDICT_OK && v.type == SHDICT_BOOL && !v.u.b, "false is a value");

    /* binary keys and values: NULs are bytes like any other */
    struct shdict_value bin = { .type = SHDICT_STRING, .u.s = slice_make("x\0y", 3) };
    shdict_set(d, slice_make("k\0", 2), &bin, 0, 0);
    ok(shdict_get(d, slice_make("k\0", 2), 0, &v, &buf) == SHDICT_OK && v.u.s.len == 3 &&
       memcmp(v.u.s.ptr, "x\0y", 3) == 0, "binary key and value");
    ok(!present(d, "k", 0), "\"k\" is another key than \"k\\0\"");

    struct shdict_value s2 = STR("world");
    is_int(shdict_add(d, K("a"), &s2, 0, 0), SHDICT_EXISTS, "add: exists");
    is_str(get_str(d, "a", 0), "hello", "add did not overwrite");
    is_int(shdict_add(d, K("new"), &s2, 0, 0), SHDICT_OK, "add: absent");
    is_int(shdict_replace(d, K("nope"), &s2, 0, 0), SHDICT_NOT_FOUND, "replace: absent");
    ok(!present(d, "nope", 0), "replace did not create");
    is_int(shdict_replace(d, K("a"), &s2, 0, 0), SHDICT_OK, "replace: present");
    is_str(get_str(d, "a", 0), "world", "replaced");

    is_int(shdict_set(d, K("a"), &NIL, 0, 0), SHDICT_OK, "set nil");
    ok(!present(d, "a", 0), "set nil deletes");
    is_int(shdict_delete(d, K("new"), 0), SHDICT_OK, "delete");
    is_int(shdict_delete(d, K("new"), 0), SHDICT_NOT_FOUND, "delete twice");

    is_int(shdict_get(d, slice_make("", 0), 0, &v, &buf), SHDICT_BAD_KEY, "empty key");
    char *big = xmalloc(SHDICT_KEY_MAX + 1);
    memset(big, 'k', SHDICT_KEY_MAX + 1);
    is_int(shdict_set(d, slice_make(big, SHDICT_KEY_MAX + 1), &s, 0, 0), SHDICT_BAD_KEY, "key too long");
    is_int(shdict_set(d, slice_make(big, SHDICT_KEY_MAX), &s, 0, 0), SHDICT_OK, "the longest key");
    ok(present(d, "i", 0), "others untouched");
    free(big);
    shdict_free(d);
}

static void test_incr(void)
{
    struct shdict *d = shdict_new("incr", 1 << 20);
    struct shdict_value out, one = INT(1), half = FLT(0.5), ten = INT(10), s = STR("x");
    is_int(shdict_incr(d, K("n"), &one, NULL, 0, 0, &out), SHDICT_NOT_FOUND, "absent, no init");
    ok(!present(d, "n", 0), "nothing created");
    is_int(shdict_incr(d, K("n"), &one, &ten, 0, 0, &out), SHDICT_OK, "absent with init");
    ok(out.type == SHDICT_INT && out.u.i == 11, "init + delta");
    shdict_incr(d, K("n"), &one, &ten, 0, 0, &out);
    ok(out.type == SHDICT_INT && out.u.i == 12, "init ignored when present");
    shdict_incr(d, K("n"), &half, NULL, 0, 0, &out);
    ok(out.type == SHDICT_FLOAT && out.u.f == 12.5, "integer + float is a float");
    struct shdict_value v;
    ok(shdict_get(d, K("n"), 0, &v, &buf) == SHDICT_OK && v.type == SHDICT_FLOAT && v.u.f == 12.5, "stored");
    struct shdict_value max = INT(INT64_MAX);
    shdict_set(d, K("m"), &max, 0, 0);
    shdict_incr(d, K("m"), &one, NULL, 0, 0, &out);
    ok(out.type == SHDICT_INT && out.u.i == INT64_MIN, "integers wrap around, as in Lua");
    shdict_set(d, K("s"), &s, 0, 0);
    is_int(shdict_incr(d, K("s"), &one, &ten, 0, 0, &out), SHDICT_NOT_NUMBER, "a string is not a number");
    is_str(get_str(d, "s", 0), "x", "left alone");
    is_int(shdict_incr(d, K("n"), &s, NULL, 0, 0, &out), SHDICT_NOT_NUMBER, "delta must be a number");
    size_t before = used(d);
    shdict_incr(d, K("n"), &one, NULL, 0, 0, &out);
    is_int(used(d), before, "incr in place: no memory change");
    shdict_free(d);
}

static void test_cas(void)
{
    struct shdict *d = shdict_new("cas", 1 << 20);
    struct shdict_value a = STR("a"), b = STR("b"), cur, one = INT(1), onef = FLT(1.0), two = INT(2);
    is_int(shdict_cas(d, K("k"), &NIL, &a, 0, 0, &cur, &buf), SHDICT_OK, "nil expected: only if absent");
    is_str(get_str(d, "k", 0), "a", "created");
    is_int(shdict_cas(d, K("k"), &NIL, &b, 0, 0, &cur, &buf), SHDICT_MISMATCH, "present: nil does not match");
    ok(cur.type == SHDICT_STRING && cur.u.s.len == 1 && cur.u.s.ptr[0] == 'a', "the value found comes back");
    is_int(shdict_cas(d, K("k"), &b, &b, 0, 0, &cur, &buf), SHDICT_MISMATCH, "wrong expected value");
    is_str(get_str(d, "k", 0), "a", "unchanged");
    is_int(shdict_cas(d, K("k"), &a, &b, 0, 0, &cur, &buf), SHDICT_OK, "right expected value");
    is_str(get_str(d, "k", 0), "b", "swapped");
    is_int(shdict_cas(d, K("k"), &b, &NIL, 0, 0, &cur, &buf), SHDICT_OK, "new nil deletes");
    ok(!present(d, "k", 0), "deleted");
    is_int(shdict_cas(d, K("k"), &a, &b, 0, 0, &cur, &buf), SHDICT_MISMATCH, "absent: a value does not match");
    is_int(cur.type, SHDICT_NIL, "found: nothing");

    shdict_set(d, K("n"), &one, 0, 0);
    is_int(shdict_cas(d, K("n"), &onef, &two, 0, 0, &cur, &buf), SHDICT_OK, "1.0 matches 1 (Lua's ==)");
    struct shdict_value half = FLT(2.5), s2 = STR("2"), t = BOOL(true);
    is_int(shdict_cas(d, K("n"), &half, &one, 0, 0, &cur, &buf), SHDICT_MISMATCH, "2.5 is not 2");
    is_int(shdict_cas(d, K("n"), &s2, &one, 0, 0, &cur, &buf), SHDICT_MISMATCH, "\"2\" is not 2");
    ok(cur.type == SHDICT_INT && cur.u.i == 2, "found 2");
    shdict_set(d, K("t"), &t, 0, 0);
    is_int(shdict_cas(d, K("t"), &t, &one, 0, 0, &cur, &buf), SHDICT_OK, "booleans compare");
    struct shdict_value nan = FLT(NAN);
    shdict_set(d, K("nan"), &nan, 0, 0);
    is_int(shdict_cas(d, K("nan"), &nan, &one, 0, 0, &cur, &buf), SHDICT_MISMATCH, "NaN equals nothing");
    shdict_free(d);
}

static void test_expiry(void)
{
    struct shdict *d = shdict_new("ttl", 1 << 20);
    struct shdict_value s = STR("v"), one = INT(1), zero = INT(0), out;
    double left;
    shdict_set(d, K("a"), &s, 1.0, 100.0);
    shdict_set(d, K("forever"), &s, 0, 100.0);
    ok(shdict_ttl(d, K("a"), 100.25, &left) == SHDICT_OK && fabs(left - 0.75) < 1e-9, "ttl left");
    ok(shdict_ttl(d, K("forever"), 100.25, &left) == SHDICT_OK && left == 0, "no expiry: ttl 0");
    is_int(shdict_ttl(d, K("none"), 100, &left), SHDICT_NOT_FOUND, "ttl of an absent key");
    ok(present(d, "a", 100.999), "just before its expiry");
    ok(!present(d, "a", 101.0), "expired at its deadline");
    ok(present(d, "forever", 1e9), "no expiry lasts");
    is_int(count(d), 1, "the expired entry was removed when met");

    shdict_set(d, K("b"), &s, 1.0, 200.0);
    is_int(shdict_expire(d, K("b"), 10.0, 200.5), SHDICT_OK, "expire");
    ok(present(d, "b", 205.0), "moved later");
    ok(!present(d, "b", 210.5), "gone at the new deadline");
    shdict_set(d, K("c"), &s, 1.0, 300.0);
    shdict_expire(d, K("c"), 0, 300.0);
    ok(present(d, "c", 1e6), "expire 0: no expiry any more");
    is_int(shdict_expire(d, K("gone"), 1.0, 300.0), SHDICT_NOT_FOUND, "expire of an absent key");

    /* incr keeps the expiry it found; init_ttl only for the one it makes */
    shdict_incr(d, K("n"), &one, &zero, 5.0, 400.0, &out);
    shdict_incr(d, K("n"), &one, &zero, 100.0, 402.0, &out);
    ok(shdict_ttl(d, K("n"), 403.0, &left) == SHDICT_OK && fabs(left - 2.0) < 1e-9, "init_ttl at creation only");
    is_int(shdict_incr(d, K("n"), &one, NULL, 0, 405.0, &out), SHDICT_NOT_FOUND, "an expired counter is absent");
    shdict_incr(d, K("n"), &one, &zero, 0, 405.0, &out);
    is_int(out.u.i, 1, "recreated from init");

    /* add over an expired entry is an add; replace of one is not found */
    shdict_set(d, K("x"), &s, 1.0, 500.0);
    is_int(shdict_add(d, K("x"), &s, 0, 501.0), SHDICT_OK, "add over an expired entry");
    shdict_set(d, K("y"), &s, 1.0, 500.0);
    is_int(shdict_replace(d, K("y"), &s, 0, 501.0), SHDICT_NOT_FOUND, "replace of an expired entry");
    shdict_free(d);

    /* entries nobody reads are swept by other operations, earliest first */
    d = shdict_new("sweep", 1 << 20);
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof(k), "s%d", i);
        shdict_set(d, K(k), &s, 1.0 + i, 0);
    }
    shdict_set(d, K("keep"), &s, 0, 0);
    for (int i = 0; i < 20 && count(d) > 1; i++)
        present(d, "keep", 100.0);
    is_int(count(d), 1, "every expired entry swept by operations on another key");
    is_int(used(d), shdict_entry_cost(4, 1), "their memory is back");
    struct shdict_stats st;
    shdict_stats(d, &st);
    is_int(st.expired, 10, "counted as expired");
    shdict_free(d);
}

static void test_memory_accounting(void)
{
    struct shdict *d = shdict_new("mem", 1 << 20);
    struct shdict_stats st;
    shdict_stats(d, &st);
    is_int(st.size, 1 << 20, "size as declared");
    ok(st.capacity < st.size && st.capacity > st.size - st.size / 16, "the index takes a little of the size");
    is_int(st.used, 0, "empty");
    struct shdict_value s = STR("0123456789"), n = INT(5), t = BOOL(true), out;
    shdict_set(d, K("str"), &s, 0, 0);
    is_int(used(d), SHDICT_ENTRY_OVERHEAD + 3 + 10, "a string entry: overhead + key + value");
    shdict_set(d, K("num"), &n, 0, 0);
    shdict_set(d, K("yes"), &t, 5, 0);
    size_t expect = shdict_entry_cost(3, 10) + shdict_entry_cost(3, 0) + shdict_entry_cost(3, 0);
    is_int(used(d), expect, "numbers and booleans: overhead + key");
    struct shdict_value longer = STR("0123456789abcdefghij");
    shdict_set(d, K("str"), &longer, 0, 0);
    is_int(used(d), expect + 10, "a longer value costs its extra bytes");
    shdict_set(d, K("str"), &n, 0, 0);
    is_int(used(d), expect - 10, "a number in place of the string");
    shdict_incr(d, K("c"), &n, &n, 0, 0, &out);
    struct shdict_value cur;
    shdict_cas(d, K("c"), &out, &s, 0, 0, &cur, &buf);
    is_int(used(d), expect - 10 + shdict_entry_cost(1, 10), "incr then cas");
    is_int(count(d), 4, "four entries");
    shdict_delete(d, K("c"), 0);
    shdict_delete(d, K("str"), 0);
    shdict_set(d, K("num"), &NIL, 0, 0);
    shdict_delete(d, K("yes"), 0);
    is_int(used(d), 0, "back to zero after deletes");
    is_int(count(d), 0, "no entries");

    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        shdict_set(d, K(k), &s, i % 2 ? 10.0 : 0, 0);
    }
    is_int(count(d), 1000, "a thousand entries");
    is_int(shdict_flush_all(d), 1000, "flush_all says how many");
    is_int(used(d), 0, "back to zero after flush_all");
    is_int(count(d), 0, "empty");
    ok(!present(d, "k1", 0), "flushed entries are gone");
    shdict_set(d, K("after"), &s, 1, 0);
    ok(present(d, "after", 0.5), "usable after flush_all");
    ok(!present(d, "after", 2), "expiry works after flush_all");
    is_int(used(d), 0, "and its memory comes back");
    shdict_free(d);
}

static void test_eviction(void)
{
    struct shdict *d = shdict_new("lru", SHDICT_MIN_SIZE);
    struct shdict_stats st;
    shdict_stats(d, &st);
    char value[100];
    memset(value, 'v', sizeof(value));
    struct shdict_value v = { .type = SHDICT_STRING, .u.s = slice_make(value, sizeof(value)) };
    size_t cost = shdict_entry_cost(6, sizeof(value)); /* keys "k00000" */
    size_t fits = st.capacity / cost;
    for (size_t i = 0; i < fits; i++) {
        char k[32];
        snprintf(k, sizeof(k), "k%05zu", i);
        shdict_set(d, K(k), &v, 0, 0);
    }
    is_int(count(d), fits, "filled to the size, nothing evicted");
    is_int(used(d), fits * cost, "used counts every entry");
    ok(present(d, "k00000", 0), "the oldest is still there, and now recently used");
    for (size_t i = fits; i < fits + 10; i++) {
        char k[32];
        snprintf(k, sizeof(k), "k%05zu", i);
        shdict_set(d, K(k), &v, 0, 0);
    }
    is_int(count(d), fits, "still full");
    ok(used(d) <= st.capacity, "never beyond the capacity");
    ok(present(d, "k00000", 0), "the entry that was read survived");
    ok(!present(d, "k00001", 0) && !present(d, "k00010", 0), "the least recently used were evicted");
    ok(present(d, "k00011", 0), "the next one survived");
    shdict_stats(d, &st);
    is_int(st.evicted, 10, "ten evictions");

    /* an entry that expired goes before the least recently used */
    shdict_set(d, K("k00200"), &v, 1.0, 0);
    char k[32];
    snprintf(k, sizeof(k), "k%05zu", fits + 10);
    shdict_set(d, K(k), &v, 0, 5.0);
    ok(!present(d, "k00200", 5.0), "the expired entry made the room");
    ok(present(d, "k00011", 5.0), "the least recently used one stayed");
    shdict_stats(d, &st);
    is_int(st.evicted, 10, "no eviction for that write");

    /* one that can never fit is refused and changes nothing */
    size_t huge_len = st.capacity;
    char *huge = xmalloc(huge_len);
    memset(huge, 'h', huge_len);
    struct shdict_value hv = { .type = SHDICT_STRING, .u.s = slice_make(huge, huge_len) };
    size_t before = used(d);
    is_int(shdict_set(d, K("k00011"), &hv, 0, 5.0), SHDICT_TOO_BIG, "bigger than the dictionary");
    is_int(shdict_add(d, K("huge"), &hv, 0, 5.0), SHDICT_TOO_BIG, "add too");
    struct shdict_value cur;
    is_int(shdict_cas(d, K("k00011"), &v, &hv, 0, 5.0, &cur, &buf), SHDICT_TOO_BIG, "cas too");
    ok(present(d, "k00011", 5.0) && used(d) == before, "nothing changed");
    /* the biggest that fits empties the dictionary for itself */
    hv.u.s.len = st.capacity - shdict_entry_cost(4, 0);
    is_int(shdict_set(d, K("huge"), &hv, 0, 5.0), SHDICT_OK, "exactly the capacity");
    is_int(count(d), 1, "everything else evicted");
    is_int(used(d), st.capacity, "used == capacity");
    free(huge);
    shdict_free(d);
}

/* Random operations against a model: presence and values must agree at
 * every step (the expiry heap's moves are where bugs would hide). */
static void test_against_a_model(void)
{
    enum { N = 64, STEPS = 20000 };
    struct { bool live; double expires; int64_t value; } model[N] = { 0 };
    struct shdict *d = shdict_new("model", 1 << 20);
    unsigned seed = 12345;
    double now = 1000;
    int mismatches = 0;
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        int i = (int)(r % N);
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        bool live = model[i].live && (model[i].expires == 0 || model[i].expires > now);
        double ttl = (r >> 6) % 4 == 0 ? 0 : (double)((r >> 8) % 50) / 10.0;
        struct shdict_value v = INT(step), out;
        switch ((r >> 16) % 5) {
        case 0:
        case 1:
            shdict_set(d, K(k), &v, ttl, now);
            model[i].live = true;
            model[i].expires = ttl > 0 ? now + ttl : 0;
            model[i].value = step;
            break;
        case 2:
            if ((shdict_delete(d, K(k), now) == SHDICT_OK) != live)
                mismatches++;
            model[i].live = false;
            break;
        case 3:
            if ((shdict_expire(d, K(k), ttl, now) == SHDICT_OK) != live)
                mismatches++;
            if (live)
                model[i].expires = ttl > 0 ? now + ttl : 0;
            break;
        default:
            if (shdict_get(d, K(k), now, &out, &buf) == SHDICT_OK) {
                if (!live || out.u.i != model[i].value)
                    mismatches++;
            } else if (live) {
                mismatches++;
            }
            break;
        }
        now += 0.01 * ((r >> 4) % 8);
    }
    is_int(mismatches, 0, "20000 random operations agree with the model");
    size_t live = 0;
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        bool want = model[i].live && (model[i].expires == 0 || model[i].expires > now);
        live += want;
        if (present(d, k, now) != want)
            mismatches++;
    }
    is_int(mismatches, 0, "and at the end");
    for (int i = 0; i < 50; i++)
        present(d, "key0", now); /* sweeps what is left */
    is_int(count(d), live, "swept down to the live entries");
    shdict_free(d);
}

/* ---- threads ---- */

enum { THREADS = 4, PER_THREAD = 50000 };

struct worker_arg {
    struct shdict *d;
    int id;
    long cas_retries;
};

static void *incr_thread(void *p)
{
    struct worker_arg *a = p;
    struct shdict_value one = INT(1), zero = INT(0), out;
    char own[16];
    snprintf(own, sizeof(own), "own%d", a->id);
    for (int i = 0; i < PER_THREAD; i++) {
        shdict_incr(a->d, K("total"), &one, &zero, 0, 0, &out);
        shdict_incr(a->d, K(own), &one, &zero, 0, 0, &out);
    }
    return NULL;
}

/* n += 1 by compare-and-swap on a string value, retried until it lands. */
static void *cas_thread(void *p)
{
    struct worker_arg *a = p;
    struct shdict_buf mine = { 0 };
    for (int i = 0; i < PER_THREAD / 5; i++) {
        for (;;) {
            struct shdict_value cur;
            char text[32], next[32];
            int64_t n = 0;
            if (shdict_get(a->d, K("cas"), 0, &cur, &mine) == SHDICT_OK) {
                snprintf(text, sizeof(text), "%.*s", (int)cur.u.s.len, cur.u.s.ptr);
                n = strtoll(text, NULL, 10);
            }
            snprintf(next, sizeof(next), "%lld", (long long)(n + 1));
            struct shdict_value want = cur.type == SHDICT_NIL ? NIL : STR(text), put = STR(next);
            if (shdict_cas(a->d, K("cas"), &want, &put, 0, 0, NULL, &mine) == SHDICT_OK)
                break;
            a->cas_retries++;
        }
    }
    shdict_buf_free(&mine);
    return NULL;
}

static void run_threads(void *(*fn)(void *), struct worker_arg *args, struct shdict *d)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){ .d = d, .id = i };
        pthread_create(&t[i], NULL, fn, &args[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

static void test_threads(void)
{
    struct shdict *d = shdict_new("threads", 1 << 20);
    struct worker_arg args[THREADS];
    run_threads(incr_thread, args, d);
    struct shdict_value v;
    ok(shdict_get(d, K("total"), 0, &v, &buf) == SHDICT_OK && v.u.i == THREADS * PER_THREAD,
       "%d threads x %d incr: exact total (got %lld)", THREADS, PER_THREAD, (long long)v.u.i);
    for (int i = 0; i < THREADS; i++) {
        char own[16];
        snprintf(own, sizeof(own), "own%d", i);
        ok(shdict_get(d, K(own), 0, &v, &buf) == SHDICT_OK && v.u.i == PER_THREAD, "each thread's own counter");
    }
    run_threads(cas_thread, args, d);
    long retries = 0;
    for (int i = 0; i < THREADS; i++)
        retries += args[i].cas_retries;
    is_str(get_str(d, "cas", 0), "40000", "cas increments from 4 threads: exact total");
    printf("# cas: %ld retries for %d increments from %d threads\n", retries, THREADS * (PER_THREAD / 5), THREADS);
    shdict_free(d);
}

/* ---- a micro-benchmark: printed, not asserted ---- */

static double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum { BENCH_OPS = 1000000 };

struct bench_arg {
    struct shdict *d;
    int op; /* 0 get, 1 incr */
    double ns;
};

static char bench_keys[1024][16];

static void *bench_thread(void *p)
{
    struct bench_arg *a = p;
    struct shdict_buf mine = { 0 };
    struct shdict_value one = INT(1), zero = INT(0), out;
    double t0 = clock_now();
    for (int i = 0; i < BENCH_OPS; i++) {
        struct slice k = K(bench_keys[i & 1023]);
        if (a->op == 0)
            shdict_get(a->d, k, 0, &out, &mine);
        else
            shdict_incr(a->d, k, &one, &zero, 0, 0, &out);
    }
    a->ns = (clock_now() - t0) * 1e9 / BENCH_OPS;
    shdict_buf_free(&mine);
    return NULL;
}

static void bench(void)
{
    struct shdict *d = shdict_new("bench", 8 << 20);
    struct shdict_value s = STR("192.168.100.200 1700000000.123");
    for (int i = 0; i < 1024; i++) {
        snprintf(bench_keys[i], sizeof(bench_keys[i]), "b%d", i);
        shdict_set(d, K(bench_keys[i]), &s, 0, 0);
    }
    for (int op = 0; op < 2; op++) {
        struct bench_arg one = { .d = d, .op = op };
        bench_thread(&one);
        struct bench_arg two[2] = { { .d = d, .op = op }, { .d = d, .op = op } };
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, bench_thread, &two[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        printf("# bench %s: %.0f ns uncontended, %.0f / %.0f ns each with 2 threads on one dict\n",
               op == 0 ? "get (30-byte string)" : "incr", one.ns, two[0].ns, two[1].ns);
        if (op == 0) /* the incr run makes numbers of the strings */
            shdict_flush_all(d);
    }
    shdict_free(d);
}

int main(void)
{
    test_types_and_basic_operations();
    test_incr();
    test_cas();
    test_expiry();
    test_memory_accounting();
    test_eviction();
    test_against_a_model();
    test_threads();
    bench();
    shdict_buf_free(&buf);
    return tap_done("shdict");
}
