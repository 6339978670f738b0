/* gemm_few.h — the exact path's linear products of a few rows: y (+)= x ·
 * Wᵀ with x of at most DIF__FEW_ROWS_MAX rows, every element of W read
 * once, from the file's dtype (F32, F16 or BF16, widened exactly in
 * registers).
 *
 * Why: a product of a handful of rows (the prior's cached steps: 4 tokens
 * × 2 for guidance against every 2048-wide weight; the time embeddings)
 * does a few multiplies per weight element, so its time is the time to
 * read the weight once. cblas_sgemm packs the weight panel on every call
 * (OpenBLAS keeps no packed form), and for a 16-bit weight gemm.c's general
 * path first widens it into float32 scratch, which sgemm then packs again:
 * ten bytes of memory traffic per element where two would do. Measured on
 * the prior's layers (bench/bench-few-rows.c, docs/performance.md), 8
 * rows: this kernel reads an F32 weight twice as fast as sgemm and an F16
 * one 4–5× as fast as widening + sgemm. No library libdif uses does this:
 * OpenBLAS's sbgemm rounds the activations to bf16; oneDNN 2.6 takes
 * 16-bit weights only with AVX512-FP16, and its packed float32 weights
 * would be a second copy of every weight.
 *
 * With more rows (17 to 192: the prior's cached steps with several images,
 * 8 rows each, its text-token cache and the text encoders with guidance,
 * 2 × 77, a whole prior step without the cache, 2 × 81) the product is
 * bound by arithmetic, and there a second kernel keeps the outputs in lanes
 * (gemm_few_panel_avx2.c: panels of 16 weight rows widened and transposed
 * into L1, 6 × 16 register tiles, as a GEMM's micro-kernel): on the
 * prior's 2048-wide layers it matches or beats cblas_sgemm from F32 (which
 * re-packs the weight per call) up to 192 rows, and from F16 it reads 2
 * bytes per element instead of widening into scratch (docs/performance.md).
 *
 * Numerics: float32 throughout; the same terms as sgemm's summed in
 * another order, within float32's bound (tested against double,
 * test-gemm-few), not sgemm's bits. Up to DIF__FEW_ROWS_DOT_MAX rows each
 * output is the sum over k-blocks of 256 inputs (in order) of eight
 * lane-wise float32 FMA chains, added in a fixed tree, the block's tail of
 * fewer than eight inputs after them; with more rows it is one float32 FMA
 * chain over the inputs in order, from 0. Then y = sum (beta 0) or
 * y + sum (beta 1). An output's bits depend on its inputs and on which of
 * the two the row count picks, not on the threads or on the rows beside
 * it, and a 16-bit weight gives exactly the bits of the float32 weight
 * holding its widened values (so the threshold is the same for every
 * dtype).
 *
 * Built for AVX2 + FMA + F16C (gemm_few_avx2.c, gemm_few_panel_avx2.c),
 * chosen at run time; where
 * the CPU or the build lacks it (or DIF_MAX_CPU_ISA caps it below AVX2)
 * dif__few_rows_runs() is false and gemm.c keeps cblas_sgemm.
 */
#ifndef DIF__CORE_GEMM_FEW_H
#define DIF__CORE_GEMM_FEW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "core/weight.h"

/* The most rows x may have: on the prior's layers (Zen 3) the panel
 * kernel beat sgemm from F32 up to 162 rows (a whole prior step), tied
 * at 192 and lost by 3–4 % at 257 and 320 (its panels re-read all of x,
 * where sgemm blocks it); beyond are the image encoder's 257 rows and the
 * UNet's thousands. The same limit for every dtype (the bits). */
#define DIF__FEW_ROWS_MAX 192
/* Up to this many rows one dot product per output (gemm_few_avx2.c: with
 * fewer rows than lanes the weight's reading is the cost); beyond, outputs
 * in lanes (gemm_few_panel_avx2.c). At 9–16 rows the two measured alike. */
#define DIF__FEW_ROWS_DOT_MAX 16

/* True if dif__few_rows runs on this CPU and build. */
bool dif__few_rows_runs(void);

/* True if gemm.c takes dif__few_rows for m rows by W: it runs here, W is
 * F32, F16 or BF16 (a dtype added later goes gemm.c's general way until
 * the kernels' loads learn it) and 1 <= m <= DIF__FEW_ROWS_MAX. */
bool dif__few_rows_taken(int64_t m, dif__weight W);

/* For i < m, j < out:
 *   y[i·ys_i + j·ys_j] = Σ_c x[i·ldx + c] · W[j·in + c]          (beta 0)
 *                      = y[i·ys_i + j·ys_j] + that sum           (beta 1)
 * W [out, in] F32, F16 or BF16 (a 16-bit one may start at any byte address), x float32
 * with rows ldx >= in apart, 1 <= m <= DIF__FEW_ROWS_MAX; y must not
 * overlap x (with beta 0 its contents are never read). Outputs split over
 * pool (NULL: serial). Only where dif__few_rows_runs(). */
void dif__few_rows(dif__pool *pool, const float *x, int64_t m, int64_t ldx, int64_t in,
                   dif__weight W, int64_t out, float beta, float *y, int64_t ys_i, int64_t ys_j);

/* The AVX2 builds of the outputs j in [j0, j1) of dif__few_rows: the dot
 * kernel, up to DIF__FEW_ROWS_DOT_MAX rows of x, and the panel kernel, for
 * more. */
void dif__few_rows_block_avx2(const float *x, int64_t m, int64_t ldx, int64_t in, dif__weight W,
                              int64_t j0, int64_t j1, float beta, float *y, int64_t ys_i,
                              int64_t ys_j);
void dif__few_rows_panel_avx2(const float *x, int64_t m, int64_t ldx, int64_t in, dif__weight W,
                              int64_t j0, int64_t j1, float beta, float *y, int64_t ys_i,
                              int64_t ys_j);

#endif
