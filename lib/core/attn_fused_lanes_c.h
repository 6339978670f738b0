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

#endif
