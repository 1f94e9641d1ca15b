/* log.h - the error log (levels) and the access log.
 * Callers on a worker loop never block: lines go to an in-memory queue that
 * a writer thread drains; when the queue is full, lines are dropped and
 * counted rather than stalling traffic. A line longer than 4 KB is cut
 * with a mark saying how much; error lines that repeat are rate-limited
 * (logflood.h); debug lines never are. */
#ifndef LUXY_LOG_H
#define LUXY_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "access_log.h"

enum log_level { LL_ERROR, LL_WARN, LL_INFO, LL_DEBUG };

/* Parse "error" | "warn" | "info" | "debug"; -1 when unknown. */
int log_level_parse(const char *name);

/* Open the destinations: the error log's (a path, "stderr" or "stdout";
 * NULL means stderr) and naccess access logs (at most ACCESS_LOGS_MAX,
 * each a destination and a format; none: no access log). Before
 * log_start() lines are written synchronously. Returns 0, or -1 with a
 * message in err (then nothing changed). */
int log_open(const char *error_dest, const struct access_log_config *access, unsigned naccess,
             enum log_level level, char *err, size_t errlen);

void log_start(void); /* start the writer thread */
/* Reopen the log files, the error log and every access log (after
 * logrotate moved them); any thread, returns at once: the writer reopens
 * between two writes, so every line goes whole to the old file or to the
 * new one. */
void log_reopen(void);
void log_stop(void);  /* flush everything, stop the writer; safe to call twice */

/* Name shown in error lines for this thread, e.g. "worker 2"; copied. */
void log_set_thread_name(const char *name);

extern enum log_level log_current_level;
#define log_enabled(lvl) ((lvl) <= log_current_level)

/* When set (luxy test, luxy simulate: one thread), error lines go to it
 * instead of the log, without their prefix. */
extern void (*log_capture)(enum log_level lvl, const char *text, size_t n);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);
#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...) (log_enabled(LL_DEBUG) ? log_msg(LL_DEBUG, __VA_ARGS__) : (void)0)

/* The formats the access logs use, a bit per enum access_format
 * (ACCESS_BIT); 0 when there is no access log: callers skip formatting.
 * Set by log_open, before the workers start. */
extern unsigned log_formats_in_use;
static inline unsigned log_access_formats(void)
{
    return log_formats_in_use;
}
static inline int log_access_enabled(void)
{
    return log_access_formats() != 0;
}
/* Queues a complete line (its newline included) for every access log of
 * format f. */
void log_access_line(enum access_format f, const char *line, size_t len);

/* Lines dropped because the writer could not keep up. */
unsigned long log_dropped(void);

#endif
