/* ops_internal.h — helpers shared between kernel files (and white-box tests),
 * not part of the kernel API in ops.h. */
#ifndef DIF__CORE_OPS_INTERNAL_H
#define DIF__CORE_OPS_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/ops.h"
#include "core/prof.h"

/* The pool of k, or NULL (serial) when k itself is NULL. */
static inline dif__pool *dif__kpool(const dif__kctx *k) { return k ? k->pool : NULL; }

/* Largest dimension or leading dimension dif__gemm accepts: OpenBLAS's cblas
 * takes 32-bit ints. Kernels that take err check against it. */
#define DIF__GEMM_DIM_MAX INT32_MAX

/* dif__gemm whose time and FLOPs count under op when profiling (core/prof.h);
 * op DIF__PROF_OP_COUNT counts nowhere (a product inside a span its caller
 * already times: core/backend_openblas_wino.c). */
void dif__gemm_op(dif__prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);

/* The fast path's products too small for a backend call to pay: oneDNN's
 * costs 8-12 µs with its OpenMP threads spinning and ~90 µs with them asleep
 * (OMP_WAIT_POLICY=passive, as libdif's callers set it), where a product of
 * 2^20 multiplies takes ~10-20 µs by sgemm. Measured on Zen 4 (2 threads,
 * docs/performance.md): the Karlo prior's attention, 66432 products of 4 or
 * 81 queries by 81 keys by 64 per 25 cached steps, 5.9 s through oneDNN
 * against 0.12 s in exact's float32 sgemm. */
#define DIF__KGEMM_SMALL_MACS ((int64_t)1 << 20)

/* A product in the kernel context's precision: k->fast NULL (or k NULL) is
 * dif__gemm_op exactly (and always DIF_OK); otherwise bf16 inputs with
 * float32 accumulation through k->fast's backend (dif__backend_matmul, its
 * status and message), or, for a product of at most DIF__KGEMM_SMALL_MACS
 * multiplies, the same roundings by cblas_sgemm on bf16-rounded copies of
 * A and B in k->arena. What the convolution and attention call. */
dif_status dif__kgemm(const dif__kctx *k, dif__prof_op op, bool trans_a, bool trans_b, int64_t M,
                      int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                      dif__error *err);

/* PyTorch's nearest source index (aten/src/ATen/native/UpSample.h,
 * nearest_idx): identity and exact 2× are special-cased, otherwise the scale
 * in/out is a float and src = min(floor(dst · scale), in - 1) in float
 * arithmetic. Reproducing the float rounding matters: it is what picks the
 * source row for odd sizes. */
static inline int64_t dif__nearest_idx(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = (float)in / (float)out;
  const int64_t src = (int64_t)floorf((float)dst * scale);
  return src < in - 1 ? src : in - 1;
}

/* Softmax of one row x[n] in place; an all -inf row becomes all zero. */
void dif__softmax_row(float *x, int64_t n);

/* y[rows, cols] (row stride ld) = broadcast of b[rows] along each row, on the
 * pool: how bias is preloaded before a beta = 1 GEMM. */
void dif__fill_rows(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                    const float *b);
/* y[rows, cols] (row stride ld) = broadcast of b[cols] to every row. */
void dif__fill_cols(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                    const float *b);
/* The same two added to y instead of written. */
void dif__add_rows(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                   const float *b);
void dif__add_cols(dif__pool *pool, float *y, int64_t rows, int64_t cols, int64_t ld,
                   const float *b);

/* dif__conv2d with an explicit bound on im2col scratch bytes (dif__conv2d uses
 * DIF__CONV2D_SCRATCH_MAX); tests pass a small one to force many row bands.
 * At least one output row is always processed per band. */
#define DIF__CONV2D_SCRATCH_MAX ((size_t)32 << 20)
dif_status dif__conv2d_bounded(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                               int64_t N, int64_t H, int64_t W, dif__weight w, const float *b,
                               float *y, size_t max_scratch, dif__error *err);

