/* config_listen.c (lua/) - the listen directive: the address, the mode,
 * who may connect, and what each mode does to the traffic (anonymity and
 * destinations for forward listeners; forwarding fields and backend
 * hiding for reverse ones; the token of admin ones). Options that mean
 * nothing in the listener's mode are errors. */
#include "config_dsl.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/config.h"
#include "../core/headers.h"
#include "../core/luxy.h"
#include "vm.h"

static void parse_allow(lua_State *L, int t, struct listener_config *l, const char *what)
{
    if (!opt_field(L, t, "allow"))
        return;
    int a = lua_gettop(L);
    if (lua_type(L, a) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, a);
        lua_rawseti(L, -2, 1);
        lua_replace(L, a);
    }
    if (!lua_istable(L, a))
        luaL_error(L, "%s: allow must be a list of networks such as { \"127.0.0.0/8\" }", what);
    unsigned n = (unsigned)lua_rawlen(L, a);
    if (n == 0)
        luaL_error(L, "%s: allow is empty, nobody could connect (everyone: { \"0.0.0.0/0\", \"::/0\" })", what);
    l->allow = xcalloc(n, sizeof(*l->allow));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, a, (lua_Integer)i + 1);
        const char *s = lua_tostring(L, -1);
        if (s == NULL || cidr_parse(s, &l->allow[i]) == -1)
            luaL_error(L, "%s: allow[%d] is not a network such as \"10.0.0.0/8\"", what, (int)i + 1);
        lua_pop(L, 1);
    }
    l->nallow = n;
    lua_pop(L, 1);
}

static void parse_connect_ports(lua_State *L, int t, struct listener_config *l, const char *what)
{
    if (!opt_field(L, t, "connect_ports")) {
        if (l->mode == MODE_FORWARD) { /* HTTPS only: a CONNECT to port 25 is a spam relay */
            l->connect_ports = xcalloc(1, sizeof(*l->connect_ports));
            l->connect_ports[0] = 443;
            l->nconnect_ports = 1;
        }
        return;
    }
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "any") == 0) {
        l->connect_any = true;
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: connect_ports must be a list of ports such as { 443, 8443 }, or \"any\"", what);
    unsigned n = (unsigned)lua_rawlen(L, -1);
    l->connect_ports = xcalloc(n ? n : 1, sizeof(*l->connect_ports));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        lua_Integer p = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (p < 1 || p > 65535)
            luaL_error(L, "%s: connect_ports[%d] is not a port", what, (int)i + 1);
        l->connect_ports[i] = (uint16_t)p;
        lua_pop(L, 1);
    }
    l->nconnect_ports = n;
    lua_pop(L, 1);
}

static bool valid_field_name(const char *s)
{
    return headers_valid_name(slice_make(s, strlen(s)));
}

static char *opt_field_value(lua_State *L, const char *what, const char *k, const char *dflt)
{
    char *v = opt_string(L, 1, what, k, dflt);
    if (v && !headers_valid_value(slice_make(v, strlen(v)))) {
        free(v);
        luaL_error(L, "%s: %s is not a valid header value", what, k);
    }
    return v;
}

static bool given(lua_State *L, const char *k)
{
    lua_getfield(L, 1, k);
    bool g = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return g;
}

/* auth = { users = "users.htpasswd", realm = "..." }: the file is read
 * now (relative to the configuration's directory), so that -t and the
 * start refuse a bad one with its file:line. */
