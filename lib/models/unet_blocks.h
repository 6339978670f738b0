/* unet_blocks.h — the UNet forward pass in parts: the blocks dif_unet_forward
 * runs in order, for a network that drives them itself (a ControlNet or a
 * T2I adapter adding residuals between them, an inpainting UNet).
 *
 *   dif_unet_embed          time (+ class) embedding, after SiLU → temb_act
 *   dif_unet_conv_in        sample → h; h is the first skip state
 *   dif_unet_down (level)   resnets (+ transformers), downsampler; pushes
 *                           each output as a skip state
 *   dif_unet_mid            resnet, transformer, resnet
 *   dif_unet_add_residuals  the input's optional ControlNet residuals
 *   dif_unet_up (level)     pops its skip states (one per resnet), upsampler
 *   dif_unet_head           GroupNorm, SiLU, conv_out → out
 *
 * The skip states are diffusers' down_block_res_samples, in its order:
 * conv_in's output, then per down level each resnet's (or transformer's)
 * output and the downsampler's. Every buffer comes from k->arena: the caller
 * takes a mark before dif_unet_embed and releases to it after dif_unet_head.
 * Each function returns a status and fills run->err on failure.
 */
#ifndef DIF_MODELS_UNET_BLOCKS_H
#define DIF_MODELS_UNET_BLOCKS_H

#include "models/unet.h"

/* What every block of one forward pass needs. */
typedef struct dif_unet_run {
  const dif_unet *u;
  const dif_kctx *k;
  const dif_unet_input *in;
  dif_error *err;
} dif_unet_run;

/* A feature map [B, C, H, W] (B is the input's batch). */
typedef struct dif_unet_map {
  float *data;
  int64_t C, H, W;
} dif_unet_map;

/* The skip states not yet consumed by the up path, oldest first. */
typedef struct dif_unet_skips {
  dif_unet_map s[DIF_UNET_MAX_SKIPS];
  int n;
} dif_unet_skips;

dif_status dif_unet_embed(const dif_unet_run *r, float **temb_act);
dif_status dif_unet_conv_in(const dif_unet_run *r, dif_unet_map *h, dif_unet_skips *skips);
dif_status dif_unet_down(const dif_unet_run *r, int level, const float *temb_act, dif_unet_map *h,
                         dif_unet_skips *skips);
dif_status dif_unet_mid(const dif_unet_run *r, const float *temb_act, dif_unet_map *h);
/* Where diffusers adds down_block_additional_residuals and
 * mid_block_additional_residual: each non-NULL in->down_residuals[i] onto
 * skip state i, in->mid_residual onto h (the mid block's output). Call after
 * dif_unet_mid: the mid block reads the unchanged last skip state. */
void dif_unet_add_residuals(const dif_unet_run *r, dif_unet_map *h, dif_unet_skips *skips);
dif_status dif_unet_up(const dif_unet_run *r, int level, const float *temb_act, dif_unet_map *h,
                       dif_unet_skips *skips);
dif_status dif_unet_head(const dif_unet_run *r, const dif_unet_map *h, float *out);

#endif
