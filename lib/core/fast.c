/* fast.c — the fast path's state: a bf16 backend and the packed form of
 * every weight its linear products and convolutions have used (see
 * backend.h, "the fast path").
 *
 * Two tables (core/weight_map.h, shared with wino.c), linear weights and
 * convolutions' (whose packing depends on their geometry), each open
 * addressing on the weight's address, under one mutex. A lookup is a hash and a compare or two,
 * next to a product of at least m·n·k multiply-adds; the first use of a weight packs it while
 * holding the lock, so two samples starting together never pack the same weight twice (the second
 * waits for the first's result). A weight is found by its data's address, dtype and shape. After
 * packing a weight that lies in a file mapping, its pages are dropped (dif__weight_drop_pages): the
 * packed copy replaces them in memory. Packed weights live until dif__fast_release (between runs:
 * the next use packs again, from the file's pages) or dif__fast_free: the address a
 * weight was found at must not be reused for another weight while the dif__fast lives (a context's
 * weights never move; a program that loads and frees models with one dif__fast must free it with
 * them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/ops_internal.h"
#include "core/weight_map.h"

struct dif__fast {
  const dif__backend *backend;
  pthread_mutex_t lock;
  /* key (w, dtype, n, k, 0): W[n, k] as it lies; value: its dif__packed */
  dif__wmap map;
  /* key (w, dtype, cout, cin, geometry code): a convolution's weight
   * (dif__fast_conv_weight); value: its dif__conv, NULL if refused */
  dif__wmap convs;
  /* key (w, dtype, cout, cin, 0): a 3×3 weight in bf16 Winograd form
   * (dif__fast_wino_bf16_weight); value: its dif__wino_bf16, NULL if refused */
  dif__wmap winos;
  int64_t refused;
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
  f->map.first_cap = 256;
  f->convs.first_cap = 128;
  f->winos.first_cap = 64;
  pthread_mutex_init(&f->lock, NULL);
  *out = f;
  return DIF_OK;
}

static void free_packed(void *p, void *arg) {
  (void)arg;
  dif__packed_free(p);
}

static void free_conv(void *p, void *backend) {
  if (p) ((const dif__backend *)backend)->conv_free(p);
}

static void free_wino(void *p, void *arg) {
  (void)arg;
  dif__wino_bf16_free(p);
}

static size_t packed_bytes(const void *p) { return ((const dif__packed *)p)->bytes; }
static size_t conv_bytes(const void *c) { return ((const dif__conv *)c)->bytes; }
static size_t wino_bytes(const void *c) { return dif__wino_bf16_bytes(c); }

size_t dif__fast_release(dif__fast *f) {
  if (!f) return 0;
  pthread_mutex_lock(&f->lock);
  /* what the objects hold now (a convolution's grows by a layout when a
   * later image size needs one; f->bytes counts them as packed) */
  const size_t bytes = dif__wmap_sum(&f->map, packed_bytes) + dif__wmap_sum(&f->convs, conv_bytes) +
                       dif__wmap_sum(&f->winos, wino_bytes);
  dif__wmap_clear(&f->map, free_packed, NULL);
  dif__wmap_clear(&f->convs, free_conv, (void *)f->backend);
  dif__wmap_clear(&f->winos, free_wino, NULL);
  f->bytes = 0;
  f->refused = 0; /* asked again at the next use, and counted again */
  pthread_mutex_unlock(&f->lock);
  return bytes;
}

