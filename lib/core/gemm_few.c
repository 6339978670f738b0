/* gemm_few.c — dif__few_rows (gemm_few.h): the choice of build and the
 * split of the outputs over the pool. */
#include "core/gemm_few.h"

#include <pthread.h>

#include "core/kern_simd.h"

#if defined(DIF_HAVE_AVX2_KERNELS)
#include <cpuid.h>
#endif

static pthread_once_t f16c_once = PTHREAD_ONCE_INIT;
static bool f16c;

static void f16c_read(void) {
#if defined(DIF_HAVE_AVX2_KERNELS)
  unsigned a, b, c, d;
  f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
#endif
}

bool dif__few_rows_runs(void) {
#if defined(DIF_HAVE_AVX2_KERNELS)
  pthread_once(&f16c_once, f16c_read);
  return f16c && dif__simd_level() > 0;
#else
  return false;
#endif
}

bool dif__few_rows_taken(int64_t m, dif__weight W) {
  /* the dtypes gemm_few_loads.h knows; another goes the general way */
  const bool known =
      W.dtype == DIF__DTYPE_F32 || W.dtype == DIF__DTYPE_F16 || W.dtype == DIF__DTYPE_BF16;
  return known && m >= 1 && m <= DIF__FEW_ROWS_MAX && dif__few_rows_runs();
}

/* Outputs go to the pool in blocks of this many weight rows, and a task
 * takes at least ~64K weight elements times max(rows, 8) / 8 of multiply-
 * adds (a small layer runs on one thread: waking another costs more than
 * it saves; up to 8 rows the weight's reading is the cost, beyond it the
 * arithmetic, so a layer of 128 rows splits 16× finer than one of 8). */
#define BLOCK_ROWS 16

typedef struct few_job {
  const float *x;
  int64_t m, ldx, in, out;
  dif__weight W;
  float beta, *y;
  int64_t ys_i, ys_j;
} few_job;

static void few_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const few_job *j = arg;
  const int64_t j0 = begin * BLOCK_ROWS, j1 = end * BLOCK_ROWS < j->out ? end * BLOCK_ROWS : j->out;
#if defined(DIF_HAVE_AVX2_KERNELS)
  if (j->m > DIF__FEW_ROWS_DOT_MAX)
    dif__few_rows_panel_avx2(j->x, j->m, j->ldx, j->in, j->W, j0, j1, j->beta, j->y, j->ys_i,
                             j->ys_j);
  else
    dif__few_rows_block_avx2(j->x, j->m, j->ldx, j->in, j->W, j0, j1, j->beta, j->y, j->ys_i,
                             j->ys_j);
#else
  (void)j0, (void)j1;
#endif
}

void dif__few_rows(dif__pool *pool, const float *x, int64_t m, int64_t ldx, int64_t in,
                   dif__weight W, int64_t out, float beta, float *y, int64_t ys_i, int64_t ys_j) {
  if (m <= 0 || out <= 0) return;
  few_job j = {x, m, ldx, in, out, W, beta, y, ys_i, ys_j};
  const int64_t blocks = (out + BLOCK_ROWS - 1) / BLOCK_ROWS;
  const int64_t per_block = BLOCK_ROWS * (in > 0 ? in : 1) * (m > 8 ? m : 8) / 8;
  int64_t grain = ((int64_t)1 << 16) / per_block;
  if (grain < 1) grain = 1;
  dif__pool_for(pool, blocks, grain, few_task, &j);
}
