/* weight_map.h — a table from a weight (its data's address, dtype and
 * shape) to what a backend made of it: the fast path's packed bf16 weights
 * (fast.c) and the exact VAE's Winograd weights (wino.c).
 *
 * Open addressing on the address, grown (doubled) at half full. Not
 * synchronised: its owner holds its own lock around every call. A weight is
 * found by address, so an address must not be reused for another weight
 * while the map lives (fast.c says why that holds).
 */
#ifndef DIF__CORE_WEIGHT_MAP_H
#define DIF__CORE_WEIGHT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

typedef struct dif__wmap_key {
  const void *w; /* the weight's data; NULL marks an empty slot */
  dif__dtype dtype;
  int64_t a, b, c; /* its shape as the owner describes it */
} dif__wmap_key;

typedef struct dif__wmap_slot {
  dif__wmap_key key;
  void *value; /* the owner's; may be NULL in a used slot (e.g. "refused") */
} dif__wmap_slot;

typedef struct dif__wmap {
  dif__wmap_slot *slots;
  size_t cap, used; /* cap a power of two (or 0) */
  size_t first_cap; /* the size of the first table */
} dif__wmap;

/* The slot of key: its own if it is in the map, else an empty one where it
 * goes (key.w NULL), room made first; NULL when growing ran out of memory. */
dif__wmap_slot *dif__wmap_find(dif__wmap *m, dif__wmap_key key);
/* Puts key into the empty slot s that dif__wmap_find returned for it. */
void dif__wmap_claim(dif__wmap *m, dif__wmap_slot *s, dif__wmap_key key, void *value);
/* The sum of size_of(value) over the used slots whose value is not NULL. */
size_t dif__wmap_sum(const dif__wmap *m, size_t (*size_of)(const void *value));
/* Calls free_value on every used slot's value (may be NULL), then frees the
 * table; the map is empty again. */
void dif__wmap_clear(dif__wmap *m, void (*free_value)(void *value, void *arg), void *arg);

#endif
