/* log.c - the error log and the access logs, written by one writer thread.
 * Producers format a line on their own stack and append it to its
 * stream's pending buffer under a mutex (a memcpy); the writer swaps the
 * buffers out and write()s them, so a slow disk or a full pipe never
 * stalls a worker.
 * Error-log lines that repeat are rate-limited (logflood.h); log files are
 * reopened by the writer itself (SIGUSR1, after logrotate), between two
 * writes, so no line goes to a closed descriptor. */
#include "log.h"
#include "logflood.h"
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
    char *path;         /* what to reopen (owned streams) */
    char *pending;      /* bytes waiting for the writer */
    size_t len, cap;
    enum access_format format; /* access streams */
};

enum log_level log_current_level = LL_INFO;

#define STREAMS_MAX (1 + ACCESS_LOGS_MAX)
/* streams[0] is the error log, then the access logs */
static struct stream streams[STREAMS_MAX] = { { 2, 0, NULL, NULL, 0, 0, ACCESS_LUXY } };
static unsigned nstreams = 1;
#define error_stream (streams[0])
unsigned log_formats_in_use; /* written before the workers start, read by them */
static size_t pending_total;    /* bytes pending in every stream */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_t writer;
static int running, stopping, reopen_requested;
static unsigned long dropped;
static struct flood flood;
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
        s->path = xstrdup(dest);
    }
    return 0;
}

static void close_stream(struct stream *s)
{
    if (s->owned)
        close(s->fd);
    free(s->path);
    s->path = NULL;
    s->owned = 0;
}

int log_open(const char *error_dest, const struct access_log_config *access, unsigned naccess,
             enum log_level level, char *err, size_t errlen)
{
    struct stream fresh[STREAMS_MAX];
    memset(fresh, 0, sizeof(fresh));
    fresh[0].fd = 2;
    if (naccess > ACCESS_LOGS_MAX) {
        snprintf(err, errlen, "at most %d access logs", ACCESS_LOGS_MAX);
        return -1;
    }
    unsigned n = 0;
    if (error_dest && open_dest(error_dest, &fresh[0], err, errlen) == -1)
        return -1;
    for (n = 1; n <= naccess; n++) {
        fresh[n].format = access[n - 1].format;
        if (open_dest(access[n - 1].dest, &fresh[n], err, errlen) == -1) {
            for (unsigned i = 0; i < n; i++)
                close_stream(&fresh[i]);
            return -1;
        }
    }
    unsigned formats = 0;
    for (unsigned i = 1; i < n; i++)
        formats |= ACCESS_BIT(fresh[i].format);
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < nstreams; i++) {
        close_stream(&streams[i]);
        free(streams[i].pending);
    }
    memcpy(streams, fresh, sizeof(fresh));
    nstreams = n;
    pending_total = 0;
    log_formats_in_use = formats;
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

