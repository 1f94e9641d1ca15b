/* logflood.c - see logflood.h. A fixed table of kinds, found by a linear
 * scan (this runs on error paths only); when it is full the kind whose
 * window started first gives its slot up, reporting first if it has to. */
#include "logflood.h"

#include <stdio.h>
#include <string.h>

uint64_t flood_key(int level, const char *text, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)level;
    bool in_digits = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool digit = c >= '0' && c <= '9';
        if (digit && in_digits)
            continue;
        in_digits = digit;
        h = (h ^ (digit ? '#' : c)) * 1099511628211ull;
    }
    return h ? h : 1;
}

static void reset(struct flood_slot *s, uint64_t key, int level, const char *text, size_t len, double now)
{
    s->key = key;
    s->start = now;
    s->logged = 0;
    s->suppressed = 0;
    s->level = level;
    size_t n = len < sizeof(s->sample) - 1 ? len : sizeof(s->sample) - 1;
    memcpy(s->sample, text, n);
    s->sample[n] = '\0';
}

static void end_window(struct flood_slot *s, double now, flood_report report, void *arg)
{
    if (s->suppressed > 0 && report)
        report(arg, s, now);
    s->suppressed = 0;
    s->logged = 0;
    s->start = now;
}

bool flood_admit(struct flood *f, uint64_t key, int level, const char *text, size_t len, double now,
                 flood_report report, void *arg)
{
    struct flood_slot *s = NULL, *oldest = &f->slot[0];
    for (size_t i = 0; i < FLOOD_SLOTS && s == NULL; i++) {
        if (f->slot[i].key == key)
            s = &f->slot[i];
        else if (f->slot[i].key == 0 || (oldest->key != 0 && f->slot[i].start < oldest->start))
            oldest = &f->slot[i];
    }
    if (s == NULL) {
        s = oldest;
        if (s->key)
            end_window(s, now, report, arg);
        reset(s, key, level, text, len, now);
    } else if (now - s->start >= FLOOD_WINDOW) {
        end_window(s, now, report, arg);
    }
    if (s->logged < FLOOD_BURST) {
        s->logged++;
        return true;
    }
    s->suppressed++;
    return false;
}

void flood_expire(struct flood *f, double now, flood_report report, void *arg)
{
    for (size_t i = 0; i < FLOOD_SLOTS; i++) {
        struct flood_slot *s = &f->slot[i];
        if (s->key && s->suppressed > 0 && now - s->start >= FLOOD_WINDOW)
            end_window(s, now, report, arg);
    }
}

void flood_flush(struct flood *f, double now, flood_report report, void *arg)
{
    for (size_t i = 0; i < FLOOD_SLOTS; i++)
        if (f->slot[i].key && f->slot[i].suppressed > 0)
            end_window(&f->slot[i], now, report, arg);
}

/* 4512 -> "4,512" */
static void with_commas(unsigned long n, char *buf, size_t cap)
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%lu", n);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < cap)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

size_t flood_summary(const struct flood_slot *s, double now, char *buf, size_t cap)
{
    char count[32];
    with_commas(s->suppressed, count, sizeof(count));
    double span = now - s->start;
    int n = snprintf(buf, cap, "last message repeated %s more time%s in the last %.0f s: %s", count,
                     s->suppressed == 1 ? "" : "s", span < 1 ? 1 : span, s->sample);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}
