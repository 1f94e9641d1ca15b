/* authfile.h - a proxy user file, as `htpasswd -B` writes it: one
 * "user:hash" per line, '#' comments and blank lines allowed.
 *
 * Loaded once, in the main thread, when the configuration is read
 * (blocking I/O is fine there); what comes out is immutable, so every
 * worker reads it without a lock. Only hashes that Debian's libcrypt
 * (libxcrypt) verifies and that are not too weak are accepted: bcrypt
 * ($2y$, $2b$, $2a$), yescrypt ($y$), sha512crypt ($6$), sha256crypt
 * ($5$). Anything else refuses the whole file, with file:line and what to
 * do, because a user who silently cannot log in is worse than a proxy that
 * does not start. */
#ifndef LUXY_AUTHFILE_H
#define LUXY_AUTHFILE_H

#include <stddef.h>
#include <stdint.h>

#include "luxy.h"

#define AUTHFILE_LINE_MAX 4096          /* bytes per line, newline excluded */
#define AUTHFILE_SIZE_MAX (16u << 20)   /* a larger file is not a user file */

struct authfile_user {
    struct slice name;  /* NUL-terminated too; no ':', no control characters */
    const char *hash;   /* a crypt(3) string, NUL-terminated */
    unsigned line;
};

struct authfile {
    uint64_t id;                  /* unique per load: caches key on it */
    char *path;
    struct authfile_user *users;  /* sorted by name (bytes, then length) */
    size_t n;
    const char *dummy;            /* hashed for unknown users: see authfile_dummy */
    char *text;                   /* names and hashes point in here */
};

/* Reads and checks path. Returns the users, or NULL with a message in err
 * ("path:line: what is wrong; what to do"). */
struct authfile *authfile_load(const char *path, char *err, size_t errlen);
/* The same from text already in memory; name is used in messages. */
struct authfile *authfile_parse(const char *name, const char *text, size_t len, char *err,
                                size_t errlen);
void authfile_free(struct authfile *af);

/* The user of that name, or NULL. */
const struct authfile_user *authfile_find(const struct authfile *af, struct slice name);

/* A hash that a password for an unknown user is checked against, so that
 * the answer takes as long as for a known user and does not tell which
 * names exist. It is the first user's (in file order): its cost is that
 * user's; the result is thrown away. */
static inline const char *authfile_dummy(const struct authfile *af)
{
    return af->dummy;
}

#endif
