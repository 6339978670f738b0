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
 * block of 64 queries and 512 keys, S is a [64, 512] tile in cache, the
 * running row maximum m and sum l rescale the partial output O when m grows,
 * and P is exp(S - m) at the running m (so its bf16 rounding is relative to
 * that maximum instead of the row's final one: the same relative rounding,
 * 2^-8). K and V of every head are packed once per call into the pair layout
 * the dot products read.
 *
 * Builds of one source (attn_fused_impl.h), as core/kern_simd.h does:
 * - AVX512-BF16 (attn_fused_avx512.c): Q·Kᵀ and P·V in `vdpbf16ps`
 *   micro-tiles of 4 query rows by 64 keys or columns, run where the CPU has it (Zen 4, Cooper
 *   Lake, Sapphire Rapids and later);
 * - AMX (attn_fused_amx.c): the two products in AMX tiles (`tdpbf16ps` on
 *   16 × 32 bf16 by 16 × 16 float32 tiles, 2 × 2 of them per step), the
 *   softmax in AVX512-BF16 as above; run where the CPU has AMX-BF16 and the
 *   OS lets the process use tile data (Sapphire / Emerald Rapids and later);
 * - their portable models (attn_fused.c, attn_fused_tiles_model.c): the same
 *   kernels with the instructions modelled in plain C — `vdpbf16ps` and
 *   `vcvtneps2bf16` lane by lane, the tile registers, their configuration
 *   and `tdpbf16ps` as Intel describes them — so the tests check the
 *   algorithm and the tile layout on every CPU, and each native build
 *   against a reference where it runs.
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
  DIF__ATTN_FUSED_PORTABLE = 0, /* vdpbf16ps modelled in C: any CPU (tests) */
  DIF__ATTN_FUSED_TILES_MODEL,  /* the AMX build, tiles modelled in C: any CPU (tests) */
  DIF__ATTN_FUSED_AVX512BF16,   /* native: vdpbf16ps */
  DIF__ATTN_FUSED_AMX,          /* native: AMX tiles */
} dif__attn_fused_isa;

/* Whether p is an attention the kernel takes: no mask, not causal, a
 * positive scale, dim <= DIF__ATTN_FUSED_DIM_MAX. */
bool dif__attn_fused_fits(const dif__attention_params *p);

/* Whether this CPU, OS and build run the given build; if not, why says why
 * in a sentence (why may be NULL). The first question about AMX asks Linux
 * for the permission to use tile data. Thread-safe. */
bool dif__attn_fused_runs(dif__attn_fused_isa isa, char *why, size_t why_size);

/* The build the models use here: AMX, else AVX512-BF16, else
 * DIF__ATTN_FUSED_PORTABLE (then they keep the unfused path). The
 * environment variable DIF_FUSED_ATTENTION, read once per process, caps
 * it: "avx512bf16" never takes AMX, "unfused" takes no fused build
 * ("amx" or unset: the best; anything else is ignored). */
dif__attn_fused_isa dif__attn_fused_best(void);
/* What the load log says of DIF_FUSED_ATTENTION ("DIF_FUSED_ATTENTION=avx512bf16:
 * never the AMX build", or that a value was ignored); NULL when unset. */
const char *dif__attn_fused_env_note(void);

/* False where DIF_FUSED_ATTENTION is "unfused": then exact's fused float32
 * attention (attn_f32.h) is not taken either. */
bool dif__attn_fused_enabled(void);

/* Whether a native build runs here (dif__attn_fused_best() is one). */
bool dif__attn_fused_native(void);

/* "AMX", "AVX512-BF16", "portable", "AMX tile model". */
const char *dif__attn_fused_isa_name(dif__attn_fused_isa isa);

/* dif__attention's contract for an attention that fits (out may be q),
 * computed as above with the given build (a native one only where
 * dif__attn_fused_runs). k needs an arena; k->fast is not read.
 * Errors: DIF_ERR_OUT_OF_MEMORY for the packed K/V and per-thread tiles
 * (about 4·tk·heads·dim bytes + at most 400 KiB per thread), DIF_ERR_UNSUPPORTED for
 * a build this CPU, OS or build does not run (the message says which and why). */
dif_status dif__attn_fused(const dif__kctx *k, const dif__attention_params *p, const float *q,
                           const float *kk, const float *v, float *out, dif__attn_fused_isa isa,
                           dif__error *err);

/* The builds (attn_fused_impl.h); call dif__attn_fused instead. */
dif_status dif__attn_fused_portable(const dif__kctx *k, const dif__attention_params *p,
                                    const float *q, const float *kk, const float *v, float *out,
                                    dif__error *err);
dif_status dif__attn_fused_avx512bf16(const dif__kctx *k, const dif__attention_params *p,
                                      const float *q, const float *kk, const float *v, float *out,
                                      dif__error *err);
dif_status dif__attn_fused_tiles_model(const dif__kctx *k, const dif__attention_params *p,
                                       const float *q, const float *kk, const float *v, float *out,
                                       dif__error *err);
dif_status dif__attn_fused_amx(const dif__kctx *k, const dif__attention_params *p, const float *q,
                               const float *kk, const float *v, float *out, dif__error *err);

#endif
