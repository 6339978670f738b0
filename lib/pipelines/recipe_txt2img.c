/* recipe_txt2img.c — latents from noise: text-to-image (StableDiffusionPipeline,
 * StableUnCLIPPipeline) and, with image parts, unCLIP variations
 * (StableUnCLIPImg2ImgPipeline); the conditioning block tells them apart. */
#include "pipelines/gen.h"

dif_status gen_recipe_from_noise(gen *g, dif__result *out) {
  dif_status s = gen_begin(g, false);
  if (!s) s = gen_condition(g);
  if (!s) s = gen_latents_noise(g, NULL);
  if (!s) s = gen_denoise(g, NULL, 0, NULL, NULL);
  if (!s) s = gen_decode(g, out);
  return s;
}
