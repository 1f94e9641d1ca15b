/* test_authfile.c - user files: every accepted scheme and layout, every
 * refused case with the message it gives (file:line, what to do), lookup;
 * and Basic credential parsing at its edges. The hashes are real crypt(3)
 * outputs, made here with crypt_gensalt_rn + crypt_rn at low cost. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/authbasic.h"
#include "../../core/authfile.h"
#include "../../core/luxy.h"
#include "tap.h"

static char h_2y[128], h_2b[128], h_2a[128], h_y[128], h_6[128], h_5[128], h_5r[128], h_1[128],
    h_des[128], h_gy[128], h_7[128];

static void make(char *out, const char *prefix, unsigned long count)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    if (crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)) == NULL) {
        printf("# crypt_gensalt_rn(%s) failed\n", prefix);
        exit(1);
    }
    const char *h = crypt_rn("secret", setting, &cd, sizeof(cd));
    if (h == NULL) {
        printf("# crypt_rn(%s) failed\n", setting);
        exit(1);
    }
    snprintf(out, 128, "%s", h);
}

static void make_hashes(void)
{
    make(h_2y, "$2y$", 4);
    make(h_2b, "$2b$", 4);
    make(h_2a, "$2a$", 4);
    make(h_y, "$y$", 1);
    make(h_6, "$6$", 0);
    make(h_5, "$5$", 0);
    make(h_5r, "$5$", 1000); /* $5$rounds=1000$... */
    make(h_1, "$1$", 0);
    make(h_des, "", 0);
    make(h_gy, "$gy$", 1);
    make(h_7, "$7$", 0);
}

static struct authfile *parse(const char *text, char *err)
{
    err[0] = '\0';
    return authfile_parse("users", text, strlen(text), err, 512);
}

/* text is refused with a message containing each of the wanted parts */
static void refused(const char *what, const char *text, const char *want1, const char *want2)
{
    char err[512];
    struct authfile *af = parse(text, err);
    ok(af == NULL, "%s: refused", what);
    ok(strstr(err, want1) != NULL, "%s: message has '%s': %s", what, want1, err);
    if (want2)
        ok(strstr(err, want2) != NULL, "%s: message has '%s': %s", what, want2, err);
    authfile_free(af);
}

static bool has(const struct authfile *af, const char *name, const char *hash)
{
    const struct authfile_user *u = authfile_find(af, slice_make(name, strlen(name)));
    return u && strcmp(u->hash, hash) == 0 && strlen(u->name.ptr) == u->name.len;
}

static void test_accepted(void)
{
    char text[4096], err[512];
    snprintf(text, sizeof(text),
             "# made by htpasswd -B\n"
             "\n"
             "alice:%s\n"
             "bob:%s\r\n"           /* CRLF */
             "carol:%s   \t\n"       /* trailing whitespace */
             "  dave:%s\n"           /* leading whitespace, as Apache reads it */
             "   # an indented comment\n"
             " \t \r\n"              /* a blank line of whitespace */
             "erin:%s\n"
             "frank:%s\n"
             "grace:%s\n"
             "john smith:%s\n"       /* a space inside a name is allowed */
             "jos\xc3\xa9:%s",       /* UTF-8, and no final newline */
             h_2y, h_2b, h_2a, h_y, h_6, h_5, h_5r, h_2y, h_y);
    struct authfile *af = parse(text, err);
    ok(af != NULL, "every supported scheme and layout accepted: %s", err);
    if (af == NULL)
        return;
    is_int(af->n, 9, "nine users");
    ok(has(af, "alice", h_2y) && has(af, "bob", h_2b) && has(af, "carol", h_2a), "bcrypt 2y/2b/2a");
    ok(has(af, "dave", h_y), "yescrypt, leading whitespace stripped");
    ok(has(af, "erin", h_6) && has(af, "frank", h_5) && has(af, "grace", h_5r),
       "sha512crypt, sha256crypt");
    ok(has(af, "john smith", h_2y) && has(af, "jos\xc3\xa9", h_y), "space and UTF-8 in names");
    ok(authfile_find(af, SLICE_LIT("ali")) == NULL, "a prefix is not a user");
    ok(authfile_find(af, SLICE_LIT("alicex")) == NULL, "nor a longer name");
    ok(authfile_find(af, SLICE_LIT("Alice")) == NULL, "names are case-sensitive");
    ok(authfile_find(af, SLICE_NULL) == NULL, "the empty name is nobody");
    ok(authfile_find(af, SLICE_LIT("zzz")) == NULL && authfile_find(af, SLICE_LIT("a")) == NULL,
       "past both ends");
    is_str(authfile_dummy(af), h_2y, "the dummy hash is the first user's (file order)");
    is_int(authfile_find(af, SLICE_LIT("bob"))->line, 4, "line numbers kept");
    struct authfile *again = parse(text, err);
    ok(again && again->id != af->id, "every load has its own id");
    authfile_free(again);
    authfile_free(af);

    /* a line of exactly the limit is fine, one byte more is not */
    char *big = xmalloc(AUTHFILE_LINE_MAX + 64);
    size_t hl = strlen(h_2y), ul = AUTHFILE_LINE_MAX - hl - 1;
    memset(big, 'u', ul);
    big[ul] = ':';
    memcpy(big + ul + 1, h_2y, hl + 1);
    af = parse(big, err);
    ok(af != NULL && af->users[0].name.len == ul, "a %u-byte line is accepted: %s",
       AUTHFILE_LINE_MAX, err);
    authfile_free(af);
    memmove(big + 1, big, strlen(big) + 1);
    refused("overlong line", big, "users:1: line longer than 4096 bytes", "htpasswd -B");
    free(big);
}

