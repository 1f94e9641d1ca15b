/* vm.c - the Lua states: sandbox, memory bound, instruction budget, calls.
 *
 * A policy script must never take the worker down: it cannot block (no io,
 * no os.execute, no C modules, no reading files after load), it cannot run
 * forever (a count hook raises after the budget and keeps raising, so a
 * pcall inside the script cannot swallow it), and it cannot take all memory
 * (the allocator refuses past the limit, which Lua turns into an error). */
#include "vm.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/luxy.h"
#include "../core/worker.h"
#include "api.h"
#include "config.h"
#include "embedded.h"
#include "hooks.h"

/* ---- memory ---- */

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= old;
        return NULL;
    }
    if (nsize > old && vm->mem_limit && vm->mem_used + (nsize - old) > vm->mem_limit)
        return NULL; /* Lua raises "not enough memory" in the caller */
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    vm->mem_used = vm->mem_used - old + nsize;
    return p;
}

/* ---- instruction budget ---- */

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct vm *vm = vm_of(L);
    /* fire again at the very next instruction: a pcall in the script that
     * catches this error gets no chance to carry on */
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    luaL_where(L, 0); /* level 0 inside a hook: the Lua function that ran too long */
    lua_pushfstring(L, "instruction budget exceeded (%I instructions)", (lua_Integer)vm->budget);
    lua_concat(L, 2);
    lua_error(L);
}

/* ---- calling ---- */

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int call_with_budget(struct vm *vm, int nargs, int nresults, unsigned long budget)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler); /* light C function: no allocation */
    lua_insert(L, base);
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, (int)min(budget, (unsigned long)0x7fffffff));
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return rc;
}

int vm_call(struct vm *vm, const char *what, int nargs, int nresults)
{
    lua_State *L = vm->L;
    int rc = call_with_budget(vm, nargs, nresults, vm->budget);
    if (rc == LUA_OK)
        return 0;
    vm->errors++;
    if (vm->w)
        vm->w->stats.hook_errors++;
    log_error("%s failed (script error %lu in this worker): %s", what, vm->errors,
              lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    lua_pop(L, 1);
    if (rc == LUA_ERRMEM)
        lua_gc(L, LUA_GCCOLLECT); /* give the next request room */
    return -1;
}

/* ---- the sandboxed library ---- */

static int safe_load(lua_State *L)
{
    /* load(chunk [, name [, mode [, env]]]) with mode forced to text:
     * precompiled chunks can break the VM's invariants */
    int n = lua_gettop(L);
    if (n < 3)
        lua_settop(L, 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n < 3 ? 3 : n, LUA_MULTRET);
    return lua_gettop(L);
}

static int lua_print(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_info("lua: %s", lua_tostring(L, -1));
    return 0;
}

static bool valid_module_name(const char *s)
{
    if (*s == '\0' || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || (*s == '.' && s[1] != '.' && s[1] != '\0')))
            return false;
    return true;
}

/* Reads a whole file (config-load time only: never from a worker loop). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *data = xmalloc(cap);
    size_t got;
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            data = xrealloc(data, cap *= 2);
    }
    fclose(f);
    *len = n;
    return data;
}

/* require(name): modules under "luxy." are built in; others are read from
 * the script's directory, and only while the file's top level runs. */
static int lua_require(lua_State *L)
{
    struct vm *vm = vm_of(L);
    const char *name = luaL_checkstring(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, name);
    if (lua_toboolean(L, -1))
        return 1;
    lua_pop(L, 1);
    if (!valid_module_name(name))
        return luaL_error(L, "invalid module name '%s'", name);
    char path[1024];
    snprintf(path, sizeof(path), "%s", name);
    for (char *p = path; *p; p++)
        if (*p == '.')
            *p = '/';
    char chunk[1700];
    int rc;
    if (strncmp(name, "luxy.", 5) == 0) {
        char ename[1100];
        snprintf(ename, sizeof(ename), "lua/%s.lua", path);
        const struct embedded_file *f = embedded_find(ename);
        if (f == NULL)
            return luaL_error(L, "module '%s' not found (no built-in %s)", name, ename);
        snprintf(chunk, sizeof(chunk), "@%s", ename);
        rc = luaL_loadbufferx(L, f->data, f->len, chunk, "t");
    } else {
        if (!vm->loading)
            return luaL_error(L, "require('%s'): modules can only be loaded while the configuration loads (call require at the top level)", name);
        char file[1600];
        snprintf(file, sizeof(file), "%s/%s.lua", vm->script_dir, path);
        size_t len;
        char *data = read_file(file, &len);
        if (data == NULL)
            return luaL_error(L, "module '%s' not found (looked for %s)", name, file);
        snprintf(chunk, sizeof(chunk), "@%s", file);
        rc = luaL_loadbufferx(L, data, len, chunk, "t");
        free(data);
    }
    if (rc != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name); /* loaded[name] = result */
    return 1;
}

