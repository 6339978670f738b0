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
 * (dif__weight_drop_pages): the packed copy replaces them in memory.
 * Packed weights live until dif__fast_free: the address a weight was found
 * at must not be reused for another weight while the dif__fast lives (a
 * context's weights never move; a program that loads and frees models with
 * one dif__fast must free it with them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"

typedef struct slot {
  const void *w; /* the weight's data; NULL: empty */
  dif__dtype dtype;
  int64_t n, k;
  int64_t taps; /* 0: W[n, k] as it lies; else a convolution's, k = cin·taps, packed with its
                 * columns in (tap, channel) order (dif__fast_conv_weight) */
  dif__packed *p;
} slot;

struct dif__fast {
  const dif__backend *backend;
  pthread_mutex_t lock;
  slot *slots;
  size_t cap, used; /* cap a power of two */
  size_t bytes;
  size_t dropped; /* bytes of mapped source pages dropped after packing */
  int64_t fallbacks;
  char first_fallback[256];
};

dif_status dif__fast_new(const dif__backend *b, dif__fast **out, dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "fast path: out is NULL");
  *out = NULL;
  if (!b) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "fast path: no backend");
  char why[256] = "";
  if (!b->supports(DIF__DTYPE_BF16, why, sizeof why))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "fast path: backend %s has no bf16 products here: %s", b->name, why);
  dif__fast *f = calloc(1, sizeof *f);
  if (!f) return dif__fail_oom(err, "the fast path's state", sizeof *f);
  f->backend = b;
  pthread_mutex_init(&f->lock, NULL);
  *out = f;
  return DIF_OK;
}

void dif__fast_free(dif__fast *f) {
  if (!f) return;
  for (size_t i = 0; i < f->cap; i++)
    if (f->slots[i].w) dif__packed_free(f->slots[i].p);
  free(f->slots);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

const dif__backend *dif__fast_backend(const dif__fast *f) { return f ? f->backend : NULL; }

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x;
}

/* The slot of (w, dtype, n, k, taps), or the empty slot where it would go. */
static slot *find(slot *slots, size_t cap, const void *w, dif__dtype dtype, int64_t n, int64_t k,
                  int64_t taps) {
  for (size_t i = hash_ptr(w) & (cap - 1);; i = (i + 1) & (cap - 1))
    if (!slots[i].w || (slots[i].w == w && slots[i].dtype == dtype && slots[i].n == n &&
                        slots[i].k == k && slots[i].taps == taps))
      return &slots[i];
}

static bool grow(dif__fast *f) {
  const size_t cap = f->cap ? 2 * f->cap : 256;
  slot *s = calloc(cap, sizeof *s);
  if (!s) return false;
  for (size_t i = 0; i < f->cap; i++)
    if (f->slots[i].w) {
      const slot *o = &f->slots[i];
      *find(s, cap, o->w, o->dtype, o->n, o->k, o->taps) = *o;
    }
  free(f->slots);
  f->slots = s;
  f->cap = cap;
  return true;
}

/* W[n, cin·taps] with its columns reordered from (channel, tap) to (tap,
 * channel), in its own dtype, into a new buffer (NULL when out of memory). */
static void *taps_first(dif__weight w, int64_t n, int64_t k, int64_t taps) {
  const size_t es = dif__dtype_size(w.dtype);
  const int64_t cin = k / taps;
  char *out = malloc((size_t)n * (size_t)k * es);
  if (!out) return NULL;
  const char *src = w.data;
  for (int64_t o = 0; o < n; o++)
    for (int64_t c = 0; c < cin; c++)
      for (int64_t t = 0; t < taps; t++)
        memcpy(out + ((size_t)(o * k + t * cin + c)) * es,
               src + ((size_t)(o * k + c * taps + t)) * es, es);
  return out;
}

/* Packs (under f->lock) what slot s stands for. */
static dif_status pack_slot(dif__fast *f, slot *s, dif__weight w, int64_t n, int64_t k,
                            int64_t taps, int64_t m_hint, dif__error *err) {
  dif__packed *p = NULL;
  void *perm = taps ? taps_first(w, n, k, taps) : NULL;
  if (taps && !perm) return dif__fail_oom(err, "a convolution weight reordered for packing", 0);
  dif_status st = dif__backend_pack(f->backend, DIF__DTYPE_BF16, w.dtype, perm ? perm : w.data, n,
                                    k, m_hint, &p, err);
  if (!st && perm && !p->bytes) { /* a backend using its source in place cannot take a copy */
    dif__packed_free(p);
    st = dif__fail(err, DIF_ERR_UNSUPPORTED, "fast path: the %s backend packs nothing",
                   f->backend->name);
  }
  free(perm);
  if (st) return st;
  *s = (slot){w.data, w.dtype, n, k, taps, p};
  f->used++;
  f->bytes += p->bytes;
  /* The packed copy serves every later product; the mapped source pages
   * would only double the memory (they come back from the file if an exact
   * fallback reads them). */
  if (p->bytes) f->dropped += dif__weight_drop_pages(w);
  return DIF_OK;
}

static dif_status get(dif__fast *f, dif__weight w, int64_t n, int64_t k, int64_t taps,
                      int64_t m_hint, const dif__packed **out, dif__error *err) {
  if (!f || !w.data || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "fast weight: NULL argument");
  *out = NULL;
  dif_status st = DIF_OK;
  pthread_mutex_lock(&f->lock);
  if (2 * (f->used + 1) > f->cap && !grow(f)) {
    pthread_mutex_unlock(&f->lock);
    return dif__fail_oom(err, "the fast path's weight table", 2 * f->cap * sizeof(slot));
  }
  slot *s = find(f->slots, f->cap, w.data, w.dtype, n, k, taps);
  if (!s->w) st = pack_slot(f, s, w, n, k, taps, m_hint, err);
  if (!st) *out = s->p;
  pthread_mutex_unlock(&f->lock);
  return st;
}

dif_status dif__fast_weight(dif__fast *f, dif__weight w, int64_t n, int64_t k, int64_t m_hint,
                            const dif__packed **out, dif__error *err) {
  return get(f, w, n, k, 0, m_hint, out, err);
}

dif_status dif__fast_conv_weight(dif__fast *f, dif__weight w, int64_t cout, int64_t cin,
                                 int64_t taps, int64_t m_hint, const dif__packed **out,
                                 dif__error *err) {
  return get(f, w, cout, cin * taps, taps > 1 ? taps : 0, m_hint, out, err);
}

void dif__fast_note_fallback(dif__fast *f, const dif__error *err) {
  if (!f) return;
  pthread_mutex_lock(&f->lock);
  if (f->fallbacks++ == 0)
    snprintf(f->first_fallback, sizeof f->first_fallback, "%.200s", err ? err->msg : "?");
  pthread_mutex_unlock(&f->lock);
}

void dif__fast_get_stats(dif__fast *f, dif__fast_stats *out) {
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
