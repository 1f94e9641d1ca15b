/* errors.c - the failure table. Texts go to clients: they explain, and
 * never reveal where the backends are. */
#include "errors.h"

const struct proxy_error err_connect_refused = { 502, "the backend refused the connection" };
const struct proxy_error err_connect_timeout = { 504, "the backend did not accept the connection in time" };
const struct proxy_error err_connect_failed = { 502, "the backend could not be reached" };
const struct proxy_error err_backend_reset = { 502, "the backend reset the connection" };
const struct proxy_error err_backend_closed = { 502, "the backend closed the connection without answering" };
const struct proxy_error err_backend_cut = { 502, "the backend closed the connection in the middle of its response" };
const struct proxy_error err_backend_timeout = { 504, "the backend did not answer in time" };
const struct proxy_error err_bad_response = { 502, "the backend sent an invalid response" };
const struct proxy_error err_too_many_interim = { 502, "the backend sent too many interim (1xx) responses" };
const struct proxy_error err_resolve_failed = { 502, "the host name could not be resolved" };
const struct proxy_error err_no_backend = { 503, "no backend is available" };
const struct proxy_error err_loop = { 508, "the request would loop back into this proxy" };
const struct proxy_error err_hook = { 500, "the request policy failed" };
const struct proxy_error err_unknown_upstream = { 500, "the request was routed to an unknown upstream" };
const struct proxy_error err_client_gone = { 499, "the client went away" };
const struct proxy_error err_body_too_large = { 413, "the request body is too large" };
const struct proxy_error err_client_timeout = { 408, "the request was not received in time" };
const struct proxy_error err_no_route = { 400, "a forward proxy needs an absolute URI such as http://host/path" };
const struct proxy_error err_no_upstream = { 500, "no upstream was chosen for the request" };
const struct proxy_error err_bad_request_body = { 400, "invalid request body framing" };
const struct proxy_error err_not_cached = { 504, "not in the cache (only-if-cached)" };
const struct proxy_error err_purge_denied = { 403, "PURGE is not allowed from this address" };
const struct proxy_error err_destination_denied = { 403, "the destination is not allowed" };
const struct proxy_error err_parent_refused = { 502, "the parent proxy refused the request" };
const struct proxy_error err_auth_busy = { 503, "too many proxy logins are being checked" };
