/* test_vm.c - the Lua states: a memory error costs at most one full
 * collection a second, however many calls hit it; the budget counts
 * library work and heap growth, survives a pcall, and names the limit
 * that applied; memory the core holds for scripts counts. */
#include "../../core/config.h"
#include "../../core/luxy.h"
#include "../../lua/vm.h"
#include "tap.h"

static struct vm *load(struct config *cfg, const char *src, size_t mem, unsigned long units)
{
    char err[512] = "";
    config_defaults(cfg);
    struct vm *vm = vm_new_loader(cfg, mem, units, 0, err, sizeof(err));
    if (vm && vm_run_file(vm, src, strlen(src), "=t", err, sizeof(err)) != 0) {
        printf("# %s\n", err);
        vm_free(vm);
        return NULL;
    }
    return vm;
}

static int call(struct vm *vm, const char *fn)
{
    lua_getglobal(vm->L, fn);
    return vm_call(vm, fn, 0, 0);
}

static void test_gc_after_memory_errors_is_bounded(void)
{
    struct config cfg;
    struct vm *vm = load(&cfg, "function grow() local t = {} while true do t[#t+1] = {} end end", 2u << 20,
                         100000000);
    ok(vm != NULL, "loaded");
    if (!vm)
        return;
    vm->loading = false;
    for (int i = 0; i < 20; i++)
        ok(call(vm, "grow") == -1, "memory error %d", i);
    is_int(vm->full_gcs, 1, "twenty memory errors in a row: one full collection");
    vm_free(vm);
    config_free(&cfg);
}

static void test_budget_counts_library_work(void)
{
    struct config cfg;
    struct vm *vm = load(&cfg,
                         "function rep() local s = string.rep('ab', 1 << 22) end\n"   /* 8 MB */
                         "function move() table.move({}, 1, 1 << 40, 1) end\n"
                         "function small() local s = string.rep('ab', 100) end\n"
                         "function swallow() for i = 1, 10 do pcall(table.move, {}, 1, 1 << 40, 1) end end\n",
                         64u << 20, 20000);
    ok(vm != NULL, "loaded");
    if (!vm)
        return;
    ok(call(vm, "rep") == -1, "8 MB of output is more than 20000 units");
    ok(call(vm, "move") == -1, "moving 2^40 nothings is more than 20000 units");
    ok(call(vm, "small") == 0, "a small rep fits");
    ok(call(vm, "swallow") == -1, "a pcall cannot swallow the budget error");
    ok(vm->budget.exhausted, "the budget was exhausted");
    vm_free(vm);
    config_free(&cfg);
}

static void test_top_level_budget_names_its_limit(void)
{
    struct config cfg;
    char err[512] = "";
    config_defaults(&cfg);
    struct vm *vm = vm_new_loader(&cfg, 64u << 20, 1000, 0, err, sizeof(err));
    const char *src = "while true do end";
    int rc = vm_run_file(vm, src, strlen(src), "=top", err, sizeof(err));
    ok(rc == -1, "an endless top level fails");
    ok(strstr(err, "100000000 instructions") != NULL, "and names the limit applied at load: %s", err);
    vm_free(vm);
    config_free(&cfg);
}

static void test_hold(void)
{
    struct config cfg;
    struct vm *vm = load(&cfg, "x = 1", 2u << 20, 100000);
    size_t base = vm->mem_used;
    ok(vm_fits(vm, (2u << 20) - base), "exactly the rest fits");
    ok(!vm_fits(vm, (2u << 20) - base + 1), "one more byte does not");
    vm_hold(vm, 1000);
    is_int(vm->mem_used, base + 1000, "held bytes count");
    vm_unhold(vm, 1000);
    is_int(vm->mem_used, base, "and are given back");
    vm_free(vm);
    config_free(&cfg);
}

int main(void)
{
    test_gc_after_memory_errors_is_bounded();
    test_budget_counts_library_work();
    test_top_level_budget_names_its_limit();
    test_hold();
    return tap_done("vm");
}
