/* arena.h — scratch memory for forward passes.
 *
 * A forward pass asks the arena for its temporaries instead of calling malloc
 * per op. Allocation is a pointer bump (64-byte aligned for SIMD); a pass
 * takes a mark at its start and releases to it at the end, so the same bytes
 * are reused every step. When a block is full a larger one is chained; after
 * dif_arena_reset() only the largest block is kept, so a steady-state loop
 * does no allocation at all and peak use is visible (dif_arena_peak).
 */
#ifndef DIF_CORE_ARENA_H
#define DIF_CORE_ARENA_H

#include <stddef.h>

#include "core/error.h"

typedef struct dif_arena_block dif_arena_block;

typedef struct dif_arena {
  dif_arena_block *head; /* current block; older ones follow ->prev */
  size_t used_total;     /* bytes handed out across blocks */
  size_t peak;           /* high-water mark of used_total */
  size_t min_block;      /* size of the first block */
} dif_arena;

typedef struct dif_arena_mark {
  dif_arena_block *block;
  size_t offset;
  size_t used_total;
} dif_arena_mark;

void dif_arena_init(dif_arena *a, size_t min_block);
void dif_arena_free(dif_arena *a);

/* Returns n bytes aligned to 64, or NULL with err set (out of memory). */
void *dif_arena_alloc(dif_arena *a, size_t n, dif_error *err);
/* Same for n floats, with an overflow check on n * sizeof(float). */
float *dif_arena_floats(dif_arena *a, size_t n, dif_error *err);

dif_arena_mark dif_arena_get_mark(const dif_arena *a);
/* Frees everything allocated after the mark (blocks chained since are kept
 * until reset). */
void dif_arena_release(dif_arena *a, dif_arena_mark m);
/* Releases everything and merges into one block as large as the peak. */
void dif_arena_reset(dif_arena *a);
size_t dif_arena_peak(const dif_arena *a);

#endif
