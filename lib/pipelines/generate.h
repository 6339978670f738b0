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
#ifndef DIF__PIPELINES_GENERATE_H
#define DIF__PIPELINES_GENERATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/ops.h"
#include "io/image.h"
#include "pipelines/embeds.h"
#include "pipelines/models.h"

/* Called with named intermediate tensors (the golden fixtures' names:
 * "randn.draw0", "unet.call0.sample", "callback.step0.latents", ...). */
typedef void (*dif__trace_fn)(void *user, const char *name, const float *data, int64_t n);

/* Called after every denoising step (prior and decoder); non-zero cancels. */
typedef int (*dif__step_fn)(void *user, int step, int total);

typedef enum dif__part_kind { DIF__PART_TEXT = 0, DIF__PART_IMAGE = 1 } dif__part_kind;

typedef struct dif__part {
  dif__part_kind kind;
  const char *text;        /* DIF__PART_TEXT */
  const dif__image *image; /* DIF__PART_IMAGE (RGB8) */
  float weight;
} dif__part;

typedef struct dif__request {
  const dif__part *parts;
  int n_parts;
  const char *negative; /* NULL: none (the empty text) */
  dif__blend_rule blend;
  int width, height, steps, batch;
  float guidance;
  int prior_steps;
  float prior_guidance;
  const char *prior_scheduler; /* NULL: DDPMScheduler built from prior_scheduler/ */
  int noise_level;
  float eta;
  const char *scheduler;            /* class or short name; NULL: the model's own */
  const dif__config *scheduler_cfg; /* NULL: the model's scheduler_config.json */
  const char *scheduler_overrides;  /* JSON object text of from_config kwargs, or NULL */
  bool text_to_prior;               /* text parts go through the prior (when there is one); false:
                                       they condition only the decoder (StableUnCLIPImg2ImgPipeline) */
  uint64_t seed;
  const dif__image *init_image; /* img2img; NULL for none */
  float strength;
  /* inpainting (with init_image): mask[height × width] in [0, 1], 1 = repaint;
   * NULL for none. Not soft: binarized at 0.5 and taken to the latents by
   * nearest neighbour, as diffusers' StableDiffusionInpaintPipeline; soft
   * (the editing tools' feathered masks): a 4-channel UNet's latent mask is
   * each latent cell's mean, so the kept part fades into the repainted one. */
  const float *mask;
  bool soft_mask;
  /* diffusers' padding_mask_crop (mask_crop.h): repaint the region around
   * the mask, grown by mask_crop_padding >= 0 pixels, at the full size, and
   * paste it back over the init image. Needs a mask that is not soft. */
  bool mask_crop;
  int mask_crop_padding;
  /* the x4 upscaler's VAE decode (recipe_upscale.c): 0 its default (tiles
   * of DIF__X4_DECODE_TILE pixels for a larger output), > 0 tiles of that
   * many pixels (a multiple of 4 × the VAE's factor), < 0 whole */
  int decode_tile;
  dif__trace_fn trace;
  void *trace_user;
  dif__step_fn on_step;
  void *step_user;
  atomic_int *cancel; /* checked before every network call; may be NULL */
} dif__request;

typedef struct dif__result {
  int count, width, height;
  uint8_t *rgb; /* count images of height × width × 3, malloc'd */
} dif__result;

/* k->wino (core/ops.h), when set, serves the VAE's convolutions only; every
 * other model runs with it NULL. */
dif_status dif__generate(const dif__models *m, const dif__kctx *k, const dif__request *r,
                         dif__result *out, dif__error *err);
void dif__result_free(dif__result *res);

#endif
