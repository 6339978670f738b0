/* softmax.c — numerically stable row softmax: max-subtracted, SIMD exp
 * (core/vmath.h), sum accumulated per block and then in double. */
#include <math.h>

#include "core/ops.h"
#include "core/ops_internal.h"
#include "core/vmath.h"

/* Blocks of DIF_VLANES summed in float lanes before each flush into the
 * double total: 32 terms ≤ 1 per lane keep the float error below 2e-6 while
 * the lanes stay SIMD. */
#define FLUSH_BLOCKS 32

void dif_softmax_row(float *x, int64_t n) {
  const float mx = dif_vmax(x, n);
  if (mx == -INFINITY) {
    /* Every entry masked out: a defined all-zero row instead of 0/0 = NaN
     * (attention then yields a zero output row). */
    for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
    return;
  }
  double sum = 0;
  int64_t i = 0;
  while (i + DIF_VLANES <= n) {
    float acc[DIF_VLANES] = {0};
    for (int b = 0; b < FLUSH_BLOCKS && i + DIF_VLANES <= n; b++, i += DIF_VLANES) {
      float t[DIF_VLANES];
      for (int l = 0; l < DIF_VLANES; l++) t[l] = x[i + l] - mx;
      dif_vexp_block(t, x + i);
      for (int l = 0; l < DIF_VLANES; l++) acc[l] += x[i + l];
    }
    for (int l = 0; l < DIF_VLANES; l++) sum += (double)acc[l];
  }
  if (i < n) {
    float t[DIF_VLANES] = {0};
    for (int64_t j = i; j < n; j++) t[j - i] = x[j] - mx;
    dif_vexp_block(t, t);
    for (int64_t j = i; j < n; j++) {
      x[j] = t[j - i];
      sum += (double)t[j - i];
    }
  }
  const float inv = (float)(1.0 / sum);
  i = 0;
  for (; i + DIF_VLANES <= n; i += DIF_VLANES)
    for (int l = 0; l < DIF_VLANES; l++) x[i + l] *= inv;
  for (; i < n; i++) x[i] *= inv;
}

typedef struct softmax_job {
  float *x;
  int64_t n;
} softmax_job;

static void softmax_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const softmax_job *j = arg;
  for (int64_t r = begin; r < end; r++) dif_softmax_row(j->x + r * j->n, j->n);
}

void dif_softmax_rows(const dif_kctx *k, float *x, int64_t rows, int64_t n) {
  if (rows <= 0 || n <= 0) return;
  softmax_job j = {x, n};
  dif_pool_for(dif_kpool(k), rows, n >= 2048 ? 1 : 2048 / n, softmax_task, &j);
}
