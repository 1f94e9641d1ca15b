/* version.h - what `luxy -V` prints: luxy's version and, one a line, the
 * version of every library it is linked with, as built and as running. */
#ifndef LUXY_VERSION_H
#define LUXY_VERSION_H

#include <stdio.h>

/* Writes the report to out: first "luxy VERSION", then one line per
 * library. Where a library can tell its version at run time the line says
 * both; a difference between the two is marked, since it means the
 * binary runs against a library other than the one it was built with. */
void luxy_print_versions(FILE *out);

#endif
