/* errors.c - the failure table. Texts go to clients: they explain, and
 * never reveal where the backends are. */
#include "errors.h"

const struct proxy_error err_connect_refused = { 502, "the backend refused the connection", true };
const struct proxy_error err_connect_timeout = { 504, "the backend did not accept the connection in time", true };
const struct proxy_error err_connect_failed = { 502, "the backend could not be reached", true };
const struct proxy_error err_backend_reset = { 502, "the backend reset the connection", false };
const struct proxy_error err_backend_closed = { 502, "the backend closed the connection without answering", false };
const struct proxy_error err_backend_cut = { 502, "the backend closed the connection in the middle of its response", false };
const struct proxy_error err_backend_timeout = { 504, "the backend did not answer in time", false };
const struct proxy_error err_bad_response = { 502, "the backend sent an invalid response", false };
const struct proxy_error err_too_many_interim = { 502, "the backend sent too many interim (1xx) responses", false };
const struct proxy_error err_resolve_failed = { 502, "the host name could not be resolved", false };
const struct proxy_error err_no_backend = { 503, "no backend is available", false };
const struct proxy_error err_loop = { 508, "the request would loop back into this proxy", false };
const struct proxy_error err_hook = { 500, "the request policy failed", false };
const struct proxy_error err_unknown_upstream = { 500, "the request was routed to an unknown upstream", false };
const struct proxy_error err_client_gone = { 499, "the client went away", false };
const struct proxy_error err_body_too_large = { 413, "the request body is too large", false };
const struct proxy_error err_client_timeout = { 408, "the request was not received in time", false };
const struct proxy_error err_shutting_down = { 503, "the proxy is shutting down", false };
const struct proxy_error err_no_route = { 400, "a forward proxy needs an absolute URI such as http://host/path", false };
const struct proxy_error err_no_upstream = { 500, "no upstream was chosen for the request", false };
const struct proxy_error err_bad_request_body = { 400, "invalid request body framing", false };
