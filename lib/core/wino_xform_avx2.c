/* wino_xform_avx2.c — the openblas backend's Winograd transforms
 * (core/wino_xform_impl.h) built for AVX2 + FMA. CMake compiles this file
 * with -mavx2 -mfma -ffp-contract=fast on x86-64 (and defines
 * DIF_HAVE_AVX2_KERNELS); elsewhere it is empty. Only called where
 * kern_simd.h picked its AVX2 build (dif__simd_level). */
#include "core/backend_openblas_wino.h"

#if defined(DIF_HAVE_AVX2_KERNELS) && defined(__AVX2__) && defined(__FMA__)

#define DIF__WX(name) dif__ob_wino_##name##_avx2
#define DIF__WX_LINKAGE
#include "core/wino_xform_impl.h"

#else

typedef int dif__wino_xform_avx2_empty; /* ISO C forbids an empty translation unit */

#endif
