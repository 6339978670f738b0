/* attn_f32.c — the fused float32 attention's (attn_f32.h) choice of build
 * and its baseline build: attn_f32_impl.h over vmath.h's 4-lane vectors
 * (SSE2 on x86-64), what the tests run on every CPU. */
#include "core/attn_f32.h"

#include <stdio.h>

#include "core/attn_fused.h"
#include "core/blas.h"
#include "core/kern_simd.h"

bool dif__attn_f32_fits(const dif__attention_params *p) { return dif__attn_fused_fits(p); }

static const char *const build_names[DIF__ATTN_F32_BUILDS] = {"baseline", "16 lanes, portable",
                                                              "AVX2", "AVX-512"};

const char *dif__attn_f32_build_name(dif__attn_f32_build b) {
  return (unsigned)b < DIF__ATTN_F32_BUILDS ? build_names[b] : "unknown";
}

static bool why_not(char *why, size_t size, const char *msg) {
  if (why && size) snprintf(why, size, "%s", msg);
  return false;
}

bool dif__attn_f32_runs(dif__attn_f32_build b, char *why, size_t size) {
  switch (b) {
  case DIF__ATTN_F32_BASE:
  case DIF__ATTN_F32_WIDE:
#if defined(__GNUC__)
    return true;
#else
    return why_not(why, size, "needs GCC or Clang (vector extensions)");
#endif
  case DIF__ATTN_F32_AVX2:
#if defined(DIF_HAVE_AVX2_KERNELS)
    return dif__simd_level() > 0 ||
           why_not(why, size, "the CPU has no AVX2 + FMA (or DIF_MAX_CPU_ISA caps it)");
#else
    return why_not(why, size, "this build has no AVX2 kernels (compiler or target)");
#endif
  case DIF__ATTN_F32_AVX512:
#if defined(DIF_HAVE_AVX512_KERNELS)
    return (dif__simd_level() > 0 && dif__cpu_isa() >= DIF__ISA_AVX512) ||
           why_not(why, size, "the CPU has no AVX-512 (or DIF_MAX_CPU_ISA caps it)");
#else
    return why_not(why, size, "this build has no AVX-512 kernels (compiler or target)");
#endif
  default: return why_not(why, size, "no such build");
  }
}

dif__attn_f32_build dif__attn_f32_native(void) {
  if (dif__attn_f32_runs(DIF__ATTN_F32_AVX512, NULL, 0)) return DIF__ATTN_F32_AVX512;
  if (dif__attn_f32_runs(DIF__ATTN_F32_AVX2, NULL, 0)) return DIF__ATTN_F32_AVX2;
  return DIF__ATTN_F32_BASE;
}

bool dif__attn_f32_taken(void) {
  return dif__attn_f32_runs(DIF__ATTN_F32_AVX2, NULL, 0) &&
         (dif__cpu_isa() < DIF__ISA_AVX512 || dif__cpu_avx512_split()) && dif__attn_fused_enabled();
}

dif_status dif__attn_f32(const dif__kctx *k, const dif__attention_params *p, const float *q,
                         const float *kk, const float *v, float *out, dif__attn_f32_build b,
                         dif__error *err) {
  if (!k || !k->arena || !dif__attn_f32_fits(p) || !q || !kk || !v || !out ||
      (unsigned)b >= DIF__ATTN_F32_BUILDS)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "fused float32 attention: NULL argument, a mask, causal, a scale <= 0, a "
                     "head dimension over %d or no such build",
                     DIF__ATTN_FUSED_DIM_MAX);
  char why[128];
  if (!dif__attn_f32_runs(b, why, sizeof why))
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "fused float32 attention's %s build: %s",
                     dif__attn_f32_build_name(b), why);
  if (p->tq == 0) return DIF_OK;
  switch (b) {
#if defined(DIF_HAVE_AVX512_KERNELS)
  case DIF__ATTN_F32_AVX512: return dif__attn_f32_run_avx512(k, p, q, kk, v, out, err);
#endif
#if defined(DIF_HAVE_AVX2_KERNELS)
  case DIF__ATTN_F32_AVX2: return dif__attn_f32_run_avx2(k, p, q, kk, v, out, err);
#endif
  case DIF__ATTN_F32_WIDE: return dif__attn_f32_run_wide(k, p, q, kk, v, out, err);
  default: return dif__attn_f32_run_base(k, p, q, kk, v, out, err);
  }
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
