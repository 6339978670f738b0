/* strmap.h — a hash map from byte strings to int32 values.
 *
 * Open addressing with linear probing, XXH3-64 hashes, load factor at most
 * 1/2. Keys are arbitrary bytes (they may contain NUL) and are copied into
 * the map. Lookups do not modify the map, so concurrent dif_strmap_get calls
 * are safe; anything that inserts or clears needs exclusive access.
 */
#ifndef DIF_CORE_STRMAP_H
#define DIF_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct dif_strmap dif_strmap;

/* Creates an empty map sized for about `expected` keys (0 is fine). */
dif_status dif_strmap_new(size_t expected, dif_strmap **out, dif_error *err);
/* Frees the map; NULL is a no-op. */
void dif_strmap_free(dif_strmap *m);

/* Sets key -> value, replacing any previous value. If `existed` is not NULL
 * it receives 1 when the key was already present. */
dif_status dif_strmap_put(dif_strmap *m, const void *key, size_t len, int32_t value, int *existed,
                          dif_error *err);

/* Returns 1 and stores the value in *value (if not NULL) when key is present,
 * 0 otherwise. */
int dif_strmap_get(const dif_strmap *m, const void *key, size_t len, int32_t *value);

/* Number of keys. */
size_t dif_strmap_count(const dif_strmap *m);

/* Bytes of memory held for keys (copies and table), for cache limits. */
size_t dif_strmap_bytes(const dif_strmap *m);

/* Removes every key, keeping the allocated table. */
void dif_strmap_clear(dif_strmap *m);

#endif
