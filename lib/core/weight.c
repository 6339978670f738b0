/* weight.c — widening tiles of typed weights, dropping mapped pages (see
 * weight.h). */
#include "core/weight.h"

#include <sys/mman.h>
#include <unistd.h>

typedef struct tile_job {
  dif_weight w;
  int64_t ld, row0, col0, cols;
  float *dst;
} tile_job;

static void tile_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const tile_job *j = arg;
  const size_t esz = dif_dtype_size(j->w.dtype);
  for (int64_t r = begin; r < end; r++) {
    const char *src = (const char *)j->w.data + (size_t)((j->row0 + r) * j->ld + j->col0) * esz;
    dif_dtype_to_f32(j->w.dtype, src, (size_t)j->cols, j->dst + r * j->cols);
  }
}

void dif_weight_tile_f32(dif_pool *pool, dif_weight w, int64_t ld, int64_t row0, int64_t rows,
                         int64_t col0, int64_t cols, float *dst) {
  if (rows <= 0 || cols <= 0) return;
  tile_job j = {w, ld, row0, col0, cols, dst};
  /* about 16k elements per chunk: enough to amortise a task, small enough
   * to spread a 320-row weight over the threads */
  dif_pool_for(pool, rows, cols >= 16384 ? 1 : 16384 / cols, tile_task, &j);
}

size_t dif_weight_drop_pages(dif_weight w) {
  if (!w.mapped || !w.data || w.numel <= 0) return 0;
  const long ps = sysconf(_SC_PAGESIZE);
  if (ps <= 0) return 0;
  const uintptr_t page = (uintptr_t)ps, begin = (uintptr_t)w.data,
                  end = begin + dif_weight_bytes(w);
  const uintptr_t lo = (begin + page - 1) / page * page, hi = end / page * page;
  if (hi <= lo) return 0;
  /* A read-only private file mapping never written: the pages come back
   * from the file (the page cache) on the next access. */
  return madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0 ? (size_t)(hi - lo) : 0;
}
