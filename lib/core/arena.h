/* arena.h — scratch memory for forward passes.
 *
 * A forward pass asks the arena for its temporaries instead of calling malloc
 * per op. Allocation is a pointer bump (64-byte aligned for SIMD); a pass
 * takes a mark at its start and releases to it at the end, so the same bytes
 * are reused every step. When a block is full a larger one is chained; after
 * dif__arena_reset() only the largest block is kept, so a steady-state loop
 * does no allocation at all and peak use is visible (dif__arena_peak).
 */
#ifndef DIF__CORE_ARENA_H
#define DIF__CORE_ARENA_H

#include <stddef.h>

#include "core/error.h"

typedef struct dif__arena_block dif__arena_block;

typedef struct dif__arena {
  dif__arena_block *head; /* current block; older ones follow ->prev */
  size_t used_total;      /* bytes handed out across blocks */
  size_t peak;            /* high-water mark of used_total */
  size_t min_block;       /* size of the first block */
} dif__arena;

typedef struct dif__arena_mark {
  dif__arena_block *block;
  size_t offset;
  size_t used_total;
} dif__arena_mark;

void dif__arena_init(dif__arena *a, size_t min_block);
void dif__arena_free(dif__arena *a);

/* Returns n bytes aligned to 64, or NULL with err set (out of memory). */
void *dif__arena_alloc(dif__arena *a, size_t n, dif__error *err);
/* Same for n floats, with an overflow check on n * sizeof(float). */
float *dif__arena_floats(dif__arena *a, size_t n, dif__error *err);

dif__arena_mark dif__arena_get_mark(const dif__arena *a);
/* Frees everything allocated after the mark (blocks chained since are kept
 * until reset). */
void dif__arena_release(dif__arena *a, dif__arena_mark m);
/* dif__arena_release, but the n bytes at p — above the mark, so released —
 * stay readable for a caller that moves them into what it allocates next
 * (which may overlap them: memmove): under AddressSanitizer the released
 * bytes are poisoned (arena.c), all but these until a release or reset
 * that rewinds the block they lie in. */
void dif__arena_release_keeping(dif__arena *a, dif__arena_mark m, const void *p, size_t n);
/* Releases everything and merges into one block as large as the peak. */
void dif__arena_reset(dif__arena *a);
size_t dif__arena_peak(const dif__arena *a);
/* Forgets the high-water mark: the peak counts from the bytes in use now
 * (a reused arena's next user measures its own). */
void dif__arena_restart_peak(dif__arena *a);
/* Bytes held in blocks (in use or not): what the arena costs in memory. */
size_t dif__arena_capacity(const dif__arena *a);
/* The least dead tail whose pages an arena gives back (arena.c,
 * block_drop_tail): 1 MiB. Tests set it to a page so that a whole
 * pipeline run on tiny models gives pages back too; set it before any
 * arena is in use, not while one is. */
extern size_t dif__arena_drop_min;

#endif
