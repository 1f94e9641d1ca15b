/* trace_client.h - `luxy trace`: follows the live decision traces of a
 * running luxy through its admin listener (GET /api/traces), like
 * varnishlog. */
#ifndef LUXY_TRACE_CLIENT_H
#define LUXY_TRACE_CLIENT_H

/* argv[0] is "trace". Returns the exit status. */
int trace_client_main(int argc, char **argv);

#endif
