/* version.c - `luxy -V`: the versions of luxy and of each library linked.
 * "built with" comes from the headers at compile time; the other number
 * comes from the library itself at run time, so a shared library upgraded
 * (or downgraded) under the binary shows. */
#include "version.h"

#include <ares.h>
#include <crypt.h>
#include <ev.h>
#include <gnu/libc-version.h>
#include <http_parser.h>
#include <lua.h>
#include <string.h>

#include "luxy.h"

#if defined(__clang__)
#define COMPILER __VERSION__ /* "Debian Clang 14.0.6": names itself */
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER "unknown"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

/* "NAME RUNNING (built with BUILT)", with a mark when the two differ. */
static void line(FILE *out, const char *name, const char *running, const char *built)
{
    fprintf(out, "%s %s (built with %s)%s\n", name, running, built,
            strcmp(running, built) ? " MISMATCH: running a library other than the one built with" : "");
}

void luxy_print_versions(FILE *out)
{
    char run[64], built[64];

    fprintf(out, "luxy %s\n", LUXY_VERSION);

    /* lua_version() ignores its state and gives LUA_VERSION_NUM of the
     * library linked (504); the release number exists only in the header */
    int lv = (int)lua_version(NULL);
    snprintf(run, sizeof(run), "%d.%d", lv / 100, lv % 100);
    fprintf(out, "Lua %s (built with %s)%s\n", run, LUA_RELEASE,
            lv != LUA_VERSION_NUM ? " MISMATCH: running a library other than the one built with" : "");

    snprintf(run, sizeof(run), "%d.%d", ev_version_major(), ev_version_minor());
    snprintf(built, sizeof(built), "%d.%d", EV_VERSION_MAJOR, EV_VERSION_MINOR);
    line(out, "libev", run, built);

    unsigned long hp = http_parser_version(); /* major << 16 | minor << 8 | patch */
    snprintf(run, sizeof(run), "%lu.%lu.%lu", (hp >> 16) & 255, (hp >> 8) & 255, hp & 255);
    snprintf(built, sizeof(built), "%d.%d.%d", HTTP_PARSER_VERSION_MAJOR, HTTP_PARSER_VERSION_MINOR,
             HTTP_PARSER_VERSION_PATCH);
    line(out, "http-parser", run, built);

    line(out, "c-ares", ares_version(NULL), ARES_VERSION_STR);

#ifdef XCRYPT_VERSION_STR /* libxcrypt; the old glibc libcrypt has no such macro */
    fprintf(out, "libxcrypt %s (as built: it has no run-time version call)\n", XCRYPT_VERSION_STR);
#else
    fprintf(out, "libcrypt (not libxcrypt: no version macro)\n");
#endif

    fprintf(out, "built by %s\n", COMPILER);

    line(out, "glibc", gnu_get_libc_version(), STR(__GLIBC__) "." STR(__GLIBC_MINOR__));
}
