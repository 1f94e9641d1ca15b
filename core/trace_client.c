/* trace_client.c - see trace_client.h. A command-line client, not part of
 * the server: it blocks on its socket, polls the admin listener every
 * 200 ms with the number it has seen, and prints each new trace as one
 * JSON line (the ring may hand a trace out twice when an older request
 * finished late: repeats are dropped here). */
#include "trace_client.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lua/config.h"
#include "addr.h"
#include "config.h"
#include "jsonw.h"
#include "luxy.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: luxy trace [-c FILE | --admin HOST:PORT] [--token TOKEN] [--filter 'KEY=VALUE ...']\n"
                 "                  [--id N] [--count N] [--seconds S]\n"
                 "  follows the decision traces of a running luxy through its admin listener: one JSON\n"
                 "  line per finished request that matches the filter; while it runs every request is traced.\n"
                 "  -c FILE        the configuration: its first admin listener (and token)\n"
                 "  --admin ADDR   the admin listener's address (default 127.0.0.1:9000)\n"
                 "  --filter TERMS host=, path= (a trailing * is a prefix), method=, status= (404, 5xx),\n"
                 "                 upstream=, backend=, client=; all must match\n"
                 "  --id N         print trace N (a traced response's Luxy-Trace field) and exit\n"
                 "  --count N      exit after N traces; --seconds S: after S seconds\n");
}

/* %XX-encodes s for a query. */
static void query_encode(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~*", c))
            sbuf_add(b, (const char *)&c, 1);
        else
            sbuf_printf(b, "%%%02X", c);
    }
}

/* GET path from host:port; the body into out. Returns the status or -1. */
static int get(const char *host, const char *port, const char *path, const char *token, struct sbuf *out)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sbuf req;
    sbuf_init(&req);
    sbuf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", path, host);
    if (token)
        sbuf_printf(&req, "Authorization: Bearer %s\r\n", token);
    sbuf_str(&req, "\r\n");
    ssize_t w = write(fd, req.p, req.len);
    sbuf_free(&req);
    if (w < 0) {
        close(fd);
        return -1;
    }
    struct sbuf all;
    sbuf_init(&all);
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && all.len < 64 * 1024 * 1024)
        sbuf_add(&all, buf, (size_t)n);
    close(fd);
    int status = -1;
    const char *body = all.p ? strstr(all.p, "\r\n\r\n") : NULL;
    if (all.p && sscanf(all.p, "HTTP/1.%*d %d", &status) == 1 && body)
        sbuf_add(out, body + 4, all.len - (size_t)(body + 4 - all.p));
    sbuf_free(&all);
    return status;
}

/* The first admin listener of the configuration at path. */
static int admin_of(const char *path, char *addr, size_t n, char **token)
{
    struct config cfg;
    char err[1024];
    if (config_load(path, &cfg, err, sizeof(err)) == -1) {
        fprintf(stderr, "luxy trace: %s\n", err);
        return -1;
    }
    int rc = -1;
    for (unsigned i = 0; i < cfg.nlisteners; i++)
        if (cfg.listeners[i].mode == MODE_ADMIN) {
            addr_format(&cfg.listeners[i].addr, addr, n, true);
            if (cfg.listeners[i].token)
                *token = xstrdup(cfg.listeners[i].token);
            rc = 0;
            break;
        }
    if (rc)
        fprintf(stderr, "luxy trace: %s has no admin listener (listen { \"127.0.0.1:9000\", mode = \"admin\" })\n", path);
    config_free(&cfg);
    return rc;
}

#define SEEN_MAX 4096

int trace_client_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "admin", required_argument, NULL, 'a' }, { "token", required_argument, NULL, 'k' },
        { "filter", required_argument, NULL, 'f' }, { "id", required_argument, NULL, 'i' },
        { "count", required_argument, NULL, 'n' },  { "seconds", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
    };
    char addr[ADDR_STRLEN] = "127.0.0.1:9000";
    char *token = NULL;
    const char *filter = NULL, *id = NULL;
    long count = 0;
    double seconds = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (admin_of(optarg, addr, sizeof(addr), &token) == -1)
                return 1;
            break;
        case 'a':
            snprintf(addr, sizeof(addr), "%s", optarg);
            break;
        case 'k':
            free(token);
            token = xstrdup(optarg);
            break;
        case 'f':
            filter = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'n':
            count = atol(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    /* host:port, [v6]:port */
    char host[ADDR_STRLEN], *port = strrchr(addr, ':');
    if (port == NULL) {
        fprintf(stderr, "luxy trace: --admin %s: expected HOST:PORT\n", addr);
        return 2;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(port - addr), addr);
    port++;
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct sbuf path, body;
    int rc = 0;
    if (id) {
        sbuf_init(&path);
        sbuf_init(&body);
        sbuf_str(&path, "/api/traces?id=");
        query_encode(&path, id);
        int st = get(host, port, path.p, token, &body);
        if (st != 200) {
            fprintf(stderr, "luxy trace: %s %s: %s\n", addr, path.p, st < 0 ? strerror(errno) : body.p ? body.p : "error");
            rc = 1;
        } else {
            printf("%s\n", body.p);
        }
        sbuf_free(&path);
        sbuf_free(&body);
        free(token);
        return rc;
    }
    unsigned long long since = 0, *seen = calloc(SEEN_MAX, sizeof(*seen));
    long printed = 0;
    double start = luxy_monotonic();
    bool first = true;
    for (;;) {
        sbuf_init(&path);
        sbuf_init(&body);
        sbuf_printf(&path, "/api/traces?format=lines&since=%llu", since);
        if (filter) {
            sbuf_str(&path, "&filter=");
            query_encode(&path, filter);
        }
        int st = get(host, port, path.p, token, &body);
        if (st != 200) {
            fprintf(stderr, "luxy trace: %s: %s\n", addr, st < 0 ? strerror(errno) : body.p ? body.p : "error");
            rc = 1;
            sbuf_free(&path);
            sbuf_free(&body);
            break;
        }
        for (char *line = body.p, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
            *nl = '\0';
            unsigned long long n;
            if (sscanf(line, "next %llu", &n) == 1) {
                since = n;
            } else if (!first && sscanf(line, "{\"trace\":%llu", &n) == 1 && seen[n % SEEN_MAX] != n &&
                       (count == 0 || printed < count)) {
                seen[n % SEEN_MAX] = n;
                printf("%s\n", line);
                printed++;
            } else if (first && sscanf(line, "{\"trace\":%llu", &n) == 1) {
                seen[n % SEEN_MAX] = n; /* what finished before we came is history, not the stream */
            }
        }
        fflush(stdout);
        sbuf_free(&path);
        sbuf_free(&body);
        first = false;
        if ((count && printed >= count) || (seconds > 0 && luxy_monotonic() - start >= seconds))
            break;
        struct timespec pause = { 0, 200 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    free(seen);
    free(token);
    return rc;
}
