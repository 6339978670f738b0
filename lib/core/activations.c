/* activations.c — element-wise GELU (erf and tanh forms), QuickGELU, SiLU and
 * diffusers' GEGLU, all on the pool.
 *
 * The element loops are kern_simd.h's (explicit SIMD vectors with the
 * exponential from core/vmath.h, an AVX2 build picked at run time); glibc's
 * scalar erff and expf made these kernels ~5× slower. This file splits the
 * work over the pool.
 */
#include <math.h>
#include <string.h>

#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

/* Elements per pool chunk: large enough that dispatch cost is negligible. */
#define ACT_GRAIN 16384

typedef struct act_job {
  const float *x;
  float *y;
  dif__act_kind kind;
} act_job;

static void act_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const act_job *j = arg;
  dif__k_act_span(j->kind, j->x + begin, j->y + begin, end - begin);
}

static void run(const dif__kctx *k, const float *x, int64_t n, float *y, dif__act_kind kind) {
  act_job j = {x, y, kind};
  /* Lanes are computed identically wherever a chunk starts, so results do
   * not depend on the split. */
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), n, ACT_GRAIN, act_task, &j);
  DIF__PROF_END(DIF__PROF_ACTIVATION, t0, 0);
}

void dif__gelu(const dif__kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, DIF__ACT_GELU);
}
void dif__gelu_tanh(const dif__kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, DIF__ACT_GELU_TANH);
}
void dif__quick_gelu(const dif__kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, DIF__ACT_QUICK_GELU);
}
void dif__silu(const dif__kctx *k, const float *x, int64_t n, float *y) {
  run(k, x, n, y, DIF__ACT_SILU);
}

typedef struct geglu_job {
  const float *x;
  float *y;
  int64_t d;
} geglu_job;

static void geglu_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const geglu_job *j = arg;
  const int64_t d = j->d;
  for (int64_t r = begin; r < end; r++) {
    const float *a = j->x + r * 2 * d, *g = a + d;
    float *y = j->y + r * d;
    dif__k_geglu_span(a, g, y, d); /* y and x never overlap (ops.h) */
  }
}

void dif__geglu(const dif__kctx *k, const float *x, int64_t rows, int64_t d, float *y) {
  if (rows <= 0 || d <= 0) return;
  geglu_job j = {x, y, d};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), rows, d >= ACT_GRAIN ? 1 : ACT_GRAIN / d, geglu_task, &j);
  DIF__PROF_END(DIF__PROF_ACTIVATION, t0, 0);
}
