/* vm.c - the Lua states: memory bound, budget, calls.
 *
 * A policy script must never take the worker down: it cannot block (the
 * library it sees has no io, no os.execute, no C modules and no files
 * after load: sandbox.c), it cannot hold the worker past its budget (VM
 * instructions and library work are both counted, with a wall-clock
 * backstop: budget.c), and it cannot take all memory (the allocator
 * refuses past the limit, which Lua turns into an error). */
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
#include "budget.h"
#include "lib.h"
#include "config.h"
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
    if (nsize > old) {
        if (vm->mem_limit && vm->mem_used + (nsize - old) > vm->mem_limit)
            return NULL; /* Lua raises "not enough memory" in the caller */
        budget_alloc(&vm->budget, nsize - old);
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    vm->mem_used = vm->mem_used - old + nsize;
    return p;
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
    /* the bottom frame is luxy's own C entry ("[C]: in ?"): noise; and a
     * traceback with no Lua frame left says nothing */
    size_t len;
    const char *tb = lua_tolstring(L, -1, &len);
    static const char tail[] = "\n\t[C]: in ?", head[] = "\nstack traceback:";
    if (len >= sizeof(tail) - 1 && memcmp(tb + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0)
        len -= sizeof(tail) - 1;
    if (len >= sizeof(head) - 1 && memcmp(tb + len - (sizeof(head) - 1), head, sizeof(head) - 1) == 0)
        len -= sizeof(head) - 1;
    lua_pushlstring(L, tb, len);
    return 1;
}

/* stack: [..., f, nargs args] -> [..., results or error]; handled: the
 * caller pushed msghandler under f (saves two stack rotations). */
static int call_with_budget(struct vm *vm, int nargs, int nresults, unsigned long units,
                            double seconds, bool handled)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs;
    if (!handled) {
        lua_pushcfunction(L, msghandler); /* light C function: no allocation */
        lua_insert(L, base);
    } else {
        base--;
    }
    budget_begin(L, &vm->budget, units, seconds);
    int rc = lua_pcall(L, nargs, nresults, base);
    if (budget_end(L, &vm->budget) && rc == LUA_OK) {
        /* the script caught the budget error and returned at once: still
         * a failed call */
        lua_settop(L, base);
        lua_pushfstring(L, "%s (caught by a pcall in the script: still an error)",
                        vm->budget.message[0] ? vm->budget.message
                        : "instruction budget exceeded (library work and memory included)");
        rc = LUA_ERRRUN;
    }
    if (rc == LUA_OK && nresults == 0)
        lua_settop(L, base - 1); /* just the handler left: no rotation */
    else
        lua_remove(L, base);
    return rc;
}

/* After a memory error the heap is full of garbage more often than not,
 * but a full collection per failing request would let one bad script cost
 * every request a collection: at most one a second, else a step. */
static void collect_after_memory_error(struct vm *vm)
{
    double now = luxy_monotonic();
    if (now - vm->last_full_gc >= 1.0) {
        vm->last_full_gc = now;
        vm->full_gcs++;
        lua_gc(vm->L, LUA_GCCOLLECT);
    } else {
        lua_gc(vm->L, LUA_GCSTEP, 0);
    }
}

void vm_push_handler(lua_State *L)
{
    lua_pushcfunction(L, msghandler);
}

static int call_checked(struct vm *vm, const char *what, int nargs, int nresults, bool handled);

int vm_call(struct vm *vm, const char *what, int nargs, int nresults)
{
    return call_checked(vm, what, nargs, nresults, false);
}

int vm_call_handled(struct vm *vm, const char *what, int nargs, int nresults)
{
    return call_checked(vm, what, nargs, nresults, true);
}

static int call_checked(struct vm *vm, const char *what, int nargs, int nresults, bool handled)
{
    lua_State *L = vm->L;
    int rc = call_with_budget(vm, nargs, nresults, vm->instructions, vm->seconds, handled);
    if (rc == LUA_OK)
        return 0;
    vm->errors++;
    const char *msg = lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)";
    if (rc == LUA_ERRMEM)
        log_error("%s failed: not enough memory (lua.memory %zu bytes, with what scripts hold for requests)",
                  what, vm->mem_limit);
    else
        log_error("%s failed: %s", what, msg);
    snprintf(vm->last_error, sizeof(vm->last_error), "%s", rc == LUA_ERRMEM ? "not enough memory" : msg);
    lua_pop(L, 1);
    if (rc == LUA_ERRMEM)
        collect_after_memory_error(vm);
    return -1;
}

void vm_open_libs(lua_State *L)
{
    lib_open(L);
    api_luxy_open(L);
    api_handle_open(L);
    api_backends_open(L);
}

/* ---- states ---- */

static struct vm *vm_create(size_t mem_limit, unsigned long instructions, double seconds)
{
    struct vm *vm = xcalloc(1, sizeof(*vm));
    vm->mem_limit = mem_limit;
    vm->instructions = instructions;
    vm->seconds = seconds;
    vm->last_full_gc = -1e9;
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
    /* a misspelled directive reads as a call of an undefined global */
    static const char call_nil[] = "attempt to call a nil value (global '";
    const char *c = strstr(msg, call_nil);
    if (c) {
        char name[64];
        const char *start = c + sizeof(call_nil) - 1, *end = strchr(start, '\'');
        const char *near = NULL;
        if (end && (size_t)(end - start) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(end - start), start);
            near = config_nearest_directive(name);
        }
        if (near) {
            char fixed[512];
            snprintf(fixed, sizeof(fixed), "%.*sunknown directive '%s' (did you mean '%s'?)", (int)(c - msg), msg,
                     name, near);
            load_error(fixed, chunkname, err, errlen);
            return;
        }
    }
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
    int rc = call_with_budget(vm, 0, 0, vm->instructions, 0, false);
    if (rc != LUA_OK)
        goto fail;
    if ((rc = luaL_loadbufferx(L, source, len, chunkname, "t")) != LUA_OK)
        goto fail;
    vm->loading = true;
    /* the top level may build tables and load modules: a larger budget */
    rc = call_with_budget(vm, 0, 0, vm_load_instructions(vm->instructions), vm_load_seconds(vm->seconds), false);
    vm->loading = false;
    if (rc != LUA_OK)
        goto fail;
    return 0;
fail:
    if (rc == LUA_ERRMEM) {
        /* Lua's memory error carries no position */
        const char *path = chunkname[0] == '@' ? chunkname + 1 : chunkname;
        snprintf(err, errlen, "%s: not enough memory: the file's top level needs more than lua.memory (%zu bytes)",
                 path, vm->mem_limit);
    } else {
        load_error(lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown Lua error", chunkname, err, errlen);
    }
    lua_pop(L, 1);
    return -1;
}

struct vm *vm_new_loader(struct config *building, size_t mem_limit, unsigned long instructions,
                         double seconds, char *err, size_t errlen)
{
    struct vm *vm = vm_create(mem_limit, instructions, seconds);
    if (vm == NULL) {
        snprintf(err, errlen, "cannot create a Lua state");
        return NULL;
    }
    vm->building = building;
    return vm;
}

struct vm *vm_new(const struct config *cfg, struct worker *w, char *err, size_t errlen)
{
    struct vm *vm = vm_create(cfg->lua.memory, cfg->lua.instructions, cfg->lua.seconds);
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
    api_handles_free(&vm->handles);
    shdict_buf_free(&vm->shared_buf);
    free(vm);
}
