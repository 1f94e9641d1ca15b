/* fuzz_sim_trace.c - the simulator's access-log line parser on hostile
 * lines (any bytes, any length): it must never read past the line nor
 * write past its buffer (ASan), and what it accepts must be whole: a
 * method and a target, every string NUL-terminated inside the buffer, a
 * finite time and duration. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/sim_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *s, const char *buf, size_t cap)
{
    if (!s)
        return;
    if (s < buf || s >= buf + cap || !memchr(s, 0, (size_t)(buf + cap - s)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SIM_TRACE_LINE_MAX)
        return 0;
    /* exact-size copies: ASan sees any byte read or written beyond them */
    char *line = malloc(size ? size : 1), *buf = malloc(size + 1);
    memcpy(line, data, size);
    struct sim_trace_rec r;
    if (sim_trace_parse(line, size, buf, &r) == 0) {
        if (!r.method || !r.target || !isfinite(r.time) || !isfinite(r.duration) || r.duration < 0)
            abort();
        const char *all[] = { r.method, r.target, r.client, r.user_agent, r.referer, r.listener };
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            inside(all[i], buf, size + 1);
    }
    free(line);
    free(buf);
    return 0;
}
