/* gemm_few_panel_avx2.c — dif__few_rows (gemm_few.h) for DIF__FEW_ROWS_DOT_MAX + 1
 * to DIF__FEW_ROWS_MAX rows of x, built for AVX2 + FMA + F16C. CMake
 * compiles this file with -mavx2 -mfma -mf16c on x86-64 (and defines
 * DIF_HAVE_AVX2_KERNELS); elsewhere it is empty. Only called after
 * gemm_few.c has checked the CPU.
 *
 * With this many rows the products are bound by arithmetic, not by
 * reading the weight, and a dot product per output (gemm_few_avx2.c) loads
 * x once per multiply; here each output accumulates in a lane instead, as
 * in a GEMM's micro-kernel: a panel of 16 outputs (weight rows) at a time,
 * its elements for a block of PKC inputs widened and transposed into
 * wp[k][16] (16 KiB, in L1), then every group of up to 6 rows of x runs
 * over that block, x[r][k] broadcast against wp[k]'s two vectors into
 * 6 × 2 accumulators. Each weight element is read from memory once (the
 * panel's 16 rows stream through their blocks in order, prefetched a
 * block ahead) and widened once; the accumulators go to a tile of m × 16
 * sums between blocks, and the tile to y when the panel is done.
 *
 * Numerics: each output is one float32 FMA chain over its inputs in order,
 * from 0, then y = sum (beta 0) or y + sum (beta 1): the bits depend on
 * the output's inputs only (not on the row count, as long as it is this
 * kernel's, nor on the threads or the rows beside it),
 * and a 16-bit weight gives the bits of the float32 weight holding its
 * widened values.
 */
#include "core/gemm_few.h"

#if defined(DIF_HAVE_AVX2_KERNELS) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"
#include "core/gemm_few_loads.h"

#define PKC 256 /* inputs per block */
#define PNJ 16  /* outputs per panel: two vectors */
#define PR 6    /* rows of x per micro-tile: 12 accumulators */

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* wp[k·PNJ + c] = W[j + c, k0 + k] for k < kc, c < nj; zeros for c >= nj.
 * Whole panels by 8 × 8 transposes, the rest one element at a time. */
ALWAYS_INLINE void pack_panel(dif__dtype dt, const void *w, int64_t in, int64_t j, int nj,
                              int64_t k0, int64_t kc, float *wp) {
  const int64_t k8 = nj == PNJ ? kc & ~(int64_t)7 : 0;
  for (int64_t k = 0; k < k8; k += 8)
    for (int h = 0; h < PNJ; h += 8) {
      __m256 r[8];
      for (int c = 0; c < 8; c++) r[c] = dif__few_load8(dt, w, (j + h + c) * in + k0 + k);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float *o = wp + k * PNJ + h;
      _mm256_store_ps(o + 0 * PNJ, _mm256_permute2f128_ps(s0, s4, 0x20));
      _mm256_store_ps(o + 1 * PNJ, _mm256_permute2f128_ps(s1, s5, 0x20));
      _mm256_store_ps(o + 2 * PNJ, _mm256_permute2f128_ps(s2, s6, 0x20));
      _mm256_store_ps(o + 3 * PNJ, _mm256_permute2f128_ps(s3, s7, 0x20));
      _mm256_store_ps(o + 4 * PNJ, _mm256_permute2f128_ps(s0, s4, 0x31));
      _mm256_store_ps(o + 5 * PNJ, _mm256_permute2f128_ps(s1, s5, 0x31));
      _mm256_store_ps(o + 6 * PNJ, _mm256_permute2f128_ps(s2, s6, 0x31));
      _mm256_store_ps(o + 7 * PNJ, _mm256_permute2f128_ps(s3, s7, 0x31));
    }
  for (int64_t k = k8; k < kc; k++)
    for (int c = 0; c < PNJ; c++)
      wp[k * PNJ + c] = c < nj ? dif__few_load1(dt, w, (j + c) * in + k0 + k) : 0;
}

/* t[r·PNJ + c] += Σ_k x[r·ldx + k] · wp[k·PNJ + c] for r < R, each sum
 * continued in order from the value in t (R constant after inlining). */
