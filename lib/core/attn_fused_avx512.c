/* attn_fused_avx512.c — the fused bf16 attention (attn_fused.h) built for
 * AVX512-BF16: VDPBF16PS dot products on bf16 pairs, VCVTNEPS2BF16 rounding.
 * CMake compiles this file with -mavx512f -mavx512bf16 on x86-64 when the
 * compiler takes them (and defines DIF_HAVE_AVX512BF16_KERNELS); elsewhere
 * it is empty. Only called after attn_fused.c has checked the CPU.
 */
#include "core/attn_fused.h"

#if defined(DIF_HAVE_AVX512BF16_KERNELS) && defined(__AVX512BF16__)

#include <immintrin.h>

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

#define AF(name) name##_avx512bf16
#include "core/attn_fused_impl.h"

#else

typedef int dif__attn_fused_avx512_empty; /* ISO C forbids an empty translation unit */

#endif
