/* softmax.c — numerically stable row softmax: max-subtracted, SIMD exp
 * (core/vmath.h), sum accumulated per vector lane and then in double; the
 * row kernel is in kern_simd_impl.h. */
#include <math.h>

#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

void dif__softmax_row(float *x, int64_t n) { dif__k_softmax_row(x, n); }

typedef struct softmax_job {
  float *x;
  int64_t n;
} softmax_job;

static void softmax_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const softmax_job *j = arg;
  for (int64_t r = begin; r < end; r++) dif__softmax_row(j->x + r * j->n, j->n);
}

void dif__softmax_rows(const dif__kctx *k, float *x, int64_t rows, int64_t n) {
  if (rows <= 0 || n <= 0) return;
  softmax_job j = {x, n};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), rows, n >= 2048 ? 1 : 2048 / n, softmax_task, &j);
  DIF__PROF_END(DIF__PROF_ATTN_SOFTMAX, t0, 0);
}