ALWAYS_INLINE void tile(const int R, const float *x, int64_t ldx, const float *wp, int64_t kc,
                        float *t) {
  __m256 a[PR][2];
  for (int r = 0; r < R; r++)
    a[r][0] = _mm256_load_ps(t + r * PNJ), a[r][1] = _mm256_load_ps(t + r * PNJ + 8);
  for (int64_t k = 0; k < kc; k++) {
    const __m256 w0 = _mm256_load_ps(wp + k * PNJ), w1 = _mm256_load_ps(wp + k * PNJ + 8);
    for (int r = 0; r < R; r++) {
      const __m256 b = _mm256_broadcast_ss(x + r * ldx + k);
      a[r][0] = _mm256_fmadd_ps(b, w0, a[r][0]);
      a[r][1] = _mm256_fmadd_ps(b, w1, a[r][1]);
    }
  }
  for (int r = 0; r < R; r++)
    _mm256_store_ps(t + r * PNJ, a[r][0]), _mm256_store_ps(t + r * PNJ + 8, a[r][1]);
}

/* The panel of outputs [j, j + nj): its sums over every input into t
 * [m][PNJ], block by block. */
ALWAYS_INLINE void panel(const dif__dtype dt, const float *x, int64_t m, int64_t ldx, int64_t in,
                         const void *w, int64_t j, int nj, float *wp, float *t) {
  const int64_t esz = dt == DIF__DTYPE_F32 ? 4 : 2;
  memset(t, 0, (size_t)(m * PNJ) * sizeof *t);
  for (int64_t k0 = 0; k0 < in; k0 += PKC) {
    const int64_t kc = in - k0 < PKC ? in - k0 : PKC;
    if (k0 + PKC < in) { /* the panel's next block, while this one runs: every line it touches */
      const int64_t next = in - k0 - PKC < PKC ? in - k0 - PKC : PKC;
      for (int c = 0; c < nj; c++) {
        const uintptr_t a = (uintptr_t)w + (uintptr_t)(((j + c) * in + k0 + PKC) * esz);
        for (uintptr_t l = a & ~(uintptr_t)63; l < a + (uintptr_t)(next * esz); l += 64)
          _mm_prefetch((const char *)l, _MM_HINT_T0);
      }
    }
    pack_panel(dt, w, in, j, nj, k0, kc, wp);
    for (int64_t i0 = 0; i0 < m; i0 += PR) {
      const float *xi = x + i0 * ldx + k0;
      float *ti = t + i0 * PNJ;
      switch (m - i0 < PR ? m - i0 : PR) {
      case 1: tile(1, xi, ldx, wp, kc, ti); break;
      case 2: tile(2, xi, ldx, wp, kc, ti); break;
      case 3: tile(3, xi, ldx, wp, kc, ti); break;
      case 4: tile(4, xi, ldx, wp, kc, ti); break;
      case 5: tile(5, xi, ldx, wp, kc, ti); break;
      default: tile(6, xi, ldx, wp, kc, ti); break;
      }
    }
  }
}

static void panel_f16(const float *x, int64_t m, int64_t ldx, int64_t in, const void *w, int64_t j,
                      int nj, float *wp, float *t) {
  panel(DIF__DTYPE_F16, x, m, ldx, in, w, j, nj, wp, t);
}
static void panel_bf16(const float *x, int64_t m, int64_t ldx, int64_t in, const void *w, int64_t j,
                       int nj, float *wp, float *t) {
  panel(DIF__DTYPE_BF16, x, m, ldx, in, w, j, nj, wp, t);
}
static void panel_f32(const float *x, int64_t m, int64_t ldx, int64_t in, const void *w, int64_t j,
                      int nj, float *wp, float *t) {
  panel(DIF__DTYPE_F32, x, m, ldx, in, w, j, nj, wp, t);
}

void dif__few_rows_panel_avx2(const float *x, int64_t m, int64_t ldx, int64_t in, dif__weight W,
                              int64_t j0, int64_t j1, float beta, float *y, int64_t ys_i,
                              int64_t ys_j) {
  float wp[PKC * PNJ] __attribute__((aligned(32)));
  float t[DIF__FEW_ROWS_MAX * PNJ] __attribute__((aligned(32)));
  for (int64_t j = j0; j < j1; j += PNJ) {
    const int nj = j1 - j < PNJ ? (int)(j1 - j) : PNJ;
    switch (W.dtype) {
    case DIF__DTYPE_F16: panel_f16(x, m, ldx, in, W.data, j, nj, wp, t); break;
    case DIF__DTYPE_BF16: panel_bf16(x, m, ldx, in, W.data, j, nj, wp, t); break;
    default: panel_f32(x, m, ldx, in, W.data, j, nj, wp, t); break;
    }
    for (int64_t i = 0; i < m; i++)
      for (int c = 0; c < nj; c++) {
        float *o = y + i * ys_i + (j + c) * ys_j;
        const float v = t[i * PNJ + c];
        *o = beta == 0.0f ? v : *o + v;
      }
  }
}

#else

typedef int dif__gemm_few_panel_avx2_empty; /* ISO C forbids an empty translation unit */

#endif
