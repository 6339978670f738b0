/* attn_fused_lanes_c.h — the float lanes of the fused attention's portable
 * builds (attn_fused.c, attn_fused_tiles_model.c): attn_fused_impl.h's af_*
 * operations in plain C (GCC/Clang vector extensions for the float lanes),
 * with VDPBF16PS and VCVTNEPS2BF16 modelled lane by lane. Included once by
 * each portable build, before attn_fused_impl.h.
 */
#ifndef DIF__CORE_ATTN_FUSED_LANES_C_H
#define DIF__CORE_ATTN_FUSED_LANES_C_H

#include <stdint.h>
#include <string.h>

#include "core/dtype.h"

/* 64-byte vectors passed between static inline functions of one file: no
 * ABI is crossed, so the compilers' note about the AVX-512 calling
 * convention is moot (GCC and Clang both take this pragma). */
#pragma GCC diagnostic ignored "-Wpsabi"

#define DIF__VMATH_16
#include "core/vmath.h"

typedef float af_v __attribute__((vector_size(64)));
typedef uint32_t af_w __attribute__((vector_size(64)));

static inline af_v af_zero(void) { return (af_v){0}; }
static inline af_v af_loadv(const float *p) {
  af_v v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void af_storev(float *p, af_v v) { memcpy(p, &v, sizeof v); }
static inline af_w af_loadw(const uint32_t *p) {
  af_w w;
  memcpy(&w, p, sizeof w);
  return w;
}
static inline af_w af_bcastw(uint32_t x) { return (af_w){0} + x; }
/* VDPBF16PS lane by lane (Intel's order: the odd, high product first). The
 * products of two bf16 values are exact in float32, so only the two sums
 * round, as in the instruction (which also flushes subnormals: not modelled,
 * it changes nothing above 2^-126). */
static inline af_v af_dp(af_v acc, af_w a, af_w b) {
  for (int i = 0; i < 16; i++) {
    const float t = acc[i] + dif__bf16_to_float((uint16_t)(a[i] >> 16)) *
                                 dif__bf16_to_float((uint16_t)(b[i] >> 16));
    acc[i] = t + dif__bf16_to_float((uint16_t)a[i]) * dif__bf16_to_float((uint16_t)b[i]);
  }
  return acc;
}
static inline void af_cvt16(uint16_t *d, dif__vf16 v) {
  for (int i = 0; i < 16; i++) d[i] = dif__bf16_rne(v[i]);
}
static inline dif__vf16 af_max16(dif__vf16 x, dif__vf16 m) {
  const dif__vi16 gt = x > m;
  return (dif__vf16)((gt & (dif__vi16)x) | (~gt & (dif__vi16)m));
}
static inline float af_hmax16(dif__vf16 v) {
  float r = v[0];
  for (int i = 1; i < 16; i++) r = v[i] > r ? v[i] : r;
  return r;
}
static inline float af_hsum16(dif__vf16 v) {
  float r = 0.0f;
  for (int i = 0; i < 16; i++) r += v[i];
  return r;
}
/* 2^t as the native builds compute it (attn_fused_lanes_avx512.h): t raised
 * to DIF__EXP2_LO (NaN stays NaN), n = t rounded to nearest (adding 1.5·2^23
 * leaves it in the low mantissa bits), 2^(t - n) by vmath.h's polynomial,
 * times 2^n built in the exponent field — 0 where 2^n is not a normal float,
 * where VSCALEFPS gives a subnormal below 1.2e-38 (nothing the bound sees). */
static inline dif__vf16 af_exp2(dif__vf16 t) {
  const dif__vi16 low = t < DIF__EXP2_LO;
  t = (dif__vf16)((low & (dif__vi16)((dif__vf16){0} + DIF__EXP2_LO)) | (~low & (dif__vi16)t));
  const dif__vf16 shifted = t + 12582912.0f;
  const dif__vf16 f = t - (shifted - 12582912.0f);
  dif__vf16 p = DIF__EXP2_C5 * f + DIF__EXP2_C4;
  p = p * f + DIF__EXP2_C3;
  p = p * f + DIF__EXP2_C2;
  p = p * f + DIF__EXP2_C1;
  p = p * f + DIF__EXP2_C0;
  const af_w n = (af_w)shifted - 0x4B400000u; /* n modulo 2^32 */
  const af_w normal = (af_w)((dif__vi16)n >= -126);
  return p * (dif__vf16)(((n + 127u) << 23) & normal);
}

#endif
