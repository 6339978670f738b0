/* recipes.c — dif__generate: checks the request, picks the recipe (one row
 * each: the first whose `applies` holds), runs it; and the frame every
 * recipe shares (scheduler and timesteps, the decoder's loop, freeing).
 *
 * Adding a pipeline: a recipe_<name>.c with its run function built from the
 * blocks of gen.h, declared there, and one row below. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/gen.h"

static bool always(const dif__models *m, const dif__request *r) {
  (void)m;
  (void)r;
  return true;
}

static bool has_init_image(const dif__models *m, const dif__request *r) {
  (void)m;
  return r->init_image != NULL;
}

static bool has_mask(const dif__models *m, const dif__request *r) {
  (void)m;
  return r->init_image && r->mask;
}

static bool has_image_part(const dif__models *m, const dif__request *r) {
  for (int i = 0; m->family == DIF__FAMILY_UNCLIP && i < r->n_parts; i++)
    if (r->parts[i].kind == DIF__PART_IMAGE) return true;
  return false;
}

static bool is_upscaler(const dif__models *m, const dif__request *r) {
  (void)r;
  return dif__models_is_upscaler(m);
}

static const gen_recipe recipes[] = {
    {"x4 upscale", is_upscaler, gen_recipe_upscale},
    {"inpaint", has_mask, gen_recipe_inpaint},
    {"img2img", has_init_image, gen_recipe_img2img},
    {"variation", has_image_part, gen_recipe_from_noise},
    {"text-to-image", always, gen_recipe_from_noise},
};

static dif_status check_request(const dif__models *m, const dif__request *r, dif__error *err) {
  int64_t f = dif__vae_scale(&m->vae);
  if (r->width < 8 || r->height < 8 || r->width % 8 || r->height % 8 || r->width % f ||
      r->height % f)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "size %dx%d: width and height must be positive multiples of 8", r->width,
                     r->height);
  if (r->width > DIF_MAX_OUTPUT_SIDE || r->height > DIF_MAX_OUTPUT_SIDE)
    return dif__fail(err, DIF_ERR_LIMIT, "size %dx%d exceeds DIF_MAX_OUTPUT_SIDE (%d)", r->width,
                     r->height, DIF_MAX_OUTPUT_SIDE);
  if (r->steps < 1 || r->batch < 1 || r->batch > DIF_MAX_BATCH ||
      !(r->guidance >= 0 && r->guidance <= DIF_MAX_GUIDANCE) ||
      !(r->prior_guidance >= 0 && r->prior_guidance <= DIF_MAX_GUIDANCE) || !isfinite(r->eta) ||
      r->prior_steps < 1)
    return dif__fail(
        err, DIF_ERR_INVALID_ARGUMENT,
        "steps %d, prior steps %d, batch %d, guidance %g, prior guidance %g: out of range",
        r->steps, r->prior_steps, r->batch, (double)r->guidance, (double)r->prior_guidance);
  if (r->mask && !r->init_image)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "a mask needs an init image (the picture whose masked part is repainted)");
  if (r->mask_crop &&
      (!r->mask || r->mask_crop_padding < 0 || r->mask_crop_padding > DIF_MAX_OUTPUT_SIDE))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     r->mask ? "the mask crop's padding %d must be in 0..%d pixels"
                             : "the mask crop (padding %d) needs a mask (0..%d pixels)",
                     r->mask_crop_padding, DIF_MAX_OUTPUT_SIDE);
  if (m->unet.in_ch != m->vae.latent_ch && !r->mask && !dif__models_is_upscaler(m))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "this is an inpainting model (its UNet takes %lld input channels): it needs "
                     "an init image and a mask",
                     (long long)m->unet.in_ch);
  if (m->unet.time_cond_dim && (m->family != DIF__FAMILY_SD || dif__models_is_upscaler(m)))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "a UNet with time_cond_proj_dim (a latent consistency model) runs only as "
                     "Stable Diffusion text-to-image, img2img or inpainting, as in diffusers");
  for (int i = 0; i < r->n_parts; i++)
    if (r->parts[i].kind == DIF__PART_IMAGE && m->family == DIF__FAMILY_SD)
      return dif__fail(err, DIF_ERR_UNSUPPORTED,
                       "image prompts need a Stable unCLIP model; this is a Stable Diffusion model "
                       "(use an init image with a strength for img2img instead)");
  return DIF_OK;
}

/* LatentConsistencyModelImg2ImgPipeline: img2img (no mask: inpainting is
 * StableDiffusionInpaintPipeline's, whatever the UNet) on a latent
 * consistency model (its UNet takes the guidance embedding) with
 * LCMScheduler passes the strength to set_timesteps, which makes the whole
 * (shorter-reaching) schedule; every other img2img trims the schedule
 * (img2img_start), as StableDiffusionImg2ImgPipeline does also with
 * LCMScheduler (LCM-LoRA). */
static bool lcm_img2img(const gen *g) {
  return !g->r->mask && g->m->unet.time_cond_dim && dif__scheduler_takes_strength(g->sch);
}

