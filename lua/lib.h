/* lib.h - the standard library as scripts see it: sandboxed, and every
 * call charged to the budget (sandbox.c; the pattern functions in
 * lib_match.c). */
#ifndef LUXY_LIB_H
#define LUXY_LIB_H

#include <lua.h>

/* Opens base, string, table, math, utf8 and a clock-only os into L, with
 * the sandbox's replacements and charges. */
void lib_open(lua_State *L);
/* string.find, match, gmatch and gsub on the budgeted matcher. */
void lib_match_open(lua_State *L);
/* luxy.log(level, ...) */
int lib_log(lua_State *L);

#endif
