/* wino.c — the exact path's Winograd state: a backend with float32 Winograd
 * convolutions and the transformed form of every 3×3 weight the VAE's
 * convolutions have used (see backend.h, "the exact path's Winograd
 * convolutions").
 *
 * The table is core/weight_map.h's, as core/fast.c's, under one mutex; a
 * weight the backend refused
 * keeps a slot without a packed form, so it is asked once. Transformed
 * weights live until dif__wino_release (between runs: the next use makes
 * them again) or dif__wino_free: the address a weight was found at must
 * not be reused for another weight while the dif__wino lives (a context's
 * weights never move). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/blas.h"
#include "core/weight_map.h"

struct dif__wino {
  const dif__backend *backend;
  pthread_mutex_t lock;
  dif__wmap map; /* key (w, dtype, cout, cin, 0) → its dif__conv, NULL: refused */
  size_t bytes;
  int64_t refused;
};

const dif__backend *dif__backend_wino_named(const char *name, char *why, size_t size) {
  char tmp[256] = "";
  if (why && size) why[0] = '\0';
  const dif__backend *b = name ? dif__backend_find(name) : NULL;
  if (!b || !b->conv3x3_f32_pack) {
    if (why && size)
      snprintf(why, size, "%s: %s", name ? name : "(none)",
               b ? "has no float32 Winograd convolutions" : "no such backend in this build");
    return NULL;
  }
  if (!strcmp(b->name, "onednn") && dif__cpu_isa() < DIF__ISA_AVX512) {
    if (why && size) {
      char cpu[160];
      dif__cpu_describe(cpu, sizeof cpu);
      snprintf(why, size, "onednn: its float32 Winograd convolutions need AVX-512 (this CPU: %s)",
               cpu);
    }
    return NULL;
  }
  /* its float32 products run here: the library loads (oneDNN: dlopen) */
  if (b->supports(DIF__DTYPE_F32, tmp, sizeof tmp)) return b;
  if (why && size) snprintf(why, size, "%s: %s", b->name, tmp);
  return NULL;
}

const dif__backend *dif__backend_wino(char *why, size_t size) {
  const char *force = getenv("DIF_WINO_BACKEND");
  if (force && *force) return dif__backend_wino_named(force, why, size);
  const dif__backend *b = NULL;
  if (dif__cpu_isa() >= DIF__ISA_AVX512) b = dif__backend_wino_named("onednn", why, size);
  return b ? b : dif__backend_wino_named("openblas", why, size);
}

bool dif__wino_for_fast(const dif__backend *b) { return b && !(b->bf16_tiles && b->bf16_tiles()); }

dif_status dif__wino_new(const dif__backend *b, dif__wino **out, dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "winograd: out is NULL");
  *out = NULL;
  if (!b || !b->conv3x3_f32_pack)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "winograd: backend %s has no such convolutions",
                     b ? b->name : "(none)");
  dif__wino *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "the Winograd convolutions' state", sizeof *c);
  c->backend = b;
  pthread_mutex_init(&c->lock, NULL);
  *out = c;
  return DIF_OK;
}

const dif__backend *dif__wino_backend(const dif__wino *c) { return c->backend; }

static void free_conv(void *p, void *backend) {
  if (p) ((const dif__backend *)backend)->conv_free(p);
}

static size_t conv_bytes(const void *c) { return ((const dif__conv *)c)->bytes; }

size_t dif__wino_release(dif__wino *c) {
  if (!c) return 0;
  pthread_mutex_lock(&c->lock);
  const size_t bytes = dif__wmap_sum(&c->map, conv_bytes); /* now (c->bytes: as made) */
  dif__wmap_clear(&c->map, free_conv, (void *)c->backend);
  c->bytes = 0;
  c->refused = 0; /* asked again at the next use, and counted again */
  pthread_mutex_unlock(&c->lock);
  return bytes;
}

void dif__wino_free(dif__wino *c) {
  if (!c) return;
  dif__wino_release(c);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

dif_status dif__wino_weight(dif__wino *c, const dif__kctx *kx, dif__weight w, int64_t cout,
                            int64_t cin, int64_t H, int64_t W, const dif__conv **out,
                            dif__error *err) {
  if (!c || !w.data || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "winograd weight: NULL argument");
  *out = NULL;
  dif_status st = DIF_OK;
  const dif__wmap_key key = {w.data, w.dtype, cout, cin, 0};
  pthread_mutex_lock(&c->lock);
  dif__wmap_slot *s = dif__wmap_find(&c->map, key);
  if (!s) {
    pthread_mutex_unlock(&c->lock);
    return dif__fail_oom(err, "the Winograd weight table", 2 * c->map.cap * sizeof(dif__wmap_slot));
  }
  if (!s->key.w) {
    dif__conv *p = NULL;
    st = c->backend->conv3x3_f32_pack(kx, w, cout, cin, H, W, &p, err);
    if (!st || st == DIF_ERR_UNSUPPORTED) { /* out of memory may pass: ask again next time */
      dif__wmap_claim(&c->map, s, key, p);
      c->bytes += p ? p->bytes : 0;
      c->refused += p ? 0 : 1;
      /* the transformed copy replaces a mapped weight's pages in memory, as
       * fast.c's packed ones do (they come back from the file if ever read) */
      if (p) dif__weight_drop_pages(w);
    }
  } else if (!s->value) {
    st = dif__fail(err, DIF_ERR_UNSUPPORTED, "winograd: the %s backend refused this weight",
                   c->backend->name);
  }
  if (!st) *out = s->value;
  pthread_mutex_unlock(&c->lock);
  return st;
}

void dif__wino_get_stats(dif__wino *c, dif__wino_stats *out) {
  memset(out, 0, sizeof *out);
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  out->weights = (int64_t)c->map.used - c->refused;
  out->refused = c->refused;
  out->bytes = c->bytes;
  pthread_mutex_unlock(&c->lock);
}
