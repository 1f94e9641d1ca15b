/* buf.h - input buffers and output queues.
 *
 * struct buf: bytes read from a socket, data[start..end) not yet consumed.
 * Its storage comes from a per-worker pool and goes back when the buffer is
 * empty, so idle keep-alive connections hold no buffer at all. A reader
 * that filled a buffer may ask for a big one next (buf_prepare_big): a
 * large response then takes a few reads instead of one per 16 KiB.
 *
 * struct outq: bytes waiting to be written to a socket, as a list of slices
 * that mostly point into other buffers (zero-copy relaying). Invariant: a
 * buffer that outq slices point into is neither moved nor refilled until the
 * queue has drained; the owner enforces this by not reading while the queue
 * is non-empty. Small generated pieces (chunk sizes) are copied into the
 * queue's own scratch space. */
#ifndef LUXY_BUF_H
#define LUXY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "transport.h"

#define BUF_SIZE 16384
#define BUF_BIG_SIZE (128 * 1024)
#define BUF_BIG_POOLED 8      /* big buffers a pool keeps */

struct bufpool {
    char **free;
    unsigned n, cap, max; /* max: pooled buffers kept, the rest are freed */
    char *big[BUF_BIG_POOLED];
    unsigned nbig;
};

struct buf {
    char *data;
    size_t cap, start, end;
};

void bufpool_init(struct bufpool *p, unsigned max);
void bufpool_free(struct bufpool *p);

static inline size_t buf_len(const struct buf *b) { return b->end - b->start; }
static inline char *buf_head(const struct buf *b) { return b->data + b->start; }

/* Makes sure b has storage and at least one free byte at its tail: takes a
 * pool buffer if it has none, moves unconsumed bytes to the front when the
 * tail is full. Returns the free space at data + end. */
size_t buf_prepare(struct buf *b, struct bufpool *p);
/* The same, but storage taken now is a big buffer (BUF_BIG_SIZE): for a
 * reader whose last read filled its buffer. */
size_t buf_prepare_big(struct buf *b, struct bufpool *p);
/* Grows b's storage to at least cap bytes (for long heads). */
void buf_grow(struct buf *b, size_t cap);
/* Marks n bytes consumed; returns the storage to the pool when empty. */
void buf_consume(struct buf *b, struct bufpool *p, size_t n);
/* Drops content and storage. */
void buf_release(struct buf *b, struct bufpool *p);

struct outq_scratch {
    struct outq_scratch *next;
    size_t used, size;
    char data[];
};

struct outq {
    struct iovec *iov;
    unsigned head, n, cap;        /* pending slices are iov[head..n) */
    size_t bytes;                 /* total pending */
    struct outq_scratch *scratch; /* copies; reset when the queue drains */
};

void outq_init(struct outq *q);
void outq_free(struct outq *q);
static inline bool outq_empty(const struct outq *q) { return q->bytes == 0; }

/* Queues a reference to p[0..n): p must stay valid until the queue drains. */
void outq_push(struct outq *q, const void *p, size_t n);
/* Queues a copy of p[0..n) (small pieces: it is merged with the previous
 * copy when they are adjacent). */
void outq_copy(struct outq *q, const void *p, size_t n);
/* Writes as much as the socket takes. more: more bytes follow at once, so
 * the kernel may hold a partial segment back (MSG_MORE) and send fuller
 * packets. Returns 1 when drained, 0 when the socket would block with bytes
 * left, -1 on error (errno set). */
int outq_flush(struct outq *q, struct transport *t, bool more);
/* Forgets everything pending. */
void outq_reset(struct outq *q);
/* An empty queue lets its scratch blocks go (a connection going idle:
 * 4 KiB kept per idle connection after a chunked response otherwise). */
void outq_shrink(struct outq *q);

#endif
