/* upgrade.h - binary upgrade without dropping a connection (SIGUSR2,
 * luxy -s upgrade). The running process forks and executes the binary at
 * its path again (the new one, once installed there), handing over its
 * listening sockets by inheritance: their descriptors stay open across
 * exec and LUXY_INHERIT names them by address, one per worker. The new
 * process takes those that its configuration still listens on (with
 * their kernel queues: nothing waiting to be accepted is lost), opens the
 * others, starts, and writes "ready" to a pipe the old one waits on. Only
 * then does the old process stop accepting and drain; a new binary that
 * fails to start (or to answer in time) leaves the old one serving.
 *
 * Why inheritance and not SCM_RIGHTS over a Unix socket: the parent
 * already holds every descriptor the child needs at fork time, so no
 * socket path, permission or protocol is needed, and nothing can connect
 * to a running luxy to ask for its sockets. */
#ifndef LUXY_UPGRADE_H
#define LUXY_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "config.h"

struct inherited_listener {
    union sockaddr_u addr;
    int *fds;                  /* one per worker of the old process */
    unsigned nfds;
    bool taken;
};

struct inherited {
    unsigned workers;          /* the old process's workers: the new one keeps their number */
    struct inherited_listener *l;
    unsigned n;
    int ready_fd;              /* where to say "ready", or -1 */
};

/* In a process started by an upgrade: what it inherited (and the
 * environment is cleared). False when this is an ordinary start. */
bool upgrade_inherited(struct inherited *in, char *err, size_t errlen);
/* The inherited sockets of addr, if there are nw of them: copied to fds. */
bool upgrade_take(struct inherited *in, const union sockaddr_u *addr, unsigned nw, int *fds);
/* Closes what the new configuration no longer listens on. */
void upgrade_close_unused(struct inherited *in);
/* Tells the old process this one serves; frees in. */
void upgrade_ready(struct inherited *in);
void upgrade_free(struct inherited *in);

/* In the running process: starts exe (argv) with cfg's listening sockets
 * (fds[worker * nlisteners + listener], nw workers) and waits up to
 * timeout seconds for it to be ready. 0: it serves now; -1 and err. */
int upgrade_start(const char *exe, char *const argv[], const struct config *cfg, const int *fds, unsigned nw,
                  double timeout, char *err, size_t errlen);

#endif
