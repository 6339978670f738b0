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
/* VMAXPS returns its second operand where either is NaN: a NaN x leaves m. */
static inline dif__vf16 af_max16(dif__vf16 x, dif__vf16 m) {
  return (dif__vf16)_mm512_max_ps((__m512)x, (__m512)m);
}
static inline float af_hmax16(dif__vf16 v) { return _mm512_reduce_max_ps((__m512)v); }
static inline float af_hsum16(dif__vf16 v) { return _mm512_reduce_add_ps((__m512)v); }
/* 2^t: t raised to DIF__EXP2_LO (VMAXPS returns its second operand, t, when
 * t is NaN, so NaN stays NaN), n = t rounded to nearest, 2^(t - n) by
 * vmath.h's polynomial, scaled by 2^n in VSCALEFPS (0 below 2^-149). */
static inline dif__vf16 af_exp2(dif__vf16 t) {
  const __m512 x = _mm512_max_ps(_mm512_set1_ps(DIF__EXP2_LO), (__m512)t);
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(DIF__EXP2_C5), f, _mm512_set1_ps(DIF__EXP2_C4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(DIF__EXP2_C3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(DIF__EXP2_C2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(DIF__EXP2_C1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(DIF__EXP2_C0));
  return (dif__vf16)_mm512_scalef_ps(p, n);
}

#endif
