/* sockets.h - listening sockets: one SO_REUSEPORT socket per listener per
 * worker (the kernel spreads connections over them), opened by the main
 * thread at start and at a reload, after a probe that refuses a port some
 * other program holds. */
#ifndef LUXY_SOCKETS_H
#define LUXY_SOCKETS_H

#include <stddef.h>

#include "config.h"

/* A port taken by another program fails (with SO_REUSEPORT a second
 * process would silently share it): -1 and err. */
int sockets_probe(const struct listener_config *l, char *err, size_t errlen);
/* A listening socket for l, or -1 and err. */
int sockets_open(const struct listener_config *l, char *err, size_t errlen);

#endif
