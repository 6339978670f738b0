/* fill.c — broadcast fills and adds of a strided matrix, used to preload
 * biases (and residuals) into a GEMM output before a beta = 1 product. */
#include "core/ops_internal.h"

typedef struct fill_job {
  float *y;
  int64_t cols, ld;
  const float *b;
  const float *x; /* dif__add_channel_bias: the input, rows of cols floats */
  int64_t C;      /* dif__add_channel_bias: channels (row r has bias b[r % C]) */
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

static void add_rows_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const fill_job *j = arg;
  for (int64_t r = begin; r < end; r++) {
    float *restrict y = j->y + r * j->ld;
    const float v = j->b[r];
    for (int64_t c = 0; c < j->cols; c++) y[c] += v;
  }
}

static void add_cols_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const fill_job *j = arg;
  const float *restrict b = j->b;
  for (int64_t r = begin; r < end; r++) {
    float *restrict y = j->y + r * j->ld;
    for (int64_t c = 0; c < j->cols; c++) y[c] += b[c];
  }
}

/* x and y may be the same array: no restrict. */
static void channel_bias_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const fill_job *j = arg;
  for (int64_t r = begin; r < end; r++) {
    const float *x = j->x + r * j->cols;
    float *y = j->y + r * j->cols;
    const float v = j->b[r % j->C];
    for (int64_t c = 0; c < j->cols; c++) y[c] = x[c] + v;
  }
}

/* Rows per task so that a chunk is at least ~16k floats. */
static int64_t row_grain(int64_t cols) { return cols >= 16384 ? 1 : 16384 / (cols > 0 ? cols : 1); }

/* One of the four row/column fills and adds over the pool. */
static void run_fill(dif__pool *pool, dif__task_fn task, float *y, int64_t rows, int64_t cols,
                     int64_t ld, const float *b) {
  fill_job j = {y, cols, ld, b, NULL, 0};
  const double t0 = DIF__PROF_START();
  dif__pool_for(pool, rows, row_grain(cols), task, &j);
  DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
}

void dif__fill_rows(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                    const float *b) {
  run_fill(pool, fill_rows_task, y, rows, cols, ld, b);
}

void dif__fill_cols(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                    const float *b) {
  run_fill(pool, fill_cols_task, y, rows, cols, ld, b);
}

void dif__add_rows(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                   const float *b) {
  run_fill(pool, add_rows_task, y, rows, cols, ld, b);
}

void dif__add_cols(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                   const float *b) {
  run_fill(pool, add_cols_task, y, rows, cols, ld, b);
}

void dif__add_channel_bias(const dif__kctx *k, const float *x, int64_t N, int64_t C, int64_t HW,
                           const float *b, float *y) {
  if (N <= 0 || C <= 0 || HW <= 0) return;
  fill_job j = {y, HW, HW, b, x, C};
  const double t0 = DIF__PROF_START();
  dif__pool_for(dif__kpool(k), N * C, row_grain(HW), channel_bias_task, &j);
  DIF__PROF_END(DIF__PROF_ELEMENTWISE, t0, 0);
}
