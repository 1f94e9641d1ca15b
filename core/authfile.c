/* authfile.c - see authfile.h. The file is read whole, copied once, and
 * cut in place: names and hashes are NUL-terminated runs of that copy, and
 * the users are a sorted array searched by bisection.
 * Invariant: an authfile that exists holds at least one user, no two with
 * one name, and only hashes of the accepted schemes, well formed. */
#include "authfile.h"

#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t next_id = 1;

static bool is_space(char c)
{
    /* what Apache's ap_cfg_getline strips, so both read one file alike */
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* crypt(3)'s base64 alphabet */
static bool b64(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!(c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

static bool has_prefix(const char *p, size_t n, const char *pre)
{
    size_t k = strlen(pre);
    return n >= k && memcmp(p, pre, k) == 0;
}

/* $2y$NN$ + 22 characters of salt + 31 of hash */
static const char *check_bcrypt(const char *h, size_t n)
{
    if (n != 60 || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$' ||
        !b64(h + 7, 53))
        return "malformed bcrypt hash (60 characters expected): was the line cut? recreate it "
               "with htpasswd -B";
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return "bcrypt cost out of range (04-31); recreate it with htpasswd -B";
    return NULL;
}

/* $5$ / $6$ [rounds=N$] salt (1-16) $ hash (43 / 86) */
static const char *check_shacrypt(const char *h, size_t n, size_t hashlen)
{
    const char *p = h + 3, *end = h + n;
    if (has_prefix(p, (size_t)(end - p), "rounds=")) {
        p += 7;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d || p - d > 9 || p == end || *p != '$')
            return "malformed rounds= in a SHA-crypt hash; recreate it with htpasswd -B";
        p++;
    }
    const char *salt = p;
    while (p < end && *p != '$')
        p++;
    if (p == salt || p - salt > 16 || !b64(salt, (size_t)(p - salt)) || p == end ||
        (size_t)(end - p - 1) != hashlen || !b64(p + 1, hashlen))
        return "malformed SHA-crypt hash: was the line cut? recreate it with htpasswd -B";
    return NULL;
}

/* $y$ params $ salt $ hash (43) */
static const char *check_yescrypt(const char *h, size_t n)
{
    const char *p = h + 3, *end = h + n;
    for (int field = 0; field < 2; field++) {
        const char *f = p;
        while (p < end && *p != '$')
            p++;
        if (p == f || p == end || !b64(f, (size_t)(p - f)))
            return "malformed yescrypt hash: was the line cut? recreate it with htpasswd -B";
        p++;
    }
    if (end - p != 43 || !b64(p, 43))
        return "malformed yescrypt hash: was the line cut? recreate it with htpasswd -B";
    return NULL;
}

/* NULL when the hash is one we verify; else why not and what to do. The
 * scheme names come first so that the common mistakes get a precise
 * message. */
static const char *check_hash(const char *h, size_t n, char *buf, size_t buflen)
{
    const char *why;
    if (has_prefix(h, n, "$2y$") || has_prefix(h, n, "$2b$") || has_prefix(h, n, "$2a$"))
        why = check_bcrypt(h, n);
    else if (has_prefix(h, n, "$y$"))
        why = check_yescrypt(h, n);
    else if (has_prefix(h, n, "$6$"))
        why = check_shacrypt(h, n, 86);
    else if (has_prefix(h, n, "$5$"))
        why = check_shacrypt(h, n, 43);
    else if (has_prefix(h, n, "$apr1$"))
        return "Apache MD5 ($apr1$, htpasswd's default) is weak and libcrypt cannot verify it; "
               "recreate the password with htpasswd -B";
    else if (has_prefix(h, n, "{SHA}"))
        return "{SHA} is unsalted SHA-1, too weak; recreate the password with htpasswd -B";
    else if (has_prefix(h, n, "$1$"))
        return "MD5-crypt ($1$) is too weak; recreate the password with htpasswd -B";
    else if (n == 13 && b64(h, n))
        return "this looks like a DES crypt hash (13 characters): too weak, and it ignores all "
               "but 8 characters of a password; recreate the password with htpasswd -B";
    else if (h[0] == '$') {
        const char *d = memchr(h + 1, '$', min(n - 1, (size_t)16));
        size_t id = d ? (size_t)(d - h) + 1 : 0;
        if (id == 0 || !b64(h + 1, id - 2))
            return "unknown hash format; recreate the password with htpasswd -B";
        snprintf(buf, buflen, "unsupported hash scheme '%.*s'; use bcrypt (htpasswd -B), or "
                 "yescrypt ($y$), sha512crypt ($6$), sha256crypt ($5$)", (int)id, h);
        return buf;
    } else
        return "the password is not hashed (plain text, or a format luxy does not know); store "
               "a hash: htpasswd -B FILE USER";
    if (why)
        return why;
    /* the shape is right; ask libcrypt whether it will really verify it
     * (sha256crypt is "legacy" to it, still supported) */
    switch (crypt_checksalt(h)) {
    case CRYPT_SALT_OK:
    case CRYPT_SALT_METHOD_LEGACY:
        return NULL;
    case CRYPT_SALT_METHOD_DISABLED:
        return "this hash scheme is disabled in this system's libcrypt; recreate the password "
               "with htpasswd -B";
    default:
        return "libcrypt does not accept this hash; recreate it with htpasswd -B";
    }
}

static int user_cmp(const void *a, const void *b)
{
    const struct authfile_user *x = a, *y = b;
    int c = memcmp(x->name.ptr, y->name.ptr, min(x->name.len, y->name.len));
    if (c)
        return c;
    if (x->name.len != y->name.len)
        return x->name.len < y->name.len ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line; /* duplicates: file order */
}

static struct authfile *fail(struct authfile *af, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct authfile *fail(struct authfile *af, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    authfile_free(af);
    return NULL;
}

struct authfile *authfile_parse(const char *name, const char *text, size_t len, char *err,
                                size_t errlen)
{
    struct authfile *af = xcalloc(1, sizeof(*af));
    af->path = xstrdup(name);
    af->text = xmalloc(len + 1);
    memcpy(af->text, text, len);
    af->text[len] = '\0';
    size_t cap = 0;
    char *p = af->text, *end = af->text + len;
    char why_buf[160];
    for (unsigned line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (stop - p > AUTHFILE_LINE_MAX)
            return fail(af, err, errlen, "%s:%u: line longer than %u bytes; is this a user file "
                        "(user:hash lines, as htpasswd -B writes)?", name, line, AUTHFILE_LINE_MAX);
        while (p < stop && is_space(*p))
            p++;
        while (stop > p && is_space(stop[-1]))
            stop--;
        if (p == stop || *p == '#') {
            p = next;
            continue;
        }
        char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon == NULL)
            return fail(af, err, errlen, "%s:%u: no ':' between user and hash; lines are "
                        "user:hash (htpasswd -B FILE USER writes them)", name, line);
        if (memchr(colon + 1, ':', (size_t)(stop - colon - 1)))
            return fail(af, err, errlen, "%s:%u: more than one ':'; a user name cannot contain "
                        "':' (Basic credentials end the name at the first one), and htdigest "
                        "files (user:realm:hash) are not supported; use htpasswd -B", name, line);
        struct slice user = slice_make(p, (size_t)(colon - p));
        if (user.len == 0)
            return fail(af, err, errlen, "%s:%u: empty user name", name, line);
        for (size_t i = 0; i < user.len; i++)
            if (is_ctl((unsigned char)user.ptr[i]))
                return fail(af, err, errlen, "%s:%u: user name contains a control character "
                            "(byte 0x%02x); Basic credentials cannot carry it", name, line,
                            (unsigned char)user.ptr[i]);
        if (is_space(user.ptr[user.len - 1]))
            return fail(af, err, errlen, "%s:%u: user name '%.*s' ends with whitespace; remove "
                        "it before the ':'", name, line, (int)user.len, user.ptr);
        char *h = colon + 1;
        size_t hn = (size_t)(stop - h);
        if (hn == 0)
            return fail(af, err, errlen, "%s:%u: user '%.*s' has no password hash; set one with "
                        "htpasswd -B %s '%.*s'", name, line, (int)user.len, user.ptr, name,
                        (int)user.len, user.ptr);
        if (is_space(*h))
            return fail(af, err, errlen, "%s:%u: user '%.*s': whitespace after ':'; the hash "
                        "follows it directly", name, line, (int)user.len, user.ptr);
        /* NUL-terminate both in place: crypt wants C strings */
        *colon = '\0';
        *stop = '\0';
        for (size_t i = 0; i < hn; i++)
            if (h[i] == '\0') /* a NUL would cut the hash libcrypt sees */
                return fail(af, err, errlen, "%s:%u: user '%.*s': NUL byte in the hash", name,
                            line, (int)user.len, user.ptr);
        const char *why = check_hash(h, hn, why_buf, sizeof(why_buf));
        if (why)
            return fail(af, err, errlen, "%s:%u: user '%.*s': %s", name, line, (int)user.len,
                        user.ptr, why);
        if (af->n == cap) {
            cap = cap ? cap * 2 : 16;
            af->users = xrealloc(af->users, cap * sizeof(*af->users));
        }
        af->users[af->n++] = (struct authfile_user){ user, h, line };
        if (af->dummy == NULL)
            af->dummy = h;
        p = next;
    }
    if (af->n == 0)
        return fail(af, err, errlen, "%s: no user in the file; add one with htpasswd -B %s USER",
                    name, name);
    qsort(af->users, af->n, sizeof(*af->users), user_cmp);
    for (size_t i = 1; i < af->n; i++) {
        const struct authfile_user *a = &af->users[i - 1], *b = &af->users[i];
        if (a->name.len == b->name.len && memcmp(a->name.ptr, b->name.ptr, a->name.len) == 0)
            return fail(af, err, errlen, "%s:%u: user '%s' is already defined at line %u; keep "
                        "one of the two lines", name, b->line, b->name.ptr, a->line);
    }
    af->id = atomic_fetch_add(&next_id, 1);
    return af;
}

struct authfile *authfile_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open the user file: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 64 * 1024;
    char *text = xmalloc(cap);
    for (;;) {
        if (len == cap)
            text = xrealloc(text, cap *= 2);
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (len > AUTHFILE_SIZE_MAX) {
            snprintf(err, errlen, "%s: larger than %u MB; is this a user file?", path,
                     AUTHFILE_SIZE_MAX >> 20);
            free(text);
            fclose(f);
            return NULL;
        }
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: cannot read the user file: %s", path, strerror(saved));
        free(text);
        return NULL;
    }
    struct authfile *af = authfile_parse(path, text, len, err, errlen);
    free(text);
    return af;
}

void authfile_free(struct authfile *af)
{
    if (af == NULL)
        return;
    free(af->users);
    free(af->text);
    free(af->path);
    free(af);
}

const struct authfile_user *authfile_find(const struct authfile *af, struct slice name)
{
    if (name.len == 0)
        return NULL; /* never a user; and memcmp must not see a NULL pointer */
    size_t lo = 0, hi = af->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct authfile_user *u = &af->users[mid];
        int c = memcmp(u->name.ptr, name.ptr, min(u->name.len, name.len));
        if (c == 0 && u->name.len != name.len)
            c = u->name.len < name.len ? -1 : 1;
        if (c == 0)
            return u;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