/* With the lock held. */
static void append_locked(struct stream *s, const char *line, size_t n)
{
    if (s->fd == -1)
        return;
    if (!running) {
        write_all(s->fd, line, n); /* before start / after stop: synchronous */
        return;
    }
    if (s->len + n > LOG_PENDING_MAX) {
        dropped++;
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
    s->len += n;
    if (pending_total == 0)
        pthread_cond_signal(&wake);
    pending_total += n;
}

/* The prefix every error line starts with: time, level, thread. */
static size_t line_prefix(char *line, size_t cap, enum log_level lvl, const char *who)
{
    size_t n = format_time(line, cap);
    n += (size_t)snprintf(line + n, cap - n, " [%s] %s: ", level_names[lvl], who);
    return min(n, cap - 1);
}

/* A line is one line: flatten newlines (tracebacks, peer input). */
static void flatten(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
            p[i] = ' ';
}

/* flood_report: the summary of a window, written as its own line. */
static void report_repeats(void *arg, const struct flood_slot *s, double now)
{
    (void)arg;
    char line[LOG_LINE_MAX];
    size_t n = line_prefix(line, sizeof(line), (enum log_level)s->level, "log");
    n += flood_summary(s, now, line + n, sizeof(line) - n - 1);
    flatten(line, n);
    line[n++] = '\n';
    append_locked(&error_stream, line, n);
}

void (*log_capture)(enum log_level lvl, const char *text, size_t n);

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    if (!log_enabled(lvl))
        return;
    char line[LOG_LINE_MAX];
    size_t start = line_prefix(line, sizeof(line), lvl, thread_name);
    size_t room = sizeof(line) - start - 1; /* one byte for the newline */
    int m = vsnprintf(line + start, room, fmt, ap);
    size_t n = start + (m < 0 ? 0 : min((size_t)m, room - 1));
    if (m > 0 && (size_t)m >= room) {
        /* too long for one line: say so instead of cutting silently */
        char mark[48];
        size_t kept = room - 1 - sizeof(mark);
        int k = snprintf(mark, sizeof(mark), " ... [%zu more bytes cut]", (size_t)m - kept);
        n = start + kept;
        memcpy(line + n, mark, (size_t)k);
        n += (size_t)k;
    }
    flatten(line, n);
    if (unlikely(log_capture != NULL)) { /* the lab: the line belongs to the case running */
        log_capture(lvl, line + start, n - start);
        return;
    }
    line[n++] = '\n';
    pthread_mutex_lock(&lock);
    /* never limited: debug is asked for on purpose, and the main thread
     * only logs what an operator did (start, reload, signals) */
    bool write = lvl == LL_DEBUG || strcmp(thread_name, "main") == 0 ||
                 flood_admit(&flood, flood_key(lvl, line + start, n - start), lvl, line + start, n - 1 - start,
                             luxy_monotonic(), report_repeats, NULL);
    if (write)
        append_locked(&error_stream, line, n);
    pthread_mutex_unlock(&lock);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void log_access_line(enum access_format f, const char *line, size_t len)
{
    pthread_mutex_lock(&lock);
    for (unsigned i = 1; i < nstreams; i++)
        if (streams[i].format == f)
            append_locked(&streams[i], line, len);
    pthread_mutex_unlock(&lock);
}

unsigned long log_dropped(void)
{
    pthread_mutex_lock(&lock);
    unsigned long d = dropped;
    pthread_mutex_unlock(&lock);
    return d;
}

void log_reopen(void)
{
    pthread_mutex_lock(&lock);
    reopen_requested = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

/* In the writer (lock held): a rotated file is closed and the path opened
 * again; a failure keeps the old descriptor, so lines still go somewhere. */
static void reopen_locked(void)
{
    for (unsigned i = 0; i < nstreams; i++) {
        struct stream *s = &streams[i];
        if (!s->owned || s->path == NULL)
            continue;
        int fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        char line[LOG_LINE_MAX];
        size_t n = line_prefix(line, sizeof(line), fd == -1 ? LL_ERROR : LL_INFO, "log");
        if (fd == -1) {
            n += (size_t)snprintf(line + n, sizeof(line) - n - 1, "cannot reopen %s: %s; still writing to the old file",
                                  s->path, strerror(errno));
        } else {
            close(s->fd);
            s->fd = fd;
            n += (size_t)snprintf(line + n, sizeof(line) - n - 1, "reopened %s", s->path);
        }
        n = min(n, sizeof(line) - 2);
        line[n++] = '\n';
        append_locked(&error_stream, line, n);
    }
}

/* Takes every pending buffer out under the lock and writes them outside
 * it, each to the descriptor its stream had then (only this thread
 * reopens, under the lock, so that descriptor stays open while written).
 * Wakes at least once a second for the flood summaries that are due. */
static void *writer_main(void *arg)
{
    (void)arg;
    char *buf[STREAMS_MAX] = { NULL };
    size_t cap[STREAMS_MAX] = { 0 }, len[STREAMS_MAX];
    int fd[STREAMS_MAX];
    pthread_mutex_lock(&lock);
    for (;;) {
        while (pending_total == 0 && !stopping && !reopen_requested) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(&wake, &lock, &until) == ETIMEDOUT)
                flood_expire(&flood, luxy_monotonic(), report_repeats, NULL);
        }
        if (reopen_requested) {
            reopen_requested = 0;
            reopen_locked();
        }
        if (pending_total == 0 && stopping)
            break;
        /* swap: the producers get our empty buffers */
        unsigned n = nstreams;
        for (unsigned i = 0; i < n; i++) {
            struct stream *s = &streams[i];
            char *p = s->pending;
            size_t c = s->cap;
            len[i] = s->len;
            fd[i] = s->fd;
            s->pending = buf[i], s->cap = cap[i], s->len = 0;
            buf[i] = p, cap[i] = c;
        }
        pending_total = 0;
        pthread_mutex_unlock(&lock);
        for (unsigned i = 0; i < n; i++)
            if (len[i] && fd[i] != -1)
                write_all(fd[i], buf[i], len[i]);
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    for (unsigned i = 0; i < STREAMS_MAX; i++)
        free(buf[i]);
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
    /* what was counted but not yet summarized goes out before the end */
    flood_flush(&flood, luxy_monotonic(), report_repeats, NULL);
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(writer, NULL);
    pthread_mutex_lock(&lock);
    running = 0;
    for (unsigned i = 0; i < nstreams; i++) {
        free(streams[i].pending);
        streams[i].pending = NULL;
        streams[i].cap = streams[i].len = 0;
    }
    pending_total = 0;
    if (dropped)
        fprintf(stderr, "luxy: %lu log lines were dropped (writer too slow)\n", dropped);
    pthread_mutex_unlock(&lock);
}
