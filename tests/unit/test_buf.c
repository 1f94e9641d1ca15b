/* test_buf.c - input buffers and their pool, output queues over a real
 * socket pair (partial writes included), and the per-request arena with
 * its marks. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/luxy.h"
#include "tap.h"

static void test_pool(void)
{
    struct bufpool p;
    bufpool_init(&p, 2);
    struct buf a = { 0 }, b = { 0 }, c = { 0 };
    is_int(buf_prepare(&a, &p), BUF_SIZE, "a fresh buffer is all room");
    buf_prepare(&b, &p);
    buf_prepare(&c, &p);
    char *da = a.data;
    buf_release(&a, &p);
    buf_release(&b, &p);
    buf_release(&c, &p); /* the pool keeps two, frees the third */
    is_int(p.n, 2, "pool keeps at most max");
    struct buf d = { 0 };
    buf_prepare(&d, &p);
    ok(d.data != NULL && (d.data == da || p.n == 1), "a pooled buffer is reused");
    buf_release(&d, &p);
    bufpool_free(&p);
    is_int(p.n, 0, "pool freed");
}

static void test_buffer_moves_and_grows(void)
{
    struct bufpool p;
    bufpool_init(&p, 4);
    struct buf b = { 0 };
    buf_prepare(&b, &p);
    memset(b.data, 'x', BUF_SIZE);
    b.end = BUF_SIZE;
    buf_consume(&b, &p, BUF_SIZE - 10); /* 10 bytes left at the tail */
    b.data[b.start] = 'A';
    is_int(buf_prepare(&b, &p), BUF_SIZE - 10, "a full tail moves the rest to the front");
    ok(b.start == 0 && b.data[0] == 'A' && buf_len(&b) == 10, "unconsumed bytes kept");
    buf_grow(&b, BUF_SIZE * 2);
    ok(b.cap == BUF_SIZE * 2 && b.data[0] == 'A' && buf_len(&b) == 10, "grown, bytes kept");
    buf_consume(&b, &p, 10);
    ok(b.data == NULL, "empty: storage released");
    is_int(p.n, 0, "a grown buffer does not go into the pool");
    bufpool_free(&p);
}

static void test_outq_merge_and_flush(void)
{
    int sv[2];
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    struct outq q;
    outq_init(&q);
    static const char ref[] = "referenced";
    outq_copy(&q, "ab", 2);
    outq_copy(&q, "cd", 2); /* adjacent copies merge into one slice */
    is_int(q.n - q.head, 1, "copies merged");
    outq_push(&q, ref, sizeof(ref) - 1);
    outq_copy(&q, "!", 1);
    is_int(q.bytes, 15, "bytes counted");
    struct transport t;
    transport_tcp(&t, sv[0]);
    is_int(outq_flush(&q, &t, false), 1, "drained");
    ok(outq_empty(&q), "empty after flush");
    char got[64] = "";
    ssize_t n = recv(sv[1], got, sizeof(got), 0);
    ok(n == 15 && memcmp(got, "abcdreferenced!", 15) == 0, "bytes in order: '%.*s'", (int)n, got);
    outq_free(&q);
    close(sv[0]);
    close(sv[1]);
}

static void test_outq_partial_writes(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    static char data[300][1000]; /* more slices than one sendmsg takes */
    struct outq q;
    outq_init(&q);
    for (int i = 0; i < 300; i++) {
        memset(data[i], 'a' + i % 26, sizeof(data[i]));
        outq_push(&q, data[i], sizeof(data[i]));
    }
    struct transport t;
    transport_tcp(&t, sv[0]);
    size_t total = q.bytes, received = 0;
    int rounds = 0, blocked = 0;
    char *in = malloc(total);
    while (rounds++ < 10000) {
        int rc = outq_flush(&q, &t, false);
        if (rc == 0)
            blocked++;
        ssize_t n;
        while ((n = recv(sv[1], in + received, total - received, MSG_DONTWAIT)) > 0)
            received += (size_t)n;
        if (rc == 1 && received == total)
            break;
    }
    ok(blocked > 0, "the socket blocked part-way (%d times)", blocked);
    is_int(received, total, "every byte arrived");
    bool same = true;
    for (size_t i = 0; i < total; i++)
        same &= in[i] == data[i / 1000][i % 1000];
    ok(same, "in order, across partial slices");
    outq_free(&q);
    free(in);
    close(sv[1]);
    /* a closed peer: -1 and errno */
    outq_init(&q);
    outq_copy(&q, "x", 1);
    ok(outq_flush(&q, &t, false) == -1 && errno == EPIPE, "write to a closed peer fails");
    outq_free(&q);
    close(sv[0]);
}

