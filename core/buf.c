/* buf.c - pooled input buffers and zero-copy output queues. */
#include "buf.h"
#include "luxy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#define SCRATCH_BLOCK 4096
#define FLUSH_IOV_MAX 256

void bufpool_init(struct bufpool *p, unsigned max)
{
    p->free = NULL;
    p->n = p->cap = 0;
    p->max = max;
    p->nbig = 0;
}

void bufpool_free(struct bufpool *p)
{
    for (unsigned i = 0; i < p->nbig; i++)
        free(p->big[i]);
    for (unsigned i = 0; i < p->n; i++)
        free(p->free[i]);
    free(p->free);
    bufpool_init(p, p->max);
}

static char *pool_get(struct bufpool *p)
{
    if (p && p->n > 0)
        return p->free[--p->n];
    return xmalloc(BUF_SIZE);
}

static void pool_put(struct bufpool *p, char *data, size_t cap)
{
    if (p && cap == BUF_BIG_SIZE && p->nbig < BUF_BIG_POOLED) {
        p->big[p->nbig++] = data;
        return;
    }
    if (p == NULL || cap != BUF_SIZE || p->n >= p->max) {
        free(data);
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->free = xrealloc(p->free, p->cap * sizeof(*p->free));
    }
    p->free[p->n++] = data;
}

size_t buf_prepare_big(struct buf *b, struct bufpool *p)
{
    if (b->data == NULL) {
        b->data = p && p->nbig > 0 ? p->big[--p->nbig] : xmalloc(BUF_BIG_SIZE);
        b->cap = BUF_BIG_SIZE;
        b->start = b->end = 0;
    }
    return buf_prepare(b, p);
}

size_t buf_prepare(struct buf *b, struct bufpool *p)
{
    if (b->data == NULL) {
        b->data = pool_get(p);
        b->cap = BUF_SIZE;
        b->start = b->end = 0;
    }
    if (b->end == b->cap && b->start > 0) {
        size_t n = b->end - b->start;
        memmove(b->data, b->data + b->start, n);
        b->start = 0;
        b->end = n;
    }
    return b->cap - b->end;
}

void buf_grow(struct buf *b, size_t cap)
{
    if (cap <= b->cap)
        return;
    char *d = xmalloc(cap);
    size_t n = b->end - b->start;
    if (b->data) {
        memcpy(d, b->data + b->start, n);
        /* the old storage may be a pool buffer: free it, pools refill */
        free(b->data);
    }
    b->data = d;
    b->cap = cap;
    b->start = 0;
    b->end = n;
}

void buf_consume(struct buf *b, struct bufpool *p, size_t n)
{
    b->start += n;
    if (b->start == b->end)
        buf_release(b, p);
}

void buf_release(struct buf *b, struct bufpool *p)
{
    if (b->data)
        pool_put(p, b->data, b->cap);
    b->data = NULL;
    b->cap = b->start = b->end = 0;
}

/* ---- output queue ---- */

void outq_init(struct outq *q)
{
    memset(q, 0, sizeof(*q));
}

static void free_scratch(struct outq_scratch *s)
{
    while (s) {
        struct outq_scratch *next = s->next;
        free(s);
        s = next;
    }
}

void outq_free(struct outq *q)
{
    free(q->iov);
    free_scratch(q->scratch);
    outq_init(q);
}

void outq_reset(struct outq *q)
{
    q->head = q->n = 0;
    q->bytes = 0;
    if (q->scratch) {
        /* keep one block; scratch blocks are chained newest first */
        struct outq_scratch *s = q->scratch;
        free_scratch(s->next);
        s->next = NULL;
        s->used = 0;
    }
}

void outq_shrink(struct outq *q)
{
    if (q->bytes == 0 && q->scratch) {
        free_scratch(q->scratch);
        q->scratch = NULL;
    }
}

static struct iovec *next_iov(struct outq *q)
{
    if (q->n == q->cap) {
        if (q->head > 0) {
            memmove(q->iov, q->iov + q->head, (q->n - q->head) * sizeof(*q->iov));
            q->n -= q->head;
            q->head = 0;
        }
        if (q->n == q->cap) {
            q->cap = q->cap ? q->cap * 2 : 16;
            q->iov = xrealloc(q->iov, q->cap * sizeof(*q->iov));
        }
    }
    return &q->iov[q->n++];
}

void outq_push(struct outq *q, const void *p, size_t n)
{
    if (n == 0)
        return;
    struct iovec *v = next_iov(q);
    v->iov_base = (void *)p;
    v->iov_len = n;
    q->bytes += n;
}

void outq_copy(struct outq *q, const void *p, size_t n)
{
    if (n == 0)
        return;
    struct outq_scratch *s = q->scratch;
    if (s == NULL || s->size - s->used < n) {
        size_t size = max((size_t)SCRATCH_BLOCK, n);
        struct outq_scratch *ns = xmalloc(sizeof(*ns) + size);
        ns->next = s;
        ns->used = 0;
        ns->size = size;
        q->scratch = s = ns;
    }
    char *dst = s->data + s->used;
    memcpy(dst, p, n);
    s->used += n;
    q->bytes += n;
    /* adjacent to the last queued slice: extend it instead of adding one */
    if (q->n > q->head) {
        struct iovec *last = &q->iov[q->n - 1];
        if ((char *)last->iov_base + last->iov_len == dst) {
            last->iov_len += n;
            return;
        }
    }
    struct iovec *v = next_iov(q);
    v->iov_base = dst;
    v->iov_len = n;
}

int outq_flush(struct outq *q, struct transport *t, bool more)
{
    while (q->bytes > 0) {
        ssize_t w = transport_writev(t, &q->iov[q->head], (int)min(q->n - q->head, (unsigned)FLUSH_IOV_MAX), more);
        if (w == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        size_t left = (size_t)w;
        q->bytes -= left;
        while (left > 0) {
            struct iovec *v = &q->iov[q->head];
            if (left >= v->iov_len) {
                left -= v->iov_len;
                q->head++;
            } else {
                v->iov_base = (char *)v->iov_base + left;
                v->iov_len -= left;
                left = 0;
            }
        }
    }
    outq_reset(q);
    return 1;
}
