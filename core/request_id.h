/* request_id.h - request ids: made here (32 hex digits: SipHash-2-4-128
 * of a per-thread counter under a per-thread random key, so ids are
 * unique and cannot be guessed from one another), or taken from a trusted
 * peer when what it sent is a sane token. */
#ifndef LUXY_REQUEST_ID_H
#define LUXY_REQUEST_ID_H

#include <stdbool.h>

#include "luxy.h"

#define REQUEST_ID_LEN 32       /* a generated id: hex digits */
#define REQUEST_ID_MAX 128      /* a taken one: at most this long */

/* Writes a new id into out (REQUEST_ID_LEN bytes, no NUL). The first call
 * in a thread seeds it from getrandom(). */
void request_id_make(char out[REQUEST_ID_LEN]);

/* Is s an id worth keeping: 1 to REQUEST_ID_MAX bytes of letters, digits
 * and - _ . : / + = @ ~ (UUIDs, hex, base64 and trace ids pass; quotes,
 * spaces, commas and control bytes do not)? */
bool request_id_valid(struct slice s);

#endif
