/* destination.c - see destination.h. */
#include "destination.h"

#include <stdlib.h>
#include <string.h>

struct preset {
    const char *name;
    const char *nets[8];
};

static const struct preset presets[] = {
    { "loopback", { "127.0.0.0/8", "::1/128" } },
    { "private", { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7" } },
    { "link-local", { "169.254.0.0/16", "fe80::/10" } },
    { "multicast", { "224.0.0.0/4", "ff00::/8" } },
    { "unspecified", { "0.0.0.0/8", "::/128" } },
};

const char *destination_presets(void)
{
    return "loopback, private, link-local, multicast, unspecified, internal (all of them)";
}

static void add_net(struct destination_rules *d, const struct cidr *c)
{
    d->nets = xrealloc(d->nets, (d->nnets + 1) * sizeof(*d->nets));
    d->nets[d->nnets++] = *c;
}

static bool add_preset(struct destination_rules *d, const char *name)
{
    bool all = strcmp(name, "internal") == 0, found = all;
    for (size_t i = 0; i < countof(presets); i++) {
        if (!all && strcmp(name, presets[i].name) != 0)
            continue;
        found = true;
        for (size_t k = 0; k < countof(presets[i].nets) && presets[i].nets[k]; k++) {
            struct cidr c;
            if (cidr_parse(presets[i].nets[k], &c) == 0)
                add_net(d, &c);
        }
    }
    return found;
}

static bool host_pattern_ok(const char *s)
{
    const char *p = s[0] == '*' && s[1] == '.' ? s + 2 : s[0] == '.' ? s + 1 : s;
    if (*p == '\0')
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.' || *p == '_'))
            return false;
    return true;
}

bool destination_add(struct destination_rules *d, const char *rule, const char **why)
{
    if (add_preset(d, rule))
        return true;
    struct cidr c;
    if (cidr_parse(rule, &c) == 0) {
        add_net(d, &c);
        return true;
    }
    if (!host_pattern_ok(rule)) {
        *why = "not a preset, a network or a host pattern";
        return false;
    }
    d->hosts = xrealloc(d->hosts, (d->nhosts + 1) * sizeof(*d->hosts));
    char *h = xstrdup(rule);
    for (char *p = h; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    d->hosts[d->nhosts++] = h;
    return true;
}

void destination_free(struct destination_rules *d)
{
    for (unsigned i = 0; i < d->nhosts; i++)
        free(d->hosts[i]);
    free(d->hosts);
    free(d->nets);
    memset(d, 0, sizeof(*d));
}

static bool ends_with_label(struct slice host, const char *suffix)
{
    size_t n = strlen(suffix);
    return host.len > n && host.ptr[host.len - n - 1] == '.' &&
           slice_caseeq(slice_make(host.ptr + host.len - n, n), suffix, n);
}

bool destination_host_denied(const struct destination_rules *d, struct slice host)
{
    if (host.len && host.ptr[host.len - 1] == '.')
        host.len--; /* "example.com." is example.com */
    for (unsigned i = 0; i < d->nhosts; i++) {
        const char *p = d->hosts[i];
        if (p[0] == '*' && p[1] == '.') {
            if (ends_with_label(host, p + 2))
                return true;
        } else if (p[0] == '.') {
            if (ends_with_label(host, p + 1) || slice_caseeq(host, p + 1, strlen(p + 1)))
                return true;
        } else if (slice_caseeq(host, p, strlen(p))) {
            return true;
        }
    }
    return false;
}

bool destination_addr_denied(const struct destination_rules *d, const union sockaddr_u *a)
{
    for (unsigned i = 0; i < d->nnets; i++)
        if (cidr_match(&d->nets[i], a))
            return true;
    return false;
}
