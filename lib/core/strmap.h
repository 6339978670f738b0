/* strmap.h — a hash map from byte strings to int32 values.
 *
 * Open addressing with linear probing, XXH3-64 hashes, load factor at most
 * 1/2. Keys are arbitrary bytes (they may contain NUL) and are copied into
 * the map. Lookups do not modify the map, so concurrent dif__strmap_get calls
 * are safe; anything that inserts or clears needs exclusive access.
 */
#ifndef DIF__CORE_STRMAP_H
#define DIF__CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct dif__strmap dif__strmap;

/* Creates an empty map sized for about `expected` keys (0 is fine). */
dif_status dif__strmap_new(size_t expected, dif__strmap **out, dif__error *err);
/* Frees the map; NULL is a no-op. */
void dif__strmap_free(dif__strmap *m);

/* Sets key -> value, replacing any previous value. If `existed` is not NULL
 * it receives 1 when the key was already present. */
dif_status dif__strmap_put(dif__strmap *m, const void *key, size_t len, int32_t value, int *existed,
                           dif__error *err);

/* Returns 1 and stores the value in *value (if not NULL) when key is present,
 * 0 otherwise. */
int dif__strmap_get(const dif__strmap *m, const void *key, size_t len, int32_t *value);

/* Number of keys. */
size_t dif__strmap_count(const dif__strmap *m);

/* Bytes of memory held for keys (copies and table), for cache limits. */
size_t dif__strmap_bytes(const dif__strmap *m);

/* Removes every key, keeping the allocated table. */
void dif__strmap_clear(dif__strmap *m);

#endif
