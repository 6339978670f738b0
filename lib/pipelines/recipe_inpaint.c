/* recipe_inpaint.c — StableDiffusionInpaintPipeline (diffusers v0.26.3) for
 * any model: an init image, a mask (1 = repaint) and the strength.
 *
 * Random draws in diffusers' order: the conditioning's; the init image's
 * posterior sample (4-channel UNets always, 9-channel ones only with
 * strength < 1); the initial noise (noise · init_noise_sigma at strength 1,
 * else the image latents noised to the first timestep); the masked image's
 * posterior sample. Then the loop:
 *   - a 9-channel (inpainting) UNet takes [latents, mask, masked-image
 *     latents] concatenated on the channels;
 *   - a 4-channel UNet (Stable Diffusion, the unCLIP decoder) runs as usual,
 *     and after every step the unmasked latents are replaced by the image
 *     latents noised to the next timestep (the last step: not noised).
 * v0.26.3 pastes nothing back: the image is the decoded latents, so the
 * kept pixels are the original's through the VAE. With padding_mask_crop
 * (r->mask_crop, mask_crop.h) the run works on the region around the mask,
 * scaled to the sample's size, and the result is scaled back into it and
 * laid under the init image's kept pixels. */
#include <stdlib.h>
#include <string.h>

#include "pipelines/mask.h"
#include "pipelines/mask_crop.h"

typedef struct inpaint {
  gen *g;
  int64_t n;            /* latent values per item */
  float *image_latents; /* [n] the init image's */
  float *noise;         /* [B, n] the initial noise */
  float *proper;        /* [B, n] image latents noised to the next timestep */
  const float *mlat;    /* [h, w] latent mask */
} inpaint;

/* After step i: unmasked latents := the image latents at timestep i + 1. */
static dif_status keep_unmasked(void *user, int i, float *lat, dif__error *err) {
  inpaint *p = user;
  gen *g = p->g;
  int64_t B = g->r->batch, hw = g->h * g->w;
  for (int64_t b = 0; b < B; b++)
    memcpy(p->proper + b * p->n, p->image_latents, (size_t)p->n * sizeof *p->proper);
  dif_status s = DIF_OK;
  (void)err; /* gen_add_noise sets g->err, the same error */
  if (i + 1 < dif__scheduler_num_timesteps(g->sch))
    s = gen_add_noise(g, p->proper, p->noise, dif__scheduler_timestep(g->sch, i + 1), B * p->n,
                      p->proper);
  for (int64_t j = 0; !s && j < B * p->n; j++) {
    float m = p->mlat[j % hw];
    lat[j] = (1.0f - m) * p->proper[j] + m * lat[j];
  }
  return s;
}

/* The mask and masked-image latents per model item, traced as diffusers'
 * prepare_mask_latents returns them (the blend's mask); a 9-channel UNet's
 * extra input [NB, 1 + L, h, w] with the binary mask. */
static dif_status mask_latents(gen *g, const gen_mask *mk, const float *masked_latents, int64_t NB,
                               float **concat) {
  int64_t hw = g->h * g->w, L = g->m->vae.latent_ch, n = (1 + L) * hw;
  float *c = gen_floats(g, NB * n, "inpainting UNet input"),
        *t = gen_floats(g, NB * L * hw, "trace");
  dif_status s = (!c || !t) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  for (int64_t b = 0; !s && b < NB; b++) {
    memcpy(c + b * n, mk->unet, (size_t)hw * sizeof *c); /* binary (mask.h) */
    memcpy(c + b * n + hw, masked_latents, (size_t)(L * hw) * sizeof *c);
  }
  for (int64_t b = 0; !s && b < NB; b++) memcpy(t + b * hw, mk->latent, (size_t)hw * sizeof *t);
  if (!s) gen_trace(g, t, NB * hw, "mask_latents.mask");
  for (int64_t b = 0; !s && b < NB; b++)
    memcpy(t + b * L * hw, masked_latents, (size_t)(L * hw) * sizeof *t);
  if (!s) gen_trace(g, t, NB * L * hw, "mask_latents.masked_image_latents");
  free(t);
  if (s || g->m->unet.in_ch == L) {
    free(c);
    c = NULL;
  }
  *concat = c;
  return s;
}

