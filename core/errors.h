/* errors.h - why an exchange failed, as named constants: the status the
 * client gets, a short text that never names a backend address, and a
 * kind (the constant's name without err_) that metrics count it by.
 * Compared by pointer: err == &err_connect_refused. */
#ifndef LUXY_ERRORS_H
#define LUXY_ERRORS_H

struct proxy_error {
    unsigned status;
    const char *text;
    const char *kind;
};

extern const struct proxy_error err_connect_refused, err_connect_timeout, err_connect_failed,
    err_backend_reset, err_backend_closed, err_backend_cut, err_backend_timeout, err_bad_response,
    err_too_many_interim,
    err_resolve_failed, err_no_backend, err_loop, err_hook, err_unknown_upstream,
    err_client_gone, err_body_too_large, err_client_timeout, err_no_route,
    err_no_upstream, err_bad_request_body, err_not_cached, err_purge_denied, err_destination_denied,
    err_parent_refused, err_auth_busy, err_all_down;

/* Every one of them, in the order above (a new error goes in both). */
#define PROXY_ERROR_COUNT 26
extern const struct proxy_error *const proxy_errors[PROXY_ERROR_COUNT];

/* e's position in proxy_errors, or -1. */
int proxy_error_index(const struct proxy_error *e);

#endif
