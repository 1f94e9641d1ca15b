/* test_pattern.c - luxy's Lua patterns (lua/pattern.c, lua/lib_match.c)
 * give exactly what Lua's own string library gives, result for result and
 * error for error, on a table of cases; and a pattern that backtracks
 * without end stops at the budget instead of holding the thread. */
#include "../../core/log.h"
#include "../../core/luxy.h"
#include "../../lua/pattern.h"
#include "lua_diff.h"
#include "tap.h"

struct pcase {
    int op;             /* 0 find, 1 match, 2 gsub string, 3 gsub function, 4 gsub table, 5 gmatch */
    const char *s, *p;
    const char *a;      /* gsub: the replacement; else NULL */
    long long init;     /* find/match/gmatch: init (0: none) */
    long long b;        /* find: plain flag; gsub: max; -999: none */
};

static const struct pcase cases[] = {
    { 0, "hello world", "o w", NULL, 0, -999 },
    { 0, "hello world", "o", NULL, 6, -999 },
    { 0, "hello world", "o", NULL, -3, -999 },
    { 0, "hello world", "o", NULL, 100, -999 },
    { 0, "hello world", "", NULL, 12, -999 },
    { 0, "hello world", "", NULL, 13, -999 },
    { 0, "a.b", ".", NULL, 0, 1 },
    { 0, "a+b", "+", NULL, 0, -999 },
    { 0, "hello", "l+", NULL, 0, -999 },
    { 0, "hello", "(l)(l)", NULL, 0, -999 },
    { 0, "hello", "()ll()", NULL, 0, -999 },
    { 0, "hello", "^h", NULL, 0, -999 },
    { 0, "hello", "^e", NULL, 0, -999 },
    { 0, "hello", "o$", NULL, 0, -999 },
    { 0, "hel$lo", "l$l", NULL, 0, -999 },
    { 1, "key = value", "(%w+)%s*=%s*(%w+)", NULL, 0, -999 },
    { 1, "  trim  ", "^%s*(.-)%s*$", NULL, 0, -999 },
    { 1, "2026-12-01", "(%d+)-(%d+)-(%d+)", NULL, 0, -999 },
    { 1, "THE (quick) fox", "%((%a+)%)", NULL, 0, -999 },
    { 1, "f(a(b)c)d", "%b()", NULL, 0, -999 },
    { 1, "f(a(b)c", "%b()", NULL, 0, -999 },
    { 1, "THE (quick) fox", "%f[%a]%a+", NULL, 0, -999 },
    { 1, "hello", "%f[%l]", NULL, 0, -999 },
    { 1, "abcabc", "(abc)%1", NULL, 0, -999 },
    { 1, "abab", "(a)(b)%2", NULL, 0, -999 },
    { 1, "aaa", "a-b", NULL, 0, -999 },
    { 1, "aaab", "a-b", NULL, 0, -999 },
    { 1, "aaab", "a*", NULL, 0, -999 },
    { 1, "ab", "a?b", NULL, 0, -999 },
    { 1, "b", "a?b", NULL, 0, -999 },
    { 1, "x]y", "[]]", NULL, 0, -999 },
    { 1, "x^y", "[%^]", NULL, 0, -999 },
    { 1, "x-y", "[a%-z]", NULL, 0, -999 },
    { 1, "m", "[a-z]", NULL, 0, -999 },
    { 1, "M", "[^a-z]", NULL, 0, -999 },
    { 1, "\x80\xff", "[\x80-\xff]+", NULL, 0, -999 },
    { 1, "tab\there", "%c", NULL, 0, -999 },
    { 1, "a.b,c", "%p+", NULL, 0, -999 },
    { 1, "Ab1_", "%W", NULL, 0, -999 },
    { 1, "0x1F", "%x+$", NULL, 0, -999 },
    { 1, "hello", "(h)(e)(l)(l)(o)", NULL, 0, -999 },
    { 1, "hello", "()", NULL, 3, -999 },
    { 1, "hello", "%", NULL, 0, -999 },
    { 1, "hello", "[a", NULL, 0, -999 },
    { 1, "hello", "[a%", NULL, 0, -999 },
    { 1, "hello", "(h", NULL, 0, -999 },
    { 1, "hello", "h)", NULL, 0, -999 },
    { 1, "hello", "%1", NULL, 0, -999 },
    { 1, "hello", "(h)%2", NULL, 0, -999 },
    { 1, "hello", "%0", NULL, 0, -999 },
    { 1, "hello", "%b", NULL, 0, -999 },
    { 1, "hello", "%bx", NULL, 0, -999 },
    { 1, "hello", "%f", NULL, 0, -999 },
    { 1, "hello", "%fx", NULL, 0, -999 },
    { 1, "hello", "(()h)%2", NULL, 0, -999 },
    { 1, "a\0b", "%z", NULL, 0, -999 },
    { 1, "a\0b", "[\0]", NULL, 0, -999 },
    { 2, "hello world", "o", "0", 0, -999 },
    { 2, "hello world", "(o)", "[%1]", 0, -999 },
    { 2, "hello world", "o", "%0%0", 0, 1 },
    { 2, "hello world", "", "-", 0, -999 },
    { 2, "hello world", "^", "-", 0, -999 },
    { 2, "hello", "l*", "x", 0, -999 },
    { 2, "hello", "(l)", "%2", 0, -999 },
    { 2, "hello", "l", "%", 0, -999 },
    { 2, "hello", "l", "%x", 0, -999 },
    { 2, "hello", "()l", "%1", 0, -999 },
    { 2, "hello", "%w+", "%%", 0, -999 },
    { 3, "a=1, b=2", "(%w+)=(%w+)", NULL, 0, -999 },
    { 3, "abc", "", NULL, 0, -999 },
    { 3, "abc", "()", NULL, 0, 2 },
    { 4, "a b c d e", "%a", NULL, 0, -999 },
    { 4, "a b", "(%a)", NULL, 0, -999 },
    { 5, "one two three", "%a+", NULL, 0, -999 },
    { 5, "k1=v1, k2=v2", "(%w+)=(%w+)", NULL, 0, -999 },
    { 5, "abc", "", NULL, 0, -999 },
    { 5, "abc", "()", NULL, 2, -999 },
    { 5, "abc", "^a", NULL, 0, -999 },
    { 5, "^a^a", "^a", NULL, 0, -999 },
    { 5, "hello", "l*", NULL, 0, -999 },
    { 5, "hello", "(", NULL, 0, -999 },
};

