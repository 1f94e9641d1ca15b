/* sdnotify.h - tells systemd (Type=notify) that luxy is ready, and which
 * process is the service after a binary upgrade, without libsystemd: the
 * protocol is one datagram to the socket named by $NOTIFY_SOCKET. Does
 * nothing when luxy was not started by systemd. */
#ifndef LUXY_SDNOTIFY_H
#define LUXY_SDNOTIFY_H

/* "READY=1", "MAINPID=...\nREADY=1", "RELOADING=1", "STOPPING=1". */
void sdnotify(const char *state);

#endif
