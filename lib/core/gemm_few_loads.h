/* gemm_few_loads.h — the few-row kernels' weight loads (gemm_few_avx2.c,
 * gemm_few_panel_avx2.c): elements of an F32, F16 or BF16 weight widened
 * exactly to float32 in registers. Only for translation units built with
 * AVX2 + F16C (the includer checks). */
#ifndef DIF__CORE_GEMM_FEW_LOADS_H
#define DIF__CORE_GEMM_FEW_LOADS_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"

/* Eight weights from element idx on, widened exactly. */
static inline __attribute__((always_inline)) __m256 dif__few_load8(dif__dtype dt, const void *w,
                                                                   int64_t idx) {
  const char *p = (const char *)w;
  if (dt == DIF__DTYPE_F32) return _mm256_loadu_ps((const float *)(const void *)(p + 4 * idx));
  const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * idx));
  if (dt == DIF__DTYPE_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The weight at element idx, widened exactly. */
static inline __attribute__((always_inline)) float dif__few_load1(dif__dtype dt, const void *w,
                                                                  int64_t idx) {
  const char *p = (const char *)w;
  if (dt == DIF__DTYPE_F32) {
    float f;
    memcpy(&f, p + 4 * idx, sizeof f);
    return f;
  }
  uint16_t h;
  memcpy(&h, p + 2 * idx, sizeof h);
  return dt == DIF__DTYPE_F16 ? _cvtsh_ss(h) : dif__bf16_to_float(h);
}

#endif
