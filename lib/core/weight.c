/* weight.c — widening tiles of typed weights, rounding whole ones to bf16,
 * dropping mapped pages (see weight.h). */
#include "core/weight.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct tile_job {
  dif__weight w;
  int64_t ld, row0, col0, cols;
  float *dst;
} tile_job;

static void tile_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const tile_job *j = arg;
  const size_t esz = dif__dtype_size(j->w.dtype);
  for (int64_t r = begin; r < end; r++) {
    const char *src = (const char *)j->w.data + (size_t)((j->row0 + r) * j->ld + j->col0) * esz;
    dif__dtype_to_f32(j->w.dtype, src, (size_t)j->cols, j->dst + r * j->cols);
  }
}

void dif__weight_tile_f32(dif__pool *pool, dif__weight w, int64_t ld, int64_t row0, int64_t rows,
                          int64_t col0, int64_t cols, float *dst) {
  if (rows <= 0 || cols <= 0) return;
  tile_job j = {w, ld, row0, col0, cols, dst};
  /* about 16k elements per chunk: enough to amortise a task, small enough
   * to spread a 320-row weight over the threads */
  dif__pool_for(pool, rows, cols >= 16384 ? 1 : 16384 / cols, tile_task, &j);
}

#define BF16_CHUNK 4096 /* elements per step: widened in a 16 KiB stack buffer */

typedef struct bf16_job {
  dif__weight w;
  uint16_t *dst;
} bf16_job;

static void bf16_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const bf16_job *j = arg;
  const size_t esz = dif__dtype_size(j->w.dtype);
  float buf[BF16_CHUNK];
  for (int64_t c = begin; c < end; c++) {
    const int64_t i0 = c * BF16_CHUNK;
    const size_t n = (size_t)(j->w.numel - i0 < BF16_CHUNK ? j->w.numel - i0 : BF16_CHUNK);
    const char *src = (const char *)j->w.data + (size_t)i0 * esz;
    uint16_t *dst = j->dst + i0;
    if (j->w.dtype == DIF__DTYPE_BF16) {
      memcpy(dst, src, n * sizeof *dst);
      continue;
    }
    dif__dtype_to_f32(j->w.dtype, src, n, buf);
    for (size_t i = 0; i < n; i++) dst[i] = dif__bf16_rne(buf[i]);
  }
}

void dif__weight_bf16(dif__pool *pool, dif__weight w, uint16_t *dst) {
  if (w.numel <= 0) return;
  bf16_job j = {w, dst};
  /* 8 chunks (32k elements) a task: negligible dispatch, a 320 x 320
   * weight still split in two */
  dif__pool_for(pool, (w.numel + BF16_CHUNK - 1) / BF16_CHUNK, 8, bf16_task, &j);
}

size_t dif__weight_drop_pages(dif__weight w) {
  if (!w.mapped || !w.data || w.numel <= 0) return 0;
  const long ps = sysconf(_SC_PAGESIZE);
  if (ps <= 0) return 0;
  const uintptr_t page = (uintptr_t)ps, begin = (uintptr_t)w.data,
                  end = begin + dif__weight_bytes(w);
  const uintptr_t lo = (begin + page - 1) / page * page, hi = end / page * page;
  if (hi <= lo) return 0;
  /* A read-only private file mapping never written: the pages come back
   * from the file (the page cache) on the next access. */
  return madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0 ? (size_t)(hi - lo) : 0;
}
