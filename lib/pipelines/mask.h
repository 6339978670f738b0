/* mask.h — an inpainting mask prepared as diffusers does (mask.c). */
#ifndef DIF_PIPELINES_MASK_H
#define DIF_PIPELINES_MASK_H

#include "pipelines/gen.h"

typedef struct gen_mask {
  float *pixel;    /* [H, W] the mask condition: 1 repaints */
  float *latent;   /* [h, w] */
  float *masked_x; /* [3, H, W]: x where pixel < 0.5, else 0 */
} gen_mask;

/* From g->r->mask and the init image x[3, H, W] in [-1, 1]. */
dif_status gen_mask_prepare(gen *g, const float *x, gen_mask *out);
void gen_mask_free(gen_mask *m);

#endif
