/* recipe_img2img.c — StableDiffusionImg2ImgPipeline (and an init image on a
 * Stable unCLIP model): the init image's VAE latents noised to the first
 * timestep the strength leaves, then the decoder's loop from there. */
#include <stdlib.h>

#include "pipelines/gen.h"

dif_status gen_recipe_img2img(gen *g, dif__result *out) {
  const dif__image *img = g->r->init_image;
  int64_t n = g->m->vae.latent_ch * (int64_t)img->height * img->width;
  dif_status s = gen_check_init_size(g, img);
  if (!s) s = gen_begin(g, true);
  if (!s) s = gen_condition(g);
  float *x = s ? NULL : gen_floats(g, 3 * (int64_t)img->height * img->width, "init image");
  float *latents = s ? NULL : gen_floats(g, n, "init image latents");
  if (!s && (!x || !latents)) s = DIF_ERR_OUT_OF_MEMORY;
  if (!s) {
    gen_image_to_x(img, x);
    s = gen_encode_x(g, x, "the init image", "vae.encode", latents);
  }
  if (!s) s = gen_latents_image(g, latents, NULL);
  if (!s) s = gen_denoise(g, NULL, 0, NULL, NULL);
  if (!s) s = gen_decode(g, out);
  free(x);
  free(latents);
  return s;
}
