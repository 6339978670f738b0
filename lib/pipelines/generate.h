/* generate.h — one generation, from prompt parts to RGB8 images.
 *
 * The flow (diffusers' StableUnCLIPPipeline, StableUnCLIPImg2ImgPipeline,
 * StableDiffusionPipeline and StableDiffusionImg2ImgPipeline, generalised to
 * weighted prompt parts); one generator seeded with `seed` makes every random
 * draw, in diffusers' order:
 *
 *  unCLIP:  1. each text part → prior (prior latents, prior DDPM noise) →
 *              an image embedding            [needs a prior]
 *           2. the decoder's text: the positive text parts joined with ", "
 *              ("" for image-only prompts) and the negative text
 *           3. each image part → CLIP image embedding
 *           4. combine the parts' embeddings (embeds.h), noise them
 *              (noise_level: one draw), class labels [zeros | embeds]
 *  SD:      1. the text, the negative text
 *  both:    latents = randn · init_noise_sigma, or for an init image:
 *           VAE posterior sample (a draw) · scaling_factor, noised to the
 *           strength's first timestep (a draw); with a mask
 *           (StableDiffusionInpaintPipeline, recipe_inpaint.c) also the
 *           masked image's latents (a draw); then the denoising loop with
 *           classifier-free guidance when guidance > 1 (batch order
 *           [negative, positive]); VAE decode; (x/2 + 0.5) clamped, ×255,
 *           rounded half to even, as diffusers' postprocess does.
 */
#ifndef DIF_PIPELINES_GENERATE_H
#define DIF_PIPELINES_GENERATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/ops.h"
#include "io/image.h"
#include "pipelines/embeds.h"
#include "pipelines/models.h"

/* Called with named intermediate tensors (the golden fixtures' names:
 * "randn.draw0", "unet.call0.sample", "callback.step0.latents", ...). */
typedef void (*dif_trace_fn)(void *user, const char *name, const float *data, int64_t n);

/* Called after every denoising step (prior and decoder); non-zero cancels. */
typedef int (*dif_step_fn)(void *user, int step, int total);

typedef enum dif_part_kind { DIF_PART_TEXT = 0, DIF_PART_IMAGE = 1 } dif_part_kind;

typedef struct dif_part {
  dif_part_kind kind;
  const char *text;       /* DIF_PART_TEXT */
  const dif_image *image; /* DIF_PART_IMAGE (RGB8) */
  float weight;
} dif_part;

typedef struct dif_request {
  const dif_part *parts;
  int n_parts;
  const char *negative; /* NULL: none (the empty text) */
  dif_blend_rule blend;
  int width, height, steps, batch;
  float guidance;
  int prior_steps;
  float prior_guidance;
  const char *prior_scheduler; /* NULL: DDPMScheduler built from prior_scheduler/ */
  int noise_level;
  float eta;
  const char *scheduler;           /* class or short name; NULL: the model's own */
  const dif_config *scheduler_cfg; /* NULL: the model's scheduler_config.json */
  const char *scheduler_overrides; /* JSON object text of from_config kwargs, or NULL */
  bool text_to_prior;              /* text parts go through the prior (when there is one); false:
                                      they condition only the decoder (StableUnCLIPImg2ImgPipeline) */
  uint64_t seed;
  const dif_image *init_image; /* img2img; NULL for none */
  float strength;
  /* inpainting (with init_image): mask[height × width] in [0, 1], 1 = repaint;
   * NULL for none. Not soft: binarized at 0.5 and taken to the latents by
   * nearest neighbour, as diffusers' StableDiffusionInpaintPipeline; soft
   * (the editing tools' feathered masks): a 4-channel UNet's latent mask is
   * each latent cell's mean, so the kept part fades into the repainted one. */
  const float *mask;
  bool soft_mask;
  /* the x4 upscaler's VAE decode (recipe_upscale.c): 0 its default (tiles
   * of DIF_X4_DECODE_TILE pixels for a larger output), > 0 tiles of that
   * many pixels (a multiple of 4 × the VAE's factor), < 0 whole */
  int decode_tile;
  dif_trace_fn trace;
  void *trace_user;
  dif_step_fn on_step;
  void *step_user;
  atomic_int *cancel; /* checked before every network call; may be NULL */
} dif_request;

typedef struct dif_result {
  int count, width, height;
  uint8_t *rgb; /* count images of height × width × 3, malloc'd */
} dif_result;

dif_status dif_generate(const dif_models *m, const dif_kctx *k, const dif_request *r,
                        dif_result *out, dif_error *err);
void dif_result_free(dif_result *res);

#endif
