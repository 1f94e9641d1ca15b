/* request_id.h - request ids: made here (32 hex digits of 128 random bits,
 * so ids are unique and cannot be guessed from one another: the bits come
 * from getrandom() in 4 KiB batches per thread, one system call per 256
 * ids), or taken from a trusted peer when what it sent is a sane token. */
#ifndef LUXY_REQUEST_ID_H
#define LUXY_REQUEST_ID_H

#include <stdbool.h>

#include "luxy.h"

#define REQUEST_ID_LEN 32       /* a generated id: hex digits */
#define REQUEST_ID_MAX 128      /* a taken one: at most this long */

/* Writes a new id into out (REQUEST_ID_LEN bytes, no NUL). Any thread. */
void request_id_make(char out[REQUEST_ID_LEN]);

/* Is s an id worth keeping: 1 to REQUEST_ID_MAX bytes of letters, digits
 * and - _ . : / + = @ ~ (UUIDs, hex, base64 and trace ids pass; quotes,
 * spaces, commas and control bytes do not)? */
bool request_id_valid(struct slice s);

/* From now on this thread's ids come from seed: the same every run (luxy
 * test, luxy simulate). */
void request_id_seed(uint64_t seed);

#endif
