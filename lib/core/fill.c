/* fill.c — broadcast fills of a strided matrix, used to preload biases into
 * a GEMM output before a beta = 1 product. */
#include "core/ops_internal.h"

typedef struct fill_job {
  float *y;
  int64_t cols, ld;
  const float *b;
} fill_job;

static void fill_rows_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const fill_job *j = arg;
  for (int64_t r = begin; r < end; r++) {
    float *restrict y = j->y + r * j->ld;
    const float v = j->b[r];
    for (int64_t c = 0; c < j->cols; c++) y[c] = v;
  }
}

static void fill_cols_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const fill_job *j = arg;
  const float *restrict b = j->b;
  for (int64_t r = begin; r < end; r++) {
    float *restrict y = j->y + r * j->ld;
    for (int64_t c = 0; c < j->cols; c++) y[c] = b[c];
  }
}

/* Rows per task so that a chunk is at least ~16k floats. */
static int64_t row_grain(int64_t cols) { return cols >= 16384 ? 1 : 16384 / (cols > 0 ? cols : 1); }

void dif_fill_rows(dif_pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                   const float *b) {
  fill_job j = {y, cols, ld, b};
  dif_pool_for(pool, rows, row_grain(cols), fill_rows_task, &j);
}

void dif_fill_cols(dif_pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                   const float *b) {
  fill_job j = {y, cols, ld, b};
  dif_pool_for(pool, rows, row_grain(cols), fill_cols_task, &j);
}
