/* attn_fused_lanes_avx512.h — the float lanes of the fused attention's native
 * builds (attn_fused_avx512.c, attn_fused_amx.c): attn_fused_impl.h's af_*
 * operations on AVX-512 registers, VDPBF16PS and VCVTNEPS2BF16 themselves.
 * Only for files compiled with -mavx512f -mavx512bf16.
 */
#ifndef DIF__CORE_ATTN_FUSED_LANES_AVX512_H
#define DIF__CORE_ATTN_FUSED_LANES_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define DIF__VMATH_16
#include "core/vmath.h"

typedef __m512 af_v;
typedef __m512bh af_w;

static inline af_v af_zero(void) { return _mm512_setzero_ps(); }
static inline af_v af_loadv(const float *p) { return _mm512_loadu_ps(p); }
static inline void af_storev(float *p, af_v v) { _mm512_storeu_ps(p, v); }
static inline af_w af_loadw(const uint32_t *p) { return (af_w)_mm512_loadu_si512(p); }
static inline af_w af_bcastw(uint32_t x) { return (af_w)_mm512_set1_epi32((int)x); }
static inline af_v af_dp(af_v acc, af_w a, af_w b) { return _mm512_dpbf16_ps(acc, a, b); }
static inline void af_cvt16(uint16_t *d, dif__vf16 v) {
  _mm256_storeu_si256((__m256i *)(void *)d, (__m256i)_mm512_cvtneps_pbh((__m512)v));
}

#endif
