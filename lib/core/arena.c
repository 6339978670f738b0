#include "core/arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA_ALIGN 64

/* Under AddressSanitizer the bytes not handed out — a new block, what a
 * release or reset takes back — are poisoned, so a pointer kept past its
 * release (into the next op's scratch, or, since a context keeps its arenas,
 * the next run's) is reported as it is used, not read as someone else's
 * data. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct dif__arena_block {
  dif__arena_block *prev;
  size_t size;    /* usable bytes in data */
  size_t offset;  /* next free byte */
  size_t dirty;   /* end of the bytes dif__arena_release_keeping left readable
                     above offset, or 0: the next release or reset poisons them */
  size_t touched; /* end of the bytes handed out since the block was made or
                     its pages last given back (block_drop_tail) */
  unsigned char *data;
};

static dif__arena_block *block_new(size_t size) {
  dif__arena_block *b = malloc(sizeof *b);
  if (!b) return NULL;
  b->data = aligned_alloc(ARENA_ALIGN, size);
  if (!b->data) {
    free(b);
    return NULL;
  }
  b->prev = NULL;
  b->size = size;
  b->offset = 0;
  b->dirty = 0;
  b->touched = 0;
  POISON(b->data, size);
  return b;
}

static void block_free_chain(dif__arena_block *b) {
  while (b) {
    dif__arena_block *p = b->prev;
    UNPOISON(b->data, b->size);
    free(b->data);
    free(b);
    b = p;
  }
}

/* Only a block's head is allocated from: once a newer block is chained,
 * an older block's bytes past its offset are dead until dif__arena_reset
 * (which frees the chain), yet the pages they touched stay in the process.
 * In a run's first pass, where the arena grows block by block, that was
 * every earlier phase's scratch (a 768² unCLIP: the UNet's, 0.4 GiB, still
 * resident through the VAE decode's larger block, Zen 4,
 * docs/performance.md). So those pages go back to the OS (the block stays
 * allocated: marks into it stay valid; a page is zero if touched again).
 * Whole pages inside [from, touched) only, and only past
 * dif__arena_drop_min bytes: a syscall for less is not worth it. */
size_t dif__arena_drop_min = (size_t)1 << 20;

static void block_drop_tail(dif__arena_block *b, size_t from) {
  if (b->touched <= from || b->touched - from < dif__arena_drop_min) return;
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return;
  const uintptr_t pg = (uintptr_t)page_size, base = (uintptr_t)b->data;
  const uintptr_t lo = (base + from + pg - 1) / pg * pg;
  uintptr_t hi = (base + b->touched + pg - 1) / pg * pg;
  if (hi > (base + b->size) / pg * pg) hi = (base + b->size) / pg * pg; /* not past the block */
  if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) b->touched = from;
}

void dif__arena_init(dif__arena *a, size_t min_block) {
  a->head = NULL;
  a->used_total = 0;
  a->peak = 0;
  a->min_block =
      min_block < 4096 ? 4096 : (min_block + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void dif__arena_free(dif__arena *a) {
  block_free_chain(a->head);
  a->head = NULL;
  a->used_total = 0;
}

void *dif__arena_alloc(dif__arena *a, size_t n, dif__error *err) {
  if (n > SIZE_MAX - ARENA_ALIGN) {
    dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "arena: request of %zu bytes is too large", n);
    return NULL;
  }
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need == 0) need = ARENA_ALIGN;
  dif__arena_block *b = a->head;
  if (!b || b->size - b->offset < need) {
    size_t size = a->min_block;
    if (b && b->size <= SIZE_MAX / 2 && b->size * 2 > size) size = b->size * 2;
    if (size < need) size = need;
    dif__arena_block *nb = block_new(size);
    if (!nb) {
      dif__fail_oom(err, "scratch arena", size);
      return NULL;
    }
    /* no longer the head: its tail is dead, but for bytes a release kept
     * readable (dif__arena_release_keeping) for this very allocation */
    if (b) block_drop_tail(b, b->dirty > b->offset ? b->dirty : b->offset);
    nb->prev = b;
    a->head = b = nb;
  }
  void *p = b->data + b->offset;
  UNPOISON(p, need);
  b->offset += need;
  if (b->offset > b->touched) b->touched = b->offset;
  a->used_total += need;
  if (a->used_total > a->peak) a->peak = a->used_total;
  return p;
}

float *dif__arena_floats(dif__arena *a, size_t n, dif__error *err) {
  if (n > SIZE_MAX / sizeof(float)) {
    dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "arena: %zu floats overflow size_t", n);
    return NULL;
  }
  return dif__arena_alloc(a, n * sizeof(float), err);
}

/* The block's bytes from `offset` on are no longer handed out: poisoned up to
 * the end of what was handed out or kept readable. */
static void block_rewind(dif__arena_block *b, size_t offset) {
  const size_t end = b->offset > b->dirty ? b->offset : b->dirty;
  if (end > offset) POISON(b->data + offset, end - offset);
  b->offset = offset;
  b->dirty = 0;
}

dif__arena_mark dif__arena_get_mark(const dif__arena *a) {
  dif__arena_mark m = {a->head, a->head ? a->head->offset : 0, a->used_total};
  return m;
}

/* Blocks chained after the mark stay allocated but are emptied, and the
 * newest stays the head, so the next pass allocates without malloc. The
 * mark's own block is rewound; if it is not the head its tail is unused
 * until dif__arena_reset. With drop, the pages of what is dead until then
 * (every block but the head) go back to the OS (block_drop_tail). */
static void release(dif__arena *a, dif__arena_mark m, bool drop) {
  for (dif__arena_block *b = a->head; b && b != m.block; b = b->prev) {
    block_rewind(b, 0);
    if (drop && b != a->head) block_drop_tail(b, 0);
  }
  if (m.block) {
    block_rewind(m.block, m.offset);
    if (drop && m.block != a->head) block_drop_tail(m.block, m.offset);
  }
  a->used_total = m.used_total;
}

void dif__arena_release(dif__arena *a, dif__arena_mark m) { release(a, m, true); }

void dif__arena_release_keeping(dif__arena *a, dif__arena_mark m, const void *p, size_t n) {
  release(a, m, false); /* the kept bytes may lie in a dead tail: their pages stay */
  if (n == 0) return;
  UNPOISON(p, n);
  const unsigned char *q = p;
  for (dif__arena_block *b = a->head; b; b = b->prev)
    if (q >= b->data && q < b->data + b->size) {
      const size_t end = (size_t)(q - b->data) + n;
      if (end > b->dirty) b->dirty = end;
      break;
    }
}

void dif__arena_reset(dif__arena *a) {
  size_t want = a->peak;
  dif__arena_block *b = a->head;
  if (b && b->prev == NULL && b->size >= want) {
    block_rewind(b, 0);
    a->used_total = 0;
    return;
  }
  block_free_chain(a->head);
  a->head = NULL;
  a->used_total = 0;
  if (want > 0) {
    size_t size = want < a->min_block ? a->min_block : want;
    a->head = block_new(size); /* failure here is fine: the next alloc retries */
  }
}

size_t dif__arena_peak(const dif__arena *a) { return a->peak; }

void dif__arena_restart_peak(dif__arena *a) { a->peak = a->used_total; }

size_t dif__arena_capacity(const dif__arena *a) {
  size_t n = 0;
  for (const dif__arena_block *b = a->head; b; b = b->prev) n += b->size;
  return n;
}