/* The image latents, the initial latents and the masked image's latents. */
static dif_status inpaint_latents(gen *g, inpaint *p, const float *x, const gen_mask *mk,
                                  float *masked_latents) {
  bool nine = g->m->unet.in_ch != g->m->vae.latent_ch, strength_max = g->r->strength == 1.0f;
  bool encode_image = !nine || !strength_max;
  int64_t B = g->r->batch;
  dif_status s = DIF_OK;
  if (encode_image) s = gen_encode_x(g, x, "the init image", "vae.encode.call0", p->image_latents);
  if (!s && encode_image && !nine) gen_trace(g, p->image_latents, p->n, "latents.image_latents");
  if (!s)
    s = strength_max ? gen_latents_noise(g, p->noise)
                     : gen_latents_image(g, p->image_latents, p->noise);
  if (!s) {
    gen_trace(g, p->noise, B * p->n, "latents.noise");
    gen_trace(g, g->lat, B * p->n, "latents.init");
    s = gen_encode_x(g, mk->masked_x, "the masked image",
                     encode_image ? "vae.encode.call1" : "vae.encode.call0", masked_latents);
  }
  return s;
}

/* padding_mask_crop: the cut-out image and mask the run works on. */
static dif_status crop_inputs(gen *g, dif__mask_crop *c, const dif__image **img,
                              const float **mask) {
  const dif__request *r = g->r;
  if (r->soft_mask)
    return dif__fail(g->err, DIF_ERR_INVALID_ARGUMENT,
                     "the mask crop applies to a mask (an image or a rectangle), not to an edit's "
                     "feathered mask");
  dif_status s = dif__mask_crop_prepare(r->init_image, r->mask, r->mask_crop_padding, c, g->err);
  if (s) return s;
  const float coords[4] = {(float)c->box[0], (float)c->box[1], (float)c->box[2], (float)c->box[3]};
  gen_trace(g, coords, 4, "crop.coords");
  *img = &c->image;
  *mask = c->mask;
  return DIF_OK;
}

/* padding_mask_crop: every image of the batch pasted back (apply_overlay). */
static dif_status crop_paste(gen *g, const dif__mask_crop *c, dif__result *out) {
  size_t one = (size_t)out->width * (size_t)out->height * 3;
  float *t = gen_floats(g, (int64_t)one, "trace");
  dif_status s = t ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
  for (int i = 0; !s && i < out->count; i++) {
    uint8_t *px = out->rgb + (size_t)i * one;
    for (size_t j = 0; j < one; j++) t[j] = px[j];
    gen_trace(g, t, (int64_t)one, "out.generated_uint8");
    s = dif__mask_crop_paste(c, g->r->init_image, px, g->err);
    for (size_t j = 0; !s && j < one; j++) t[j] = px[j];
    if (!s) gen_trace(g, t, (int64_t)one, "out.image_uint8");
  }
  free(t);
  return s;
}

dif_status gen_recipe_inpaint(gen *g, dif__result *out) {
  const dif__request *r = g->r;
  const dif__image *img = r->init_image;
  const float *mask = r->mask;
  bool nine = g->m->unet.in_ch != g->m->vae.latent_ch;
  int64_t B = r->batch, NB = gen_cfg(g) ? 2 * B : B, H = r->height, W = r->width;
  dif__mask_crop crop = {0};
  dif_status s = gen_check_init_size(g, img);
  if (!s && r->mask_crop) s = crop_inputs(g, &crop, &img, &mask);
  if (!s) s = gen_begin(g, true);
  if (!s) s = gen_condition(g);
  if (s) {
    dif__mask_crop_free(&crop);
    return s;
  }
  inpaint p = {.g = g, .n = g->m->vae.latent_ch * g->h * g->w};
  gen_mask mk = {0};
  float *x = gen_floats(g, 3 * H * W, "init image"), *masked = gen_floats(g, p.n, "masked latents"),
        *concat = NULL;
  p.image_latents = gen_floats(g, p.n, "init image latents");
  p.noise = gen_floats(g, B * p.n, "noise");
  p.proper = gen_floats(g, B * p.n, "noised image latents");
  if (!x || !masked || !p.image_latents || !p.noise || !p.proper) s = DIF_ERR_OUT_OF_MEMORY;
  if (!s) {
    gen_image_to_x(img, x);
    gen_trace(g, x, 3 * H * W, "preprocess.image");
    s = gen_mask_prepare(g, mask, x, &mk);
  }
  p.mlat = mk.latent;
  if (!s) s = inpaint_latents(g, &p, x, &mk, masked);
  if (!s) s = mask_latents(g, &mk, masked, NB, &concat);
  if (!s)
    s = gen_denoise(g, concat, nine ? (1 + g->m->vae.latent_ch) * g->h * g->w : 0,
                    nine ? NULL : keep_unmasked, &p);
  if (!s) s = gen_decode(g, out);
  if (!s && r->mask_crop) s = crop_paste(g, &crop, out);
  dif__mask_crop_free(&crop);
  gen_mask_free(&mk);
  free(x);
  free(masked);
  free(concat);
  free(p.image_latents);
  free(p.noise);
  free(p.proper);
  return s;
}
