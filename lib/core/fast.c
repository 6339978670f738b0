/* fast.c — the fast path's state: a bf16 backend and the packed form of
 * every weight its linear products have used (see backend.h, "the fast
 * path").
 *
 * The table is open addressing on the weight's address, grown (doubled) at
 * half full, under one mutex. A lookup is a hash and a compare or two, next
 * to a product of at least m·n·k multiply-adds; the first use of a weight
 * packs it while holding the lock, so two samples starting together never
 * pack the same weight twice (the second waits for the first's result).
 * A weight is found by its data's address, dtype and shape. After packing
 * a weight that lies in a file mapping, its pages are dropped
 * (dif_weight_drop_pages): the packed copy replaces them in memory.
 * Packed weights live until dif_fast_free: the address a weight was found
 * at must not be reused for another weight while the dif_fast lives (a
 * context's weights never move; a program that loads and frees models with
 * one dif_fast must free it with them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"

typedef struct slot {
  const void *w; /* the weight's data; NULL: empty */
  dif_dtype dtype;
  int64_t n, k;
  dif_packed *p;
} slot;

struct dif_fast {
  const dif_backend *backend;
  pthread_mutex_t lock;
  slot *slots;
  size_t cap, used; /* cap a power of two */
  size_t bytes;
  size_t dropped; /* bytes of mapped source pages dropped after packing */
  int64_t fallbacks;
  char first_fallback[256];
};

dif_status dif_fast_new(const dif_backend *b, dif_fast **out, dif_error *err) {
  if (!out) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "fast path: out is NULL");
  *out = NULL;
  if (!b) return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "fast path: no backend");
  char why[256] = "";
  if (!b->supports(DIF_DTYPE_BF16, why, sizeof why))
    return dif_fail(err, DIF_ERR_UNSUPPORTED, "fast path: backend %s has no bf16 products here: %s",
                    b->name, why);
  dif_fast *f = calloc(1, sizeof *f);
  if (!f) return dif_fail_oom(err, "the fast path's state", sizeof *f);
  f->backend = b;
  pthread_mutex_init(&f->lock, NULL);
  *out = f;
  return DIF_OK;
}

void dif_fast_free(dif_fast *f) {
  if (!f) return;
  for (size_t i = 0; i < f->cap; i++)
    if (f->slots[i].w) dif_packed_free(f->slots[i].p);
  free(f->slots);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

const dif_backend *dif_fast_backend(const dif_fast *f) { return f ? f->backend : NULL; }

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x;
}

/* The slot of (w, dtype, n, k), or the empty slot where it would go. */
static slot *find(slot *slots, size_t cap, const void *w, dif_dtype dtype, int64_t n, int64_t k) {
  for (size_t i = hash_ptr(w) & (cap - 1);; i = (i + 1) & (cap - 1))
    if (!slots[i].w ||
        (slots[i].w == w && slots[i].dtype == dtype && slots[i].n == n && slots[i].k == k))
      return &slots[i];
}

static bool grow(dif_fast *f) {
  const size_t cap = f->cap ? 2 * f->cap : 256;
  slot *s = calloc(cap, sizeof *s);
  if (!s) return false;
  for (size_t i = 0; i < f->cap; i++)
    if (f->slots[i].w) {
      const slot *o = &f->slots[i];
      *find(s, cap, o->w, o->dtype, o->n, o->k) = *o;
    }
  free(f->slots);
  f->slots = s;
  f->cap = cap;
  return true;
}

dif_status dif_fast_weight(dif_fast *f, dif_weight w, int64_t n, int64_t k, int64_t m_hint,
                           const dif_packed **out, dif_error *err) {
  if (!f || !w.data || !out)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "fast weight: NULL argument");
  *out = NULL;
  dif_status st = DIF_OK;
  pthread_mutex_lock(&f->lock);
  if (2 * (f->used + 1) > f->cap && !grow(f)) {
    pthread_mutex_unlock(&f->lock);
    return dif_fail_oom(err, "the fast path's weight table", 2 * f->cap * sizeof(slot));
  }
  slot *s = find(f->slots, f->cap, w.data, w.dtype, n, k);
  if (!s->w) {
    dif_packed *p = NULL;
    st = dif_backend_pack(f->backend, DIF_DTYPE_BF16, w.dtype, w.data, n, k, m_hint, &p, err);
    if (!st) {
      *s = (slot){w.data, w.dtype, n, k, p};
      f->used++;
      f->bytes += p->bytes;
      /* The packed copy serves every later product; the mapped source
       * pages would only double the memory (they come back from the file
       * if an exact fallback reads them). */
      if (p->bytes) f->dropped += dif_weight_drop_pages(w);
    }
  }
  if (!st) *out = s->p;
  pthread_mutex_unlock(&f->lock);
  return st;
}

void dif_fast_note_fallback(dif_fast *f, const dif_error *err) {
  if (!f) return;
  pthread_mutex_lock(&f->lock);
  if (f->fallbacks++ == 0)
    snprintf(f->first_fallback, sizeof f->first_fallback, "%.200s", err ? err->msg : "?");
  pthread_mutex_unlock(&f->lock);
}

void dif_fast_get_stats(dif_fast *f, dif_fast_stats *out) {
  memset(out, 0, sizeof *out);
  if (!f) return;
  pthread_mutex_lock(&f->lock);
  out->weights = (int64_t)f->used;
  out->bytes = f->bytes;
  out->dropped = f->dropped;
  out->fallbacks = f->fallbacks;
  memcpy(out->first_fallback, f->first_fallback, sizeof out->first_fallback);
  pthread_mutex_unlock(&f->lock);
}
