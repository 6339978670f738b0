/* ops_test_util.h — shared setup for the kernel tests (test-ops-*.c): a
 * kernel context with a pool of n threads and an arena, buffers, and the
 * accuracy check. */
#ifndef DIF__OPS_TEST_UTIL_H
#define DIF__OPS_TEST_UTIL_H

#include "core/ops.h"
#include "test.h"

/* Default accuracy criterion: float32 kernels against double references. */
#define NMSE_MAX 1e-10

typedef struct kenv {
  dif__pool *pool;
  dif__arena arena;
  dif__kctx k;
} kenv;

static inline void kenv_init(kenv *e, int threads) {
  dif__error err;
  dif__error_clear(&err);
  e->pool = NULL;
  if (threads > 0) CHECK(dif__pool_new(threads, &e->pool, &err) == DIF_OK);
  dif__arena_init(&e->arena, 1 << 16);
  e->k.pool = e->pool;
  e->k.arena = &e->arena;
  e->k.fast = NULL;             /* the exact path; a test sets a dif__fast itself */
  e->k.wino = NULL;             /* im2col + sgemm; test-conv-wino sets a dif__wino itself */
  e->k.wino_max_cc = 0;         /* (with a wino) every 3×3 convolution */
  e->k.wino_nets_max_cc = 0;    /* no Winograd for the denoising networks */
  e->k.channels_last = false;   /* the VAE decoder channels-first */
  e->k.wino_skip_small = false; /* (with a wino) at any size */
  e->k.wino_bf16_max_cc = 0;    /* (fast) no bf16 Winograd; test-conv-wino-bf16 sets it */
}

static inline void kenv_free(kenv *e) {
  dif__pool_free(e->pool);
  dif__arena_free(&e->arena);
}

static inline float *fbuf(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  if (!p) abort();
  return p;
}
static inline double *dbuf(size_t n) {
  double *p = calloc(n ? n : 1, sizeof *p);
  if (!p) abort();
  return p;
}
static inline float *frand(size_t n, uint64_t seed, float lo, float hi) {
  float *p = fbuf(n);
  dif__test_fill(p, n, seed, lo, hi);
  return p;
}

#define CHECK_NMSE(got, ref, n, bound)                                                             \
  do {                                                                                             \
    double e_ = dif__test_nmse((got), (ref), (n));                                                 \
    CHECK_MSG(e_ <= (bound), "nmse %.3g > %.3g", e_, (double)(bound));                             \
  } while (0)

#define CHECK_SAME(a, b, n) CHECK(memcmp((a), (b), (n) * sizeof(float)) == 0)

#endif
