/* anonymity.h - what an origin learns about the client of a forward
 * proxy: the levels (transparent, anonymous, elite) and the options on
 * top of them (cookie policy, an allow-list of request fields), applied
 * to a request's fields after hop-by-hop removal and to the response's.
 * Pure: no sockets, no request object; new strings come from the caller's
 * arena. lua/luxy/anonymity/ holds the same rules written in Lua; the
 * tests hold the two to the same output (docs/anonymity.md). */
#ifndef LUXY_ANONYMITY_H
#define LUXY_ANONYMITY_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "headers.h"
#include "luxy.h"

enum anonymity_level {
    ANON_OFF,          /* luxy neither adds nor removes anything: a script decides */
    ANON_TRANSPARENT,  /* the client's address is forwarded (X-Forwarded-For, Forwarded, Via) */
    ANON_ANONYMOUS,    /* no client address anywhere; Via admits a proxy */
    ANON_ELITE,        /* no sign of a proxy, device and OS details neutralized */
};

enum cookie_policy { COOKIES_PASS, COOKIES_STRIP, COOKIES_THIRD_PARTY };

struct anonymity_config {
    enum anonymity_level level;
    char *user_agent;          /* elite: the User-Agent every request carries */
    char *accept_language;     /* elite: replaces a client's Accept-Language */
    enum cookie_policy cookies;
    char **send_only;          /* when set: the only request fields sent (Host always) */
    unsigned nsend_only;
};

#define ANON_DEFAULT_USER_AGENT \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
#define ANON_DEFAULT_ACCEPT_LANGUAGE "en-US,en;q=0.9"

/* What the rules need to know about one request. */
struct anonymity_subject {
    struct slice client_ip;    /* for transparent */
    struct slice host;         /* the destination, for Referer and third-party checks */
    uint16_t port;
    struct slice via;          /* the Via pseudonym; empty: no Via */
    bool third_party;          /* from anonymity_third_party, before the fields change */
};

/* "transparent" ... or NULL / -1 for what is not a level. */
const char *anonymity_level_name(enum anonymity_level level);
int anonymity_level_parse(const char *name);

/* Is the request a third-party one: a page of another site asked for it
 * (Sec-Fetch-Site: cross-site, else a Referer of another site)? Sites are
 * compared by their last two labels (three under a two-letter country
 * code with a short second level, as in example.co.uk): an approximation
 * of registrable domains without a public-suffix list. */
bool anonymity_third_party(const struct headers *h, struct slice host);

/* The request side of level with cfg's options. */
void anonymity_request(struct headers *h, struct arena *a, const struct anonymity_config *cfg,
                       enum anonymity_level level, const struct anonymity_subject *s);

/* The response side: Via (transparent, anonymous), and Set-Cookie removed
 * when the cookie policy strips this request's cookies. */
void anonymity_response(struct headers *h, struct arena *a, const struct anonymity_config *cfg,
                        enum anonymity_level level, const struct anonymity_subject *s);

/* The site part of a host name (see anonymity_third_party). */
struct slice anonymity_site(struct slice host);

#endif
