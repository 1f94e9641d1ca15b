/* purge_body.h - what POST /api/purge asks for (admin.c): the entries of
 * one URL, of every URL under a prefix, or carrying a tag, as a JSON
 * object ({"url": "http://example.com/a"}) or a form
 * (prefix=http%3A%2F%2Fexample.com%2Fnews%2F). Pure functions: bytes in,
 * a request or an error message out; fuzzed by tests/fuzz/fuzz_purge.c. */
#ifndef LUXY_PURGE_BODY_H
#define LUXY_PURGE_BODY_H

#include <stdbool.h>
#include <stddef.h>

#define PURGE_VALUE_MAX 4096     /* bytes of the decoded value */
#define PURGE_TAG_MAX 256

enum purge_by { PURGE_URL, PURGE_PREFIX, PURGE_TAG };

struct purge_request {
    enum purge_by by;
    char value[PURGE_VALUE_MAX + 1];   /* as given (decoded), NUL-terminated */
    size_t len;
    char key[PURGE_VALUE_MAX + 16];    /* url, prefix: as a cache key, http://host:port/path?query */
    size_t key_len;
};

/* Reads body[0..len) sent with Content-Type ctype[0..ctype_len) (ctype
 * NULL: none was sent; a body starting with '{' is then JSON, else a
 * form). Exactly one of url, prefix, tag must be named, with a string.
 * Returns 0, or the status to answer with a message in err: 400 (a
 * malformed body, an unknown name, a bad value) or 415 (another media
 * type). */
int purge_body_parse(const char *ctype, size_t ctype_len, const char *body, size_t len, struct purge_request *out,
                     char *err, size_t errlen);

/* The cache key an http:// URL names, as luxy's default key writes it:
 * the host lower-cased, the port always there (80 by default), the path
 * ("/" when none) and the query, without the fragment. Returns the key's
 * length (written to out, NUL-terminated), or -1 with *why. */
int purge_url_key(const char *url, size_t n, char *out, size_t cap, const char **why);

#endif
