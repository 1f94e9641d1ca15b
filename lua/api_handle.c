/* api_handle.c - req and res as handles: light userdata that carry a
 * slot of the worker's table and the slot's serial, instead of a new full
 * userdata (an allocation, a registry ref and, later, garbage) per request.
 *
 * A request takes a slot the first time a hook sees it and gives it back
 * when it ends; giving it back bumps the slot's serial, so a handle a
 * script kept (in a global, say) no longer matches and raises "request
 * already finished" instead of reaching whatever request has the slot
 * now. The type check is arithmetic on the handle: no metatable lookup.
 *
 * Light userdata share one metatable per state; scripts cannot make light
 * userdata, and luxy gives them no others, so every light userdata a
 * script holds is a handle. The metamethods dispatch on the handle's kind. */
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>

#include "../core/luxy.h"
#include "../core/request.h"
#include "api.h"
#include "vm.h"

/* handle = serial << SERIAL_SHIFT | slot << KIND_BITS | kind */
#define KIND_BITS 2
#define SLOT_BITS 24
#define SERIAL_SHIFT (KIND_BITS + SLOT_BITS)
#define SERIAL_MASK ((UINT64_C(1) << (64 - SERIAL_SHIFT)) - 1)

_Static_assert(sizeof(void *) == 8, "handles need 64-bit pointers");
_Static_assert(API_KIND_REQUEST < (1 << KIND_BITS) && API_KIND_RESPONSE < (1 << KIND_BITS), "kinds fit");

#define KIND_MASK ((1u << KIND_BITS) - 1)

static const struct api_handle_kind *const kinds[1 << KIND_BITS] = {
    [API_KIND_REQUEST] = &api_request_kind,
    [API_KIND_RESPONSE] = &api_response_kind,
};

static uintptr_t handle_of(struct vm *vm, struct request *r, unsigned kind)
{
    struct api_handles *h = &vm->handles;
    if (r->lua_slot == 0) {
        unsigned i;
        if (h->free != 0) {
            i = h->free - 1;
            h->free = h->v[i].next_free;
        } else {
            if (h->n == h->cap) {
                if (h->cap == 1u << SLOT_BITS)
                    return 0; /* 16 million requests with a handle at once */
                h->cap = h->cap ? h->cap * 2 : 64;
                h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
            }
            i = h->n++;
            h->v[i].serial = 0;
        }
        h->v[i].r = r;
        r->lua_slot = i + 1;
    }
    unsigned i = r->lua_slot - 1;
    return (uintptr_t)(h->v[i].serial << SERIAL_SHIFT) | (uintptr_t)i << KIND_BITS | kind;
}

bool api_handle_try_push(struct vm *vm, struct request *r, unsigned kind)
{
    uintptr_t v = handle_of(vm, r, kind);
    if (v == 0)
        return false;
    lua_pushlightuserdata(vm->L, (void *)v);
    return true;
}

void api_handle_push(lua_State *L, struct request *r, unsigned kind)
{
    if (!api_handle_try_push(vm_of(L), r, kind))
        luaL_error(L, "too many requests at once for Lua handles");
}

struct request *api_handle_test(lua_State *L, int idx, unsigned kind, bool *finished)
{
    *finished = false;
    if (lua_type(L, idx) != LUA_TLIGHTUSERDATA)
        return NULL;
    uintptr_t v = (uintptr_t)lua_touserdata(L, idx);
    if ((v & KIND_MASK) != kind)
        return NULL;
    const struct api_handles *h = &vm_of(L)->handles;
    unsigned i = (unsigned)(v >> KIND_BITS) & ((1u << SLOT_BITS) - 1);
    if (i < h->n && h->v[i].r && h->v[i].serial == (uint64_t)(v >> SERIAL_SHIFT))
        return h->v[i].r;
    *finished = true;
    return NULL;
}

struct request *api_handle_check(lua_State *L, int idx, unsigned kind)
{
    bool finished;
    struct request *r = api_handle_test(L, idx, kind, &finished);
    if (r)
        return r;
    if (finished)
        luaL_argerror(L, idx, kind == API_KIND_REQUEST ? "request already finished" : "response already finished");
    luaL_typeerror(L, idx, kinds[kind]->name);
    return NULL;
}

void api_handle_release(struct vm *vm, struct request *r)
{
    if (r->lua_slot == 0)
        return;
    struct api_handles *h = &vm->handles;
    unsigned i = r->lua_slot - 1;
    h->v[i].r = NULL;
    h->v[i].serial = (h->v[i].serial + 1) & SERIAL_MASK;
    h->v[i].next_free = h->free;
    h->free = i + 1;
    r->lua_slot = 0;
}

void api_handles_free(struct api_handles *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = h->free = 0;
}

/* ---- the shared metatable ---- */

static unsigned kind_at(lua_State *L, int idx)
{
    unsigned k = (unsigned)((uintptr_t)lua_touserdata(L, idx) & KIND_MASK);
    if (kinds[k] == NULL)
        luaL_error(L, "not a luxy object");
    return k;
}

/* The kind's functions run as if they were this closure: the methods
 * table of kind k is its upvalue k (see api_handle_open). */
static int handle_index(lua_State *L)
{
    return kinds[kind_at(L, 1)]->index(L);
}

static int handle_newindex(lua_State *L)
{
    return kinds[kind_at(L, 1)]->newindex(L);
}

static int handle_tostring(lua_State *L)
{
    unsigned k = kind_at(L, 1);
    bool finished;
    struct request *r = api_handle_test(L, 1, k, &finished);
    if (r == NULL)
        lua_pushfstring(L, "%s (finished)", kinds[k]->name);
    else if (kinds[k]->tostring)
        kinds[k]->tostring(L, r);
    else
        lua_pushstring(L, kinds[k]->name);
    return 1;
}

void api_handle_open(lua_State *L)
{
    lua_pushlightuserdata(L, NULL);
    lua_createtable(L, 0, 5); /* [lud, mt] */
    lua_pushliteral(L, "luxy.object"); /* getmetatable() sees this, not the table */
    lua_setfield(L, -2, "__metatable");
    lua_pushliteral(L, "luxy.object");
    lua_setfield(L, -2, "__name");
    for (unsigned k = API_KIND_REQUEST; k <= API_KIND_RESPONSE; k++) {
        lua_newtable(L);
        luaL_setfuncs(L, kinds[k]->methods, 0);
    }
    lua_pushcclosure(L, handle_index, 2); /* upvalues 1, 2: the methods by kind */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, handle_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, handle_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}
