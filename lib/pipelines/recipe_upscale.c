/* recipe_upscale.c — StableDiffusionUpscalePipeline (diffusers v0.26.3): the
 * SD x4 upscaler, for x4 upscaler folders (dif__models_is_upscaler).
 *
 * The request's init image is the low-res picture; the output is the VAE's
 * factor (4) times its size, the latents are its size. In diffusers' order:
 *   1. the text and the negative text (conditioning.c, as Stable Diffusion)
 *   2. the image to [-1, 1] (VaeImageProcessor, no resize: the sizes fit)
 *   3. one draw of the image's shape (batch 1), and the image noised to the
 *      noise level L by low_res_scheduler's add_noise: √ᾱ[L]·x + √(1−ᾱ[L])·ε
 *   4. the latents: randn · init_noise_sigma (a draw)
 *   5. the loop: each model input item is scale_model_input(latents) with
 *      the noised image appended on the channels (4 + 3), and the UNet's
 *      class labels are L for every item, both CFG halves alike
 *   6. VAE decode of latents / scaling_factor (0.08333), postprocess; an
 *      output beyond DIF__X4_DECODE_TILE (512) pixels on a side is decoded
 *      in 512-pixel tiles that start every 384 pixels (a 128-pixel overlap,
 *      blended: diffusers' tiled_decode, as vae.enable_tiling() runs it),
 *      so the decoder's memory stays one tile's whatever the size. The UNet
 *      runs whole, at the low-res size.
 * v0.26.3 has no strength here: every timestep runs. */
#include <stdlib.h>
#include <string.h>

#include "pipelines/gen.h"

#define DIF__X4_DECODE_TILE 512 /* pixels */

/* The request fits the upscaler: an image, no mask, a noise level in range,
 * and an output of the VAE's factor times the image. */
static dif_status check_upscale(gen *g) {
  const dif__request *r = g->r;
  int64_t f = dif__vae_scale(&g->m->vae);
  int32_t max = dif__models_max_noise_level(g->m);
  if (!r->init_image)
    return dif__fail(g->err, DIF_ERR_INVALID_ARGUMENT,
                     "the x4 upscaler needs an image to upscale (an init image)");
  if (r->mask) return dif__fail(g->err, DIF_ERR_UNSUPPORTED, "the x4 upscaler takes no mask");
  if (r->noise_level < 0 || r->noise_level > max)
    return dif__fail(g->err, DIF_ERR_INVALID_ARGUMENT,
                     "noise level %d is outside 0..%d (the upscaler's max_noise_level)",
                     (int)r->noise_level, (int)max);
  if ((int64_t)r->init_image->width * f != r->width ||
      (int64_t)r->init_image->height * f != r->height)
    return dif__fail(
        g->err, DIF_ERR_INVALID_ARGUMENT,
        "the x4 upscaler makes %lldx the image: a %dx%d image gives %lldx%lld, not the "
        "sample's %dx%d",
        (long long)f, r->init_image->width, r->init_image->height,
        (long long)(r->init_image->width * f), (long long)(r->init_image->height * f), r->width,
        r->height);
  int64_t unit = 4 * f; /* dif__vae_decode_tiled's */
  if (r->decode_tile > 0 && r->decode_tile % unit)
    return dif__fail(g->err, DIF_ERR_INVALID_ARGUMENT,
                     "decode tile %d: a positive multiple of %lld pixels, or 0 (the default) or "
                     "negative (whole)",
                     r->decode_tile, (long long)unit);
  g->decode_tile = r->decode_tile == 0  ? DIF__X4_DECODE_TILE
                   : r->decode_tile > 0 ? r->decode_tile
                                        : 0;
  return DIF_OK;
}

/* concat[NB, 3·h·w]: the low-res image noised to the noise level, once per
 * model input item; g->class_ids[NB] = the noise level. */
static dif_status noised_image(gen *g, int64_t NB, float *concat) {
  int64_t n = 3 * g->h * g->w;
  int32_t L = g->r->noise_level;
  float *x = gen_floats(g, n, "low-res image"), *noise = gen_floats(g, n, "low-res noise");
  g->class_ids = gen_ints(g, NB, "noise level labels");
  dif_status s = (!x || !noise || !g->class_ids) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  if (!s) {
    gen_image_to_x(g->r->init_image, x);
    gen_trace(g, x, n, "preprocess.image");
    s = gen_draw(g, noise, 1, n);
  }
  if (!s) s = dif__scheduler_add_noise(g->m->low_res, x, noise, (double)L, n, concat, g->err);
  if (!s) {
    float lf = (float)L;
    gen_trace(g, &lf, 1, "low_res.noise_level");
    gen_trace(g, concat, n, "low_res.noised_image");
    for (int64_t b = 1; b < NB; b++) memcpy(concat + b * n, concat, (size_t)n * sizeof *concat);
    for (int64_t b = 0; b < NB; b++) g->class_ids[b] = L;
    gen_trace_ints(g, g->class_ids, NB, "unet.class_labels");
  }
  free(x);
  free(noise);
  return s;
}

dif_status gen_recipe_upscale(gen *g, dif__result *out) {
  const dif__request *r = g->r;
  int64_t NB = gen_cfg(g) ? 2 * r->batch : r->batch;
  dif_status s = check_upscale(g);
  if (!s) s = gen_begin(g, false);
  if (!s) s = gen_condition(g);
  if (s) return s;
  int64_t n = 3 * g->h * g->w;
  float *concat = gen_floats(g, NB * n, "noised low-res image");
  if (!concat) return DIF_ERR_OUT_OF_MEMORY;
  s = noised_image(g, NB, concat);
  if (!s) s = gen_latents_noise(g, NULL);
  if (!s) gen_trace(g, g->lat, r->batch * g->m->vae.latent_ch * g->h * g->w, "latents.init");
  if (!s) s = gen_denoise(g, concat, n, NULL, NULL);
  if (!s) s = gen_decode(g, out);
  free(concat);
  return s;
}
