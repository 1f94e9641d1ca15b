/* fieldset.h - a fixed set of header field names, each with a class (a
 * bit mask), looked up in about one comparison per field: an open-
 * addressed table keyed by length and first and last letters, then an
 * eight-byte-at-a-time compare against a lower-case copy. Used where a rule touches
 * many names at once (anonymity levels, forwarding fields, backend
 * hiding), so that a request pays one pass over its fields instead of a
 * pass per name. Built once, read by every thread without locks.
 *
 * The eight-byte compare ORs each byte with 0x20: exact for the names in
 * a set (letters, digits and '-' only, checked when it is built) against
 * any RFC 9110 token, which is all a field name can be here (the scanner
 * and headers_valid_name refuse anything else). */
#ifndef LUXY_FIELDSET_H
#define LUXY_FIELDSET_H

#include <stdatomic.h>
#include <stdint.h>

#include "luxy.h"

struct fieldset_entry {
    const char *name;
    unsigned cls;
};

#define FIELDSET_MAX 64
#define FIELDSET_NAME_MAX 32
#define FIELDSET_SLOTS 256

struct fieldset {
    const struct fieldset_entry *entries; /* the caller's static table */
    size_t n;
    _Atomic int ready;
    uint8_t slot[FIELDSET_SLOTS];         /* entry index + 1, 0: empty */
    uint8_t len[FIELDSET_MAX];
    uint64_t lower[FIELDSET_MAX][FIELDSET_NAME_MAX / 8]; /* the names as load_word words ORed with 0x20 */
};

#define FIELDSET_INIT(table) { (table), sizeof(table) / sizeof((table)[0]), 0, { 0 }, { 0 }, { { 0 } } }

/* The class of name (0: not in the set). */
unsigned fieldset_class(struct fieldset *s, struct slice name);

#endif
