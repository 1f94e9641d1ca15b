/* shdict_registry.h - the process's shared dictionaries, by name.
 * A dictionary belongs to the process, not to a configuration: it is made
 * the first time a configuration declares it (in the main thread, before
 * the workers start), a later configuration declaring the same name gets
 * the same dictionary with its contents, and all of them are freed at
 * exit, after the workers stopped. So a pointer to one stays valid for as
 * long as any worker runs. */
#ifndef LUXY_SHDICT_REGISTRY_H
#define LUXY_SHDICT_REGISTRY_H

struct config;
struct shdict;

/* Makes every dictionary cfg declares that does not exist yet. One that
 * exists keeps its size (logged when cfg asks for another). */
void shdict_registry_open(const struct config *cfg);
/* The dictionary named name, or NULL (any thread). */
struct shdict *shdict_registry_find(const char *name);
/* Frees every dictionary: only once no worker runs. */
void shdict_registry_free(void);

#endif
