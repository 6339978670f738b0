/* kern_simd_avx2.c — the kern_simd.h kernels built for AVX2 + FMA. CMake
 * compiles this file with -mavx2 -mfma -ffp-contract=fast on x86-64 (and
 * defines DIF_HAVE_AVX2_KERNELS); elsewhere it is empty. Only called after
 * kern_simd.c has checked the CPU. */
#include "core/kern_simd.h"

#if defined(DIF_HAVE_AVX2_KERNELS) && defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#include "core/dtype.h"

/* The 8 × 8 block v[0..8) (rows) transposed in place: v[j][i] ← v[i][j]. */
static inline void tr8x8(__m256 v[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    v[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    v[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

/* 8 floats to bf16 as dif__bf16_rne: u + 0x7fff + the lowest kept bit,
 * quiet NaN (u | 0x400000) where |u| > Inf, the high halves packed. */
static inline __m128i bf16x8(__m256 x) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rne = _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  const __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
  const __m256i h = _mm256_srli_epi32(_mm256_blendv_epi8(rne, q, nan), 16);
  return _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

#define DIF__K(name) name##_avx2
#define DIF__K_LINKAGE
#define DIF__K_STORE_BF16(dst, v) _mm_storeu_si128((__m128i *)(void *)(dst), bf16x8((__m256)(v)))
#include "core/kern_simd_impl.h"

/* Both transposes (kern_simd.h): into float32 dst (with bias and acc) or,
 * with bf16, into the uint16_t dst (bias and acc unused); 8 × 8 blocks in
 * registers, the edges element by element as the baseline build. Inlined
 * into each with bf16 a constant. */
static inline void transpose_any(const float *src, int64_t ld_src, void *dst, int64_t ld_dst,
                                 int64_t rows, int64_t cols, const float *bias, bool acc,
                                 bool bf16) {
  float *df = dst;
  uint16_t *dh = dst;
  const int64_t r8 = rows - rows % 8, c8 = cols - cols % 8;
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    for (int64_t c0 = 0; r0 < r8 && c0 < c8; c0 += 8) {
      __m256 v[8];
      for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps(src + (c0 + i) * ld_src + r0);
      tr8x8(v);
      for (int j = 0; j < 8 && bf16; j++)
        _mm_storeu_si128((__m128i *)(void *)(dh + (r0 + j) * ld_dst + c0), bf16x8(v[j]));
      for (int j = 0; j < 8 && !bf16; j++) {
        float *d = df + (r0 + j) * ld_dst + c0;
        __m256 x = _mm256_add_ps(v[j], _mm256_set1_ps(bias ? bias[r0 + j] : 0.0f));
        if (acc) x = _mm256_add_ps(_mm256_loadu_ps(d), x);
        _mm256_storeu_ps(d, x);
      }
    }
    /* the columns past the blocks; the rows past them whole */
    for (int64_t r = r0; r < r0 + 8 && r < rows; r++)
      for (int64_t c = r0 < r8 ? c8 : 0; c < cols; c++) {
        const float s = src[c * ld_src + r];
        if (bf16) {
          dh[r * ld_dst + c] = dif__bf16_rne(s);
        } else {
          const float v = s + (bias ? bias[r] : 0.0f);
          float *d = df + r * ld_dst + c;
          *d = acc ? *d + v : v;
        }
      }
  }
}

void dif__k_transpose_avx2(const float *src, int64_t ld_src, float *dst, int64_t ld_dst,
                           int64_t rows, int64_t cols, const float *bias, bool acc) {
  transpose_any(src, ld_src, dst, ld_dst, rows, cols, bias, acc, false);
}

void dif__k_transpose_bf16_avx2(const float *src, int64_t ld_src, uint16_t *dst, int64_t ld_dst,
                                int64_t rows, int64_t cols) {
  transpose_any(src, ld_src, dst, ld_dst, rows, cols, NULL, false, true);
}

#else

typedef int dif__kern_simd_avx2_empty; /* ISO C forbids an empty translation unit */

#endif
