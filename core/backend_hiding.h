/* backend_hiding.h - what a reverse proxy's clients never learn about the
 * servers behind it: their software (Server, X-Powered-By and kin are
 * removed; Server may be replaced by a configured value) and their
 * addresses (Location, Content-Location and Refresh URLs that point at a
 * backend are rewritten to the origin the client used, as nginx's default
 * proxy_redirect does). Pure: the caller says what a backend is. */
#ifndef LUXY_BACKEND_HIDING_H
#define LUXY_BACKEND_HIDING_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "headers.h"
#include "luxy.h"

struct hiding_subject {
    /* the client's Host ("www.example.com:8080"): the rewritten URLs' origin;
     * asked only when a URL is rewritten */
    struct slice (*public_host)(void *ctx);
    bool (*is_backend)(void *ctx, struct slice host, uint16_t port);
    void *ctx;
};

/* server: the Server value clients see, or NULL for none. */
void backend_hiding_apply(struct headers *h, struct arena *a, const char *server, const struct hiding_subject *s);

#endif
