/* attn_fused.h — fused bf16 attention for the precision `fast` (flash
 * attention on the CPU).
 *
 * The fast path's attention otherwise runs as two library products per head
 * and query slice (oneDNN: Q·Kᵀ and P·V, both operands reordered to bf16 on
 * every call) with a float32 softmax between them that streams a [slice, tk]
 * score matrix through memory: at 768² (9216 tokens) that was 41 % of a fast
 * UNet step (docs/performance.md). Neither OpenBLAS nor Debian's oneDNN 2.6
 * has a fused attention, so this is libdif's own kernel.
 *
 * What it computes is what the unfused fast path computes: Q, K and V rounded
 * to bf16 (dtype.h's rule), S = scale·Q·Kᵀ accumulated in float32 by bf16
 * dot products, a float32 softmax, the probabilities rounded to bf16 for P·V
 * (float32 accumulation). The keys go in blocks with an online softmax
 * (Milakov & Gimelshein 2018; Dao et al. 2022, flash attention): for each
 * block of 64 queries and 256 keys, S is a [64, 256] tile in cache, the
 * running row maximum m and sum l rescale the partial output O when m grows,
 * and P is exp(S - m) at the running m (so its bf16 rounding is relative to
 * that maximum instead of the row's final one: the same relative rounding,
 * 2^-8). K and V of every head are packed once per call into the pair layout
 * the dot products read.
 *
 * Two builds of one source (attn_fused_impl.h), as core/kern_simd.h does:
 * - native: AVX512-BF16 (`vdpbf16ps`, `vcvtneps2bf16`) in
 *   attn_fused_avx512.c, run where the CPU has it (Zen 4, Cooper Lake,
 *   Sapphire Rapids and later);
 * - portable: the same kernel with both instructions modelled in plain C
 *   (attn_fused.c) — the instructions' rounding in C, so tests check the
 *   algorithm on every CPU and the native build against it where it runs.
 * Only mask-free, non-causal attention (scale > 0) with a head dimension up to
 * DIF__ATTN_FUSED_DIM_MAX takes this kernel (the UNet's and the VAE's; the
 * text encoder and the prior keep the unfused path).
 */
#ifndef DIF__CORE_ATTN_FUSED_H
#define DIF__CORE_ATTN_FUSED_H

#include <stdbool.h>

#include "core/ops.h"

#define DIF__ATTN_FUSED_DIM_MAX 512 /* the VAE's one head of 512 channels */

typedef enum dif__attn_fused_isa {
  DIF__ATTN_FUSED_PORTABLE = 0, /* the plain-C model: any CPU (tests) */
  DIF__ATTN_FUSED_AVX512BF16,   /* the native build */
} dif__attn_fused_isa;

/* Whether p is an attention the kernel takes: no mask, not causal, a
 * positive scale, dim <= DIF__ATTN_FUSED_DIM_MAX. */
bool dif__attn_fused_fits(const dif__attention_params *p);

/* Whether this CPU (and build) runs the native kernel. Thread-safe. */
bool dif__attn_fused_native(void);

/* dif__attention's contract for an attention that fits (out may be q),
 * computed as above with the given build (DIF__ATTN_FUSED_AVX512BF16 only
 * where dif__attn_fused_native()). k needs an arena; k->fast is not read.
 * Errors: DIF_ERR_OUT_OF_MEMORY for the packed K/V and per-thread tiles
 * (about 4·tk·heads·dim bytes + at most 300 KiB per thread), DIF_ERR_UNSUPPORTED for
 * an isa this build or CPU does not run. */
dif_status dif__attn_fused(const dif__kctx *k, const dif__attention_params *p, const float *q,
                           const float *kk, const float *v, float *out, dif__attn_fused_isa isa,
                           dif__error *err);

/* The two builds (attn_fused_impl.h); call dif__attn_fused instead. */
dif_status dif__attn_fused_portable(const dif__kctx *k, const dif__attention_params *p,
                                    const float *q, const float *kk, const float *v, float *out,
                                    dif__error *err);
dif_status dif__attn_fused_avx512bf16(const dif__kctx *k, const dif__attention_params *p,
                                      const float *q, const float *kk, const float *v, float *out,
                                      dif__error *err);

#endif
