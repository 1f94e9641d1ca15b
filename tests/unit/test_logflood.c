/* test_logflood.c - the rate limit of repeated log lines, on a fake clock:
 * a burst in full, then counting, one summary per window, kinds that
 * differ only in digits counted together, and a full table. */
#include "../../core/logflood.h"
#include "tap.h"

static char reported[8][256];
static int nreported;

static void report(void *arg, const struct flood_slot *s, double now)
{
    (void)arg;
    if (nreported < 8)
        flood_summary(s, now, reported[nreported], sizeof(reported[0]));
    nreported++;
}

static bool admit(struct flood *f, const char *text, double now)
{
    return flood_admit(f, flood_key(1, text, strlen(text)), 1, text, strlen(text), now, report, NULL);
}

int main(void)
{
    static struct flood f;
    ok(flood_key(1, "client 10.0.0.1: 502", 20) == flood_key(1, "client 127.0.0.12: 502", 22),
       "digits aside, one kind");
    ok(flood_key(1, "a", 1) != flood_key(2, "a", 1), "the level is part of the kind");
    ok(flood_key(1, "boom at x", 9) != flood_key(1, "boom at y", 9), "other words, another kind");
    int written = 0;
    for (int i = 0; i < 5000; i++)
        written += admit(&f, "hook failed: boom", 100.0 + i * 0.001); /* 5 s of a flood */
    is_int(written, FLOOD_BURST, "the first lines of a window are written");
    is_int(nreported, 0, "nothing reported while the window runs");
    flood_expire(&f, 105.0, report, NULL);
    is_int(nreported, 0, "not yet: the window is 10 s");
    flood_expire(&f, 110.5, report, NULL);
    is_int(nreported, 1, "the window ended: one summary");
    ok(strstr(reported[0], "repeated 4,995 more times in the last 10 s: hook failed: boom") != NULL, "%s",
       reported[0]);
    ok(admit(&f, "hook failed: boom", 111.0), "a new window writes again");
    /* another kind in the meantime is not held up */
    ok(admit(&f, "backend refused", 111.0), "another kind is written");
    /* a full table: the oldest gives its slot up and reports first */
    static struct flood g;
    nreported = 0;
    char text[64];
    for (int i = 0; i < 6; i++)
        admit(&g, "kind zero", 1.0);
    for (int k = 1; k <= FLOOD_SLOTS; k++) {
        snprintf(text, sizeof(text), "kind %c%c", 'a' + k % 26, 'a' + k / 26);
        admit(&g, text, 2.0 + k);
    }
    is_int(nreported, 1, "the evicted kind reported its suppressed line");
    ok(strstr(reported[0], "repeated 1 more time") != NULL, "%s", reported[0]);
    nreported = 0;
    for (int i = 0; i < 7; i++)
        admit(&g, "at exit", 500.0);
    flood_flush(&g, 501.0, report, NULL);
    is_int(nreported, 1, "flush reports a window that has not ended");
    return tap_done("logflood");
}
