/* unet_blocks.h — the UNet forward pass in parts: the blocks dif__unet_forward
 * runs in order, for a network that drives them itself (a ControlNet or a
 * T2I adapter adding residuals between them, an inpainting UNet).
 *
 *   dif__unet_embed          time (+ class) embedding, after SiLU → temb_act
 *   dif__unet_conv_in        sample → h; h is the first skip state
 *   dif__unet_down (level)   resnets (+ transformers), downsampler; pushes
 *                           each output as a skip state
 *   dif__unet_mid            resnet, transformer, resnet
 *   dif__unet_add_residuals  the input's optional ControlNet residuals
 *   dif__unet_up (level)     pops its skip states (one per resnet), upsampler
 *   dif__unet_head           GroupNorm, SiLU, conv_out → out
 *
 * The skip states are diffusers' down_block_res_samples, in its order:
 * conv_in's output, then per down level each resnet's (or transformer's)
 * output and the downsampler's. Every buffer comes from k->arena: the caller
 * takes a mark before dif__unet_embed and releases to it after dif__unet_head.
 * Each function returns a status and fills run->err on failure.
 */
#ifndef DIF__MODELS_UNET_BLOCKS_H
#define DIF__MODELS_UNET_BLOCKS_H

#include "models/unet.h"

/* What every block of one forward pass needs. */
typedef struct dif__unet_run {
  const dif__unet *u;
  const dif__kctx *k;
  const dif__unet_input *in;
  dif__error *err;
  bool cl; /* the maps channels-last, [B, H, W, C] (k->channels_last); hooks see them
            * channels-first */
} dif__unet_run;

/* A feature map [B, C, H, W] (B is the input's batch), or [B, H, W, C]
 * when the run's maps are channels-last (cl). */
typedef struct dif__unet_map {
  float *data;
  int64_t C, H, W;
} dif__unet_map;

/* The skip states not yet consumed by the up path, oldest first. */
typedef struct dif__unet_skips {
  dif__unet_map s[DIF__UNET_MAX_SKIPS];
  int n;
} dif__unet_skips;

dif_status dif__unet_embed(const dif__unet_run *r, float **temb_act);
dif_status dif__unet_conv_in(const dif__unet_run *r, dif__unet_map *h, dif__unet_skips *skips);
dif_status dif__unet_down(const dif__unet_run *r, int level, const float *temb_act,
                          dif__unet_map *h, dif__unet_skips *skips);
dif_status dif__unet_mid(const dif__unet_run *r, const float *temb_act, dif__unet_map *h);
/* Where diffusers adds down_block_additional_residuals and
 * mid_block_additional_residual: each non-NULL in->down_residuals[i] onto
 * skip state i, in->mid_residual onto h (the mid block's output). Call after
 * dif__unet_mid: the mid block reads the unchanged last skip state. */
dif_status dif__unet_add_residuals(const dif__unet_run *r, dif__unet_map *h,
                                   dif__unet_skips *skips);
dif_status dif__unet_up(const dif__unet_run *r, int level, const float *temb_act, dif__unet_map *h,
                        dif__unet_skips *skips);
dif_status dif__unet_head(const dif__unet_run *r, const dif__unet_map *h, float *out);

#endif
