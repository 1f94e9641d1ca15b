/* body.h - reading a message body by its framing (RFC 9112 6): a length,
 * chunked, or until the connection closes. The chunked decoder is strict:
 * exact CRLFs, hex sizes that fit in 63 bits, well-formed extensions and
 * bounded trailers; anything else is a framing error, never a guess.
 * Pure: bytes in, body slices out (no copies), no I/O. */
#ifndef LUXY_BODY_H
#define LUXY_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };

struct body_reader {
    enum body_kind kind;
    bool done;
    uint64_t remaining;   /* BODY_LENGTH: bytes left; BODY_CHUNKED: of this chunk */
    uint64_t total;       /* body bytes seen */
    /* chunked state */
    unsigned state;
    unsigned digits;
    size_t trailer_bytes;
};

/* Called for each run of body bytes: pointers into the fed buffer. */
typedef void (*body_data_cb)(void *arg, const char *p, size_t n);

void body_init(struct body_reader *b, enum body_kind kind, uint64_t length);

/* Feeds p[0..n). Returns the bytes consumed: all of them, or fewer when
 * the body ended inside the buffer (what follows is the next message).
 * Returns -1 with *err on a framing error. */
ssize_t body_feed(struct body_reader *b, const char *p, size_t n, body_data_cb cb, void *arg,
                  const char **err);

/* The peer closed: true when that ends the body cleanly. */
bool body_eof_ok(struct body_reader *b);

#endif
