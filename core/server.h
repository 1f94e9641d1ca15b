/* server.h - the running process: the workers, the listening sockets, the
 * process-wide objects (the cache, the password checker, the shared
 * dictionaries), and the main thread's loop over signals: stop, reload
 * (a new generation for every worker, the sockets kept), log reopening. */
#ifndef LUXY_SERVER_H
#define LUXY_SERVER_H

#include "generation.h"
#include "upgrade.h"

struct server_start {
    const char *path;          /* the configuration file; NULL: the embedded default */
    const char *exe;           /* this binary's path, for an upgrade */
    char *const *argv;         /* and its arguments */
    struct inherited *inherited; /* sockets from the process this one upgrades, or NULL */
};

/* Runs cg until a stop signal (or an upgrade handed over to a new
 * process). Returns the exit status; takes cg's reference. */
int server_run(struct config_gen *cg, struct server_start *start);

#endif
