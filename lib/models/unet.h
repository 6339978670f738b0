/* unet.h — diffusers' UNet2DConditionModel, the subset SD-1.x, SD-2.x and
 * Stable unCLIP use, driven entirely by unet/config.json.
 *
 * Supported: CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn,
 * UpBlock2D / CrossAttnUpBlock2D; ResnetBlock2D with the "default" time
 * scale shift; Transformer2DModel with conv (SD-1.x) or linear (SD-2.x)
 * projections; attention_head_dim as an int or per-block list (it is the
 * number of heads, as diffusers reads it); class_embed_type null or
 * "projection" (the unCLIP image embedding, fed as class_labels), or null
 * with num_class_embeds (an embedding of integer labels, fed as class_ids:
 * the x4 upscaler's noise level); only_cross_attention (attn1 attends to
 * the text, per block); positional
 * time embedding with flip_sin_to_cos / freq_shift, and time_cond_proj_dim
 * (a latent consistency model's guidance embedding, timestep_cond); any latent size (the up
 * path resizes to each skip's size, as diffusers forwards upsample_size).
 * Every other config value is refused at load with the key and value named.
 */
#ifndef DIF__MODELS_UNET_H
#define DIF__MODELS_UNET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ops.h"
#include "models/resnet.h"
#include "models/transformer2d.h"

#define DIF__UNET_MAX_BLOCKS 6
#define DIF__UNET_MAX_LAYERS 4 /* resnets per down block (up blocks have one more) */
/* Skip states: conv_in's output, then per down level each resnet's and the downsampler's. */
#define DIF__UNET_MAX_SKIPS (1 + DIF__UNET_MAX_BLOCKS * (DIF__UNET_MAX_LAYERS + 1))

typedef struct dif__unet_level {
  bool cross; /* has attentions */
  int n_res;
  dif__resnet res[DIF__UNET_MAX_LAYERS + 1];
  dif__t2d attn[DIF__UNET_MAX_LAYERS + 1];
  dif__weight sample_w;  /* downsampler / upsampler conv, data NULL if none */
  const float *sample_b; /* NULL if none */
} dif__unet_level;

typedef struct dif__unet {
  int64_t in_ch, out_ch, n_blocks, layers_per_block, groups, ctx_dim, temb_ch, c0;
  int64_t channels[DIF__UNET_MAX_BLOCKS], heads[DIF__UNET_MAX_BLOCKS];
  int64_t class_in;       /* projection_class_embeddings_input_dim, 0 if no class embedding */
  int64_t n_class_embeds; /* num_class_embeds: an embedding table of integer labels, or 0 */
  int64_t time_cond_dim;  /* time_cond_proj_dim: the guidance embedding's size, or 0 */
  int64_t downsample_padding;
  int64_t sample_size; /* the latent size it was trained at (config sample_size) */
  float eps, freq_shift;
  bool flip_sin_to_cos, linear_proj;
  dif__weight time_w1, time_w2, class_w1, class_w2, conv_in_w, conv_out_w;
  dif__weight class_table; /* [n_class_embeds, temb_ch] when n_class_embeds */
  dif__weight time_cond_w; /* time_embedding.cond_proj [c0, time_cond_dim] when time_cond_dim */
  const float *time_b1, *time_b2, *class_b1, *class_b2;
  const float *conv_in_b, *norm_out_w, *norm_out_b, *conv_out_b;
  dif__unet_level down[DIF__UNET_MAX_BLOCKS], up[DIF__UNET_MAX_BLOCKS];
  dif__resnet mid_res[2];
  dif__t2d mid_attn;
  dif__safetensors *weights;
} dif__unet;

dif_status dif__unet_load(const char *dir, dif__unet *u, dif__error *err);
void dif__unet_free(dif__unet *u);

/* Called with the output of named submodules (diffusers' module paths:
 * "time_proj", "conv_in", "down_blocks.0", "mid_block", ...) for tests. */
typedef void (*dif__unet_hook)(void *user, const char *name, const float *data, int64_t n);

typedef struct dif__unet_input {
  const float *sample; /* [B, in_ch, H, W] */
  int64_t B, H, W;
  const float *timesteps; /* [B], or [1] broadcast to the batch */
  int64_t n_timesteps;
  const float *context; /* encoder_hidden_states [B, S, ctx_dim] */
  int64_t S;
  const float *class_labels; /* [B, class_in] when the model has a class embedding */
  const int32_t *class_ids;  /* [B] in [0, n_class_embeds) when the model has an embedding table */
  /* timestep_cond [B, time_cond_dim] when the model has time_cond_proj_dim
   * (LCM's guidance-scale embedding, added to the timestep embedding's
   * input through cond_proj); ignored otherwise. */
  const float *timestep_cond;
  /* Optional residuals, as a ControlNet gives them (diffusers'
   * down_block_additional_residuals, mid_block_additional_residual): NULL, or
   * dif__unet_n_skips(u) pointers, each NULL or the shape of that skip state
   * (unet_blocks.h lists them), added to it before the up path uses it. */
  const float *const *down_residuals;
  const float *mid_residual; /* NULL or the mid block's output shape: added to it */
  dif__unet_hook hook;
  void *hook_user;
} dif__unet_input;

/* The number of skip states the down path keeps (entries of down_residuals). */
int dif__unet_n_skips(const dif__unet *u);

/* out[B, out_ch, H, W]. Scratch from k->arena. The blocks it runs, one by
 * one, are in unet_blocks.h. */
dif_status dif__unet_forward(const dif__unet *u, const dif__kctx *k, const dif__unet_input *in,
                             float *out, dif__error *err);

#endif
