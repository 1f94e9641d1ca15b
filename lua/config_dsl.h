/* config_dsl.h (lua/) - shared by the files that implement directives
 * (config.c, config_listen.c): reading option tables strictly, with
 * errors that carry the user's file:line (config_values.c). */
#ifndef LUXY_CONFIG_DSL_H
#define LUXY_CONFIG_DSL_H

#include <lua.h>
#include <stdbool.h>

#include "../core/addr.h"
#include "../core/config.h"

/* The configuration being built, or NULL in a worker's state. */
struct config *building(lua_State *L);
/* The line of the file that called the directive running now. */
int caller_line(lua_State *L);
void directive_begin(lua_State *L);
void directive_end(lua_State *L);

/* Every string key of table t must be one of names (NULL-terminated);
 * positional: numeric keys are allowed too. */
void check_keys(lua_State *L, int t, const char *what, const char *const *names, bool positional);
/* Pushes t[k] and returns true, or pushes nothing and returns false (nil). */
bool opt_field(lua_State *L, int t, const char *k);
double opt_duration(lua_State *L, int t, const char *what, const char *k, double dflt);
unsigned long long opt_size(lua_State *L, int t, const char *what, const char *k, unsigned long long dflt,
                            bool allow_false);
long long opt_int(lua_State *L, int t, const char *what, const char *k, long long dflt, long long lo,
                  long long hi);
bool opt_bool(lua_State *L, int t, const char *what, const char *k, bool dflt);
char *opt_string(lua_State *L, int t, const char *what, const char *k, const char *dflt);
/* A list of networks at idx (a single string is a list of one). */
struct cidr *parse_networks(lua_State *L, int idx, const char *what, const char *k, unsigned *count);
/* A header-name option that false turns off; stack top table is index 1. */
char *string_or_false(lua_State *L, const char *what, const char *k, const char *dflt);

/* A list of strings (a single string is a list of one), each checked
 * with valid (may be NULL); NULL when absent. */
char **opt_string_list(lua_State *L, int t, const char *what, const char *k, unsigned *count,
                       bool (*valid)(const char *s));

int dsl_listen(lua_State *L);
int dsl_upstream(lua_State *L);
int dsl_parent(lua_State *L);

#endif
