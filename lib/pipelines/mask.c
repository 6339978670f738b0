/* mask.c — a repaint mask at the sample's size → what inpainting needs, as
 * diffusers' StableDiffusionInpaintPipeline prepares it: the mask processor
 * binarizes (values < 0.5 → 0, else 1), the masked image is the init image
 * where the mask is < 0.5 and 0 elsewhere, and the latent mask is
 * F.interpolate(mask, (h, w)) — nearest: latent cell (y, x) takes pixel
 * (y·f, x·f). A soft mask (gen.h) keeps its values and gives each latent
 * cell the mean of its f × f pixels for the 4-channel blend; a 9-channel
 * UNet still gets the binarized mask by nearest neighbour. */
#include "pipelines/mask.h"

#include <stdlib.h>

dif_status gen_mask_prepare(gen *g, const float *mask, const float *x, gen_mask *out) {
  const dif_request *r = g->r;
  int64_t f = dif_vae_scale(&g->m->vae), H = r->height, W = r->width, h = g->h, w = g->w;
  *out = (gen_mask){0};
  out->pixel = gen_floats(g, H * W, "mask");
  out->latent = gen_floats(g, h * w, "latent mask");
  out->unet = gen_floats(g, h * w, "UNet mask");
  out->masked_x = gen_floats(g, 3 * H * W, "masked image");
  if (!out->pixel || !out->latent || !out->unet || !out->masked_x) return DIF_ERR_OUT_OF_MEMORY;
  for (int64_t i = 0; i < H * W; i++) {
    float v = mask[i];
    out->pixel[i] = r->soft_mask ? v : (v < 0.5f ? 0.0f : 1.0f);
  }
  for (int64_t c = 0; c < 3; c++)
    for (int64_t i = 0; i < H * W; i++)
      out->masked_x[c * H * W + i] = x[c * H * W + i] * (out->pixel[i] < 0.5f ? 1.0f : 0.0f);
  for (int64_t y = 0; y < h; y++)
    for (int64_t xx = 0; xx < w; xx++) {
      float v = out->pixel[(y * f) * W + xx * f];
      out->unet[y * w + xx] = v < 0.5f ? 0.0f : 1.0f;
      if (!r->soft_mask) {
        out->latent[y * w + xx] = v;
        continue;
      }
      double sum = 0;
      for (int64_t dy = 0; dy < f; dy++)
        for (int64_t dx = 0; dx < f; dx++) sum += out->pixel[(y * f + dy) * W + xx * f + dx];
      out->latent[y * w + xx] = (float)(sum / (double)(f * f));
    }
  gen_trace(g, out->pixel, H * W, "preprocess.mask");
  gen_trace(g, out->masked_x, 3 * H * W, "mask_latents.masked_image");
  return DIF_OK;
}

void gen_mask_free(gen_mask *m) {
  free(m->pixel);
  free(m->latent);
  free(m->unet);
  free(m->masked_x);
}
