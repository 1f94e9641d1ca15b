/* errors.c - the failure table. Texts go to clients: they explain, and
 * never reveal where the backends are; kinds name them in metrics. */
#include "errors.h"

const struct proxy_error err_connect_refused = { 502, "the backend refused the connection", "connect_refused" };
const struct proxy_error err_connect_timeout = { 504, "the backend did not accept the connection in time", "connect_timeout" };
const struct proxy_error err_connect_failed = { 502, "the backend could not be reached", "connect_failed" };
const struct proxy_error err_backend_reset = { 502, "the backend reset the connection", "backend_reset" };
const struct proxy_error err_backend_closed = { 502, "the backend closed the connection without answering", "backend_closed" };
const struct proxy_error err_backend_cut = { 502, "the backend closed the connection in the middle of its response", "backend_cut" };
const struct proxy_error err_backend_timeout = { 504, "the backend did not answer in time", "backend_timeout" };
const struct proxy_error err_bad_response = { 502, "the backend sent an invalid response", "bad_response" };
const struct proxy_error err_too_many_interim = { 502, "the backend sent too many interim (1xx) responses", "too_many_interim" };
const struct proxy_error err_resolve_failed = { 502, "the host name could not be resolved", "resolve_failed" };
const struct proxy_error err_no_backend = { 503, "no backend is available", "no_backend" };
const struct proxy_error err_loop = { 508, "the request would loop back into this proxy", "loop" };
const struct proxy_error err_hook = { 500, "the request policy failed", "hook" };
const struct proxy_error err_unknown_upstream = { 500, "the request was routed to an unknown upstream", "unknown_upstream" };
const struct proxy_error err_client_gone = { 499, "the client went away", "client_gone" };
const struct proxy_error err_body_too_large = { 413, "the request body is too large", "body_too_large" };
const struct proxy_error err_client_timeout = { 408, "the request was not received in time", "client_timeout" };
const struct proxy_error err_no_route = { 400, "a forward proxy needs an absolute URI such as http://host/path", "no_route" };
const struct proxy_error err_no_upstream = { 500, "no upstream was chosen for the request", "no_upstream" };
const struct proxy_error err_bad_request_body = { 400, "invalid request body framing", "bad_request_body" };
const struct proxy_error err_not_cached = { 504, "not in the cache (only-if-cached)", "not_cached" };
const struct proxy_error err_purge_denied = { 403, "PURGE is not allowed from this address", "purge_denied" };
const struct proxy_error err_destination_denied = { 403, "the destination is not allowed", "destination_denied" };
const struct proxy_error err_parent_refused = { 502, "the parent proxy refused the request", "parent_refused" };
const struct proxy_error err_auth_busy = { 503, "too many proxy logins are being checked", "auth_busy" };
const struct proxy_error err_all_down = { 503, "no server of the upstream is available", "all_down" };

const struct proxy_error *const proxy_errors[PROXY_ERROR_COUNT] = {
    &err_connect_refused,
    &err_connect_timeout,
    &err_connect_failed,
    &err_backend_reset,
    &err_backend_closed,
    &err_backend_cut,
    &err_backend_timeout,
    &err_bad_response,
    &err_too_many_interim,
    &err_resolve_failed,
    &err_no_backend,
    &err_loop,
    &err_hook,
    &err_unknown_upstream,
    &err_client_gone,
    &err_body_too_large,
    &err_client_timeout,
    &err_no_route,
    &err_no_upstream,
    &err_bad_request_body,
    &err_not_cached,
    &err_purge_denied,
    &err_destination_denied,
    &err_parent_refused,
    &err_auth_busy,
    &err_all_down,
};

int proxy_error_index(const struct proxy_error *e)
{
    for (int i = 0; i < PROXY_ERROR_COUNT; i++)
        if (proxy_errors[i] == e)
            return i;
    return -1;
}