static void parse_auth(lua_State *L, struct listener_config *l, const char *what)
{
    if (!opt_field(L, 1, "auth"))
        return;
    int t = lua_gettop(L);
    char sub[200];
    snprintf(sub, sizeof(sub), "%s: auth", what);
    if (!lua_istable(L, t))
        luaL_error(L, "%s must be a table such as { users = \"users.htpasswd\", realm = \"proxy\" }", sub);
    static const char *const keys[] = { "users", "realm", NULL };
    check_keys(L, t, sub, keys, false);
    struct proxy_auth_config *pa = &l->auth;
    pa->on = true;
    pa->realm = opt_string(L, t, sub, "realm", "proxy");
    for (const char *p = pa->realm; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
            luaL_error(L, "%s: realm may not contain quotes, backslashes or control characters", sub);
    char *users = opt_string(L, t, sub, "users", NULL);
    if (users) {
        const char *dir = vm_of(L)->script_dir;
        size_t n = strlen(dir) + strlen(users) + 2;
        pa->users_path = xmalloc(n);
        snprintf(pa->users_path, n, "%s%s%s", users[0] == '/' || !dir[0] ? "" : dir,
                 users[0] == '/' || !dir[0] ? "" : "/", users);
        free(users);
        char err[512];
        pa->users = authfile_load(pa->users_path, err, sizeof(err));
        if (pa->users == NULL)
            luaL_error(L, "%s.users: %s", sub, err);
    }
    lua_pop(L, 1);
}

/* forward: anonymity level and its options, destinations, parent */
static void parse_forward(lua_State *L, struct listener_config *l, const char *what)
{
    struct anonymity_config *a = &l->anon;
    a->level = ANON_ANONYMOUS;
    if (opt_field(L, 1, "anonymity")) {
        int lv = -1;
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
            lv = ANON_OFF;
        else if (lua_type(L, -1) == LUA_TSTRING)
            lv = anonymity_level_parse(lua_tostring(L, -1)); /* "off" is false */
        if (lv < 0)
            luaL_error(L, "%s: anonymity must be \"transparent\", \"anonymous\", \"elite\" or false", what);
        a->level = (enum anonymity_level)lv;
        lua_pop(L, 1);
    }
    if (a->level != ANON_ELITE) {
        static const char *const elite_only[] = { "user_agent", "accept_language", NULL };
        for (const char *const *k = elite_only; *k; k++)
            if (given(L, *k))
                luaL_error(L, "%s: '%s' applies with anonymity = \"elite\" only", what, *k);
    }
    if (a->level == ANON_OFF) {
        static const char *const level_only[] = { "cookies", "send_only", NULL };
        for (const char *const *k = level_only; *k; k++)
            if (given(L, *k))
                luaL_error(L, "%s: '%s' needs an anonymity level (with anonymity = false a script decides)", what, *k);
    }
    /* the defaults for every level: a script may set req.anonymity = "elite"
     * on a request of any forward listener (only elite ones take options) */
    a->user_agent = opt_field_value(L, what, "user_agent", ANON_DEFAULT_USER_AGENT);
    a->accept_language = opt_field_value(L, what, "accept_language", ANON_DEFAULT_ACCEPT_LANGUAGE);
    char *cookies = opt_string(L, 1, what, "cookies", "pass");
    a->cookies = strcmp(cookies, "strip") == 0 ? COOKIES_STRIP
                 : strcmp(cookies, "third_party") == 0 ? COOKIES_THIRD_PARTY : COOKIES_PASS;
    bool known = strcmp(cookies, "pass") == 0 || a->cookies != COOKIES_PASS;
    free(cookies);
    if (!known)
        luaL_error(L, "%s: cookies must be \"pass\", \"strip\" or \"third_party\"", what);
    a->send_only = opt_string_list(L, 1, what, "send_only", &a->nsend_only, valid_field_name);
    if (a->send_only && a->nsend_only == 0)
        luaL_error(L, "%s: send_only is empty (Host alone would go out); list the fields to send", what);

    unsigned n;
    char **rules = opt_string_list(L, 1, what, "deny_destinations", &n, NULL);
    for (unsigned i = 0; i < n; i++) {
        const char *why = NULL;
        bool ok = destination_add(&l->deny, rules[i], &why);
        if (!ok) {
            lua_pushfstring(L, "%s: deny_destinations[%d] '%s': %s (presets: %s)", what, (int)i + 1, rules[i], why,
                            destination_presets());
            for (unsigned j = 0; j < n; j++)
                free(rules[j]);
            free(rules);
            lua_error(L);
        }
    }
    for (unsigned j = 0; j < n; j++)
        free(rules[j]);
    free(rules);
    l->parent = opt_string(L, 1, what, "parent", NULL);
    parse_auth(L, l, what);
}

/* reverse: the forwarding fields backends get, and what clients never see */
static void parse_reverse(lua_State *L, struct listener_config *l, const char *what)
{
    l->fwd.x_forwarded = opt_bool(L, 1, what, "x_forwarded", true);
    snprintf(l->fwd.port, sizeof(l->fwd.port), "%u", (unsigned)addr_port(&l->addr));
    l->fwd.forwarded = opt_bool(L, 1, what, "forwarded", false);
    char *fh = opt_string(L, 1, what, "forwarding_headers", "drop");
    bool ok = strcmp(fh, "drop") == 0 || strcmp(fh, "keep") == 0;
    l->fwd.keep_client_fields = strcmp(fh, "keep") == 0;
    free(fh);
    if (!ok)
        luaL_error(L, "%s: forwarding_headers must be \"drop\" (from untrusted clients) or \"keep\"", what);
    l->hide_backend = opt_bool(L, 1, what, "hide_backend", true);
    if (!l->hide_backend && given(L, "server_header"))
        luaL_error(L, "%s: server_header applies with hide_backend only", what);
    if (opt_field(L, 1, "server_header")) {
        if (lua_type(L, -1) != LUA_TSTRING || !headers_valid_value(slice_make(lua_tostring(L, -1), lua_rawlen(L, -1))) ||
            lua_rawlen(L, -1) == 0)
            luaL_error(L, "%s: server_header must be the Server value clients see, such as \"web\"", what);
        l->server_header = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

/* request_id = "X-Request-Id" (the field), true (that one) or false
 * (none). By default reverse listeners give every request an id and
 * forward ones do not: an id sent to origins would tell them a proxy is
 * involved (docs/anonymity.md), and elite refuses one. */
static void parse_request_id(lua_State *L, struct listener_config *l, const char *what)
{
    if (!opt_field(L, 1, "request_id")) {
        l->request_id = l->mode == MODE_REVERSE ? xstrdup("X-Request-Id") : NULL;
        l->request_id_len = l->request_id ? strlen(l->request_id) : 0;
        return;
    }
    /* fields the core itself decides: an id in them would break messages */
    static const char *const taken[] = { "Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade",
                                         "Keep-Alive", "TE", "Trailer", "Via", "Date", "Cookie", "Set-Cookie",
                                         "Forwarded", "X-Forwarded-For", "Authorization", "Proxy-Authorization",
                                         "Proxy-Authenticate", "Location", NULL };
    if (lua_isboolean(L, -1)) {
        l->request_id = lua_toboolean(L, -1) ? xstrdup("X-Request-Id") : NULL;
    } else if (lua_type(L, -1) == LUA_TSTRING && valid_field_name(lua_tostring(L, -1)) &&
               lua_rawlen(L, -1) <= 64) {
        const char *name = lua_tostring(L, -1);
        for (const char *const *t = taken; *t; t++)
            if (strcasecmp(*t, name) == 0)
                luaL_error(L, "%s: request_id cannot be %s (luxy or HTTP itself decides that field)", what, *t);
        l->request_id = xstrdup(name);
    } else {
        luaL_error(L, "%s: request_id must be a field name such as \"X-Request-Id\", true or false", what);
    }
    l->request_id_len = l->request_id ? strlen(l->request_id) : 0;
    lua_pop(L, 1);
    if (l->request_id && l->mode == MODE_FORWARD && l->anon.level == ANON_ELITE)
        luaL_error(L, "%s: request_id means nothing with anonymity = \"elite\" (an id would show a proxy "
                      "is involved)", what);
}

static void set_default_allow_loopback(struct listener_config *l)
{
    /* a forward proxy open to the world is an abuse magnet: without an
     * explicit allow list only this host may use it */
    l->allow = xcalloc(2, sizeof(*l->allow));
    cidr_parse("127.0.0.0/8", &l->allow[0]);
    cidr_parse("::1", &l->allow[1]);
    l->nallow = 2;
}

/* An admin listener's token: what every request must carry (Authorization:
 * Bearer, or ?token= for the status page). Long enough not to be guessed,
 * and of characters that need no escaping in a header or a URL. */
static void parse_token(lua_State *L, struct listener_config *l, const char *what)
{
    if (!opt_field(L, 1, "token"))
        return;
    size_t n = 0;
    const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (t == NULL)
        luaL_error(L, "%s: token must be a string", what);
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') ||
              t[i] == '-' || t[i] == '.' || t[i] == '_' || t[i] == '~'))
            luaL_error(L, "%s: token may only hold letters, digits, '-', '.', '_' and '~'", what);
    if (n < 16 || n > 256)
        luaL_error(L, "%s: token must be 16 to 256 characters (make one with: head -c 24 /dev/urandom | "
                   "base64 | tr '+/' '-_')", what);
    l->token = xstrndup(t, n);
    lua_pop(L, 1);
}

/* mode = "admin": luxy's own status, metrics and controls (core/admin.c).
 * Only this host by default; anywhere else only with a token. */
static int parse_admin(lua_State *L, struct listener_config *l, const char *what)
{
    static const char *const admin_keys[] = { "mode", "allow", "token", "backlog", NULL };
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1); /* stack: [..., key] */
        if (lua_type(L, -1) != LUA_TSTRING)
            continue; /* the address */
        const char *k = lua_tostring(L, -1);
        bool ok = false;
        for (const char *const *a = admin_keys; *a && !ok; a++)
            ok = strcmp(k, *a) == 0;
        if (!ok)
            return luaL_error(L, "%s: '%s' means nothing for an admin listener (its options: allow, token, backlog)",
                              what, k);
    }
    parse_allow(L, 1, l, what);
    if (l->nallow == 0)
        set_default_allow_loopback(l);
    parse_token(L, l, what);
    if (l->token == NULL && !addr_is_loopback(&l->addr))
        return luaL_error(L, "%s: an admin listener on an address other hosts can reach needs a token "
                          "(token = \"...\", at least 16 characters; or listen on 127.0.0.1)", what);
    l->backlog = (int)opt_int(L, 1, what, "backlog", 511, 1, 65535);
    l->cache = false;
    return 0;
}

