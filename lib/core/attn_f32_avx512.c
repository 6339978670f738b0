/* attn_f32_avx512.c — the fused float32 attention (attn_f32.h) built for
 * AVX-512F + FMA: vmath.h's vectors of 16 lanes, micro-tiles of 6 query
 * rows × 32 keys or columns (attn_f32_impl.h). CMake compiles this file
 * with -mavx512f -mfma -ffp-contract=fast on x86-64 where the compiler
 * takes them (and defines DIF_HAVE_AVX512_KERNELS); elsewhere it is empty.
 * Only called after attn_f32.c has checked the CPU. */
#include "core/attn_f32.h"

#if defined(DIF_HAVE_AVX512_KERNELS) && defined(__AVX512F__) && defined(__FMA__)

#define DIF__VMATH_W 16
#define DIF__K(name) name##_avx512
#include "core/attn_f32_impl.h"

#else

typedef int dif__attn_f32_avx512_empty; /* ISO C forbids an empty translation unit */

#endif
