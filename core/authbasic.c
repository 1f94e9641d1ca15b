/* authbasic.c - see authbasic.h. Decoding is strict (RFC 4648 section 3):
 * a length that is a multiple of 4, '=' only as the last one or two
 * characters, and zero bits where padding cuts a byte, so that one
 * credential has one encoding. */
#include "authbasic.h"

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decoded length; -1 when s is not strict base64, -2 when it does not fit. */
static long decode(struct slice s, char *out, size_t outlen)
{
    if (s.len == 0 || s.len % 4)
        return -1;
    size_t pad = s.ptr[s.len - 1] == '=' ? (s.ptr[s.len - 2] == '=' ? 2 : 1) : 0;
    size_t n = s.len / 4 * 3 - pad;
    if (n > outlen)
        return -2;
    size_t o = 0;
    for (size_t i = 0; i < s.len; i += 4) {
        int v[4];
        size_t last = i + 4 == s.len ? pad : 0;
        for (size_t j = 0; j < 4; j++) {
            v[j] = j >= 4 - last ? 0 : b64val((unsigned char)s.ptr[i + j]);
            if (v[j] < 0)
                return -1; /* '=' inside, or a character outside the alphabet */
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        if ((last == 2 && (w & 0xffff)) || (last == 1 && (w & 0xff)))
            return -1; /* bits set under the padding */
        out[o++] = (char)(w >> 16);
        if (last < 2)
            out[o++] = (char)(w >> 8);
        if (last < 1)
            out[o++] = (char)w;
    }
    return (long)o;
}

const char *auth_basic_parse(struct slice value, char *buf, size_t buflen, struct slice *user,
                             struct slice *password)
{
    struct slice v = slice_trim(value);
    if (v.len < 6 || !slice_caseeq(slice_make(v.ptr, 5), "basic", 5) || v.ptr[5] != ' ')
        return "not Basic credentials";
    size_t i = 6;
    while (i < v.len && v.ptr[i] == ' ')
        i++;
    struct slice b = slice_make(v.ptr + i, v.len - i);
    if (b.len == 0)
        return "empty Basic credentials";
    if (b.len > (AUTH_BASIC_MAX + 2) / 3 * 4)
        return "Basic credentials too long";
    long n = decode(b, buf, min(buflen, (size_t)AUTH_BASIC_MAX));
    if (n == -2)
        return "Basic credentials too long";
    if (n < 0)
        return "Basic credentials are not valid base64";
    const char *colon = memchr(buf, ':', (size_t)n);
    if (colon == NULL)
        return "Basic credentials without ':'";
    size_t ul = (size_t)(colon - buf);
    if (ul == 0)
        return "Basic credentials with an empty user";
    for (size_t k = 0; k < ul; k++) {
        unsigned char c = (unsigned char)buf[k];
        if (c < 0x20 || c == 0x7f)
            return "control character in the Basic user";
    }
    if (memchr(colon + 1, '\0', (size_t)n - ul - 1))
        return "NUL in the Basic password";
    *user = slice_make(buf, ul);
    *password = slice_make(colon + 1, (size_t)n - ul - 1);
    return NULL;
}
