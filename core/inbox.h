/* inbox.h - how one thread wakes another's loop: a queue of messages (a
 * function and its argument) under a mutex, and an ev_async that runs
 * them on the owner's loop. Posting never blocks on the owner; the
 * function runs later, in the owner's thread, in posting order. Used for
 * stopping a worker and for waking readers of a cache fill in another
 * worker; reloads and health changes will use it too. */
#ifndef LUXY_INBOX_H
#define LUXY_INBOX_H

#include <ev.h>
#include <pthread.h>

typedef void (*inbox_fn)(void *owner, void *arg);

struct inbox_msg;

struct inbox {
    pthread_mutex_t lock;
    struct inbox_msg *head, *tail;
    ev_async async;
    struct ev_loop *loop;
    void *owner;            /* passed to every message's function */
};

/* Starts the inbox on loop (in the owner's thread, before posts). */
void inbox_init(struct inbox *in, struct ev_loop *loop, void *owner);
/* Any thread: fn(owner, arg) will run on the owner's loop. */
void inbox_post(struct inbox *in, inbox_fn fn, void *arg);
/* Runs what is queued now (the owner's thread; also done by the async). */
void inbox_run(struct inbox *in);
/* Stops it; messages still queued are run first. */
void inbox_free(struct inbox *in);

#endif
