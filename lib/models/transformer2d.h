/* transformer2d.h — diffusers' Transformer2DModel with BasicTransformerBlocks,
 * as the SD-1.x/2.x and Stable unCLIP UNets use it.
 *
 * x → GroupNorm(eps 1e-6) → proj_in (1×1 conv, SD-1.x, or Linear on tokens,
 * SD-2.x: use_linear_projection) → tokens (B, HW, inner) → blocks → proj_out
 * → + x. Block: h += attn1(LN1(h)); h += attn2(LN2(h), context);
 * h += ff(LN3(h)) with ff = Linear(GEGLU(inner → 4·inner)). With
 * only_cross_attention (the x4 upscaler) attn1 attends to the context too.
 */
#ifndef DIF__MODELS_TRANSFORMER2D_H
#define DIF__MODELS_TRANSFORMER2D_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ops.h"
#include "models/attention.h"

#define DIF__T2D_MAX_BLOCKS 16

typedef struct dif__t2d_block {
  const float *ln1_w, *ln1_b, *ln2_w, *ln2_b, *ln3_w, *ln3_b;
  dif__attn attn1, attn2;
  dif__weight ff1_w, ff2_w;
  const float *ff1_b, *ff2_b;
} dif__t2d_block;

typedef struct dif__t2d {
  int64_t channels, inner, heads, head_dim, ctx_dim, groups, ff_inner;
  bool linear_proj, only_cross;
  int n_blocks;
  dif__weight proj_in_w, proj_out_w;
  const float *norm_w, *norm_b, *proj_in_b, *proj_out_b;
  dif__t2d_block blocks[DIF__T2D_MAX_BLOCKS];
} dif__t2d;

void dif__t2d_load(dif__t2d *t, dif__wloader *wl, const char *prefix, int64_t channels,
                   int64_t heads, int64_t head_dim, int64_t ctx_dim, int64_t groups, int n_blocks,
                   bool linear_proj, bool only_cross);

/* y[B, C, H, W] = transformer(x[B, C, H, W], context[B, S, ctx_dim]); y may
 * be x (in place). No NCHW ↔ tokens copies: proj_in and proj_out are GEMMs
 * with a transposed operand, and every residual add is a GEMM's
 * accumulation. */
dif_status dif__t2d_forward(const dif__t2d *t, const dif__kctx *k, const float *x, int64_t B,
                            int64_t H, int64_t W, const float *context, int64_t S, float *y,
                            dif__error *err);
/* The same on channels-last x and y [B, H, W, C] (dif__kctx.channels_last):
 * the pixels are proj_in's token rows as they lie, and proj_out accumulates
 * onto y's rows. */
dif_status dif__t2d_forward_cl(const dif__t2d *t, const dif__kctx *k, const float *x, int64_t B,
                               int64_t H, int64_t W, const float *context, int64_t S, float *y,
                               dif__error *err);

#endif