static void test_outq_reset_keeps_one_block(void)
{
    struct outq q;
    outq_init(&q);
    char big[10000];
    memset(big, 'z', sizeof(big));
    outq_copy(&q, big, sizeof(big));
    outq_copy(&q, big, 100);
    outq_reset(&q);
    ok(outq_empty(&q) && q.scratch != NULL && q.scratch->next == NULL, "one scratch block kept");
    outq_free(&q);
}

static void test_arena(void)
{
    struct arena a;
    arena_init(&a);
    char *p1 = arena_alloc(&a, 1), *p2 = arena_alloc(&a, 3);
    ok(((uintptr_t)p1 & 15) == 0 && ((uintptr_t)p2 & 15) == 0, "aligned to 16");
    ok(p2 == p1 + 16, "bump allocation");
    is_int(a.used, 32, "used counts aligned sizes");
    struct arena_mark m = arena_mark(&a);
    for (int i = 0; i < 100; i++)
        memset(arena_alloc(&a, 1000), i, 1000); /* several new blocks */
    char *big = arena_alloc(&a, 200000);          /* a one-off */
    memset(big, 1, 200000);
    ok(a.big != NULL, "a big allocation has its own block");
    arena_rewind(&a, m);
    ok(a.big == NULL && a.used == 32, "rewind frees what came after the mark");
    char *p3 = arena_alloc(&a, 8);
    ok(p3 == p2 + 16, "and allocation goes on right after it");
    char *s = arena_strndup(&a, "hello", 3);
    is_str(s, "hel", "strndup copies and terminates");
    arena_reset(&a);
    ok(a.used == 0 && a.blocks == a.first && a.blocks != NULL, "reset keeps the first block");
    char *p4 = arena_alloc(&a, 16);
    ok(p4 == p1, "and reuses it");
    struct arena_mark empty_mark = arena_mark(&a);
    (void)empty_mark;
    arena_free(&a);
    ok(a.blocks == NULL && a.first == NULL, "freed");
    /* a mark on an empty arena rewinds everything, first block included */
    arena_init(&a);
    struct arena_mark m0 = arena_mark(&a);
    arena_alloc(&a, 100);
    arena_rewind(&a, m0);
    ok(a.blocks == NULL && a.first == NULL && a.used == 0, "rewound to empty");
    arena_alloc(&a, 100);
    ok(a.first != NULL, "usable again");
    arena_free(&a);
}

/* An idle connection keeps no scratch; a queue with bytes keeps its copies. */
static void test_outq_shrink(void)
{
    struct outq q;
    outq_init(&q);
    outq_copy(&q, "5\r\n", 3);
    outq_shrink(&q);
    ok(q.scratch != NULL && q.bytes == 3, "pending copies are kept");
    outq_reset(&q);
    ok(q.scratch != NULL, "reset keeps a block");
    outq_shrink(&q);
    ok(q.scratch == NULL, "shrink lets it go when empty");
    outq_copy(&q, "x", 1);
    ok(q.scratch != NULL && q.bytes == 1, "copies work again after a shrink");
    outq_free(&q);
}

/* Big buffers for readers that filled one: pooled apart from the small ones. */
static void test_big_buffers(void)
{
    struct bufpool p;
    bufpool_init(&p, 4);
    struct buf b = { 0 };
    is_int(buf_prepare_big(&b, &p), BUF_BIG_SIZE, "a big buffer is all room");
    char *d = b.data;
    buf_release(&b, &p);
    ok(p.nbig == 1 && p.n == 0, "it goes to the big pool, not the small one");
    buf_prepare_big(&b, &p);
    ok(b.data == d && p.nbig == 0, "and is reused");
    memcpy(b.data, "abc", 3);
    b.end = 3;
    is_int(buf_prepare_big(&b, &p), BUF_BIG_SIZE - 3, "storage in use is kept");
    buf_release(&b, &p);
    is_int(buf_prepare(&b, &p), BUF_SIZE, "a plain prepare still takes a small one");
    buf_release(&b, &p);
    bufpool_free(&p);
    ok(p.nbig == 0 && p.n == 0, "pool freed");
}

int main(void)
{
    test_pool();
    test_buffer_moves_and_grows();
    test_outq_merge_and_flush();
    test_outq_partial_writes();
    test_outq_reset_keeps_one_block();
    test_outq_shrink();
    test_big_buffers();
    test_arena();
    return tap_done("buf");
}