static void test_refused(void)
{
    char text[1024];
#define REFUSE(what, w1, w2, ...)                                                               \
    do {                                                                                        \
        snprintf(text, sizeof(text), __VA_ARGS__);                                              \
        refused(what, text, w1, w2);                                                            \
    } while (0)
    REFUSE("apr1", "users:2: user 'bob': Apache MD5 ($apr1$", "htpasswd -B",
           "alice:%s\nbob:$apr1$7A9zqV0O$Gbsn8qXYb0vG6u8mJmY1d/\n", h_2y);
    REFUSE("{SHA}", "users:1: user 'bob': {SHA} is unsalted SHA-1", "htpasswd -B",
           "bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n");
    REFUSE("md5crypt", "users:1: user 'bob': MD5-crypt ($1$)", "htpasswd -B", "bob:%s\n", h_1);
    REFUSE("DES", "users:1: user 'bob': this looks like a DES crypt hash", "htpasswd -B",
           "bob:%s\n", h_des);
    REFUSE("plain text", "users:1: user 'bob': the password is not hashed", "htpasswd -B",
           "bob:hunter2\n");
    REFUSE("gost-yescrypt", "unsupported hash scheme '$gy$'", "htpasswd -B", "bob:%s\n", h_gy);
    REFUSE("scrypt", "unsupported hash scheme '$7$'", "bcrypt", "bob:%s\n", h_7);
    REFUSE("$2x$", "unsupported hash scheme '$2x$'", NULL, "bob:$2x$%s\n", h_2y + 4);
    REFUSE("garbage after $", "users:1: user 'bob': unknown hash format", NULL, "bob:$!!!\n");
    REFUSE("cut bcrypt", "users:1: user 'bob': malformed bcrypt hash", "was the line cut",
           "bob:%.50s\n", h_2y);
    REFUSE("bcrypt bad char", "malformed bcrypt hash", NULL, "bob:%.59s*\n", h_2y);
    REFUSE("bcrypt cost 03", "bcrypt cost out of range", NULL, "bob:$2y$03$%s\n", h_2y + 7);
    REFUSE("bcrypt cost 32", "bcrypt cost out of range", NULL, "bob:$2y$32$%s\n", h_2y + 7);
    REFUSE("cut yescrypt", "malformed yescrypt hash", NULL, "bob:%.40s\n", h_y);
    REFUSE("yescrypt empty salt", "malformed yescrypt hash", NULL, "bob:$y$j75$$%s\n",
           strrchr(h_y, '$') + 1);
    REFUSE("cut sha512crypt", "malformed SHA-crypt hash", NULL, "bob:%.60s\n", h_6);
    REFUSE("sha256crypt bad rounds", "malformed rounds=", NULL, "bob:$5$rounds=x$%s\n", h_5 + 3);
    REFUSE("sha256crypt long salt", "malformed SHA-crypt", NULL,
           "bob:$5$aaaaaaaaaaaaaaaaa%s\n", strrchr(h_5, '$'));
    REFUSE("duplicate", "users:4: user 'bob' is already defined at line 2", "keep one",
           "alice:%s\nbob:%s\ncarol:%s\nbob:%s\n", h_2y, h_2y, h_y, h_6);
    REFUSE("empty user", "users:1: empty user name", NULL, ":%s\n", h_2y);
    REFUSE("':' in user", "users:1: more than one ':'", "htdigest", "a:b:%s\n", h_2y);
    REFUSE("control char in user", "users:1: user name contains a control character (byte 0x01)",
           NULL, "a\001b:%s\n", h_2y);
    REFUSE("tab in user", "control character (byte 0x09)", NULL, "a\tb:%s\n", h_2y);
    REFUSE("DEL in user", "control character (byte 0x7f)", NULL, "a\177b:%s\n", h_2y);
    REFUSE("space before ':'", "users:1: user name 'bob ' ends with whitespace", NULL,
           "bob :%s\n", h_2y);
    REFUSE("space after ':'", "users:1: user 'bob': whitespace after ':'", NULL, "bob: %s\n", h_2y);
    REFUSE("no ':'", "users:3: no ':' between user and hash", "htpasswd -B",
           "# c\n\njust-a-name\n");
    REFUSE("no hash", "users:1: user 'bob' has no password hash", "htpasswd -B", "bob:\n");
    REFUSE("comments only", "users: no user in the file", "htpasswd -B users USER",
           "# nobody\n\n   \n");
    REFUSE("empty file", "users: no user in the file", NULL, "%s", "");
    /* a NUL byte cannot come through snprintf: build it by hand */
    char nul[128];
    int n = snprintf(nul, sizeof(nul), "bob:%s\n", h_2y);
    nul[20] = '\0';
    char err[512];
    struct authfile *af = authfile_parse("users", nul, (size_t)n, err, sizeof(err));
    ok(af == NULL && strstr(err, "users:1: user 'bob': NUL byte in the hash"), "NUL in a hash: %s",
       err);
    nul[20] = 'x';
    nul[1] = '\0';
    af = authfile_parse("users", nul, (size_t)n, err, sizeof(err));
    ok(af == NULL && strstr(err, "control character (byte 0x00)"), "NUL in a name: %s", err);
#undef REFUSE
}

