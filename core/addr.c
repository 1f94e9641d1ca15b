/* addr.c - socket address helpers: parse, format, compare, CIDR match. */
#include "addr.h"
#include "luxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int addr_split(const char *s, size_t len, char host[ADDR_HOSTLEN], uint16_t *port,
               uint16_t default_port, const char **err)
{
    const char *h, *p = NULL;
    size_t hlen, plen = 0;
    if (len == 0) {
        *err = "empty address";
        return -1;
    }
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) {
            *err = "missing ']' in IPv6 address";
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':') {
                *err = "junk after ']'";
                return -1;
            }
            p = close + 2;
            plen = rest - 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
            *err = "IPv6 addresses need brackets: [::1]:80";
            return -1;
        }
        h = s;
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) {
            p = colon + 1;
            plen = len - hlen - 1;
        }
    }
    if (hlen == 0 || hlen >= ADDR_HOSTLEN) {
        *err = hlen ? "host name too long" : "empty host";
        return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '@' || c == '?' || c == '#') {
            *err = "invalid character in host";
            return -1;
        }
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (p) {
        if (parse_port(p, plen, port) == -1) {
            *err = "invalid port";
            return -1;
        }
    } else if (default_port) {
        *port = default_port;
    } else {
        *err = "missing port";
        return -1;
    }
    return 0;
}

int addr_from_ip(const char *host, uint16_t port, union sockaddr_u *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, &out->in.sin_addr) == 1) {
        out->in.sin_family = AF_INET;
        out->in.sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
        out->in6.sin6_family = AF_INET6;
        out->in6.sin6_port = htons(port);
        return 0;
    }
    return -1;
}

socklen_t addr_len(const union sockaddr_u *a)
{
    return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

uint16_t addr_port(const union sockaddr_u *a)
{
    return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

void addr_set_port(union sockaddr_u *a, uint16_t port)
{
    if (a->sa.sa_family == AF_INET6)
        a->in6.sin6_port = htons(port);
    else
        a->in.sin_port = htons(port);
}

size_t addr_format(const union sockaddr_u *a, char *buf, size_t cap, bool with_port)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int n;
    if (a->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof(ip));
        n = with_port ? snprintf(buf, cap, "[%s]:%u", ip, addr_port(a)) : snprintf(buf, cap, "%s", ip);
    } else if (a->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->in.sin_addr, ip, sizeof(ip));
        n = with_port ? snprintf(buf, cap, "%s:%u", ip, addr_port(a)) : snprintf(buf, cap, "%s", ip);
    } else {
        n = snprintf(buf, cap, "unix");
    }
    return n < 0 ? 0 : min((size_t)n, cap - 1);
}

/* The 4 bytes of an IPv4 or IPv4-mapped IPv6 address, else NULL. */
static const uint8_t *v4_bytes(const union sockaddr_u *a)
{
    if (a->sa.sa_family == AF_INET)
        return (const uint8_t *)&a->in.sin_addr;
    if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr))
        return (const uint8_t *)&a->in6.sin6_addr + 12;
    return NULL;
}

bool addr_equal(const union sockaddr_u *a, const union sockaddr_u *b)
{
    if (addr_port(a) != addr_port(b))
        return false;
    const uint8_t *x = v4_bytes(a), *y = v4_bytes(b);
    if (x || y)
        return x && y && memcmp(x, y, 4) == 0;
    return a->sa.sa_family == AF_INET6 && b->sa.sa_family == AF_INET6 &&
           memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
}

bool addr_is_loopback(const union sockaddr_u *a)
{
    const uint8_t *x = v4_bytes(a);
    if (x)
        return x[0] == 127;
    return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a->in6.sin6_addr);
}

bool addr_is_any(const union sockaddr_u *a)
{
    const uint8_t *x = v4_bytes(a);
    if (x)
        return (x[0] | x[1] | x[2] | x[3]) == 0;
    return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
}

int cidr_parse(const char *s, struct cidr *out)
{
    char ip[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t iplen = slash ? (size_t)(slash - s) : strlen(s);
    if (iplen == 0 || iplen >= sizeof(ip))
        return -1;
    memcpy(ip, s, iplen);
    ip[iplen] = '\0';
    memset(out, 0, sizeof(*out));
    unsigned maxbits;
    if (inet_pton(AF_INET, ip, out->net) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, ip, out->net) == 1) {
        out->family = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    out->bits = maxbits;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || b < 0 || (unsigned long)b > maxbits)
            return -1;
        out->bits = (unsigned)b;
    }
    /* clear host bits so that "10.1.2.3/8" means 10.0.0.0/8 */
    for (unsigned i = out->bits; i < maxbits; i++)
        out->net[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
    return 0;
}

static bool prefix_match(const uint8_t *net, const uint8_t *ip, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(net, ip, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net[whole] & mask) == (ip[whole] & mask);
}

bool cidr_match(const struct cidr *c, const union sockaddr_u *a)
{
    if (c->family == AF_INET) {
        const uint8_t *x = v4_bytes(a);
        return x && prefix_match(c->net, x, c->bits);
    }
    if (a->sa.sa_family != AF_INET6)
        return false;
    return prefix_match(c->net, (const uint8_t *)&a->in6.sin6_addr, c->bits);
}
