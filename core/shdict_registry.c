/* shdict_registry.c - the process's shared dictionaries by name (see
 * shdict_registry.h). A short list under a mutex: it is searched when a
 * script takes a handle (luxy.shared), never per operation. */
#include "shdict_registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "luxy.h"
#include "shdict.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shdict **dicts;
static unsigned ndicts;

static struct shdict *find_locked(const char *name)
{
    for (unsigned i = 0; i < ndicts; i++)
        if (strcmp(shdict_name(dicts[i]), name) == 0)
            return dicts[i];
    return NULL;
}

void shdict_registry_open(const struct config *cfg)
{
    pthread_mutex_lock(&registry_lock);
    for (unsigned i = 0; i < cfg->nshared; i++) {
        const struct shared_config *s = &cfg->shared[i];
        struct shdict *d = find_locked(s->name);
        if (d) {
            struct shdict_stats st;
            shdict_stats(d, &st);
            if (st.size != s->size)
                log_warn("%s:%d: shared %s keeps its size of %zu bytes (a new size takes a restart)",
                         cfg->path, s->line, s->name, st.size);
            continue;
        }
        dicts = xrealloc(dicts, (ndicts + 1) * sizeof(*dicts));
        dicts[ndicts++] = shdict_new(s->name, (size_t)s->size);
    }
    pthread_mutex_unlock(&registry_lock);
}

struct shdict *shdict_registry_find(const char *name)
{
    pthread_mutex_lock(&registry_lock);
    struct shdict *d = find_locked(name);
    pthread_mutex_unlock(&registry_lock);
    return d;
}

void shdict_registry_free(void)
{
    pthread_mutex_lock(&registry_lock);
    for (unsigned i = 0; i < ndicts; i++)
        shdict_free(dicts[i]);
    free(dicts);
    dicts = NULL;
    ndicts = 0;
    pthread_mutex_unlock(&registry_lock);
}