/* conv2d.c's input transform (in_h/in_w resize, in_norm, in_silu) of input
 * rows [row0, row0 + rows) of images [n0, n0 + g) into out
 * [g][cin][rows][Win]. */
void dif__conv2d_xform_rows(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                            int64_t n0, int64_t g, int64_t H, int64_t W, int64_t Hin, int64_t Win,
                            int64_t row0, int64_t rows, float *out);

/* The same transform for columns [w0, w0 + n) of (transformed) input row
 * ir of channel c of one image x [cin, H, W] (norm: that image's [cin]
 * affine, or NULL), into t: the same values, bit for bit, whatever the
 * span (the kernels are element-wise). */
void dif__conv2d_xform_span(const dif__conv2d_params *p, const float *x,
                            const dif__norm_affine *norm, int64_t c, int64_t H, int64_t W,
                            int64_t Hin, int64_t Win, int64_t ir, int64_t w0, int64_t n, float *t);

/* The convolution in the precision fast (conv2d_fast.c), for arguments
 * dif__conv2d_bounded has checked: false when it does not run (no fast
 * path, y == x, a weight the backend could not pack: then the caller runs
 * the exact code, which rounds per product), else true with *st its
 * status. */
bool dif__conv2d_fast(const dif__kctx *k, const dif__conv2d_params *p, const float *x, int64_t N,
                      int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                      size_t max_scratch, dif_status *st, dif__error *err);

/* The convolution in the precision fast by bf16 Winograd F(2×2, 3×3)
 * (conv2d_wino_bf16.c), for arguments dif__conv2d_bounded has checked:
 * false when it does not run (not k->fast with k->wino_bf16_max_cc, not
 * channels-last, not 3×3 / stride 1 / pad 1 all round, cin·cout above the
 * limit, y == x, a weight the backend refuses: y untouched), else true with
 * *st its status. max_scratch bounds one chunk of tiles' buffers. */
bool dif__conv2d_wino_bf16(const dif__kctx *k, const dif__conv2d_params *p, const float *x,
                           int64_t N, int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                           size_t max_scratch, dif_status *st, dif__error *err);
/* The weight's form for it: U_ξ = G g Gᵀ at the 16 positions ξ, each
 * [cout, cin] rounded to bf16 and packed by b's pack (held by dif__fast:
 * dif__fast_wino_bf16_weight); DIF_ERR_UNSUPPORTED where b has no
 * linear_bf16. kx as the backend's pack. */
dif_status dif__wino_bf16_make(const dif__kctx *kx, const dif__backend *b, dif__weight w,
                               int64_t cout, int64_t cin, dif__wino_bf16 **out, dif__error *err);
void dif__wino_bf16_free(dif__wino_bf16 *c); /* NULL is a no-op */
size_t dif__wino_bf16_bytes(const dif__wino_bf16 *c);
/* Tests: chunks of at most this many tile rows (0: as the scratch bound
 * allows), to cover chunks that split and cross images. */
void dif__wino_bf16_test_chunk(int64_t tile_rows);

/* The convolution by float32 Winograd (conv2d_wino.c), for arguments
 * dif__conv2d_bounded has checked (before the fast path's: a kctx with
 * both gives Winograd the 3×3 ones): false when it does not run (no
 * k->wino, not 3×3 / stride 1 / pad 1 all round, y == x, a weight or size
 * the backend refuses: then the caller runs the fast path's or im2col +
 * sgemm, y untouched), else true with *st its status. max_scratch bounds the
 * blocked input and output of one band of rows (at least 4 rows). */
bool dif__conv2d_wino(const dif__kctx *k, const dif__conv2d_params *p, const float *x, int64_t N,
                      int64_t H, int64_t W, dif__weight w, const float *b, float *y,
                      size_t max_scratch, dif_status *st, dif__error *err);

#endif
