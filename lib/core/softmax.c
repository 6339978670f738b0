/* softmax.c — numerically stable row softmax (max-subtracted, double sum). */
#include <math.h>

#include "core/ops.h"
#include "core/ops_internal.h"

void dif_softmax_row(float *x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  if (mx == -INFINITY) {
    /* Every entry masked out: a defined all-zero row instead of 0/0 = NaN
     * (attention then yields a zero output row). */
    for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
    return;
  }
  /* The sum is kept in double: rows are up to ~10k keys long. */
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float e = expf(x[i] - mx);
    x[i] = e;
    sum += (double)e;
  }
  const float inv = (float)(1.0 / sum);
  for (int64_t i = 0; i < n; i++) x[i] *= inv;
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
