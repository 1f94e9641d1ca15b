/* sim_strings.h - a set of strings kept once each: an hour of trace
 * repeats the same paths, clients and User-Agents millions of times. */
#ifndef LUXY_SIM_STRINGS_H
#define LUXY_SIM_STRINGS_H

#include <stddef.h>

struct sim_strings;

struct sim_strings *sim_strings_new(void);
void sim_strings_free(struct sim_strings *s);
/* The kept copy of str (NULL stays NULL); NULL when out of memory. */
const char *sim_strings_intern(struct sim_strings *s, const char *str);
size_t sim_strings_count(const struct sim_strings *s);

#endif
