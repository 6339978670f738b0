/* gemm_few_avx2.c — dif__few_rows (gemm_few.h) for up to
 * DIF__FEW_ROWS_DOT_MAX rows of x, built for AVX2 + FMA + F16C (more rows:
 * gemm_few_panel_avx2.c). CMake compiles this file with -mavx2 -mfma -mf16c on x86-64 (and
 * defines DIF_HAVE_AVX2_KERNELS); elsewhere it is empty. Only called after
 * gemm_few.c has checked the CPU.
 *
 * Blocking: the outputs, FEW_JB weight rows at a time, take the inputs in
 * blocks of FEW_KB. The block of x (at most 16 rows × 256 floats, 16 KiB)
 * is first copied together (its rows lie `in` floats apart, which alias
 * in L1) and stays in L1 while the weight rows' 256 elements stream from
 * memory once: each 8 of a row widened in registers and multiplied into
 * one accumulator per row of x (8 lanes each). Up to 4 rows of x take
 * three weight rows at a time (up to 12 accumulators; x loaded once for
 * the three), 5 to 8 rows one weight row (up to 8); rows of x past 8 run as
 * a second group over the same weight block, then in L1. Measured choices
 * (bench/bench-few-rows.c, Zen 3, alternated builds): copying x made 8
 * rows 1.8× faster; three weight rows at a time against one, 1.3× for 1
 * to 4 rows of x but 5–10 % slower for 8 and 16; blocks of 512 inputs, no
 * change.
 */
#include "core/gemm_few.h"

#if defined(DIF_HAVE_AVX2_KERNELS) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "core/dtype.h"
#include "core/gemm_few_loads.h"