static void test_same_as_lua(void)
{
    struct lua_diff d;
    if (lua_diff_init(&d, 10000000) != 0) {
        ok(0, "lua_diff_init");
        return;
    }
    for (size_t i = 0; i < countof(cases); i++) {
        const struct pcase *c = &cases[i];
        char ours[2048], ref[2048];
        int kind = c->a ? 1 : c->init ? 2 : 0;
        /* "a\0b" and "[\0]" carry a NUL: their length is 3 */
        size_t sl = strlen(c->s), pl = strlen(c->p);
        if (sl == 1 && c->s[0] == 'a' && c->p[0] != 'a')
            sl = 3;
        if (pl == 1 && c->p[0] == '[')
            pl = 3;
        int out = lua_diff_run(&d, c->op, c->s, sl, c->p, pl, c->a, c->a ? strlen(c->a) : 0,
                               c->init, kind, c->b, ours, ref, sizeof(ours));
        ok(out == 0 && strcmp(ours, ref) == 0, "case %zu (op %d, '%s' ~ '%s'): ours '%s', Lua's '%s'", i,
           c->op, c->s, c->p, ours, out ? "(not run)" : ref);
    }
    lua_diff_free(&d);
}

/* The review's freeze: on a 6 KB User-Agent this pattern is cubic. */
static void test_catastrophic_pattern_stops_at_budget(void)
{
    struct config cfg;
    config_defaults(&cfg);
    char err[256];
    static const char src[] =
        "function run(ua) return pcall(string.match, ua, '^(.-)/(.-) (.-)!$') end\n";
    struct vm *vm = vm_new_loader(&cfg, 64u << 20, 10000, 0, err, sizeof(err));
    ok(vm && vm_run_file(vm, src, strlen(src), "=t", err, sizeof(err)) == 0, "loaded: %s", err);
    char ua[6001];
    memset(ua, 'a', 6000);
    for (int i = 100; i < 6000; i += 100)
        ua[i] = i % 200 ? '/' : ' ';
    ua[6000] = 0;
    double t0 = luxy_monotonic();
    lua_getglobal(vm->L, "run");
    lua_pushstring(vm->L, ua);
    int rc = vm_call(vm, "match", 1, 2);
    double took = luxy_monotonic() - t0;
    ok(rc == -1, "the call fails (pcall cannot swallow the budget error)");
    ok(took < 1.0, "and it stops in %.3f s", took);
    /* the state is usable again afterwards */
    lua_getglobal(vm->L, "run");
    lua_pushstring(vm->L, "a/b c!");
    rc = vm_call(vm, "match", 1, 2);
    ok(rc == 0 && lua_toboolean(vm->L, -2), "a short subject still matches");
    if (rc == 0)
        lua_pop(vm->L, 2);
    vm_free(vm);
    config_free(&cfg);
}

/* A pure matcher check: a budget in steps, no Lua at all. */
static void test_steps_are_counted(void)
{
    static const char s[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
    static const char p[] = "(.-)(.-)(.-)(.-)c";
    struct pat_state m;
    pat_init(&m, s, strlen(s), p, strlen(p), 1000);
    const char *e = pat_match(&m, s, p);
    ok(e == NULL && m.error == pat_out_of_steps, "1000 steps are not enough: %s", m.error ? m.error : "none");
    pat_init(&m, s, strlen(s), "a+b", 3, 1000);
    e = pat_match(&m, s, "a+b");
    ok(e == s + strlen(s) && m.error == NULL, "a linear pattern fits");
    ok(m.steps > 0 && m.steps < 1000, "and its steps were counted (%ld left)", m.steps);
}

int main(void)
{
    test_same_as_lua();
    test_catastrophic_pattern_stops_at_budget();
    test_steps_are_counted();
    return tap_done("pattern");
}