void dif__fast_free(dif__fast *f) {
  if (!f) return;
  dif__fast_release(f);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

const dif__backend *dif__fast_backend(const dif__fast *f) { return f ? f->backend : NULL; }

/* Packs (under f->lock) what the empty slot s of key stands for. */
static dif_status pack_slot(dif__fast *f, const dif__kctx *kx, dif__wmap_slot *s, dif__wmap_key key,
                            dif__weight w, int64_t n, int64_t k, int64_t m_hint, dif__error *err) {
  dif__packed *p = NULL;
  dif_status st =
      dif__backend_pack(f->backend, kx, DIF__DTYPE_BF16, w.dtype, w.data, n, k, m_hint, &p, err);
  if (st) return st;
  dif__wmap_claim(&f->map, s, key, p);
  f->bytes += p->bytes;
  /* The packed copy serves every later product; the mapped source pages
   * would only double the memory (they come back from the file if an exact
   * fallback reads them). */
  if (p->bytes) f->dropped += dif__weight_drop_pages(w);
  return DIF_OK;
}

/* key's slot in map (its own, or the empty one where it goes) with f->lock
 * held; NULL (the lock released, err set) when the table cannot grow. */
static dif__wmap_slot *locked_slot(dif__fast *f, dif__wmap *map, dif__wmap_key key,
                                   const char *what, dif__error *err) {
  pthread_mutex_lock(&f->lock);
  dif__wmap_slot *s = dif__wmap_find(map, key);
  if (!s) {
    pthread_mutex_unlock(&f->lock);
    dif__fail_oom(err, what, 2 * map->cap * sizeof(dif__wmap_slot));
  }
  return s;
}

dif_status dif__fast_weight(dif__fast *f, const dif__kctx *kx, dif__weight w, int64_t n, int64_t k,
                            int64_t m_hint, const dif__packed **out, dif__error *err) {
  if (!f || !w.data || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "fast weight: NULL argument");
  *out = NULL;
  dif_status st = DIF_OK;
  const dif__wmap_key key = {w.data, w.dtype, n, k, 0};
  dif__wmap_slot *s = locked_slot(f, &f->map, key, "the fast path's weight table", err);
  if (!s) return DIF_ERR_OUT_OF_MEMORY;
  if (!s->key.w) st = pack_slot(f, kx, s, key, w, n, k, m_hint, err);
  if (!st) *out = s->value;
  pthread_mutex_unlock(&f->lock);
  return st;
}

/* The geometry beyond (cout, cin) as one key field: kh, kw, stride and the
 * two pads, 12 bits each (-1 when one does not fit: never packed). */
static int64_t geom_code(const dif__conv_geom *g) {
  const int64_t v[5] = {g->kh, g->kw, g->stride, g->pad_left, g->pad_right};
  int64_t code = 0;
  for (int i = 0; i < 5; i++) {
    if (v[i] < 0 || v[i] >= 4096) return -1;
    code = code << 12 | v[i];
  }
  return code;
}

/* After a convolution weight's packing into the new slot s (f->lock held):
 * st OK records p (bytes of it), DIF_ERR_UNSUPPORTED records a refusal (p
 * NULL) so that it is not asked again; anything else (out of memory) leaves
 * the slot empty, to try again next time. Returns st. */
static dif_status claim_packed(dif__fast *f, dif__wmap *map, dif__wmap_slot *s, dif__wmap_key key,
                               dif__weight w, dif_status st, void *p, size_t bytes) {
  if (st && st != DIF_ERR_UNSUPPORTED) return st;
  dif__wmap_claim(map, s, key, p);
  f->refused += p ? 0 : 1;
  f->bytes += p ? bytes : 0;
  if (p) f->dropped += dif__weight_drop_pages(w); /* as a linear weight's, above */
  return st;
}

dif_status dif__fast_conv_weight(dif__fast *f, const dif__kctx *kx, dif__weight w,
                                 const dif__conv_geom *g, const dif__conv **out, dif__error *err) {
  if (!f || !w.data || !g || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "fast convolution weight: NULL argument");
  *out = NULL;
  const int64_t code = geom_code(g);
  if (!f->backend->conv_bf16_pack || code < 0)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "fast path: the %s backend has no bf16 convolution for a %lld x %lld kernel, "
                     "stride %lld",
                     f->backend->name, (long long)g->kh, (long long)g->kw, (long long)g->stride);
  dif_status st = DIF_OK;
  const dif__wmap_key key = {w.data, w.dtype, g->cout, g->cin, code};
  dif__wmap_slot *s = locked_slot(f, &f->convs, key, "the fast path's convolution table", err);
  if (!s) return DIF_ERR_OUT_OF_MEMORY;
  if (!s->key.w) {
    dif__conv *p = NULL;
    st = f->backend->conv_bf16_pack(kx, w, g, &p, err);
    st = claim_packed(f, &f->convs, s, key, w, st, p, p ? p->bytes : 0);
  } else if (!s->value) {
    st = dif__fail(err, DIF_ERR_UNSUPPORTED,
                   "fast path: the %s backend refused this convolution's weight", f->backend->name);
  }
  if (!st) *out = s->value;
  pthread_mutex_unlock(&f->lock);
  return st;
}

dif_status dif__fast_wino_bf16_weight(dif__fast *f, const dif__kctx *kx, dif__weight w,
                                      int64_t cout, int64_t cin, const dif__wino_bf16 **out,
                                      dif__error *err) {
  if (!f || !w.data || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "fast Winograd weight: NULL argument");
  *out = NULL;
  dif_status st = DIF_OK;
  const dif__wmap_key key = {w.data, w.dtype, cout, cin, 0};
  dif__wmap_slot *s = locked_slot(f, &f->winos, key, "the fast path's Winograd table", err);
  if (!s) return DIF_ERR_OUT_OF_MEMORY;
  if (!s->key.w) {
    dif__wino_bf16 *p = NULL;
    st = dif__wino_bf16_make(kx, f->backend, w, cout, cin, &p, err);
    st = claim_packed(f, &f->winos, s, key, w, st, p, dif__wino_bf16_bytes(p));
  } else if (!s->value) {
    st = dif__fail(err, DIF_ERR_UNSUPPORTED,
                   "fast path: the %s backend has no bf16 Winograd convolution", f->backend->name);
  }
  if (!st) *out = s->value;
  pthread_mutex_unlock(&f->lock);
  return st;
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
  out->weights = (int64_t)(f->map.used + f->convs.used + f->winos.used) - f->refused;
  out->refused = f->refused;
  out->bytes = f->bytes;
  out->dropped = f->dropped;
  out->fallbacks = f->fallbacks;
  memcpy(out->first_fallback, f->first_fallback, sizeof out->first_fallback);
  pthread_mutex_unlock(&f->lock);
}
