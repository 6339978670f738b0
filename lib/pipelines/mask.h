/* mask.h — an inpainting mask prepared as diffusers does (mask.c). */
#ifndef DIF_PIPELINES_MASK_H
#define DIF_PIPELINES_MASK_H

#include "pipelines/gen.h"

typedef struct gen_mask {
  float *pixel;    /* [H, W] the mask condition: 1 repaints */
  float *latent;   /* [h, w]: what a 4-channel UNet's latents are blended by */
  float *unet;     /* [h, w]: a 9-channel UNet's mask input, always binary (= latent when the
                      mask is not soft: an inpainting UNet was trained on 0/1 masks) */
  float *masked_x; /* [3, H, W]: x where pixel < 0.5, else 0 */
} gen_mask;

/* From mask[H × W] (g->r->mask, or the mask crop's) and the init image
 * x[3, H, W] in [-1, 1]. */
dif_status gen_mask_prepare(gen *g, const float *mask, const float *x, gen_mask *out);
void gen_mask_free(gen_mask *m);

#endif
