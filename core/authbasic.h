/* authbasic.h - reading `Proxy-Authorization: Basic <base64>` (RFC 7617)
 * into a user and a password. A pure function: it writes only into the
 * caller's buffer and returns slices of it.
 * Invariant: what it accepts has exactly one spelling (strict base64,
 * padding required, no stray bits), a user without ':' or control
 * characters, and a password without NUL (crypt(3) would stop there). */
#ifndef LUXY_AUTHBASIC_H
#define LUXY_AUTHBASIC_H

#include "luxy.h"

#define AUTH_BASIC_MAX 1024 /* decoded "user:password" bytes */

/* value: the field value (surrounding whitespace is ignored). On success
 * returns NULL and sets user and password (slices of buf, which needs
 * room for the decoded bytes: AUTH_BASIC_MAX is always enough); else
 * returns a static message such as "not Basic credentials". */
const char *auth_basic_parse(struct slice value, char *buf, size_t buflen, struct slice *user,
                             struct slice *password);

#endif
