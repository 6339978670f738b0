/* attn_fused_avx512.c — the fused bf16 attention (attn_fused.h) built for
 * AVX512-BF16: VDPBF16PS dot products on bf16 pairs, VCVTNEPS2BF16 rounding.
 * CMake compiles this file with -mavx512f -mavx512bf16 on x86-64 when the
 * compiler takes them (and defines DIF_HAVE_AVX512BF16_KERNELS); elsewhere
 * it is empty. Only called after attn_fused.c has checked the CPU.
 */
#include "core/attn_fused.h"

#if defined(DIF_HAVE_AVX512BF16_KERNELS) && defined(__AVX512BF16__)

#include "core/attn_fused_lanes_avx512.h"

#define AF(name) name##_avx512bf16
#include "core/attn_fused_impl.h"

#else

typedef int dif__attn_fused_avx512_empty; /* ISO C forbids an empty translation unit */

#endif
