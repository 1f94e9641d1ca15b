/* proxy_auth.c - see proxy_auth.h. */
#include "proxy_auth.h"

#include <stdio.h>
#include <string.h>

#include "../lua/hooks.h"
#include "authbasic.h"
#include "authcheck.h"
#include "config.h"
#include "conn.h"
#include "errors.h"
#include "log.h"
#include "request.h"
#include "worker.h"

static void challenge(struct request *r)
{
    const struct proxy_auth_config *pa = &r->lc->auth;
    size_t n = strlen(pa->realm) + 40;
    char *v = arena_alloc(&r->arena, n);
    int len = snprintf(v, n, "Basic realm=\"%s\", charset=\"UTF-8\"", pa->realm);
    headers_init(&r->local_headers);
    headers_add(&r->local_headers, &r->arena, SLICE_LIT("Proxy-Authenticate"), slice_make(v, (size_t)len));
    headers_add(&r->local_headers, &r->arena, H_CACHE_CONTROL, SLICE_LIT("no-store"));
    request_respond(r, 407, SLICE_LIT("407 Proxy Authentication Required: this proxy needs a user name and password\n"));
}

static void refused(struct request *r)
{
    if (r->user_claim.len == 0) { /* no credentials, or unreadable ones (logged): the challenge */
        challenge(r);
        return;
    }
    log_info("client %s: proxy user '%.*s' refused", r->from_ip, (int)r->user_claim.len, r->user_claim.ptr);
    challenge(r);
}

static void busy(struct request *r)
{
    log_warn("client %s: too many proxy passwords being checked: 503", r->from_ip);
    headers_init(&r->local_headers);
    headers_add(&r->local_headers, &r->arena, SLICE_LIT("Retry-After"), SLICE_LIT("1"));
    headers_add(&r->local_headers, &r->arena, H_CACHE_CONTROL, SLICE_LIT("no-store"));
    r->error_text = err_auth_busy.text;
    request_respond(r, err_auth_busy.status, SLICE_LIT("503 Service Unavailable: too many logins are being checked; try again\n"));
}

static void answered(struct request *r, enum auth_result res)
{
    switch (res) {
    case AUTH_OK:
        r->user = r->user_claim; /* logged in: req.user, user= in the access log */
        request_policy(r);
        break;
    case AUTH_DENIED:
        refused(r);
        break;
    case AUTH_BUSY:
        busy(r);
        break;
    case AUTH_PENDING:
        r->state = RS_AUTH;
        break;
    }
}

/* On the worker's loop, from its inbox: the hash is done. */
static void check_done(void *arg, enum auth_result res)
{
    struct request *r = arg;
    struct conn *c = r->conn;
    r->auth_ticket = NULL;
    conn_hold(c);
    answered(r, res);
    conn_release(c);
}

enum auth_result proxy_auth_check(struct request *r, authcheck_done_fn done, void *arg,
                                  const struct proxy_error **err)
{
    const struct proxy_auth_config *pa = &r->lc->auth;
    *err = NULL;
    struct slice v = headers_get(&r->head.headers, H_PROXY_AUTHORIZATION);
    if (v.ptr == NULL)
        return AUTH_DENIED; /* the usual first request of a client: not worth a log line */
    char buf[AUTH_BASIC_MAX + 4];
    struct slice user, password;
    const char *why = auth_basic_parse(v, buf, sizeof(buf), &user, &password);
    if (why) {
        log_info("client %s: unreadable Proxy-Authorization: %s", r->from_ip, why);
        return AUTH_DENIED;
    }
    r->user_claim = slice_make(arena_strndup(&r->arena, user.ptr, user.len), user.len);
    if (pa->users == NULL) {
        bool allow = false;
        if (hooks_proxy_auth(r->gen->vm, r, user, password, &allow) != HOOK_OK) {
            *err = &err_hook;
            return AUTH_DENIED;
        }
        return allow ? AUTH_OK : AUTH_DENIED;
    }
    return authcheck_start(r->w->auth, pa->users, user, password, &r->w->inbox, done, arg, &r->auth_ticket);
}

void proxy_auth_begin(struct request *r)
{
    const struct proxy_error *err;
    enum auth_result res = proxy_auth_check(r, check_done, r, &err);
    if (err) {
        request_fail(r, err);
        return;
    }
    answered(r, res);
}

void proxy_auth_cancel(struct request *r)
{
    if (r->auth_ticket) {
        authcheck_cancel(r->auth_ticket);
        r->auth_ticket = NULL;
    }
}
