/* kern_simd.h — the element-wise inner loops that dominate outside BLAS
 * (softmax rows, activations, the GroupNorm affine + SiLU), built twice:
 * for the baseline target (SSE2 on x86-64) and, on x86-64, for AVX2 + FMA
 * (kern_simd_avx2.c), picked once at run time from CPUID. The two builds
 * agree to float rounding (the AVX2 build contracts a·b + c into FMAs).
 * Every function computes each element the same way wherever a span starts,
 * so results do not depend on how a pool splits the work.
 */
#ifndef DIF__CORE_KERN_SIMD_H
#define DIF__CORE_KERN_SIMD_H

#include <stdbool.h>
#include <stdint.h>

typedef enum dif__act_kind {
  DIF__ACT_GELU,       /* x·Φ(x), erf form */
  DIF__ACT_GELU_TANH,  /* tanh approximation */
  DIF__ACT_QUICK_GELU, /* x·σ(1.702x) */
  DIF__ACT_SILU,       /* x·σ(x) */
} dif__act_kind;

/* Softmax of x[n] in place; an all -inf row becomes all zero. */
void dif__k_softmax_row(float *x, int64_t n);
/* The same without the final division: x[i] = exp(x[i] - max), returns
 * 1/Σ (0 for an all -inf row, which becomes all zero). Attention divides
 * its [rows, dim] output instead of the [rows, tokens] probabilities. */
float dif__k_softmax_row_unnormalised(float *x, int64_t n);
/* y[0..n) = act(x[0..n)); x and y may be the same array. */
void dif__k_act_span(dif__act_kind kind, const float *x, float *y, int64_t n);
/* y[i] = a[i] · gelu(g[i]) (erf form); y must not overlap a or g. */
void dif__k_geglu_span(const float *a, const float *g, float *y, int64_t n);
/* y[i] = ((x[i] - hi) - lo)·s + c, then silu(y) if silu; x and y may be the
 * same array. */
void dif__k_affine_span(const float *x, float *y, int64_t n, float hi, float lo, float s, float c,
                        bool silu);

/* The convolutions' layout changes (conv2d_fast.c, conv2d_wino.c): a
 * rows × cols block of dst from the transposed block of src,
 *   dst[r·ld_dst + c] = src[c·ld_src + r] + (bias ? bias[r] : 0)
 * and, with acc, that added to dst (dst + (src + bias), in this order).
 * Exact: both builds give the same bits (the AVX2 one moves 8 × 8 blocks
 * in registers; the baseline one element by element). */
void dif__k_transpose(const float *src, int64_t ld_src, float *dst, int64_t ld_dst, int64_t rows,
                      int64_t cols, const float *bias, bool acc);
/* The same into bf16 (dtype.h's dif__bf16_rne: round to nearest even,
 * NaN kept quiet): dst[r·ld_dst + c] = bf16(src[c·ld_src + r]). */
void dif__k_transpose_bf16(const float *src, int64_t ld_src, uint16_t *dst, int64_t ld_dst,
                           int64_t rows, int64_t cols);

/* A channels-last row into bf16 (conv2d_fast.c's channels-last input):
 * for i < n, v = x[i]; with norm (= {hi, lo, s, c}, n floats each; NULL:
 * none) v = ((v - hi[i]) - lo[i])·s[i] + c[i]; silu(v) if silu; then
 * dst[i] = bf16(v) (dif__bf16_rne). The float32 v is computed as
 * dif__k_affine_span / dif__k_act_span(SILU) compute it. */
void dif__k_affine_bf16(const float *x, int64_t n, const float *const *norm, bool silu,
                        uint16_t *dst);

/* Channels-last GroupNorm (norm.c): for each of the `pixels` rows of C
 * floats at x, s1[c] += x[c] − shift[c] and s2[c] += (x[c] − shift[c])²,
 * in double. */
void dif__k_shifted_sums(const float *x, int64_t pixels, int64_t C, const float *shift, double *s1,
                         double *s2);
/* y[i] = ((x[i] − hi[i]) − lo[i])·s[i] + c[i] with norm = {hi, lo, s, c}
 * (n floats each), as dif__k_affine_bf16 computes it before rounding; x
 * and y may be the same array. */
void dif__k_affine_vec(const float *x, int64_t n, const float *const *norm, float *y);

/* Which build runs: 0 baseline, 1 AVX2 + FMA. */
int dif__simd_level(void);
/* Tests: -1 picks from the CPU (the default), 0 forces the baseline, 1 the
 * AVX2 build if the CPU has it. Returns the level now in use. Not
 * thread-safe against running kernels. */
int dif__simd_force(int level);

/* The AVX2 + FMA build (only on x86-64 with GCC or Clang). */
void dif__k_softmax_row_avx2(float *x, int64_t n);
float dif__k_softmax_row_unnormalised_avx2(float *x, int64_t n);
void dif__k_act_span_avx2(dif__act_kind kind, const float *x, float *y, int64_t n);
void dif__k_geglu_span_avx2(const float *a, const float *g, float *y, int64_t n);
void dif__k_affine_span_avx2(const float *x, float *y, int64_t n, float hi, float lo, float s,
                             float c, bool silu);
void dif__k_affine_bf16_avx2(const float *x, int64_t n, const float *const *norm, bool silu,
                             uint16_t *dst);
void dif__k_shifted_sums_avx2(const float *x, int64_t pixels, int64_t C, const float *shift,
                              double *s1, double *s2);
void dif__k_affine_vec_avx2(const float *x, int64_t n, const float *const *norm, float *y);
void dif__k_transpose_avx2(const float *src, int64_t ld_src, float *dst, int64_t ld_dst,
                           int64_t rows, int64_t cols, const float *bias, bool acc);
void dif__k_transpose_bf16_avx2(const float *src, int64_t ld_src, uint16_t *dst, int64_t ld_dst,
                                int64_t rows, int64_t cols);

#endif
