/* attn_f32.h — fused float32 attention for the precision `exact` (flash
 * attention in float32, libdif's own kernel: neither OpenBLAS nor Debian's
 * oneDNN 2.6 has a fused attention).
 *
 * The exact path's attention otherwise runs as two cblas_sgemm calls per head
 * and query slice (Q·Kᵀ with a depth of 64, P·V) around a softmax that
 * streams a [slice, tk] score matrix through memory: on an AVX2-only CPU
 * (Zen 3) that was 29 % of a 512² UNet step at 61 % of sgemm's rate
 * (docs/performance.md). This kernel computes the same float32 attention in
 * one pass per task of 48 queries of one head: Q·Kᵀ and P·V in register
 * micro-tiles, an online softmax over key blocks of 256 in between
 * (attn_f32_impl.h), every sum in float32 except the rows' sums of
 * exponentials (double, as the unfused softmax). Its results differ from the
 * unfused path's by float32 summation order only, and do not depend on the
 * number of threads (a row's result is one task's).
 *
 * Builds of one source, as core/kern_simd.h, four of them
 * (dif__attn_f32_build): 16-lane AVX-512F + FMA (attn_f32_avx512.c:
 * micro-tiles of 6 rows × 32 keys, twice the AVX2 build's width), which
 * exact takes where it takes the kernel on an AVX-512 CPU; the AVX2 + FMA
 * one (attn_f32_avx2.c) on AVX2 CPUs; the baseline one (attn_f32.c, 4
 * lanes) and a portable 16-lane one (attn_f32_wide.c: the AVX-512 build's
 * tiles and padding, lowered by the compiler to the target's vectors), run
 * by the tests on every CPU. Only mask-free, non-causal attention with
 * a positive scale and a head dimension up to DIF__ATTN_FUSED_DIM_MAX fits;
 * exact gives it those with a head dimension up to
 * DIF__ATTN_F32_TAKEN_DIM_MAX (the UNet's; the VAE's one head of 512 and the
 * text encoders keep the unfused path).
 */
#ifndef DIF__CORE_ATTN_F32_H
#define DIF__CORE_ATTN_F32_H

#include <stdbool.h>

#include "core/attn_fused.h"
#include "core/ops.h"

/* The largest head dimension exact gives the kernel (dif__attention): it
 * pays where Q·Kᵀ's depth is short for sgemm (head dim 64: 1.6-1.85× the
 * unfused path on Zen 3); on the VAE's one head of 512 the unfused sgemm
 * calls measured as fast or faster (0.21-0.24 against 0.25-0.32 s per 512²
 * decode; docs/performance.md). */
#define DIF__ATTN_F32_TAKEN_DIM_MAX 160

/* Whether p is an attention the kernel takes (attn_fused.h's rule). */
bool dif__attn_f32_fits(const dif__attention_params *p);

/* The kernel's builds (attn_f32_impl.h over vmath.h's lanes). */
typedef enum dif__attn_f32_build {
  DIF__ATTN_F32_BASE,   /* 4 lanes, portable (SSE2 on x86-64) */
  DIF__ATTN_F32_WIDE,   /* 16 lanes, portable: the AVX-512 build's tiles on any CPU */
  DIF__ATTN_F32_AVX2,   /* 8 lanes, AVX2 + FMA */
  DIF__ATTN_F32_AVX512, /* 16 lanes, AVX-512F + FMA */
  DIF__ATTN_F32_BUILDS
} dif__attn_f32_build;

/* "baseline", "16 lanes, portable", "AVX2", "AVX-512": how logs and
 * dif_context_info name a build. */
const char *dif__attn_f32_build_name(dif__attn_f32_build b);

/* Whether build b runs here: compiled in (the portable ones with GCC or
 * Clang; the native ones on x86-64), and the CPU (under DIF_MAX_CPU_ISA)
 * has its instructions; else false and why in why (may be NULL). */
bool dif__attn_f32_runs(dif__attn_f32_build b, char *why, size_t size);

/* The native build exact takes where it takes the kernel: AVX-512 where
 * that runs, else AVX2 (BASE when neither runs). */
dif__attn_f32_build dif__attn_f32_native(void);

/* Whether exact's attentions that fit take the kernel (its native build)
 * here: an AVX2 build runs, and either the CPU (under DIF_MAX_CPU_ISA) has
 * no AVX-512 or its AVX-512 is split into 256-bit halves
 * (dif__cpu_avx512_split: Zen 4, where the AVX2 build measured 1.1-1.4×
 * OpenBLAS's AVX-512 sgemm + softmax alone, 17 % less attention time per
 * 512² UNet step, and the AVX-512 build 5-20 % less than the AVX2 one;
 * docs/performance.md); other AVX-512 CPUs (Intel's, two full-width FMA
 * units) keep sgemm until the AVX-512 build is measured there
 * (bench/issue15-check), and DIF_FUSED_ATTENTION is not "unfused". */
bool dif__attn_f32_taken(void);

/* dif__attention's contract for an attention that fits (out may be q),
 * computed by build b. k needs an arena; k->fast is not read.
 * Errors: DIF_ERR_INVALID_ARGUMENT (NULL, does not fit, b out of range),
 * DIF_ERR_UNSUPPORTED (b does not run here: dif__attn_f32_runs says why),
 * DIF_ERR_OUT_OF_MEMORY for the packed K and V (about 8·tk·heads·dim
 * bytes) and at most 250 KiB per thread (head dim 512). */
dif_status dif__attn_f32(const dif__kctx *k, const dif__attention_params *p, const float *q,
                         const float *kk, const float *v, float *out, dif__attn_f32_build b,
                         dif__error *err);

/* The builds (attn_f32_impl.h); call dif__attn_f32 instead. */
#define DIF__ATTN_F32_RUN_DECL(suffix)                                                             \
  dif_status dif__attn_f32_run_##suffix(const dif__kctx *k, const dif__attention_params *p,        \
                                        const float *q, const float *kk, const float *v,           \
                                        float *out, dif__error *err)
DIF__ATTN_F32_RUN_DECL(base);
DIF__ATTN_F32_RUN_DECL(wide);
DIF__ATTN_F32_RUN_DECL(avx2);
DIF__ATTN_F32_RUN_DECL(avx512);

#endif