#define FEW_KB 256
#define FEW_JB 64
#define FEW_G 8 /* at most 8 rows of x per group */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* The eight lanes of v summed: (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)). */
ALWAYS_INLINE float hsum8(__m256 v) {
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

/* s[(j − j0 + q)·DIF__FEW_ROWS_DOT_MAX + r] += xb[r] · W[j + q, k0 .. k0 + kc)
 * for the G rows of the packed block xb (rows FEW_KB apart) and the R
 * weight rows from j (G and R constants after inlining; R at most 3): G·R
 * accumulators, each x vector loaded once for the R weight rows. */
ALWAYS_INLINE void tile(const int G, const int R, const dif__dtype dt, const float *xb, int64_t in,
                        const void *w, int64_t j, int64_t k0, int64_t kc, float *sj) {
  const int64_t k8 = kc & ~(int64_t)7;
  __m256 acc[FEW_G][3]; /* G·R <= 12 used */
  for (int r = 0; r < G; r++)
    for (int q = 0; q < R; q++) acc[r][q] = _mm256_setzero_ps();
  const int64_t wo = j * in + k0;
  for (int64_t c = 0; c < k8; c += 8) {
    __m256 wv[3];
    for (int q = 0; q < R; q++) wv[q] = dif__few_load8(dt, w, wo + q * in + c);
    for (int r = 0; r < G; r++) {
      const __m256 xv = _mm256_loadu_ps(xb + r * FEW_KB + c);
      for (int q = 0; q < R; q++) acc[r][q] = _mm256_fmadd_ps(xv, wv[q], acc[r][q]);
    }
  }
  for (int q = 0; q < R; q++)
    for (int r = 0; r < G; r++) {
      float t = hsum8(acc[r][q]);
      for (int64_t c = k8; c < kc; c++)
        t = fmaf(xb[r * FEW_KB + c], dif__few_load1(dt, w, wo + q * in + c), t);
      sj[q * DIF__FEW_ROWS_DOT_MAX + r] += t;
    }
}

/* The G rows of xb against the weight rows [j0, j1): with G <= 4, three
 * weight rows at a time (G·3 accumulators), else one (G of them); the
 * next rows' elements are prefetched meanwhile (rows lie `in` elements
 * apart, too far apart for the hardware's streams). */
ALWAYS_INLINE void group(const int G, const dif__dtype dt, const float *xb, int64_t in,
                         const void *w, int64_t j0, int64_t j1, int64_t k0, int64_t kc, float *s) {
  /* R weight rows at a time; prefetched PF rows ahead (two rows ahead, not
   * one, measured better for one row at a time) */
  const int64_t esz = dt == DIF__DTYPE_F32 ? 4 : 2, R = G <= 4 ? 3 : 1, PF = G <= 4 ? 3 : 2;
  int64_t j = j0;
  for (; j + R <= j1; j += R) {
    if (j + PF + R <= j1) {
      const char *pf = (const char *)w + ((j + PF) * in + k0) * esz;
      for (int64_t b = 0; b < kc * esz; b += 64)
        for (int64_t q = 0; q < R; q++) _mm_prefetch(pf + q * in * esz + b, _MM_HINT_T0);
    }
    if (G <= 4)
      tile(G, 3, dt, xb, in, w, j, k0, kc, s + (j - j0) * DIF__FEW_ROWS_DOT_MAX);
    else
      tile(G, 1, dt, xb, in, w, j, k0, kc, s + (j - j0) * DIF__FEW_ROWS_DOT_MAX);
  }
  if (G <= 4 && j + 2 <= j1) /* with G > 4 the loop above took every row */
    tile(G, 2, dt, xb, in, w, j, k0, kc, s + (j - j0) * DIF__FEW_ROWS_DOT_MAX);
  else if (j < j1)
    tile(G, 1, dt, xb, in, w, j, k0, kc, s + (j - j0) * DIF__FEW_ROWS_DOT_MAX);
}

/* The outputs [j0, j1) (at most FEW_JB), their sums into s, the inputs in
 * blocks of FEW_KB copied into xb first (rows `in` apart alias in L1). */
ALWAYS_INLINE void block(const dif__dtype dt, const float *x, int64_t m, int64_t ldx, int64_t in,
                         const void *w, int64_t j0, int64_t j1, float *s) {
  float xb[DIF__FEW_ROWS_DOT_MAX * FEW_KB] __attribute__((aligned(32)));
  for (int64_t k0 = 0; k0 < in; k0 += FEW_KB) {
    const int64_t kc = in - k0 < FEW_KB ? in - k0 : FEW_KB;
    for (int64_t i = 0; i < m; i++) memcpy(xb + i * FEW_KB, x + i * ldx + k0, (size_t)kc * 4);
    for (int64_t i0 = 0; i0 < m; i0 += FEW_G) {
      const float *xi = xb + i0 * FEW_KB;
      float *si = s + i0;
      switch (m - i0 < FEW_G ? m - i0 : FEW_G) {
      case 1: group(1, dt, xi, in, w, j0, j1, k0, kc, si); break;
      case 2: group(2, dt, xi, in, w, j0, j1, k0, kc, si); break;
      case 3: group(3, dt, xi, in, w, j0, j1, k0, kc, si); break;
      case 4: group(4, dt, xi, in, w, j0, j1, k0, kc, si); break;
      case 5: group(5, dt, xi, in, w, j0, j1, k0, kc, si); break;
      case 6: group(6, dt, xi, in, w, j0, j1, k0, kc, si); break;
      case 7: group(7, dt, xi, in, w, j0, j1, k0, kc, si); break;
      default: group(8, dt, xi, in, w, j0, j1, k0, kc, si); break;
      }
    }
  }
}

static void block_f16(const float *x, int64_t m, int64_t ldx, int64_t in, const void *w, int64_t j0,
                      int64_t j1, float *s) {
  block(DIF__DTYPE_F16, x, m, ldx, in, w, j0, j1, s);
}
static void block_bf16(const float *x, int64_t m, int64_t ldx, int64_t in, const void *w,
                       int64_t j0, int64_t j1, float *s) {
  block(DIF__DTYPE_BF16, x, m, ldx, in, w, j0, j1, s);
}
static void block_f32(const float *x, int64_t m, int64_t ldx, int64_t in, const void *w, int64_t j0,
                      int64_t j1, float *s) {
  block(DIF__DTYPE_F32, x, m, ldx, in, w, j0, j1, s);
}

void dif__few_rows_block_avx2(const float *x, int64_t m, int64_t ldx, int64_t in, dif__weight W,
                              int64_t j0, int64_t j1, float beta, float *y, int64_t ys_i,
                              int64_t ys_j) {
  float s[FEW_JB * DIF__FEW_ROWS_DOT_MAX];
  for (int64_t jb = j0; jb < j1; jb += FEW_JB) {
    const int64_t je = j1 - jb < FEW_JB ? j1 : jb + FEW_JB;
    memset(s, 0, sizeof s);
    switch (W.dtype) {
    case DIF__DTYPE_F16: block_f16(x, m, ldx, in, W.data, jb, je, s); break;
    case DIF__DTYPE_BF16: block_bf16(x, m, ldx, in, W.data, jb, je, s); break;
    default: block_f32(x, m, ldx, in, W.data, jb, je, s); break;
    }
    for (int64_t j = jb; j < je; j++)
      for (int64_t i = 0; i < m; i++) {
        float *o = y + i * ys_i + j * ys_j;
        const float v = s[(j - jb) * DIF__FEW_ROWS_DOT_MAX + i];
        *o = beta == 0.0f ? v : *o + v;
      }
  }
}

#else

typedef int dif__gemm_few_avx2_empty; /* ISO C forbids an empty translation unit */

#endif
