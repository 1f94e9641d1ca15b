/* destination.h - where a forward proxy refuses to go: host name
 * patterns ("example.com", "*.example.com" for its subdomains,
 * ".example.com" for both) and address ranges (CIDRs, or presets such as
 * "private"), the ranges checked on the address actually connected to, so
 * that a name pointing inside cannot slip through. Pure. */
#ifndef LUXY_DESTINATION_H
#define LUXY_DESTINATION_H

#include <stdbool.h>

#include "addr.h"
#include "luxy.h"

struct destination_rules {
    struct cidr *nets;
    unsigned nnets;
    char **hosts;              /* lower case; "*.x" and ".x" kept as written */
    unsigned nhosts;
};

/* Adds one rule as written in deny_destinations: a preset name, a CIDR or
 * an address, else a host pattern. Returns false (and *why) for what is
 * none of them. */
bool destination_add(struct destination_rules *d, const char *rule, const char **why);
void destination_free(struct destination_rules *d);

bool destination_host_denied(const struct destination_rules *d, struct slice host);
bool destination_addr_denied(const struct destination_rules *d, const union sockaddr_u *a);

/* "loopback, private, link-local, multicast, unspecified, internal" */
const char *destination_presets(void);

#endif
