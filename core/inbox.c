/* inbox.c - see inbox.h. The queue is swapped out whole under the lock
 * and run outside it, so a message may post another (it runs on the next
 * round, not in this one). */
#include "inbox.h"

#include <stdlib.h>

#include "luxy.h"

struct inbox_msg {
    struct inbox_msg *next;
    inbox_fn fn;
    void *arg;
};

static void on_async(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)loop;
    (void)revents;
    inbox_run(container_of(a, struct inbox, async));
}

void inbox_init(struct inbox *in, struct ev_loop *loop, void *owner)
{
    pthread_mutex_init(&in->lock, NULL);
    in->head = in->tail = NULL;
    in->loop = loop;
    in->owner = owner;
    ev_async_init(&in->async, on_async);
    ev_async_start(loop, &in->async);
}

void inbox_post(struct inbox *in, inbox_fn fn, void *arg)
{
    struct inbox_msg *m = xmalloc(sizeof(*m));
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&in->lock);
    if (in->tail)
        in->tail->next = m;
    else
        in->head = m;
    in->tail = m;
    pthread_mutex_unlock(&in->lock);
    ev_async_send(in->loop, &in->async);
}

void inbox_run(struct inbox *in)
{
    pthread_mutex_lock(&in->lock);
    struct inbox_msg *m = in->head;
    in->head = in->tail = NULL;
    pthread_mutex_unlock(&in->lock);
    while (m) {
        struct inbox_msg *next = m->next;
        m->fn(in->owner, m->arg);
        free(m);
        m = next;
    }
}

void inbox_free(struct inbox *in)
{
    inbox_run(in);
    ev_async_stop(in->loop, &in->async);
    pthread_mutex_destroy(&in->lock);
}
