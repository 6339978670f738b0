/* weight.h — a weight matrix in the dtype of its file.
 *
 * The big matrices of a model — every Linear weight [out, in] and every
 * Conv2d weight [cout, cin, kh, kw] — reach the kernels (ops.h: dif__linear*,
 * dif__conv2d) as a dif__weight: a pointer to the elements as the model file
 * stores them (F32, F16 or BF16; 16-bit values host-order, possibly at an
 * odd address), never widened to float32 at load. Who converts them:
 *   - the exact path: an F32 weight is used in place, exactly as before
 *     typed weights existed (same cblas_sgemm call, same bits); an F16/BF16
 *     weight is widened into float32 scratch from the kernel context's arena
 *     for the product that uses it (a linear product per band of rows, a
 *     convolution once per call) and the copy is released after it;
 *   - the fast path: a GEMM backend packs the weight from its own dtype
 *     (core/backend.h, dif__fast_weight; F16 rounds once to bf16, BF16 is
 *     taken as is).
 * Small vectors (biases, norm scales, position and class embeddings) stay
 * plain float32 (models/weights.h).
 *
 * mapped says the elements lie in a read-only private mapping of a file
 * (io/safetensors.c): its pages may be dropped (madvise MADV_DONTNEED) and
 * are then read again from the file on the next access. Never set it on
 * memory of any other kind (for anonymous memory, dropping means zeroing).
 */
#ifndef DIF__CORE_WEIGHT_H
#define DIF__CORE_WEIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/threadpool.h"

typedef struct dif__weight {
  const void *data; /* NULL: no weight (an optional one that the model lacks) */
  dif__dtype dtype; /* DIF__DTYPE_F32, F16 or BF16 */
  int64_t numel;    /* element count */
  bool mapped;      /* data lies in a read-only file mapping (see above) */
} dif__weight;

/* A float32 weight of n elements used in place (tests, fixtures, and
 * weights a program computes). */
static inline dif__weight dif__weight_f32(const float *w, int64_t n) {
  return (dif__weight){w, DIF__DTYPE_F32, n, false};
}

/* The elements as float32 in place when w is F32, else NULL. */
static inline const float *dif__weight_as_f32(dif__weight w) {
  return w.dtype == DIF__DTYPE_F32 ? (const float *)w.data : NULL;
}

/* Bytes of w's elements. */
static inline size_t dif__weight_bytes(dif__weight w) {
  return (size_t)w.numel * dif__dtype_size(w.dtype);
}

/* dst[r·cols + c] = w[(row0 + r)·ld + col0 + c] as float32 for r < rows,
 * c < cols: a tile of w read as a row-major matrix with ld elements per
 * row, widened exactly; rows split over pool (NULL: serial). */
void dif__weight_tile_f32(dif__pool *pool, dif__weight w, int64_t ld, int64_t row0, int64_t rows,
                          int64_t col0, int64_t cols, float *dst);

/* dst[i] = w's element i rounded to bf16 for every i < w.numel: F32 and
 * F16 to nearest even (dif__bf16_rne of the exact float32 value, NaN kept
 * quiet), BF16 copied; split over pool (NULL: serial). What onednn packs an
 * F16 weight from for bf16 products (core/backend_onednn.c; a BF16 one goes
 * to its reorder as stored). */
void dif__weight_bf16(dif__pool *pool, dif__weight w, uint16_t *dst);
/* Drops w's pages from the process's memory when w is mapped (they are read
 * again from the file if used later); does nothing otherwise. Only pages
 * that lie wholly inside w are dropped, so neighbouring tensors keep theirs.
 * Returns the bytes dropped. */
size_t dif__weight_drop_pages(dif__weight w);

#endif
