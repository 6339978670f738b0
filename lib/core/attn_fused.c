/* attn_fused.c — the fused bf16 attention's choice of build and its portable
 * build: attn_fused_impl.h with VDPBF16PS and VCVTNEPS2BF16 modelled in
 * plain C (GCC/Clang vector extensions for the float lanes). It is what the
 * tests run on every CPU; the models use the native build
 * (attn_fused_avx512.c) and keep the unfused path where it does not run.
 */
#include "core/attn_fused.h"

#include <string.h>

bool dif__attn_fused_fits(const dif__attention_params *p) {
  return p && !p->mask && !p->causal && p->scale > 0.0f && p->dim >= 1 &&
         p->dim <= DIF__ATTN_FUSED_DIM_MAX;
}

bool dif__attn_fused_native(void) {
#if defined(DIF_HAVE_AVX512BF16_KERNELS)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

dif_status dif__attn_fused(const dif__kctx *k, const dif__attention_params *p, const float *q,
                           const float *kk, const float *v, float *out, dif__attn_fused_isa isa,
                           dif__error *err) {
  if (!k || !k->arena || !dif__attn_fused_fits(p) || !q || !kk || !v || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "fused attention: NULL argument, a mask, causal, a scale <= 0 or a head "
                     "dimension over %d",
                     DIF__ATTN_FUSED_DIM_MAX);
  if (p->tq == 0) return DIF_OK;
  if (isa == DIF__ATTN_FUSED_AVX512BF16) {
#if defined(DIF_HAVE_AVX512BF16_KERNELS)
    if (dif__attn_fused_native()) return dif__attn_fused_avx512bf16(k, p, q, kk, v, out, err);
#endif
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "fused attention: this CPU or build has no AVX512-BF16");
  }
  return dif__attn_fused_portable(k, p, q, kk, v, out, err);
}

#if defined(__GNUC__)

#include "core/dtype.h"

/* 64-byte vectors passed between static inline functions of this file: no
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

#define AF(name) name##_portable
#include "core/attn_fused_impl.h"

#else

dif_status dif__attn_fused_portable(const dif__kctx *k, const dif__attention_params *p,
                                    const float *q, const float *kk, const float *v, float *out,
                                    dif__error *err) {
  (void)k, (void)p, (void)q, (void)kk, (void)v, (void)out;
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "fused attention: needs GCC or Clang");
}

#endif