dif_status gen_begin(gen *g, bool use_strength) {
  const dif__models *m = g->m;
  const dif__request *r = g->r;
  int64_t f = dif__vae_scale(&m->vae);
  g->h = r->height / f;
  g->w = r->width / f;
  /* the decoder's scheduler, first so that progress knows every step */
  dif_status s = dif__scheduler_create(r->scheduler ? r->scheduler : m->scheduler_class,
                                       r->scheduler_cfg ? r->scheduler_cfg : m->scheduler_cfg,
                                       r->scheduler_overrides, &g->sch, g->err);
  int steps_run = 0;
  if (!s && use_strength && lcm_img2img(g)) /* every timestep runs: first stays 0 */
    s = dif__scheduler_set_timesteps_strength(g->sch, r->steps, r->strength, g->err);
  else if (!s)
    s = dif__scheduler_set_timesteps(g->sch, r->steps, g->err);
  if (!s && use_strength && !lcm_img2img(g))
    s = dif__scheduler_img2img_start(g->sch, r->steps, r->strength, &g->first, &steps_run, g->err);
  if (s) return s;
  g->total = dif__scheduler_num_timesteps(g->sch) - g->first;
  if (m->family == DIF__FAMILY_UNCLIP && m->has_prior && r->text_to_prior)
    for (int i = 0; i < r->n_parts; i++)
      if (r->parts[i].kind == DIF__PART_TEXT) g->total += r->prior_steps;
  g->lat = gen_floats(g, r->batch * m->vae.latent_ch * g->h * g->w, "latents");
  return g->lat ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
}

/* The loop's model: the UNet on the decoder's text and class labels. */
static dif_status unet_model(void *user, const float *x_in, int64_t NB, float t, float *pred,
                             dif__error *err) {
  gen *g = user;
  dif__unet_input in = {.sample = x_in,
                        .B = NB,
                        .H = g->h,
                        .W = g->w,
                        .timesteps = &t,
                        .n_timesteps = 1,
                        .context = g->context,
                        .S = g->m->text_encoder.max_positions,
                        .class_labels = g->labels,
                        .class_ids = g->class_ids,
                        .timestep_cond = g->tcond};
  return dif__unet_forward(&g->m->unet, g->k, &in, pred, err);
}

dif_status gen_denoise(gen *g, const float *concat, int64_t concat_n, dif__loop_hook step,
                       void *step_user) {
  dif__loop l = {.sch = g->sch,
                 .first = g->first,
                 .lat = g->lat,
                 .B = g->r->batch,
                 .n = g->m->unet.out_ch * g->h * g->w,
                 .concat = concat,
                 .concat_n = concat_n,
                 .guidance = g->r->guidance,
                 .cfg = gen_cfg(g),
                 .eta = g->r->eta,
                 .model = unet_model,
                 .model_user = g,
                 .hook = step,
                 .hook_user = step_user,
                 .model_name = "the UNet",
                 .latents_name = "the latents",
                 .step_name = "decoder step",
                 .call = "unet.call",
                 .input = "sample",
                 .output = "out",
                 .step = "step",
                 .step_output = "model_output",
                 .callback = "callback"};
  return dif__denoise(g, &l);
}

void gen_end(gen *g) {
  dif__scheduler_free(g->sch);
  free(g->embeds);
  free(g->labels);
  free(g->class_ids);
  free(g->context);
  free(g->tcond);
  free(g->lat);
}

dif_status dif__generate(const dif__models *m, const dif__kctx *k, const dif__request *r,
                         dif__result *out, dif__error *err) {
  memset(out, 0, sizeof *out);
  dif_status s = check_request(m, r, err);
  if (s) return s;
  /* k->wino serves the VAE's convolutions, and the networks' up to
   * k->wino_nets_max_cc (core/ops.h: all of the UNet's 3×3 weights in
   * Winograd form would cost GiBs) */
  dif__kctx nets = *k;
  nets.wino = k->wino_nets_max_cc > 0 ? k->wino : NULL;
  nets.wino_max_cc = k->wino_nets_max_cc;
  nets.wino_nets_max_cc = 0;
  /* the networks channels-last where their convolutions are all bf16 ones
   * (fast: they get no float32 Winograd; k->wino_bf16_max_cc, copied, may
   * run their 3x3 ones by bf16 Winograd), or where the caller asks (core/ops.h) */
  nets.channels_last = k->channels_last || (k->fast && !nets.wino);
  gen g = {.m = m, .k = &nets, .vae_k = k, .r = r, .err = err};
  g.gens[0] = &g.rng;
  dif__rng_seed(&g.rng, r->seed);
  const gen_recipe *recipe = recipes;
  while (!recipe->applies(m, r)) recipe++; /* the last row always applies */
  s = recipe->run(&g, out);
  gen_end(&g);
  return s;
}

void dif__result_free(dif__result *res) {
  if (!res) return;
  free(res->rgb);
  memset(res, 0, sizeof *res);
}
