/* vae.h — diffusers' AutoencoderKL (the SD / Stable unCLIP VAE).
 *
 * Encoder: conv_in → DownEncoderBlock2D × n (resnets, then a stride-2 conv
 * with asymmetric (0,1,0,1) padding except in the last) → mid block (resnet,
 * single-head attention with a residual, resnet) → GroupNorm → SiLU →
 * conv_out (2·latent channels) → quant_conv → mean, logvar (clamped to
 * [-30, 20]). Decoder: post_quant_conv → conv_in → mid block →
 * UpDecoderBlock2D × n (resnets, then nearest 2× + conv except in the last)
 * → GroupNorm → SiLU → conv_out. GroupNorm eps 1e-6 throughout.
 * scaling_factor is the pipelines' business (latents / scaling_factor before
 * decoding), not applied here.
 */
#ifndef DIF_MODELS_VAE_H
#define DIF_MODELS_VAE_H

#include <stdint.h>

#include "core/ops.h"
#include "models/attention.h"
#include "models/resnet.h"

#define DIF_VAE_MAX_BLOCKS 6
#define DIF_VAE_MAX_LAYERS 4

typedef struct dif_vae_level {
  int n_res;
  dif_resnet res[DIF_VAE_MAX_LAYERS + 1];
  dif_weight sample_w;   /* data NULL in the last level */
  const float *sample_b; /* NULL in the last level */
} dif_vae_level;

typedef struct dif_vae_mid {
  dif_resnet res[2];
  const float *norm_w, *norm_b;
  dif_attn attn;
} dif_vae_mid;

typedef struct dif_vae {
  int64_t in_ch, out_ch, latent_ch, n_blocks, layers_per_block, groups;
  int64_t channels[DIF_VAE_MAX_BLOCKS];
  float scaling_factor;
  int64_t sample_size; /* config sample_size (pixels): the default tile of tiled decoding */
  /* encoder */
  dif_weight e_conv_in_w, e_conv_out_w, quant_w, post_quant_w, d_conv_in_w, d_conv_out_w;
  const float *e_conv_in_b, *e_norm_w, *e_norm_b, *e_conv_out_b;
  dif_vae_level down[DIF_VAE_MAX_BLOCKS];
  dif_vae_mid e_mid;
  const float *quant_b, *post_quant_b;
  /* decoder */
  const float *d_conv_in_b, *d_norm_w, *d_norm_b, *d_conv_out_b;
  dif_vae_mid d_mid;
  dif_vae_level up[DIF_VAE_MAX_BLOCKS];
  dif_safetensors *weights;
} dif_vae;

dif_status dif_vae_load(const char *dir, dif_vae *v, dif_error *err);
void dif_vae_free(dif_vae *v);

/* The factor between image and latent sizes: 2^(n_blocks - 1). */
int64_t dif_vae_scale(const dif_vae *v);

typedef void (*dif_vae_hook)(void *user, const char *name, const float *data, int64_t n);

/* image[B, in_ch, H, W] in [-1, 1] → mean and logvar [B, latent, H/f, W/f]
 * (logvar clamped as diffusers does). H and W must be multiples of f. */
dif_status dif_vae_encode(const dif_vae *v, const dif_kctx *k, const float *image, int64_t B,
                          int64_t H, int64_t W, float *mean, float *logvar, dif_vae_hook hook,
                          void *hook_user, dif_error *err);

/* latent[B, latent, h, w] (already divided by scaling_factor) →
 * image[B, out_ch, h·f, w·f], raw (about [-1, 1], not clamped). */
dif_status dif_vae_decode(const dif_vae *v, const dif_kctx *k, const float *latent, int64_t B,
                          int64_t h, int64_t w, float *image, dif_vae_hook hook, void *hook_user,
                          dif_error *err);

/* diffusers' AutoencoderKL.tiled_decode: the latent is cut into tiles of
 * tile/f latent pixels (tile = the config's sample_size when 0, diffusers'
 * tile_sample_min_size) starting every 3/4 tile, each decoded alone, and
 * every tile blended with its upper and left neighbours over a quarter tile
 * (tile_overlap_factor 0.25: blend_v, then blend_h, each modifying the tile
 * in place as diffusers does), then cropped to 3/4 tile. Memory: one tile's
 * decode plus two rows of decoded tiles, whatever the image size.
 * Not bit-identical to dif_vae_decode, and not meant to be: each tile sees
 * zero padding at its borders, which the blending hides. A latent no larger
 * than one tile is decoded whole (as diffusers does). tile must be a
 * positive multiple of 4·f (32 for SD's VAE). */
dif_status dif_vae_decode_tiled(const dif_vae *v, const dif_kctx *k, const float *latent, int64_t B,
                                int64_t h, int64_t w, int64_t tile, float *image, dif_error *err);

#endif
