/* server.h - the running process: the workers, the listening sockets, the
 * process-wide objects (the cache, the password checker, the shared
 * dictionaries), and the main thread's loop over signals: stop, reload
 * (a new generation for every worker, the sockets kept), log reopening. */
#ifndef LUXY_SERVER_H
#define LUXY_SERVER_H

#include "generation.h"

/* Runs cg (loaded from path; NULL: the embedded default) until a stop
 * signal. Returns the exit status; takes cg's reference. */
int server_run(struct config_gen *cg, const char *path);

#endif
