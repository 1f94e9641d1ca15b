/* fuzz_authfile.c - proxy authentication parsers on hostile input. The
 * first byte chooses: even, the rest is a user file (authfile_parse);
 * odd, the rest is a Proxy-Authorization value (auth_basic_parse). No
 * crash, no read past the input, and what is accepted keeps its
 * invariants: a user file has users, sorted, unique, each found by name,
 * with clean names and a hash; Basic credentials decode from exactly the
 * canonical base64 of what they decoded to (one spelling per credential),
 * with a clean user and a password without NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/authbasic.h"
#include "../../core/authfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_file(const char *p, size_t n)
{
    char err[512];
    struct authfile *af = authfile_parse("fuzz", p, n, err, sizeof(err));
    if (af == NULL) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
            __builtin_trap(); /* a refusal always says why */
        return;
    }
    if (af->n == 0 || af->dummy == NULL)
        __builtin_trap();
    for (size_t i = 0; i < af->n; i++) {
        const struct authfile_user *u = &af->users[i];
        if (u->name.len == 0 || u->name.ptr[u->name.len] != '\0' || strlen(u->hash) < 13)
            __builtin_trap();
        for (size_t k = 0; k < u->name.len; k++) {
            unsigned char c = (unsigned char)u->name.ptr[k];
            if (c < 0x20 || c == 0x7f || c == ':')
                __builtin_trap();
        }
        if (authfile_find(af, u->name) != u)
            __builtin_trap();
        if (i > 0) {
            const struct authfile_user *v = &af->users[i - 1];
            int c = memcmp(v->name.ptr, u->name.ptr, v->name.len < u->name.len ? v->name.len
                                                                                : u->name.len);
            if (c > 0 || (c == 0 && v->name.len >= u->name.len))
                __builtin_trap(); /* sorted, no duplicates */
        }
    }
    authfile_free(af);
}

static size_t b64enc(const char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    return o;
}

static void check_basic(const char *p, size_t n)
{
    char buf[AUTH_BASIC_MAX];
    struct slice user, pw;
    if (auth_basic_parse(slice_make(p, n), buf, sizeof(buf), &user, &pw) != NULL)
        return;
    if (user.ptr != buf || user.len == 0 || pw.ptr != buf + user.len + 1 ||
        user.len + 1 + pw.len > sizeof(buf) || memchr(pw.ptr, '\0', pw.len))
        __builtin_trap();
    for (size_t k = 0; k < user.len; k++) {
        unsigned char c = (unsigned char)user.ptr[k];
        if (c < 0x20 || c == 0x7f || c == ':')
            __builtin_trap();
    }
    /* the token is the canonical encoding of what it decoded to */
    char enc[AUTH_BASIC_MAX / 3 * 4 + 8];
    size_t el = b64enc(buf, user.len + 1 + pw.len, enc);
    struct slice v = slice_trim(slice_make(p, n));
    if (v.len < el || memcmp(v.ptr + v.len - el, enc, el) != 0 || v.ptr[v.len - el - 1] != ' ')
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* an exact-size copy: a read past the end is caught */
    char *p = malloc(size - 1 ? size - 1 : 1);
    memcpy(p, data + 1, size - 1);
    if (data[0] & 1)
        check_basic(p, size - 1);
    else
        check_file(p, size - 1);
    free(p);
    return 0;
}
