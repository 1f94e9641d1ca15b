/* fuzz_trace_filter.c - the filter of GET /api/traces and `luxy trace`
 * (trace_ring.h) on hostile text: it is read or refused with a message,
 * never past its end, and a filter that was read matches fields of any
 * content without trouble. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/trace_ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly size bytes: a read past them is caught */
    memcpy(text, data, size);
    const char *err = NULL;
    struct trace_filter *f = trace_filter_parse(text, size, &err);
    if (f == NULL) {
        if (err == NULL || err[0] == '\0')
            abort(); /* a refusal says why */
    } else {
        char *fields[TRACE_FILTER_FIELDS] = { "example.com", "/api/x", "GET", "503", "app", "127.0.0.1:1", "::1" };
        (void)trace_filter_matches(f, fields);
        char empty[1] = "";
        for (unsigned i = 0; i < TRACE_FILTER_FIELDS; i++)
            fields[i] = empty;
        (void)trace_filter_matches(f, fields);
        trace_filter_free(f);
    }
    free(text);
    return 0;
}
