/* kern_simd_avx2.c — the kern_simd.h kernels built for AVX2 + FMA. CMake
 * compiles this file with -mavx2 -mfma -ffp-contract=fast on x86-64 (and
 * defines DIF_HAVE_AVX2_KERNELS); elsewhere it is empty. Only called after
 * kern_simd.c has checked the CPU. */
#include "core/kern_simd.h"

#if defined(DIF_HAVE_AVX2_KERNELS) && defined(__AVX2__) && defined(__FMA__)

#define DIF__K(name) name##_avx2
#define DIF__K_LINKAGE
#include "core/kern_simd_impl.h"

#else

typedef int dif__kern_simd_avx2_empty; /* ISO C forbids an empty translation unit */

#endif