/* os: only the clock and calendar. */
static void open_os_subset(lua_State *L)
{
    static const char *const keep[] = { "time", "clock", "date", "difftime", "getenv" };
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_newtable(L);
    for (size_t i = 0; i < countof(keep); i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
}

void vm_open_libs(lua_State *L)
{
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base },         { LUA_STRLIBNAME, luaopen_string },
        { LUA_TABLIBNAME, luaopen_table },   { LUA_MATHLIBNAME, luaopen_math },
        { LUA_UTF8LIBNAME, luaopen_utf8 },
    };
    for (size_t i = 0; i < countof(libs); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    open_os_subset(L);
    /* no dofile/loadfile (files), binary chunks, or stray C loaders;
     * coroutines stay out: a coroutine made outside a hook would run
     * without the instruction budget */
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    lua_getglobal(L, "load");
    lua_pushcclosure(L, safe_load, 1);
    lua_setglobal(L, "load");
    lua_register(L, "print", lua_print);
    lua_register(L, "require", lua_require);
    api_luxy_open(L);
    api_request_open(L);
    api_response_open(L);
    api_backends_open(L);
}

/* ---- states ---- */

static struct vm *vm_create(size_t mem_limit, unsigned long budget)
{
    struct vm *vm = xcalloc(1, sizeof(*vm));
    vm->mem_limit = mem_limit;
    vm->budget = budget;
    for (size_t i = 0; i < countof(vm->hook_refs); i++)
        vm->hook_refs[i] = LUA_NOREF;
    vm->current_hook = HOOK_NONE;
    vm->L = lua_newstate(vm_alloc, vm);
    if (vm->L == NULL) {
        free(vm);
        return NULL;
    }
    *(struct vm **)lua_getextraspace(vm->L) = vm;
    return vm;
}

static void set_script_dir(struct vm *vm, const char *chunkname)
{
    const char *path = chunkname[0] == '@' ? chunkname + 1 : chunkname;
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(vm->script_dir, sizeof(vm->script_dir), "%.*s", (int)(slash - path), path);
    else
        snprintf(vm->script_dir, sizeof(vm->script_dir), ".");
}

static int open_all(lua_State *L)
{
    vm_open_libs(L);
    config_open_dsl(L);
    return 0;
}

/* A load error as the user wants it: Lua shortens long file names in
 * positions ("...tail/conf.lua:3:"), so the full name is put back; and the
 * traceback, noise for a configuration mistake, is dropped. */
static void load_error(const char *msg, const char *chunkname, char *err, size_t errlen)
{
    const char *path = chunkname[0] == '@' ? chunkname + 1 : chunkname;
    size_t plen = strlen(path);
    const char *end = strstr(msg, "\nstack traceback:");
    int mlen = end ? (int)(end - msg) : (int)strlen(msg);
    if (strncmp(msg, "...", 3) == 0) {
        const char *colon = strchr(msg + 3, ':');
        size_t tail = colon ? (size_t)(colon - msg - 3) : 0;
        if (colon && tail <= plen && memcmp(path + plen - tail, msg + 3, tail) == 0) {
            snprintf(err, errlen, "%s%.*s", path, mlen - (int)(colon - msg), colon);
            return;
        }
    }
    snprintf(err, errlen, "%.*s", mlen, msg);
}

int vm_run_file(struct vm *vm, const char *source, size_t len, const char *chunkname, char *err,
                size_t errlen)
{
    lua_State *L = vm->L;
    set_script_dir(vm, chunkname);
    lua_pushcfunction(L, open_all);
    if (call_with_budget(vm, 0, 0, vm->budget) != LUA_OK)
        goto fail;
    if (luaL_loadbufferx(L, source, len, chunkname, "t") != LUA_OK)
        goto fail;
    vm->loading = true;
    /* the top level may build tables and load modules: a larger budget */
    int rc = call_with_budget(vm, 0, 0, max(vm->budget * 100, 100000000ul));
    vm->loading = false;
    if (rc != LUA_OK)
        goto fail;
    return 0;
fail:
    load_error(lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown Lua error", chunkname, err, errlen);
    lua_pop(L, 1);
    return -1;
}

struct vm *vm_new_loader(struct config *building, size_t mem_limit, unsigned long budget,
                         char *err, size_t errlen)
{
    struct vm *vm = vm_create(mem_limit, budget);
    if (vm == NULL) {
        snprintf(err, errlen, "cannot create a Lua state");
        return NULL;
    }
    vm->building = building;
    return vm;
}

struct vm *vm_new(const struct config *cfg, struct worker *w, char *err, size_t errlen)
{
    struct vm *vm = vm_create(cfg->lua.memory, cfg->lua.instructions);
    if (vm == NULL) {
        snprintf(err, errlen, "cannot create a Lua state");
        return NULL;
    }
    vm->w = w;
    vm->cfg = cfg;
    if (vm_run_file(vm, cfg->source, strlen(cfg->source), cfg->chunkname, err, errlen) == -1 ||
        hooks_find(vm, err, errlen) == -1) {
        vm_free(vm);
        return NULL;
    }
    lua_gc(vm->L, LUA_GCGEN, 0, 0); /* short-lived request objects: generational GC */
    return vm;
}

void vm_free(struct vm *vm)
{
    if (vm == NULL)
        return;
    lua_close(vm->L);
    free(vm);
}
