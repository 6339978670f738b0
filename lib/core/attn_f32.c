/* attn_f32.c — the fused float32 attention's (attn_f32.h) choice of build
 * and its baseline build: attn_f32_impl.h over vmath.h's 4-lane vectors
 * (SSE2 on x86-64), what the tests run on every CPU. */
#include "core/attn_f32.h"

#include "core/attn_fused.h"
#include "core/blas.h"
#include "core/kern_simd.h"

bool dif__attn_f32_fits(const dif__attention_params *p) { return dif__attn_fused_fits(p); }

bool dif__attn_f32_native_runs(void) {
#if defined(DIF_HAVE_AVX2_KERNELS)
  return dif__simd_level() > 0;
#else
  return false;
#endif
}

bool dif__attn_f32_taken(void) {
  return dif__attn_f32_native_runs() &&
         (dif__cpu_isa() < DIF__ISA_AVX512 || dif__cpu_avx512_split()) && dif__attn_fused_enabled();
}

dif_status dif__attn_f32(const dif__kctx *k, const dif__attention_params *p, const float *q,
                         const float *kk, const float *v, float *out, bool native,
                         dif__error *err) {
  if (!k || !k->arena || !dif__attn_f32_fits(p) || !q || !kk || !v || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "fused float32 attention: NULL argument, a mask, causal, a scale <= 0 or a "
                     "head dimension over %d",
                     DIF__ATTN_FUSED_DIM_MAX);
  if (p->tq == 0) return DIF_OK;
#if defined(DIF_HAVE_AVX2_KERNELS)
  if (native) {
    if (dif__simd_level() > 0) return dif__attn_f32_run_avx2(k, p, q, kk, v, out, err);
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "fused float32 attention's AVX2 build: the CPU has no AVX2 + FMA (or "
                     "DIF_MAX_CPU_ISA caps it)");
  }
#else
  if (native)
    return dif__fail(
        err, DIF_ERR_UNSUPPORTED,
        "fused float32 attention: this build has no AVX2 kernels (compiler or target)");
#endif
  return dif__attn_f32_run_base(k, p, q, kk, v, out, err);
}

#if defined(__GNUC__)

#define DIF__K(name) name##_base
#include "core/attn_f32_impl.h"

#else

dif_status dif__attn_f32_run_base(const dif__kctx *k, const dif__attention_params *p,
                                  const float *q, const float *kk, const float *v, float *out,
                                  dif__error *err) {
  (void)k, (void)p, (void)q, (void)kk, (void)v, (void)out;
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "fused float32 attention: needs GCC or Clang");
}

#endif
