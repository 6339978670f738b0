/* attn_f32_avx2.c — the fused float32 attention (attn_f32.h) built for AVX2
 * + FMA. CMake compiles this file with -mavx2 -mfma -ffp-contract=fast on
 * x86-64 (and defines DIF_HAVE_AVX2_KERNELS); elsewhere it is empty. Only
 * called after attn_f32.c has checked the CPU. */
#include "core/attn_f32.h"

#if defined(DIF_HAVE_AVX2_KERNELS) && defined(__AVX2__) && defined(__FMA__)

#define DIF__K(name) name##_avx2
#include "core/attn_f32_impl.h"

#else

typedef int dif__attn_f32_avx2_empty; /* ISO C forbids an empty translation unit */

#endif
