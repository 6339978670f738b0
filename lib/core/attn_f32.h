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
 * Builds of one source, as core/kern_simd.h: the AVX2 + FMA one
 * (attn_f32_avx2.c), which the models take; the baseline one (attn_f32.c),
 * run by the tests on every CPU. Only mask-free, non-causal attention with
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

/* Whether the AVX2 + FMA build runs here: in this build, and the CPU (under
 * DIF_MAX_CPU_ISA) has AVX2 and FMA. */
bool dif__attn_f32_native_runs(void);

/* Whether exact's attentions that fit take the AVX2 build here: the build
 * has it, the CPU (under DIF_MAX_CPU_ISA) runs AVX2 + FMA, and either not
 * AVX-512 or AVX-512 split into 256-bit halves (dif__cpu_avx512_split: Zen
 * 4, where it measured 1.1-1.4× OpenBLAS's AVX-512 sgemm + softmax alone
 * and 17 % less attention time per 512² UNet step; docs/performance.md);
 * other AVX-512 CPUs keep sgemm (OpenBLAS's AVX-512 kernels have twice the
 * AVX2 kernel's FMA rate on Intel; unmeasured), and DIF_FUSED_ATTENTION is
 * not "unfused". */
bool dif__attn_f32_taken(void);

/* dif__attention's contract for an attention that fits (out may be q),
 * computed by the AVX2 + FMA build (native; only where the CPU has AVX2 and
 * FMA) or the baseline build. k needs an arena; k->fast is not read.
 * Errors: DIF_ERR_INVALID_ARGUMENT (NULL, does not fit), DIF_ERR_UNSUPPORTED
 * (native where this build or CPU has no AVX2 + FMA; a compiler without
 * vector extensions), DIF_ERR_OUT_OF_MEMORY for the packed K and V (about
 * 8·tk·heads·dim bytes) and at most 250 KiB per thread (head dim 512). */
dif_status dif__attn_f32(const dif__kctx *k, const dif__attention_params *p, const float *q,
                         const float *kk, const float *v, float *out, bool native, dif__error *err);

/* The builds (attn_f32_impl.h); call dif__attn_f32 instead. */
dif_status dif__attn_f32_run_base(const dif__kctx *k, const dif__attention_params *p,
                                  const float *q, const float *kk, const float *v, float *out,
                                  dif__error *err);
dif_status dif__attn_f32_run_avx2(const dif__kctx *k, const dif__attention_params *p,
                                  const float *q, const float *kk, const float *v, float *out,
                                  dif__error *err);

#endif
