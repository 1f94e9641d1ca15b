/* log.c - error and access logs written by one writer thread.
 * Producers format a line on their own stack and append it to a shared
 * pending buffer under a mutex (a memcpy); the writer swaps the buffer out
 * and write()s it, so a slow disk or a full pipe never stalls a worker. */
#include "log.h"
#include "luxy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_PENDING_MAX (8u << 20) /* per stream; beyond it lines are dropped */
#define LOG_LINE_MAX 4096

struct stream {
    int fd;             /* -1: off */
    int owned;          /* opened by us: close at stop */
    char *pending;      /* bytes waiting for the writer */
    size_t len, cap;
};

enum log_level log_current_level = LL_INFO;

static struct stream error_stream = { 2, 0, NULL, 0, 0 };
static struct stream access_stream = { -1, 0, NULL, 0, 0 };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_t writer;
static int running, stopping;
static unsigned long dropped;
static _Thread_local char thread_name[32] = "main";

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < countof(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

static int open_dest(const char *dest, struct stream *s, char *err, size_t errlen)
{
    if (dest == NULL) {
        s->fd = -1;
    } else if (strcmp(dest, "stderr") == 0) {
        s->fd = 2;
    } else if (strcmp(dest, "stdout") == 0) {
        s->fd = 1;
    } else {
        int fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd == -1) {
            snprintf(err, errlen, "cannot open log file %s: %s", dest, strerror(errno));
            return -1;
        }
        s->fd = fd;
        s->owned = 1;
    }
    return 0;
}

int log_open(const char *error_dest, const char *access_dest, enum log_level level, char *err,
             size_t errlen)
{
    struct stream e = { 2, 0, NULL, 0, 0 }, a = { -1, 0, NULL, 0, 0 };
    if (error_dest && open_dest(error_dest, &e, err, errlen) == -1)
        return -1;
    if (open_dest(access_dest, &a, err, errlen) == -1) {
        if (e.owned)
            close(e.fd);
        return -1;
    }
    pthread_mutex_lock(&lock);
    if (error_stream.owned)
        close(error_stream.fd);
    if (access_stream.owned)
        close(access_stream.fd);
    error_stream.fd = e.fd;
    error_stream.owned = e.owned;
    access_stream.fd = a.fd;
    access_stream.owned = a.owned;
    log_current_level = level;
    pthread_mutex_unlock(&lock);
    return 0;
}

void log_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Formats "2026-11-28T03:07:00.123Z" into buf (25 bytes with NUL). */
static size_t format_time(char *buf, size_t cap)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[24];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = tv.tv_sec;
    }
    return (size_t)snprintf(buf, cap, "%s.%03dZ", cached, (int)(tv.tv_usec / 1000));
}

static void append(struct stream *s, const char *line, size_t n)
{
    if (s->fd == -1)
        return;
    pthread_mutex_lock(&lock);
    if (!running) {
        pthread_mutex_unlock(&lock);
        write_all(s->fd, line, n); /* before start / after stop: synchronous */
        return;
    }
    if (s->len + n > LOG_PENDING_MAX) {
        dropped++;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < s->len + n)
            cap *= 2;
        s->pending = xrealloc(s->pending, cap);
        s->cap = cap;
    }
    memcpy(s->pending + s->len, line, n);
    int was_empty = error_stream.len == 0 && access_stream.len == 0;
    s->len += n;
    if (was_empty)
        pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    if (!log_enabled(lvl))
        return;
    char line[LOG_LINE_MAX];
    size_t n = format_time(line, sizeof(line));
    n += (size_t)snprintf(line + n, sizeof(line) - n, " [%s] %s: ", level_names[lvl], thread_name);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n = min(n + (size_t)m, sizeof(line) - 2);
    /* a message is one line: flatten newlines (tracebacks, peer input) */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r' || line[i] == '\t')
            line[i] = ' ';
    line[n++] = '\n';
    append(&error_stream, line, n);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

int log_access_enabled(void)
{
    return access_stream.fd != -1;
}

void log_access(const char *text, size_t len)
{
    char line[LOG_LINE_MAX];
    size_t n = format_time(line, sizeof(line));
    line[n++] = ' ';
    len = min(len, sizeof(line) - n - 1);
    memcpy(line + n, text, len);
    n += len;
    line[n++] = '\n';
    append(&access_stream, line, n);
}

unsigned long log_dropped(void)
{
    pthread_mutex_lock(&lock);
    unsigned long d = dropped;
    pthread_mutex_unlock(&lock);
    return d;
}

/* Takes both pending buffers out under the lock and writes them outside it. */
static void *writer_main(void *arg)
{
    (void)arg;
    char *ebuf = NULL, *abuf = NULL;
    size_t ecap = 0, acap = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (error_stream.len == 0 && access_stream.len == 0 && !stopping)
            pthread_cond_wait(&wake, &lock);
        if (error_stream.len == 0 && access_stream.len == 0 && stopping)
            break;
        /* swap: the producers get our empty buffers */
        char *e = error_stream.pending, *a = access_stream.pending;
        size_t elen = error_stream.len, alen = access_stream.len;
        size_t ec = error_stream.cap, ac = access_stream.cap;
        error_stream.pending = ebuf, error_stream.cap = ecap, error_stream.len = 0;
        access_stream.pending = abuf, access_stream.cap = acap, access_stream.len = 0;
        int efd = error_stream.fd, afd = access_stream.fd;
        pthread_mutex_unlock(&lock);
        if (elen)
            write_all(efd, e, elen);
        if (alen && afd != -1)
            write_all(afd, a, alen);
        ebuf = e, ecap = ec, abuf = a, acap = ac;
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    free(ebuf);
    free(abuf);
    return NULL;
}

void log_start(void)
{
    pthread_mutex_lock(&lock);
    if (running) {
        pthread_mutex_unlock(&lock);
        return;
    }
    running = 1;
    stopping = 0;
    pthread_mutex_unlock(&lock);
    if (pthread_create(&writer, NULL, writer_main, NULL) != 0) {
        pthread_mutex_lock(&lock);
        running = 0; /* fall back to synchronous writes */
        pthread_mutex_unlock(&lock);
    }
}

void log_stop(void)
{
    pthread_mutex_lock(&lock);
    if (!running) {
        pthread_mutex_unlock(&lock);
        return;
    }
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(writer, NULL);
    pthread_mutex_lock(&lock);
    running = 0;
    free(error_stream.pending);
    free(access_stream.pending);
    error_stream.pending = access_stream.pending = NULL;
    error_stream.cap = access_stream.cap = error_stream.len = access_stream.len = 0;
    if (dropped)
        fprintf(stderr, "luxy: %lu log lines were dropped (writer too slow)\n", dropped);
    pthread_mutex_unlock(&lock);
}
