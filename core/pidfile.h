/* pidfile.h - the file that tells `luxy -s` which process to signal. */
#ifndef LUXY_PIDFILE_H
#define LUXY_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Writes this process's pid to path (atomically: a temporary file renamed). */
int pidfile_write(const char *path, char *err, size_t errlen);
/* Removes path if it still names this process. */
void pidfile_remove(const char *path);
/* The pid in path, when that process is alive; 0 and err otherwise. */
pid_t pidfile_read(const char *path, char *err, size_t errlen);

#endif
