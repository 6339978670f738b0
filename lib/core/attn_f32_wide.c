/* attn_f32_wide.c — the fused float32 attention (attn_f32.h) over vmath.h's
 * vectors of 16 lanes compiled for the baseline target: the AVX-512 build's
 * micro-tiles, padding and sums (attn_f32_impl.h with DIF__VW 16), lowered
 * by the compiler to the target's own vectors, so that the tests check that
 * build's layout on every CPU (test-attn-f32). Never taken by a model. */
#include "core/attn_f32.h"

#if defined(__GNUC__)

#define DIF__VMATH_W 16
#define DIF__K(name) name##_wide
#include "core/attn_f32_impl.h"

#else

dif_status dif__attn_f32_run_wide(const dif__kctx *k, const dif__attention_params *p,
                                  const float *q, const float *kk, const float *v, float *out,
                                  dif__error *err) {
  (void)k, (void)p, (void)q, (void)kk, (void)v, (void)out;
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "fused float32 attention: needs GCC or Clang");
}

#endif
