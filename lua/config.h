/* config.h (lua/) - the configuration language: listen{}, upstream "x" {},
 * workers, timeouts{}, limits{}, lua{}, logs{}, resolver{}, fail_open{},
 * cache{}, shared "x" {}, and config_load, which runs a file once to fill
 * a struct config. */
#ifndef LUXY_LUA_CONFIG_H
#define LUXY_LUA_CONFIG_H

#include <lua.h>
#include <stddef.h>

struct config;

#define CONFIG_EMBEDDED_DEFAULT "scripts/default.lua"

/* Loads path (NULL: the embedded default) into cfg and checks what the
 * start would check (config_load.c); resolves the upstream host names with
 * the configured resolver. Returns 0, or -1 with "file:line: message" in
 * err; cfg->warnings may hold lines worth showing either way. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/* Same, from text already in memory; name is used in messages
 * ("name:line: ...") and as the chunk name. */
int config_load_source(const char *name, const char *source, size_t len, struct config *cfg,
                       char *err, size_t errlen);

/* Defines the configuration functions in L. In a worker's state (nothing
 * being built) they check nothing and do nothing. */
void config_open_dsl(lua_State *L);

/* The directive closest to name (a typo of it), or NULL. */
const char *config_nearest_directive(const char *name);

/* "10s", "250ms", "2m", 5 -> seconds; "32KB", "1MB", 4096 -> bytes.
 * Return 0, or -1 when the text is not a duration / size. */
int config_parse_duration(const char *s, double *out);
int config_parse_size(const char *s, unsigned long long *out);

#endif
