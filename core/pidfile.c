/* pidfile.c - see pidfile.h. */
#include "pidfile.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pidfile_write(const char *path, char *err, size_t errlen)
{
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        snprintf(err, errlen, "cannot write the pid file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write the pid file %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

void pidfile_remove(const char *path)
{
    if (read_pid(path) == getpid())
        unlink(path); /* a newer process may have written its own since */
}

pid_t pidfile_read(const char *path, char *err, size_t errlen)
{
    pid_t pid = read_pid(path);
    if (pid == 0) {
        snprintf(err, errlen, "no pid in %s (%s): is luxy running with this pid file?", path,
                 access(path, F_OK) == 0 ? "unreadable or empty" : "no such file");
        return 0;
    }
    if (kill(pid, 0) == -1 && errno == ESRCH) {
        snprintf(err, errlen, "%s names process %ld, which is not running", path, (long)pid);
        return 0;
    }
    return pid;
}
