/* fuzz_config.c - the config loader against hostile values. The input
 * picks directives, option names (known and unknown) and values from a pool
 * of awkward Lua values, and the generated file is loaded: the loader must
 * accept or refuse it with a message, never crash or leak. Host names are
 * IP literals only, so no DNS is ever asked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/config.h"
#include "../../lua/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const directives[] = { "listen", "upstream 'a'", "workers", "timeouts", "limits",
                                          "lua", "logs", "resolver", "fail_open", "upstream" };
static const char *const keys[] = {
    "mode", "allow", "upstream", "connect_ports", "via", "x_forwarded", "backlog", "balance",
    "tries", "resolve_every", "keepalive", "weight", "client_header", "client_body", "grace",
    "head_size", "request_line", "header_fields", "body_size", "max_connections", "memory",
    "instructions", "level", "error", "access", "servers", "timeout", "attempts", "hosts",
    "max_ttl", "access_format", "format", "request_id", "bogus", "1", "",
};
static const char *const values[] = {
    "nil", "true", "false", "0", "-1", "1", "65536", "1e309", "-1e309", "0/0", "math.huge",
    "math.mininteger", "math.maxinteger", "''", "'\\0'", "'127.0.0.1:8080'", "'[::1]:0'",
    "'[::1]:8080'", "'0.0.0.0:1'", "'forward'", "'reverse'", "'wrr'", "'least_conn'",
    "'10s'", "'-5s'", "'1e400ms'", "'32KB'", "'1e30GB'", "'auto'", "'on_request'", "'debug'",
    "'/dev/null'", "string.rep('x', 5000)", "{}", "{ {} }", "{ '127.0.0.0/8' }", "{ 'x' }",
    "{ 443, 0, 99999 }", "{ '127.0.0.1:53' }", "{ '127.0.0.1:1', weight = 0 }",
    "{ '127.0.0.1:1', weight = 2 }", "function() end", "setmetatable({}, { __index = error })",
    "setmetatable({}, { __len = function() error('len') end })", "coroutine",
    "{ [{}] = 1 }", "{ 1, 2, 3, n = 4 }", "'\\255\\254'", "'a\\r\\nb'",
    "'json'", "'combined'", "'X-Request-Id'", "{ { '/dev/null', format = 'json' }, '/dev/null' }",
    "{ '/dev/null', format = 'combined' }", "{ '/dev/null', format = {} }",
};

#define PICK(arr, b) (arr[(b) % (sizeof(arr) / sizeof(arr[0]))])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int in_tmp;
    if (!in_tmp) {
        /* the loader opens log files as the start would: keep them out of
         * the source tree */
        char dir[] = "/tmp/luxy-fuzz-config-XXXXXX";
        if (mkdtemp(dir) == NULL || chdir(dir) != 0)
            abort();
        in_tmp = 1;
    }
    char text[8192];
    size_t n = 0;
    size_t i = 0;
    while (i + 3 <= size && n < sizeof(text) - 600) {
        const char *d = PICK(directives, data[i]);
        unsigned nfields = data[i + 1] % 5;
        n += (size_t)snprintf(text + n, sizeof(text) - n, "pcall(function() %s { ", d);
        if (data[i + 2] & 1)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "'127.0.0.1:%u', ", 1 + data[i + 2]);
        i += 3;
        for (unsigned f = 0; f < nfields && i + 2 <= size; f++, i += 2)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "[\"%s\"] = %s, ", PICK(keys, data[i]),
                                  PICK(values, data[i + 1]));
        n += (size_t)snprintf(text + n, sizeof(text) - n, "} end)\n");
        /* now and then a directive outside pcall: its error ends the load */
        if (i < size && data[i] % 7 == 0)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "%s { }\n", PICK(directives, data[i] / 7));
    }
    struct config cfg;
    char err[512];
    config_load_source("fuzz.lua", text, n, &cfg, err, sizeof(err));
    config_free(&cfg);
    return 0;
}
