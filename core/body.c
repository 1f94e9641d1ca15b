/* body.c - body framing: length, chunked, until close.
 * The chunked decoder is a byte state machine over
 *   chunk = size [ext] CRLF data CRLF; last = "0" [ext] CRLF trailers CRLF
 * that reports data as slices of the input. Every byte that is not exactly
 * what the grammar allows is an error: a proxy that guesses at framing is
 * how requests get smuggled. */
#include "body.h"

#define CHUNK_DIGITS_MAX 64       /* with leading zeros; the value stays below 2^63 */
#define TRAILERS_MAX 8192

enum {
    CH_SIZE,          /* hex digits */
    CH_EXT,           /* after ';': extension bytes until CR */
    CH_SIZE_WS,       /* whitespace after the size, before ';' */
    CH_SIZE_LF,       /* CR seen after the size line */
    CH_DATA,
    CH_DATA_CR,       /* data done: CR expected */
    CH_DATA_LF,
    CH_TRAILER_START, /* after the last chunk: a field line or CRLF */
    CH_TRAILER,       /* inside a trailer field line */
    CH_TRAILER_LF,    /* CR seen at the end of a trailer line */
    CH_END_LF,        /* CR of the final empty line seen */
};

void body_init(struct body_reader *b, enum body_kind kind, uint64_t length)
{
    b->kind = kind;
    b->done = kind == BODY_NONE || (kind == BODY_LENGTH && length == 0);
    b->remaining = kind == BODY_LENGTH ? length : 0;
    b->total = 0;
    b->state = CH_SIZE;
    b->digits = 0;
    b->trailer_bytes = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool ext_char(unsigned char c)
{
    /* token, quoted-string, '=', ';' and whitespace: visible ASCII, SP, HTAB */
    return c == '\t' || (c >= ' ' && c != 0x7f);
}

static ssize_t chunked_feed(struct body_reader *b, const char *p, size_t n, body_data_cb cb,
                            void *arg, const char **err)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        switch (b->state) {
        case CH_SIZE: {
            int v = hexval((char)c);
            if (v >= 0) {
                /* leading zeros are legal, but a size line is not endless */
                if (++b->digits > CHUNK_DIGITS_MAX ||
                    b->remaining > ((uint64_t)INT64_MAX - (uint64_t)v) / 16) {
                    *err = "chunk size too large";
                    return -1;
                }
                b->remaining = b->remaining * 16 + (uint64_t)v;
                i++;
                break;
            }
            if (b->digits == 0) {
                *err = "invalid chunk size";
                return -1;
            }
            if (c == '\r')
                b->state = CH_SIZE_LF;
            else if (c == ';')
                b->state = CH_EXT;
            else if (c == ' ' || c == '\t')
                b->state = CH_SIZE_WS;
            else {
                *err = "invalid chunk size";
                return -1;
            }
            i++;
            break;
        }
        case CH_SIZE_WS:
            if (c == ';')
                b->state = CH_EXT;
            else if (c != ' ' && c != '\t') {
                *err = "invalid chunk size";
                return -1;
            }
            i++;
            break;
        case CH_EXT:
            if (c == '\r')
                b->state = CH_SIZE_LF;
            else if (!ext_char(c)) {
                *err = "invalid chunk extension";
                return -1;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n') {
                *err = "chunk size line not ended by CRLF";
                return -1;
            }
            i++;
            b->digits = 0;
            b->state = b->remaining ? CH_DATA : CH_TRAILER_START;
            break;
        case CH_DATA: {
            size_t take = (size_t)(b->remaining < n - i ? b->remaining : n - i);
            cb(arg, p + i, take);
            b->total += take;
            b->remaining -= take;
            i += take;
            if (b->remaining == 0)
                b->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (c != (b->state == CH_DATA_CR ? '\r' : '\n')) {
                *err = "chunk data not followed by CRLF";
                return -1;
            }
            b->state = b->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
            i++;
            break;
        case CH_TRAILER_START:
            if (c == '\r') {
                b->state = CH_END_LF;
                i++;
                break;
            }
            b->state = CH_TRAILER;
            break; /* look at c again as part of the line */
        case CH_TRAILER:
            if (++b->trailer_bytes > TRAILERS_MAX) {
                *err = "trailers too large";
                return -1;
            }
            if (c == '\r')
                b->state = CH_TRAILER_LF;
            else if (c == '\n' || c == 0) {
                *err = "invalid trailer";
                return -1;
            }
            i++;
            break;
        case CH_TRAILER_LF:
        case CH_END_LF:
            if (c != '\n') {
                *err = "trailer line not ended by CRLF";
                return -1;
            }
            i++;
            if (b->state == CH_END_LF) {
                b->done = true;
                return (ssize_t)i;
            }
            b->state = CH_TRAILER_START;
            break;
        }
    }
    return (ssize_t)n;
}

ssize_t body_feed(struct body_reader *b, const char *p, size_t n, body_data_cb cb, void *arg,
                  const char **err)
{
    if (b->done || n == 0)
        return 0;
    switch (b->kind) {
    case BODY_NONE:
        return 0;
    case BODY_LENGTH: {
        size_t take = (size_t)(b->remaining < n ? b->remaining : n);
        cb(arg, p, take);
        b->total += take;
        b->remaining -= take;
        b->done = b->remaining == 0;
        return (ssize_t)take;
    }
    case BODY_UNTIL_CLOSE:
        cb(arg, p, n);
        b->total += n;
        return (ssize_t)n;
    case BODY_CHUNKED:
        return chunked_feed(b, p, n, cb, arg, err);
    }
    return 0;
}

bool body_eof_ok(struct body_reader *b)
{
    if (b->kind == BODY_UNTIL_CLOSE)
        b->done = true;
    return b->done;
}
