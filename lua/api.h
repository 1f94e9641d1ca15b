/* api.h - the Lua classes luxy exposes to scripts, one file each:
 * api_luxy.c (the luxy module), api_request.c (luxy.request),
 * api_response.c (luxy.response), api_backends.c (luxy.backends and
 * luxy.backend), api_shared.c (luxy.shared dictionaries), with the header
 * helpers they share in api_headers.c. */
#ifndef LUXY_API_H
#define LUXY_API_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>

#include "../core/arena.h"
#include "../core/headers.h"

struct backend;
struct request;
struct upstream;

/* A class of userdata (api_class.c): its metatable is found by this
 * object's address, not by name. */
struct api_class {
    const char *name;
};
/* stack: [...] -> [..., mt]: the class's metatable, made and registered. */
void api_class_new(lua_State *L, const struct api_class *c);
/* stack: [...] -> [..., object]: a new object of class c with size bytes
 * for the caller (returned) and nuv user values. */
void *api_class_object(lua_State *L, size_t size, int nuv, const struct api_class *c);
/* The userdata at idx if it is of the class, else NULL / an argument error. */
void *api_class_test(lua_State *L, int idx, const struct api_class *c);
void *api_class_check(lua_State *L, int idx, const struct api_class *c);

/* req and res are handles (api_handle.c): light userdata naming a slot
 * and its serial, checked on every use. */
enum { API_KIND_REQUEST = 1, API_KIND_RESPONSE = 2 };
struct api_handle_kind {
    const char *name;            /* "luxy.request": for messages */
    const luaL_Reg *methods;     /* its methods table is the __index closure's upvalue <kind> */
    lua_CFunction index, newindex;
    void (*tostring)(lua_State *L, struct request *r); /* pushes one string */
};
extern const struct api_handle_kind api_request_kind, api_response_kind;
/* stack: [...] -> [..., handle]: the same value for every hook of r.
 * Raises when 2^24 requests hold handles at once. */
void api_handle_push(lua_State *L, struct request *r, unsigned kind);
/* The same, outside protection: never raises, never allocates in Lua;
 * false (nothing pushed) where api_handle_push would raise. */
struct vm;
bool api_handle_try_push(struct vm *vm, struct request *r, unsigned kind);
/* The request behind the handle at idx; an argument error when it is not
 * one of kind or its request is over. */
struct request *api_handle_check(lua_State *L, int idx, unsigned kind);
/* NULL when it is not (*finished: it was, its request is over). */
struct request *api_handle_test(lua_State *L, int idx, unsigned kind, bool *finished);
/* Sets the handles' shared metatable. */
void api_handle_open(lua_State *L);

void api_luxy_open(lua_State *L);
void api_backends_open(lua_State *L);
/* stack: [luxy] -> [luxy]: adds luxy.shared and the dictionary class. */
void api_shared_open(lua_State *L);

/* stack: [...] -> [..., req]: the request's userdata, made on first use and
 * the same object for every hook of that request. */
void api_push_request(lua_State *L, struct request *r);
/* stack: [...] -> [..., res] */
void api_push_response(lua_State *L, struct request *r);
/* stack: [...] -> [..., backends]: the group's list, with r's tried set. */
void api_push_backends(lua_State *L, struct upstream *up, struct request *r);
/* select_backend is over: the list forgets the request. */
void api_backends_release(lua_State *L, struct upstream *up);
/* r is over: its handles stop working (a kept one errors cleanly), its
 * ctx table is let go. */
void api_request_end(lua_State *L, struct request *r);
/* The backend userdata at idx, or NULL if it is not one. */
struct backend *api_to_backend(lua_State *L, int idx);

/* Shared by request and response (api_headers.c). Names are checked as
 * RFC 9110 tokens and values for CR/LF/NUL: a script cannot split a head.
 * Set values are copied into r's arena (see api_hold). */
int api_headers_get(lua_State *L, const struct headers *h, int name_idx);
int api_headers_table(lua_State *L, const struct headers *h);
void api_headers_set(lua_State *L, struct request *r, struct headers *h, int name_idx,
                     int value_idx, int replace);
void api_headers_del(lua_State *L, struct headers *h, int name_idx);

/* Everything a script makes the core keep for a request (the copies in
 * its arena: header values, paths, respond bodies) counts against
 * lua.memory together with the Lua heap, until the request ends.
 * api_room raises "not enough memory" unless n more bytes fit; api_hold
 * accounts for what r's arena grew by since arena_used_before. */
void api_room(lua_State *L, size_t n);
void api_hold(lua_State *L, struct request *r, size_t arena_used_before);
/* A copy of s[0..len) in r's arena, accounted as above. */
struct slice api_request_copy(lua_State *L, struct request *r, const char *s, size_t len);
/* The same for the string at idx. */
struct slice api_request_string(lua_State *L, struct request *r, int idx);

#endif
