/* addr.h - socket addresses: "host:port" parsing, formatting, comparison and
 * CIDR matching. Pure functions, no DNS: names are resolve.c's job. */
#ifndef LUXY_ADDR_H
#define LUXY_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

union sockaddr_u {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

#define ADDR_STRLEN 64 /* "[ffff:...:ffff%scope]:65535" fits */
#define ADDR_HOSTLEN 256

/* Split "host:port", "[v6]:port", "host" or "[v6]" into host (without
 * brackets, NUL-terminated) and port. default_port is used when none is
 * given; 0 means a port is required. Returns 0, or -1 with *err set to a
 * static message. */
int addr_split(const char *s, size_t len, char host[ADDR_HOSTLEN], uint16_t *port,
               uint16_t default_port, const char **err);

/* Fill *out from an IP literal (v4 or v6, no brackets) and a port.
 * Returns 0, or -1 when host is not an IP literal. */
int addr_from_ip(const char *host, uint16_t port, union sockaddr_u *out);

socklen_t addr_len(const union sockaddr_u *a);
uint16_t addr_port(const union sockaddr_u *a);
void addr_set_port(union sockaddr_u *a, uint16_t port);

/* "127.0.0.1:80" or "[::1]:80" (with_port) / "127.0.0.1" or "::1".
 * Returns the length written (always NUL-terminated, cap >= ADDR_STRLEN). */
size_t addr_format(const union sockaddr_u *a, char *buf, size_t cap, bool with_port);

/* Same family, same IP and same port (IPv4-mapped IPv6 equals its IPv4). */
bool addr_equal(const union sockaddr_u *a, const union sockaddr_u *b);
bool addr_is_loopback(const union sockaddr_u *a);
bool addr_is_any(const union sockaddr_u *a); /* 0.0.0.0 or :: */

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t net[16];
    unsigned bits;
};

/* "10.0.0.0/8", "::1", "192.168.1.7" (a host). Returns 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
bool cidr_match(const struct cidr *c, const union sockaddr_u *a);

#endif
