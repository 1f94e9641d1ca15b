/* sim_table.h - reading the simulator's Lua table files (a backend model,
 * a workload): the file runs in a Lua state of its own with the base,
 * math, string and table libraries and returns one table; these read its
 * fields with defaults and say which field is wrong. */
#ifndef LUXY_SIM_TABLE_H
#define LUXY_SIM_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include <lua.h>

/* Runs path; on success the returned table is on top of the new state's
 * stack. NULL and err otherwise. */
lua_State *sim_table_open(const char *path, char *err, size_t errlen);

/* The field name of the table at idx: a number (dflt when absent), a
 * duration ("250ms", "2s", "5m", "1h" or a number of seconds). False and
 * err when it has the wrong type. */
bool sim_table_number(lua_State *L, int idx, const char *name, double dflt, double *out, char *err,
                      size_t errlen);
bool sim_table_seconds(lua_State *L, int idx, const char *name, double dflt, double *out, char *err,
                       size_t errlen);
/* A string field, copied into buf (dflt when absent). */
bool sim_table_string(lua_State *L, int idx, const char *name, const char *dflt, char *buf, size_t bufsz,
                      char *err, size_t errlen);
/* A duration as a value (number or string) at idx; -1 when it is not one. */
double sim_seconds_value(lua_State *L, int idx);

#endif
