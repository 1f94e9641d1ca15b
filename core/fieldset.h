/* fieldset.h - a fixed set of header field names, each with a class (a
 * bit mask), looked up in about one comparison per field: names are
 * bucketed by their first letter and length. Used where a rule touches
 * many names at once (anonymity levels, forwarding fields, backend
 * hiding), so that a request pays one pass over its fields instead of a
 * pass per name. Built once, read by every thread without locks. */
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

struct fieldset {
    const struct fieldset_entry *entries; /* the caller's static table */
    size_t n;
    _Atomic int ready;
    uint8_t order[FIELDSET_MAX];          /* entry indexes grouped by first letter */
    uint8_t start[28], count[28];         /* per bucket: a-z, other */
    uint8_t len[FIELDSET_MAX];
};

#define FIELDSET_INIT(table) { (table), sizeof(table) / sizeof((table)[0]), 0, { 0 }, { 0 }, { 0 }, { 0 } }

/* The class of name (0: not in the set). */
unsigned fieldset_class(struct fieldset *s, struct slice name);

#endif
