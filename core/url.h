/* url.h - the origin part of an absolute http(s) URL, as it appears in
 * Referer, Location and Refresh: scheme, authority (userinfo dropped),
 * host (IPv6 without brackets) and port (the scheme's default when none).
 * Pure. */
#ifndef LUXY_URL_H
#define LUXY_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "luxy.h"

struct url_origin {
    struct slice scheme, authority, host;
    uint16_t port;
    size_t rest;               /* offset of what follows the authority (path, query, fragment) */
};

/* False when v is not "http://..." or "https://..." with a valid authority. */
bool url_parse_origin(struct slice v, struct url_origin *o);

#endif
