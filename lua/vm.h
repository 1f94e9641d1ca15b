/* vm.h - one lua_State per worker (and one for loading the config): the
 * sandboxed standard library, a bounded allocator, an instruction budget,
 * and vm_call, the only way the core enters Lua. */
#ifndef LUXY_VM_H
#define LUXY_VM_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/shdict.h"
#include "budget.h"

struct config;
struct request;
struct vm;
struct worker;

/* The requests scripts hold handles to (api_handle.c). */
struct api_slot {
    struct request *r;            /* NULL: free */
    uint64_t serial;              /* bumped when r lets the slot go */
    unsigned next_free;           /* free list, 1-based (0: end) */
};
struct api_handles {
    struct api_slot *v;
    unsigned n, cap, free;
};
/* A request is over: its slot goes back (the serial moves on). */
void api_handle_release(struct vm *vm, struct request *r);
void api_handles_free(struct api_handles *h);

struct vm {
    lua_State *L;
    struct worker *w;             /* NULL in the config-loading state */
    struct config *building;      /* the config being filled (loading state only) */
    const struct config *cfg;
    size_t mem_used, mem_limit;
    unsigned long instructions;   /* budget units per hook call */
    double seconds;               /* wall-clock limit per hook call (0: none) */
    struct budget budget;         /* the call running now */
    double last_full_gc;          /* after a memory error (luxy_monotonic) */
    unsigned long full_gcs;
    bool loading;                 /* running the file's top level */
    bool directive_running;       /* a config directive started and has not returned */
    int hook_refs[8];             /* indexed by enum hook (hooks.h) */
    char hook_where[8][96];       /* "on_request (conf.lua:12)", for messages */
    unsigned current_hook;        /* HOOK_NONE or the hook running now */
    unsigned long errors;
    char last_error[256];         /* the last failed call's message (traces) */
    char script_dir[512];         /* for require */
    struct api_handles handles;   /* req and res handles (api_handle.c) */
    struct shdict_buf shared_buf; /* string values copied out of shared dicts (api_shared.c) */
};

/* The vm from inside a Lua C function. */
static inline struct vm *vm_of(lua_State *L)
{
    return *(struct vm **)lua_getextraspace(L);
}

/* A worker's state: loads cfg->source again (the configuration functions do
 * nothing the second time) and finds the hooks. NULL with err on failure. */
struct vm *vm_new(const struct config *cfg, struct worker *w, char *err, size_t errlen);

/* The loading state: runs the file once with building as the target of
 * listen{}, upstream{}... Returns NULL with "file:line: message" in err. */
struct vm *vm_new_loader(struct config *building, size_t mem_limit, unsigned long instructions,
                         double seconds, char *err, size_t errlen);

/* The file's top level may build tables and load modules: it gets 100
 * times a hook's budget (at least 100 million units, and 10 s). */
static inline unsigned long vm_load_instructions(unsigned long per_hook)
{
    return per_hook * 100 > 100000000ul ? per_hook * 100 : 100000000ul;
}
static inline double vm_load_seconds(double per_hook)
{
    return per_hook <= 0 ? 0 : per_hook * 100 > 10 ? per_hook * 100 : 10;
}
/* Runs source (named chunkname) in vm. Returns 0 or -1 with err. */
int vm_run_file(struct vm *vm, const char *source, size_t len, const char *chunkname, char *err,
                size_t errlen);

void vm_free(struct vm *vm);

/* Memory a script makes the core hold outside the Lua heap (copies in a
 * request's arena) counts against the same limit as the heap. vm_fits:
 * would n more bytes fit? vm_hold / vm_unhold: account for them. */
static inline bool vm_fits(const struct vm *vm, size_t n)
{
    return vm->mem_limit == 0 || (vm->mem_used <= vm->mem_limit && n <= vm->mem_limit - vm->mem_used);
}
static inline void vm_hold(struct vm *vm, size_t n) { vm->mem_used += n; }
static inline void vm_unhold(struct vm *vm, size_t n) { vm->mem_used -= n; }

/* Calls the function below its nargs arguments on the stack, under the
 * instruction budget and inside lua_pcall with a traceback handler.
 * stack: [..., f, args...] -> [..., results...] on success (returns 0), or
 * [...] on error (returns -1; the error is logged as "<what> failed: ...",
 * counted, and the state stays usable). */
int vm_call(struct vm *vm, const char *what, int nargs, int nresults);
/* The same for a caller that pushed vm_push_handler() under the function:
 * stack [..., handler, f, args] -> [...] (the handler is gone too). */
void vm_push_handler(lua_State *L);
int vm_call_handled(struct vm *vm, const char *what, int nargs, int nresults);

/* Registers the sandboxed libraries and the luxy module (lua/api_*.c). */
void vm_open_libs(lua_State *L);

#endif
