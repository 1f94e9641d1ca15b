/* authcheck.h - verifying proxy passwords without ever hashing on a
 * worker's loop. One per process, shared by every worker.
 *
 * Password hashes are slow on purpose (bcrypt, yescrypt: tens of ms), so
 * they run on a few helper threads fed by a bounded queue; the answer
 * comes back to the asking worker through its inbox. A cache of answers
 * (good pairs for minutes, wrong ones for seconds) answers repeated
 * credentials at once; identical checks in flight share one hash; a full
 * queue answers BUSY at once. So a flood of wrong passwords costs at most
 * the helper threads and the queue, and the users already verified keep
 * being answered synchronously.
 *
 * Threads: authcheck_start and authcheck_cancel are called from workers'
 * loops; done runs on the reply_to inbox's loop. One lock guards the
 * queue, the jobs, the tickets and the cache; it is never held while
 * hashing, nor while posting to an inbox. */
#ifndef LUXY_AUTHCHECK_H
#define LUXY_AUTHCHECK_H

#include <stddef.h>

#include "authfile.h"
#include "inbox.h"
#include "luxy.h"

#define AUTHCHECK_MAX_THREADS 8

enum auth_result {
    AUTH_OK,        /* the password is right */
    AUTH_DENIED,    /* wrong password, unknown user or malformed password */
    AUTH_PENDING,   /* being hashed: done(arg, AUTH_OK or AUTH_DENIED) will run */
    AUTH_BUSY,      /* the queue is full: try again later (503 + Retry-After) */
};

struct authcheck_config {
    unsigned threads;      /* hashing threads; 0: 1; at most AUTHCHECK_MAX_THREADS */
    unsigned queue;        /* hashes waiting for a thread (running ones aside); 0: 64 */
    unsigned cache_size;   /* remembered (user, password) answers; 0: 10000 */
    double ok_ttl;         /* seconds a right pair is remembered; 0: 300; < 0: never */
    double denied_ttl;     /* seconds a wrong pair is remembered; 0: 10; < 0: never */
};

/* Monotonic counters since authcheck_new, and the current sizes. */
struct authcheck_stats {
    unsigned long checks;     /* authcheck_start calls */
    unsigned long cache_hits; /* answered at once from the cache */
    unsigned long coalesced;  /* joined an identical check already queued or hashing */
    unsigned long hashes;     /* crypt runs started */
    unsigned long ok;         /* AUTH_OK answers, at once or through done */
    unsigned long denied;     /* AUTH_DENIED answers, at once or through done */
    unsigned long busy;       /* AUTH_BUSY answers */
    unsigned long dropped;    /* queued hashes dropped: every asker cancelled */
    unsigned long errors;     /* crypt failures (answered AUTH_DENIED) */
    unsigned queued, running; /* hashes now waiting, now running */
    size_t cached;            /* answers now remembered */
};

struct authcheck;
struct authcheck_ticket;

/* arg is the caller's; result is AUTH_OK or AUTH_DENIED. */
typedef void (*authcheck_done_fn)(void *arg, enum auth_result result);

/* Starts the threads (main thread, at configuration load; they block
 * every signal). NULL with a message in err when a thread cannot start. */
struct authcheck *authcheck_new(const struct authcheck_config *cfg, char *err, size_t errlen);

/* Checks password for user in af (which must stay valid during the call
 * only: what a hash needs is copied). Never blocks and never hashes:
 *  - AUTH_OK, AUTH_DENIED: the answer, from the cache (or DENIED at once
 *    for a password with a NUL or longer than AUTH_BASIC_MAX bytes);
 *  - AUTH_BUSY: the queue is full; nothing was kept;
 *  - AUTH_PENDING: *ticket_out is set; done(arg, result) will run once on
 *    reply_to's loop, unless authcheck_cancel(*ticket_out) is called
 *    first. The ticket is valid until done runs or cancel returns.
 * *ticket_out is NULL for every other answer. An unknown user costs the
 * same hash as a known one (against authfile_dummy) and is DENIED. */
enum auth_result authcheck_start(struct authcheck *ac, const struct authfile *af, struct slice user,
                                 struct slice password, struct inbox *reply_to,
                                 authcheck_done_fn done, void *arg,
                                 struct authcheck_ticket **ticket_out);

/* On reply_to's loop (the asker went away): after it returns, done is
 * never called, and nothing refers to arg or to reply_to for this ticket
 * (so a worker may free its inbox next). Not after done ran. If the
 * answer is being posted at that very moment, it waits for the post to
 * end (microseconds). A hash nobody waits for any more is dropped if it
 * has not started; a running one finishes and its answer is cached. */
void authcheck_cancel(struct authcheck_ticket *t);

void authcheck_stats(struct authcheck *ac, struct authcheck_stats *out);

/* Stops the threads (waiting for hashes already running) and frees
 * everything. Hashes still queued are dropped with their tickets: their
 * done never runs. Answers already posted to inboxes still run there and
 * touch nothing of ac. Call it once no worker will call authcheck_start
 * or authcheck_cancel again (after worker_destroy, like cache_free). */
void authcheck_free(struct authcheck *ac);

#endif