int dsl_listen(lua_State *L)
{
    struct config *c = building(L);
    if (lua_type(L, 1) == LUA_TSTRING) { /* listen "0.0.0.0:8080" */
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 1);
        lua_rawseti(L, -2, 1);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "mode", "allow", "upstream", "connect_ports", "via", "x_forwarded",
                                        "backlog", "keepalive", "cache", "anonymity", "user_agent",
                                        "accept_language", "cookies", "send_only", "deny_destinations",
                                        "parent", "trusted_proxies", "forwarded", "forwarding_headers",
                                        "hide_backend", "server_header", "auth", "token", "request_id", NULL };
    lua_rawgeti(L, 1, 1);
    const char *spec = lua_tostring(L, -1);
    if (spec == NULL)
        return luaL_error(L, "listen: the first item must be an address such as \"127.0.0.1:8080\"");
    char what[160];
    snprintf(what, sizeof(what), "listen %s", spec);
    check_keys(L, 1, what, keys, true);
    if (lua_rawlen(L, 1) != 1)
        return luaL_error(L, "%s: one address per listen", what);

    c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*c->listeners));
    struct listener_config *l = &c->listeners[c->nlisteners++];
    memset(l, 0, sizeof(*l));
    l->spec = xstrdup(spec);
    l->line = caller_line(L);
    char host[ADDR_HOSTLEN];
    uint16_t port;
    const char *err;
    if (addr_split(spec, strlen(spec), host, &port, 0, &err) == -1)
        return luaL_error(L, "%s: %s", what, err);
    if (addr_from_ip(host, port, &l->addr) == -1)
        return luaL_error(L, "%s: listen addresses must be IP addresses (\"0.0.0.0\", \"[::]\")", what);
    char *mode = opt_string(L, 1, what, "mode", "reverse");
    bool known_mode = strcmp(mode, "reverse") == 0 || strcmp(mode, "forward") == 0 || strcmp(mode, "admin") == 0;
    l->mode = strcmp(mode, "forward") == 0 ? MODE_FORWARD : strcmp(mode, "admin") == 0 ? MODE_ADMIN : MODE_REVERSE;
    free(mode);
    if (!known_mode)
        return luaL_error(L, "%s: mode must be \"reverse\", \"forward\" or \"admin\"", what);
    if (l->mode == MODE_ADMIN)
        return parse_admin(L, l, what);
    if (given(L, "token"))
        return luaL_error(L, "%s: 'token' means nothing for a %s listener (it is for admin listeners)", what,
                          l->mode == MODE_FORWARD ? "forward" : "reverse");
    /* options that would be silently meaningless for this mode */
    static const char *const forward_only[] = { "connect_ports", "keepalive", "anonymity", "user_agent",
                                                "accept_language", "cookies", "send_only",
                                                "deny_destinations", "parent", "auth", NULL };
    static const char *const reverse_only[] = { "upstream", "x_forwarded", "forwarded", "forwarding_headers",
                                                "hide_backend", "server_header", NULL };
    for (const char *const *k = l->mode == MODE_FORWARD ? reverse_only : forward_only; *k; k++) {
        if (given(L, *k))
            return luaL_error(L, "%s: '%s' means nothing for a %s listener (it is for %s listeners)", what, *k,
                              l->mode == MODE_FORWARD ? "forward" : "reverse",
                              l->mode == MODE_FORWARD ? "reverse" : "forward");
    }
    parse_allow(L, 1, l, what);
    if (l->nallow == 0 && l->mode == MODE_FORWARD)
        set_default_allow_loopback(l);
    parse_connect_ports(L, 1, l, what);
    if (l->mode == MODE_FORWARD)
        parse_forward(L, l, what);
    else
        parse_reverse(L, l, what);
    if (opt_field(L, 1, "trusted_proxies")) {
        l->fwd.trusted = parse_networks(L, lua_gettop(L), what, "trusted_proxies", &l->fwd.ntrusted);
        lua_pop(L, 1);
    }
    l->upstream = opt_string(L, 1, what, "upstream", NULL);
    if (l->mode == MODE_FORWARD && l->anon.level == ANON_ELITE && given(L, "via"))
        return luaL_error(L, "%s: via means nothing with anonymity = \"elite\" (it sends no Via)", what);
    if (opt_field(L, 1, "via")) {
        if (lua_isboolean(L, -1))
            l->via = lua_toboolean(L, -1) ? xstrdup("luxy") : NULL;
        else if (lua_type(L, -1) == LUA_TSTRING && headers_valid_value(slice_make(lua_tostring(L, -1), lua_rawlen(L, -1))))
            l->via = xstrdup(lua_tostring(L, -1));
        else
            return luaL_error(L, "%s: via must be true, false or a name", what);
        lua_pop(L, 1);
    } else {
        l->via = xstrdup("luxy");
    }
    parse_request_id(L, l, what);
    l->cache = opt_bool(L, 1, what, "cache", true);
    l->backlog = (int)opt_int(L, 1, what, "backlog", 511, 1, 65535);
    l->keepalive = (unsigned)opt_int(L, 1, what, "keepalive", 64, 0, 100000);
    return 0;
}

