/* test_config.c - the configuration language: values, defaults, and errors
 * that name the file and line. Also addresses and CIDR matching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/luxy.h"
#include "../../core/addr.h"
#include "../../core/config.h"
#include "../../lua/config.h"
#include "tap.h"

static char path[64];

/* Writes text to a temp file and loads it; returns config_load's result. */
static int load(const char *text, struct config *c, char *err, size_t errlen)
{
    snprintf(path, sizeof(path), "/tmp/luxy-test-config-%d.lua", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    int rc = config_load(path, c, err, errlen);
    unlink(path);
    return rc;
}

static bool allowed(const struct listener_config *l, const char *ip)
{
    union sockaddr_u a;
    addr_from_ip(ip, 1, &a);
    for (unsigned i = 0; i < l->nallow; i++)
        if (cidr_match(&l->allow[i], &a))
            return true;
    return false;
}

static void test_full(void)
{
    struct config c;
    char err[512] = "";
    int rc = load("workers(3)\n"
                  "listen { '127.0.0.1:8080', mode = 'reverse', upstream = 'app' }\n"
                  "listen { '[::1]:3128', mode = 'forward', connect_ports = { 443, 8443 }, via = 'edge' }\n"
                  "upstream 'app' { '127.0.0.1:9001', { '127.0.0.1:9002', weight = 3 }, balance = 'least_conn', tries = 2 }\n"
                  "timeouts { client_header = '2s', backend_read = '250ms', grace = 0 }\n"
                  "limits { body_size = '1MB', head_size = '16KB', header_fields = 50 }\n"
                  "lua { memory = '8MB', instructions = 5000 }\n"
                  "logs { level = 'warn', access = false }\n"
                  "resolver { servers = { '127.0.0.1:5353' }, timeout = '1s', hosts = false }\n"
                  "fail_open { 'on_response' }\n",
                  &c, err, sizeof(err));
    is_int(rc, 0, "full config loads");
    if (rc) {
        printf("# %s\n", err);
        return;
    }
    is_int(c.workers, 3, "workers");
    is_int(c.nlisteners, 2, "listeners");
    is_int(c.listeners[0].mode, MODE_REVERSE, "reverse");
    is_str(c.listeners[0].upstream, "app", "upstream");
    is_int(c.listeners[1].mode, MODE_FORWARD, "forward");
    is_int(c.listeners[1].addr.sa.sa_family, AF_INET6, "IPv6 listener");
    is_int(c.listeners[1].nconnect_ports, 2, "connect ports");
    is_str(c.listeners[1].via, "edge", "via pseudonym");
    ok(allowed(&c.listeners[1], "127.0.0.1") && allowed(&c.listeners[1], "::1") &&
           !allowed(&c.listeners[1], "192.0.2.1"),
       "forward listener defaults to loopback clients only");
    is_int(c.listeners[0].nallow, 0, "reverse listener serves everyone");
    is_int(c.nupstreams, 1, "upstreams");
    is_int(c.upstreams[0].nservers, 2, "servers");
    is_int(c.upstreams[0].servers[1].weight, 3, "weight");
    is_int(c.upstreams[0].servers[1].addrs.n, 1, "resolved");
    is_str(c.upstreams[0].balance, "least_conn", "balance");
    is_int(c.upstreams[0].tries, 2, "tries");
    ok(c.timeouts.client_header == 2 && c.timeouts.backend_read == 0.25 && c.timeouts.grace == 0, "durations");
    ok(c.timeouts.client_idle == 60, "default timeout kept");
    is_int(c.limits.body_size, 1 << 20, "size");
    is_int(c.limits.head_size, 16384, "head size");
    is_int(c.limits.header_fields, 50, "fields");
    is_int(c.lua.memory, 8 << 20, "lua memory");
    is_int(c.lua.instructions, 5000, "instructions");
    ok(c.naccess_logs == 0, "access log off");
    is_str(c.resolver.servers, "127.0.0.1:5353", "resolver servers");
    is_int(c.resolver.timeout_ms, 1000, "resolver timeout");
    is_str(c.resolver.hosts_path, "", "no hosts file");
    is_int(c.fail_open, 1 << 2, "on_response fails open");
    config_free(&c);
}

static void test_default(void)
{
    struct config c;
    char err[512] = "";
    is_int(config_load(NULL, &c, err, sizeof(err)), 0, "embedded default loads");
    is_int(c.nlisteners, 1, "one listener");
    is_str(c.listeners[0].spec, "127.0.0.1:3128", "on 127.0.0.1:3128");
    is_int(c.listeners[0].mode, MODE_FORWARD, "forward proxy");
    ok(allowed(&c.listeners[0], "127.0.0.1"), "loopback client allowed");
    ok(!allowed(&c.listeners[0], "192.0.2.1") && !allowed(&c.listeners[0], "10.1.2.3"),
       "non-loopback clients refused: never an open proxy");
    config_free(&c);
}

static void test_warnings(void)
{
    struct config c;
    char err[512] = "";
    int rc = load("listen { '127.0.0.1:8080', mode = 'forward' }\n"
                  "function on_reqeust(req) end\n"
                  "\nfunction on_connect(req) end\n"
                  "function helper() end\n",
                  &c, err, sizeof(err));
    is_int(rc, 0, "a misspelled hook is not an error");
    ok(c.warnings && strstr(c.warnings, ":2: function 'on_reqeust' is not a hook and will never be called (did you mean 'on_request'?)"),
       "but a warning with the line and the hook meant: %s", c.warnings ? c.warnings : "(none)");
    ok(c.warnings && strstr(c.warnings, ":4: function 'on_connect' is not a hook"), "any on_* that is not a hook");
    ok(c.warnings && !strstr(c.warnings, "helper"), "other functions are fine");
    config_free(&c);
    rc = load("listen { '127.0.0.1:8080', mode = 'forward' }\nfunction on_request(req) end\n", &c, err, sizeof(err));
    ok(rc == 0 && c.warnings == NULL, "no warning for real hooks");
    config_free(&c);
    rc = load("upstream 'a' { '127.0.0.1:1' }\nupstream 'b' { '127.0.0.1:2' }\nlisten { '127.0.0.1:8080' }\n"
              "function on_request(req) req.upstream = req.path == '/b' and 'b' or 'a' end\n",
              &c, err, sizeof(err));
    is_int(rc, 0, "a listener without upstream is fine when on_request sets req.upstream");
    config_free(&c);
}

static void test_shared(void)
{
    struct config c;
    char err[512] = "";
    int rc = load("listen { '127.0.0.1:8080', mode = 'forward' }\n"
                  "shared 'limits' { size = '8MB' }\n"
                  "shared 'bans.v2-x_y' {}\n"
                  "local limits = luxy.shared('limits')\n",
                  &c, err, sizeof(err));
    is_int(rc, 0, "shared dictionaries load");
    if (rc) {
        printf("# %s\n", err);
        return;
    }
    is_int(c.nshared, 2, "two dictionaries");
    is_str(c.shared[0].name, "limits", "first name");
    is_int(c.shared[0].size, 8u << 20, "its size");
    is_int(c.shared[0].line, 2, "its line");
    ok(config_shared(&c, "bans.v2-x_y") == &c.shared[1], "found by name");
    is_int(c.shared[1].size, 1u << 20, "default size 1MB");
    ok(config_shared(&c, "nope") == NULL, "an undeclared name");
    config_free(&c);
}

static void test_errors(void)
{
    struct {
        const char *text;
        const char *want; /* substring of the error */
    } cases[] = {
        { "listen { '127.0.0.1:8080', mdoe = 'forward' }\n", ":1: listen 127.0.0.1:8080: unknown option 'mdoe'" },
        { "\n\nlisten { '127.0.0.1:8080', mode = 'sideways' }\n", ":3: listen 127.0.0.1:8080: mode must be" },
        { "listen { 'localhost:80' }\n", "must be IP addresses" },
        { "listen { '127.0.0.1:99999' }\n", "invalid port" },
        { "listen { '::1:80' }\n", "need brackets" },
        { "upstream 'a' { }\n", ":1: upstream a: no servers" },
        { "upstream 'a' { '127.0.0.1:1', balance = 'magic' }\n", "unknown balance 'magic'" },
        { "upstream 'a' { { '127.0.0.1:1', weight = 0 } }\n", "weight must be between" },
        { "listen { '127.0.0.1:8080', upstream = 'nope' }\n", "upstream 'nope' is not defined" },
        { "upstream 'a' { '127.0.0.1:1' }\nupstream 'b' { '127.0.0.1:2' }\nlisten { '127.0.0.1:8080' }\n", "a reverse listener needs an upstream" },
        { "upstream 'a' { '127.0.0.1:1' }\nupstream 'b' { '127.0.0.1:2' }\nlisten { '127.0.0.1:8080' }\n"
          "function on_request(req) req:set_header('X', '1') end\n", "never assigns req.upstream" },
        { "limits { body_size = 0 }\nlisten { '127.0.0.1:8080', mode = 'forward' }\n", "body_size must be more than 0" },
        { "listen { '127.0.0.1:8080', mode = 'forward', upstream = 'a' }\n", "'upstream' means nothing for a forward listener" },
        { "upstream 'a' { '127.0.0.1:1' }\nlisten { '127.0.0.1:8080', connect_ports = { 443 } }\n",
          "'connect_ports' means nothing for a reverse listener" },
        { "upstream 'a' { '127.0.0.1:1' }\nlisten { '127.0.0.1:8080', keepalive = 8 }\n",
          "'keepalive' means nothing for a reverse listener" },
        { "lua { memory = '2MB' }\nbig = string.rep('x', 4 * 1024 * 1024)\nlisten { '127.0.0.1:8080', mode = 'forward' }\n",
          "in a worker's Lua state" },
        { "\nlogs { error = '/nonexistent-dir/luxy/error.log' }\nlisten { '127.0.0.1:8080', mode = 'forward' }\n",
          ":2: logs: cannot open the error log /nonexistent-dir/luxy/error.log" },
        { "logs { access = '/nonexistent-dir/a.log' }\nlisten { '127.0.0.1:8080', mode = 'forward' }\n",
          "cannot open the access log" },
        { "\ntimeout { grace = 1 }\nlisten { '127.0.0.1:8080', mode = 'forward' }\n",
          ":2: unknown directive 'timeout' (did you mean 'timeouts'?)" },
        { "lsiten { '127.0.0.1:8080' }\n", "unknown directive 'lsiten' (did you mean 'listen'?)" },
        { "timeouts { client_header = 'soon' }\n", "must be a duration" },
        { "timeouts { client_header = 0/0 }\n", "must be a duration" },
        { "resolver { max_ttl = math.huge }\n", "must be a duration" },
        { "timeouts { grace = 1e400 }\n", "must be a duration" },
        { "limits { body_size = '10 parsecs' }\n", "must be a size" },
        { "workers(0)\n", "workers:" },
        { "fail_open { 'on_nothing' }\n", "'on_nothing' is not a hook" },
        { "listen { '127.0.0.1:8080', allow = { 'not-a-net' } }\n", "allow[1]" },
        { "listen { '127.0.0.1:8080' }\non_request = 5\n", "on_request must be a function" },
        { "this is not lua\n", ":1:" },
        { "upstream 'a' { '127.0.0.1:1' }\n", "no listen" },
        { "upstream 'a' { 'no-such-host.invalid:80' }\nlisten { '127.0.0.1:8080' }\n", "cannot resolve 'no-such-host.invalid'" },
        { "listen { '127.0.0.1:8080', mode = 'forward' }\nlisten { '127.0.0.1:8080', mode = 'forward' }\n", "listened on twice" },
        { "while true do end\n", "instruction budget exceeded (100000000 instructions" },
        { "pcall(listen, { '127.0.0.1:8080', bogus = 1 })\nlisten { '127.0.0.1:8081' }\n", "cannot be caught with pcall" },
        { "listen { '127.0.0.1:8081' }\npcall(limits, { body_size = 'x' })\n", "cannot be caught with pcall" },
        { "listen { '127.0.0.1:8081' }\npcall(shared 'x', { sise = 1 })\n", "cannot be caught with pcall" },
        { "\nshared 'x' { size = 1000 }\n", ":2: shared x: size must be between 64KB and 64GB" },
        { "shared 'x' { size = '100GB' }\n", "size must be between 64KB and 64GB" },
        { "shared 'x' {}\nshared 'x' {}\n", ":2: shared x: declared twice" },
        { "shared 'a/b' {}\n", ":1: shared: invalid name 'a/b'" },
        { "shared '' {}\n", "shared: invalid name ''" },
        { "shared 'x' { maxsize = 1 }\n", "shared x: unknown option 'maxsize' (known: size)" },
        { "listen { '127.0.0.1:8081' }\nluxy.shared('x')\n", ":2: luxy.shared: no shared dictionary 'x'" },
        { "listen { '127.0.0.1:8081' }\nshared 'x' {}\nluxy.shared('x'):get('k')\n",
          ":3: luxy.shared('x'): dictionary operations belong in hooks" },
    };
    for (size_t i = 0; i < countof(cases); i++) {
        struct config c;
        char err[512] = "";
        int rc = load(cases[i].text, &c, err, sizeof(err));
        ok(rc == -1 && strstr(err, cases[i].want) != NULL, "case %zu: want '%s', got '%s'", i,
           cases[i].want, err);
        if (rc == -1)
            ok(strstr(err, "luxy-test-config") != NULL, "case %zu: the error names the file: %s", i, err);
        config_free(&c);
    }
}

static void test_values(void)
{
    double d;
    unsigned long long s;
    ok(config_parse_duration("250ms", &d) == 0 && d == 0.25, "ms");
    ok(config_parse_duration("2m", &d) == 0 && d == 120, "minutes");
    ok(config_parse_duration("10", &d) == 0 && d == 10, "bare seconds");
    ok(config_parse_duration("-1s", &d) == -1, "negative");
    ok(config_parse_duration("1 s", &d) == -1, "space");
    ok(config_parse_size("32KB", &s) == 0 && s == 32768, "KB");
    ok(config_parse_size("1.5M", &s) == 0 && s == 1572864, "fractional MB");
    ok(config_parse_size("1GB", &s) == 0 && s == 1073741824ull, "GB");
    ok(config_parse_size("12 parsecs", &s) == -1, "unknown unit");
}

static void test_addr(void)
{
    char host[ADDR_HOSTLEN];
    uint16_t port;
    const char *err;
    ok(addr_split("[::1]:8080", 10, host, &port, 0, &err) == 0 && strcmp(host, "::1") == 0 && port == 8080, "v6");
    ok(addr_split("example.com", 11, host, &port, 80, &err) == 0 && port == 80, "default port");
    ok(addr_split("example.com", 11, host, &port, 0, &err) == -1, "port required");
    ok(addr_split("a b:80", 6, host, &port, 0, &err) == -1, "space in host");
    union sockaddr_u a, b;
    addr_from_ip("127.0.0.1", 80, &a);
    addr_from_ip("::ffff:127.0.0.1", 80, &b);
    ok(addr_equal(&a, &b), "v4-mapped equals v4");
    ok(addr_is_loopback(&b), "v4-mapped loopback");
    char buf[ADDR_STRLEN];
    addr_from_ip("::1", 443, &a);
    addr_format(&a, buf, sizeof(buf), true);
    is_str(buf, "[::1]:443", "format v6");
    struct cidr c;
    ok(cidr_parse("10.1.2.3/8", &c) == 0, "cidr");
    addr_from_ip("10.200.0.1", 1, &a);
    ok(cidr_match(&c, &a), "in 10/8");
    addr_from_ip("11.0.0.1", 1, &a);
    ok(!cidr_match(&c, &a), "not in 10/8");
    ok(cidr_parse("fe80::/10", &c) == 0, "v6 cidr");
    addr_from_ip("fe80::1", 1, &a);
    ok(cidr_match(&c, &a), "in fe80::/10");
    ok(cidr_parse("10.0.0.0/33", &c) == -1, "bad prefix");
}

int main(void)
{
    test_values();
    test_addr();
    test_full();
    test_default();
    test_errors();
    test_shared();
    test_warnings();
    return tap_done("config");
}
