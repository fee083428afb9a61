/* name_map.h: string -> int hash map (open addressing) for the importers,
 * which resolve thousands of tensor names. Keys are borrowed: they must
 * outlive the map (importers keep them in the graph's pool). */
#ifndef LEDGE_NAME_MAP_H
#define LEDGE_NAME_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lg_name_map {
  const char **keys;
  int *vals;
  size_t cap; /* a power of two, or 0 */
  size_t count;
} lg_name_map;

/* Sets key -> val (replacing an existing entry); false when out of memory. */
bool lg_name_map_put(lg_name_map *m, const char *key, int val);
/* The value for key, or -1 (also for a NULL key). */
int lg_name_map_get(const lg_name_map *m, const char *key);
void lg_name_map_free(lg_name_map *m);

#endif