static void test_load(void)
{
    char path[] = "/tmp/luxy-authfile-XXXXXX", err[512];
    int fd = mkstemp(path);
    char text[256];
    int n = snprintf(text, sizeof(text), "alice:%s\n", h_y);
    ok(fd >= 0 && write(fd, text, (size_t)n) == n, "temp file written");
    close(fd);
    struct authfile *af = authfile_load(path, err, sizeof(err));
    ok(af && af->n == 1 && has(af, "alice", h_y) && strcmp(af->path, path) == 0, "loaded: %s", err);
    authfile_free(af);
    unlink(path);
    af = authfile_load(path, err, sizeof(err));
    ok(af == NULL && strstr(err, "cannot open the user file") && strstr(err, path),
       "missing file: %s", err);
    af = authfile_load("/", err, sizeof(err));
    ok(af == NULL && strstr(err, "/: cannot read the user file"), "a directory: %s", err);
}

/* ---- Basic credentials ---- */

static void b64enc(const char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

static const char *basic(const char *value, struct slice *u, struct slice *p)
{
    static char buf[AUTH_BASIC_MAX];
    *u = *p = SLICE_NULL;
    return auth_basic_parse(slice_make(value, strlen(value)), buf, sizeof(buf), u, p);
}

static void good(const char *value, const char *user, const char *pass, size_t passlen)
{
    struct slice u, p;
    const char *e = basic(value, &u, &p);
    ok(e == NULL && slice_eq(u, user, strlen(user)) && slice_eq(p, pass, passlen),
       "'%s' -> '%s' / '%s' (%s)", value, user, pass, e ? e : "ok");
}

static void bad(const char *value, const char *want)
{
    struct slice u, p;
    const char *e = basic(value, &u, &p);
    ok(e && strcmp(e, want) == 0, "'%.40s' refused: got '%s', want '%s'", value, e ? e : "(ok)",
       want);
}

static void test_basic(void)
{
    good("Basic Ym9iOnNlY3JldA==", "bob", "secret", 6);
    good("basic Ym9iOnNlY3JldA==", "bob", "secret", 6);
    good("bAsIc Ym9iOnNlY3JldA==", "bob", "secret", 6); /* the scheme is case-insensitive */
    good("Basic    Ym9iOnNlY3JldA==", "bob", "secret", 6);
    good("  Basic Ym9iOnNlY3JldA== \t", "bob", "secret", 6);
    good("Basic Ym9iOg==", "bob", "", 0);                 /* empty password */
    good("Basic Ym9iOmE6Yg==", "bob", "a:b", 3);          /* split at the first ':' */
    good("Basic am9zw6k6Y2Fmw6k=", "jos\xc3\xa9", "caf\xc3\xa9", 5);
    bad("Bearer abc", "not Basic credentials");
    bad("Basic", "not Basic credentials");
    bad("BasicYm9iOnNlY3JldA==", "not Basic credentials");
    bad("Basic\tYm9iOnNlY3JldA==", "not Basic credentials");
    bad("Basically Ym9i", "not Basic credentials");
    bad("Basic ", "not Basic credentials"); /* trimmed to "Basic" */
    bad("", "not Basic credentials");
    bad("Basic Ym9iOnNlY3JldA", "Basic credentials are not valid base64");    /* no padding */
    bad("Basic Ym9iOnNlY3JldA=", "Basic credentials are not valid base64");
    bad("Basic Ym9iOnNlY3JldB==", "Basic credentials are not valid base64");  /* stray bits */
    bad("Basic Ym9=", "Basic credentials are not valid base64");
    bad("Basic Ym8=", "Basic credentials without ':'");                      /* "bo" */
    bad("Basic Ym9i", "Basic credentials without ':'");
    bad("Basic Ym=iOnNl", "Basic credentials are not valid base64");          /* '=' inside */
    bad("Basic Ym9i=Ong", "Basic credentials are not valid base64");
    bad("Basic ====", "Basic credentials are not valid base64");
    bad("Basic Ym9i*nNl", "Basic credentials are not valid base64");
    bad("Basic Ym9i-nNl", "Basic credentials are not valid base64");          /* base64url */
    bad("Basic Ym9i OnNl", "Basic credentials are not valid base64");
    bad("Basic OnB3", "Basic credentials with an empty user");
    bad("Basic YgFvYjpwdw==", "control character in the Basic user");
    bad("Basic Yn9vYjpwdw==", "control character in the Basic user");
    bad("Basic YQliOnB3", "control character in the Basic user");
    bad("Basic Ym9iOnAAdw==", "NUL in the Basic password");

    /* the bound: 1024 decoded bytes pass, 1025 do not */
    static char raw[AUTH_BASIC_MAX + 2], enc[2000], hdr[2100];
    memset(raw, 'p', sizeof(raw));
    memcpy(raw, "bob:", 4);
    b64enc(raw, AUTH_BASIC_MAX, enc);
    snprintf(hdr, sizeof(hdr), "Basic %s", enc);
    struct slice u, p;
    ok(basic(hdr, &u, &p) == NULL && p.len == AUTH_BASIC_MAX - 4, "1024 bytes decoded pass");
    b64enc(raw, AUTH_BASIC_MAX + 1, enc);
    snprintf(hdr, sizeof(hdr), "Basic %s", enc);
    bad(hdr, "Basic credentials too long");
    /* a small buffer is respected */
    char small[4];
    const char *v = "Basic Ym9iOnNlY3JldA==";
    ok(auth_basic_parse(slice_make(v, strlen(v)), small, sizeof(small), &u, &p) != NULL,
       "a buffer too small for the credentials refuses them");
}

int main(void)
{
    make_hashes();
    test_accepted();
    test_refused();
    test_load();
    test_basic();
    return tap_done("authfile");
}
