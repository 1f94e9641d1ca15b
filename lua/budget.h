/* budget.h - what one call into Lua may cost: a number of units and a
 * wall-clock limit. VM instructions cost one unit each (a count hook takes
 * them in grains); library functions that do more than constant work
 * charge what they do (pattern-matching steps, bytes scanned, elements
 * moved); growing the Lua heap costs a unit per 64 bytes. Whatever runs
 * out first raises the same error, and the error keeps being raised at
 * every following instruction, so a pcall in the script cannot swallow
 * it. The wall clock is the backstop for work no counter sees (comparing
 * two very long strings is one instruction). */
#ifndef LUXY_BUDGET_H
#define LUXY_BUDGET_H

#include <lua.h>
#include <stdbool.h>

#define BUDGET_GRAIN 128          /* instructions between two hook calls */
#define BUDGET_BYTES_PER_UNIT 64  /* heap growth */
#define BUDGET_SCAN_PER_UNIT 16   /* bytes a library function reads */

struct budget {
    long left;                    /* units left in this call */
    long total;                   /* units this call started with */
    int grain;                    /* count the hook is set to */
    bool active;                  /* a call is running */
    bool out_of_time;             /* the wall clock ran out (not the units) */
    bool exhausted;               /* the error was raised in this call */
    char message[160];            /* the first time it was raised, with file:line */
    double started;               /* luxy_monotonic() when the call began */
    double deadline;              /* luxy_monotonic() limit */
    double seconds;               /* the wall-clock limit of this call */
};

/* Starts counting a call of units and seconds in L (0 seconds: none). */
void budget_begin(lua_State *L, struct budget *b, unsigned long units, double seconds);
/* Ends the call; true when it overspent (even if the script's own pcall
 * caught the error and nothing ran after it). */
bool budget_end(lua_State *L, struct budget *b);

/* From library functions (L's vm has the budget): spend n units; raises
 * the budget error when they are not there. */
void budget_charge(lua_State *L, long n);
/* Units left now (for code that counts on its own, then settles). */
long budget_left(lua_State *L);
/* Sets what is left after such code ran; raises when it is spent. */
void budget_settle(lua_State *L, long left);
/* Raises the budget error (and keeps it raised until the call ends). */
int budget_exhausted(lua_State *L);

/* Heap growth, from the allocator: may not raise, so it only counts; the
 * next instruction or charge raises. */
static inline void budget_alloc(struct budget *b, size_t grown)
{
    if (b->active)
        b->left -= (long)(grown / BUDGET_BYTES_PER_UNIT);
}

#endif
